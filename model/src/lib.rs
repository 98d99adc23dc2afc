//! HakuRiver's vocabulary: the domain and wire types shared by the host, the runner, the CLI and
//! the WASM dashboard. Serde only: no I/O, no async runtime, builds for `wasm32-unknown-unknown`.
//!
//! Wire names follow the original HakuRiver 0.3 contract exactly (see `shared/spec`); Rust names
//! may be nicer, with serde renames in between.

pub mod api;
pub mod auth;
pub mod bytes;
pub mod dependency;
pub mod env;
pub mod events;
pub mod health;
pub mod history;
pub mod ids;
pub mod lifecycle;
pub mod limits;
pub mod node;
pub mod operation;
pub mod policy;
pub mod protocol;
pub mod span;
pub mod sshkey;
pub mod target;
pub mod task;
pub mod text;
pub mod time;
pub mod usage;

pub use bytes::{format_bytes, parse_bytes, ByteSizeError};
pub use events::ClusterEvent;
pub use ids::TaskId;
pub use node::{
    CoresInUse, GpuInfo, HeartbeatData, KilledTask, NodeInfo, NodeStatus, NumaNode, NumaTopology, RunnerInfo,
};
pub use protocol::{ControlCommand, EnvAction, ReplyCode, TaskType};
pub use target::{Target, TargetError};
pub use task::{TaskRequest, TaskStatus, TaskView};
