//! The original HakuRiver 0.3's database: peewee's `node` and `task` tables in one SQLite file.
//! `hakuriver-host import-hakuriver OLD.db` brings its nodes and its task history into ours, and a
//! host started on the original's own database file does so once by itself (`import_in_place`).
//! Idempotent: a node or task whose name or id is here already is left as it is.

use std::collections::BTreeMap;
use std::path::Path;

use hakuriver_model::node::{GpuInfo, NumaTopology, RunnerInfo};
use hakuriver_model::{TaskId, TaskStatus, TaskType};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::Row;

use super::tasks::TaskRow;
use super::{DbError, Pool};

/// The `imports` entry of an import in place.
const IN_PLACE: &str = "hakuriver-0.3 tables in this database";

/// What an import found in the original's tables, and how much of it was new here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Imported {
    pub nodes_found: u64,
    pub nodes_new: u64,
    pub tasks_found: u64,
    pub tasks_new: u64,
    /// Rows that could not be read (each logged with its reason).
    pub skipped: u64,
}

impl std::fmt::Display for Imported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "nodes: {} found, {} new; tasks: {} found, {} new; {} unreadable rows skipped",
            self.nodes_found, self.nodes_new, self.tasks_found, self.tasks_new, self.skipped
        )
    }
}

/// Opens the original's database file, read-only.
pub async fn open(path: &Path) -> Result<Pool, DbError> {
    sqlx::any::install_default_drivers();
    if !path.is_file() {
        return Err(DbError::NotOriginal(format!("{} is not a file", path.display())));
    }
    let options = format!("sqlite://{}?mode=ro", path.display()).parse()?;
    Ok(AnyPoolOptions::new().max_connections(1).connect_with(options).await?)
}

/// Whether a database holds the original's tables.
pub async fn holds_original(pool: &Pool) -> Result<bool, DbError> {
    if !super::is_sqlite(pool) {
        return Ok(false);
    }
    let tables: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('node', 'task')")
            .fetch_one(pool)
            .await?;
    Ok(tables == 2)
}

/// Brings the original's nodes (offline until their runners register) and tasks from `source`
/// into `target`, in one transaction. Tasks get `default_container` as their environment (the
/// original did not store it).
pub async fn import(source: &Pool, target: &Pool, default_container: &str) -> Result<Imported, DbError> {
    if !holds_original(source).await? {
        return Err(DbError::NotOriginal("it has no `node` and `task` tables: not a HakuRiver 0.3 database".into()));
    }
    // Datetimes are text in the file; sqlx's Any driver reads only columns not declared DATETIME.
    let nodes = sqlx::query(
        "SELECT hostname, url, total_cores, memory_total_bytes, numa_topology, gpu_info,
                CAST(last_heartbeat AS TEXT) AS last_heartbeat FROM node",
    )
    .fetch_all(source)
    .await?;
    let tasks = sqlx::query(
        "SELECT task_id, task_type, command, arguments, env_vars, required_cores, required_gpus, status,
                assigned_node_id, exit_code, error_message, assignment_suspicion_count, required_memory_bytes,
                target_numa_node_id, batch_id, ssh_port, CAST(submitted_at AS TEXT) AS submitted_at,
                CAST(started_at AS TEXT) AS started_at, CAST(completed_at AS TEXT) AS completed_at
         FROM task ORDER BY task_id",
    )
    .fetch_all(source)
    .await?;
    let mut done = Imported { nodes_found: nodes.len() as u64, tasks_found: tasks.len() as u64, ..Imported::default() };
    let mut tx = super::begin_write(target).await?;
    for row in &nodes {
        match node_of(row) {
            Ok((node, heartbeat_ms)) => {
                done.nodes_new += u64::from(super::nodes::insert_imported(&mut tx, &node, heartbeat_ms).await?)
            }
            Err(e) => {
                tracing::warn!(error = %e, "skipped a node of the original database");
                done.skipped += 1;
            }
        }
    }
    for row in &tasks {
        match OriginalTask::read(row).and_then(|t| t.row(default_container)) {
            Ok(task) => done.tasks_new += u64::from(super::tasks::insert_if_absent(&mut tx, &task).await?),
            Err(e) => {
                tracing::warn!(error = %e, "skipped a task of the original database");
                done.skipped += 1;
            }
        }
    }
    tx.commit().await?;
    Ok(done)
}

