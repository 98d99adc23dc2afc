//! The SSH jump host: a stock `ssh -J <any-user>@<host>:<port> root@vps-<id>` authenticates here
//! with the key the VPS was created with, then asks for a `direct-tcpip` channel to `vps-<id>:22`,
//! which is relayed to the VPS's sshd on its runner. Nothing else is offered: no shell, no other
//! destination, no password.

use std::net::SocketAddr;
use std::sync::Arc;

use russh::server::{Auth, ChannelOpenHandle, Msg, PublicKeyOffer, Session, VerifiedPublicKey};
use russh::{Channel, ChannelOpenFailure, MethodKind, MethodSet};

use super::{connect_to_vps, request::jump_target};
use crate::services::vps::VpsDirectory;

/// The server configuration: public keys only, our host key.
pub fn config(key: russh::keys::PrivateKey) -> Arc<russh::server::Config> {
    Arc::new(russh::server::Config {
        server_id: russh::SshId::Standard(format!("SSH-2.0-HakuRiver_{}", env!("CARGO_PKG_VERSION")).into()),
        methods: MethodSet::from(&[MethodKind::PublicKey][..]),
        keys: vec![key],
        auth_rejection_time: std::time::Duration::from_millis(300),
        auth_rejection_time_initial: Some(std::time::Duration::from_millis(0)),
        max_auth_attempts: 10,
        // A session that stops talking is closed (the relays inside keep their own pace).
        inactivity_timeout: Some(std::time::Duration::from_secs(3600)),
        keepalive_interval: Some(std::time::Duration::from_secs(30)),
        ..russh::server::Config::default()
    })
}

pub struct JumpClient {
    pub vps: VpsDirectory,
    pub peer: SocketAddr,
    /// The key this client proved it holds (SSH wire format).
    pub key: Option<Vec<u8>>,
}

impl russh::server::Handler for JumpClient {
    type Error = russh::Error;

    async fn auth_publickey_offered(&mut self, _user: &str, offer: PublicKeyOffer<'_>) -> Result<Auth, Self::Error> {
        let known = match offer.public_key.to_bytes() {
            Ok(blob) => self.vps.is_vps_key(&blob).await,
            Err(_) => false,
        };
        Ok(if known { Auth::Accept } else { Auth::reject() })
    }

    async fn auth_publickey(&mut self, user: &str, key: VerifiedPublicKey<'_>) -> Result<Auth, Self::Error> {
        let Ok(blob) = key.public_key.to_bytes() else { return Ok(Auth::reject()) };
        if !self.vps.is_vps_key(&blob).await {
            return Ok(Auth::reject());
        }
        tracing::info!(peer = %self.peer, user, "jump host: client authenticated with a VPS key");
        self.key = Some(blob);
        Ok(Auth::Accept)
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host_to_connect: &str,
        port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let peer = self.peer;
        let refuse = |reason: String| {
            tracing::info!(%peer, destination = host_to_connect, reason, "jump host: refused");
            ChannelOpenFailure::Other { code: 1, reason }
        };
        let id = match jump_target(host_to_connect, port_to_connect) {
            Ok(id) => id,
            Err(reason) => {
                reply.reject(refuse(reason)).await;
                return Ok(());
            }
        };
        let allowed = match &self.key {
            Some(key) => self.vps.key_opens(id, key).await,
            None => false,
        };
        if !allowed {
            reply.reject(refuse(format!("this key does not open VPS task {id}"))).await;
            return Ok(());
        }
        let vps = self.vps.clone();
        // Connecting may take seconds: do it beside the session, not in its loop.
        tokio::spawn(async move {
            let upstream = match vps.route(id).await {
                Ok(route) => connect_to_vps(id, &route).await,
                Err(reason) => Err(reason),
            };
            match upstream {
                Ok(mut upstream) => {
                    reply.accept().await;
                    tracing::info!(task = %id, %peer, "jump host: relaying to VPS");
                    let mut stream = channel.into_stream();
                    let moved = tokio::io::copy_bidirectional(&mut stream, &mut upstream).await;
                    tracing::info!(task = %id, %peer, bytes = ?moved.ok(), "jump host: relay ended");
                }
                Err(reason) => {
                    tracing::info!(task = %id, %peer, reason, "jump host: refused");
                    reply.reject(ChannelOpenFailure::Other { code: 2, reason }).await;
                }
            }
        });
        Ok(())
    }
}
