//! The SSH proxy on `host_ssh_proxy_port`. One port, two protocols, told apart by the client's
//! first line: the original handshake (`REQUEST_TUNNEL <id>` → `SUCCESS` / `ERROR <reason>`, then a
//! raw relay to the VPS's sshd) and, for a line starting `SSH-`, an SSH jump host (`jump`).
//!
//! A client gets `ssh_handshake_timeout` to send its first line (at most 64 KiB); a silent or
//! garbage-sending client is closed. Connections are capped; each one is logged with its peer
//! and task. Relays use `copy_bidirectional`: backpressure and half-close both ways.

mod hostkey;
mod jump;
mod prefixed;
pub mod request;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hakuriver_model::TaskId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

pub use hostkey::{load_or_create as load_host_key, HostKeyError};
use prefixed::Prefixed;
use request::{classify, FirstLine, MAX_LINE};

use crate::auth::held::{self, Held};
use crate::auth::{tickets, Auth, Credential};
use crate::limits::PerAddress;
use crate::services::vps::{VpsDirectory, VpsRoute};

/// Connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 4096;
/// How long connecting to a VPS's sshd may take (the original's 15 s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

pub struct SshProxy {
    pub vps: VpsDirectory,
    pub auth: Auth,
    pub ssh: Arc<russh::server::Config>,
    pub handshake_timeout: Duration,
    /// Connections one address may hold open at once (`network.ssh_proxy_max_per_address`).
    pub per_address: usize,
}

impl SshProxy {
    pub fn new(
        vps: VpsDirectory,
        auth: Auth,
        host_key_file: &Path,
        handshake_timeout: Duration,
        per_address: usize,
    ) -> Result<Self, HostKeyError> {
        let key = load_host_key(host_key_file)?;
        Ok(SshProxy { vps, auth, ssh: jump::config(key), handshake_timeout, per_address })
    }

