//! The `nodes` table.

use std::collections::BTreeMap;

use hakuriver_model::{GpuInfo, HeartbeatData, NodeStatus, NumaTopology, RunnerInfo};

use super::{DbError, Pool};

/// One row of `nodes`, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRow {
    pub hostname: String,
    pub url: String,
    pub total_cores: u32,
    pub memory_total_bytes: Option<u64>,
    pub status: NodeStatus,
    pub registered_at_ms: i64,
    pub last_heartbeat_ms: i64,
    pub cpu_percent: Option<f64>,
    pub memory_percent: Option<f64>,
    pub memory_used_bytes: Option<u64>,
    pub current_avg_temp: Option<f64>,
    pub current_max_temp: Option<f64>,
    pub numa_topology: Option<NumaTopology>,
    pub gpu_info: Vec<GpuInfo>,
    pub environments: BTreeMap<String, i64>,
    pub env_loading: BTreeMap<String, hakuriver_model::env::LoadProgress>,
    /// Its Docker engine answered when it registered: it runs container tasks.
    pub docker_available: bool,
}

#[derive(sqlx::FromRow)]
struct RawNode {
    hostname: String,
    url: String,
    total_cores: i64,
    memory_total_bytes: Option<i64>,
    status: String,
    registered_at_ms: i64,
    last_heartbeat_ms: i64,
    cpu_percent: Option<f64>,
    memory_percent: Option<f64>,
    memory_used_bytes: Option<i64>,
    current_avg_temp: Option<f64>,
    current_max_temp: Option<f64>,
    numa_topology: Option<String>,
    gpu_info: Option<String>,
    environments: Option<String>,
    env_loading: Option<String>,
    docker_available: i64,
}

impl TryFrom<RawNode> for NodeRow {
    type Error = DbError;

    fn try_from(r: RawNode) -> Result<Self, DbError> {
        let corrupt = |message: String| DbError::Corrupt { table: "nodes", message };
        let numa_topology = r
            .numa_topology
            .map(|j| serde_json::from_str(&j))
            .transpose()
            .map_err(|e| corrupt(format!("{}: numa_topology: {e}", r.hostname)))?;
        let gpu_info = match r.gpu_info {
            Some(j) => serde_json::from_str(&j).map_err(|e| corrupt(format!("{}: gpu_info: {e}", r.hostname)))?,
            None => Vec::new(),
        };
        let environments = match r.environments {
            Some(j) => serde_json::from_str(&j).map_err(|e| corrupt(format!("{}: environments: {e}", r.hostname)))?,
            None => BTreeMap::new(),
        };
        let env_loading = match r.env_loading {
            Some(j) => serde_json::from_str(&j).map_err(|e| corrupt(format!("{}: env_loading: {e}", r.hostname)))?,
            None => BTreeMap::new(),
        };
        Ok(NodeRow {
            environments,
            env_loading,
            status: r.status.parse().map_err(corrupt)?,
            total_cores: u32::try_from(r.total_cores).map_err(|e| corrupt(e.to_string()))?,
            memory_total_bytes: r.memory_total_bytes.and_then(|v| u64::try_from(v).ok()),
            memory_used_bytes: r.memory_used_bytes.and_then(|v| u64::try_from(v).ok()),
            hostname: r.hostname,
            url: r.url,
            registered_at_ms: r.registered_at_ms,
            last_heartbeat_ms: r.last_heartbeat_ms,
            cpu_percent: r.cpu_percent,
            memory_percent: r.memory_percent,
            current_avg_temp: r.current_avg_temp,
            current_max_temp: r.current_max_temp,
            numa_topology,
            gpu_info,
            docker_available: r.docker_available != 0,
        })
    }
}

/// What changed when a node registered or sent a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// First registration of this name.
    New,
    /// The node was offline and is back.
    BackOnline,
    /// Nothing beyond fresh readings.
    Unchanged,
}

fn json<T: serde::Serialize>(value: &T) -> String {
    // Serializing plain data structs to a String cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn transition(previous: Option<&str>) -> Transition {
    match previous {
        None => Transition::New,
        Some("offline") => Transition::BackOnline,
        Some(_) => Transition::Unchanged,
    }
}

