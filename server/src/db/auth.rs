//! The `api_tokens` and `sessions` tables, and the node-name bindings in `nodes`. Secrets are
//! never stored: only their SHA-256.

use std::collections::HashMap;

use hakuriver_model::auth::Role;
use hakuriver_model::limits::UserLimits;

use super::{DbError, Pool};

/// One row of `api_tokens`.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub secret_hash: String,
    pub created_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
    pub last_used_at_ms: Option<i64>,
    /// Its own per-user limits (none: `[limits]`).
    pub limits: Option<UserLimits>,
}

#[derive(sqlx::FromRow)]
struct RawToken {
    id: String,
    name: String,
    role: String,
    secret_hash: String,
    created_at_ms: i64,
    expires_at_ms: Option<i64>,
    revoked_at_ms: Option<i64>,
    last_used_at_ms: Option<i64>,
    limits: Option<String>,
}

impl TryFrom<RawToken> for TokenRow {
    type Error = DbError;

    fn try_from(r: RawToken) -> Result<Self, DbError> {
        let role = r.role.parse().map_err(|e| DbError::Corrupt { table: "api_tokens", message: e })?;
        let limits = r
            .limits
            .map(|l| serde_json::from_str(&l))
            .transpose()
            .map_err(|e| DbError::Corrupt { table: "api_tokens", message: format!("{}: limits: {e}", r.id) })?;
        Ok(TokenRow {
            id: r.id,
            name: r.name,
            role,
            secret_hash: r.secret_hash,
            created_at_ms: r.created_at_ms,
            expires_at_ms: r.expires_at_ms,
            revoked_at_ms: r.revoked_at_ms,
            last_used_at_ms: r.last_used_at_ms,
            limits,
        })
    }
}

const TOKEN_COLUMNS: &str =
    "id, name, role, secret_hash, created_at_ms, expires_at_ms, revoked_at_ms, last_used_at_ms, limits";

fn limits_json(limits: &Option<UserLimits>) -> Option<String> {
    // Four optional numbers always serialize.
    limits.as_ref().map(|l| serde_json::to_string(l).unwrap_or_default())
}

