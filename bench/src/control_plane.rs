//! The host's own costs, without Docker, printed as JSON:
//! - API latency with `--tasks` (default 100 000) tasks in the database: `status/{id}`, a task
//!   list page and `nodes`, p50/p99 under 4 concurrent clients;
//! - heartbeats: `--runners` (default 1000) simulated runners heartbeating every 5 s for
//!   `--secs` (default 60): the host's CPU as a share of one core, and nodes wrongly offline;
//! - memory: host RSS idle (empty database), with the tasks loaded, and after the heartbeats;
//!   runner RSS idle;
//! - single submits: `--submits` (default 2000) one-task requests from 8 clients, each task waiting
//!   for a running one (`depends_on`), so the queue grows as they arrive; with the host's and
//!   this client's CPU per submit.
//!
//! `scripts/build.sh --release` first, then:
//! `HAKURIVER_BIN_DIR=target/release cargo run --release -p hakuriver-bench --bin control-plane`
//! (`--tasks 1000000` for issue [15]'s figures; `--postgres postgres://…/empty_db` to keep the
//! state in PostgreSQL instead of a SQLite file).
//! Targets (issues [10], [15]): status p99 ≤ 5 ms, page p99 ≤ 20 ms, nodes p99 ≤ 5 ms; heartbeat
//! CPU ≤ 10 % of a core with no node offline; host RSS idle ≤ 30 MB; runner RSS idle ≤ 15 MB;
//! single submits ≥ 2000 a second.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use hakuriver_bench::{arg, percentiles, process_cpu_seconds, rss_mb};
use hakuriver_host::db::{self, tasks::TaskRow, Location};
use hakuriver_itest::{wait_for_node, ClusterDir};
use hakuriver_model::{NodeStatus, TaskId, TaskStatus, TaskType};
use serde_json::json;

/// `n` completed tasks, as a long-used cluster has them, written straight into the database.
async fn seed(location: Location<'_>, n: u64) -> anyhow::Result<Vec<TaskId>> {
    let pool = db::open(location).await?;
    let now = 1_700_000_000_000i64;
    let mut ids = Vec::with_capacity(usize::try_from(n)?);
    for chunk in (0..n).collect::<Vec<_>>().chunks(5000) {
        let mut tx = db::begin_write(&pool).await?;
        for &i in chunk {
            let id = TaskId(1_000_000 + i);
            let at = now + i64::try_from(i)? * 10;
            let row = TaskRow {
                task_id: id,
                batch_id: Some(id),
                task_type: TaskType::Command,
                command: "python".into(),
                arguments: vec!["train.py".into(), format!("--seed={i}")],
                env_vars: [("EPOCHS".to_string(), "10".to_string())].into(),
                required_cores: 1,
                required_memory_bytes: None,
                required_gpus: Vec::new(),
                target_node: Some(format!("node-{}", i % 20)),
                target_numa_node_id: None,
                assigned_node: Some(format!("node-{}", i % 20)),
                container_name: "hakuriver-base".into(),
                privileged: false,
                additional_mounts: Vec::new(),
                status: TaskStatus::Completed,
                exit_code: Some(0),
                error_message: None,
                submitted_at_ms: at,
                started_at_ms: Some(at + 5),
                completed_at_ms: Some(at + 9),
                assigned_at_ms: Some(at + 1),
                assignment_suspicion_count: 0,
                ssh_port: None,
                owner: None,
                run_as: None,
                log_bytes_dropped: None,
                image: None,
                name: Some(format!("sweep-{}", i % 100)),
                time_limit_seconds: None,
                depends_on: Vec::new(),
                dependency: None,
                retries: 0,
                attempt: 1,
                priority: 0,
                measured: Default::default(),
            };
            db::tasks::insert(&mut tx, &row).await?;
            ids.push(id);
        }
        tx.commit().await?;
    }
    pool.close().await;
    Ok(ids)
}