/// Inserts or refreshes a node from its runner's registration; it is online from now.
pub async fn upsert_registration(pool: &Pool, info: &RunnerInfo, now_ms: i64) -> Result<Transition, DbError> {
    // IMMEDIATE: this transaction reads, then writes; a deferred one would fail at once
    // (SQLITE_BUSY, no waiting) when another writer got in between.
    let mut tx = super::begin_write(pool).await?;
    let previous: Option<String> = sqlx::query_scalar("SELECT status FROM nodes WHERE hostname = $1")
        .bind(&info.hostname)
        .fetch_optional(&mut *tx)
        .await?;
    let numa = info.numa_topology.as_ref().filter(|t| !t.is_empty()).map(json);
    let gpus = info.gpu_info.as_ref().filter(|g| !g.is_empty()).map(json);
    sqlx::query(
        "INSERT INTO nodes (hostname, url, total_cores, memory_total_bytes, status, registered_at_ms,
                            last_heartbeat_ms, numa_topology, gpu_info, docker_available)
         VALUES ($1, $2, $3, $4, 'online', $5, $5, $6, $7, $8)
         ON CONFLICT (hostname) DO UPDATE SET
            url = excluded.url, total_cores = excluded.total_cores,
            memory_total_bytes = excluded.memory_total_bytes, status = 'online',
            last_heartbeat_ms = excluded.last_heartbeat_ms, numa_topology = excluded.numa_topology,
            gpu_info = excluded.gpu_info, docker_available = excluded.docker_available",
    )
    .bind(&info.hostname)
    .bind(&info.runner_url)
    .bind(i64::from(info.total_cores))
    .bind(to_i64(info.total_ram_bytes))
    .bind(now_ms)
    .bind(numa)
    .bind(gpus)
    .bind(i64::from(info.docker_available))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(transition(previous.as_deref()))
}

/// A node the original HakuRiver knew, as its database holds it: inserted offline (its runner
/// registers again) unless a node of that name exists; whether it was inserted.
pub async fn insert_imported(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    node: &RunnerInfo,
    last_heartbeat_ms: i64,
) -> Result<bool, DbError> {
    let numa = node.numa_topology.as_ref().filter(|t| !t.is_empty()).map(json);
    let gpus = node.gpu_info.as_ref().filter(|g| !g.is_empty()).map(json);
    let done = sqlx::query(
        "INSERT INTO nodes (hostname, url, total_cores, memory_total_bytes, status, registered_at_ms,
                            last_heartbeat_ms, numa_topology, gpu_info, docker_available)
         VALUES ($1, $2, $3, $4, 'offline', $5, $5, $6, $7, 1)
         ON CONFLICT (hostname) DO NOTHING",
    )
    .bind(&node.hostname)
    .bind(&node.runner_url)
    .bind(i64::from(node.total_cores))
    .bind((node.total_ram_bytes > 0).then(|| to_i64(node.total_ram_bytes)))
    .bind(last_heartbeat_ms)
    .bind(numa)
    .bind(gpus)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a heartbeat. `None` when no node of that name is registered.
pub async fn record_heartbeat(
    pool: &Pool,
    hostname: &str,
    hb: &HeartbeatData,
    now_ms: i64,
) -> Result<Option<(Transition, NodeRow)>, DbError> {
    // One statement in the usual case (the node is online): each is atomic on its own, and a
    // node marked offline between the two is simply back online.
    for (only_online, transition) in [(true, Transition::Unchanged), (false, Transition::BackOnline)] {
        let condition = if only_online { " AND status = 'online'" } else { "" };
        let gpus = (!hb.gpu_info.is_empty()).then(|| json(&hb.gpu_info));
        let row: Option<RawNode> = sqlx::query_as(&format!(
            "UPDATE nodes SET status = 'online', last_heartbeat_ms = $2, cpu_percent = $3,
                memory_percent = $4, memory_used_bytes = $5, current_avg_temp = $6,
                current_max_temp = $7, gpu_info = $8, environments = $9, env_loading = $10
             WHERE hostname = $1{condition} RETURNING {COLUMNS}"
        ))
        .bind(hostname)
        .bind(now_ms)
        .bind(hb.cpu_percent)
        .bind(hb.memory_percent)
        .bind(hb.memory_used_bytes.map(to_i64))
        .bind(hb.current_avg_temp)
        .bind(hb.current_max_temp)
        .bind(gpus)
        .bind(json(&hb.environments))
        .bind(json(&hb.env_loading))
        .fetch_optional(pool)
        .await?;
        if let Some(row) = row {
            return Ok(Some((transition, NodeRow::try_from(row)?)));
        }
    }
    Ok(None)
}

