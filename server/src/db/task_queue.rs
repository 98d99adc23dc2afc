//! The queue's side of the `tasks` table: what waits, what each node holds, and assignments with
//! their suspicion counts. The placement itself is `scheduler` (pure); `services::tasks` runs it.

use std::collections::{BTreeSet, HashMap};

use hakuriver_model::limits::Held;
use hakuriver_model::{TaskId, TaskStatus};
use sqlx::{Any, Transaction};

use super::task_row::{json, sql_id, RawTask, TaskRow, COLUMNS};
use super::{DbError, Pool};

/// The id and attempt of every pending task whose id is above `after` (`TaskId(0)`: all of
/// them), in submission order (ids grow with time): what the queue's rows kept between passes
/// are checked against.
pub async fn pending_keys(tx: &mut Transaction<'_, Any>, after: TaskId) -> Result<Vec<(TaskId, u32)>, DbError> {
    let rows: Vec<(i64, i64)> =
        sqlx::query_as("SELECT task_id, attempt FROM tasks WHERE status = 'pending' AND task_id > $1 ORDER BY task_id")
            .bind(sql_id(after))
            .fetch_all(&mut **tx)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(id, attempt)| (TaskId(u64::try_from(id).unwrap_or_default()), u32::try_from(attempt).unwrap_or(1)))
        .collect())
}

/// A summary of the pending set that changes whenever a task joins or leaves it: a new task
/// raises the largest id; a task leaving lowers the count unless another joins (which raises the
/// largest id, or, a task back for its next attempt, the attempts' sum). Two changes that cancel
/// out in all five at once are possible in principle, which is why the ids are read again
/// anyway after a while (`services::tasks::pending_rows`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingFingerprint {
    pub count: i64,
    pub id_residue_sum: i64,
    pub attempt_sum: i64,
    pub min_id: i64,
    pub max_id: i64,
}

/// The modulus of `id_residue_sum`, as written in `pending_fingerprint`'s query (a prime, so
/// that ids far apart rarely share a residue).
const ID_RESIDUE_MODULUS: u64 = 1_000_003;

impl PendingFingerprint {
    /// The fingerprint the database gives for exactly these pending ids and attempts.
    pub fn of(keys: &[(TaskId, u32)]) -> Self {
        let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        PendingFingerprint {
            count: to_i64(keys.len() as u64),
            id_residue_sum: keys.iter().map(|(id, _)| to_i64(id.0 % ID_RESIDUE_MODULUS)).sum(),
            attempt_sum: keys.iter().map(|&(_, attempt)| i64::from(attempt)).sum(),
            min_id: keys.iter().map(|(id, _)| to_i64(id.0)).min().unwrap_or(0),
            max_id: keys.iter().map(|(id, _)| to_i64(id.0)).max().unwrap_or(0),
        }
    }
}

/// The pending set's fingerprint: one row, however long the queue.
pub async fn pending_fingerprint(tx: &mut Transaction<'_, Any>) -> Result<PendingFingerprint, DbError> {
    let (count, id_residue_sum, attempt_sum, min_id, max_id): (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(task_id % 1000003), 0) AS BIGINT), CAST(COALESCE(SUM(attempt), 0) AS BIGINT),
                COALESCE(MIN(task_id), 0), COALESCE(MAX(task_id), 0)
         FROM tasks WHERE status = 'pending'",
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(PendingFingerprint { count, id_residue_sum, attempt_sum, min_id, max_id })
}

/// The rows of those of `ids` that are pending.
pub async fn pending_rows(tx: &mut Transaction<'_, Any>, ids: &[TaskId]) -> Result<Vec<TaskRow>, DbError> {
    super::tasks::rows_where(tx, "status = 'pending'", ids).await
}

/// The status of each of `ids` that is stored (dependencies' parents; unknown ids are absent).
pub async fn statuses(db: &mut sqlx::AnyConnection, ids: &[TaskId]) -> Result<HashMap<TaskId, TaskStatus>, DbError> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(500) {
        let marks: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
        let sql = format!("SELECT task_id, status FROM tasks WHERE task_id IN ({})", marks.join(", "));
        let mut q = sqlx::query_as::<_, (i64, String)>(&sql);
        for id in chunk {
            q = q.bind(sql_id(*id));
        }
        for (id, status) in q.fetch_all(&mut *db).await? {
            let status =
                status.parse().map_err(|e| DbError::Corrupt { table: "tasks", message: format!("{id}: {e}") })?;
            found.insert(TaskId(u64::try_from(id).unwrap_or_default()), status);
        }
    }
    Ok(found)
}

