//! Task output throughput, printed as JSON: a container writing `--mb` MiB (default 400) to its
//! standard output, run side by side `--runs` times (default 3, medians reported):
//! - `docker run` with the docker CLI capturing its output into a file (what the original did),
//! - `docker run` of the same command redirecting to a file on a bind mount inside the container
//!   (disk speed: no capture at all),
//! - the same task submitted to HakuRiver (submit → completed, the log in shared storage),
//!   with the runner's resident memory sampled while it runs.
//!
//! Build first (`scripts/build.sh`, release: `cargo build --release --bins`), then:
//! `HAKURIVER_BIN_DIR=target/release cargo run --release -p hakuriver-bench --bin log-throughput`.
//! Targets (issue [12]): at least the docker CLI's rate, and ≥ 100 MB/s.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use hakuriver_bench::{arg, docker_run_like_a_task, median, rss_mb};
use hakuriver_itest::images::{ensure_busybox, BUSYBOX_ENV, BUSYBOX_IMAGE};
use hakuriver_itest::{wait_for_node, ClusterDir};
use hakuriver_model::{NodeStatus, TaskStatus, TaskView};
use serde_json::{json, Value};

const MB: f64 = 1_000_000.0;

fn file_len(path: &Path) -> anyhow::Result<u64> {
    Ok(std::fs::metadata(path).with_context(|| format!("{}", path.display()))?.len())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runs: usize = arg("--runs", 3)?;
    let mib: u64 = arg("--mb", 400)?;
    let bytes = mib * 1024 * 1024;
    let count = format!("count={mib}");
    let dd = ["dd", "if=/dev/zero", "bs=1M", count.as_str()];
    ensure_busybox();
    let cluster = ClusterDir::with_timing(1.0, 10.0);
    let base = cluster.base_url();
    let _host = cluster.start_host();
    let runner = cluster.start_runner("bench-logs");
    wait_for_node(&base, "bench-logs", NodeStatus::Online, Duration::from_secs(30)).await;
    let (shared, temp) = (cluster.path().join("shared/shared_data"), cluster.path().join("temp"));
    std::fs::create_dir_all(&shared)?;
    std::fs::create_dir_all(&temp)?;
    let http = reqwest::Client::new();

    let (mut cli, mut redirect, mut ours, mut runner_peak) = (Vec::new(), Vec::new(), Vec::new(), 0.0f64);
    let runner_before = rss_mb(runner.pid())?;
    for round in 0..runs {
        // The docker CLI capturing the container's output into a file in shared storage.
        let captured = shared.join(format!("cli-{round}.out"));
        let started = Instant::now();
        let status = docker_run_like_a_task(&shared, &temp, BUSYBOX_IMAGE, &dd)
            .stdout(std::fs::File::create(&captured)?)
            .stderr(Stdio::null())
            .status()
            .context("docker run")?;
        ensure!(status.success() && file_len(&captured)? == bytes, "docker run with the CLI capturing failed");
        cli.push(started.elapsed().as_secs_f64());
        std::fs::remove_file(&captured)?;

        // The same command redirecting to a file on the bind mount, inside the container.
        let script = format!("dd if=/dev/zero bs=1M count={mib} of=/shared/redirect-{round}.out 2>/dev/null");
        let started = Instant::now();
        let status = docker_run_like_a_task(&shared, &temp, BUSYBOX_IMAGE, &["sh", "-c", &script])
            .status()
            .context("docker run")?;
        let redirected = shared.join(format!("redirect-{round}.out"));
        ensure!(status.success() && file_len(&redirected)? == bytes, "docker run redirecting failed");
        redirect.push(started.elapsed().as_secs_f64());
        std::fs::remove_file(&redirected)?;

        // HakuRiver: submit → completed, the whole log in task_outputs/.
        let body = json!({"command": dd[0], "arguments": &dd[1..], "targets": ["bench-logs"],
            "container_name": BUSYBOX_ENV, "required_cores": 1});
        let started = Instant::now();
        let answer: Value = http.post(format!("{base}/api/submit")).json(&body).send().await?.json().await?;
        let id = answer["task_ids"][0].as_str().context("a task id")?.to_string();
        loop {
            runner_peak = runner_peak.max(rss_mb(runner.pid())?);
            let t: TaskView = http.get(format!("{base}/api/status/{id}")).send().await?.json().await?;
            if t.status.is_final() {
                ensure!(t.status == TaskStatus::Completed, "task {id} ended {}: {:?}", t.status, t.error_message);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        ours.push(started.elapsed().as_secs_f64());
        let log = cluster.path().join(format!("shared/task_outputs/{id}.out"));
        ensure!(file_len(&log)? == bytes, "the stored log is not whole");
        std::fs::remove_file(&log)?;
    }

    let rate = |secs: f64| bytes as f64 / MB / secs;
    let (cli, redirect, ours) = (median(cli), median(redirect), median(ours));
    let report = json!({
        "runs": runs,
        "output_mb": bytes as f64 / MB,
        "docker_cli_capture_s": cli,
        "docker_cli_capture_mb_s": rate(cli),
        "in_container_redirect_s": redirect,
        "in_container_redirect_mb_s": rate(redirect),
        "hakuriver_s": ours,
        "hakuriver_mb_s": rate(ours),
        "hakuriver_vs_docker_cli": cli / ours,
        "hakuriver_vs_in_container_redirect": redirect / ours,
        "runner_rss_mb_before": runner_before,
        "runner_rss_mb_peak": runner_peak,
        "targets": {"hakuriver_vs_docker_cli_min": 1.0, "hakuriver_mb_s_min": 100.0},
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
