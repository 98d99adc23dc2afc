//! The `tasks` table.

use hakuriver_model::protocol::LogBytesDropped;
use hakuriver_model::usage::MeasuredUsage;
use hakuriver_model::{TaskId, TaskStatus};
use sqlx::{Any, Transaction};

pub(crate) use super::task_row::sql_id;
pub use super::task_row::TaskRow;
use super::task_row::{json, micros_of_seconds, RawTask, COLUMNS, COLUMN_COUNT};
use super::{DbError, Pool};

/// The newest task id stored (none: no task yet).
pub async fn max_id(tx: &mut Transaction<'_, Any>) -> Result<Option<u64>, DbError> {
    let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(task_id) FROM tasks").fetch_one(&mut **tx).await?;
    Ok(newest.and_then(|v| u64::try_from(v).ok()))
}

/// Removes a task written in this transaction (a submit that asked not to queue, not placed).
pub async fn delete_in(tx: &mut Transaction<'_, Any>, id: TaskId) -> Result<(), DbError> {
    sqlx::query("DELETE FROM tasks WHERE task_id = $1").bind(sql_id(id)).execute(&mut **tx).await?;
    Ok(())
}

pub async fn insert(tx: &mut Transaction<'_, Any>, t: &TaskRow) -> Result<(), DbError> {
    insert_with(tx, &[t], "").await.map(|_| ())
}

/// Inserts every row of `rows`, up to `ROWS_PER_INSERT` a statement (a group commit's submits:
/// one round trip instead of one per task).
pub async fn insert_many(tx: &mut Transaction<'_, Any>, rows: &[&TaskRow]) -> Result<(), DbError> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        insert_with(tx, chunk, "").await?;
    }
    Ok(())
}

/// Inserts `t` unless a task with its id exists; whether it was inserted (imports).
pub async fn insert_if_absent(tx: &mut Transaction<'_, Any>, t: &TaskRow) -> Result<bool, DbError> {
    insert_with(tx, &[t], " ON CONFLICT (task_id) DO NOTHING").await.map(|rows| rows == 1)
}

/// Most rows one insert statement writes: `ROWS_PER_INSERT` × `COLUMN_COUNT` parameters stay
/// far under either engine's limit (SQLite 32 766, PostgreSQL 65 535).
const ROWS_PER_INSERT: usize = 100;

async fn insert_with(tx: &mut Transaction<'_, Any>, rows: &[&TaskRow], on_conflict: &str) -> Result<u64, DbError> {
    let values: Vec<String> = (0..rows.len())
        .map(|r| {
            let marks: Vec<String> = (1..=COLUMN_COUNT).map(|c| format!("${}", r * COLUMN_COUNT + c)).collect();
            format!("({})", marks.join(", "))
        })
        .collect();
    let sql = format!("INSERT INTO tasks ({COLUMNS}) VALUES {}{on_conflict}", values.join(", "));
    let mut query = sqlx::query(&sql);
    for t in rows {
        query = bind_row(query, t);
    }
    let done = query.execute(&mut **tx).await?;
    Ok(done.rows_affected())
}

type AnyQuery<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>;

/// Binds every column of `t`, in `COLUMNS` order.
fn bind_row<'q>(query: AnyQuery<'q>, t: &'q TaskRow) -> AnyQuery<'q> {
    query
        .bind(sql_id(t.task_id))
        .bind(t.batch_id.map(sql_id))
        .bind(t.task_type.as_str())
        .bind(&t.command)
        .bind(json(&t.arguments))
        .bind(json(&t.env_vars))
        .bind(i64::from(t.required_cores))
        .bind(t.required_memory_bytes.map(|v| i64::try_from(v).unwrap_or(i64::MAX)))
        .bind(json(&t.required_gpus))
        .bind(&t.target_node)
        .bind(t.target_numa_node_id.map(i64::from))
        .bind(&t.assigned_node)
        .bind(&t.container_name)
        .bind(i64::from(t.privileged))
        .bind(json(&t.additional_mounts))
        .bind(t.status.as_str())
        .bind(t.exit_code)
        .bind(&t.error_message)
        .bind(t.submitted_at_ms)
        .bind(t.started_at_ms)
        .bind(t.completed_at_ms)
        .bind(i64::from(t.assignment_suspicion_count))
        .bind(t.ssh_port.map(i64::from))
        .bind(t.assigned_at_ms)
        .bind(&t.owner)
        .bind(&t.run_as)
        .bind(t.log_bytes_dropped.map(|d| sql_count(d.stdout)))
        .bind(t.log_bytes_dropped.map(|d| sql_count(d.stderr)))
        .bind(&t.image)
        .bind(&t.name)
        .bind(t.time_limit_seconds.map(sql_count))
        .bind(json(&t.depends_on))
        .bind(t.dependency.map(|d| d.as_str()))
        .bind(i64::from(t.retries))
        .bind(i64::from(t.attempt))
        .bind(i64::from(t.priority))
        .bind(t.measured.cpu_seconds.and_then(micros_of_seconds))
        .bind(t.measured.max_memory_bytes.map(sql_count))
}

