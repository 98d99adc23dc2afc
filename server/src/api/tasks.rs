//! Task endpoints: the original's (`submit`, `status`, `tasks`, `kill`, `command`, `task/.../stdout`,
//! `update`) and ours (`tasks/page`, log reads from an offset, of the tail, or of a length).

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use hakuriver_model::api::Message;
use hakuriver_model::auth::Actor;
use hakuriver_model::protocol::TaskStatusUpdate;
use hakuriver_model::task::{TaskPage, TaskQuery};
use hakuriver_model::usage::{UsageQuery, UsageReport};
use hakuriver_model::{ControlCommand, TaskType};
use hakuriver_model::{TaskId, TaskRequest, TaskStatus, TaskView};
use serde::Deserialize;

use super::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::db::tasks::TaskFilter;
use crate::services::tasks::filter_of;
use crate::services::tasks::logs::LogWindow;
use crate::state::AppState;

/// `GET /tasks` (the original's unpaginated list) returns at most this many, newest first.
const COMPAT_LIST_LIMIT: u32 = 5000;

/// Who owns what `actor` submits: its name when authentication is on, nobody otherwise.
pub fn owner<'a>(s: &AppState, actor: &'a Actor) -> Option<&'a str> {
    s.services.auth.enabled().then_some(actor.name.as_str())
}

pub(super) fn task_id(raw: &str) -> Result<TaskId, ApiError> {
    raw.parse().map_err(|e: hakuriver_model::ids::TaskIdError| ApiError::Unprocessable(e.to_string()))
}

pub async fn submit(
    State(s): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiJson(req): ApiJson<TaskRequest>,
) -> Result<Response, ApiError> {
    let r = s.services.submit(req, owner(&s, &actor), actor.role).await?;
    if r.task_ids.is_empty() {
        let failures: Vec<String> = r.failed_targets.iter().map(|f| format!("{}: {}", f.target, f.reason)).collect();
        return Err(ApiError::Unavailable(format!(
            "Failed to schedule task for any target. Failures: [{}]",
            failures.join("; ")
        )));
    }
    Ok((StatusCode::ACCEPTED, Json(r)).into_response())
}

pub async fn status(State(s): State<AppState>, ApiPath(id): ApiPath<String>) -> Result<Json<TaskView>, ApiError> {
    Ok(Json(s.services.tasks.get(task_id(&id)?).await?))
}

/// The original's `GET /tasks`: command tasks, newest first (the same filters as the page work).
pub async fn list(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<TaskQuery>,
) -> Result<Json<Vec<TaskView>>, ApiError> {
    let filter = filter_of(&q, COMPAT_LIST_LIMIT, COMPAT_LIST_LIMIT)?;
    Ok(Json(s.services.tasks.list(&filter).await?))
}

/// The original's `GET /vps/status`: VPS tasks that are not over, newest first (the original's
/// keys and the rest of the task view; `ssh_port` included).
pub async fn vps_status(State(s): State<AppState>) -> Result<Json<Vec<TaskView>>, ApiError> {
    let filter = TaskFilter {
        task_type: Some(TaskType::Vps.as_str().into()),
        statuses: vec![
            TaskStatus::Pending,
            TaskStatus::Assigning,
            TaskStatus::Running,
            TaskStatus::Paused,
            TaskStatus::ShutOff,
        ],
        limit: COMPAT_LIST_LIMIT,
        ..Default::default()
    };
    Ok(Json(s.services.tasks.list(&filter).await?))
}

/// The original's `GET /vps`: every VPS task, newest first (filters as for `/tasks`).
pub async fn vps_list(
    State(s): State<AppState>,
    ApiQuery(mut q): ApiQuery<TaskQuery>,
) -> Result<Json<Vec<TaskView>>, ApiError> {
    q.task_type = Some(TaskType::Vps.as_str().into());
    let filter = filter_of(&q, COMPAT_LIST_LIMIT, COMPAT_LIST_LIMIT)?;
    Ok(Json(s.services.tasks.list(&filter).await?))
}

/// Ours: `GET /api/tasks/page?status=running,paused&node=&batch=&q=&cursor=&limit=`.
pub async fn page(State(s): State<AppState>, ApiQuery(q): ApiQuery<TaskQuery>) -> Result<Json<TaskPage>, ApiError> {
    Ok(Json(s.services.tasks.page(&q).await?))
}

/// Ours: `GET /api/usage?since=7d&by=user|node`.
pub async fn usage(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<UsageQuery>,
) -> Result<Json<UsageReport>, ApiError> {
    Ok(Json(s.services.tasks.usage_report(&q).await?))
}

pub async fn kill(
    State(s): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let message = s.services.tasks.kill(task_id(&id)?, &actor).await?;
    Ok((StatusCode::ACCEPTED, Json(Message::new(message))).into_response())
}

pub async fn command(
    State(s): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiPath((id, command)): ApiPath<(String, String)>,
) -> Result<Json<Message>, ApiError> {
    let command: ControlCommand = command
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("Invalid command {command:?}: use pause, resume, stop or start")))?;
    Ok(Json(Message::new(s.services.tasks.control(task_id(&id)?, command, &actor).await?)))
}

pub async fn update(
    State(s): State<AppState>,
    headers: HeaderMap,
    ApiJson(update): ApiJson<TaskStatusUpdate>,
) -> Result<Json<Message>, ApiError> {
    Ok(Json(s.services.runner_update(update, super::nodes::runner_identity(&headers)).await?))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Read from this byte offset.
    pub offset: Option<u64>,
    /// Read the last N bytes.
    pub tail: Option<u64>,
    /// Read at most N bytes.
    pub limit: Option<u64>,
}

pub async fn stdout(state: State<AppState>, id: ApiPath<String>, q: ApiQuery<LogQuery>) -> Result<Response, ApiError> {
    read_log(state, id, q, true).await
}

pub async fn stderr(state: State<AppState>, id: ApiPath<String>, q: ApiQuery<LogQuery>) -> Result<Response, ApiError> {
    read_log(state, id, q, false).await
}

/// Bytes a log read sends at a time.
const LOG_READ_BUFFER: usize = 256 * 1024;

/// A task's log, the bytes as the task wrote them: whole (as the original answered), from
/// `offset`, or the last `tail` bytes; at most `limit` bytes. Streamed from the file, so any size
/// costs the same memory. The headers `X-Log-Size` and `X-Next-Offset` let a client poll for what
/// comes next.
async fn read_log(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<LogQuery>,
    stdout: bool,
) -> Result<Response, ApiError> {
    let window = LogWindow { offset: q.offset, tail: q.tail, limit: q.limit };
    let read = s.services.tasks.read_log(task_id(&id)?, stdout, window).await?;
    let headers = [
        (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_string()),
        (header::CONTENT_LENGTH, read.len.to_string()),
        (HeaderName::from_static("x-log-size"), read.size.to_string()),
        (HeaderName::from_static("x-next-offset"), read.next_offset().to_string()),
    ];
    let body = match read.file {
        Some(file) => Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, LOG_READ_BUFFER)),
        None => Body::empty(),
    };
    Ok((headers, body).into_response())
}
