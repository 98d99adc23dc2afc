// suite: faults
//! Faults through the real host, runner and Docker engine: the host and the runner SIGKILLed
//! mid-work, in loops. Every task must end with the truth: the right status and exit code, its
//! whole log, and never a second run (each task prints one line; a second run would print it
//! twice). Each test prints `faults: injected=N checked=N wrong=N`; scripts/test-all.sh adds
//! them up. The machine-touching faults: `faults_destructive.rs`; load: `faults_load.rs`.

use std::time::Duration;

use hakuriver_itest::fault_cluster::*;
use hakuriver_itest::images::{container_exists, container_state, ensure_busybox, ensure_sshd, BUSYBOX_ENV, SSHD_ENV};
use hakuriver_itest::{wait_for, wait_for_node, ClusterDir};
use hakuriver_model::{NodeStatus, TaskStatus};
use serde_json::json;

#[tokio::test]
async fn the_host_killed_three_times_while_a_queue_drains() {
    let (dir, mut host, _runner) = cluster("fault-host");
    let base = dir.base_url();
    wait_for_node(&base, "fault-host", NodeStatus::Online, START).await;
    let mut faults = Faults::default();
    // One task paused through all of it; twelve more than the node's cores, so most wait.
    let paused = submit(
        &base,
        json!({"command": "sh", "arguments": ["-c", "echo paused-task; sleep 3"],
        "targets": ["fault-host"], "container_name": BUSYBOX_ENV, "required_cores": 1}),
    )
    .await;
    wait_status(&base, &paused, TaskStatus::Running).await;
    let r = reqwest::Client::new().post(format!("{base}/command/{paused}/pause")).send().await.expect("pause");
    assert_eq!(r.status(), 200);
    let mut ids = Vec::new();
    for i in 0..12 {
        let line = format!("task-{i}");
        ids.push(
            submit(
                &base,
                json!({"command": "sh", "arguments": ["-c", format!("echo {line}; sleep 1")],
            "targets": ["fault-host"], "container_name": BUSYBOX_ENV, "required_cores": 1}),
            )
            .await,
        );
    }
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        host.kill();
        faults.injected += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
        host = dir.start_host();
        wait_for("the host back", START, || async { task(&base, &paused).await }).await;
    }
    let view = task(&base, &paused).await.expect("the paused task");
    faults.check(view.status == TaskStatus::Paused, || format!("paused task is {}", view.status));
    let r = reqwest::Client::new().post(format!("{base}/command/{paused}/resume")).send().await.expect("resume");
    assert_eq!(r.status(), 200);
    for (i, id) in ids.iter().enumerate() {
        let done = wait_status(&base, id, TaskStatus::Completed).await;
        let log = stdout(&base, id).await;
        let want = format!("task-{i}\n");
        faults.check(done.exit_code == Some(0) && log == want, || {
            format!("task {i} ({id}): exit {:?}, log {log:?}", done.exit_code)
        });
    }
    let done = wait_status(&base, &paused, TaskStatus::Completed).await;
    let log = stdout(&base, &paused).await;
    faults.check(log == "paused-task\n", || {
        format!("the paused task ran again or lost output: {log:?} ({:?})", done.exit_code)
    });
    faults.report();
}

#[tokio::test]
async fn a_task_assigning_when_the_host_dies_runs_once() {
    let (dir, mut host, mut runner) = cluster("fault-assign");
    let base = dir.base_url();
    wait_for_node(&base, "fault-assign", NodeStatus::Online, START).await;
    let mut faults = Faults::default();
    // The runner is down (still counted online): the task is placed, and its dispatch waits.
    runner.kill();
    let id = submit(
        &base,
        json!({"command": "echo", "arguments": ["ran-once"], "targets": ["fault-assign"], "container_name": BUSYBOX_ENV}),
    )
    .await;
    wait_status(&base, &id, TaskStatus::Assigning).await;
    host.kill();
    faults.injected += 1;
    host = dir.start_host();
    wait_for("the host back", START, || async { task(&base, &id).await }).await;
    runner = dir.start_runner("fault-assign");
    let done = wait_for("the task to end", Duration::from_secs(90), || async {
        task(&base, &id).await.filter(|t| t.status.is_final())
    })
    .await;
    let log = stdout(&base, &id).await;
    faults.check(done.status == TaskStatus::Completed && log == "ran-once\n", || {
        format!("the task assigning at the host's death: {:?} ({:?}), log {log:?}", done.status, done.error_message)
    });
    drop((host, runner));
    faults.report();
}

