//! Task endpoints: the original's (`submit`, `status`, `tasks`, `kill`, `command`, `task/.../stdout`,
//! `update`) and ours (`tasks/page`, log reads from an offset or of the tail).

use std::io::SeekFrom;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hakuriver_model::api::Message;
use hakuriver_model::task::{TaskStatusUpdate, VPS};
use hakuriver_model::{TaskId, TaskRequest, TaskStatus, TaskView};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::error::{ApiError, ApiJson};
use crate::db::tasks::TaskFilter;
use crate::state::AppState;

/// Most bytes one log read returns.
const MAX_LOG_READ: u64 = 4 * 1024 * 1024;
/// Default and largest page of the task list.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;
/// `GET /tasks` (the original's unpaginated list) returns at most this many, newest first.
const COMPAT_LIST_LIMIT: u32 = 5000;

fn task_id(raw: &str) -> Result<TaskId, ApiError> {
    raw.parse().map_err(|e: hakuriver_model::ids::TaskIdError| ApiError::Unprocessable(e.to_string()))
}

pub async fn submit(State(s): State<AppState>, ApiJson(req): ApiJson<TaskRequest>) -> Result<Response, ApiError> {
    let r = s.services.tasks.submit(req).await?;
    if r.task_ids.is_empty() {
        let failures: Vec<String> = r.failed_targets.iter().map(|f| format!("{}: {}", f.target, f.reason)).collect();
        return Err(ApiError::Unavailable(format!(
            "Failed to schedule task for any target. Failures: [{}]",
            failures.join("; ")
        )));
    }
    Ok((StatusCode::ACCEPTED, Json(r)).into_response())
}