/// Whether a task submitted before `id` still waits in the queue.
pub async fn pending_before(tx: &mut Transaction<'_, Any>, id: TaskId) -> Result<bool, DbError> {
    let older: Option<i64> =
        sqlx::query_scalar("SELECT task_id FROM tasks WHERE status = 'pending' AND task_id < $1 LIMIT 1")
            .bind(sql_id(id))
            .fetch_optional(&mut **tx)
            .await?;
    Ok(older.is_some())
}

/// Resources held per node: (cores, memory bytes, GPU ids) of tasks holding resources.
pub async fn usage(tx: &mut Transaction<'_, Any>) -> Result<HashMap<String, (u32, u64, BTreeSet<u32>)>, DbError> {
    let rows: Vec<(String, i64, Option<i64>, String)> = sqlx::query_as(
        "SELECT assigned_node, required_cores, required_memory_bytes, required_gpus FROM tasks
         WHERE status IN ('assigning', 'running', 'paused') AND assigned_node IS NOT NULL",
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut usage: HashMap<String, (u32, u64, BTreeSet<u32>)> = HashMap::new();
    for (node, cores, memory, gpus) in rows {
        let entry = usage.entry(node).or_default();
        entry.0 += u32::try_from(cores).unwrap_or(0);
        entry.1 += memory.and_then(|m| u64::try_from(m).ok()).unwrap_or(0);
        let gpus: Vec<u32> = serde_json::from_str(&gpus).unwrap_or_default();
        entry.2.extend(gpus);
    }
    Ok(usage)
}

/// What each owner's tasks hold now (tasks holding resources; tasks without an owner are not
/// counted).
pub async fn held_by_owner(tx: &mut Transaction<'_, Any>) -> Result<HashMap<String, Held>, DbError> {
    let rows: Vec<(String, String, i64, String)> = sqlx::query_as(
        "SELECT owner, task_type, required_cores, required_gpus FROM tasks
         WHERE status IN ('assigning', 'running', 'paused') AND owner IS NOT NULL",
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut held: HashMap<String, Held> = HashMap::new();
    for (owner, task_type, cores, gpus) in rows {
        let gpus = serde_json::from_str::<Vec<u32>>(&gpus).map_or(0, |g| u32::try_from(g.len()).unwrap_or(u32::MAX));
        let entry = held.entry(owner).or_default();
        *entry = entry.with(task_type == "vps", u32::try_from(cores).unwrap_or(0), gpus);
    }
    Ok(held)
}

/// Cores in use per node, for `GET /nodes`.
pub async fn cores_in_use(pool: &Pool) -> Result<HashMap<String, u32>, DbError> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT assigned_node, CAST(SUM(required_cores) AS BIGINT) FROM tasks
         WHERE status IN ('assigning', 'running', 'paused') AND assigned_node IS NOT NULL GROUP BY assigned_node",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(n, c)| (n, u32::try_from(c).unwrap_or(0))).collect())
}

/// Moves a pending task to `assigning` on `node` with the GPUs chosen for it.
pub async fn assign(
    tx: &mut Transaction<'_, Any>,
    task_id: TaskId,
    node: &str,
    gpus: &[u32],
    now_ms: i64,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE tasks SET status = 'assigning', assigned_node = $2, required_gpus = $3, assignment_suspicion_count = 0,
            assigned_at_ms = $4
         WHERE task_id = $1 AND status = 'pending'",
    )
    .bind(sql_id(task_id))
    .bind(node)
    .bind(json(&gpus))
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Every task placed but not yet confirmed by its runner (`assigning`), oldest first.
pub async fn assigning(pool: &Pool) -> Result<Vec<TaskRow>, DbError> {
    let rows: Vec<RawTask> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM tasks WHERE status = 'assigning' ORDER BY task_id"))
            .fetch_all(pool)
            .await?;
    rows.into_iter().map(TaskRow::try_from).collect()
}

/// Sets the suspicion count of a task (heartbeat reconciliation).
/// A task still `assigning` is placed anew (its dispatch is being repeated): its grace starts
/// again. Whether it was still `assigning`.
pub async fn renew_assignment(pool: &Pool, task_id: TaskId, now_ms: i64) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE tasks SET assigned_at_ms = $2, assignment_suspicion_count = 0
         WHERE task_id = $1 AND status = 'assigning'",
    )
    .bind(sql_id(task_id))
    .bind(now_ms)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_suspicion(pool: &Pool, task_id: TaskId, count: u32) -> Result<(), DbError> {
    sqlx::query("UPDATE tasks SET assignment_suspicion_count = $2 WHERE task_id = $1")
        .bind(sql_id(task_id))
        .bind(i64::from(count))
        .execute(pool)
        .await?;
    Ok(())
}
