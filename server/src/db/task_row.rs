//! One row of the `tasks` table, decoded and checked (`TaskRow`), and the column list every
//! query of it reads and writes in the same order.

use std::collections::BTreeMap;

use hakuriver_model::protocol::LogBytesDropped;
use hakuriver_model::task::Dependency;
use hakuriver_model::usage::MeasuredUsage;
use hakuriver_model::{TaskId, TaskStatus, TaskType};

use super::DbError;

/// One row of `tasks`, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRow {
    pub task_id: TaskId,
    pub batch_id: Option<TaskId>,
    pub task_type: TaskType,
    pub command: String,
    pub arguments: Vec<String>,
    pub env_vars: BTreeMap<String, String>,
    pub required_cores: u32,
    pub required_memory_bytes: Option<u64>,
    pub required_gpus: Vec<u32>,
    /// The node the submitter named (none: the host places the task).
    pub target_node: Option<String>,
    pub target_numa_node_id: Option<u32>,
    pub assigned_node: Option<String>,
    pub container_name: String,
    pub privileged: bool,
    pub additional_mounts: Vec<String>,
    pub status: TaskStatus,
    pub exit_code: Option<i64>,
    pub error_message: Option<String>,
    pub submitted_at_ms: i64,
    pub started_at_ms: Option<i64>,
    pub completed_at_ms: Option<i64>,
    pub assigned_at_ms: Option<i64>,
    pub assignment_suspicion_count: u32,
    pub ssh_port: Option<u16>,
    /// The name of the token that submitted it.
    pub owner: Option<String>,
    /// The Unix user a task without a container runs as (none: the runner's own), fixed by the
    /// resource policy for the submitter's role.
    pub run_as: Option<String>,
    /// Output dropped past `[paths] max_log_bytes`, as the runner reported it.
    pub log_bytes_dropped: Option<LogBytesDropped>,
    /// The registry image it runs in, instead of an environment.
    pub image: Option<String>,
    pub name: Option<String>,
    /// Stopped this long after it starts (none: no limit).
    pub time_limit_seconds: Option<u64>,
    /// The tasks it waits for, and how.
    pub depends_on: Vec<TaskId>,
    pub dependency: Option<Dependency>,
    /// How often it may be queued again, and which attempt this is (from 1).
    pub retries: u32,
    pub attempt: u32,
    /// -100..=100; the queue's order starts from it (`services::tasks::priority`).
    pub priority: i32,
    /// What its runner measured, once it ended (`model::usage`).
    pub measured: MeasuredUsage,
}

#[derive(sqlx::FromRow)]
pub(super) struct RawTask {
    task_id: i64,
    batch_id: Option<i64>,
    task_type: String,
    command: String,
    arguments: String,
    env_vars: String,
    required_cores: i64,
    required_memory_bytes: Option<i64>,
    required_gpus: String,
    target_node: Option<String>,
    target_numa_node_id: Option<i64>,
    assigned_node: Option<String>,
    container_name: String,
    privileged: i64,
    additional_mounts: String,
    status: String,
    exit_code: Option<i64>,
    error_message: Option<String>,
    submitted_at_ms: i64,
    started_at_ms: Option<i64>,
    completed_at_ms: Option<i64>,
    assigned_at_ms: Option<i64>,
    assignment_suspicion_count: i64,
    ssh_port: Option<i64>,
    owner: Option<String>,
    run_as: Option<String>,
    stdout_dropped: Option<i64>,
    stderr_dropped: Option<i64>,
    image: Option<String>,
    name: Option<String>,
    time_limit_seconds: Option<i64>,
    depends_on: String,
    dependency: Option<String>,
    retries: i64,
    attempt: i64,
    priority: i64,
    cpu_microseconds: Option<i64>,
    max_memory_bytes: Option<i64>,
}

fn id(v: i64) -> TaskId {
    TaskId(u64::try_from(v).unwrap_or_default())
}

pub(crate) fn sql_id(id: TaskId) -> i64 {
    i64::try_from(id.0).unwrap_or(i64::MAX)
}

impl TryFrom<RawTask> for TaskRow {
    type Error = DbError;

