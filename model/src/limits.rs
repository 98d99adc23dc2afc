//! The `[limits]` section: how long a task may run, per role. Pure: the rules and their wording;
//! the host applies them to every submit before anything is stored.

use serde::{Deserialize, Serialize};

use crate::auth::Role;
use crate::policy::Denied;
use crate::span::Span;

/// What one role gets; each key unset takes the section's own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoleLimits {
    pub default_time_limit: Option<Span>,
    pub max_time_limit: Option<Span>,
}

/// The `[limits]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// The time limit of a task whose submit names none (`0`: none).
    pub default_time_limit: Span,
    /// The longest time limit a submit may name (`0`: any); a submit without one gets at most
    /// this.
    pub max_time_limit: Span,
    /// Between SIGTERM and SIGKILL when a task reaches its time limit.
    pub kill_grace: Span,
    /// Per role (`[limits.user]`, `[limits.operator]`, `[limits.admin]`): overrides of the keys
    /// above.
    pub user: RoleLimits,
    pub operator: RoleLimits,
    pub admin: RoleLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            default_time_limit: Span(0),
            max_time_limit: Span(0),
            kill_grace: Span(30),
            user: RoleLimits::default(),
            operator: RoleLimits::default(),
            admin: RoleLimits::default(),
        }
    }
}

impl Limits {
    fn of(&self, role: Role) -> Option<&RoleLimits> {
        match role {
            Role::Viewer => None,
            Role::User => Some(&self.user),
            Role::Operator => Some(&self.operator),
            Role::Admin => Some(&self.admin),
        }
    }

    /// `(default, maximum)` time limit of `role`, each `0` for none.
    pub fn time_limits(&self, role: Role) -> (Span, Span) {
        let own = self.of(role);
        (
            own.and_then(|r| r.default_time_limit).unwrap_or(self.default_time_limit),
            own.and_then(|r| r.max_time_limit).unwrap_or(self.max_time_limit),
        )
    }

    /// The time limit a task of `role` gets when its submit asks for `asked` seconds (none:
    /// the role's default, cut to its maximum). `None`: no limit.
    pub fn time_limit_for(&self, role: Role, asked: Option<u64>) -> Result<Option<u64>, Denied> {
        let (default, max) = self.time_limits(role);
        let key = match self.of(role).and_then(|r| r.max_time_limit) {
            Some(_) => format!("[limits.{role}] max_time_limit"),
            None => "[limits] max_time_limit".to_string(),
        };
        match asked {
            Some(asked) if max.0 > 0 && asked > max.0 => Err(Denied {
                key: "limits.max_time_limit",
                field: "time_limit_seconds",
                message: format!(
                    "A time limit of {} is longer than the {} the {role} role may ask for ({key} = \"{max}\")",
                    Span(asked),
                    max
                ),
            }),
            Some(asked) => Ok(Some(asked)),
            None => {
                let limit = match (default.0, max.0) {
                    (0, 0) => 0,
                    (0, max) => max,
                    (default, 0) => default,
                    (default, max) => default.min(max),
                };
                Ok((limit > 0).then_some(limit))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_limits_per_role() {
        let limits: Limits = toml_like(
            r#"{"default_time_limit": "1d", "max_time_limit": "7d",
                "user": {"max_time_limit": "2d"}, "admin": {"max_time_limit": "0", "default_time_limit": "0"}}"#,
        );
        assert_eq!(limits.time_limit_for(Role::User, None), Ok(Some(86_400)));
        assert_eq!(limits.time_limit_for(Role::User, Some(3_600)), Ok(Some(3_600)));
        let denied = limits.time_limit_for(Role::User, Some(3 * 86_400)).unwrap_err();
        assert!(denied.message.contains("[limits.user] max_time_limit = \"2d\""), "{}", denied.message);
        assert_eq!(limits.time_limit_for(Role::Operator, Some(7 * 86_400)), Ok(Some(7 * 86_400)));
        assert!(limits.time_limit_for(Role::Operator, Some(8 * 86_400)).unwrap_err().message.contains("[limits] max"));
        assert_eq!(limits.time_limit_for(Role::Admin, None), Ok(None), "the admin's own: none");
        assert_eq!(limits.time_limit_for(Role::Admin, Some(300 * 86_400)), Ok(Some(300 * 86_400)));
        // A default above the maximum is cut to it.
        let cut: Limits = toml_like(r#"{"default_time_limit": "3d", "user": {"max_time_limit": "1d"}}"#);
        assert_eq!(cut.time_limit_for(Role::User, None), Ok(Some(86_400)));
        assert_eq!(Limits::default().time_limit_for(Role::User, None), Ok(None));
        assert_eq!(Limits::default().kill_grace, Span(30));
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(serde_json::from_str::<Limits>(r#"{"max_time": "1d"}"#).is_err());
        assert!(serde_json::from_str::<Limits>(r#"{"user": {"max": "1d"}}"#).is_err());
        assert!(serde_json::from_str::<Limits>(r#"{"max_time_limit": "soon"}"#).is_err());
    }

    fn toml_like(json: &str) -> Limits {
        serde_json::from_str(json).expect("valid limits")
    }
}
