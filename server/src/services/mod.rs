//! The host's behaviour, behind one Rust API that every door (REST handlers, the dashboard's
//! server functions, tests) calls. Doors parse and authorize; services decide.

pub mod events;
pub mod health;
pub mod nodes;
pub mod runner_client;
pub mod submit_request;
pub mod tasks;
pub mod vps;

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
    /// `network.host_ssh_proxy_port`, for the dashboard's `ssh -J` lines.
    pub ssh_proxy_port: u16,
}

/// What a service call can fail with; doors map these to their own error shapes.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    /// A request that breaks a rule of the original's contract (its 400s: a bad submit).
    #[error("{0}")]
    BadRequest(hakuriver_model::api::FieldError),
    #[error(transparent)]
    Db(#[from] DbError),
    /// A file the host keeps could not be read or written.
    #[error("{0}")]
    Io(String),
}

/// Wall-clock milliseconds since the Unix epoch (UTC): how the host stamps everything it stores.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A stored UTC millisecond stamp as the wire's naive local time.
pub fn local_time(ms: i64) -> Option<chrono::NaiveDateTime> {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.with_timezone(&chrono::Local).naive_local())
}
