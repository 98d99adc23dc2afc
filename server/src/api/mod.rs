//! The REST door: JSON handlers under `/api`. The original's bare paths (`/register`, `/nodes`,
//! ...) reach the same handlers through `compat::rewrite`.

mod auth;
mod docker;
mod error;
mod events;
mod log_follow;
mod nodes;
mod openapi;
mod tasks;
mod terminal;
mod vps;

use axum::routing::{delete, get, post, put};
use axum::Router;

pub use error::{ApiError, ApiJson, MAX_BODY_BYTES};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/health", get(nodes::health))
        .route("/api/nodes", get(nodes::list))
        .route("/api/nodes/{hostname}", get(nodes::show))
        .route("/api/nodes/{hostname}/release", post(auth::release_node))
        .route("/api/auth/tokens", get(auth::tokens).post(auth::create_token))
        .route("/api/auth/tokens/{id}", delete(auth::revoke_token))
        .route("/api/auth/whoami", get(auth::whoami))
        .route("/api/register", post(nodes::register))
        .route("/api/heartbeat/{hostname}", put(nodes::heartbeat))
        .route("/api/events", get(events::websocket))
        .route("/api/submit", post(tasks::submit))
        .route("/api/status/{id}", get(tasks::status))
        .route("/api/tasks", get(tasks::list))
        .route("/api/tasks/page", get(tasks::page))
        .route("/api/kill/{id}", post(tasks::kill))
        .route("/api/command/{id}/{command}", post(tasks::command))
        .route("/api/task/{id}/stdout", get(tasks::stdout))
        .route("/api/task/{id}/stderr", get(tasks::stderr))
        .route("/api/task/{id}/stdout/follow", get(log_follow::stdout))
        .route("/api/task/{id}/stderr/follow", get(log_follow::stderr))
        .route("/api/update", post(tasks::update))
        .route("/api/docker/host/containers", get(docker::containers))
        .route("/api/docker/host/create", post(docker::create))
        .route("/api/docker/host/delete/{name}", post(docker::delete))
        .route("/api/docker/host/stop/{name}", post(docker::stop))
        .route("/api/docker/host/start/{name}", post(docker::start))
        .route("/api/docker/host/containers/{name}/terminal", get(terminal::websocket))
        .route("/api/tasks/{id}/terminal", get(terminal::task_websocket))
        .route("/api/tasks/{id}/forward/{port}", get(terminal::forward_websocket))
        .route("/api/vps/status", get(tasks::vps_status))
        .route("/api/vps", get(tasks::vps_list))
        .route("/api/vps/{id}/ticket", post(auth::tunnel_ticket))
        .route("/api/vps/{id}/save", post(vps::save))
        .route("/api/vps/{id}/snapshots", get(vps::snapshots))
        .route("/api/docker/create_tar/{name}", post(docker::create_tar))
        .route("/api/docker/list", get(docker::list_tars))
        .route("/api/docker/import", post(docker::import))
        .route("/api/docker/versions", get(docker::versions))
        .route("/api/operations", get(docker::operations))
        .route("/api/operations/{id}", get(docker::operation).delete(docker::cancel_operation))
        .route("/api/openapi.json", get(openapi::document))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
}
