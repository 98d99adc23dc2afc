//! Who may do what: the four roles, the actor a request runs as, and the token API's shapes.
//!
//! Roles are ordered: each one may do everything the ones before it may.
//! - `viewer`: read nodes, tasks, logs, environments.
//! - `user`: also submit tasks and VPS, and kill/pause/resume the ones they submitted.
//! - `operator`: also control every task, and manage environments (containers, tarballs).
//! - `admin`: also terminals (environment and task shells), tokens and nodes.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::limits::UserLimits;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    User,
    Operator,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::User, Role::Operator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::User => "user",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}: use viewer, user, operator or admin"))
    }
}

/// The person or script a request runs as: a token's name and role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub name: String,
    pub role: Role,
}

impl Actor {
    /// Everyone, when authentication is off (the original's behaviour).
    pub fn anonymous() -> Self {
        Actor { name: "anonymous".into(), role: Role::Admin }
    }

    pub fn can(&self, role: Role) -> bool {
        self.role >= role
    }

    /// Whether this actor may kill, pause or resume a task submitted by `owner`: operators and
    /// admins any task, users their own.
    pub fn may_control(&self, owner: Option<&str>) -> bool {
        self.can(Role::Operator) || (self.can(Role::User) && owner == Some(self.name.as_str()))
    }
}

/// The header a runner presents its identity in (a random key it keeps): the host binds a node
/// name to the first identity that registered it.
pub const RUNNER_IDENTITY_HEADER: &str = "x-hakuriver-runner-identity";

/// The longest token name.
pub const MAX_TOKEN_NAME: usize = 64;

/// Whether `name` is a usable token name: 1–64 of letters, digits, `.`, `_`, `-`, `@`.
pub fn is_valid_token_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TOKEN_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

/// `POST /api/auth/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenRequest {
    /// Who the token is for; tasks it submits are owned by this name.
    pub name: String,
    pub role: Role,
    /// Days until it expires; none: never.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
    /// Ours: its own per-user limits, instead of `[limits]`' `per_user_*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<UserLimits>,
}

/// `POST /api/auth/tokens/{id}/limits`: a token's own per-user limits; none: `[limits]`' again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenLimits {
    #[serde(default)]
    pub limits: Option<UserLimits>,
}

/// A token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub role: Role,
    #[serde(with = "crate::time::opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = "date-time-naive"))]
    pub created_at: Option<NaiveDateTime>,
    #[serde(with = "crate::time::opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = "date-time-naive"))]
    pub expires_at: Option<NaiveDateTime>,
    #[serde(with = "crate::time::opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = "date-time-naive"))]
    pub revoked_at: Option<NaiveDateTime>,
    #[serde(with = "crate::time::opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = "date-time-naive"))]
    pub last_used_at: Option<NaiveDateTime>,
    /// Its own per-user limits (none: `[limits]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<UserLimits>,
}

/// `POST /api/vps/{id}/ticket`: what `REQUEST_TUNNEL <id> <ticket>` sends on the SSH proxy's
/// port instead of a token; it opens one tunnel to that VPS, once, within `expires_in_seconds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TunnelTicket {
    pub ticket: String,
    pub expires_in_seconds: u32,
}

/// The answer to creating a token: the only time its secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenCreated {
    pub token: String,
    #[serde(flatten)]
    pub info: TokenInfo,
}

/// `GET /api/auth/whoami`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhoAmI {
    pub name: String,
    pub role: Role,
    pub auth_enabled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_parse() {
        assert!(Role::Admin > Role::Operator && Role::Operator > Role::User && Role::User > Role::Viewer);
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(serde_json::to_string(&role).ok(), Some(format!("\"{role}\"")));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn who_controls_a_task() {
        let alice = Actor { name: "alice".into(), role: Role::User };
        assert!(alice.may_control(Some("alice")));
        assert!(!alice.may_control(Some("bob")));
        assert!(!alice.may_control(None));
        let viewer = Actor { name: "alice".into(), role: Role::Viewer };
        assert!(!viewer.may_control(Some("alice")));
        let op = Actor { name: "ops".into(), role: Role::Operator };
        assert!(op.may_control(Some("bob")) && op.may_control(None));
        assert!(Actor::anonymous().may_control(None));
    }

    #[test]
    fn token_names() {
        assert!(is_valid_token_name("alice@lab-1.ci_bot"));
        for bad in ["", "a b", "../x", "x/y", &"a".repeat(65), "ä"] {
            assert!(!is_valid_token_name(bad), "{bad:?}");
        }
    }
}
