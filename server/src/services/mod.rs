//! The host's behaviour, behind one Rust API that every door (REST handlers, the dashboard's
//! server functions, tests) calls. Doors parse and authorize; services decide.

pub mod events;
pub mod health;
pub mod history;
pub mod node_reports;
pub mod nodes;
pub mod runner_address;
pub mod runner_client;
pub mod submit_request;
pub mod tasks;
pub mod vps;
pub mod vps_snapshots;

// The host clock, for the services' modules (`super::now_ms`).
pub use crate::clock::{local_time, now_ms};
use crate::db::DbError;

/// All host services, cheap to clone (each holds handles, not data).
#[derive(Clone)]
pub struct Services {
    pub nodes: nodes::NodeRegistry,
    pub tasks: tasks::TaskService,
    pub vps: vps::VpsDirectory,
    pub envs: crate::envs::EnvService,
    pub operations: crate::operations::Operations,
    pub events: events::EventBus,
    pub health: health::HealthHistory,
    pub history: history::NodeHistory,
    pub auth: crate::auth::Auth,
    /// Calls to runners (tasks use it; task terminals are relayed through it).
    pub runners: runner_client::RunnerClient,
    /// `network.host_ssh_proxy_port`, for the dashboard's `ssh -J` lines.
    pub ssh_proxy_port: u16,
    /// VPS tasks saved as environments.
    pub snapshots: vps_snapshots::Snapshots,
}

impl Services {
    /// Starts committing env `name` and saving it as a new tarball, as an operation; returns its
    /// id and a receiver that turns true when it has ended.
    pub async fn start_create_tar(
        &self,
        name: &str,
    ) -> Result<(u64, tokio::sync::watch::Receiver<bool>), crate::envs::EnvError> {
        self.envs.check_env(name).await?;
        let (envs, env) = (self.envs.clone(), name.to_string());
        Ok(self.operations.start("create_tar", name, move |progress| async move {
            envs.create_tar(&env, &progress).await.map(|path| tarball_result(&path)).map_err(|e| e.to_string())
        }))
    }

    /// Starts creating an env container as an operation (pulling its image first when the host
    /// does not have it); returns its id, a receiver that turns true when it has ended, and
    /// whether a pull is part of it. A bad name or image reference is refused at once.
    pub async fn start_create_env(
        &self,
        req: &hakuriver_model::env::CreateEnvRequest,
    ) -> Result<(u64, tokio::sync::watch::Receiver<bool>, bool), crate::envs::EnvError> {
        let pulls = self.envs.check_create(req).await?;
        let (envs, request) = (self.envs.clone(), req.clone());
        let (id, done) = self.operations.start("create_env", &req.container_name, move |progress| async move {
            envs.create(&request, &progress)
                .await
                .map(|created| serde_json::json!({"created": created}))
                .map_err(|e| e.to_string())
        });
        Ok((id, done, pulls))
    }

    /// A submit (REST and dashboard): refused at once (400, naming the fix) when its environment
    /// exists nowhere: no tarball, no image on the host, none reported by a node. Otherwise the
    /// task would fail on its runner with Docker's "No such image".
    pub async fn submit(
        &self,
        req: hakuriver_model::TaskRequest,
        owner: Option<&str>,
        role: hakuriver_model::auth::Role,
    ) -> Result<hakuriver_model::task::SubmitResponse, ServiceError> {
        if let Some(env) = self.tasks.environment_of(&req).filter(|env| crate::envs::check_name(env).is_ok()) {
            let reported = self.nodes.list().await?.iter().any(|n| n.environments.contains_key(&env));
            if !reported {
                self.envs.check_available(&env).await.map_err(|message| {
                    ServiceError::BadRequest(hakuriver_model::api::FieldError {
                        field: "container_name".into(),
                        message,
                    })
                })?;
            }
        }
        self.tasks.submit(req, owner, role).await
    }

    /// A runner's status report: with name binding on, only the runner that owns the task's node
    /// may report on it.
    pub async fn runner_update(
        &self,
        update: hakuriver_model::protocol::TaskStatusUpdate,
        identity: nodes::RunnerIdentity<'_>,
    ) -> Result<hakuriver_model::api::Message, ServiceError> {
        if let Some(node) = self.tasks.assigned_node(update.task_id).await? {
            self.nodes.check_identity(&node, identity, false).await?;
        }
        self.tasks.apply_update(update).await
    }
}

/// An operation's result when it made a tarball.
pub fn tarball_result(path: &std::path::Path) -> serde_json::Value {
    serde_json::json!({"tarball_path": path.display().to_string()})
}

/// What a service call can fail with; doors map these to their own error shapes.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    NotFound(String),
    /// A heartbeat from a runner the host does not know: it must register again.
    #[error("Node not registered")]
    NotRegistered,
    #[error("{0}")]
    Invalid(String),
    /// A request that breaks a rule of the original's contract (its 400s: a bad submit).
    #[error("{0}")]
    BadRequest(hakuriver_model::api::FieldError),
    /// The request clashes with what is there (a node name bound to another runner).
    #[error("{0}")]
    Conflict(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The request asks for more than the caller's role may ([policy]).
    #[error("{0}")]
    Denied(hakuriver_model::policy::Denied),
    #[error(transparent)]
    Db(#[from] DbError),
    /// A file the host keeps could not be read or written.
    #[error("{0}")]
    Io(String),
    /// Something went wrong on the host's side that the request could not cause (a failure
    /// shared by several submits written together, as its message).
    #[error("{0}")]
    Internal(String),
}