pub async fn get(pool: &Pool, task_id: TaskId) -> Result<Option<TaskRow>, DbError> {
    let row: Option<RawTask> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM tasks WHERE task_id = $1"))
        .bind(sql_id(task_id))
        .fetch_optional(pool)
        .await?;
    row.map(TaskRow::try_from).transpose()
}

/// The rows of those of `ids` that are stored, in no particular order.
pub async fn get_many(pool: &Pool, ids: &[TaskId]) -> Result<Vec<TaskRow>, DbError> {
    let mut conn = pool.acquire().await?;
    rows_where(&mut conn, "1 = 1", ids).await
}

/// The rows of those of `ids` that meet `condition` (SQL over the task's columns, no
/// parameters), read up to 500 ids a query.
pub(super) async fn rows_where(
    conn: &mut sqlx::AnyConnection,
    condition: &str,
    ids: &[TaskId],
) -> Result<Vec<TaskRow>, DbError> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let marks: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
        let sql = format!("SELECT {COLUMNS} FROM tasks WHERE {condition} AND task_id IN ({})", marks.join(", "));
        let mut q = sqlx::query_as::<_, RawTask>(&sql);
        for id in chunk {
            q = q.bind(sql_id(*id));
        }
        for raw in q.fetch_all(&mut *conn).await? {
            found.push(TaskRow::try_from(raw)?);
        }
    }
    Ok(found)
}

/// Filters of the task list; every one optional.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub task_type: Option<String>,
    pub statuses: Vec<TaskStatus>,
    pub node: Option<String>,
    pub batch: Option<TaskId>,
    pub text: Option<String>,
    pub name: Option<String>,
    /// Only tasks older than this id (the cursor of the previous page).
    pub before: Option<TaskId>,
    pub limit: u32,
}

/// Tasks matching `f`, newest first.
pub async fn list(pool: &Pool, f: &TaskFilter) -> Result<Vec<TaskRow>, DbError> {
    let mut sql = format!("SELECT {COLUMNS} FROM tasks WHERE 1 = 1");
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    if f.task_type.is_some() {
        sql += &format!(" AND task_type = {}", next());
    }
    if !f.statuses.is_empty() {
        let marks: Vec<String> = f.statuses.iter().map(|_| next()).collect();
        sql += &format!(" AND status IN ({})", marks.join(", "));
    }
    if f.node.is_some() {
        sql += &format!(" AND assigned_node = {}", next());
    }
    if f.batch.is_some() {
        sql += &format!(" AND batch_id = {}", next());
    }
    if f.text.is_some() {
        let (a, b) = (next(), next());
        sql += &format!(" AND (command LIKE {a} OR arguments LIKE {b})");
    }
    if f.name.is_some() {
        sql += &format!(" AND name = {}", next());
    }
    if f.before.is_some() {
        sql += &format!(" AND task_id < {}", next());
    }
    sql += &format!(" ORDER BY task_id DESC LIMIT {}", next());

    let mut q = sqlx::query_as::<_, RawTask>(&sql);
    if let Some(t) = &f.task_type {
        q = q.bind(t);
    }
    for s in &f.statuses {
        q = q.bind(s.as_str());
    }
    if let Some(node) = &f.node {
        q = q.bind(node);
    }
    if let Some(batch) = f.batch {
        q = q.bind(sql_id(batch));
    }
    if let Some(text) = &f.text {
        let pattern = format!("%{}%", text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        q = q.bind(pattern.clone()).bind(pattern);
    }
    if let Some(name) = &f.name {
        q = q.bind(name);
    }
    if let Some(before) = f.before {
        q = q.bind(sql_id(before));
    }
    q = q.bind(i64::from(f.limit));
    q.fetch_all(pool).await?.into_iter().map(TaskRow::try_from).collect()
}

/// A status change, applied only if the task is still in `from` (compare and set).
#[derive(Debug, Clone, Default)]
pub struct StatusChange {
    pub exit_code: Option<i64>,
    pub message: Option<String>,
    pub started_at_ms: Option<i64>,
    pub completed_at_ms: Option<i64>,
}

pub async fn change_status(
    pool: &Pool,
    task_id: TaskId,
    from: TaskStatus,
    to: TaskStatus,
    change: &StatusChange,
) -> Result<bool, DbError> {
    change_status_on(pool, task_id, from, to, change).await
}

/// `change_status` inside a transaction.
pub async fn change_status_in(
    tx: &mut Transaction<'_, Any>,
    task_id: TaskId,
    from: TaskStatus,
    to: TaskStatus,
    change: &StatusChange,
) -> Result<bool, DbError> {
    change_status_on(&mut **tx, task_id, from, to, change).await
}

async fn change_status_on<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    task_id: TaskId,
    from: TaskStatus,
    to: TaskStatus,
    change: &StatusChange,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE tasks SET status = $3,
            exit_code = COALESCE($4, exit_code),
            error_message = COALESCE($5, error_message),
            started_at_ms = COALESCE(started_at_ms, $6),
            completed_at_ms = COALESCE(completed_at_ms, $7),
            assignment_suspicion_count = 0
         WHERE task_id = $1 AND status = $2",
    )
    .bind(sql_id(task_id))
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(change.exit_code)
    .bind(&change.message)
    .bind(change.started_at_ms)
    .bind(change.completed_at_ms)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A `shut_off` VPS back to `pending`, pinned to `node` (where its container is kept). Whether
