//! The seam between the dashboard and the host: the host implements this trait over its
//! services and puts it into the Leptos context; server functions call it. Errors are the
//! messages the page shows.

use std::collections::BTreeMap;
use std::sync::Arc;

use hakuriver_model::api::FieldError;
use hakuriver_model::env::{EnvContainer, EnvVersions, TarballList};
use hakuriver_model::history::NodeSeries;
use hakuriver_model::operation::Operation;
use hakuriver_model::task::{LogChunk, SubmitResponse, TaskPage, TaskQuery};
use hakuriver_model::usage::{UsageQuery, UsageReport};
use hakuriver_model::{ControlCommand, EnvAction, NodeInfo, TaskId, TaskRequest, TaskView};

/// Why the host did not answer a dashboard call. What the browser sees is the message: a refusal
/// says why; an internal failure only says where to look (the host log has the cause, under
/// the request id).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("log in first")]
    LoggedOut,
    /// The caller's role does not allow this.
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    NotFound(String),
    /// Not in a state for this, or asked wrongly: the reason, for the user.
    #[error("{0}")]
    Refused(String),
    /// An action that failed for a reason the user can act on (Docker's answer, a runner's).
    #[error("{0}")]
    Failed(String),
    #[error("internal error (request {0}); see the host log")]
    Internal(String),
}

#[async_trait::async_trait]
pub trait HostApi: Send + Sync + 'static {
    async fn list_nodes(&self) -> Result<Vec<NodeInfo>, HostError>;
    async fn list_tasks(&self, query: TaskQuery) -> Result<TaskPage, HostError>;
    async fn get_task(&self, id: TaskId) -> Result<TaskView, HostError>;
    /// A piece of a task's log decoded for display: from `offset`, or (none) its end.
    async fn read_log(&self, id: TaskId, stdout: bool, offset: Option<u64>) -> Result<LogChunk, HostError>;
    /// The outer error is a failure of the host; the inner one names the field at fault.
    async fn submit(&self, request: TaskRequest) -> Result<Result<SubmitResponse, FieldError>, HostError>;
    /// `kill`, `pause` or `resume`; answers the host's message.
    async fn task_action(&self, id: TaskId, action: ControlCommand) -> Result<String, HostError>;
    /// Environments a task can name: those with a tarball, newest first.
    async fn env_names(&self) -> Result<Vec<String>, HostError>;
    /// The port of the host's SSH proxy (for the `ssh -J` line of a VPS).
    fn ssh_proxy_port(&self) -> u16;
    /// Every node's readings of the last hour.
    async fn history(&self) -> Result<Vec<NodeSeries>, HostError>;
    /// Command tasks per status.
    async fn task_counts(&self) -> Result<BTreeMap<String, u64>, HostError>;
    /// Usage per user or node over a window (`GET /api/usage`).
    async fn usage(&self, query: UsageQuery) -> Result<UsageReport, HostError>;
    async fn env_containers(&self) -> Result<Vec<EnvContainer>, HostError>;
    /// `start`, `stop` or `delete` (a running one is stopped first) an env container.
    async fn env_action(&self, name: String, action: EnvAction) -> Result<String, HostError>;
    async fn create_env(&self, image: String, name: String) -> Result<String, HostError>;
    /// Starts create-tar; answers the operation's id.
    async fn create_tar(&self, name: String) -> Result<u64, HostError>;
    /// Starts saving VPS `id` as a new version of environment `name`; answers the operation's id.
    async fn save_vps(&self, id: TaskId, name: String) -> Result<u64, HostError>;
    async fn operation(&self, id: u64) -> Result<Operation, HostError>;
    async fn tarballs(&self) -> Result<TarballList, HostError>;
    async fn env_versions(&self) -> Result<BTreeMap<String, EnvVersions>, HostError>;
}

pub type SharedHostApi = Arc<dyn HostApi>;
