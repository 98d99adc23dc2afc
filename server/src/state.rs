//! What every handler can reach: the services, the dashboard's options, the shutdown signal.

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use tokio::sync::watch;

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