/// A host started on the original's own database file: its tables are imported once (recorded
/// in `imports`), and the counts logged.
pub async fn import_in_place(pool: &Pool, default_container: &str) -> Result<Option<Imported>, DbError> {
    if !holds_original(pool).await? {
        return Ok(None);
    }
    let seen: Option<String> =
        sqlx::query_scalar("SELECT summary FROM imports WHERE source = $1").bind(IN_PLACE).fetch_optional(pool).await?;
    if seen.is_some() {
        return Ok(None);
    }
    let done = import(pool, pool, default_container).await?;
    sqlx::query("INSERT INTO imports (source, imported_at_ms, summary) VALUES ($1, $2, $3)")
        .bind(IN_PLACE)
        .bind(chrono::Utc::now().timestamp_millis())
        .bind(done.to_string())
        .execute(pool)
        .await?;
    Ok(Some(done))
}

fn text(row: &AnyRow, column: &str) -> Option<String> {
    row.try_get::<Option<String>, _>(column).ok().flatten()
}

fn integer(row: &AnyRow, column: &str) -> Option<i64> {
    row.try_get::<Option<i64>, _>(column).ok().flatten()
}

/// A node row: its registration as the original stored it, and its last heartbeat.
fn node_of(row: &AnyRow) -> Result<(RunnerInfo, i64), String> {
    let hostname = text(row, "hostname").ok_or("a node without a hostname")?;
    let total_cores = integer(row, "total_cores").and_then(|c| u32::try_from(c).ok()).unwrap_or(0);
    let numa_topology: Option<NumaTopology> = text(row, "numa_topology").and_then(|j| serde_json::from_str(&j).ok());
    let gpu_info: Option<Vec<GpuInfo>> = text(row, "gpu_info").and_then(|j| serde_json::from_str(&j).ok());
    let heartbeat = text(row, "last_heartbeat").as_deref().and_then(local_ms).unwrap_or(0);
    let node = RunnerInfo {
        runner_url: text(row, "url").unwrap_or_default(),
        total_ram_bytes: integer(row, "memory_total_bytes").and_then(|b| u64::try_from(b).ok()).unwrap_or(0),
        hostname,
        total_cores,
        numa_topology,
        gpu_info,
        docker_available: true,
    };
    Ok((node, heartbeat))
}

/// A `task` row as the original's model defines it.
#[derive(Debug, Clone, Default, PartialEq)]
struct OriginalTask {
    task_id: i64,
    task_type: Option<String>,
    command: String,
    arguments: Option<String>,
    env_vars: Option<String>,
    required_cores: i64,
    required_gpus: Option<String>,
    status: String,
    assigned_node: Option<String>,
    exit_code: Option<i64>,
    error_message: Option<String>,
    submitted_at: Option<String>,
    started_at: Option<String>,
    completed_at: Option<String>,
    assignment_suspicion_count: i64,
    required_memory_bytes: Option<i64>,
    target_numa_node_id: Option<i64>,
    batch_id: Option<i64>,
    ssh_port: Option<i64>,
}

impl OriginalTask {
    fn read(row: &AnyRow) -> Result<OriginalTask, String> {
        Ok(OriginalTask {
            task_id: integer(row, "task_id").ok_or("a task without an id")?,
            task_type: text(row, "task_type"),
            command: text(row, "command").unwrap_or_default(),
            arguments: text(row, "arguments"),
            env_vars: text(row, "env_vars"),
            required_cores: integer(row, "required_cores").unwrap_or(0),
            required_gpus: text(row, "required_gpus"),
            status: text(row, "status").unwrap_or_default(),
            assigned_node: text(row, "assigned_node_id"),
            exit_code: integer(row, "exit_code"),
            error_message: text(row, "error_message"),
            submitted_at: text(row, "submitted_at"),
            started_at: text(row, "started_at"),
            completed_at: text(row, "completed_at"),
            assignment_suspicion_count: integer(row, "assignment_suspicion_count").unwrap_or(0),
            required_memory_bytes: integer(row, "required_memory_bytes"),
            target_numa_node_id: integer(row, "target_numa_node_id"),
            batch_id: integer(row, "batch_id"),
            ssh_port: integer(row, "ssh_port"),
        })
    }

