//! A queue pass with a long backlog, in process against a real database, printed as JSON.
//!
//! `--pending` (default 10 000) tasks from `--users` (50) wait on `--nodes` (20) simulated nodes
//! of 16 cores, each held whole by a running task: a quarter are host-placed, half name a node,
//! a quarter wait for a running task (`depends_on`); priorities vary. A pass plans every one of
//! them (effective priority, fair share, per-user limits, dependencies, pending reasons) and
//! places none: the pass a backlog costs on every kick. The first pass reads every row; later
//! ones find them kept.
//!
//! `cargo run --release -p hakuriver-bench --bin queue-pass` (a SQLite file), or with
//! `--postgres postgres://…/empty_db` for PostgreSQL.
//! Target (issue [15]): a pass ≤ 50 ms.

use std::time::Instant;

use anyhow::{ensure, Context};
use hakuriver_bench::{arg, percentiles};
use hakuriver_host::db::{self, tasks::TaskRow, Location};
use hakuriver_host::services::events::EventBus;
use hakuriver_host::services::runner_client::RunnerClient;
use hakuriver_host::services::submit_request::SubmitDefaults;
use hakuriver_host::services::tasks::TaskService;
use hakuriver_model::limits::Limits;
use hakuriver_model::task::Dependency;
use hakuriver_model::RunnerInfo;
use hakuriver_model::{TaskId, TaskStatus, TaskType};
use serde_json::json;

/// A task as the seed stores it: pending unless `running_on` names its node.
fn task(id: u64, owner: String, cores: u32, running_on: Option<String>, now: i64) -> TaskRow {
    let running = running_on.is_some();
    TaskRow {
        task_id: TaskId(id),
        batch_id: Some(TaskId(id)),
        task_type: TaskType::Command,
        command: "python".into(),
        arguments: vec!["train.py".into(), format!("--seed={id}")],
        env_vars: [("EPOCHS".to_string(), "10".to_string())].into(),
        required_cores: cores,
        required_memory_bytes: Some(1 << 30),
        required_gpus: Vec::new(),
        target_node: running_on.clone(),
        target_numa_node_id: None,
        assigned_node: running_on,
        container_name: "hakuriver-base".into(),
        privileged: false,
        additional_mounts: Vec::new(),
        status: if running { TaskStatus::Running } else { TaskStatus::Pending },
        exit_code: None,
        error_message: None,
        submitted_at_ms: now - 3_600_000 + i64::try_from(id % 3_600_000).unwrap_or(0),
        started_at_ms: running.then_some(now - 60_000),
        completed_at_ms: None,
        assigned_at_ms: running.then_some(now - 60_000),
        assignment_suspicion_count: 0,
        ssh_port: None,
        owner: Some(owner),
        run_as: None,
        log_bytes_dropped: None,
        image: None,
        name: Some(format!("sweep-{}", id % 100)),
        time_limit_seconds: Some(3_600),
        depends_on: Vec::new(),
        dependency: None,
        retries: 1,
        attempt: 1,
        priority: 0,
        measured: Default::default(),
    }
}

/// The first pending task's id (the running ones come before it).
const FIRST: u64 = 1_000;

/// Registers `nodes` nodes, fills each with a running task and queues `pending` tasks.
async fn seed(pool: &db::Pool, nodes: u64, users: u64, pending: u64) -> anyhow::Result<()> {
    let now = hakuriver_host::clock::now_ms();
    for n in 0..nodes {
        let info: RunnerInfo = serde_json::from_value(json!({"hostname": format!("node-{n:02}"),
            "total_cores": 16, "total_ram_bytes": 64u64 << 30, "runner_url": "http://127.0.0.1:9"}))?;
        db::nodes::upsert_registration(pool, &info, now).await?;
    }
    let mut tx = db::begin_write(pool).await?;
    for n in 0..nodes {
        db::tasks::insert(&mut tx, &task(1 + n, format!("user-{}", n % users), 16, Some(format!("node-{n:02}")), now))
            .await?;
    }
    tx.commit().await?;
    for chunk in (0..pending).collect::<Vec<_>>().chunks(5_000) {
        let mut tx = db::begin_write(pool).await?;
        for &i in chunk {
            let mut row = task(FIRST + i, format!("user-{}", i % users), 1 + u32::try_from(i % 4)?, None, now);
            row.priority = i32::try_from(i % 21)? - 10;
            match i % 4 {
                0 => {}
                1 => {
                    row.depends_on = vec![TaskId(1 + i % nodes)];
                    row.dependency = Some(Dependency::AfterOk);
                }
                _ => row.target_node = Some(format!("node-{:02}", i % nodes)),
            }
            db::tasks::insert(&mut tx, &row).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let pending: u64 = arg("--pending", 10_000)?;
    let users: u64 = arg("--users", 50)?;
    let nodes: u64 = arg("--nodes", 20)?;
    let passes: usize = arg("--passes", 50)?;
    let postgres: String = arg("--postgres", String::new())?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("host.db");
    let location = if postgres.is_empty() { Location::File(&file) } else { Location::Url(&postgres) };
    let pool = db::open(location).await.context("open the database")?;
    let seeded = Instant::now();
    seed(&pool, nodes, users, pending).await.context("seed")?;
    let seed_seconds = seeded.elapsed().as_secs_f64();

    let limits = Limits { per_user_running_tasks: 40, ..Limits::default() };
    let defaults = SubmitDefaults { container_name: "hakuriver-base".into(), limits, ..SubmitDefaults::default() };
    let tasks = TaskService::new(
        pool.clone(),
        (dir.path().join("shared"), None),
        defaults,
        EventBus::default(),
        RunnerClient::new(None, None)?,
    );
    let started = Instant::now();
    tasks.run_queue().await?;
    let first_ms = started.elapsed().as_secs_f64() * 1000.0;
    let mut times = Vec::with_capacity(passes);
    for _ in 0..passes {
        let started = Instant::now();
        tasks.run_queue().await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let (p50, p99) = percentiles(times.clone());
    // Of a pass: reading the pending ids alone.
    let mut reads = Vec::with_capacity(passes);
    for _ in 0..passes {
        let started = Instant::now();
        let mut tx = db::begin_read(&pool).await?;
        let keys = db::task_queue::pending_keys(&mut tx, TaskId(0)).await?;
        tx.rollback().await?;
        ensure!(keys.len() as u64 == pending, "{} pending ids read", keys.len());
        reads.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let (read_p50, _) = percentiles(reads);
    // One task of each kind, as the API shows it: still pending, with the pass's reason.
    let mut reasons = Vec::new();
    for id in (FIRST..FIRST + 4.min(pending)).map(TaskId) {
        let view = tasks.get(id).await?;
        let reason = view.pending_reason.unwrap_or_default();
        ensure!(view.status == TaskStatus::Pending && !reason.contains("next pass"), "task {id}: {reason:?}");
        reasons.push(reason);
    }
    let report = json!({
        "database": if postgres.is_empty() { "sqlite" } else { "postgresql" },
        "pending_tasks": pending, "users": users, "nodes": nodes,
        "seed_seconds": seed_seconds,
        "pending_reasons_seen": reasons,
        "first_pass_ms": first_ms,
        "pass_p50_ms": p50, "pass_p99_ms": p99,
        "reading_the_pending_ids_p50_ms": read_p50,
        "pass_max_ms": times.iter().copied().fold(0.0, f64::max),
        "targets": {"pass_ms_max": 50.0},
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