#[tokio::test]
async fn a_runner_killed_mid_task_takes_its_containers_back() {
    let (dir, _host, mut runner) = cluster("fault-runner");
    let base = dir.base_url();
    wait_for_node(&base, "fault-runner", NodeStatus::Online, START).await;
    let mut faults = Faults::default();
    let task_body = |script: &str| json!({"command": "sh", "arguments": ["-c", script], "targets": ["fault-runner"], "container_name": BUSYBOX_ENV});
    let long = submit(&base, task_body("echo start; sleep 5; echo end; exit 7")).await;
    let short = submit(&base, task_body("echo b-start; sleep 1; echo b-end; exit 5")).await;
    wait_status(&base, &long, TaskStatus::Running).await;
    wait_status(&base, &short, TaskStatus::Running).await;

    // SIGKILL: the containers run on without their runner; the short one ends meanwhile.
    runner.kill();
    faults.injected += 1;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(container_state(&format!("hakuriver-task-{short}")).as_deref(), Some("exited"));
    assert_eq!(container_state(&format!("hakuriver-task-{long}")).as_deref(), Some("running"));
    let _runner = dir.start_runner("fault-runner");

    // Both are reported with their real exit codes and whole logs (each line once).
    for (id, code, want) in [(&short, 5, "b-start\nb-end\n"), (&long, 7, "start\nend\n")] {
        let done = wait_status(&base, id, TaskStatus::Failed).await;
        let log = stdout(&base, id).await;
        let gone = !container_exists(&format!("hakuriver-task-{id}"));
        faults.check(done.exit_code == Some(code) && log == want && gone, || {
            format!("task {id}: exit {:?}, log {log:?}, container removed: {gone}", done.exit_code)
        });
    }
    faults.report();
}

#[tokio::test]
async fn a_node_gone_loses_its_tasks_and_a_vps_comes_back_with_it() {
    ensure_busybox();
    ensure_sshd();
    // Offline after 2 s of silence.
    let dir = ClusterDir::with_timing(0.5, 4.0);
    let base = dir.base_url();
    let _host = dir.start_host();
    let mut runner = dir.start_runner("fault-gone");
    wait_for_node(&base, "fault-gone", NodeStatus::Online, START).await;
    let mut faults = Faults::default();
    let command = submit(
        &base,
        json!({"command": "sleep", "arguments": ["300"], "targets": ["fault-gone"],
        "container_name": BUSYBOX_ENV}),
    )
    .await;
    let key = public_key();
    let vps = submit(
        &base,
        json!({"task_type": "vps", "command": key, "targets": ["fault-gone"],
        "container_name": SSHD_ENV, "queue": true}),
    )
    .await;
    wait_status(&base, &command, TaskStatus::Running).await;
    let first = wait_status(&base, &vps, TaskStatus::Running).await;
    assert!(first.ssh_port.is_some());

    // Gone: after the timeout the node is offline and both tasks are lost, with the reason.
    runner.kill();
    faults.injected += 1;
    wait_for_node(&base, "fault-gone", NodeStatus::Offline, START).await;
    for id in [&command, &vps] {
        let t = wait_status(&base, id, TaskStatus::Lost).await;
        let reason = t.error_message.clone().unwrap_or_default();
        faults.check(reason.contains("went offline"), || format!("task {id} lost without the reason: {reason:?}"));
    }

    // Back: the VPS, still running, is running again; the command task stays lost and the
    // runner stops what is left of it.
    let _runner = dir.start_runner("fault-gone");
    wait_for_node(&base, "fault-gone", NodeStatus::Online, START).await;
    let back = wait_status(&base, &vps, TaskStatus::Running).await;
    faults.check(back.ssh_port.is_some() && back.exit_code.is_none(), || format!("VPS back as {back:?}"));
    let container = format!("hakuriver-task-{command}");
    wait_for("the lost task's container to go", START, || async { (!container_exists(&container)).then_some(()) })
        .await;
    let still = task(&base, &command).await.expect("the command task");
    faults.check(still.status == TaskStatus::Lost, || format!("the lost command task became {}", still.status));
    let r = reqwest::Client::new().post(format!("{base}/kill/{vps}")).send().await.expect("kill the VPS");
    assert_eq!(r.status(), 202);
    let vps_container = format!("hakuriver-vps-{vps}");
    wait_for("the VPS container to go", START, || async { (!container_exists(&vps_container)).then_some(()) }).await;
    faults.report();
}

