//! Environment tarball throughput against the docker CLI on the same image, printed as JSON:
//! - create-tar (commit + save through the host) vs `docker commit` + `docker save -o`;
//! - a runner's load of the tarball (measured as the extra time of the first task that needs
//!   it) vs `docker load -i` (measured as the extra time of the first `docker run` after it).
//!
//! `HAKURIVER_BIN_DIR=target/release cargo run --release -p hakuriver-bench --bin env-throughput`.
//! - twenty tasks at once needing the image after it was removed: how many loads they cause.
//!
//! Targets (issues [3], [10]): at least 0.9 of the CLI's throughput; one load for the twenty.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use hakuriver_bench::{docker_run_like_a_task, median};
use hakuriver_itest::images::{build_busybox_image, docker_ok, ensure_busybox};
use hakuriver_itest::{wait_for_node, ClusterDir};
use hakuriver_model::{NodeStatus, TaskStatus, TaskView};
use serde_json::{json, Value};

const PAYLOAD_MB: usize = 256;
/// Rounds of the load comparison.
const LOAD_ROUNDS: usize = 3;

fn secs(started: Instant) -> f64 {
    started.elapsed().as_secs_f64()
}

fn docker(args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new("docker").args(args).status().context("docker CLI")?;
    ensure!(status.success(), "docker {args:?} failed");
    Ok(())
}

async fn task_seconds(http: &reqwest::Client, base: &str, env: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    let body = json!({"command": "true", "targets": ["bench-env"], "container_name": env, "required_cores": 0});
    let answer: Value = http.post(format!("{base}/api/submit")).json(&body).send().await?.json().await?;
    let id = answer["task_ids"][0].as_str().context("task id")?.to_string();
    loop {
        let t: TaskView = http.get(format!("{base}/api/status/{id}")).send().await?.json().await?;
        if t.status.is_final() {
            ensure!(t.status == TaskStatus::Completed, "task ended {}", t.status);
            return Ok(secs(started));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How many image loads the runner's log shows so far.
fn count_loads(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log).unwrap_or_default().matches("loading environment image").count()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ensure_busybox();
    let cluster = ClusterDir::with_timing(1.0, 30.0);
    let base = cluster.base_url();
    let _host = cluster.start_host();
    let _runner = cluster.start_runner("bench-env");
    wait_for_node(&base, "bench-env", NodeStatus::Online, Duration::from_secs(30)).await;
    let env = cluster.env_name("bench");
    let image = format!("hakuriver/{env}:base");
    let payload = "z".repeat(PAYLOAD_MB * 1024 * 1024);
    build_busybox_image(&image, &[("/data/payload", &payload)]);
    drop(payload);
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{base}/api/docker/host/create"))
        .json(&json!({"image_name": image, "container_name": env}))
        .send()
        .await?
        .json()
        .await?;
    ensure!(created["message"].is_string(), "create failed: {created}");

    // The CLI: commit + save.
    let cli_tar = cluster.path().join("cli.tar");
    let started = Instant::now();
    docker(&["commit", &env, "hakuriver-bench/cli:latest"])?;
    docker(&["save", "-o", cli_tar.to_str().context("path")?, "hakuriver-bench/cli:latest"])?;
    let cli_save = secs(started);
    let bytes = std::fs::metadata(&cli_tar)?.len() as f64;

    // The host: create-tar.
    let started = Instant::now();
    let answer: Value = http.post(format!("{base}/api/docker/create_tar/{env}")).send().await?.json().await?;
    let ours_save = secs(started);
    ensure!(answer["tarball_path"].is_string(), "create-tar failed: {answer}");

    // Loads, in alternating rounds (the page cache and the engine's state move between runs),
    // each as what a missing image adds to the first container of it: the CLI's `docker load`
    // then `docker run` (with a task's flags and mounts) less a second `docker run`; the
    // runner's first task after removing the image less a task whose image is there. Both include
    // the engine's first start of a freshly loaded image. The medians are compared.
    let (shared, temp) = (cluster.path().join("shared/shared_data"), cluster.path().join("temp"));
    std::fs::create_dir_all(&shared)?;
    std::fs::create_dir_all(&temp)?;
    let run = |image: &str| -> anyhow::Result<f64> {
        let started = Instant::now();
        let out = docker_run_like_a_task(&shared, &temp, image, &["true"]).output().context("docker run")?;
        ensure!(out.status.success(), "docker run {image} failed: {}", String::from_utf8_lossy(&out.stderr));
        Ok(secs(started))
    };
    let (mut cli_loads, mut ours_loads) = (Vec::new(), Vec::new());
    for _ in 0..LOAD_ROUNDS {
        docker(&["rmi", "--force", "hakuriver-bench/cli:latest"])?;
        let started = Instant::now();
        docker(&["load", "-i", cli_tar.to_str().context("path")?])?;
        run("hakuriver-bench/cli:latest")?;
        let cold = secs(started);
        cli_loads.push((cold - run("hakuriver-bench/cli:latest")?).max(1e-3));
        let warm = task_seconds(&http, &base, &env).await?;
        docker(&["rmi", "--force", &image])?;
        let cold = task_seconds(&http, &base, &env).await?;
        ours_loads.push((cold - warm).max(1e-3));
    }
    let cli_load = median(cli_loads);
    let ours_load = median(ours_loads);

    // Twenty tasks at once that all need the missing image: one load serves them all.
    docker(&["rmi", "--force", &image])?;
    let log = cluster.path().join("runner-bench-env.log");
    let loads_before = count_loads(&log);
    let twenty = futures::future::try_join_all((0..20).map(|_| task_seconds(&http, &base, &env))).await?;
    let loads_for_twenty = count_loads(&log) - loads_before;
    let twenty_max = twenty.iter().copied().fold(0.0, f64::max);

    let mb = bytes / 1e6;
    let report = json!({
        "image_megabytes": mb,
        "cli_commit_save_mb_per_s": mb / cli_save,
        "create_tar_mb_per_s": mb / ours_save,
        "create_tar_ratio": cli_save / ours_save,
        "cli_load_mb_per_s": mb / cli_load,
        "runner_load_mb_per_s": mb / ours_load,
        "runner_load_ratio": cli_load / ours_load,
        "tasks_needing_the_missing_image": 20,
        "image_loads_for_them": loads_for_twenty,
        "slowest_of_them_seconds": twenty_max,
        "target_ratio_min": 0.9,
        "target_loads_for_twenty": 1,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    docker_ok(&["rmi", "--force", "hakuriver-bench/cli:latest"]);
    if let Some(path) = answer["tarball_path"].as_str() {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}
