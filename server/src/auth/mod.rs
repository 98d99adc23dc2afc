//! Authentication and authorization: API tokens (random, shown once, stored hashed, expiring,
//! revocable), dashboard logins (an HttpOnly, SameSite=Strict session cookie made from a token),
//! the runner token, and the bootstrap admin token from the configuration.
//!
//! `policy` says which credential each route needs; `guard` is the middleware that enforces it on
//! every request (websockets included), checks origins, limits bodies and adds security headers;
//! `login` serves the login page; `throttle` slows down addresses that keep failing.

pub mod forwarded;
pub mod guard;
pub mod held;
pub mod login;
pub mod policy;
pub mod throttle;
pub mod tickets;
pub mod token;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hakuriver_config::{secret, AuthSection};
use hakuriver_model::auth::{is_valid_token_name, Actor, Role, TokenCreated, TokenInfo, TokenRequest};
use hakuriver_model::limits::UserLimits;
use hakuriver_model::TaskId;

use crate::clock::{local_time, now_ms};
use crate::db::auth::{self as store, SessionRow, TokenRow};
use crate::db::{DbError, Pool};
use held::Presented;
use throttle::Throttle;

/// The address a connection came from, as every request sees it (`ConnectInfo<Peer>`): what
/// the slow-down after failed logins counts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub std::net::SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, hakuriver_tls::TlsListener>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, hakuriver_tls::TlsListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}

/// The address a request came from (unspecified where the listener does not say).
fn peer_ip(extensions: &axum::http::Extensions) -> IpAddr {
    extensions
        .get::<axum::extract::ConnectInfo<Peer>>()
        .map_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |c| c.0 .0.ip())
}

/// How stale a token's `last_used_at` may get before a use updates it.
const TOUCH_EVERY_MS: i64 = 60_000;

/// The name the configuration's `admin_token` acts as.
pub const CONFIG_ADMIN: &str = "admin";

/// A session made with the configured `admin_token` names it as this prefix and the token's
/// hash, so that rotating the token (and restarting the host) ends those sessions.
const ADMIN_SESSION_PREFIX: &str = "admin-token:";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Invalid(String),
    #[error("token {0} not found")]
    NotFound(String),
    #[error("cannot create a secret: {0}")]
    Random(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// What a credential turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Person(Actor),
    Runner,
}

#[derive(Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

struct Inner {
    enabled: bool,
    runner_token_hash: Option<String>,
    admin_token_hash: Option<String>,
    session_length: Duration,
    allowed_origins: Vec<String>,
    trusted_proxies: Vec<hakuriver_config::IpNet>,
    pool: Pool,
    throttle: Mutex<Throttle>,
    tickets: Mutex<tickets::Tickets>,
    /// Counts revocations and logouts, so held credentials are checked again at once.
    changes: tokio::sync::watch::Sender<u64>,
}

impl Auth {
    pub fn new(config: &AuthSection, pool: Pool) -> Self {
        Auth {
            inner: Arc::new(Inner {
                enabled: config.enabled,
                runner_token_hash: config.runner_token.expose().map(secret::hash),
                admin_token_hash: config.admin_token.expose().map(secret::hash),
                session_length: config.session_length(),
                allowed_origins: config.allowed_origins.clone(),
                trusted_proxies: config.trusted_proxies.clone(),
                pool,
                throttle: Mutex::new(Throttle::default()),
                tickets: Mutex::new(tickets::Tickets::default()),
                changes: tokio::sync::watch::Sender::new(0),
            }),
        }
    }

    pub fn enabled(&self) -> bool {
        self.inner.enabled
    }

    pub fn allowed_origins(&self) -> &[String] {
        &self.inner.allowed_origins
    }

    /// Who a request came from: its peer, or the client a trusted proxy names.
    pub fn client_ip(&self, extensions: &axum::http::Extensions, headers: &axum::http::HeaderMap) -> IpAddr {
        let forwarded: Vec<&str> = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
        forwarded::client_ip(peer_ip(extensions), &forwarded, &self.inner.trusted_proxies)
    }

    pub fn session_length(&self) -> Duration {
        self.inner.session_length
    }

