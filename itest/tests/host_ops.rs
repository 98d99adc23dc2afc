// suite: integration
//! Running the host as an admin does: logs in the chosen format and level, and a stop by SIGTERM
//! (what `systemctl stop` sends) that closes websockets properly and loses nothing.

use std::time::Duration;

use futures::StreamExt;
use hakuriver_itest::{wait_for, wait_for_node, ClusterDir, Proc};
use hakuriver_model::{NodeStatus, TaskView};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn logs_are_json_lines_when_asked() {
    let cluster = ClusterDir::new();
    let mut command = cluster.command("hakuriver-host");
    command
        .env_remove("RUST_LOG")
        .env("HAKURIVER_LOGGING_LOG_FORMAT", "json")
        .env("HAKURIVER_LOGGING_LOG_LEVEL", "debug");
    let mut host = Proc::spawn("host", command, cluster.path().join("host.log"));
    let base = cluster.base_url();
    wait_for("the host", Duration::from_secs(20), || hakuriver_itest::nodes(&base)).await;
    assert!(host.terminate(Duration::from_secs(10)));
    let log = host.log();
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() >= 3, "{log}");
    assert!(lines.iter().all(|l| l["level"].is_string() && l["timestamp"].is_string() && l["fields"].is_object()));
    assert!(lines.iter().any(|l| l["level"] == "DEBUG"), "the configured level: {log}");
    assert!(lines.iter().any(|l| l["fields"]["message"] == "host stopped"), "{log}");

    // A level that is not one is refused at start, naming the key (with `--check`, so nothing
    // would be served even if the refusal were missed).
    let out = cluster
        .command("hakuriver-host")
        .arg("--check")
        .env_remove("RUST_LOG")
        .env("HAKURIVER_LOGGING_LOG_LEVEL", "info,loud=[")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("logging.log_level \"info,loud=[\""), "{out:?}");
}

#[tokio::test]
async fn sigterm_closes_websockets_with_going_away_and_loses_nothing() {
    let cluster = ClusterDir::new();
    let base = cluster.base_url();
    let mut host = cluster.start_host();
    let _runner = cluster.start_runner("ops-node");
    wait_for_node(&base, "ops-node", NodeStatus::Online, Duration::from_secs(20)).await;
    let http = reqwest::Client::new();
    let body = json!({"command": "echo", "arguments": ["kept"], "container_name": "NULL", "targets": ["ops-node"]});
    let answer: Value = http.post(format!("{base}/api/submit")).json(&body).send().await.unwrap().json().await.unwrap();
    let id = answer["task_ids"][0].as_str().unwrap().to_string();
    hakuriver_itest::wait_for_final(&base, &id, Duration::from_secs(30)).await;

    let url = format!("ws://127.0.0.1:{}/api/events", cluster.host_port);
    let (mut events, _) = tokio_tungstenite::connect_async(url.as_str()).await.unwrap();
    let first = events.next().await.unwrap().unwrap();
    assert!(first.to_text().unwrap().contains("snapshot"), "{first:?}");

    // An open request: a followed log of a task that will outlive the host.
    let body = json!({"command": "sleep", "arguments": ["30"], "container_name": "NULL", "targets": ["ops-node"]});
    let answer: Value = http.post(format!("{base}/api/submit")).json(&body).send().await.unwrap().json().await.unwrap();
    let sleeper = answer["task_ids"][0].as_str().unwrap().to_string();
    let mut follow = http.get(format!("{base}/api/task/{sleeper}/stdout/follow")).send().await.unwrap().bytes_stream();

    let pid = rustix::process::Pid::from_raw(host.pid() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let close = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => {}
                other => panic!("the socket ended without a close frame: {other:?}"),
            }
        }
    })
    .await
    .expect("a close frame within 10 s");
    assert_eq!(close.map(|f| u16::from(f.code)), Some(1001), "going away");
    // The open request ends as a finished response, not a broken connection.
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match follow.next().await {
                None => return Ok(()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
            }
        }
    })
    .await
    .expect("the followed log ends within 10 s");
    assert!(ended.is_ok(), "{ended:?}");
    assert!(host.terminate(Duration::from_secs(10)), "the host exits after SIGTERM");
    assert!(host.log().contains("host stopped"), "{}", host.log());

    let _host = cluster.start_host();
    let task: TaskView = wait_for("the restarted host", Duration::from_secs(20), || async {
        reqwest::get(format!("{base}/api/status/{id}")).await.ok()?.json().await.ok()
    })
    .await;
    assert_eq!(task.exit_code, Some(0));
    let out = reqwest::get(format!("{base}/api/task/{id}/stdout")).await.unwrap().text().await.unwrap();
    assert_eq!(out, "kept\n");
}

/// A host stopped for longer than the heartbeat timeout (an upgrade, a reboot) comes back to
/// nodes whose last heartbeats are all older than the timeout: it gives them one timeout from its
/// start to speak again, and a task that ran on throughout is still running, then completes.
#[tokio::test]
async fn a_host_down_longer_than_the_timeout_keeps_the_tasks_that_ran_on() {
    let cluster = ClusterDir::new();
    let base = cluster.base_url();
    let mut host = cluster.start_host();
    let _runner = cluster.start_runner("ops-long-stop");
    wait_for_node(&base, "ops-long-stop", NodeStatus::Online, Duration::from_secs(20)).await;
    let body = json!({"command": "sh", "arguments": ["-c", "sleep 9; echo outlived"], "container_name": "NULL",
        "targets": ["ops-long-stop"]});
    let http = reqwest::Client::new();
    let answer: Value = http.post(format!("{base}/api/submit")).json(&body).send().await.unwrap().json().await.unwrap();
    let id = answer["task_ids"][0].as_str().unwrap().to_string();
    wait_for("the task to run", Duration::from_secs(20), || async {
        let t: TaskView = reqwest::get(format!("{base}/api/status/{id}")).await.ok()?.json().await.ok()?;
        (t.status == hakuriver_model::TaskStatus::Running).then_some(())
    })
    .await;

    host.kill();
    // Twice the timeout with no host at all.
    tokio::time::sleep(cluster.offline_after() * 2).await;
    let _host = cluster.start_host();
    wait_for_node(&base, "ops-long-stop", NodeStatus::Online, Duration::from_secs(20)).await;
    tokio::time::sleep(cluster.offline_after()).await;
    let task: TaskView = reqwest::get(format!("{base}/api/status/{id}")).await.unwrap().json().await.unwrap();
    assert_eq!(task.status, hakuriver_model::TaskStatus::Running, "{task:?}");

    let task = hakuriver_itest::wait_for_final(&base, &id, Duration::from_secs(30)).await;
    assert_eq!((task.status, task.exit_code), (hakuriver_model::TaskStatus::Completed, Some(0)), "{task:?}");
    let out = reqwest::get(format!("{base}/api/task/{id}/stdout")).await.unwrap().text().await.unwrap();
    assert_eq!(out, "outlived\n");
}