/// it was still shut off.
pub async fn requeue_shut_off(pool: &Pool, task_id: TaskId, node: &str) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE tasks SET status = 'pending', target_node = $2, assigned_node = NULL, error_message = NULL,
            assignment_suspicion_count = 0
         WHERE task_id = $1 AND status = 'shut_off'",
    )
    .bind(sql_id(task_id))
    .bind(node)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A task whose attempt ended without it running to its own end (its node lost, it could not
/// start) back to `pending` as its next attempt, if it has retries left and is still in `from`.
/// Its node, start and exit are cleared; `note` says what happened. Whether it was queued again.
pub async fn requeue_attempt(pool: &Pool, task_id: TaskId, from: TaskStatus, note: &str) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE tasks SET status = 'pending', assigned_node = NULL, assigned_at_ms = NULL, started_at_ms = NULL,
            exit_code = NULL, error_message = $3, assignment_suspicion_count = 0, attempt = attempt + 1
         WHERE task_id = $1 AND status = $2 AND attempt <= retries",
    )
    .bind(sql_id(task_id))
    .bind(from.as_str())
    .bind(note)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Tasks of `node` that hold resources there.
pub async fn active_on(pool: &Pool, node: &str) -> Result<Vec<TaskRow>, DbError> {
    let rows: Vec<RawTask> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM tasks WHERE assigned_node = $1 AND status IN ('assigning', 'running', 'paused')"
    ))
    .bind(node)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(TaskRow::try_from).collect()
}

/// Every task placed on a node and not ended (`assigning`, `running`, `paused`).
pub async fn active(pool: &Pool) -> Result<Vec<TaskRow>, DbError> {
    let rows: Vec<RawTask> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM tasks WHERE status IN ('assigning', 'running', 'paused') AND assigned_node IS NOT NULL"
    ))
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(TaskRow::try_from).collect()
}

/// How many tasks of `task_type` are in each status.
pub async fn count_by_status(pool: &Pool, task_type: &str) -> Result<Vec<(String, i64)>, DbError> {
    Ok(sqlx::query_as("SELECT status, COUNT(*) FROM tasks WHERE task_type = $1 GROUP BY status")
        .bind(task_type)
        .fetch_all(pool)
        .await?)
}

/// Records the published sshd port of a VPS.
pub async fn set_ssh_port(pool: &Pool, task_id: TaskId, port: u16) -> Result<(), DbError> {
    sqlx::query("UPDATE tasks SET ssh_port = $2 WHERE task_id = $1")
        .bind(sql_id(task_id))
        .bind(i64::from(port))
        .execute(pool)
        .await?;
    Ok(())
}

fn sql_count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Records how much of a task's output was dropped past `[paths] max_log_bytes`.
pub async fn set_log_bytes_dropped(pool: &Pool, task_id: TaskId, dropped: LogBytesDropped) -> Result<(), DbError> {
    sqlx::query("UPDATE tasks SET stdout_dropped = $2, stderr_dropped = $3 WHERE task_id = $1")
        .bind(sql_id(task_id))
        .bind(sql_count(dropped.stdout))
        .bind(sql_count(dropped.stderr))
        .execute(pool)
        .await?;
    Ok(())
}

