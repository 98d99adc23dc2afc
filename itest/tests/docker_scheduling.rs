// suite: docker
//! Lab scheduling on the real Docker engine: a container task and a VPS stopped at their time
//! limits (SIGTERM, the grace, SIGKILL) end `timeout`, their containers gone; a container task
//! waits for its parent.

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
