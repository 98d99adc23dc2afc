//! Task output throughput, printed as JSON: a container writing `--mb` MiB (default 400) to its
//! standard output, run side by side `--runs` times (default 3, medians reported):
//! - `docker run` with the docker CLI capturing its output into a file (what the original did),
//! - `docker run` of the same command redirecting to a file on a bind mount inside the container
//!   (disk speed: no capture at all),
//! - the same task submitted to HakuRiver (submit → completed, the log in shared storage),
//!   with the runner's resident memory sampled while it runs,
//! - the same again on a cluster with `[paths] max_log_bytes` set above the output, so every byte
//!   is copied through the exec helper's pipe (the limit's path).
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
use hakuriver_itest::{wait_for_node, ClusterDir, Proc};
use hakuriver_model::{NodeStatus, TaskStatus, TaskView};
use serde_json::{json, Value};

const MB: f64 = 1_000_000.0;

fn file_len(path: &Path) -> anyhow::Result<u64> {
    Ok(std::fs::metadata(path).with_context(|| format!("{}", path.display()))?.len())
}

/// A host and runner, with `config` appended to their configuration.
async fn start(node: &str, config: &str) -> anyhow::Result<(ClusterDir, Vec<Proc>)> {
    let cluster = ClusterDir::with_timing(1.0, 10.0);
    if !config.is_empty() {
        cluster.append_config(config);
    }
    let procs = vec![cluster.start_host(), cluster.start_runner(node)];
    wait_for_node(&cluster.base_url(), node, NodeStatus::Online, Duration::from_secs(30)).await;
    Ok((cluster, procs))
}

/// What one task's run measured: seconds from submit to completed, the runner's peak resident
/// memory (MB) meanwhile, and seconds to read the whole log back over REST and over the follow
/// stream.
struct Run {
    secs: f64,
    runner_peak_mb: f64,
    rest_read_secs: f64,
    follow_secs: f64,
}

/// Runs `argv` as a task on `node` to completion and reads its log back. The stored log must
/// hold `bytes`; it is removed after.
async fn task(cluster: &ClusterDir, runner: &Proc, node: &str, argv: &[&str], bytes: u64) -> anyhow::Result<Run> {
    let (http, base) = (reqwest::Client::new(), cluster.base_url());
    let body = json!({"command": argv[0], "arguments": &argv[1..], "targets": [node],
        "container_name": BUSYBOX_ENV, "required_cores": 1});
    let started = Instant::now();
    let answer: Value = http.post(format!("{base}/api/submit")).json(&body).send().await?.json().await?;
    let id = answer["task_ids"][0].as_str().context("a task id")?.to_string();
    let mut peak = 0.0f64;
    loop {
        peak = peak.max(rss_mb(runner.pid())?);
        let t: TaskView = http.get(format!("{base}/api/status/{id}")).send().await?.json().await?;
        if t.status.is_final() {
            ensure!(t.status == TaskStatus::Completed, "task {id} ended {}: {:?}", t.status, t.error_message);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let log = cluster.path().join(format!("shared/task_outputs/{id}.out"));
    ensure!(file_len(&log)? == bytes, "the stored log is not whole");

    let started = Instant::now();
    let mut response = http.get(format!("{base}/api/task/{id}/stdout")).send().await?;
    let mut read = 0u64;
    while let Some(chunk) = response.chunk().await? {
        read += chunk.len() as u64;
    }
    ensure!(read == bytes, "the REST read was not whole: {read}");
    let rest_read_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let (followed, end) = hakuriver_itest::follow_log(&format!("{base}/api/task/{id}/stdout/follow")).await;
    ensure!(followed.len() as u64 == bytes && end.as_deref() == Some("completed"), "the follow stream was not whole");
    let follow_secs = started.elapsed().as_secs_f64();
    std::fs::remove_file(&log)?;
    Ok(Run { secs, runner_peak_mb: peak, rest_read_secs, follow_secs })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runs: usize = arg("--runs", 3)?;
    let mib: u64 = arg("--mb", 400)?;
    let bytes = mib * 1024 * 1024;
    let count = format!("count={mib}");
    let dd = ["dd", "if=/dev/zero", "bs=1M", count.as_str()];
    ensure_busybox();
    let (cluster, procs) = start("bench-logs", "").await?;
    let limit = format!("[paths]\nmax_log_bytes = {}\n", bytes * 2);
    let (limited_cluster, limited_procs) = start("bench-logs-limited", &limit).await?;
    let (shared, temp) = (cluster.path().join("shared/shared_data"), cluster.path().join("temp"));
    std::fs::create_dir_all(&shared)?;
    std::fs::create_dir_all(&temp)?;

    let (mut cli, mut redirect, mut ours, mut limited) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut rest_reads, mut follows) = (Vec::new(), Vec::new());
    let runner_before = rss_mb(procs[1].pid())?;
    let mut runner_peak = runner_before;
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
        let run = task(&cluster, &procs[1], "bench-logs", &dd, bytes).await?;
        ours.push(run.secs);
        rest_reads.push(run.rest_read_secs);
        follows.push(run.follow_secs);
        runner_peak = runner_peak.max(run.runner_peak_mb);
        let run = task(&limited_cluster, &limited_procs[1], "bench-logs-limited", &dd, bytes).await?;
        limited.push(run.secs);
    }

    let rate = |secs: f64| bytes as f64 / MB / secs;
    let (cli, redirect, ours, limited) = (median(cli), median(redirect), median(ours), median(limited));
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
        "hakuriver_with_max_log_bytes_s": limited,
        "hakuriver_with_max_log_bytes_mb_s": rate(limited),
        "rest_read_whole_mb_s": rate(median(rest_reads)),
        "follow_stream_whole_mb_s": rate(median(follows)),
        "runner_rss_mb_before": runner_before,
        "runner_rss_mb_peak": runner_peak,
        "targets": {"hakuriver_vs_docker_cli_min": 1.0, "hakuriver_mb_s_min": 100.0},
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