/// Latencies (ms) of `per_client` requests from each of 4 clients at once; `url(i)` names the
/// request `i`.
async fn latencies(
    http: &reqwest::Client,
    per_client: usize,
    url: impl Fn(usize) -> String,
) -> anyhow::Result<Vec<f64>> {
    let clients = (0..4).map(|c| {
        let urls: Vec<String> = (0..per_client).map(|i| url(c * per_client + i)).collect();
        let http = http.clone();
        async move {
            let mut times = Vec::with_capacity(urls.len());
            for u in urls {
                let started = Instant::now();
                let r = http.get(&u).send().await?;
                ensure!(r.status().is_success(), "{u}: HTTP {}", r.status());
                r.bytes().await?;
                times.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::Ok(times)
        }
    });
    Ok(futures::future::try_join_all(clients).await?.concat())
}

/// Single-task submits from 8 clients, each task waiting for a running `sleep` (so they queue up
/// as they arrive): submits a second. The parent is killed afterwards, failing them all.
async fn single_submits(http: &reqwest::Client, base: &str, n: usize) -> anyhow::Result<f64> {
    let parent = json!({"command": "sleep", "arguments": ["600"], "targets": ["bench-real"],
        "container_name": "NULL", "required_cores": 0});
    let answer: serde_json::Value = http.post(format!("{base}/api/submit")).json(&parent).send().await?.json().await?;
    let parent = answer["task_ids"][0].as_str().context("the parent's id")?.to_string();
    let started = Instant::now();
    let clients = (0..8).map(|c| {
        let (http, base, parent) = (http.clone(), base.to_string(), parent.clone());
        async move {
            for i in (c..n).step_by(8) {
                let body = json!({"command": "echo", "arguments": [i.to_string()], "targets": ["bench-real"],
                    "container_name": "NULL", "depends_on": [parent]});
                let r = http.post(format!("{base}/api/submit")).json(&body).send().await?;
                ensure!(r.status().as_u16() == 202, "submit {i}: HTTP {}", r.status());
                r.bytes().await?;
            }
            anyhow::Ok(())
        }
    });
    futures::future::try_join_all(clients).await?;
    let per_second = n as f64 / started.elapsed().as_secs_f64();
    http.post(format!("{base}/api/kill/{parent}")).send().await?;
    Ok(per_second)
}

/// Registers one simulated runner; false when the host refused.
async fn register(http: &reqwest::Client, base: &str, name: &str) -> bool {
    let body = json!({"hostname": name, "total_cores": 16, "total_ram_bytes": 64u64 << 30,
        "runner_url": "http://127.0.0.1:9"});
    http.post(format!("{base}/api/register")).json(&body).send().await.is_ok_and(|r| r.status().is_success())
}

/// One simulated runner's heartbeats, every 5 s (starting at `offset`) until `until`. Returns
/// how many the host refused.
async fn heartbeats(http: reqwest::Client, base: String, name: String, offset: Duration, until: Instant) -> u32 {
    tokio::time::sleep(offset).await;
    let mut refused = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    while Instant::now() < until {
        tick.tick().await;
        let beat = json!({"running_tasks": [], "cpu_percent": 12.5, "memory_percent": 40.0,
            "memory_used_bytes": 26u64 << 30, "memory_total_bytes": 64u64 << 30});
        let ok = http.put(format!("{base}/api/heartbeat/{name}")).json(&beat).send().await;
        if !ok.is_ok_and(|r| r.status().is_success()) {
            refused += 1;
        }
    }
    refused
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let tasks: u64 = arg("--tasks", 100_000)?;
    let runners: usize = arg("--runners", 1000)?;
    let secs: u64 = arg("--secs", 60)?;
    let requests: usize = arg("--requests", 500)?;
    let submits: usize = arg("--submits", 2000)?;
    let postgres: String = arg("--postgres", String::new())?;
    // Production timing: heartbeats every 5 s, offline after 30 s.
    let cluster = ClusterDir::with_timing(5.0, 6.0);
    let base = cluster.base_url();
    let http = reqwest::Client::new();

    if !postgres.is_empty() {
        cluster.append_config(&format!("[database]\nurl = \"{postgres}\"\n"));
    }
    // Idle: an empty database, no runner.
    let mut host = cluster.start_host();
    hakuriver_itest::wait_for("the host", Duration::from_secs(30), || hakuriver_itest::nodes(&base)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let host_idle_mb = rss_mb(host.pid())?;
    drop(host);

    let seeded = Instant::now();
    let file = cluster.path().join("host.db");
    let ids = seed(if postgres.is_empty() { Location::File(&file) } else { Location::Url(&postgres) }, tasks).await?;
    let seed_secs = seeded.elapsed().as_secs_f64();
    host = cluster.start_host();
    hakuriver_itest::wait_for("the host", Duration::from_secs(60), || hakuriver_itest::nodes(&base)).await;
    let runner = cluster.start_runner("bench-real");
    wait_for_node(&base, "bench-real", NodeStatus::Online, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let runner_idle_mb = rss_mb(runner.pid())?;

    let n = ids.len();
    let status = latencies(&http, requests, |i| format!("{base}/api/status/{}", ids[(i * 7919) % n].0)).await?;
    let page = latencies(&http, requests / 5, |i| {
        let cursor = ids[(i * 104_729) % n].0;
        format!("{base}/api/tasks/page?limit=50&cursor={cursor}")
    })
    .await?;
    let nodes = latencies(&http, requests, |_| format!("{base}/api/nodes")).await?;
    let host_loaded_mb = rss_mb(host.pid())?;
    let (host_cpu_before, own_cpu_before) =
        (process_cpu_seconds(host.pid())?, process_cpu_seconds(std::process::id())?);
    let submits_per_second = single_submits(&http, &base, submits).await?;
    // CPU per submit, in ms: the host's, and this client's (the 2 cores are shared).
    let per_submit = |before: f64, pid: u32| -> anyhow::Result<f64> {
        Ok((process_cpu_seconds(pid)? - before) * 1000.0 / submits as f64)
    };
    let host_cpu_ms_per_submit = per_submit(host_cpu_before, host.pid())?;
    let client_cpu_ms_per_submit = per_submit(own_cpu_before, std::process::id())?;

    // Registration first (once per runner start), then the heartbeats alone: the host's CPU
    // over the heartbeat window, while nothing else asks it anything.
    let names: Vec<String> = (0..runners).map(|i| format!("sim-{i:04}")).collect();
    let registered = futures::future::join_all(names.iter().map(|name| register(&http, &base, name))).await;
    let unregistered = registered.iter().filter(|ok| !**ok).count();
    ensure!(unregistered == 0, "{unregistered} simulated runners could not register");
    let until = Instant::now() + Duration::from_secs(secs);
    let cpu_before = process_cpu_seconds(host.pid())?;
    let window = Instant::now();
    let sims = names.into_iter().enumerate().map(|(i, name)| {
        let offset = Duration::from_millis(u64::try_from(i * 5000 / runners.max(1)).unwrap_or(0));
        heartbeats(http.clone(), base.clone(), name, offset, until)
    });
    let refused: u32 = futures::future::join_all(sims).await.into_iter().sum();
    let host_cpu = (process_cpu_seconds(host.pid())? - cpu_before) / window.elapsed().as_secs_f64();
    let listed = hakuriver_itest::nodes(&base).await.context("the node list")?;
    let offline = listed.iter().filter(|n| n.hostname.starts_with("sim-") && n.status != NodeStatus::Online).count();
    let host_after_heartbeats_mb = rss_mb(host.pid())?;

    let (status_p50, status_p99) = percentiles(status);
    let (page_p50, page_p99) = percentiles(page);
    let (nodes_p50, nodes_p99) = percentiles(nodes);
    let report = json!({
        "database": if postgres.is_empty() { "sqlite" } else { "postgresql" },
        "tasks_in_database": n,
        "seed_seconds": seed_secs,
        "api_clients": 4,
        "status_p50_ms": status_p50, "status_p99_ms": status_p99,
        "page_of_50_p50_ms": page_p50, "page_of_50_p99_ms": page_p99,
        "nodes_p50_ms": nodes_p50, "nodes_p99_ms": nodes_p99,
        "single_submits": submits, "single_submits_per_second": submits_per_second,
        "host_cpu_ms_per_submit": host_cpu_ms_per_submit, "client_cpu_ms_per_submit": client_cpu_ms_per_submit,
        "simulated_runners": runners,
        "heartbeat_window_seconds": secs,
        "heartbeats_refused": refused,
        "host_cpu_share_of_one_core": host_cpu,
        "nodes_wrongly_offline": offline,
        "host_rss_idle_mb": host_idle_mb,
        "host_rss_with_tasks_mb": host_loaded_mb,
        "host_rss_after_heartbeats_mb": host_after_heartbeats_mb,
        "runner_rss_idle_mb": runner_idle_mb,
        "targets": {"status_p99_ms_max": 5.0, "page_p99_ms_max": 20.0, "nodes_p99_ms_max": 5.0,
            "host_cpu_share_max": 0.10, "nodes_wrongly_offline_max": 0,
            "host_rss_idle_mb_max": 30.0, "runner_rss_idle_mb_max": 15.0, "single_submits_per_second_min": 2000.0},
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
