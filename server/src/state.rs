//! What every handler can reach: the services, the dashboard's options, the shutdown signal.

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use tokio::sync::watch;

use hakuriver_terminal::{Stop, CLOSE_GOING_AWAY, CLOSE_POLICY};

use crate::auth::held::{self, Held};
use crate::services::Services;

/// The host's shutdown signal, as every long-lived connection holds it.
pub type Shutdown = watch::Receiver<bool>;

#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub leptos: LeptosOptions,
    /// Flips to `true` when the host shuts down; long-lived connections (websockets) end on it.
    pub shutdown: Shutdown,
    /// `network.base_path`: `""` or `/something`; the dashboard and the API are also served under it.
    pub base_path: String,
    /// Whether the host serves HTTPS itself (login cookies are then `Secure`).
    pub tls: bool,
    /// Open log-follow streams, capped in all and per address.
    pub log_streams: crate::limits::LogStreams,
    /// The names requests may reach the host by (`Host`); others get 421.
    pub public_names: hakuriver_support::request_rules::PublicNames,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

/// Completes once `shutdown` flips to `true` (or its sender is gone).
pub async fn stopped(shutdown: &mut Shutdown) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// What ends a long-lived connection that neither side closed: the host shutting down (1001),
/// or the credential it was opened with lapsing (1008; never without one).
pub async fn ended(mut shutdown: Shutdown, held: Option<Held>) -> Stop {
    tokio::select! {
        () = stopped(&mut shutdown) => Stop { code: CLOSE_GOING_AWAY, reason: "the host is shutting down".into() },
        () = held::lapsed(held) => Stop { code: CLOSE_POLICY, reason: held::LAPSED.into() },
    }
}
