//! `GET /api/events` (websocket): a snapshot of the cluster, then every change as it happens.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use hakuriver_model::ClusterEvent;
use tokio::sync::broadcast::error::RecvError;

use crate::auth::held::Held;
use crate::services::Services;
use crate::state::AppState;

pub async fn websocket(ws: WebSocketUpgrade, State(s): State<AppState>, held: Option<Extension<Held>>) -> Response {
    let ended = crate::state::ended(s.shutdown.clone(), held.map(|Extension(h)| h));
    ws.on_upgrade(move |socket| stream(socket, s.services, ended))
}

/// Events until the client leaves, or a close frame when the host shuts down (1001) or the
/// client's credential lapses (1008).
async fn stream(
    mut socket: WebSocket,
    services: Services,
    ended: impl std::future::Future<Output = hakuriver_terminal::Stop>,
) {
    // Subscribe before reading the snapshot, so no change falls between the two.
    let mut events = services.events.subscribe();
    if send_snapshot(&mut socket, &services).await.is_err() {
        return;
    }
    tokio::pin!(ended);
    loop {
        tokio::select! {
            stop = &mut ended => {
                let _ = socket.send(Message::Close(Some(stop.frame()))).await;
                break;
            }
            event = events.recv() => {
                let sent = match event {
                    Ok(event) => send(&mut socket, &event).await,
                    Err(RecvError::Lagged(_)) => send_snapshot(&mut socket, &services).await,
                    Err(RecvError::Closed) => break,
                };
                if sent.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
            },
        }
    }
}

async fn send_snapshot(socket: &mut WebSocket, services: &Services) -> Result<(), ()> {
    match services.nodes.list().await {
        Ok(nodes) => send(socket, &ClusterEvent::Snapshot { nodes }).await,
        Err(e) => {
            tracing::error!(error = %e, "cannot build event snapshot");
            Err(())
        }
    }
}

async fn send(socket: &mut WebSocket, event: &ClusterEvent) -> Result<(), ()> {
    let text = serde_json::to_string(event).map_err(|_| ())?;
    socket.send(Message::Text(text.into())).await.map_err(|_| ())
}
