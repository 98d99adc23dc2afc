// suite: integration
//! Tasks without a container (`container_name: "NULL"`) through real host and runner processes:
//! limits through cgroups; pause, resume and kill reach every process of a task (its cgroup),
//! and none outlives it. No systemd needed.

use base64::Engine;
use std::time::Duration;

use hakuriver_itest::{escaped, escaping_script, pids_of, wait_for, wait_for_node, ClusterDir};
use hakuriver_model::{NodeStatus, TaskStatus, TaskView};
use serde_json::{json, Value};

async fn submit(base: &str, body: Value) -> String {
    let r = reqwest::Client::new().post(format!("{base}/submit")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 202);
    r.json::<Value>().await.unwrap()["task_ids"][0].as_str().unwrap().to_string()
}

async fn wait_status(base: &str, id: &str, status: TaskStatus) -> TaskView {
    wait_for(&format!("task {id} to be {status}"), Duration::from_secs(30), || async {
        let t: TaskView = reqwest::get(format!("{base}/status/{id}")).await.ok()?.json().await.ok()?;
        (t.status == status).then_some(t)
    })
    .await
}

#[tokio::test]
async fn native_tasks_run_with_limits_and_obey_kill_pause_resume() {
    let cluster = ClusterDir::new();
    let base = cluster.base_url();
    let _host = cluster.start_host();
    let _runner = cluster.start_runner("native-1");
    wait_for_node(&base, "native-1", NodeStatus::Online, Duration::from_secs(20)).await;

    let id = submit(
        &base,
        json!({"command": "sh", "arguments": ["-c", "echo native $HAKURIVER_TASK_ID; pwd"],
        "targets": ["native-1"], "container_name": "NULL"}),
    )
    .await;
    let done = wait_status(&base, &id, TaskStatus::Completed).await;
    assert_eq!(done.exit_code, Some(0));
    let out = reqwest::get(format!("{base}/task/{id}/stdout")).await.unwrap().text().await.unwrap();
    assert_eq!(out, format!("native {id}\n{}\n", cluster.path().join("shared/shared_data").display()));

    // A memory limit through the runner's own cgroup: 64 MB buffer under a 16 MB limit.
    let id = submit(
        &base,
        json!({"command": "dd", "arguments": ["if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"],
        "targets": ["native-1"], "container_name": "NULL", "required_memory_bytes": 16_000_000}),
    )
    .await;
    let oom = wait_status(&base, &id, TaskStatus::KilledOom).await;
    assert!(oom.error_message.unwrap_or_default().contains("memory"));

    // Pause and resume stop and continue every process of the task, even one in a session of
    // its own (the task's cgroup is frozen); kill ends it.
    let ticks = cluster.path().join("shared/shared_data/ticks");
    let id = submit(
        &base,
        json!({"command": "sh", "arguments": ["-c", "setsid sh -c 'while :; do echo x >> ticks; sleep 0.05; done' & sleep 3001"],
        "targets": ["native-1"], "container_name": "NULL", "required_cores": 1}),
    )
    .await;
    wait_status(&base, &id, TaskStatus::Running).await;
    let size = || std::fs::metadata(&ticks).map_or(0, |m| m.len());
    let grows = |what: &'static str| async move {
        let before = size();
        wait_for(what, Duration::from_secs(10), || async { (size() > before).then_some(()) }).await;
    };
    grows("the ticks to start").await;
    let http = reqwest::Client::new();
    assert_eq!(http.post(format!("{base}/command/{id}/pause")).send().await.unwrap().status(), 200);
    let paused = size();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(size() <= paused + 2, "at most a tick in flight while paused ({paused} -> {})", size());
    let settled = size();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(size(), settled, "nothing of the task runs while it is paused");
    assert_eq!(http.post(format!("{base}/command/{id}/resume")).send().await.unwrap().status(), 200);
    grows("the ticks to go on").await;
    assert_eq!(http.post(format!("{base}/kill/{id}")).send().await.unwrap().status(), 202);
    wait_for("the process to end", Duration::from_secs(10), || async {
        pids_of("sleep 3001").is_empty().then_some(())
    })
    .await;
    assert_eq!(wait_status(&base, &id, TaskStatus::Killed).await.exit_code, Some(-9));
}