/// What a task's runner measured of it (a reading that is not a finite, non-negative number is
/// left out).
pub async fn set_measured_usage(pool: &Pool, task_id: TaskId, measured: MeasuredUsage) -> Result<(), DbError> {
    let cpu = measured.cpu_seconds.and_then(micros_of_seconds);
    sqlx::query("UPDATE tasks SET cpu_microseconds = $2, max_memory_bytes = $3 WHERE task_id = $1")
        .bind(sql_id(task_id))
        .bind(cpu)
        .bind(measured.max_memory_bytes.map(sql_count))
        .execute(pool)
        .await?;
    Ok(())
}

/// Brings a `lost` task back to `running` (see `model::task::revives`); answers whether it was
/// still lost.
pub async fn revive(pool: &Pool, task_id: TaskId, note: &str) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE tasks SET status = 'running', exit_code = NULL, completed_at_ms = NULL, error_message = $2
         WHERE task_id = $1 AND status = 'lost'",
    )
    .bind(sql_id(task_id))
    .bind(note)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

#[cfg(test)]
mod tests {
    use hakuriver_model::task::Dependency;
    use hakuriver_model::TaskType;

    use super::*;
    use crate::db::task_queue::{
        assign, cores_in_use, pending_fingerprint, pending_keys, pending_rows, set_suspicion, usage, PendingFingerprint,
    };
    use std::collections::{BTreeSet, HashMap};

    fn row(id: u64, batch: u64, args: &[&str]) -> TaskRow {
        TaskRow {
            task_id: TaskId(id),
            batch_id: Some(TaskId(batch)),
            task_type: TaskType::Command,
            command: "echo".into(),
            arguments: args.iter().map(|s| s.to_string()).collect(),
            env_vars: [("K".to_string(), "v".to_string())].into(),
            required_cores: 2,
            required_memory_bytes: Some(1_000_000),
            required_gpus: vec![],
            target_node: Some("n1".into()),
            target_numa_node_id: Some(0),
            assigned_node: None,
            container_name: "NULL".into(),
            privileged: false,
            additional_mounts: vec!["/a:/b".into()],
            status: TaskStatus::Pending,
            exit_code: None,
            error_message: None,
            submitted_at_ms: 1_000 + i64::try_from(id).unwrap(),
            started_at_ms: None,
            completed_at_ms: None,
            assigned_at_ms: None,
            assignment_suspicion_count: 0,
            ssh_port: None,
            owner: Some("alice".into()),
            run_as: Some("nobody".into()),
            log_bytes_dropped: None,
            image: None,
            name: (id == 12).then(|| "second".to_string()),
            time_limit_seconds: Some(60),
            depends_on: if id == 13 { vec![TaskId(11), TaskId(12)] } else { vec![] },
            dependency: (id == 13).then_some(Dependency::AfterAny),
            retries: if id == 12 { 1 } else { 0 },
            attempt: 1,
            priority: if id == 13 { -5 } else { 0 },
            measured: MeasuredUsage {
                cpu_seconds: (id == 13).then_some(1.25),
                max_memory_bytes: (id == 13).then_some(4096),
            },
        }
    }