    /// What a bearer token is: the runner token, the configured admin token, or a live API token.
    pub async fn bearer(&self, token: &str) -> Result<Option<Credential>, DbError> {
        if self.inner.runner_token_hash.as_deref().is_some_and(|h| secret::matches(token, h)) {
            return Ok(Some(Credential::Runner));
        }
        if self.inner.admin_token_hash.as_deref().is_some_and(|h| secret::matches(token, h)) {
            return Ok(Some(Credential::Person(Actor { name: CONFIG_ADMIN.into(), role: Role::Admin })));
        }
        Ok(self.api_token(token).await?.map(|t| Credential::Person(Actor { name: t.name, role: t.role })))
    }

    /// A live (unexpired, unrevoked) API token, marked as used.
    async fn api_token(&self, token: &str) -> Result<Option<TokenRow>, DbError> {
        let Some(parsed) = token::parse(token) else { return Ok(None) };
        let Some(row) = store::token(&self.inner.pool, parsed.id).await? else { return Ok(None) };
        let now = now_ms();
        let live = row.revoked_at_ms.is_none() && row.expires_at_ms.is_none_or(|at| at > now);
        if !live || !secret::matches(parsed.secret, &row.secret_hash) {
            return Ok(None);
        }
        // `last_used_at` to the minute: not a database write on every request.
        if row.last_used_at_ms.is_none_or(|at| now - at >= TOUCH_EVERY_MS) {
            store::touch_token(&self.inner.pool, &row.id, now).await?;
        }
        Ok(Some(row))
    }

    /// The person a session cookie belongs to, while the session and its token last.
    pub async fn session(&self, cookie: &str) -> Result<Option<Actor>, DbError> {
        let Some(row) = store::session(&self.inner.pool, &secret::hash(cookie)).await? else { return Ok(None) };
        if row.expires_at_ms <= now_ms() {
            store::delete_session(&self.inner.pool, &row.secret_hash).await?;
            return Ok(None);
        }
        let live = match row.token_id.strip_prefix(ADMIN_SESSION_PREFIX) {
            // A login with the configured admin token lasts while that token is the configured one.
            Some(hash) => self.inner.admin_token_hash.as_deref() == Some(hash),
            None if row.token_id == CONFIG_ADMIN => false, // made before sessions named the token
            None => store::token(&self.inner.pool, &row.token_id)
                .await?
                .is_some_and(|t| t.revoked_at_ms.is_none() && t.expires_at_ms.is_none_or(|at| at > now_ms())),
        };
        if !live {
            return Ok(None);
        }
        Ok(row.role.parse().ok().map(|role| Actor { name: row.name, role }))
    }

    /// Logs in with a token: answers the new session's cookie value, or `None` when the token
    /// does not hold. The session ends after `session_hours`, or earlier with its token.
    pub async fn login(&self, token: &str) -> Result<Option<(String, Actor)>, AuthError> {
        let admin = self.inner.admin_token_hash.as_deref().filter(|h| secret::matches(token, h));
        let (token_id, actor) = if let Some(hash) = admin {
            (format!("{ADMIN_SESSION_PREFIX}{hash}"), Actor { name: CONFIG_ADMIN.into(), role: Role::Admin })
        } else {
            match self.api_token(token).await? {
                Some(t) => (t.id, Actor { name: t.name, role: t.role }),
                None => return Ok(None),
            }
        };
        let cookie = secret::generate().map_err(|e| AuthError::Random(e.to_string()))?;
        let length = i64::try_from(self.inner.session_length.as_millis()).unwrap_or(i64::MAX);
        let now = now_ms();
        store::delete_expired_sessions(&self.inner.pool, now).await?;
        store::insert_session(
            &self.inner.pool,
            &SessionRow {
                secret_hash: secret::hash(&cookie),
                token_id,
                name: actor.name.clone(),
                role: actor.role.as_str().into(),
                expires_at_ms: now.saturating_add(length),
            },
        )
        .await?;
        Ok(Some((cookie, actor)))
    }

    pub async fn logout(&self, cookie: &str) -> Result<(), DbError> {
        store::delete_session(&self.inner.pool, &secret::hash(cookie)).await?;
        self.changed();
        Ok(())
    }

