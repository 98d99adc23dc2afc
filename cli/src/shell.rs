//! `hakuriver docker shell NAME`: this terminal, in raw mode, wired to an env container's shell
//! over the host's terminal websocket (the original's JSON frames). Window size changes follow.

use std::io::{IsTerminal, Write};

use futures::{SinkExt, StreamExt};
use hakuriver_model::env::{TerminalInput, TerminalOutput};
use rustix::termios::{self, Termios};
use tokio::io::AsyncReadExt;
use tokio_tungstenite::tungstenite::Message;

/// Puts the terminal in raw mode until dropped (only when stdin is a terminal).
struct RawMode(Option<Termios>);

impl RawMode {
    fn enter() -> RawMode {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return RawMode(None);
        }
        let Ok(saved) = termios::tcgetattr(&stdin) else { return RawMode(None) };
        let mut raw = saved.clone();
        raw.make_raw();
        if termios::tcsetattr(&stdin, termios::OptionalActions::Now, &raw).is_err() {
            return RawMode(None);
        }
        RawMode(Some(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = termios::tcsetattr(std::io::stdin(), termios::OptionalActions::Now, saved);
        }
    }
}

fn window_size() -> Option<TerminalInput> {
    let size = termios::tcgetwinsize(std::io::stdout()).ok()?;
    (size.ws_row > 0 && size.ws_col > 0).then_some(TerminalInput::Resize { rows: size.ws_row, cols: size.ws_col })
}

fn frame(input: &TerminalInput) -> Message {
    Message::text(serde_json::to_string(input).unwrap_or_default())
}

/// `ws://HOST/api/docker/host/containers/NAME/terminal` from the host's base URL.
pub fn terminal_url(base: &str, name: &str) -> String {
    let ws = base.replacen("https://", "wss://", 1).replacen("http://", "ws://", 1);
    format!("{}/api/docker/host/containers/{}/terminal", ws.trim_end_matches('/'), crate::client::seg(name))
}

/// Runs the session; returns an error message when it could not start or the host refused.
pub async fn run(client: &crate::client::Client, name: &str) -> Result<(), String> {
    let base = client.base();
    let tls = client.websocket_tls()?;
    let request = client.websocket_request(&terminal_url(base, name))?;
    let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(request, None, false, Some(tls))
        .await
        .map_err(|e| format!("cannot open the terminal at {base}: {e}"))?;
    let (mut sink, mut stream) = ws.split();
    let _raw = RawMode::enter();
    if let Some(size) = window_size() {
        let _ = sink.send(frame(&size)).await;
    }
    let mut winch = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok();
    let mut stdin = tokio::io::stdin();
    let mut buf = vec![0u8; 4096];
    let mut stdin_open = true;
    let mut refused = None;
    loop {
        tokio::select! {
            read = stdin.read(&mut buf), if stdin_open => match read {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    let data = String::from_utf8_lossy(&buf[..n]).into_owned();
                    if sink.send(frame(&TerminalInput::Input { data })).await.is_err() {
                        break;
                    }
                }
            },
            _ = async { match winch.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => {
                if let Some(size) = window_size() {
                    let _ = sink.send(frame(&size)).await;
                }
            },
            message = stream.next() => match message {
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<TerminalOutput>(&text) {
                    Ok(TerminalOutput::Output { data }) => {
                        let mut out = std::io::stdout();
                        let _ = out.write_all(data.as_bytes());
                        let _ = out.flush();
                    }
                    Ok(TerminalOutput::Error { data }) => refused = Some(data.trim().to_string()),
                    Err(_) => {}
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    match refused {
        Some(reason) => Err(reason),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_urls() {
        assert_eq!(terminal_url("http://h:8000/", "env"), "ws://h:8000/api/docker/host/containers/env/terminal");
        assert_eq!(terminal_url("https://h", "e"), "wss://h/api/docker/host/containers/e/terminal");
    }
}
