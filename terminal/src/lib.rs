//! Web terminals into containers, shared by the host (its env containers) and the runner (task
//! and VPS containers): a `docker exec` TTY running a shell, served over a websocket with the
//! original's JSON frames (`input`, `resize` in; `output`, `error` out). Either side going away
//! ends the session; the shell gets a hangup when its input closes. `forward`: port forwards,
//! one TCP connection per websocket.

pub mod forward;

use std::pin::Pin;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bollard::Docker;
use futures::StreamExt;
use hakuriver_model::env::{TerminalInput, TerminalOutput};
use tokio::io::AsyncWriteExt;

pub use hakuriver_model::text::utf8_prefix;

pub use hakuriver_model::events::{CLOSE_ERROR, CLOSE_GOING_AWAY, CLOSE_NORMAL, CLOSE_POLICY};

/// Why a server ends a session that neither side closed: the close code, and a reason the
/// client sees (an `error` frame in a terminal, and the close frame's reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    pub code: u16,
    pub reason: String,
}

impl Stop {
    /// The close frame for it; its reason cut to the 123 bytes a close frame holds.
    pub fn frame(&self) -> CloseFrame {
        let mut end = self.reason.len().min(123);
        while !self.reason.is_char_boundary(end) {
            end -= 1;
        }
        CloseFrame { code: self.code, reason: self.reason[..end].into() }
    }

    /// What a terminal client gets: the reason as an `error` frame, then the close frame.
    pub fn messages(&self) -> [Message; 2] {
        let error = TerminalOutput::Error { data: format!("\r\n{}\r\n", self.reason) };
        [Message::Text(serde_json::to_string(&error).unwrap_or_default().into()), Message::Close(Some(self.frame()))]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error("Docker: {0}")]
    Docker(#[from] bollard::errors::Error),
    #[error("the shell did not attach")]
    Detached,
}

/// An attached shell in a container.
pub struct Shell {
    pub output:
        Pin<Box<dyn futures::Stream<Item = Result<bollard::container::LogOutput, bollard::errors::Error>> + Send>>,
    pub input: Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
    pub resizer: Resizer,
}

/// Resizes a shell's TTY.
#[derive(Clone)]
pub struct Resizer {
    exec_id: String,
    docker: Docker,
}

impl Resizer {
    pub async fn resize(&self, rows: u16, cols: u16) -> Result<(), TerminalError> {
        let options =
            bollard::query_parameters::ResizeExecOptionsBuilder::new().h(i32::from(rows)).w(i32::from(cols)).build();
        Ok(self.docker.resize_exec(&self.exec_id, options).await?)
    }
}

/// Starts an interactive shell (bash when the image has it, else sh) with a TTY in a running
/// container. The command is a fixed script: no user input reaches a shell command line.
pub async fn exec_shell(docker: &Docker, container: &str) -> Result<Shell, TerminalError> {
    let cmd = vec![
        "/bin/sh".to_string(),
        "-c".into(),
        "if [ -x /bin/bash ]; then exec /bin/bash; else exec /bin/sh; fi".into(),
    ];
    let exec = docker
        .create_exec(
            container,
            bollard::exec::CreateExecOptions {
                cmd: Some(cmd),
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(true),
                env: Some(vec!["TERM=xterm-256color".to_string()]),
                ..Default::default()
            },
        )
        .await?;
    match docker.start_exec(&exec.id, None).await? {
        bollard::exec::StartExecResults::Attached { output, input } => {
            Ok(Shell { output, input, resizer: Resizer { exec_id: exec.id, docker: docker.clone() } })
        }
        bollard::exec::StartExecResults::Detached => Err(TerminalError::Detached),
    }
}

async fn send(socket: &mut WebSocket, frame: &TerminalOutput) -> bool {
    let text = serde_json::to_string(frame).unwrap_or_default();
    socket.send(Message::Text(text.into())).await.is_ok()
}

/// Ends a session: an `error` frame with `error` when given, then a close frame with `code`.
pub async fn close(mut socket: WebSocket, code: u16, error: Option<String>) {
    if let Some(data) = error {
        send(&mut socket, &TerminalOutput::Error { data: format!("{data}\r\n") }).await;
    }
    let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: "".into() }))).await;
}

/// Pumps frames between the websocket and the shell until either ends, or until `stop`
/// completes (the server shutting down, the client's credentials lapsing: the client gets the
/// reason as an `error` frame and the stop's close code); `label` names the session in the logs.
pub async fn serve(mut socket: WebSocket, shell: Shell, label: &str, stop: impl std::future::Future<Output = Stop>) {
    tracing::info!(session = label, "terminal session opened");
    if !send(&mut socket, &TerminalOutput::Output { data: "Terminal connected.\r\n".into() }).await {
        return;
    }
    let Shell { mut output, mut input, resizer } = shell;
    let mut pending: Vec<u8> = Vec::new();
    let mut stopped = None;
    tokio::pin!(stop);
    loop {
        tokio::select! {
            why = &mut stop => {
                stopped = Some(why);
                break;
            }
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
    tracing::info!(session = label, reason = stopped.as_ref().map(|s| s.reason.as_str()), "terminal session closed");
    let _ = input.shutdown().await;
    match stopped {
        Some(stop) => {
            for message in stop.messages() {
                let _ = socket.send(message).await;
            }
        }
        None => close(socket, CLOSE_NORMAL, None).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_reason_fits_a_close_frame() {
        let short = Stop { code: CLOSE_POLICY, reason: "token revoked".into() };
        assert_eq!(short.frame().reason.as_str(), "token revoked");
        assert_eq!(short.frame().code, CLOSE_POLICY);
        // 61 two-byte characters (122 bytes), then one more that would cross 123.
        let long = Stop { code: CLOSE_GOING_AWAY, reason: "é".repeat(70) };
        assert_eq!(long.frame().reason.as_str(), "é".repeat(61));
    }
}
