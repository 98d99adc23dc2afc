//! Port forwards: one websocket carries one TCP connection's bytes as binary frames, both ways.
//! An empty binary frame says "no more from this side" (a half close: the other side shuts its
//! writing half and keeps reading); the websocket closes once both sides are done, or with a
//! close frame whose reason says what went wrong (the port refused, the task ended).

use axum::extract::ws::{Message, WebSocket};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{Stop, CLOSE_ERROR, CLOSE_NORMAL};

/// The most bytes read from the connection into one frame.
pub const FRAME_BYTES: usize = 64 * 1024;

/// Pumps bytes between `socket` and `tcp` until both directions are done, either side fails,
/// or `stop` completes (its code and reason close the websocket).
pub async fn serve(socket: WebSocket, tcp: TcpStream, stop: impl std::future::Future<Output = Stop>) {
    let (mut to_ws, mut from_ws) = socket.split();
    let (mut read, mut write) = tcp.into_split();
    let mut buf = vec![0u8; FRAME_BYTES];
    let (mut reading, mut writing) = (true, true);
    tokio::pin!(stop);
    let end = loop {
        if !reading && !writing {
            break Stop { code: CLOSE_NORMAL, reason: String::new() };
        }
        tokio::select! {
            stop = &mut stop => break stop,
            n = read.read(&mut buf), if reading => match n {
                Ok(0) => {
                    reading = false;
                    if to_ws.send(Message::Binary(Vec::new().into())).await.is_err() {
                        return;
                    }
                }
                Ok(n) => {
                    if to_ws.send(Message::Binary(buf[..n].to_vec().into())).await.is_err() {
                        return;
                    }
                }
                Err(e) => break Stop { code: CLOSE_ERROR, reason: format!("the forwarded connection failed: {e}") },
            },
            frame = from_ws.next(), if writing => match frame {
                Some(Ok(Message::Binary(data))) if data.is_empty() => {
                    writing = false;
                    let _ = write.shutdown().await;
                }
                Some(Ok(Message::Binary(data))) => {
                    if let Err(e) = write.write_all(&data).await {
                        break Stop { code: CLOSE_ERROR, reason: format!("the forwarded connection failed: {e}") };
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    };
    let _ = to_ws.send(Message::Close(Some(end.frame()))).await;
}
