//! Terminal websockets. `WS /api/docker/host/containers/{name}/terminal`: a TTY in a host env
//! container (served here). `WS /api/tasks/{id}/terminal`: a TTY in a running task or VPS
//! container, relayed to the runner of its node, which serves it the same way. Frames are the
//! original's JSON (`input`, `resize` in; `output`, `error` out). `WS /api/tasks/{id}/forward/{port}`:
//! one TCP connection to a port inside a running task (`hakuriver forward`), binary frames
//! relayed to its runner (protocol in `hakuriver_terminal::forward`).

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Extension;
use futures::{SinkExt, StreamExt};
use hakuriver_terminal::{close, Stop, CLOSE_ERROR, CLOSE_NORMAL, CLOSE_POLICY};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame as RunnerClose;
use tokio_tungstenite::tungstenite::Message as RunnerMessage;

use crate::auth::held::Held;
use crate::envs::{EnvError, EnvService};
use crate::services::runner_client::{RunnerClient, RunnerSocket};
use crate::services::vps::{TaskSocket, VpsDirectory};
use crate::state::AppState;

pub async fn websocket(
    ws: WebSocketUpgrade,
    State(s): State<AppState>,
    held: Option<Extension<Held>>,
    Path(name): Path<String>,
) -> Response {
    let ended = crate::state::ended(s.shutdown.clone(), held.map(|Extension(h)| h));
    ws.on_upgrade(move |socket| env_session(socket, s.services.envs, name, ended))
}

async fn env_session(
    socket: WebSocket,
    envs: EnvService,
    name: String,
    ended: impl std::future::Future<Output = Stop>,
) {
    match envs.open_shell(&name).await {
        Ok(shell) => hakuriver_terminal::serve(socket, shell, &format!("env {name}"), ended).await,
        Err(e) => {
            let code = if matches!(e, EnvError::NotFound(_) | EnvError::Conflict(_) | EnvError::Invalid(_)) {
                CLOSE_POLICY
            } else {
                CLOSE_ERROR
            };
            close(socket, code, Some(e.to_string())).await;
        }
    }
}

pub async fn task_websocket(
    ws: WebSocketUpgrade,
    State(s): State<AppState>,
    held: Option<Extension<Held>>,
    Path(id): Path<String>,
) -> Response {
    let ended = crate::state::ended(s.shutdown.clone(), held.map(|Extension(h)| h));
    ws.on_upgrade(move |socket| task_session(socket, s.services.vps, s.services.runners, id, None, ended))
}

pub async fn forward_websocket(
    ws: WebSocketUpgrade,
    State(s): State<AppState>,
    held: Option<Extension<Held>>,
    Path((id, port)): Path<(String, String)>,
) -> Response {
    let ended = crate::state::ended(s.shutdown.clone(), held.map(|Extension(h)| h));
    let port = Some(port);
    ws.on_upgrade(move |socket| task_session(socket, s.services.vps, s.services.runners, id, port, ended))
}

/// A terminal (`port` None) or a port forward, relayed to the task's runner. A terminal's
/// refusal comes as an `error` frame too; a forward's only as the close frame's reason.
async fn task_session(
    socket: WebSocket,
    vps: VpsDirectory,
    runners: RunnerClient,
    id: String,
    port: Option<String>,
    ended: impl std::future::Future<Output = Stop>,
) {
    let kind = match port.as_deref().map(str::parse::<u16>) {
        None => Ok(TaskSocket::Terminal),
        Some(Ok(port)) if port > 0 => Ok(TaskSocket::Forward(port)),
        Some(_) => Err(format!("{:?} is not a port (1-65535)", port.as_deref().unwrap_or_default())),
    };
    let url = match (id.parse(), kind) {
        (Ok(id), Ok(kind)) => vps.socket_url(id, kind).await,
        (Err(e), _) => Err(format!("{e}")),
        (_, Err(e)) => Err(e),
    };
    let forward = port.is_some();
    let refuse = |socket, code, reason: String| async move {
        if forward {
            let mut socket: WebSocket = socket;
            let _ = socket.send(Message::Close(Some(Stop { code, reason }.frame()))).await;
        } else {
            close(socket, code, Some(reason)).await;
        }
    };
    let url = match url {
        Ok(url) => url,
        Err(e) => return refuse(socket, CLOSE_POLICY, e).await,
    };
    let runner = match runners.open_socket(&url).await {
        Ok(runner) => runner,
        Err(e) => return refuse(socket, CLOSE_ERROR, format!("Cannot reach the runner: {e}")).await,
    };
    let what = if forward { "port forward" } else { "terminal" };
    tracing::info!(task = %id, what, "task socket relayed to its runner");
    relay(socket, runner, ended).await;
    tracing::info!(task = %id, what, "task socket closed");
}

/// Passes text and binary frames both ways until either side closes (the close code and reason
/// travel across) or `ended` completes.
async fn relay(browser: WebSocket, runner: RunnerSocket, ended: impl std::future::Future<Output = Stop>) {
    let (mut to_browser, mut from_browser) = browser.split();
    let (mut to_runner, mut from_runner) = runner.split();
    tokio::pin!(ended);
    loop {
        tokio::select! {
            stop = &mut ended => {
                let _ = to_runner.send(RunnerMessage::Close(None)).await;
                for message in stop.messages() {
                    let _ = to_browser.send(message).await;
                }
                return;
            }
            message = from_runner.next() => match message {
                Some(Ok(message @ (RunnerMessage::Text(_) | RunnerMessage::Binary(_)))) => {
                    let message = match message {
                        RunnerMessage::Text(text) => Message::Text(text.as_str().into()),
                        other => Message::Binary(other.into_data()),
                    };
                    if to_browser.send(message).await.is_err() {
                        let _ = to_runner.send(RunnerMessage::Close(None)).await;
                        return;
                    }
                }
                Some(Ok(RunnerMessage::Close(frame))) => {
                    let (code, reason) = frame.map_or((CLOSE_NORMAL, String::new()), |f| (u16::from(f.code), f.reason.to_string()));
                    let _ = to_browser.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                    return;
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) => {
                    let _ = to_browser.send(Message::Close(Some(CloseFrame { code: CLOSE_ERROR, reason: "".into() }))).await;
                    return;
                }
            },
            message = from_browser.next() => match message {
                Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => {
                    let message = match message {
                        Message::Text(text) => RunnerMessage::Text(text.as_str().into()),
                        other => RunnerMessage::Binary(other.into_data()),
                    };
                    if to_runner.send(message).await.is_err() {
                        let _ = to_browser.send(Message::Close(Some(CloseFrame { code: CLOSE_ERROR, reason: "".into() }))).await;
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    let close = RunnerClose { code: CloseCode::Normal, reason: "".into() };
                    let _ = to_runner.send(RunnerMessage::Close(Some(close))).await;
                    return;
                }
                Some(Ok(_)) => {}
            },
        }
    }
}
