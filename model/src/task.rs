//! Tasks: the wire types of submitting, querying and running them. Their lifecycle is
//! `lifecycle` and their dependencies `dependency`, both re-exported here.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::ids::TaskId;
use crate::protocol::{LogBytesDropped, TaskType};

pub use crate::dependency::{dependency_state, Dependency, DependencyState, MAX_DEPENDENCIES};
pub use crate::lifecycle::{revives, transition, TaskStatus, Transition};

/// Most characters of a task's name.
pub const MAX_NAME_CHARS: usize = 200;

/// A task name: printable, no control characters, at most `MAX_NAME_CHARS`.
pub fn check_task_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("name must not be empty when given".into());
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("name is longer than {MAX_NAME_CHARS} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("name must not contain control characters".into());
    }
    Ok(())
}

fn default_task_type() -> String {
    TaskType::Command.as_str().into()
}

fn default_cores() -> u32 {
    1
}

/// `POST /submit` body (the original's `TaskRequest`, plus `queue`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskRequest {
    #[serde(default = "default_task_type")]
    pub task_type: String,
    #[serde(default)]
    pub command: String,
    #[serde(default)]
    pub arguments: Vec<String>,
    #[serde(default)]
    pub env_vars: BTreeMap<String, String>,
    #[serde(default = "default_cores")]
    pub required_cores: u32,
    /// One list of GPU ids per target (the original's shape).
    #[serde(default)]
    pub required_gpus: Option<Vec<Vec<u32>>>,
    #[serde(default)]
    pub required_memory_bytes: Option<u64>,
    /// `node`, `node:numa` or `node::gpu,gpu`; none: the host places the task.
    #[serde(default)]
    pub targets: Option<Vec<String>>,
    /// Environment name; `"NULL"` runs without a container; none: the configured default.
    #[serde(default)]
    pub container_name: Option<String>,
    #[serde(default)]
    pub privileged: Option<bool>,
    /// Replaces the configured `additional_mounts` when given.
    #[serde(default)]
    pub additional_mounts: Option<Vec<String>>,
    /// Ours: `false` fails a target whose resources are busy instead of queueing the task.
    #[serde(default)]
    pub queue: Option<bool>,
    /// Ours: a sweep. Each list is the `arguments` of one task (times each target), all in one
    /// batch; `arguments` must then be empty. Command tasks only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argument_sets: Option<Vec<Vec<String>>>,
    /// Ours: run in this registry image (`registry.lab:5000/team/app:1`) instead of an
    /// environment; each runner pulls it once (with `[registries]` logins). Who may is policy
    /// (`policy.image_role`, `policy.user_images`). Not with `container_name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Ours: a name to find the task by (`hakuriver task list --name`); not unique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Ours: stop the task this long after it starts and end it `timeout` (none: the role's
    /// default from `[limits]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit_seconds: Option<u64>,
    /// Ours: start only once these tasks have ended as `dependency` says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<TaskId>>,
    /// Ours: `afterok` (default), `afterany` or `afternotok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependency: Option<Dependency>,
    /// Ours: how often a command task is queued again when its node is lost or it could not
    /// start (never when it ran and failed by itself); at most `MAX_RETRIES`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Ours: -100 (yield) to 100 (urgent), default 0. Raising it above 0 is for
    /// `[limits] raise_priority_role` and up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
}

/// The range of `priority`.
pub const PRIORITY_RANGE: std::ops::RangeInclusive<i32> = -100..=100;

/// A target of a submit that could not take a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FailedTarget {
    pub target: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssignedNode {
    pub hostname: String,
    pub url: String,
}

/// `POST /submit` answer (202).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubmitResponse {
    pub message: String,
    pub task_ids: Vec<TaskId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_targets: Vec<FailedTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_node: Option<AssignedNode>,
    /// VPS submits: `{"ssh_port": N}` once the VPS runs (the original's field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_response: Option<serde_json::Value>,
}