    pub async fn create_token(&self, req: &TokenRequest) -> Result<TokenCreated, AuthError> {
        if !is_valid_token_name(&req.name) {
            return Err(AuthError::Invalid("name: expected 1-64 letters, digits, '.', '_', '-' or '@'".into()));
        }
        if req.expires_in_days == Some(0) || req.expires_in_days.is_some_and(|d| d > 3650) {
            return Err(AuthError::Invalid("expires_in_days: expected 1 to 3650 days, or none".into()));
        }
        let random = secret::generate().map_err(|e| AuthError::Random(e.to_string()))?;
        let id = random[..12].to_string();
        let secret = secret::generate().map_err(|e| AuthError::Random(e.to_string()))?;
        let now = now_ms();
        let row = TokenRow {
            id: id.clone(),
            name: req.name.clone(),
            role: req.role,
            secret_hash: secret::hash(&secret),
            created_at_ms: now,
            expires_at_ms: req.expires_in_days.map(|d| now + i64::from(d) * 86_400_000),
            revoked_at_ms: None,
            last_used_at_ms: None,
            limits: req.limits,
        };
        store::insert_token(&self.inner.pool, &row).await?;
        tracing::info!(token = %id, name = %row.name, role = %row.role, "API token created");
        Ok(TokenCreated { token: token::format(&id, &secret), info: info(&row) })
    }

    pub async fn tokens(&self) -> Result<Vec<TokenInfo>, AuthError> {
        Ok(store::tokens(&self.inner.pool).await?.iter().map(info).collect())
    }

    /// Sets a token's own per-user limits (none: `[limits]`' again).
    pub async fn set_limits(&self, id: &str, limits: Option<UserLimits>) -> Result<TokenInfo, AuthError> {
        if !store::set_token_limits(&self.inner.pool, id, &limits).await? {
            return Err(AuthError::NotFound(id.to_string()));
        }
        tracing::info!(token = %id, ?limits, "token limits set");
        let row = store::token(&self.inner.pool, id).await?.ok_or_else(|| AuthError::NotFound(id.to_string()))?;
        Ok(info(&row))
    }

    pub async fn revoke(&self, id: &str) -> Result<TokenInfo, AuthError> {
        if !store::revoke_token(&self.inner.pool, id, now_ms()).await? {
            return Err(AuthError::NotFound(id.to_string()));
        }
        tracing::info!(token = %id, "API token revoked");
        self.changed();
        let row = store::token(&self.inner.pool, id).await?.ok_or_else(|| AuthError::NotFound(id.to_string()))?;
        Ok(info(&row))
    }

    /// Wakes every held credential (`held::Held::lapsed`) to check itself again.
    fn changed(&self) {
        self.inner.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes whenever a token is revoked or a session ends.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// Records a credential from `ip` that did not hold. While `ip` is slowed down, answers the
    /// milliseconds it must still wait (the attempt is refused with 429 and not counted);
    /// otherwise counts it and answers `None` (refused with 401). Credentials that hold are never
    /// slowed down, so one guesser behind a shared address (a NAT, a proxy) locks nobody out.
    pub fn failed(&self, ip: IpAddr) -> Option<i64> {
        let now = now_ms();
        let mut throttle = self.throttle();
        let waiting = throttle.wait_ms(ip, now);
        if waiting > 0 {
            return Some(waiting);
        }
        let wait = throttle.failed(ip, now);
        if wait > 0 {
            tracing::warn!(%ip, wait_ms = wait, "repeated authentication failures; slowing this address down");
        }
        None
    }

    /// A single-use ticket for one SSH tunnel to `task`, on behalf of the credential `presented`.
    pub fn issue_ticket(&self, task: TaskId, presented: Presented) -> Result<String, AuthError> {
        let secret = secret::generate().map_err(|e| AuthError::Random(e.to_string()))?;
        let mut tickets = self.inner.tickets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(tickets.issue(&secret, task, presented, now_ms()))
    }

    /// Uses up a tunnel ticket for `task`: the credential it was issued for, if it holds.
    pub fn redeem_ticket(&self, ticket: &str, task: TaskId) -> Option<Presented> {
        let mut tickets = self.inner.tickets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        tickets.redeem(ticket, task, now_ms())
    }

    fn throttle(&self) -> std::sync::MutexGuard<'_, Throttle> {
        // A panic while holding the lock cannot leave the counts inconsistent: keep using them.
        self.inner.throttle.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn info(t: &TokenRow) -> TokenInfo {
    TokenInfo {
        id: t.id.clone(),
        name: t.name.clone(),
        role: t.role,
        created_at: local_time(t.created_at_ms),
        expires_at: t.expires_at_ms.and_then(local_time),
        revoked_at: t.revoked_at_ms.and_then(local_time),
        last_used_at: t.last_used_at_ms.and_then(local_time),
        limits: t.limits,
    }
}