    /// Serves connections until `stop` turns true.
    pub async fn serve(self, listener: TcpListener, mut stop: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let by_address = Arc::new(PerAddress::new(this.per_address));
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = crate::state::stopped(&mut stop) => return,
            };
            let (socket, peer) = match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of descriptors and the like: wait a little instead of spinning.
                    tracing::warn!(error = %e, "SSH proxy accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                tracing::warn!(%peer, "SSH proxy: too many connections; closing this one");
                continue;
            };
            let Some(held) = PerAddress::take(&by_address, peer.ip()) else {
                tracing::warn!(%peer, "SSH proxy: too many connections from this address; refusing this one");
                tokio::spawn(async move {
                    refuse(socket, "Too many connections from your address.").await;
                    drop(slot);
                });
                continue;
            };
            let this = this.clone();
            tokio::spawn(async move {
                this.connection(socket, peer).await;
                drop((slot, held));
            });
        }
    }

    async fn connection(&self, mut socket: TcpStream, peer: SocketAddr) {
        let _ = socket.set_nodelay(true);
        let first = match tokio::time::timeout(self.handshake_timeout, read_first_line(&mut socket)).await {
            Ok(Ok(first)) => first,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "SSH proxy: client went away");
                return;
            }
            Err(_) => {
                tracing::info!(%peer, "SSH proxy: no request in time");
                return refuse(socket, "Timeout waiting for request.").await;
            }
        };
        let line_end = first.iter().position(|&b| b == b'\n');
        let Some(line_end) = line_end else {
            return refuse(socket, "Invalid request format.").await;
        };
        match classify(&first[..line_end]) {
            FirstLine::Ssh => {
                let client = jump::JumpClient { vps: self.vps.clone(), peer, key: None };
                let stream = Prefixed::new(first, socket);
                match russh::server::run_stream(self.ssh.clone(), stream, client).await {
                    Ok(session) => {
                        if let Err(e) = session.await {
                            tracing::debug!(%peer, error = %e, "jump host session ended");
                        }
                    }
                    Err(e) => tracing::debug!(%peer, error = %e, "jump host handshake failed"),
                }
            }
            FirstLine::Invalid(reason) => {
                tracing::info!(%peer, reason, "SSH proxy: bad request");
                refuse(socket, reason).await;
            }
            FirstLine::Tunnel(id, token) => match self.authorize(peer, id, token).await {
                Ok(held) => self.tunnel(socket, peer, id, first[line_end + 1..].to_vec(), held).await,
                Err(reason) => {
                    tracing::info!(task = %id, %peer, reason, "SSH proxy: tunnel not authorized");
                    refuse(socket, &reason).await
                }
            },
        }
    }

    /// With authentication on, a tunnel needs a ticket (`POST /api/vps/{id}/ticket`: single use,
    /// short-lived, so no API token crosses this plain-TCP port) issued to someone who may
    /// control the VPS: its owner, an operator or an admin. The tunnel holds the credential the
    /// ticket was issued for while it lasts. Failures count towards the address's slow-down.
    async fn authorize(&self, peer: SocketAddr, id: TaskId, ticket: Option<String>) -> Result<Option<Held>, String> {
        if !self.auth.enabled() {
            return Ok(None);
        }
        let how = format!(
            "get one with POST /api/vps/{id}/ticket and send REQUEST_TUNNEL {id} <ticket> (hakuriver ssh does)"
        );
        let Some(ticket) = ticket else {
            return Err(format!("Authorization required: {how}."));
        };
        let changes = self.auth.changes();
        let presented = ticket.starts_with(tickets::PREFIX).then(|| self.auth.redeem_ticket(&ticket, id)).flatten();
        let credential = match &presented {
            Some(p) => p.resolve(&self.auth).await.map_err(|e| {
                tracing::error!(error = %e, "SSH proxy: credential lookup failed");
                "Internal server error.".to_string()
            })?,
            None => None,
        };
        let (Some(presented), Some(Credential::Person(actor))) = (presented, credential) else {
            if let Some(wait) = self.auth.failed(peer.ip()) {
                return Err(format!("Too many failed attempts; retry in {} s.", (wait + 999) / 1000));
            }
            return Err(format!("Invalid, used or expired tunnel ticket: {how}."));
        };
        let owner = self.vps.owner(id).await?;
        if actor.may_control(owner.as_deref()) {
            Ok(Some(Held::new(self.auth.clone(), presented, changes)))
        } else {
            Err(format!("Not authorized for VPS task {id}."))
        }
    }

    /// The original handshake: `SUCCESS`, then the raw relay (bytes the client sent early go
    /// first) until either side closes or the token it was opened with is revoked or expires.
    async fn tunnel(&self, mut socket: TcpStream, peer: SocketAddr, id: TaskId, early: Vec<u8>, held: Option<Held>) {
        let upstream = match self.vps.route(id).await {
            Ok(route) => connect_to_vps(id, &route).await,
            Err(reason) => Err(reason),
        };
        let mut upstream = match upstream {
            Ok(upstream) => upstream,
            Err(reason) => {
                tracing::info!(task = %id, %peer, reason, "SSH proxy: tunnel refused");
                return refuse(socket, &reason).await;
            }
        };
        if socket.write_all(b"SUCCESS\n").await.is_err() || upstream.write_all(&early).await.is_err() {
            return;
        }
        tracing::info!(task = %id, %peer, "SSH proxy: tunnel open");
        tokio::select! {
            moved = tokio::io::copy_bidirectional(&mut socket, &mut upstream) => {
                tracing::info!(task = %id, %peer, bytes = ?moved.ok(), "SSH proxy: tunnel closed");
            }
            () = held::lapsed(held) => {
                tracing::info!(task = %id, %peer, "SSH proxy: tunnel closed: its token was revoked or expired");
            }
        }
    }
}

/// Binds the proxy's port with a deep accept queue, so a burst of clients is not dropped by the
/// kernel before the proxy sees it.
pub async fn bind(ip: &str, port: u16) -> std::io::Result<TcpListener> {
    let addr = tokio::net::lookup_host((ip, port))
        .await?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("no address for {ip}")))?;
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(MAX_CONNECTIONS as u32)
}

/// Reads until the first `\n` (kept, with whatever followed it in the same reads) or `MAX_LINE`.
async fn read_first_line(socket: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 4096];
    while !buf.contains(&b'\n') && buf.len() < MAX_LINE {
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(buf)
}

async fn refuse(mut socket: TcpStream, reason: &str) {
    let _ = socket.write_all(format!("ERROR {reason}\n").as_bytes()).await;
    let _ = socket.shutdown().await;
}

/// Connects to a VPS's sshd, with the original's reasons on failure.
pub async fn connect_to_vps(id: TaskId, route: &VpsRoute) -> Result<TcpStream, String> {
    match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((route.host.as_str(), route.port))).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Err(format!("Connection refused by VPS task {id} on node {}.", route.node))
        }
        Ok(Err(e)) => {
            tracing::warn!(task = %id, error = %e, "cannot reach VPS");
            Err(format!("Failed to connect to Runner for task {id}."))
        }
        Err(_) => Err(format!("Timeout connecting to Runner for task {id}.")),
    }
}
