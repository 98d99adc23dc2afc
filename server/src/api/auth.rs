//! Tokens and identity: `POST/GET /api/auth/tokens`, `DELETE /api/auth/tokens/{id}` (admins),
//! `GET /api/auth/whoami`, and `POST /api/nodes/{hostname}/release` (admins: let another runner
//! take a node name).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use hakuriver_model::api::Message;
use hakuriver_model::auth::{Actor, TokenInfo, TokenLimits, TokenRequest, TunnelTicket, WhoAmI};
use hakuriver_model::TaskId;

use super::error::{ApiError, ApiJson, ApiPath};
use crate::auth::held::Presented;
use crate::auth::{tickets, AuthError};
use crate::state::AppState;

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Invalid(m) => ApiError::Unprocessable(m),
            AuthError::NotFound(id) => ApiError::NotFound(format!("Token {id} not found.")),
            AuthError::Random(m) => ApiError::Internal(m),
            AuthError::Db(e) => ApiError::Internal(e.to_string()),
        }
    }
}

pub async fn create_token(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<TokenRequest>,
) -> Result<Response, ApiError> {
    Ok((StatusCode::CREATED, Json(s.services.auth.create_token(&req).await?)).into_response())
}

pub async fn tokens(State(s): State<AppState>) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    Ok(Json(s.services.auth.tokens().await?))
}

pub async fn revoke_token(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TokenInfo>, ApiError> {
    Ok(Json(s.services.auth.revoke(&id).await?))
}

pub async fn set_token_limits(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<TokenLimits>,
) -> Result<Json<TokenInfo>, ApiError> {
    Ok(Json(s.services.auth.set_limits(&id, req.limits).await?))
}

pub async fn whoami(State(s): State<AppState>, Extension(actor): Extension<Actor>) -> Json<WhoAmI> {
    Json(WhoAmI { name: actor.name, role: actor.role, auth_enabled: s.services.auth.enabled() })
}

/// `POST /api/vps/{id}/ticket`: a single-use ticket that opens one SSH tunnel to VPS `id`
/// (`REQUEST_TUNNEL <id> <ticket>` on the proxy's port), for whoever may control it. The API
/// token never crosses the proxy's plain-TCP port; the tunnel holds it and ends with it.
pub async fn tunnel_ticket(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    Extension(actor): Extension<Actor>,
    presented: Option<Extension<Presented>>,
) -> Result<Json<TunnelTicket>, ApiError> {
    let id: TaskId =
        id.parse().map_err(|e: hakuriver_model::ids::TaskIdError| ApiError::Unprocessable(e.to_string()))?;
    let owner = s.services.vps.owner(id).await.map_err(ApiError::NotFound)?;
    if s.services.auth.enabled() && !actor.may_control(owner.as_deref()) {
        return Err(ApiError::Forbidden(format!("Not authorized for VPS task {id}.")));
    }
    let presented = presented.map_or(Presented::Nothing, |Extension(p)| p);
    let ticket = s.services.auth.issue_ticket(id, presented)?;
    let expires_in_seconds = u32::try_from(tickets::TTL_MS / 1000).unwrap_or(30);
    Ok(Json(TunnelTicket { ticket, expires_in_seconds }))
}

pub async fn release_node(
    State(s): State<AppState>,
    ApiPath(hostname): ApiPath<String>,
) -> Result<Json<Message>, ApiError> {
    s.services.nodes.release(&hostname).await?;
    Ok(Json(Message::new(format!("Node {hostname} released: the next runner to register with this name keeps it."))))
}
