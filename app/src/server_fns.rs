//! Server functions: the dashboard's door into the host's services (through [`HostApi`]).

use hakuriver_model::api::FieldError;
use hakuriver_model::task::{LogChunk, SubmitResponse, TaskPage, TaskQuery};
use hakuriver_model::{NodeInfo, TaskId, TaskRequest, TaskView};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

#[cfg(feature = "ssr")]
fn api() -> Result<crate::SharedHostApi, ServerFnError> {
    use_context::<crate::SharedHostApi>().ok_or_else(|| ServerFnError::new("host services are not available"))
}

#[server(prefix = "/api/ui")]
pub async fn list_nodes() -> Result<Vec<NodeInfo>, ServerFnError> {
    api()?.list_nodes().await.map_err(ServerFnError::new)
}

#[server(prefix = "/api/ui", input = Json)]
pub async fn list_tasks(query: TaskQuery) -> Result<TaskPage, ServerFnError> {
    api()?.list_tasks(query).await.map_err(ServerFnError::new)
}

#[server(prefix = "/api/ui", input = Json)]
pub async fn get_task(id: TaskId) -> Result<TaskView, ServerFnError> {
    api()?.get_task(id).await.map_err(ServerFnError::new)
}

#[server(prefix = "/api/ui", input = Json)]
pub async fn read_log(id: TaskId, stdout: bool, offset: Option<u64>) -> Result<LogChunk, ServerFnError> {
    api()?.read_log(id, stdout, offset).await.map_err(ServerFnError::new)
}

#[server(prefix = "/api/ui", input = Json)]
pub async fn submit_task(request: TaskRequest) -> Result<Result<SubmitResponse, FieldError>, ServerFnError> {
    api()?.submit(request).await.map_err(ServerFnError::new)
}

#[server(prefix = "/api/ui", input = Json)]
pub async fn task_action(id: TaskId, action: String) -> Result<String, ServerFnError> {
    api()?.task_action(id, action).await.map_err(ServerFnError::new)
}

#[server(prefix = "/api/ui")]
pub async fn env_names() -> Result<Vec<String>, ServerFnError> {
    api()?.env_names().await.map_err(ServerFnError::new)
}

#[server(prefix = "/api/ui")]
pub async fn ssh_proxy_port() -> Result<u16, ServerFnError> {
    Ok(api()?.ssh_proxy_port())
}
