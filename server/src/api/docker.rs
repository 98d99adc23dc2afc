//! Host environment endpoints (`/api/docker/...`, and the original's bare `/docker/...`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hakuriver_model::api::Message;
use hakuriver_model::env::{CreateEnvRequest, EnvContainer, EnvVersions, ImportRequest, TarballList};
use hakuriver_model::operation::{Operation, OperationStarted, OperationState, TarballSaved};
use serde::Deserialize;

use super::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::envs::EnvError;
use crate::operations::{OperationError, Progress};
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

/// Creates an env container, pulling its image first when the host lacks it (with the login
/// `[registries]` has for its registry). Answers 201 when done (the original's answer), or with
/// `?background=true` 202 and the operation's id at once (a pull shows its progress there).
pub async fn create(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<BackgroundQuery>,
    ApiJson(req): ApiJson<CreateEnvRequest>,
) -> Result<Response, ApiError> {
    let (id, mut done, pulls) = s.services.start_create_env(&req).await?;
    let message = format!("Container '{}' created or already exists.", req.container_name);
    if q.background {
        return Ok((StatusCode::ACCEPTED, Json(OperationStarted { message, operation_id: id })).into_response());
    }
    let _ = done.wait_for(|finished| *finished).await;
    let op = s.services.operations.get(id).ok_or_else(|| ApiError::Internal(format!("operation {id} vanished")))?;
    match op.state {
        OperationState::Succeeded => Ok((StatusCode::CREATED, Json(Message::new(message))).into_response()),
        OperationState::Cancelled => Err(ApiError::Conflict(format!("operation {id} was cancelled"))),
        // The image could not be had: the original's 404 for a missing image.
        _ if pulls => Err(ApiError::NotFound(op.error.unwrap_or_default())),
        _ => Err(ApiError::Failed(op.error.unwrap_or_else(|| "failed".into()))),
    }
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// Delete a running container too.
    #[serde(default)]
    force: bool,
}

pub async fn delete(
    State(s): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<DeleteQuery>,
) -> Result<Json<Message>, ApiError> {
    s.services.envs.delete(&name, q.force).await?;
    Ok(Json(Message::new(format!("Container '{name}' deleted."))))
}

pub async fn stop(State(s): State<AppState>, ApiPath(name): ApiPath<String>) -> Result<Json<Message>, ApiError> {
    s.services.envs.stop(&name).await?;
    Ok(Json(Message::new(format!("Container '{name}' stopped."))))
}

pub async fn start(State(s): State<AppState>, ApiPath(name): ApiPath<String>) -> Result<Json<Message>, ApiError> {
    s.services.envs.start(&name).await?;
    Ok(Json(Message::new(format!("Container '{name}' started."))))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BackgroundQuery {
    /// Ours: answer 202 with an `operation_id` at once instead of waiting.
    #[serde(default)]
    background: bool,
}

/// Runs `work` as an operation, then answers as [`answer_operation`] does.
async fn run_operation<F>(
    s: &AppState,
    kind: &str,
    target: &str,
    background: bool,
    message: &str,
    work: impl FnOnce(Progress) -> F,
) -> Result<Response, ApiError>
where
    F: std::future::Future<Output = Result<std::path::PathBuf, EnvError>> + Send + 'static,
{
    let (id, done) = s.services.operations.start(kind, target, move |progress| {
        let fut = work(progress);
        async move { fut.await.map(|path| crate::services::tarball_result(&path)).map_err(|e| e.to_string()) }
    });
    answer_operation(s, id, done, background, &format!("{kind} of {target} started"), message).await
}

/// Waits for operation `id` (the original's behaviour), or with `background` answers 202 with
/// its id at once.
pub(super) async fn answer_operation(
    s: &AppState,
    id: u64,
    mut done: tokio::sync::watch::Receiver<bool>,
    background: bool,
    started: &str,
    message: &str,
) -> Result<Response, ApiError> {
    if background {
        let started = OperationStarted { message: started.to_string(), operation_id: id };
        return Ok((StatusCode::ACCEPTED, Json(started)).into_response());
    }
    let _ = done.wait_for(|finished| *finished).await;
    let op = s.services.operations.get(id).ok_or_else(|| ApiError::Internal(format!("operation {id} vanished")))?;
    match op.state {
        OperationState::Succeeded => {
            let path = op.result.as_ref().and_then(|r| r.get("tarball_path")).and_then(|p| p.as_str());
            let saved =
                TarballSaved { message: message.to_string(), tarball_path: path.unwrap_or_default().to_string() };
            Ok(Json(saved).into_response())
        }
        OperationState::Cancelled => Err(ApiError::Conflict(format!("operation {id} was cancelled"))),
        _ => Err(ApiError::Failed(op.error.unwrap_or_else(|| "failed".into()))),
    }
}

pub async fn create_tar(
    State(s): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<BackgroundQuery>,
) -> Result<Response, ApiError> {
    let (id, done) = s.services.start_create_tar(&name).await?;
    let started = format!("create_tar of {name} started");
    answer_operation(&s, id, done, q.background, &started, "Container tarball created/refreshed successfully.").await
}

pub async fn list_tars(State(s): State<AppState>) -> Json<TarballList> {
    Json(s.services.envs.list_tars())
}

/// Ours: `POST /api/docker/import` `{"path", "name"}`: an environment from a tar on the host.
pub async fn import(State(s): State<AppState>, ApiJson(req): ApiJson<ImportRequest>) -> Result<Response, ApiError> {
    let kind = s.services.envs.prepare_import(&req.path, &req.name).await?;
    let (envs, path, name) = (s.services.envs.clone(), req.path.clone(), req.name.clone());
    let message = format!("Environment '{}' imported.", req.name);
    run_operation(&s, "import", &req.name, req.background, &message, move |progress| async move {
        envs.import(&path, &name, kind, &progress).await
    })
    .await
}

/// Ours: `GET /api/operations`: long operations, newest first.
pub async fn operations(State(s): State<AppState>) -> Json<Vec<Operation>> {
    Json(s.services.operations.list())
}

pub async fn operation(State(s): State<AppState>, ApiPath(id): ApiPath<u64>) -> Result<Json<Operation>, ApiError> {
    s.services.operations.get(id).map(Json).ok_or_else(|| ApiError::NotFound(format!("operation {id} not found")))
}

/// `DELETE /api/operations/{id}`: cancel; 409 when it already finished.
pub async fn cancel_operation(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<Operation>, ApiError> {
    s.services.operations.cancel(id).map(Json).map_err(|e| match e {
        OperationError::NotFound(_) => ApiError::NotFound(e.to_string()),
        OperationError::Finished(_) => ApiError::Conflict(e.to_string()),
    })
}

/// Ours: `GET /api/docker/versions`: which runner has which version of each environment.
pub async fn versions(
    State(s): State<AppState>,
) -> Result<Json<std::collections::BTreeMap<String, EnvVersions>>, ApiError> {
    let nodes = s.services.nodes.list().await?;
    Ok(Json(crate::envs::versions(&s.services.envs.list_tars(), &nodes)))
}