/// One task as `GET /status/{id}` and `GET /tasks` show it (the original's 20 keys, plus ours).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskView {
    pub task_id: TaskId,
    pub batch_id: Option<TaskId>,
    pub task_type: TaskType,
    pub command: String,
    pub arguments: Vec<String>,
    pub env_vars: BTreeMap<String, String>,
    pub required_cores: u32,
    pub required_gpus: Vec<u32>,
    pub required_memory_bytes: Option<u64>,
    pub status: TaskStatus,
    pub assigned_node: Option<String>,
    pub target_numa_node_id: Option<u32>,
    pub stdout_path: String,
    pub stderr_path: String,
    pub exit_code: Option<i64>,
    pub error_message: Option<String>,
    #[serde(with = "crate::time::opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = "date-time-naive"))]
    pub submitted_at: Option<NaiveDateTime>,
    #[serde(with = "crate::time::opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = "date-time-naive"))]
    pub started_at: Option<NaiveDateTime>,
    #[serde(with = "crate::time::opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = "date-time-naive"))]
    pub completed_at: Option<NaiveDateTime>,
    pub systemd_unit_name: String,
    pub assignment_suspicion_count: u32,
    pub container_name: Option<String>,
    pub privileged: bool,
    pub additional_mounts: Vec<String>,
    pub ssh_port: Option<u16>,
    /// The name of the token that submitted it (none: submitted with authentication off).
    #[serde(default)]
    pub owner: Option<String>,
    /// Output dropped past `[paths] max_log_bytes` (none: nothing was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_bytes_dropped: Option<LogBytesDropped>,
    /// The registry image it runs in, when it names one instead of an environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// What its runner is doing before it starts (pulling its image), while it is `assigning`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The limit it runs under, in seconds (none: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<TaskId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependency: Option<Dependency>,
    /// Why it still waits, while it is `pending` (the queue's last pass).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_reason: Option<String>,
    /// How often it may be queued again (`retries` on submit).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u32,
    /// Which attempt this is: 1, then one more each time it was queued again.
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    #[serde(default, skip_serializing_if = "is_zero_priority")]
    pub priority: i32,
    /// What it used, once it ran and ended (`usage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<crate::usage::TaskUsage>,
}

fn is_zero_priority(n: &i32) -> bool {
    *n == 0
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn first_attempt() -> u32 {
    1
}

/// Most `retries` one task may ask for.
pub const MAX_RETRIES: u32 = 10;

/// A query of the task list (`GET /api/tasks/page` and the dashboard); every field optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct TaskQuery {
    /// `command` (default) or `vps`.
    #[serde(default)]
    pub task_type: Option<String>,
    /// Comma-separated statuses.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default)]
    pub batch: Option<String>,
    /// Text searched in command and arguments.
    #[serde(default)]
    pub q: Option<String>,
    /// Tasks with exactly this name.
    #[serde(default)]
    pub name: Option<String>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
}

/// One page of tasks, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskPage {
    pub tasks: Vec<TaskView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<TaskId>,
}

/// A piece of a task's log: `text` from the requested offset, the file's `size`, and where the
/// next read starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogChunk {
    pub text: String,
    pub size: u64,
    pub next_offset: u64,
}

/// Where a task's output lives under the shared folder: `task_outputs/<id>.out` and
/// `task_errors/<id>.err` (the original's layout). Host and runners compute it alike.
pub fn log_paths(shared_dir: &std::path::Path, id: TaskId) -> (std::path::PathBuf, std::path::PathBuf) {
    (
        shared_dir.join("task_outputs").join(format!("{id}.out")),
        shared_dir.join("task_errors").join(format!("{id}.err")),
    )
}

/// The container name of a command task.
pub fn task_container_name(id: TaskId) -> String {
    format!("hakuriver-task-{id}")
}

