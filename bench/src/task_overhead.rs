//! Control-plane overhead of a command task, printed as JSON: submit→completed through a real
//! host and runner, minus `docker run --rm` of the same image, command, flags and mounts; p50
//! and p90 over `--runs` sequential tasks (default 20). Bursts: the `burst` benchmark.
//!
//! Build first (`scripts/build.sh`), then: `cargo run --release -p hakuriver-bench --bin task-overhead`.
//! Target (issues [2], [10]): overhead p50 ≤ 30 ms.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use hakuriver_bench::{arg, docker_run_like_a_task, quantile};
use hakuriver_itest::images::{ensure_busybox, BUSYBOX_ENV, BUSYBOX_IMAGE};
use hakuriver_itest::{wait_for_node, ClusterDir};
use hakuriver_model::{NodeStatus, TaskStatus, TaskView};
use serde_json::{json, Value};

/// (p50, p90) of the samples.
fn p50_p90(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    (quantile(&samples, 0.5), quantile(&samples, 0.9))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runs: usize = arg("--runs", 20)?;
    ensure_busybox();
    // Production-like liveness (the defaults are 5 s × 6): a loaded 2-core machine must not
    // lose its node in the middle of the burst.
    let cluster = ClusterDir::with_timing(1.0, 10.0);
    let base = cluster.base_url();
    let _host = cluster.start_host();
    let _runner = cluster.start_runner("bench-node");
    wait_for_node(&base, "bench-node", NodeStatus::Online, Duration::from_secs(30)).await;
    let shared = cluster.path().join("shared/shared_data");
    let temp = cluster.path().join("temp");
    std::fs::create_dir_all(&shared)?;
    std::fs::create_dir_all(&temp)?;

    // Baseline: the same container as the runner creates, through the docker CLI.
    let mut baseline = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let status = docker_run_like_a_task(&shared, &temp, BUSYBOX_IMAGE, &["true"]).status().context("docker run")?;
        ensure!(status.success(), "docker run failed");
        baseline.push(ms(started.elapsed()));
    }

    let http = reqwest::Client::new();
    let submit = |cores: u32, container: &'static str| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let body = json!({"command": "true", "targets": ["bench-node"], "container_name": container, "required_cores": cores});
            let answer: Value = http.post(format!("{base}/api/submit")).json(&body).send().await?.json().await?;
            let id = answer["task_ids"][0].as_str().context("a task id")?.to_string();
            anyhow::Ok(id)
        }
    };
    let wait_done = |id: String, poll: Duration| {
        let http = http.clone();
        let base = base.clone();
        async move {
            loop {
                let t: TaskView = http.get(format!("{base}/api/status/{id}")).send().await?.json().await?;
                if t.status.is_final() {
                    ensure!(t.status == TaskStatus::Completed, "task {id} ended {}", t.status);
                    return anyhow::Ok(());
                }
                tokio::time::sleep(poll).await;
            }
        }
    };

    let mut ours = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let id = submit(1, BUSYBOX_ENV).await?;
        wait_done(id, Duration::from_millis(2)).await?;
        ours.push(ms(started.elapsed()));
    }

    let ((docker_p50, docker_p90), (ours_p50, ours_p90)) = (p50_p90(baseline), p50_p90(ours));
    let report = json!({
        "runs": runs,
        "docker_run_p50_ms": docker_p50,
        "hakuriver_submit_to_completed_p50_ms": ours_p50,
        "control_plane_overhead_p50_ms": ours_p50 - docker_p50,
        "docker_run_p90_ms": docker_p90,
        "hakuriver_submit_to_completed_p90_ms": ours_p90,
        "control_plane_overhead_p90_ms": ours_p90 - docker_p90,
        "targets": {"overhead_p50_ms_max": 30.0},
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
