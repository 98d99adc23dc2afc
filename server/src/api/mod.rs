//! The REST door: JSON handlers under `/api`. The original's bare paths (`/register`, `/nodes`,
//! ...) reach the same handlers through `compat::rewrite`.

mod auth;
mod docker;
mod error;
mod events;
mod log_follow;
mod nodes;
mod openapi;
mod routes;
mod tasks;
mod terminal;
mod vps;

use axum::Router;

pub use error::{ApiError, ApiJson, MAX_BODY_BYTES};
pub use routes::{find as find_route, Kind as RouteKind, Route, ROUTES};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    routes::router().layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
}
