//! Host environment endpoints (`/api/docker/...`, and the original's bare `/docker/...`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hakuriver_model::api::Message;
use hakuriver_model::env::{CreateEnvRequest, EnvContainer, EnvVersions, TarballList};
use serde::Deserialize;

use super::error::{ApiError, ApiJson};
use crate::envs::EnvError;
use crate::state::AppState;

impl From<EnvError> for ApiError {
    fn from(e: EnvError) -> Self {
        match e {
            EnvError::Invalid(m) => ApiError::BadRequest(m),
            EnvError::NotFound(m) => ApiError::NotFound(m),
            EnvError::Conflict(m) => ApiError::Conflict(m),
            e @ EnvError::NoDocker(_) => ApiError::Unavailable(e.to_string()),
            e @ (EnvError::Docker(_) | EnvError::Io(_)) => ApiError::Internal(e.to_string()),
        }
    }
}

pub async fn containers(State(s): State<AppState>) -> Result<Json<Vec<EnvContainer>>, ApiError> {
    Ok(Json(s.services.envs.list_containers().await?))
}

pub async fn create(State(s): State<AppState>, ApiJson(req): ApiJson<CreateEnvRequest>) -> Result<Response, ApiError> {
    s.services.envs.create(&req).await?;
    let message = format!("Container '{}' created or already exists.", req.container_name);
    Ok((StatusCode::CREATED, Json(Message::new(message))).into_response())
}

#[derive(Deserialize, Default)]
pub struct DeleteQuery {
    #[serde(default)]
    force: bool,
}

pub async fn delete(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> Result<Json<Message>, ApiError> {
    s.services.envs.delete(&name, q.force).await?;
    Ok(Json(Message::new(format!("Container '{name}' deleted."))))
}

pub async fn stop(State(s): State<AppState>, Path(name): Path<String>) -> Result<Json<Message>, ApiError> {
    s.services.envs.stop(&name).await?;
    Ok(Json(Message::new(format!("Container '{name}' stopped."))))
}

pub async fn start(State(s): State<AppState>, Path(name): Path<String>) -> Result<Json<Message>, ApiError> {
    s.services.envs.start(&name).await?;
    Ok(Json(Message::new(format!("Container '{name}' started."))))
}

pub async fn create_tar(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let path = s.services.envs.create_tar(&name).await?;
    Ok(Json(serde_json::json!({
        "message": "Container tarball created/refreshed successfully.",
        "tarball_path": path.display().to_string(),
    })))
}

pub async fn list_tars(State(s): State<AppState>) -> Json<TarballList> {
    Json(s.services.envs.list_tars())
}

#[derive(Deserialize)]
pub struct ImportRequest {
    /// Absolute path of a tar file on the host: a root file system or a saved image.
    path: std::path::PathBuf,
    /// The environment to create.
    name: String,
}

/// Ours: `POST /api/docker/import` `{"path", "name"}`: an environment from a tar on the host.
pub async fn import(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<ImportRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let path = s.services.envs.import(&req.path, &req.name).await?;
    Ok(Json(serde_json::json!({
        "message": format!("Environment '{}' imported.", req.name),
        "tarball_path": path.display().to_string(),
    })))
}

/// Ours: `GET /api/docker/versions`: which runner has which version of each environment.
pub async fn versions(
    State(s): State<AppState>,
) -> Result<Json<std::collections::BTreeMap<String, EnvVersions>>, ApiError> {
    let nodes = s.services.nodes.list().await?;
    Ok(Json(crate::envs::versions(&s.services.envs.list_tars(), &nodes)))
}
