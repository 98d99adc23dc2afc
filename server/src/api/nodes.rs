//! Runner-facing and cluster-information endpoints: register, heartbeat, nodes, health.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use hakuriver_model::api::Message;
use hakuriver_model::health::HealthResponse;
use hakuriver_model::{HeartbeatData, NodeInfo, RunnerInfo};
use serde::Deserialize;

use super::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

pub async fn register(
    State(s): State<AppState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    ApiJson(info): ApiJson<RunnerInfo>,
) -> Result<Json<Message>, ApiError> {
    let name = info.hostname.clone();
    let peer = s.services.auth.client_ip(&extensions, &headers);
    s.services.nodes.register(info, runner_identity(&headers), peer).await?;
    Ok(Json(Message::new(format!("Runner {name} acknowledged."))))
}

pub async fn heartbeat(
    State(s): State<AppState>,
    ApiPath(hostname): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(hb): ApiJson<HeartbeatData>,
) -> Result<Json<Message>, ApiError> {
    s.services.nodes.heartbeat(&hostname, hb, runner_identity(&headers)).await?;
    Ok(Json(Message::new("Heartbeat received")))
}

/// The identity a runner sent with its request.
pub fn runner_identity(headers: &HeaderMap) -> Option<&str> {
    headers.get(hakuriver_model::auth::RUNNER_IDENTITY_HEADER).and_then(|v| v.to_str().ok())
}

pub async fn list(State(s): State<AppState>) -> Result<Json<Vec<NodeInfo>>, ApiError> {
    Ok(Json(s.services.nodes.list().await?))
}

/// `GET /api/nodes/{hostname}` (ours): one node, 404 when the host has never heard of it.
pub async fn show(State(s): State<AppState>, ApiPath(hostname): ApiPath<String>) -> Result<Json<NodeInfo>, ApiError> {
    s.services
        .nodes
        .list()
        .await?
        .into_iter()
        .find(|n| n.hostname == hostname)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("Node {hostname} not found")))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HealthQuery {
    /// Only this node's samples.
    hostname: Option<String>,
}

pub async fn health(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<HealthQuery>,
) -> Result<Json<HealthResponse>, ApiError> {
    if let Some(host) = &q.hostname {
        let known = s.services.nodes.list().await?.iter().any(|n| &n.hostname == host);
        if !known {
            return Err(ApiError::NotFound(format!("Node {host} not found")));
        }
    }
    let mut response = s.services.health.response(q.hostname.as_deref());
    response.warnings = s.services.envs.warnings();
    Ok(Json(response))
}