/// Nodes per statement in `record_reports`: ten parameters each, well under SQLite's and
/// PostgreSQL's limits.
const REPORTS_PER_STATEMENT: usize = 200;

/// Writes the readings of heartbeats held since the last tick (hostname, when received, the
/// heartbeat), a few hundred nodes per statement, in one transaction. The status is left as it
/// is: these nodes were written online when their heartbeats began to be held, and one marked
/// offline since stays offline.
pub async fn record_reports(pool: &Pool, reports: &[(&str, i64, &HeartbeatData)]) -> Result<(), DbError> {
    if reports.is_empty() {
        return Ok(());
    }
    let mut tx = super::begin_write(pool).await?;
    for chunk in reports.chunks(REPORTS_PER_STATEMENT) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| {
                let p: Vec<String> = (1..=10).map(|k| format!("${}", i * 10 + k)).collect();
                format!("({})", p.join(", "))
            })
            .collect();
        let sql = format!(
            "UPDATE nodes SET last_heartbeat_ms = v.column2, cpu_percent = v.column3, memory_percent = v.column4,
                memory_used_bytes = v.column5, current_avg_temp = v.column6, current_max_temp = v.column7,
                gpu_info = v.column8, environments = v.column9, env_loading = v.column10
             FROM (VALUES {}) AS v WHERE nodes.hostname = v.column1",
            rows.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for &(hostname, received_ms, hb) in chunk {
            query = query
                .bind(hostname)
                .bind(received_ms)
                .bind(hb.cpu_percent)
                .bind(hb.memory_percent)
                .bind(hb.memory_used_bytes.map(to_i64))
                .bind(hb.current_avg_temp)
                .bind(hb.current_max_temp)
                .bind((!hb.gpu_info.is_empty()).then(|| json(&hb.gpu_info)))
                .bind(json(&hb.environments))
                .bind(json(&hb.env_loading));
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Marks online nodes silent since before `cutoff_ms` offline; returns their names.
pub async fn mark_silent_offline(pool: &Pool, cutoff_ms: i64) -> Result<Vec<String>, DbError> {
    let names = sqlx::query_scalar(
        "UPDATE nodes SET status = 'offline' WHERE status = 'online' AND last_heartbeat_ms < $1
         RETURNING hostname",
    )
    .bind(cutoff_ms)
    .fetch_all(pool)
    .await?;
    Ok(names)
}

/// The columns a `NodeRow` is decoded from.
macro_rules! node_columns {
    () => {
        "hostname, url, total_cores, memory_total_bytes, status, registered_at_ms,
    last_heartbeat_ms, cpu_percent, memory_percent, memory_used_bytes, current_avg_temp,
    current_max_temp, numa_topology, gpu_info, environments, env_loading, docker_available"
    };
}
const COLUMNS: &str = node_columns!();
const SELECT: &str = concat!("SELECT ", node_columns!(), " FROM nodes");

pub async fn list<'e>(db: impl sqlx::Executor<'e, Database = sqlx::Any>) -> Result<Vec<NodeRow>, DbError> {
    let rows: Vec<RawNode> = sqlx::query_as(&format!("{SELECT} ORDER BY hostname")).fetch_all(db).await?;
    rows.into_iter().map(NodeRow::try_from).collect()
}

pub async fn get(pool: &Pool, hostname: &str) -> Result<Option<NodeRow>, DbError> {
    let row: Option<RawNode> =
        sqlx::query_as(&format!("{SELECT} WHERE hostname = $1")).bind(hostname).fetch_optional(pool).await?;
    row.map(NodeRow::try_from).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runner(name: &str) -> RunnerInfo {
        RunnerInfo {
            hostname: name.into(),
            total_cores: 8,
            total_ram_bytes: 16_000_000_000,
            runner_url: "http://10.0.0.5:8001".into(),
            numa_topology: None,
            gpu_info: None,
            docker_available: name != "no-docker",
        }
    }

    #[tokio::test]
    async fn register_heartbeat_and_go_offline_in_a_real_database() {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::db::test_pool(dir.path()).await;

        assert_eq!(upsert_registration(&pool, &runner("n1"), 1_000).await.unwrap(), Transition::New);
        assert_eq!(upsert_registration(&pool, &runner("n1"), 1_500).await.unwrap(), Transition::Unchanged);

        let hb = HeartbeatData { cpu_percent: Some(12.5), memory_used_bytes: Some(4_000), ..Default::default() };
        let transition = |r: Option<(Transition, NodeRow)>| r.map(|(t, _)| t);
        let (_, row) = record_heartbeat(&pool, "n1", &hb, 2_000).await.unwrap().expect("a known node");
        assert_eq!((row.hostname.as_str(), row.last_heartbeat_ms), ("n1", 2_000));
        assert_eq!(transition(record_heartbeat(&pool, "n1", &hb, 2_000).await.unwrap()), Some(Transition::Unchanged));
        assert_eq!(transition(record_heartbeat(&pool, "ghost", &hb, 2_000).await.unwrap()), None);

        assert!(mark_silent_offline(&pool, 2_000).await.unwrap().is_empty());
        assert_eq!(mark_silent_offline(&pool, 2_001).await.unwrap(), vec!["n1".to_string()]);
        let row = get(&pool, "n1").await.unwrap().unwrap();
        assert!(row.docker_available);
        upsert_registration(&pool, &runner("no-docker"), 1_000).await.unwrap();
        assert!(!get(&pool, "no-docker").await.unwrap().unwrap().docker_available);
        assert_eq!(row.status, NodeStatus::Offline);
        assert_eq!(row.cpu_percent, Some(12.5));
        assert_eq!(row.memory_total_bytes, Some(16_000_000_000));

        assert_eq!(transition(record_heartbeat(&pool, "n1", &hb, 3_000).await.unwrap()), Some(Transition::BackOnline));
        assert_eq!(list(&pool).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn held_heartbeats_are_written_many_per_statement_and_leave_the_status_alone() {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::db::test_pool(dir.path()).await;
        let names: Vec<String> = (0..450).map(|i| format!("n{i:03}")).collect();
        for name in &names {
            upsert_registration(&pool, &runner(name), 1_000).await.unwrap();
        }
        assert_eq!(mark_silent_offline(&pool, 1_001).await.unwrap().len(), 450);
        let beats: Vec<HeartbeatData> = (0..450)
            .map(|i| HeartbeatData {
                cpu_percent: Some(f64::from(i)),
                memory_used_bytes: Some(u64::from(i as u32) * 1000),
                environments: [("base".to_string(), i64::from(i))].into(),
                ..Default::default()
            })
            .collect();
        // Three statements' worth, and a name nobody registered (ignored).
        let mut readings: Vec<(&str, i64, &HeartbeatData)> =
            names.iter().zip(&beats).map(|(n, b)| (n.as_str(), 5_000, b)).collect();
        readings.push(("ghost", 5_000, &beats[0]));
        record_reports(&pool, &readings).await.unwrap();
        let rows = list(&pool).await.unwrap();
        assert_eq!(rows.len(), 450);
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(row.hostname, names[i]);
            assert_eq!((row.last_heartbeat_ms, row.cpu_percent), (5_000, Some(i as f64)));
            assert_eq!(row.memory_used_bytes, Some(i as u64 * 1000));
            assert_eq!(row.environments.get("base"), Some(&(i as i64)));
            assert_eq!(row.status, NodeStatus::Offline, "the status is not the readings' to change");
        }
        record_reports(&pool, &[]).await.unwrap();
    }
}
