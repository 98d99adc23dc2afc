//! The `vps_snapshots` table: which environment tarball was saved from which VPS (`vps save`).

use hakuriver_model::TaskId;

use super::tasks::sql_id;
use super::{DbError, Pool};

/// One saved tarball, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRow {
    pub tarball: String,
    pub task_id: TaskId,
    pub env_name: String,
    pub timestamp_s: i64,
    pub size_bytes: u64,
    pub node: String,
    pub saved_by: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Raw {
    tarball: String,
    task_id: i64,
    env_name: String,
    timestamp_s: i64,
    size_bytes: i64,
    node: String,
    saved_by: Option<String>,
}

pub async fn insert(pool: &Pool, row: &SnapshotRow) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO vps_snapshots (tarball, task_id, env_name, timestamp_s, size_bytes, node, saved_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&row.tarball)
    .bind(sql_id(row.task_id))
    .bind(&row.env_name)
    .bind(row.timestamp_s)
    .bind(i64::try_from(row.size_bytes).unwrap_or(i64::MAX))
    .bind(&row.node)
    .bind(&row.saved_by)
    .execute(pool)
    .await?;
    Ok(())
}

/// The tarballs saved from VPS `task_id`, newest first.
pub async fn of_task(pool: &Pool, task_id: TaskId) -> Result<Vec<SnapshotRow>, DbError> {
    let rows: Vec<Raw> = sqlx::query_as(
        "SELECT tarball, task_id, env_name, timestamp_s, size_bytes, node, saved_by FROM vps_snapshots
         WHERE task_id = $1 ORDER BY timestamp_s DESC, tarball DESC",
    )
    .bind(sql_id(task_id))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| SnapshotRow {
            tarball: r.tarball,
            task_id: TaskId(u64::try_from(r.task_id).unwrap_or_default()),
            env_name: r.env_name,
            timestamp_s: r.timestamp_s,
            size_bytes: u64::try_from(r.size_bytes).unwrap_or_default(),
            node: r.node,
            saved_by: r.saved_by,
        })
        .collect())
}