#[tokio::test]
async fn a_runner_killed_in_a_loop_loses_no_task() {
    let (dir, _host, mut runner) = cluster("fault-loop");
    let base = dir.base_url();
    wait_for_node(&base, "fault-loop", NodeStatus::Online, START).await;
    let mut faults = Faults::default();
    // Ten tasks at once (no cores reserved), ending one after another across the kills, some
    // while the runner is down, some while it is up; each with its own exit code.
    let mut tasks = Vec::new();
    for i in 0..10u32 {
        let script = format!("echo t{i}-start; sleep {}; echo t{i}-end; exit {}", 1 + i / 2, i % 3);
        let id = submit(
            &base,
            json!({"command": "sh", "arguments": ["-c", script], "targets": ["fault-loop"],
            "container_name": BUSYBOX_ENV, "required_cores": 0}),
        )
        .await;
        tasks.push((id, i));
    }
    for (id, _) in &tasks {
        wait_status(&base, id, TaskStatus::Running).await;
    }
    // One more task submitted while the runner is down for the last time: its dispatch finds
    // nobody listening, and is repeated until the runner is back.
    let mut late = None;
    for round in 0..4 {
        runner.kill();
        faults.injected += 1;
        if round == 3 {
            let body = json!({"command": "echo", "arguments": ["sent-while-down"], "targets": ["fault-loop"],
                "container_name": BUSYBOX_ENV, "required_cores": 0});
            late = Some(submit(&base, body).await);
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
        runner = dir.start_runner("fault-loop");
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
    for (id, i) in &tasks {
        let done = wait_for(&format!("task {id} to end"), Duration::from_secs(90), || async {
            task(&base, id).await.filter(|t| t.status.is_final())
        })
        .await;
        let want_status = if i % 3 == 0 { TaskStatus::Completed } else { TaskStatus::Failed };
        let log = stdout(&base, id).await;
        let want_log = format!("t{i}-start\nt{i}-end\n");
        faults.check(done.status == want_status && done.exit_code == Some(i64::from(i % 3)) && log == want_log, || {
            format!(
                "task {i} ({id}): {:?} exit {:?} ({:?}), log {log:?}",
                done.status, done.exit_code, done.error_message
            )
        });
    }
    let late = late.expect("the task sent while the runner was down");
    let done = wait_for("the late task to end", Duration::from_secs(90), || async {
        task(&base, &late).await.filter(|t| t.status.is_final())
    })
    .await;
    let log = stdout(&base, &late).await;
    faults.check(done.status == TaskStatus::Completed && log == "sent-while-down\n", || {
        format!("the task sent while the runner was down: {:?} ({:?}), log {log:?}", done.status, done.error_message)
    });
    faults.report();
}