    /// Ours, for this task.
    fn row(&self, default_container: &str) -> Result<TaskRow, String> {
        let id = u64::try_from(self.task_id).map_err(|_| format!("task id {} is negative", self.task_id))?;
        let status: TaskStatus = self.status.parse().map_err(|e| format!("task {id}: {e}"))?;
        Ok(TaskRow {
            task_id: TaskId(id),
            batch_id: self.batch_id.and_then(|b| u64::try_from(b).ok()).map(TaskId),
            task_type: match self.task_type.as_deref() {
                None => TaskType::Command,
                Some(t) => t.parse().map_err(|e| format!("task {id}: {e}"))?,
            },
            command: self.command.clone(),
            arguments: json_column(self.arguments.as_deref(), "arguments").map_err(|e| format!("task {id}: {e}"))?,
            env_vars: env_vars(self.env_vars.as_deref()).map_err(|e| format!("task {id}: {e}"))?,
            required_cores: u32::try_from(self.required_cores).unwrap_or(0),
            required_memory_bytes: self.required_memory_bytes.and_then(|b| u64::try_from(b).ok()),
            required_gpus: json_column(self.required_gpus.as_deref(), "required_gpus")
                .map_err(|e| format!("task {id}: {e}"))?,
            target_node: None,
            target_numa_node_id: self.target_numa_node_id.and_then(|n| u32::try_from(n).ok()),
            assigned_node: self.assigned_node.clone(),
            container_name: default_container.to_string(),
            privileged: false,
            additional_mounts: Vec::new(),
            status,
            exit_code: self.exit_code,
            error_message: self.error_message.clone(),
            submitted_at_ms: self.submitted_at.as_deref().and_then(local_ms).unwrap_or(0),
            started_at_ms: self.started_at.as_deref().and_then(local_ms),
            completed_at_ms: self.completed_at.as_deref().and_then(local_ms),
            assigned_at_ms: None,
            assignment_suspicion_count: u32::try_from(self.assignment_suspicion_count).unwrap_or(0),
            ssh_port: self.ssh_port.and_then(|p| u16::try_from(p).ok()),
            owner: None,
            run_as: None,
            image: None,
            log_bytes_dropped: None,
            name: None,
            time_limit_seconds: None,
            depends_on: Vec::new(),
            dependency: None,
            retries: 0,
            attempt: 1,
            priority: 0,
            measured: Default::default(),
        })
    }
}

/// A JSON column (`arguments`, `required_gpus`, `env_vars`); empty when NULL, an error naming
/// the column when it does not read as one.
fn json_column<T: serde::de::DeserializeOwned + Default>(json: Option<&str>, column: &str) -> Result<T, String> {
    match json {
        None => Ok(T::default()),
        Some(j) => serde_json::from_str(j).map_err(|e| format!("{column} {j:?}: {e}")),
    }
}

/// The original stored `env_vars` as a JSON object, or `[]` when there were none.
fn env_vars(json: Option<&str>) -> Result<BTreeMap<String, String>, String> {
    match json.map(str::trim) {
        Some("[]") => Ok(BTreeMap::new()),
        json => json_column(json, "env_vars"),
    }
}

/// The original's datetimes: naive local time, `YYYY-MM-DD HH:MM:SS[.ffffff]` → unix ms.
fn local_ms(text: &str) -> Option<i64> {
    let naive = chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S%.f").ok()?;
    naive.and_local_timezone(chrono::Local).earliest().map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_originals_values_become_ours() {
        assert_eq!(env_vars(Some("[]")), Ok(BTreeMap::new()), "no variables: an empty list");
        assert_eq!(env_vars(Some(r#"{"A": "1"}"#)), Ok(BTreeMap::from([("A".to_string(), "1".to_string())])));
        assert!(env_vars(Some("{broken")).unwrap_err().contains("env_vars"));
        let ms = local_ms("2025-05-01 12:30:00.250000").unwrap();
        assert_eq!(crate::services::local_time(ms).unwrap().to_string(), "2025-05-01 12:30:00.250");
        assert_eq!(local_ms("2025-05-01 12:30:00"), Some(ms - 250));
        assert_eq!(local_ms("yesterday"), None);

        let task = OriginalTask {
            task_id: 7_000_000_000_000_000_001,
            command: "python".into(),
            arguments: Some(r#"["train.py", "--lr", "0.1"]"#.into()),
            env_vars: Some("[]".into()),
            required_cores: 4,
            required_gpus: Some("[0, 1]".into()),
            status: "completed".into(),
            assigned_node: Some("gpu-01".into()),
            exit_code: Some(0),
            submitted_at: Some("2025-05-01 12:30:00.250000".into()),
            ..OriginalTask::default()
        };
        let row = task.row("hakuriver-base").unwrap();
        assert_eq!(
            (row.task_id, row.status, row.task_type),
            (TaskId(7_000_000_000_000_000_001), TaskStatus::Completed, TaskType::Command)
        );
        assert_eq!((row.arguments.len(), row.required_gpus.clone(), row.submitted_at_ms), (3, vec![0, 1], ms));
        assert_eq!((row.assigned_node.as_deref(), row.container_name.as_str()), (Some("gpu-01"), "hakuriver-base"));
        assert!(OriginalTask { status: "exploded".into(), ..task.clone() }.row("x").is_err());
        assert!(OriginalTask { arguments: Some("not json".into()), ..task.clone() }.row("x").is_err());
        assert!(OriginalTask { task_id: -1, ..task }.row("x").is_err());
    }
}
