//! The runner's HTTP API, which the host calls: `/run`, `/kill`, `/pause`, `/resume` (the
//! original's protocol), `/stop` (a VPS stopped with its disk kept), `/vps/save` (a VPS saved
//! as an environment tarball, with progress), `GET /health`, `WS /tasks/{id}/terminal` (a shell in a task's
//! container, which the host relays to browsers) and `WS /tasks/{id}/forward/{port}` (one TCP
//! connection to a port inside a task, which the host relays to `hakuriver forward`).

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hakuriver_model::api::{ErrorDetail, Message};
use hakuriver_model::protocol::{TaskControl, TaskInfo};
use hakuriver_support::request_rules::{write_headers_ok, Accepts, PublicNames};
use serde::Serialize;

use crate::executor::{ExecError, Executor};

#[derive(Clone, Serialize)]
struct RunnerHealth {
    hostname: String,
    version: &'static str,
}

#[derive(Clone)]
struct RunnerState {
    executor: Executor,
    health: RunnerHealth,
}

/// Who may call the runner: a runner with a runner token (whatever `[auth] enabled` says) only
/// admits the host, which presents it (`/health` stays open: it says no more than the node's
/// name and version). Whatever the token, no browser: a request for a name this runner does
/// not answer to gets 421 (DNS rebinding), one from a web page (it carries `Origin`) 403, and a
/// write that is not JSON 415.
#[derive(Clone)]
pub struct Guard {
    token_hash: Option<String>,
    names: PublicNames,
}

impl Guard {
    pub fn new(runner_token: Option<&str>, names: PublicNames) -> Self {
        Guard { token_hash: runner_token.map(hakuriver_config::secret::hash), names }
    }

    /// Why a request is refused before the token is looked at, if it is.
    fn foreign(&self, req: &axum::extract::Request) -> Option<(StatusCode, &'static str)> {
        let headers = req.headers();
        let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        if !self.names.allows(text(header::HOST)) {
            return Some((StatusCode::MISDIRECTED_REQUEST, "this runner does not answer to that name"));
        }
        if headers.contains_key(header::ORIGIN) {
            return Some((StatusCode::FORBIDDEN, "runners take no requests from web pages"));
        }
        if req.method() == axum::http::Method::POST && !write_headers_ok(headers, Accepts::Json) {
            return Some((StatusCode::UNSUPPORTED_MEDIA_TYPE, "send a JSON body with Content-Type: application/json"));
        }
        None
    }

    fn admits(&self, headers: &axum::http::HeaderMap) -> bool {
        let Some(hash) = &self.token_hash else { return true };
        headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|token| hakuriver_config::secret::matches(token.trim(), hash))
    }
}

async fn check(State(guard): State<Guard>, req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if let Some((status, why)) = guard.foreign(&req) {
        tracing::warn!(path = %req.uri().path(), why, "refused a request");
        return (status, Json(ErrorDetail::new(why))).into_response();
    }
    if guard.admits(req.headers()) {
        return next.run(req).await;
    }
    tracing::warn!(path = %req.uri().path(), "refused a call without the runner token");
    (StatusCode::UNAUTHORIZED, Json(ErrorDetail::new("the runner token is required"))).into_response()
}

pub fn router(hostname: String, executor: Executor, guard: Guard) -> Router {
    let state = RunnerState { executor, health: RunnerHealth { hostname, version: env!("CARGO_PKG_VERSION") } };
    let host_only = Router::new()
        .route("/run", post(run))
        .route("/kill", post(kill))
        .route("/pause", post(pause))
        .route("/resume", post(resume))
        .route("/stop", post(stop))
        .route("/vps/save", post(save_vps))
        .route("/tasks/{id}/terminal", get(terminal))
        .route("/tasks/{id}/forward/{port}", get(forward))
        .route_layer(axum::middleware::from_fn_with_state(guard, check));
    Router::new()
        .route("/health", get(|State(s): State<RunnerState>| async move { Json(s.health) }))
        .merge(host_only)
        .with_state(state)
}

fn error(e: ExecError) -> Response {
    let status = match e {
        ExecError::Tracked(_) | ExecError::Killed(_) => StatusCode::CONFLICT,
        ExecError::NotTracked(_) => StatusCode::NOT_FOUND,
        ExecError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, Json(ErrorDetail::new(e.to_string()))).into_response()
}

async fn run(State(s): State<RunnerState>, Json(task): Json<TaskInfo>) -> Response {
    let id = task.task_id;
    match s.executor.accept(task).await {
        Ok(()) => Json(serde_json::json!({"message": "Task accepted for launch", "task_id": id})).into_response(),
        Err(e) => error(e),
    }
}

