//! Tokens and identity: `POST/GET /api/auth/tokens`, `DELETE /api/auth/tokens/{id}` (admins),
//! `GET /api/auth/whoami`, and `POST /api/nodes/{hostname}/release` (admins: let another runner
//! take a node name).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use hakuriver_model::api::Message;
use hakuriver_model::auth::{Actor, TokenInfo, TokenRequest, WhoAmI};

use super::error::{ApiError, ApiJson};
use crate::auth::AuthError;
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

pub async fn revoke_token(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<TokenInfo>, ApiError> {
    Ok(Json(s.services.auth.revoke(&id).await?))
}

pub async fn whoami(State(s): State<AppState>, Extension(actor): Extension<Actor>) -> Json<WhoAmI> {
    Json(WhoAmI { name: actor.name, role: actor.role, auth_enabled: s.services.auth.enabled() })
}

pub async fn release_node(State(s): State<AppState>, Path(hostname): Path<String>) -> Result<Json<Message>, ApiError> {
    s.services.nodes.release(&hostname).await?;
    Ok(Json(Message::new(format!("Node {hostname} released: the next runner to register with this name keeps it."))))
}