    fn try_from(r: RawTask) -> Result<Self, DbError> {
        let corrupt =
            |what: &str, e: String| DbError::Corrupt { table: "tasks", message: format!("{}: {what}: {e}", r.task_id) };
        Ok(TaskRow {
            task_id: id(r.task_id),
            batch_id: r.batch_id.map(id),
            arguments: serde_json::from_str(&r.arguments).map_err(|e| corrupt("arguments", e.to_string()))?,
            env_vars: serde_json::from_str(&r.env_vars).map_err(|e| corrupt("env_vars", e.to_string()))?,
            required_gpus: serde_json::from_str(&r.required_gpus)
                .map_err(|e| corrupt("required_gpus", e.to_string()))?,
            additional_mounts: serde_json::from_str(&r.additional_mounts)
                .map_err(|e| corrupt("additional_mounts", e.to_string()))?,
            status: r.status.parse().map_err(|e| corrupt("status", e))?,
            required_cores: u32::try_from(r.required_cores).map_err(|e| corrupt("required_cores", e.to_string()))?,
            required_memory_bytes: r.required_memory_bytes.and_then(|v| u64::try_from(v).ok()),
            target_numa_node_id: r.target_numa_node_id.and_then(|v| u32::try_from(v).ok()),
            assignment_suspicion_count: u32::try_from(r.assignment_suspicion_count).unwrap_or(0),
            ssh_port: r.ssh_port.and_then(|v| u16::try_from(v).ok()),
            task_type: r
                .task_type
                .parse()
                .map_err(|e: hakuriver_model::protocol::UnknownWord| corrupt("task_type", e.to_string()))?,
            command: r.command,
            target_node: r.target_node,
            assigned_node: r.assigned_node,
            container_name: r.container_name,
            privileged: r.privileged != 0,
            exit_code: r.exit_code,
            error_message: r.error_message,
            submitted_at_ms: r.submitted_at_ms,
            started_at_ms: r.started_at_ms,
            completed_at_ms: r.completed_at_ms,
            assigned_at_ms: r.assigned_at_ms,
            owner: r.owner,
            run_as: r.run_as,
            log_bytes_dropped: match (r.stdout_dropped, r.stderr_dropped) {
                (None, None) => None,
                (out, err) => Some(LogBytesDropped {
                    stdout: out.and_then(|v| u64::try_from(v).ok()).unwrap_or(0),
                    stderr: err.and_then(|v| u64::try_from(v).ok()).unwrap_or(0),
                }),
            },
            image: r.image,
            name: r.name,
            time_limit_seconds: r.time_limit_seconds.and_then(|v| u64::try_from(v).ok()),
            depends_on: serde_json::from_str(&r.depends_on).map_err(|e| corrupt("depends_on", e.to_string()))?,
            dependency: r
                .dependency
                .map(|d| d.parse())
                .transpose()
                .map_err(|e: hakuriver_model::protocol::UnknownWord| corrupt("dependency", e.to_string()))?,
            retries: u32::try_from(r.retries).unwrap_or(0),
            attempt: u32::try_from(r.attempt).unwrap_or(1),
            priority: i32::try_from(r.priority).unwrap_or(0),
            measured: MeasuredUsage {
                cpu_seconds: r.cpu_microseconds.map(seconds_of_micros),
                max_memory_bytes: r.max_memory_bytes.and_then(|b| u64::try_from(b).ok()),
            },
        })
    }
}

/// Seconds as the whole microseconds stored (none for a reading that is not a finite,
/// non-negative number).
pub(super) fn micros_of_seconds(seconds: f64) -> Option<i64> {
    (seconds.is_finite() && seconds >= 0.0).then(|| (seconds * 1e6).round().min(i64::MAX as f64) as i64)
}

pub(super) fn seconds_of_micros(micros: i64) -> f64 {
    micros as f64 / 1e6
}

pub(super) fn json<T: serde::Serialize>(value: &T) -> String {
    // Plain lists and maps of strings and numbers always serialize.
    serde_json::to_string(value).unwrap_or_default()
}

pub(super) const COLUMNS: &str = "task_id, batch_id, task_type, command, arguments, env_vars, required_cores,
    required_memory_bytes, required_gpus, target_node, target_numa_node_id, assigned_node,
    container_name, privileged, additional_mounts, status, exit_code, error_message,
    submitted_at_ms, started_at_ms, completed_at_ms, assignment_suspicion_count, ssh_port, assigned_at_ms, owner, run_as,
    stdout_dropped, stderr_dropped, image, name, time_limit_seconds, depends_on, dependency, retries, attempt, priority,
    cpu_microseconds, max_memory_bytes";

/// How many columns `COLUMNS` names.
pub(super) const COLUMN_COUNT: usize = 38;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_column_count_is_that_of_the_list() {
        assert_eq!(COLUMNS.split(',').count(), COLUMN_COUNT);
    }
}