/// Every process a native task makes ends with it, however it tries to get away: a new session
/// (`setsid`), a double fork (reparented, out of the shell's reach), SIGTERM ignored. Whether the
/// task is killed or its main process ends, none is left once the task is final, so the cores
/// the host frees then are free.
#[tokio::test]
async fn every_process_of_a_native_task_ends_with_it() {
    let cluster = ClusterDir::new();
    let base = cluster.base_url();
    let _host = cluster.start_host();
    let _runner = cluster.start_runner("native-tree");
    wait_for_node(&base, "native-tree", NodeStatus::Online, Duration::from_secs(20)).await;
    let start = |n: u32, then: &str| {
        let body = json!({"command": "sh", "arguments": ["-c", escaping_script(n, then)],
            "targets": ["native-tree"], "container_name": "NULL"});
        let base = base.clone();
        async move {
            let id = submit(&base, body).await;
            wait_status(&base, &id, TaskStatus::Running).await;
            wait_for("every process to start", Duration::from_secs(10), || async { (escaped(n) == 3).then_some(()) })
                .await;
            id
        }
    };

    // Killed: the main process and all three that left its process group.
    let id = start(420, "sleep 4204").await;
    let http = reqwest::Client::new();
    assert_eq!(http.post(format!("{base}/kill/{id}")).send().await.unwrap().status(), 202);
    wait_status(&base, &id, TaskStatus::Killed).await;
    wait_for("every process to end", Duration::from_secs(10), || async {
        (escaped(420) == 0 && pids_of("sleep 4204").is_empty()).then_some(())
    })
    .await;

    // The main process ends by itself: what it left behind is gone by the time it is final.
    let id = start(421, "sleep 2").await;
    let done = wait_status(&base, &id, TaskStatus::Completed).await;
    assert_eq!(done.exit_code, Some(0));
    assert_eq!(escaped(421), 0, "nothing of the task outlives it");
}

/// A runner that is killed leaves its native tasks' processes running (nothing else can end
/// them); the next runner of the same node ends them as it starts, and only its own node's.
#[tokio::test]
async fn a_restarted_runner_ends_the_native_tasks_its_predecessor_left() {
    let cluster = ClusterDir::new();
    let base = cluster.base_url();
    let _host = cluster.start_host();
    let mut runner = cluster.start_runner("native-left");
    let _other = cluster.start_runner("native-stays");
    wait_for_node(&base, "native-left", NodeStatus::Online, Duration::from_secs(20)).await;
    wait_for_node(&base, "native-stays", NodeStatus::Online, Duration::from_secs(20)).await;
    let mut ids = Vec::new();
    for (node, n) in [("native-left", 440), ("native-stays", 441)] {
        let body = json!({"command": "sh", "arguments": ["-c", escaping_script(n, "sleep 600")],
            "targets": [node], "container_name": "NULL"});
        let id = submit(&base, body).await;
        wait_status(&base, &id, TaskStatus::Running).await;
        wait_for("every process to start", Duration::from_secs(10), || async { (escaped(n) == 3).then_some(()) }).await;
        ids.push(id);
    }
    runner.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(escaped(440), 3, "a killed runner's tasks live on");
    let _again = cluster.start_runner("native-left");
    wait_for("the next runner to end them", Duration::from_secs(20), || async { (escaped(440) == 0).then_some(()) })
        .await;
    assert_eq!(escaped(441), 3, "another node's tasks on the same machine are not touched");
    let r = reqwest::Client::new().post(format!("{base}/kill/{}", ids[1])).send().await.unwrap();
    assert_eq!(r.status(), 202);
    wait_for("the other task to end", Duration::from_secs(10), || async { (escaped(441) == 0).then_some(()) }).await;
}

#[tokio::test]
async fn output_streams_live_over_server_sent_events() {
    let cluster = ClusterDir::new();
    let base = cluster.base_url();
    let _host = cluster.start_host();
    let _runner = cluster.start_runner("native-sse");
    wait_for_node(&base, "native-sse", NodeStatus::Online, Duration::from_secs(20)).await;
    let id = submit(
        &base,
        json!({"command": "sh", "arguments": ["-c", "echo one; sleep 2; echo twö"],
        "targets": ["native-sse"], "container_name": "NULL"}),
    )
    .await;

    let mut response = reqwest::get(format!("{base}/api/task/{id}/stdout/follow")).await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let started = std::time::Instant::now();
    let (mut buffer, mut output, mut first_at, mut end) = (String::new(), String::new(), None, None);
    while end.is_none() {
        let chunk = tokio::time::timeout(Duration::from_secs(30), response.chunk()).await.unwrap().unwrap();
        let Some(chunk) = chunk else { break };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(at) = buffer.find("\n\n") {
            let block: String = buffer.drain(..at + 2).collect();
            let field =
                |name: &str| block.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim_start().to_string());
            match field("event:").as_deref() {
                Some("output") => {
                    first_at.get_or_insert(started.elapsed());
                    let bytes = base64::engine::general_purpose::STANDARD.decode(field("data:").unwrap()).unwrap();
                    output.push_str(std::str::from_utf8(&bytes).unwrap());
                }
                Some("end") => end = field("data:"),
                _ => {}
            }
        }
    }
    assert_eq!(output, "one\ntwö\n");
    assert_eq!(end.as_deref(), Some("completed"));
    assert!(first_at.unwrap() < Duration::from_millis(1500), "the first line came while the task still ran");
}

