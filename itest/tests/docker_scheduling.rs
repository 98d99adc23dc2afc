// suite: docker
//! Lab scheduling on the real Docker engine: a container task and a VPS stopped at their time
//! limits (SIGTERM, the grace, SIGKILL) end `timeout`, their containers gone; a container task
//! waits for its parent; a busy container's CPU time and peak memory are measured.

use std::time::Duration;

use hakuriver_itest::fault_cluster::public_key;
use hakuriver_itest::images::{container_exists, ensure_busybox, ensure_sshd, BUSYBOX_ENV, SSHD_ENV};
use hakuriver_itest::{wait_for, wait_for_final, wait_for_node, ClusterDir};
use hakuriver_model::task::{task_container_name, vps_container_name};
use hakuriver_model::{NodeStatus, TaskStatus};
use serde_json::{json, Value};

const NODE: &str = "dock-sched";

async fn submit(base: &str, body: Value) -> String {
    let r = reqwest::Client::new().post(format!("{base}/api/submit")).json(&body).send().await.expect("submit");
    let status = r.status();
    let answer: Value = r.json().await.expect("JSON");
    assert_eq!(status, 202, "{answer}");
    answer["task_ids"][0].as_str().expect("a task id").to_string()
}

#[tokio::test]
async fn containers_and_a_vps_end_at_their_time_limits() {
    ensure_busybox();
    ensure_sshd();
    let cluster = ClusterDir::new();
    cluster.append_config("[limits]\nkill_grace = \"2s\"\n");
    let base = cluster.base_url();
    let _host = cluster.start_host();
    let _runner = cluster.start_runner(NODE);
    wait_for_node(&base, NODE, NodeStatus::Online, Duration::from_secs(60)).await;

    // PID 1 of the container ignores SIGTERM: the grace passes, then SIGKILL.
    let deaf = submit(
        &base,
        json!({"command": "sh", "arguments": ["-c", "trap '' TERM; sleep 300"], "targets": [NODE],
               "container_name": BUSYBOX_ENV, "time_limit_seconds": 2}),
    )
    .await;
    // And a task that runs only once it ended, however (afterany).
    let after = submit(
        &base,
        json!({"command": "echo", "arguments": ["after"], "targets": [NODE], "container_name": BUSYBOX_ENV,
               "depends_on": [deaf], "dependency": "afterany", "required_cores": 0}),
    )
    .await;
    let vps = submit(
        &base,
        json!({"task_type": "vps", "command": public_key(), "targets": [NODE], "container_name": SSHD_ENV,
               "time_limit_seconds": 4, "required_cores": 0}),
    )
    .await;

    let done = wait_for_final(&base, &deaf, Duration::from_secs(60)).await;
    assert_eq!((done.status, done.exit_code), (TaskStatus::Timeout, Some(137)), "{:?}", done.error_message);
    let message = done.error_message.unwrap_or_default();
    assert!(message.contains("Time limit of 2s reached") && message.contains("SIGKILL after 2s"), "{message}");
    let ran = (done.completed_at.expect("ended") - done.started_at.expect("started")).num_milliseconds();
    assert!(ran >= 4_000, "SIGKILL only after the grace: ran {ran} ms");
    wait_for("its container to go", Duration::from_secs(20), || async {
        (!container_exists(&task_container_name(deaf.parse().expect("an id")))).then_some(())
    })
    .await;
    let after = wait_for_final(&base, &after, Duration::from_secs(60)).await;
    assert_eq!(after.status, TaskStatus::Completed, "{:?}", after.error_message);

    let vps = wait_for_final(&base, &vps, Duration::from_secs(90)).await;
    assert_eq!(vps.status, TaskStatus::Timeout, "{:?}", vps.error_message);
    assert!(vps.error_message.unwrap_or_default().contains("Time limit of 4s"));
    assert!(!container_exists(&vps_container_name(vps.task_id)), "the VPS container is removed at its limit");
}

#[tokio::test]
async fn a_busy_containers_usage_is_measured() {
    const BUSY_NODE: &str = "dock-usage";
    ensure_busybox();
    let cluster = ClusterDir::new();
    let base = cluster.base_url();
    let _host = cluster.start_host();
    let _runner = cluster.start_runner(BUSY_NODE);
    wait_for_node(&base, BUSY_NODE, NodeStatus::Online, Duration::from_secs(60)).await;
    // 20 MB held in a variable, then busy for three seconds or so: the runner reads the
    // container's cgroup every second while it runs.
    let script = "x=$(head -c 20000000 /dev/zero | tr '\\0' a); end=$(($(date +%s)+4)); \
                  while [ $(date +%s) -lt $end ]; do :; done; echo ${#x}";
    let busy = submit(
        &base,
        json!({"command": "sh", "arguments": ["-c", script], "targets": [BUSY_NODE], "container_name": BUSYBOX_ENV,
               "required_cores": 1}),
    )
    .await;
    let done = wait_for_final(&base, &busy, Duration::from_secs(60)).await;
    assert_eq!(done.status, TaskStatus::Completed, "{:?}", done.error_message);
    let usage = done.usage.expect("usage recorded");
    assert!(usage.wall_seconds >= 3.0, "{usage:?}");
    let cpu = usage.cpu_seconds.expect("the container's CPU time");
    assert!(cpu >= 1.0 && cpu <= usage.wall_seconds + 1.0, "one core, busy most of the time: {usage:?}");
    assert!(usage.max_memory_bytes.expect("its peak memory") >= 20_000_000, "{usage:?}");
    let report: Value =
        reqwest::get(format!("{base}/api/usage?by=node&since=1h")).await.expect("usage").json().await.expect("JSON");
    assert_eq!(report["rows"][0]["name"], BUSY_NODE, "{report}");
    assert!(report["rows"][0]["cpu_hours"].as_f64().is_some_and(|h| h >= 1.0 / 3600.0), "{report}");
}
