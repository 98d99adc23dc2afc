//! Server functions: the dashboard's door into the host's services (through [`HostApi`]).

use std::collections::BTreeMap;

use hakuriver_model::api::FieldError;
use hakuriver_model::env::{EnvContainer, EnvVersions, TarballList};
use hakuriver_model::history::NodeSeries;
use hakuriver_model::operation::Operation;
use hakuriver_model::task::{LogChunk, SubmitResponse, TaskPage, TaskQuery};
use hakuriver_model::usage::{UsageQuery, UsageReport};
use hakuriver_model::{ControlCommand, NodeInfo, TaskId, TaskRequest, TaskView};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

#[cfg(feature = "ssr")]
fn api() -> Result<crate::SharedHostApi, ServerFnError> {
    use_context::<crate::SharedHostApi>().ok_or_else(|| ServerFnError::new("host services are not available"))
}

#[server(prefix = "/api/ui", endpoint = "list_nodes")]
pub async fn list_nodes() -> Result<Vec<NodeInfo>, ServerFnError> {
    api()?.list_nodes().await.map_err(ServerFnError::new)
}

#[server(prefix = "/api/ui", endpoint = "list_tasks", input = Json)]
pub async fn list_tasks(query: TaskQuery) -> Result<TaskPage, ServerFnError> {
    api()?.list_tasks(query).await.map_err(ServerFnError::new)
}

#[server(prefix = "/api/ui", endpoint = "get_task", input = Json)]
pub async fn get_task(id: TaskId) -> Result<TaskView, ServerFnError> {
    api()?.get_task(id).await.map_err(ServerFnError::new)
}

/// A piece of a task's log as text, for display: from `offset`, or (none) its last 256 KiB.
#[server(prefix = "/api/ui", endpoint = "read_log", input = Json)]
pub async fn read_log(id: TaskId, stdout: bool, offset: Option<u64>) -> Result<LogChunk, ServerFnError> {
    api()?.read_log(id, stdout, offset).await.map_err(ServerFnError::new)
}

#[server(prefix = "/api/ui", endpoint = "submit_task", input = Json)]
pub async fn submit_task(request: TaskRequest) -> Result<Result<SubmitResponse, FieldError>, ServerFnError> {
    api()?.submit(request).await.map_err(ServerFnError::new)
}

#[server(prefix = "/api/ui", endpoint = "task_action", input = Json)]
pub async fn task_action(id: TaskId, action: ControlCommand) -> Result<String, ServerFnError> {
    api()?.task_action(id, action).await.map_err(ServerFnError::new)
}

#[server(prefix = "/api/ui", endpoint = "env_names")]
pub async fn env_names() -> Result<Vec<String>, ServerFnError> {
    api()?.env_names().await.map_err(ServerFnError::new)
}

#[server(prefix = "/api/ui", endpoint = "ssh_proxy_port")]
pub async fn ssh_proxy_port() -> Result<u16, ServerFnError> {
    Ok(api()?.ssh_proxy_port())
}

#[server(prefix = "/api/ui", endpoint = "node_history")]
pub async fn node_history() -> Result<Vec<NodeSeries>, ServerFnError> {
    api()?.history().await.map_err(ServerFnError::new)
}

#[server(prefix = "/api/ui", endpoint = "task_counts")]
pub async fn task_counts() -> Result<BTreeMap<String, u64>, ServerFnError> {
    api()?.task_counts().await.map_err(ServerFnError::new)
}

#[server(prefix = "/api/ui", endpoint = "usage_summary", input = Json)]
pub async fn usage_summary(query: UsageQuery) -> Result<UsageReport, ServerFnError> {
    api()?.usage(query).await.map_err(ServerFnError::new)
}

#[server(prefix = "/api/ui", endpoint = "env_containers")]
pub async fn env_containers() -> Result<Vec<EnvContainer>, ServerFnError> {
    api()?.env_containers().await.map_err(ServerFnError::new)
}

#[server(prefix = "/api/ui", endpoint = "env_action", input = Json)]
pub async fn env_action(name: String, action: hakuriver_model::EnvAction) -> Result<String, ServerFnError> {
    api()?.env_action(name, action).await.map_err(ServerFnError::new)
}

#[server(prefix = "/api/ui", endpoint = "create_env", input = Json)]
pub async fn create_env(image: String, name: String) -> Result<String, ServerFnError> {
    api()?.create_env(image, name).await.map_err(ServerFnError::new)
}

#[server(prefix = "/api/ui", endpoint = "save_vps", input = Json)]
pub async fn save_vps(id: TaskId, name: String) -> Result<u64, ServerFnError> {
    api()?.save_vps(id, name).await.map_err(ServerFnError::new)
}

#[server(prefix = "/api/ui", endpoint = "create_tar", input = Json)]
pub async fn create_tar(name: String) -> Result<u64, ServerFnError> {
    api()?.create_tar(name).await.map_err(ServerFnError::new)
}

#[server(prefix = "/api/ui", endpoint = "get_operation", input = Json)]
pub async fn get_operation(id: u64) -> Result<Operation, ServerFnError> {
    api()?.operation(id).await.map_err(ServerFnError::new)
}

#[server(prefix = "/api/ui", endpoint = "tarballs")]
pub async fn tarballs() -> Result<TarballList, ServerFnError> {
    api()?.tarballs().await.map_err(ServerFnError::new)
}

#[server(prefix = "/api/ui", endpoint = "list_env_versions")]
pub async fn list_env_versions() -> Result<BTreeMap<String, EnvVersions>, ServerFnError> {
    api()?.env_versions().await.map_err(ServerFnError::new)
}