/// Submits arriving together are written together (group commit); each caller still gets its
/// own answer: its own ids, its own refused targets, and tasks that run its own arguments.
#[tokio::test]
async fn concurrent_submits_each_get_their_own_answer() {
    let cluster = ClusterDir::new();
    let base = cluster.base_url();
    let _host = cluster.start_host();
    let _runner = cluster.start_runner("group-node");
    wait_for_node(&base, "group-node", NodeStatus::Online, Duration::from_secs(20)).await;
    let http = reqwest::Client::new();
    let answers = futures::future::join_all((0..48).map(|i| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            // Every third asks for a node that does not exist as well: refused there, kept here.
            let targets = if i % 3 == 0 { json!(["group-node", "no-such-node"]) } else { json!(["group-node"]) };
            let body = json!({"command": "echo", "arguments": [format!("from-{i}")], "container_name": "NULL",
                "targets": targets, "required_cores": 0});
            let r = http.post(format!("{base}/api/submit")).json(&body).send().await.unwrap();
            assert_eq!(r.status(), 202);
            (i, r.json::<Value>().await.unwrap())
        }
    }))
    .await;
    let mut all_ids = std::collections::BTreeSet::new();
    for (i, answer) in &answers {
        let ids = answer["task_ids"].as_array().unwrap();
        assert_eq!(ids.len(), 1, "submit {i}: {answer}");
        assert!(all_ids.insert(ids[0].as_str().unwrap().to_string()), "an id answered twice: {answer}");
        // The original leaves `failed_targets` out when nothing was refused.
        let refused: Vec<&str> = answer["failed_targets"]
            .as_array()
            .map(|f| f.iter().filter_map(|f| f["target"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(refused, if i % 3 == 0 { vec!["no-such-node"] } else { vec![] }, "submit {i}: {answer}");
    }
    for (i, answer) in &answers {
        let id = answer["task_ids"][0].as_str().unwrap();
        let task = hakuriver_itest::wait_for_final(&base, id, Duration::from_secs(60)).await;
        assert_eq!(task.status, TaskStatus::Completed, "{task:?}");
        let out = reqwest::get(format!("{base}/api/task/{id}/stdout")).await.unwrap().text().await.unwrap();
        assert_eq!(out, format!("from-{i}\n"), "task {id} runs submit {i}'s arguments");
    }
}

/// A runner whose Docker engine is absent starts, says so once, and registers without Docker:
/// it runs native tasks; the host never places a container task there and says why.
#[tokio::test]
async fn a_node_without_docker_runs_native_tasks_and_is_never_given_a_container() {
    let cluster = ClusterDir::new();
    let base = cluster.base_url();
    let _host = cluster.start_host();
    let runner = cluster.start_runner_with("bare", &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")]);
    wait_for_node(&base, "bare", NodeStatus::Online, Duration::from_secs(20)).await;
    let nodes: Value = reqwest::get(format!("{base}/api/nodes")).await.unwrap().json().await.unwrap();
    assert_eq!(nodes[0]["docker_available"], json!(false), "{nodes}");
    let log = runner.log();
    assert_eq!(log.matches("take only tasks without a container").count(), 1, "said once: {log}");

    let id = submit(
        &base,
        json!({"command": "echo", "arguments": ["native"], "targets": ["bare"], "container_name": "NULL"}),
    )
    .await;
    wait_status(&base, &id, TaskStatus::Completed).await;

    // An environment that exists (a tarball): the refusal is the node's missing engine.
    cluster.stand_in_tarball("stand-in");
    let http = reqwest::Client::new();
    for targets in [json!(["bare"]), json!([])] {
        let body = json!({"command": "echo", "targets": targets, "container_name": "stand-in"});
        let answer = http.post(format!("{base}/api/submit")).json(&body).send().await.unwrap();
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap();
        assert!(status >= 400, "{targets}: {status} {text}");
        assert!(text.contains("Docker engine"), "{targets}: {text}");
    }
    let shown = cluster.cli(&["node", "show", "bare"]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("no Docker engine"));

    // An environment that exists nowhere is refused at submit, naming the fix.
    let body = json!({"command": "echo", "targets": ["bare"], "container_name": "made-up-env"});
    let answer = http.post(format!("{base}/api/submit")).json(&body).send().await.unwrap();
    assert_eq!(answer.status(), 400);
    let detail: Value = answer.json().await.unwrap();
    let detail = detail["detail"].as_str().unwrap();
    assert!(detail.contains("'made-up-env' does not exist") && detail.contains("docker tar import"), "{detail}");
}
