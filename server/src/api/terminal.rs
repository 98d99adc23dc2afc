//! Terminal websockets. `WS /api/docker/host/containers/{name}/terminal`: a TTY in a host env
//! container (served here). `WS /api/tasks/{id}/terminal`: a TTY in a running task or VPS
//! container, relayed to the runner of its node, which serves it the same way. Frames are the
//! original's JSON (`input`, `resize` in; `output`, `error` out).

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
use crate::services::vps::VpsDirectory;
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
    ws.on_upgrade(move |socket| task_session(socket, s.services.vps, s.services.runners, id, ended))
}

async fn task_session(
    socket: WebSocket,
    vps: VpsDirectory,
    runners: RunnerClient,
    id: String,
    ended: impl std::future::Future<Output = Stop>,
) {
    let url = match id.parse() {
        Ok(id) => vps.terminal_url(id).await,
        Err(e) => Err(format!("{e}")),
    };
    let url = match url {
        Ok(url) => url,
        Err(e) => return close(socket, CLOSE_POLICY, Some(e)).await,
    };
    let runner = match runners.open_terminal(&url).await {
        Ok(runner) => runner,
        Err(e) => return close(socket, CLOSE_ERROR, Some(format!("Cannot reach the runner: {e}"))).await,
    };
    tracing::info!(task = %id, "task terminal relayed to its runner");
    relay(socket, runner, ended).await;
    tracing::info!(task = %id, "task terminal closed");
}

/// Passes text frames both ways until either side closes (the close code travels across) or
/// `ended` completes.
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
                Some(Ok(RunnerMessage::Text(text))) => {
                    if to_browser.send(Message::Text(text.as_str().into())).await.is_err() {
                        let _ = to_runner.send(RunnerMessage::Close(None)).await;
                        return;
                    }
                }
                Some(Ok(RunnerMessage::Close(frame))) => {
                    let code = frame.map_or(CLOSE_NORMAL, |f| u16::from(f.code));
                    let _ = to_browser.send(Message::Close(Some(CloseFrame { code, reason: "".into() }))).await;
                    return;
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) => {
                    let _ = to_browser.send(Message::Close(Some(CloseFrame { code: CLOSE_ERROR, reason: "".into() }))).await;
                    return;
                }
            },
            message = from_browser.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    if to_runner.send(RunnerMessage::Text(text.as_str().into())).await.is_err() {
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