    /// A group commit's rows, more than one statement holds, are all stored as given.
    #[tokio::test]
    async fn many_rows_insert_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::db::test_pool(dir.path()).await;
        let rows: Vec<TaskRow> = (1000..1250).map(|id| row(id, 1000, &["many", "rows"])).collect();
        let refs: Vec<&TaskRow> = rows.iter().collect();
        let mut tx = crate::db::begin_write(&pool).await.unwrap();
        insert_many(&mut tx, &refs).await.unwrap();
        let keys = pending_keys(&mut tx, TaskId(0)).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(keys.len(), 250);
        for id in [1000, 1099, 1100, 1249] {
            assert_eq!(get(&pool, TaskId(id)).await.unwrap().as_ref(), rows.iter().find(|r| r.task_id == TaskId(id)));
        }
    }

    /// The pending set's fingerprint from ids as large as the generator makes them, read from
    /// the database and computed from the ids, agree.
    #[tokio::test]
    async fn the_fingerprint_of_large_ids_is_the_databases() {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::db::test_pool(dir.path()).await;
        let mut tx = crate::db::begin_write(&pool).await.unwrap();
        for (id, attempt) in [(2_000_017u64, 1u32), (7_340_032_123_456_789, 3), (9_007_199_254_740_993, 2)] {
            insert(&mut tx, &TaskRow { attempt, ..row(id, id, &["x"]) }).await.unwrap();
        }
        let keys = pending_keys(&mut tx, TaskId(0)).await.unwrap();
        assert_eq!(keys.len(), 3);
        let print = pending_fingerprint(&mut tx).await.unwrap();
        assert_eq!((print.count, print.attempt_sum, print.max_id), (3, 6, 9_007_199_254_740_993));
        assert_eq!(PendingFingerprint::of(&keys), print);
    }

    /// Every query of the task store, on SQLite or (in the PostgreSQL suite) on PostgreSQL.
    #[tokio::test]
    async fn the_task_store_round_trips_and_filters() {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::db::test_pool(dir.path()).await;
        let mut tx = crate::db::begin_write(&pool).await.unwrap();
        for (id, args) in [(11, vec!["alpha"]), (12, vec!["beta", "x"]), (13, vec!["gamma"])] {
            insert(&mut tx, &row(id, 11, &args)).await.unwrap();
        }
        let keys = pending_keys(&mut tx, TaskId(0)).await.unwrap();
        assert_eq!(keys, vec![(TaskId(11), 1), (TaskId(12), 1), (TaskId(13), 1)]);
        assert_eq!(pending_keys(&mut tx, TaskId(11)).await.unwrap(), vec![(TaskId(12), 1), (TaskId(13), 1)]);
        let print = pending_fingerprint(&mut tx).await.unwrap();
        assert_eq!(
            (print.count, print.id_residue_sum, print.attempt_sum, print.min_id, print.max_id),
            (3, 36, 3, 11, 13)
        );
        assert_eq!(PendingFingerprint::of(&keys), print, "the database's fingerprint, computed from the ids");
        let rows = pending_rows(&mut tx, &[TaskId(13), TaskId(11), TaskId(99)]).await.unwrap();
        assert_eq!(rows.len(), 2, "only stored pending tasks");
        assert!(rows.iter().any(|r| r.task_id == TaskId(13) && r.depends_on == vec![TaskId(11), TaskId(12)]));
        assert!(assign(&mut tx, TaskId(11), "n1", &[0, 1], 5_000).await.unwrap());
        assert!(!assign(&mut tx, TaskId(11), "n1", &[], 5_000).await.unwrap(), "only a pending task");
        assert!(assign(&mut tx, TaskId(12), "n1", &[], 5_000).await.unwrap());
        let used = usage(&mut tx).await.unwrap();
        assert_eq!(used["n1"].0, 4);
        assert_eq!(used["n1"].1, 2_000_000);
        assert_eq!(used["n1"].2, BTreeSet::from([0, 1]));
        tx.commit().await.unwrap();

        let back = get(&pool, TaskId(12)).await.unwrap().unwrap();
        assert_eq!(back.arguments, vec!["beta", "x"]);
        assert_eq!(back.env_vars["K"], "v");
        assert_eq!((back.status, back.assigned_node.as_deref()), (TaskStatus::Assigning, Some("n1")));
        assert_eq!(cores_in_use(&pool).await.unwrap()["n1"], 4);

        // A retry: once (task 12 has one), never for a task without (11), never from another status.
        assert!(!requeue_attempt(&pool, TaskId(11), TaskStatus::Assigning, "lost").await.unwrap());
        assert!(!requeue_attempt(&pool, TaskId(12), TaskStatus::Running, "lost").await.unwrap());
        assert!(requeue_attempt(&pool, TaskId(12), TaskStatus::Assigning, "attempt 1 lost").await.unwrap());
        let again = get(&pool, TaskId(12)).await.unwrap().unwrap();
        assert_eq!((again.status, again.attempt, again.assigned_node), (TaskStatus::Pending, 2, None));
        assert_eq!(again.error_message.as_deref(), Some("attempt 1 lost"));
        let mut tx = crate::db::begin_write(&pool).await.unwrap();
        assert!(assign(&mut tx, TaskId(12), "n1", &[], 5_500).await.unwrap());
        tx.commit().await.unwrap();
        assert!(!requeue_attempt(&pool, TaskId(12), TaskStatus::Assigning, "again").await.unwrap(), "no retry left");
        let change = StatusChange { started_at_ms: Some(6_000), ..Default::default() };
        assert!(change_status(&pool, TaskId(11), TaskStatus::Assigning, TaskStatus::Running, &change).await.unwrap());
        assert!(
            !change_status(&pool, TaskId(11), TaskStatus::Assigning, TaskStatus::Failed, &change).await.unwrap(),
            "compare and set"
        );
        let done = StatusChange { exit_code: Some(0), completed_at_ms: Some(7_000), ..Default::default() };
        assert!(change_status(&pool, TaskId(11), TaskStatus::Running, TaskStatus::Completed, &done).await.unwrap());
        set_ssh_port(&pool, TaskId(13), 2222).await.unwrap();
        set_suspicion(&pool, TaskId(13), 2).await.unwrap();
        set_log_bytes_dropped(&pool, TaskId(11), LogBytesDropped { stdout: 5_000_000_000, stderr: 0 }).await.unwrap();

        let all = |f: TaskFilter| {
            let pool = pool.clone();
            async move { list(&pool, &TaskFilter { limit: 10, ..f }).await.unwrap() }
        };
        let ids = |rows: Vec<TaskRow>| rows.iter().map(|t| t.task_id.0).collect::<Vec<_>>();
        assert_eq!(ids(all(TaskFilter::default()).await), vec![13, 12, 11], "newest first");
        assert_eq!(
            ids(all(TaskFilter { statuses: vec![TaskStatus::Completed], ..Default::default() }).await),
            vec![11]
        );
        assert_eq!(ids(all(TaskFilter { node: Some("n1".into()), ..Default::default() }).await), vec![12, 11]);
        assert_eq!(ids(all(TaskFilter { batch: Some(TaskId(11)), ..Default::default() }).await).len(), 3);
        assert_eq!(ids(all(TaskFilter { text: Some("gam".into()), ..Default::default() }).await), vec![13]);
        assert_eq!(ids(all(TaskFilter { before: Some(TaskId(13)), ..Default::default() }).await), vec![12, 11]);
        assert_eq!(ids(all(TaskFilter { name: Some("second".into()), ..Default::default() }).await), vec![12]);
        assert_eq!(
            ids(all(TaskFilter { task_type: Some("vps".into()), ..Default::default() }).await),
            Vec::<u64>::new()
        );
        assert_eq!(ids(active_on(&pool, "n1").await.unwrap()), vec![12]);
        let counts: HashMap<String, i64> = count_by_status(&pool, "command").await.unwrap().into_iter().collect();
        assert_eq!((counts["completed"], counts["assigning"], counts["pending"]), (1, 1, 1));
        let t13 = get(&pool, TaskId(13)).await.unwrap().unwrap();
        assert_eq!((t13.ssh_port, t13.assignment_suspicion_count), (Some(2222), 2));
        assert_eq!(t13.log_bytes_dropped, None);
        assert_eq!(t13.priority, -5);
        assert_eq!(t13.measured, MeasuredUsage { cpu_seconds: Some(1.25), max_memory_bytes: Some(4096) });
        set_measured_usage(&pool, TaskId(12), MeasuredUsage { cpu_seconds: Some(f64::NAN), max_memory_bytes: Some(7) })
            .await
            .unwrap();
        let t12 = get(&pool, TaskId(12)).await.unwrap().unwrap();
        assert_eq!(t12.measured, MeasuredUsage { cpu_seconds: None, max_memory_bytes: Some(7) }, "no NaN stored");
        assert_eq!(
            (t13.depends_on, t13.dependency, t13.time_limit_seconds),
            (vec![TaskId(11), TaskId(12)], Some(Dependency::AfterAny), Some(60))
        );
        let t11 = get(&pool, TaskId(11)).await.unwrap().unwrap();
        assert_eq!(t11.log_bytes_dropped, Some(LogBytesDropped { stdout: 5_000_000_000, stderr: 0 }));

        // Usage: the one task that ran, with what its runner measured.
        set_measured_usage(&pool, TaskId(11), MeasuredUsage { cpu_seconds: Some(0.5), max_memory_bytes: None })
            .await
            .unwrap();
        let mut db = pool.acquire().await.unwrap();
        let ran = crate::db::usage::records(&mut db, 6_500).await.unwrap();
        assert_eq!(ran.len(), 1, "{ran:?}");
        assert_eq!(
            (ran[0].node.as_deref(), ran[0].cores, ran[0].started_ms, ran[0].ended_ms, ran[0].cpu_seconds),
            (Some("n1"), 2, 6_000, Some(7_000), Some(0.5))
        );
        assert!(crate::db::usage::records(&mut db, 7_001).await.unwrap().is_empty(), "it ended before the window");
    }
}