/// The container name of a VPS task.
pub fn vps_container_name(id: TaskId) -> String {
    format!("hakuriver-vps-{id}")
}

/// The image of an environment: `hakuriver/<env>:base`.
pub fn env_image(env: &str) -> String {
    format!("hakuriver/{}:base", env.to_ascii_lowercase())
}

/// Environment names: `[a-z0-9][a-z0-9._-]+`, 2 to 128 characters (safe as an image name, a
/// file name and a Docker container name, which needs two characters at least).
pub fn is_valid_env_name(name: &str) -> bool {
    (2..=128).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        && !name.contains("..")
}

/// A registry image reference as a task may name one: printable ASCII without spaces, not
/// starting with `-` or `/`, at most 512 bytes (`registry.lab:5000/team/app:1`, `debian:12`,
/// `app@sha256:...`). Docker checks the rest when it pulls.
pub fn is_image_reference(reference: &str) -> bool {
    !reference.is_empty()
        && reference.len() <= 512
        && !reference.starts_with(['-', '/'])
        && reference.bytes().all(|b| b.is_ascii_graphic())
        && reference.bytes().any(|b| b.is_ascii_alphanumeric())
}

/// Environment variable names: letters, digits and `_`, not starting with a digit.
pub fn is_env_var_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// `host_path:container_path[:ro|rw]`, both absolute, neither with `..`.
pub fn check_mount(mount: &str) -> Result<(), String> {
    let parts: Vec<&str> = mount.split(':').collect();
    let bad = |why: &str| Err(format!("invalid mount {mount:?}: {why}"));
    if !(2..=3).contains(&parts.len()) {
        return bad("expected host_path:container_path[:ro|rw]");
    }
    for path in &parts[..2] {
        let p = std::path::Path::new(path);
        if !p.is_absolute() {
            return bad("paths must be absolute");
        }
        if p.components().any(|c| matches!(c, std::path::Component::ParentDir))
            || path.contains('\0')
            || path.contains(',')
        {
            return bad("paths must not contain '..', ',' or NUL");
        }
    }
    if parts.len() == 3 && !matches!(parts[2], "ro" | "rw") {
        return bad("the option must be ro or rw");
    }
    Ok(())
}

/// `NULL` as the container name: run without Docker.
pub const NO_CONTAINER: &str = "NULL";
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_original_submit_body_parses_with_defaults() {
        let r: TaskRequest = serde_json::from_str(r#"{"command":"echo","arguments":["hi"],"targets":["n1"]}"#).unwrap();
        assert_eq!((r.task_type.as_str(), r.required_cores, r.queue), ("command", 1, None));
        assert_eq!(r.targets, Some(vec!["n1".to_string()]));
    }

    #[test]
    fn mounts_and_variable_names() {
        assert!(check_mount("/data:/data").is_ok());
        assert!(check_mount("/data:/data:ro").is_ok());
        for bad in ["/data", "rel:/x", "/a/../b:/x", "/a:/b:exec", "/a,b:/c"] {
            assert!(check_mount(bad).is_err(), "{bad}");
        }
        assert!(is_env_var_name("CUDA_VISIBLE_DEVICES") && is_env_var_name("_x1"));
        assert!(!is_env_var_name("1A") && !is_env_var_name("A=B") && !is_env_var_name(""));
    }

    #[test]
    fn task_names() {
        assert!(check_task_name("train resnet #3").is_ok());
        assert!(check_task_name(" ").is_err() && check_task_name("a\nb").is_err());
        assert!(check_task_name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
    }

    #[test]
    fn env_names() {
        assert!(is_valid_env_name("hakuriver-base"));
        assert!(is_valid_env_name("py3.12_cuda"));
        for bad in ["", "0", "Base", "a/b", "..", "a..b", "-x", "a b"] {
            assert!(!is_valid_env_name(bad), "{bad}");
        }
        assert_eq!(env_image("torch"), "hakuriver/torch:base");
    }
}
