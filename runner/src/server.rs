//! The runner's own HTTP API, which the host calls. For now it answers `GET /health`; task
//! control (`/run`, `/kill`, `/pause`, `/resume`) arrives with command tasks.

use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

#[derive(Clone, Serialize)]
struct RunnerHealth {
    hostname: String,
    version: &'static str,
}

pub fn router(hostname: String) -> Router {
    let health = RunnerHealth { hostname, version: env!("CARGO_PKG_VERSION") };
    Router::new().route("/health", get(move || async move { Json(health.clone()) }))
}
