//! A burst of `--tasks` (default 1000) busybox tasks on one node, printed as JSON:
//! - accept rate: the whole burst as one batch request, and as one request per task from 8
//!   clients at once;
//! - drain: submit to all completed, against the same containers run straight through Docker
//!   (`docker run --rm`, same flags and mounts) at the same concurrency (the node's cores);
//! - CPU: host and runner CPU seconds per task, against dockerd and containerd's per container;
//! - memory: host and runner RSS after the burst.
//!
//! `scripts/build.sh --release` first, then:
//! `HAKURIVER_BIN_DIR=target/release cargo run --release -p hakuriver-bench --bin burst`.
//! Targets (issue [10]): accept ≥ 1000 tasks/s; drain ≤ 1.1× Docker's; host RSS after ≤ 80 MB.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use hakuriver_bench::{arg, docker_run_like_a_task, process_cpu_seconds, rss_mb};
use hakuriver_itest::images::{ensure_busybox, BUSYBOX_ENV, BUSYBOX_IMAGE};
use hakuriver_itest::{wait_for_node, ClusterDir};
use hakuriver_model::{NodeStatus, TaskStatus, TaskView};
use serde_json::{json, Value};

/// CPU seconds of every process named `name` (dockerd, containerd).
fn cpu_of(name: &str) -> f64 {
    let out = Command::new("pgrep").args(["-x", name]).output().map(|o| o.stdout).unwrap_or_default();
    String::from_utf8_lossy(&out)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter_map(|p| process_cpu_seconds(p).ok())
        .sum()
}

fn engine_cpu() -> f64 {
    cpu_of("dockerd") + cpu_of("containerd") + cpu_of("containerd-shim-runc-v2")
}

/// Polls until every task is final; all must have completed.
async fn drained(http: &reqwest::Client, base: &str, ids: &[String]) -> anyhow::Result<()> {
    for id in ids {
        loop {
            let t: TaskView = http.get(format!("{base}/api/status/{id}")).send().await?.json().await?;
            if t.status.is_final() {
                ensure!(t.status == TaskStatus::Completed, "task {id} ended {}: {:?}", t.status, t.error_message);
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let tasks: usize = arg("--tasks", 1000)?;
    ensure_busybox();
    let cluster = ClusterDir::with_timing(1.0, 10.0);
    let base = cluster.base_url();
    let host = cluster.start_host();
    let runner = cluster.start_runner("bench-burst");
    let node = wait_for_node(&base, "bench-burst", NodeStatus::Online, Duration::from_secs(30)).await;
    let cores = node.total_cores as usize;
    let http = reqwest::Client::new();
    let body = |i: usize| {
        json!({"command": "true", "arguments": [format!("{i}")], "targets": ["bench-burst"],
            "container_name": BUSYBOX_ENV, "required_cores": 1})
    };

    // One batch request.
    let cpu_before = process_cpu_seconds(host.pid())? + process_cpu_seconds(runner.pid())?;
    let started = Instant::now();
    let sets: Vec<Vec<String>> = (0..tasks).map(|i| vec![i.to_string()]).collect();
    let batch = json!({"command": "true", "argument_sets": sets, "targets": ["bench-burst"],
        "container_name": BUSYBOX_ENV, "required_cores": 1});
    let answer: Value = http.post(format!("{base}/api/submit")).json(&batch).send().await?.json().await?;
    let batch_accept = started.elapsed().as_secs_f64();
    let ids: Vec<String> = answer["task_ids"]
        .as_array()
        .context("task ids")?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    ensure!(ids.len() == tasks, "the batch made {} tasks: {answer}", ids.len());
    drained(&http, &base, &ids).await?;
    let batch_drain = started.elapsed().as_secs_f64();
    let ours_cpu = process_cpu_seconds(host.pid())? + process_cpu_seconds(runner.pid())? - cpu_before;
    let host_after_mb = rss_mb(host.pid())?;
    let runner_after_mb = rss_mb(runner.pid())?;

    // One request per task from 8 clients.
    let started = Instant::now();
    let clients = (0..8).map(|c| {
        let (http, base) = (http.clone(), base.clone());
        let mine: Vec<Value> = (c..tasks).step_by(8).map(body).collect();
        async move {
            let mut ids = Vec::with_capacity(mine.len());
            for b in mine {
                let answer: Value = http.post(format!("{base}/api/submit")).json(&b).send().await?.json().await?;
                ids.push(answer["task_ids"][0].as_str().context("a task id")?.to_string());
            }
            anyhow::Ok(ids)
        }
    });
    let ids = futures::future::try_join_all(clients).await?.concat();
    let requests_accept = started.elapsed().as_secs_f64();
    drained(&http, &base, &ids).await?;
    let requests_drain = started.elapsed().as_secs_f64();

    // The same containers straight through Docker, `cores` at a time.
    let shared = cluster.path().join("shared/shared_data");
    let temp = cluster.path().join("temp");
    std::fs::create_dir_all(&shared)?;
    std::fs::create_dir_all(&temp)?;
    let engine_before = engine_cpu();
    let started = Instant::now();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..cores)
        .map(|_| {
            let (next, shared, temp) = (next.clone(), shared.clone(), temp.clone());
            std::thread::spawn(move || -> anyhow::Result<()> {
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < tasks {
                    let status = docker_run_like_a_task(&shared, &temp, BUSYBOX_IMAGE, &["true"])
                        .output()
                        .context("docker run")?;
                    ensure!(status.status.success(), "docker run failed");
                }
                Ok(())
            })
        })
        .collect();
    for w in workers {
        w.join().map_err(|_| anyhow::anyhow!("a docker worker panicked"))??;
    }
    let docker_drain = started.elapsed().as_secs_f64();
    let engine_per_container = (engine_cpu() - engine_before) / tasks as f64;

    let per_second = |secs: f64| tasks as f64 / secs;
    let report = json!({
        "tasks": tasks,
        "concurrency": cores,
        "batch_accept_tasks_per_second": per_second(batch_accept),
        "requests_from_8_clients_accept_tasks_per_second": per_second(requests_accept),
        "batch_drain_seconds": batch_drain,
        "requests_drain_seconds": requests_drain,
        "docker_run_drain_seconds": docker_drain,
        "batch_drain_vs_docker": batch_drain / docker_drain,
        "requests_drain_vs_docker": requests_drain / docker_drain,
        "host_and_runner_cpu_seconds_per_task": ours_cpu / tasks as f64,
        "dockerd_and_containerd_cpu_seconds_per_docker_run": engine_per_container,
        "host_rss_after_burst_mb": host_after_mb,
        "runner_rss_after_burst_mb": runner_after_mb,
        "targets": {"accept_tasks_per_second_min": 1000.0, "drain_vs_docker_max": 1.1, "host_rss_after_burst_mb_max": 80.0},
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
