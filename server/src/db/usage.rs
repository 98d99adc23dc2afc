//! Usage accounting's side of the `tasks` table: every task that ran in a window, as
//! `model::usage::summarize` and the queue's fair share sum it.

use hakuriver_model::usage::UsageRecord;

use super::DbError;

/// Tasks that started and ended at `since_ms` or later, or run now (`running`, `paused`).
pub async fn records(db: &mut sqlx::AnyConnection, since_ms: i64) -> Result<Vec<UsageRecord>, DbError> {
    type Raw = (Option<String>, Option<String>, i64, String, i64, Option<i64>, Option<i64>);
    let rows: Vec<Raw> = sqlx::query_as(
        "SELECT owner, assigned_node, required_cores, required_gpus, started_at_ms, completed_at_ms, cpu_microseconds
         FROM tasks
         WHERE started_at_ms IS NOT NULL
           AND (completed_at_ms >= $1 OR (completed_at_ms IS NULL AND status IN ('running', 'paused')))",
    )
    .bind(since_ms)
    .fetch_all(&mut *db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(owner, node, cores, gpus, started_ms, ended_ms, cpu_us)| UsageRecord {
            owner,
            node,
            cores: u32::try_from(cores).unwrap_or(0),
            gpus: serde_json::from_str::<Vec<u32>>(&gpus).map_or(0, |g| u32::try_from(g.len()).unwrap_or(u32::MAX)),
            started_ms,
            ended_ms,
            cpu_seconds: cpu_us.map(super::task_row::seconds_of_micros),
        })
        .collect())
}