async fn kill(State(s): State<RunnerState>, Json(c): Json<TaskControl>) -> Response {
    match s.executor.kill(c.task_id).await {
        Ok(()) => Json(Message::new(format!(
            "Kill processed for task {}. Final status will be reported via heartbeat.",
            c.task_id
        )))
        .into_response(),
        Err(e) => error(e),
    }
}

async fn pause(State(s): State<RunnerState>, Json(c): Json<TaskControl>) -> Response {
    match s.executor.set_paused(c.task_id, true).await {
        Ok(()) => Json(Message::new(format!("Pause request processed for task {}", c.task_id))).into_response(),
        Err(e) => error(e),
    }
}

async fn resume(State(s): State<RunnerState>, Json(c): Json<TaskControl>) -> Response {
    match s.executor.set_paused(c.task_id, false).await {
        Ok(()) => Json(Message::new(format!("Resume request processed for task {}", c.task_id))).into_response(),
        Err(e) => error(e),
    }
}

/// Ours: saves a VPS as an environment tarball (`VpsSaveOrder`); answers with one JSON
/// `SaveEvent` per line as it goes. The host closing the connection cancels the save.
async fn save_vps(State(s): State<RunnerState>, Json(order): Json<hakuriver_model::env::VpsSaveOrder>) -> Response {
    let (events, received) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move { s.executor.save_vps(order, events).await });
    let lines = futures::stream::unfold(received, |mut received| async move {
        let event = received.recv().await?;
        let mut line = serde_json::to_vec(&event).unwrap_or_default();
        line.push(b'\n');
        Some((Ok::<_, std::convert::Infallible>(line), received))
    });
    ([(header::CONTENT_TYPE, "application/x-ndjson")], axum::body::Body::from_stream(lines)).into_response()
}

/// Ours: stops a VPS and keeps its container (`vps stop`); it reports `shut_off`.
async fn stop(State(s): State<RunnerState>, Json(c): Json<TaskControl>) -> Response {
    match s.executor.stop_vps(c.task_id).await {
        Ok(()) => Json(Message::new(format!("VPS {} stopped; its container is kept.", c.task_id))).into_response(),
        Err(e) => error(e),
    }
}

async fn terminal(ws: WebSocketUpgrade, State(s): State<RunnerState>, Path(id): Path<String>) -> Response {
    ws.on_upgrade(move |socket| async move {
        let shell = match id.parse() {
            Ok(id) => s.executor.open_shell(id).await,
            Err(e) => Err(ExecError::Failed(format!("{e}"))),
        };
        match shell {
            // The host relays this socket and closes its own side when it stops.
            Ok(shell) => {
                hakuriver_terminal::serve(
                    socket,
                    shell,
                    &format!("task {id}"),
                    std::future::pending::<hakuriver_terminal::Stop>(),
                )
                .await
            }
            Err(e) => hakuriver_terminal::close(socket, hakuriver_terminal::CLOSE_POLICY, Some(e.to_string())).await,
        }
    })
}

async fn forward(
    ws: WebSocketUpgrade,
    State(s): State<RunnerState>,
    Path((id, port)): Path<(String, String)>,
) -> Response {
    ws.on_upgrade(move |socket| async move {
        let target = match (id.parse(), port.parse::<u16>()) {
            (Ok(id), Ok(port)) if port > 0 => s.executor.forward_target(id, port).await.map_err(|e| e.to_string()),
            (Err(e), _) => Err(format!("{e}")),
            _ => Err(format!("{port:?} is not a port (1-65535)")),
        };
        let connected = match target {
            Ok(addr) => tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| format!("nothing answers on port {port} of task {id} ({addr}): {e}")),
            Err(e) => Err(e),
        };
        match connected {
            Ok(tcp) => {
                tracing::info!(task = %id, port, "port forward opened");
                // The host relays this socket and closes its own side when it stops.
                let stop = std::future::pending::<hakuriver_terminal::Stop>();
                hakuriver_terminal::forward::serve(socket, tcp, stop).await;
                tracing::info!(task = %id, port, "port forward closed");
            }
            Err(reason) => {
                let stop = hakuriver_terminal::Stop { code: hakuriver_terminal::CLOSE_POLICY, reason };
                let mut socket = socket;
                let _ = socket.send(axum::extract::ws::Message::Close(Some(stop.frame()))).await;
            }
        }
    })
}
