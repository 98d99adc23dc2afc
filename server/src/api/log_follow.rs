//! `GET /api/task/{id}/stdout/follow` (and `stderr`): server-sent events with the task's output
//! as it is written. Each `output` event's data is the next bytes of the log, exactly as the task
//! wrote them, in base64 (standard alphabet; at most 64 KiB of output per event), and its id the
//! byte offset after them (reconnect with `?offset=` from it); an `end` event carries the final
//! status once the task is finished and every byte has been sent.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{Extensions, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Extension;
use base64::Engine;
use futures::stream::{self, Stream, StreamExt};
use hakuriver_model::TaskId;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::error::ApiError;
use super::tasks::LogQuery;
use crate::auth::held::{self, Held};
use crate::services::tasks::TaskService;
use crate::state::AppState;

const POLL: Duration = Duration::from_millis(200);
const CHUNK: u64 = 64 * 1024;

pub async fn stdout(
    s: State<AppState>,
    id: Path<String>,
    q: Query<LogQuery>,
    held: Option<Extension<Held>>,
    extensions: Extensions,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let ip = s.services.auth.client_ip(&extensions, &headers);
    follow(s, id, q, true, held, ip).await
}

pub async fn stderr(
    s: State<AppState>,
    id: Path<String>,
    q: Query<LogQuery>,
    held: Option<Extension<Held>>,
    extensions: Extensions,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let ip = s.services.auth.client_ip(&extensions, &headers);
    follow(s, id, q, false, held, ip).await
}

struct Follow {
    tasks: TaskService,
    id: TaskId,
    stdout: bool,
    offset: u64,
    done: bool,
    /// The stream's place under the caps, given back when the stream is dropped.
    _slot: crate::limits::StreamSlot,
}

/// Streams are capped (`limits::LogStreams`), and one opened with a credential ends with it
/// (revoked, expired, logged out), like a websocket.
async fn follow(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<LogQuery>,
    stdout: bool,
    held: Option<Extension<Held>>,
    ip: std::net::IpAddr,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let id: TaskId =
        id.parse().map_err(|e: hakuriver_model::ids::TaskIdError| ApiError::Unprocessable(e.to_string()))?;
    s.services.tasks.get(id).await?;
    // A log that cannot be read safely (a link planted in shared storage) is refused up front.
    s.services.tasks.open_log(id, stdout).await?;
    let slot = s.log_streams.open(ip).ok_or_else(|| {
        ApiError::TooMany("Too many log streams open (from this address, or in all); close some and retry.".into())
    })?;
    let offset = q.offset.unwrap_or(0);
    let state = Follow { tasks: s.services.tasks.clone(), id, stdout, offset, done: false, _slot: slot };
    let mut shutdown = s.shutdown.clone();
    let ended = async move {
        tokio::select! {
            () = crate::state::stopped(&mut shutdown) => {}
            () = held::lapsed(held.map(|Extension(h)| h)) => {}
        }
    };
    let events = stream::unfold(state, next_event).take_until(ended);
    Ok(Sse::new(events.map(Ok)).keep_alive(KeepAlive::default()))
}

/// Waits for new output (or the end) and turns it into the next event.
async fn next_event(mut f: Follow) -> Option<(Event, Follow)> {
    if f.done {
        return None;
    }
    loop {
        // Read the status first: output written before a final status is then surely seen below.
        let finished = match f.tasks.get(f.id).await {
            Ok(t) if t.status.is_final() => Some(t.status),
            Ok(_) => None,
            Err(_) => return None,
        };
        let chunk = match f.tasks.open_log(f.id, f.stdout).await {
            Ok(Some(file)) => read_from(file, f.offset).await,
            Ok(None) => Vec::new(),
            Err(_) => return None,
        };
        if !chunk.is_empty() {
            f.offset += chunk.len() as u64;
            let data = base64::engine::general_purpose::STANDARD.encode(&chunk);
            return Some((Event::default().event("output").id(f.offset.to_string()).data(data), f));
        }
        if let Some(status) = finished {
            f.done = true;
            return Some((Event::default().event("end").data(status.as_str()), f));
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn read_from(mut file: tokio::fs::File, offset: u64) -> Vec<u8> {
    if file.seek(std::io::SeekFrom::Start(offset)).await.is_err() {
        return Vec::new();
    }
    let mut buf = Vec::new();
    let _ = file.take(CHUNK).read_to_end(&mut buf).await;
    buf
}
