//! `WS /api/docker/host/containers/{name}/terminal`: a TTY in a host env container, with the
//! original's JSON frames (`input`, `resize` in; `output`, `error` out). Either side going away
//! ends the session; the shell gets a hangup when its input closes.

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::Response;
use futures::StreamExt;
use hakuriver_model::env::{TerminalInput, TerminalOutput};
use tokio::io::AsyncWriteExt;

use crate::envs::{EnvError, EnvService};
use crate::state::AppState;
use crate::text::utf8_prefix;

pub async fn websocket(ws: WebSocketUpgrade, State(s): State<AppState>, Path(name): Path<String>) -> Response {
    let mut shutdown = s.shutdown.clone();
    ws.on_upgrade(move |socket| async move {
        tokio::select! {
            () = session(socket, s.services.envs, name) => {}
            () = crate::state::stopped(&mut shutdown) => {}
        }
    })
}

async fn send(socket: &mut WebSocket, frame: &TerminalOutput) -> bool {
    let text = serde_json::to_string(frame).unwrap_or_default();
    socket.send(Message::Text(text.into())).await.is_ok()
}

async fn close(mut socket: WebSocket, code: u16, error: Option<String>) {
    if let Some(data) = error {
        send(&mut socket, &TerminalOutput::Error { data: format!("{data}\r\n") }).await;
    }
    let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: "".into() }))).await;
}

async fn session(mut socket: WebSocket, envs: EnvService, name: String) {
    let shell = match envs.open_shell(&name).await {
        Ok(shell) => shell,
        Err(e) => {
            let code = if matches!(e, EnvError::NotFound(_) | EnvError::Conflict(_) | EnvError::Invalid(_)) {
                1008
            } else {
                1011
            };
            return close(socket, code, Some(e.to_string())).await;
        }
    };
    tracing::info!(env = %name, "terminal session opened");
    if !send(&mut socket, &TerminalOutput::Output { data: "Terminal connected.\r\n".into() }).await {
        return;
    }
    let (mut output, mut input, resizer) = (shell.output, shell.input, shell.resizer);
    let mut pending: Vec<u8> = Vec::new();
    loop {
        tokio::select! {
            chunk = output.next() => match chunk {
                Some(Ok(output)) => {
                    pending.extend_from_slice(&output.into_bytes());
                    let whole = utf8_prefix(&pending);
                    let data = String::from_utf8_lossy(&pending[..whole]).into_owned();
                    pending.drain(..whole);
                    if !data.is_empty() && !send(&mut socket, &TerminalOutput::Output { data }).await {
                        break;
                    }
                }
                Some(Err(e)) => {
                    send(&mut socket, &TerminalOutput::Error { data: format!("\r\nError reading from container: {e}\r\n") }).await;
                    break;
                }
                None => break,
            },
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<TerminalInput>(&text) {
                    Ok(TerminalInput::Input { data }) => {
                        if input.write_all(data.as_bytes()).await.is_err() {
                            break;
                        }
                        let _ = input.flush().await;
                    }
                    Ok(TerminalInput::Resize { rows, cols }) if rows > 0 && cols > 0 => {
                        if let Err(e) = resizer.resize(rows, cols).await {
                            tracing::debug!(error = %e, "terminal resize failed");
                        }
                    }
                    // Zero sizes and frames of other shapes are ignored, as in the original.
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    tracing::info!(env = %name, "terminal session closed");
    let _ = input.shutdown().await;
    close(socket, 1000, None).await;
}