pub async fn status(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<TaskView>, ApiError> {
    Ok(Json(s.services.tasks.get(task_id(&id)?).await?))
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    /// Comma-separated statuses.
    status: Option<String>,
    node: Option<String>,
    batch: Option<String>,
    /// Text searched in command and arguments.
    q: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    limit: Option<u32>,
    /// `command` (default) or `vps`.
    task_type: Option<String>,
}

impl ListQuery {
    fn filter(&self, default_limit: u32, max_limit: u32) -> Result<TaskFilter, ApiError> {
        let statuses = match &self.status {
            Some(list) => list
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<TaskStatus>().map_err(ApiError::Unprocessable))
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        Ok(TaskFilter {
            task_type: Some(self.task_type.clone().unwrap_or_else(|| "command".into())),
            statuses,
            node: self.node.clone(),
            batch: self.batch.as_deref().map(task_id).transpose()?,
            text: self.q.clone().filter(|q| !q.is_empty()),
            before: self.cursor.as_deref().map(task_id).transpose()?,
            limit: self.limit.unwrap_or(default_limit).clamp(1, max_limit),
        })
    }
}

/// The original's `GET /tasks`: command tasks, newest first (the same filters as the page work).
pub async fn list(State(s): State<AppState>, Query(q): Query<ListQuery>) -> Result<Json<Vec<TaskView>>, ApiError> {
    let filter = q.filter(COMPAT_LIST_LIMIT, COMPAT_LIST_LIMIT)?;
    Ok(Json(s.services.tasks.list(&filter).await?))
}

/// The original's `GET /vps/status`: VPS tasks that are not over, newest first (the original's
/// keys and the rest of the task view; `ssh_port` included).
pub async fn vps_status(State(s): State<AppState>) -> Result<Json<Vec<TaskView>>, ApiError> {
    let filter = TaskFilter {
        task_type: Some(VPS.into()),
        statuses: vec![TaskStatus::Pending, TaskStatus::Assigning, TaskStatus::Running, TaskStatus::Paused],
        limit: COMPAT_LIST_LIMIT,
        ..Default::default()
    };
    Ok(Json(s.services.tasks.list(&filter).await?))
}

/// The original's `GET /vps`: every VPS task, newest first (filters as for `/tasks`).
pub async fn vps_list(
    State(s): State<AppState>,
    Query(mut q): Query<ListQuery>,
) -> Result<Json<Vec<TaskView>>, ApiError> {
    q.task_type = Some(VPS.into());
    let filter = q.filter(COMPAT_LIST_LIMIT, COMPAT_LIST_LIMIT)?;
    Ok(Json(s.services.tasks.list(&filter).await?))
}

#[derive(Serialize)]
pub struct TaskPage {
    tasks: Vec<TaskView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    next_cursor: Option<TaskId>,
}

/// Ours: `GET /api/tasks/page?status=running,paused&node=&batch=&q=&cursor=&limit=`.
pub async fn page(State(s): State<AppState>, Query(q): Query<ListQuery>) -> Result<Json<TaskPage>, ApiError> {
    let filter = q.filter(DEFAULT_PAGE, MAX_PAGE)?;
    let tasks = s.services.tasks.list(&filter).await?;
    let next_cursor = (tasks.len() == filter.limit as usize).then(|| tasks.last().map(|t| t.task_id)).flatten();
    Ok(Json(TaskPage { tasks, next_cursor }))
}

pub async fn kill(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let message = s.services.tasks.kill(task_id(&id)?).await?;
    Ok((StatusCode::ACCEPTED, Json(Message::new(message))).into_response())
}

pub async fn command(
    State(s): State<AppState>,
    Path((id, command)): Path<(String, String)>,
) -> Result<Json<Message>, ApiError> {
    Ok(Json(Message::new(s.services.tasks.control(task_id(&id)?, &command).await?)))
}

pub async fn update(
    State(s): State<AppState>,
    ApiJson(update): ApiJson<TaskStatusUpdate>,
) -> Result<Json<Message>, ApiError> {
    Ok(Json(Message::new(s.services.tasks.apply_update(update).await?)))
}

#[derive(Deserialize, Default)]
pub struct LogQuery {
    /// Read from this byte offset.
    pub offset: Option<u64>,
    /// Read the last N bytes.
    pub tail: Option<u64>,
}

pub async fn stdout(state: State<AppState>, id: Path<String>, q: Query<LogQuery>) -> Result<Response, ApiError> {
    read_log(state, id, q, true).await
}

pub async fn stderr(state: State<AppState>, id: Path<String>, q: Query<LogQuery>) -> Result<Response, ApiError> {
    read_log(state, id, q, false).await
}

/// A task's log as text: whole (up to 4 MiB), from `offset`, or the last `tail` bytes. The
/// headers `X-Log-Size` and `X-Next-Offset` let a client poll for what comes next.
async fn read_log(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<LogQuery>,
    stdout: bool,
) -> Result<Response, ApiError> {
    let id = task_id(&id)?;
    s.services.tasks.get(id).await?;
    let (out, err) = s.services.tasks.log_paths(id);
    let path = if stdout { out } else { err };
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(log_response(Vec::new(), 0, 0));
        }
        Err(e) => return Err(ApiError::Internal(format!("cannot read {}: {e}", path.display()))),
    };
    let size = file.metadata().await.map_err(|e| ApiError::Internal(e.to_string()))?.len();
    let start = match (q.offset, q.tail) {
        (Some(_), Some(_)) => return Err(ApiError::Unprocessable("use offset or tail, not both".into())),
        (Some(offset), None) => offset.min(size),
        (None, Some(tail)) => size.saturating_sub(tail),
        (None, None) => 0,
    };
    let len = (size - start).min(MAX_LOG_READ);
    file.seek(SeekFrom::Start(start)).await.map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(len).read_to_end(&mut buf).await.map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(log_response(buf, size, start + len))
}

fn log_response(bytes: Vec<u8>, size: u64, next: u64) -> Response {
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_string()),
            (HeaderName::from_static("x-log-size"), size.to_string()),
            (HeaderName::from_static("x-next-offset"), next.to_string()),
        ],
        text,
    )
        .into_response()
}
