//! `GET /api/task/{id}/stdout/follow` (and `stderr`): server-sent events with the task's output
//! as it is written. Each `output` event's data is the next bytes of the log, exactly as the task
//! wrote them, in base64 (standard alphabet; at most 256 KiB of output per event), and its id the
//! byte offset after them (reconnect with `?offset=` from it); an `end` event carries the final
//! status once the task is finished and every byte has been sent.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::{Extensions, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Extension;
use base64::Engine;
use futures::stream::{self, Stream, StreamExt};
use hakuriver_model::TaskId;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::error::{ApiError, ApiPath, ApiQuery};
use super::tasks::LogQuery;
use crate::auth::held::{self, Held};
use crate::services::tasks::TaskService;
use crate::state::AppState;

const POLL: Duration = Duration::from_millis(200);
/// Most output one event carries.
const CHUNK: u64 = 256 * 1024;

pub async fn stdout(
    s: State<AppState>,
    id: ApiPath<String>,
    q: ApiQuery<LogQuery>,
    held: Option<Extension<Held>>,
    extensions: Extensions,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let ip = s.services.auth.client_ip(&extensions, &headers);
    follow(s, id, q, true, held, ip).await
}

pub async fn stderr(
    s: State<AppState>,
    id: ApiPath<String>,
    q: ApiQuery<LogQuery>,
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
    /// The log, open at `offset` while output keeps coming.
    file: Option<tokio::fs::File>,
    done: bool,
    /// The stream's place under the caps, given back when the stream is dropped.
    _slot: crate::limits::StreamSlot,
}

/// Streams are capped (`limits::LogStreams`), and one opened with a credential ends with it
/// (revoked, expired, logged out), like a websocket.
async fn follow(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<LogQuery>,
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
    let state = Follow { tasks: s.services.tasks.clone(), id, stdout, offset, file: None, done: false, _slot: slot };
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
        // Output first: while there is some, the file stays open and nothing else is asked.
        let chunk = match f.next_output().await {
            Ok(chunk) => chunk,
            Err(()) => return None,
        };
        if !chunk.is_empty() {
            return Some((f.output_event(&chunk), f));
        }
        // Nothing new: the file is opened afresh next time (a runner may have created it new).
        f.file = None;
        let finished = match f.tasks.get(f.id).await {
            Ok(t) if t.status.is_final() => t.status,
            Ok(_) => {
                tokio::time::sleep(POLL).await;
                continue;
            }
            Err(_) => return None,
        };
        // Final: whatever the task wrote is in the file now; send it all before the end.
        match f.next_output().await {
            Ok(chunk) if !chunk.is_empty() => return Some((f.output_event(&chunk), f)),
            Ok(_) => {}
            Err(()) => return None,
        }
        f.done = true;
        return Some((Event::default().event("end").data(finished.as_str()), f));
    }
}

impl Follow {
    /// The next output from the stream's offset (at most `CHUNK` bytes; none yet: empty).
    async fn next_output(&mut self) -> Result<Vec<u8>, ()> {
        if self.file.is_none() {
            let Some(mut file) = self.tasks.open_log(self.id, self.stdout).await.map_err(|_| ())? else {
                return Ok(Vec::new());
            };
            file.seek(std::io::SeekFrom::Start(self.offset)).await.map_err(|_| ())?;
            self.file = Some(file);
        }
        let mut buf = Vec::new();
        if let Some(file) = self.file.as_mut() {
            file.take(CHUNK).read_to_end(&mut buf).await.map_err(|_| ())?;
        }
        Ok(buf)
    }

    fn output_event(&mut self, chunk: &[u8]) -> Event {
        self.offset += chunk.len() as u64;
        let data = base64::engine::general_purpose::STANDARD.encode(chunk);
        Event::default().event("output").id(self.offset.to_string()).data(data)
    }
}
