//! Ours: a VPS saved as an environment (`POST /api/vps/{id}/save`, a long operation like
//! create-tar) and the tarballs saved from it (`GET /api/vps/{id}/snapshots`).

use axum::extract::State;
use axum::response::Response;
use axum::{Extension, Json};
use hakuriver_model::auth::Actor;
use hakuriver_model::env::{VpsSaveRequest, VpsSnapshot};

use super::docker::answer_operation;
use super::error::{ApiError, ApiJson, ApiPath};
use super::tasks::{owner, task_id};
use crate::state::AppState;

pub async fn save(
    State(s): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<VpsSaveRequest>,
) -> Result<Response, ApiError> {
    let id = task_id(&id)?;
    let saved_by = owner(&s, &actor).map(str::to_string);
    let (op, done) = s.services.start_vps_save(id, &req.name, saved_by).await?;
    let started = format!("vps_save of VPS {id} as {} started", req.name);
    let message = format!("VPS {id} saved as environment '{}'.", req.name);
    answer_operation(&s, op, done, req.background, &started, &message).await
}

pub async fn snapshots(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<VpsSnapshot>>, ApiError> {
    Ok(Json(s.services.vps_snapshots(task_id(&id)?).await?))
}
