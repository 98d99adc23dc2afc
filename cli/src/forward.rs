//! `hakuriver forward ID [LOCAL:]REMOTE`: a local listener (kept bound) whose every connection
//! becomes one websocket to the host's `/api/tasks/{id}/forward/{port}` (the host's origin, its
//! TLS and token), relayed by the task's runner to the port inside the task. Bytes travel as
//! binary frames; an empty frame is a half close (see `hakuriver_terminal::forward`), so a
//! client that shuts its writing half still gets the whole answer.

use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use crate::client::Client;

/// The most bytes read from a local connection into one frame.
const FRAME_BYTES: usize = 64 * 1024;

/// `[LOCAL:]REMOTE` as ssh's `-L` writes it: the local port (the remote one when not given; 0
/// for any free port) and the port inside the task.
pub fn parse_ports(spec: &str) -> Result<(u16, u16), String> {
    let port = |text: &str, what: &str, zero_ok: bool| match text.parse::<u16>() {
        Ok(0) if !zero_ok => Err(format!("{what} port {text:?} must be 1-65535")),
        Ok(p) => Ok(p),
        Err(_) => Err(format!("{what} port {text:?} is not a number (0-65535)")),
    };
    match spec.split_once(':') {
        Some((local, remote)) => Ok((port(local, "local", true)?, port(remote, "remote", false)?)),
        None => {
            let remote = port(spec, "remote", false)?;
            Ok((remote, remote))
        }
    }
}

/// `ws(s)://HOST/api/tasks/ID/forward/PORT` from the host's base URL.
pub fn forward_url(base: &str, task_id: &str, port: u16) -> String {
    let ws = base.replacen("https://", "wss://", 1).replacen("http://", "ws://", 1);
    format!("{}/api/tasks/{}/forward/{port}", ws.trim_end_matches('/'), crate::client::seg(task_id))
}

/// Serves connections on `listener` until the process is stopped.
pub async fn serve(listener: TcpListener, client: Arc<Client>, task_id: String, remote: u16) -> Result<(), String> {
    let url = forward_url(client.base(), &task_id, remote);
    let mut count = 0u64;
    loop {
        let (local, peer) = listener.accept().await.map_err(|e| format!("cannot accept a connection: {e}"))?;
        count += 1;
        let (client, url) = (client.clone(), url.clone());
        tokio::spawn(async move {
            if let Err(reason) = connection(local, &client, &url).await {
                eprintln!("connection {count} from {peer}: {reason}");
            }
        });
    }
}

/// One local connection, relayed through its own websocket.
async fn connection(local: TcpStream, client: &Client, url: &str) -> Result<(), String> {
    let request = client.websocket_request(url)?;
    let tls = client.websocket_tls()?;
    let (socket, _) = tokio_tungstenite::connect_async_tls_with_config(request, None, false, Some(tls))
        .await
        .map_err(|e| refusal(&e))?;
    let (mut to_ws, mut from_ws) = socket.split();
    let (mut read, mut write) = local.into_split();
    let mut buf = vec![0u8; FRAME_BYTES];
    let (mut reading, mut writing) = (true, true);
    while reading || writing {
        tokio::select! {
            n = read.read(&mut buf), if reading => match n {
                Ok(0) => {
                    reading = false;
                    to_ws.send(Message::binary(Vec::new())).await.map_err(|e| e.to_string())?;
                }
                Ok(n) => to_ws.send(Message::binary(buf[..n].to_vec())).await.map_err(|e| e.to_string())?,
                Err(e) => {
                    let _ = to_ws.send(Message::Close(None)).await;
                    return Err(format!("the local connection failed: {e}"));
                }
            },
            frame = from_ws.next(), if writing => match frame {
                Some(Ok(Message::Binary(data))) if data.is_empty() => {
                    writing = false;
                    let _ = write.shutdown().await;
                }
                Some(Ok(Message::Binary(data))) => {
                    if let Err(e) = write.write_all(&data).await {
                        let _ = to_ws.send(Message::Close(None)).await;
                        return Err(format!("the local connection failed: {e}"));
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    return match frame {
                        Some(f) if f.code != CloseCode::Normal => Err(f.reason.to_string()),
                        _ => Ok(()),
                    };
                }
                Some(Ok(_)) => {}
                None => return Ok(()),
                Some(Err(e)) => return Err(format!("the host connection failed: {e}")),
            },
        }
    }
    // Both halves are done: wait for the other end's close.
    let _ = to_ws.send(Message::Close(None)).await;
    while let Some(Ok(message)) = from_ws.next().await {
        if let Message::Close(Some(f)) = message {
            if f.code != CloseCode::Normal {
                return Err(f.reason.to_string());
            }
        }
    }
    Ok(())
}

/// What the host said when it refused the websocket (its JSON `detail`).
fn refusal(e: &tokio_tungstenite::tungstenite::Error) -> String {
    match e {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            let detail = response
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice::<hakuriver_model::api::ErrorDetail>(b).ok())
                .map(|d| d.detail)
                .unwrap_or_default();
            format!("the host refused the forward ({}): {detail}", response.status().as_u16())
        }
        other => format!("cannot reach the host: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_as_ssh_writes_them() {
        assert_eq!(parse_ports("8888"), Ok((8888, 8888)));
        assert_eq!(parse_ports("9000:8888"), Ok((9000, 8888)));
        assert_eq!(parse_ports("0:22"), Ok((0, 22)));
        assert!(parse_ports("0").unwrap_err().contains("1-65535"));
        assert!(parse_ports("8888:0").unwrap_err().contains("1-65535"));
        assert!(parse_ports("http").unwrap_err().contains("not a number"));
        assert!(parse_ports("70000").unwrap_err().contains("not a number"));
        assert!(parse_ports("a:b:c").is_err());
    }

    #[test]
    fn websocket_urls_follow_the_host_scheme() {
        assert_eq!(forward_url("http://h:8000/", "42", 8888), "ws://h:8000/api/tasks/42/forward/8888");
        assert_eq!(forward_url("https://h/base", "42", 22), "wss://h/base/api/tasks/42/forward/22");
    }
}