pub async fn insert_token(pool: &Pool, t: &TokenRow) -> Result<(), DbError> {
    sqlx::query(&format!("INSERT INTO api_tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
        .bind(&t.id)
        .bind(&t.name)
        .bind(t.role.as_str())
        .bind(&t.secret_hash)
        .bind(t.created_at_ms)
        .bind(t.expires_at_ms)
        .bind(t.revoked_at_ms)
        .bind(t.last_used_at_ms)
        .bind(limits_json(&t.limits))
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn token(pool: &Pool, id: &str) -> Result<Option<TokenRow>, DbError> {
    let raw: Option<RawToken> = sqlx::query_as(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    raw.map(TokenRow::try_from).transpose()
}

/// Every token, newest first.
pub async fn tokens(pool: &Pool) -> Result<Vec<TokenRow>, DbError> {
    let raw: Vec<RawToken> =
        sqlx::query_as(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at_ms DESC, id"))
            .fetch_all(pool)
            .await?;
    raw.into_iter().map(TokenRow::try_from).collect()
}

/// Sets a token's own limits (none: back to `[limits]`). Answers whether the token exists.
pub async fn set_token_limits(pool: &Pool, id: &str, limits: &Option<UserLimits>) -> Result<bool, DbError> {
    let done = sqlx::query("UPDATE api_tokens SET limits = $1 WHERE id = $2")
        .bind(limits_json(limits))
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The own limits of every token that has them and is not revoked, by token name (the owner a
/// task records). Names are not unique: where two such tokens share one, the newest wins.
pub async fn token_limits(db: &mut sqlx::AnyConnection) -> Result<HashMap<String, UserLimits>, DbError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, limits FROM api_tokens WHERE limits IS NOT NULL AND revoked_at_ms IS NULL
         ORDER BY created_at_ms",
    )
    .fetch_all(&mut *db)
    .await?;
    rows.into_iter()
        .map(|(name, limits)| {
            serde_json::from_str(&limits)
                .map(|l| (name.clone(), l))
                .map_err(|e| DbError::Corrupt { table: "api_tokens", message: format!("{name}: limits: {e}") })
        })
        .collect()
}

/// Marks a token revoked (once) and ends its logins. Answers whether the token exists.
pub async fn revoke_token(pool: &Pool, id: &str, now_ms: i64) -> Result<bool, DbError> {
    let mut tx = super::begin_write(pool).await?;
    let found = sqlx::query("UPDATE api_tokens SET revoked_at_ms = COALESCE(revoked_at_ms, $1) WHERE id = $2")
        .bind(now_ms)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        > 0;
    sqlx::query("DELETE FROM sessions WHERE token_id = $1").bind(id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(found)
}

pub async fn touch_token(pool: &Pool, id: &str, now_ms: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE api_tokens SET last_used_at_ms = $1 WHERE id = $2").bind(now_ms).bind(id).execute(pool).await?;
    Ok(())
}

/// A dashboard login.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SessionRow {
    pub secret_hash: String,
    pub token_id: String,
    pub name: String,
    pub role: String,
    pub expires_at_ms: i64,
}

pub async fn insert_session(pool: &Pool, s: &SessionRow) -> Result<(), DbError> {
    sqlx::query("INSERT INTO sessions (secret_hash, token_id, name, role, expires_at_ms) VALUES ($1, $2, $3, $4, $5)")
        .bind(&s.secret_hash)
        .bind(&s.token_id)
        .bind(&s.name)
        .bind(&s.role)
        .bind(s.expires_at_ms)
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn session(pool: &Pool, secret_hash: &str) -> Result<Option<SessionRow>, DbError> {
    Ok(sqlx::query_as("SELECT secret_hash, token_id, name, role, expires_at_ms FROM sessions WHERE secret_hash = $1")
        .bind(secret_hash)
        .fetch_optional(pool)
        .await?)
}

pub async fn delete_session(pool: &Pool, secret_hash: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM sessions WHERE secret_hash = $1").bind(secret_hash).execute(pool).await?;
    Ok(())
}

pub async fn delete_expired_sessions(pool: &Pool, now_ms: i64) -> Result<u64, DbError> {
    Ok(sqlx::query("DELETE FROM sessions WHERE expires_at_ms <= $1").bind(now_ms).execute(pool).await?.rows_affected())
}

/// The identity hash a node name is bound to: `None` for an unknown node, `Some(None)` for an
/// unbound one.
pub async fn node_binding(pool: &Pool, hostname: &str) -> Result<Option<Option<String>>, DbError> {
    Ok(sqlx::query_scalar("SELECT runner_identity_hash FROM nodes WHERE hostname = $1")
        .bind(hostname)
        .fetch_optional(pool)
        .await?)
}

/// Binds an unbound node name to an identity (a bound one is left as it is).
pub async fn bind_node(pool: &Pool, hostname: &str, identity_hash: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE nodes SET runner_identity_hash = $1 WHERE hostname = $2 AND runner_identity_hash IS NULL")
        .bind(identity_hash)
        .bind(hostname)
        .execute(pool)
        .await?;
    Ok(())
}

/// Unbinds a node name; answers whether the node exists.
pub async fn release_node(pool: &Pool, hostname: &str) -> Result<bool, DbError> {
    Ok(sqlx::query("UPDATE nodes SET runner_identity_hash = NULL WHERE hostname = $1")
        .bind(hostname)
        .execute(pool)
        .await?
        .rows_affected()
        > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tokens_and_sessions_round_trip_and_revocation_ends_logins() {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::db::test_pool(dir.path()).await;
        let row = TokenRow {
            id: "abc123".into(),
            name: "alice".into(),
            role: Role::User,
            secret_hash: "h".into(),
            created_at_ms: 1,
            expires_at_ms: Some(100),
            revoked_at_ms: None,
            last_used_at_ms: None,
            limits: None,
        };
        insert_token(&pool, &row).await.unwrap();
        assert_eq!(token(&pool, "abc123").await.unwrap(), Some(row.clone()));
        let mut conn = pool.acquire().await.unwrap();
        assert!(token_limits(&mut conn).await.unwrap().is_empty());
        let own = Some(UserLimits { gpus: Some(4), ..UserLimits::default() });
        assert!(set_token_limits(&pool, "abc123", &own).await.unwrap());
        assert_eq!(token_limits(&mut conn).await.unwrap().get("alice").copied(), own);
        assert!(!set_token_limits(&pool, "nope", &own).await.unwrap());
        touch_token(&pool, "abc123", 7).await.unwrap();
        let session_row = SessionRow {
            secret_hash: "s".into(),
            token_id: "abc123".into(),
            name: "alice".into(),
            role: "user".into(),
            expires_at_ms: 50,
        };
        insert_session(&pool, &session_row).await.unwrap();
        assert_eq!(session(&pool, "s").await.unwrap(), Some(session_row));
        assert!(revoke_token(&pool, "abc123", 9).await.unwrap());
        assert!(revoke_token(&pool, "abc123", 11).await.unwrap());
        let listed = tokens(&pool).await.unwrap();
        assert_eq!((listed[0].revoked_at_ms, listed[0].last_used_at_ms), (Some(9), Some(7)));
        assert_eq!(session(&pool, "s").await.unwrap(), None);
        assert!(token_limits(&mut conn).await.unwrap().is_empty(), "a revoked token's limits no longer count");
        assert!(!revoke_token(&pool, "nope", 1).await.unwrap());
    }
}
