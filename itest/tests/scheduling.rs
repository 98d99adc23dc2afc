// suite: integration
//! Lab scheduling through real host and runner processes, with tasks without a container: time
//! limits (SIGTERM, the grace, SIGKILL, `timeout`), dependencies each way, pending reasons,
//! names, and per-user limits with a token's own.

use std::time::Duration;

use hakuriver_itest::{
    create_token, escaped, escaping_script, wait_for, wait_for_final, wait_for_node, ClusterDir, ADMIN_TOKEN,
};
use hakuriver_model::{NodeStatus, TaskStatus, TaskView};
use serde_json::{json, Value};

/// A host with `[limits]` (kill grace 1 s, a default and a maximum) and one runner named
/// `node` (each test its own: a runner that starts ends what its node's predecessor left).
fn cluster(node: &str) -> (ClusterDir, hakuriver_itest::Proc, hakuriver_itest::Proc) {
    let cluster = ClusterDir::new();
    cluster.append_config("[limits]\nkill_grace = \"1s\"\ndefault_time_limit = \"10m\"\nmax_time_limit = \"1h\"\n");
    let host = cluster.start_host();
    let runner = cluster.start_runner(node);
    (cluster, host, runner)
}

async fn post(base: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new().post(format!("{base}/api/submit")).json(&body).send().await.expect("submit");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Submits a native shell script on `node`; its task id.
async fn sh(base: &str, node: &str, script: &str, extra: Value) -> String {
    let mut body = json!({"command": "sh", "arguments": ["-c", script], "targets": [node], "container_name": "NULL"});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let (status, answer) = post(base, body).await;
    assert_eq!(status, 202, "{answer}");
    answer["task_ids"][0].as_str().expect("a task id").to_string()
}

async fn task(base: &str, id: &str) -> Option<TaskView> {
    reqwest::get(format!("{base}/api/status/{id}")).await.ok()?.json().await.ok()
}

async fn ended(base: &str, id: &str) -> TaskView {
    wait_for_final(base, id, Duration::from_secs(60)).await
}

#[tokio::test]
async fn a_time_limit_ends_a_task_and_everything_it_started_as_timeout() {
    const NODE: &str = "sched-limit";
    let (cluster, _host, _runner) = cluster(NODE);
    let base = cluster.base_url();
    wait_for_node(&base, NODE, NodeStatus::Online, Duration::from_secs(20)).await;

    // Deaf to SIGTERM, in sessions of its own: the grace passes, then SIGKILL ends all of it.
    let id = sh(&base, NODE, &escaping_script(7431, "sleep 7434"), json!({"time_limit_seconds": 2})).await;
    let running = wait_for("it to run", Duration::from_secs(20), || async {
        task(&base, &id).await.filter(|t| t.status != TaskStatus::Pending && t.status != TaskStatus::Assigning)
    })
    .await;
    assert_eq!(running.status, TaskStatus::Running, "{:?}", running.error_message);
    assert_eq!(running.time_limit_seconds, Some(2));
    let done = ended(&base, &id).await;
    assert_eq!(done.status, TaskStatus::Timeout, "{:?}", done.error_message);
    let message = done.error_message.unwrap_or_default();
    assert!(message.contains("Time limit of 2s reached") && message.contains("SIGKILL after 1s"), "{message}");
    let (started, completed) = (done.started_at.expect("started"), done.completed_at.expect("ended"));
    assert!((completed - started).num_milliseconds() >= 2_000, "{started} .. {completed}");
    assert_eq!(escaped(7431), 0, "nothing of the task outlives its time limit");

    // One that ends on SIGTERM ends at once, with its own exit code.
    let id = sh(&base, NODE, "sleep 300", json!({"time_limit_seconds": 1})).await;
    let done = ended(&base, &id).await;
    assert_eq!((done.status, done.exit_code), (TaskStatus::Timeout, Some(143)));

    // Without one, the configured default; past the maximum, refused with the key to change.
    let id = sh(&base, NODE, "true", json!({})).await;
    assert_eq!(ended(&base, &id).await.time_limit_seconds, Some(600));
    let (status, answer) = post(
        &base,
        json!({"command": "true", "container_name": "NULL", "targets": [NODE], "time_limit_seconds": 7200}),
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    assert!(answer["detail"].as_str().unwrap_or_default().contains("[limits] max_time_limit = \"1h\""), "{answer}");
    let (status, answer) = post(&base, json!({"command": "true", "time_limit_seconds": 0})).await;
    assert_eq!(status, 400, "{answer}");
}

#[tokio::test]
async fn dependencies_start_or_fail_a_task_as_their_parents_end() {
    const NODE: &str = "sched-deps";
    let (cluster, _host, _runner) = cluster(NODE);
    let base = cluster.base_url();
    wait_for_node(&base, NODE, NodeStatus::Online, Duration::from_secs(20)).await;

    let ok = sh(&base, NODE, "sleep 2", json!({"name": "prep"})).await;
    let bad = sh(&base, NODE, "sleep 2; exit 3", json!({})).await;
    let child = |parent: &str, kind: &str| json!({"depends_on": [parent], "dependency": kind, "required_cores": 0});
    let after_ok = sh(&base, NODE, "echo ran", child(&ok, "afterok")).await;
    let after_ok_bad = sh(&base, NODE, "echo ran", child(&bad, "afterok")).await;
    let after_any_bad = sh(&base, NODE, "echo ran", child(&bad, "afterany")).await;
    let after_fail_bad = sh(&base, NODE, "echo ran", child(&bad, "afternotok")).await;
    let after_fail_ok = sh(&base, NODE, "echo ran", child(&ok, "afternotok")).await;

    // While the parents run, each child waits and says for which.
    let waiting = wait_for("the queue to give a reason", Duration::from_secs(10), || async {
        task(&base, &after_ok).await.filter(|t| t.pending_reason.as_deref().is_some_and(|r| r.contains(&ok)))
    })
    .await;
    assert_eq!(waiting.status, TaskStatus::Pending);
    assert_eq!(
        waiting.pending_reason.as_deref(),
        Some(format!("Dependency: waits for task {ok} to end (afterok)").as_str())
    );
    assert_eq!(waiting.depends_on.iter().map(ToString::to_string).collect::<Vec<_>>(), std::slice::from_ref(&ok));

    for (id, status) in [
        (&after_ok, TaskStatus::Completed),
        (&after_any_bad, TaskStatus::Completed),
        (&after_fail_bad, TaskStatus::Completed),
        (&after_ok_bad, TaskStatus::Failed),
        (&after_fail_ok, TaskStatus::Failed),
    ] {
        let t = ended(&base, id).await;
        assert_eq!(t.status, status, "{id}: {:?}", t.error_message);
        if status == TaskStatus::Failed {
            let message = t.error_message.unwrap_or_default();
            let parent = if id == &after_ok_bad { &bad } else { &ok };
            assert!(message.contains(&format!("task {parent}")), "{message}");
            assert_eq!((t.started_at, t.assigned_node), (None, None), "it never ran");
        }
    }
    let parent = task(&base, &ok).await.expect("the parent");
    let child = task(&base, &after_ok).await.expect("the child");
    assert!(child.started_at >= parent.completed_at, "the child started after its parent ended");

    // Unknown parents and dependents that may not queue are refused before anything is stored.
    let (status, answer) =
        post(&base, json!({"command": "true", "container_name": "NULL", "depends_on": ["42"]})).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["detail"].as_str().unwrap_or_default().contains("task 42 does not exist"), "{answer}");
    let (status, _) =
        post(&base, json!({"command": "true", "container_name": "NULL", "depends_on": [ok], "queue": false})).await;
    assert_eq!(status, 400);

    // Names are kept and filter the list.
    let named: Vec<TaskView> = reqwest::get(format!("{base}/api/tasks?name=prep")).await.unwrap().json().await.unwrap();
    assert_eq!(named.iter().map(|t| t.task_id.to_string()).collect::<Vec<_>>(), [ok]);
}

#[tokio::test]
async fn a_task_waiting_for_cores_says_so_and_a_later_urgent_one_goes_first() {
    const NODE: &str = "sched-cores";
    let (cluster, _host, _runner) = cluster(NODE);
    let base = cluster.base_url();
    let node = wait_for_node(&base, NODE, NodeStatus::Online, Duration::from_secs(20)).await;
    let all = sh(&base, NODE, "sleep 300", json!({"required_cores": node.total_cores})).await;
    let next = sh(&base, NODE, "true", json!({"required_cores": 1})).await;
    let reason = wait_for("a resource reason", Duration::from_secs(10), || async {
        task(&base, &next).await.and_then(|t| t.pending_reason)
    })
    .await;
    assert_eq!(reason, format!("Resources: Insufficient available cores on {NODE}"));
    let page: Value = reqwest::get(format!("{base}/api/tasks?status=pending")).await.unwrap().json().await.unwrap();
    assert_eq!(page[0]["pending_reason"], json!(reason), "the list carries it too");
    // A later task of higher priority goes first once the node frees up.
    let urgent = sh(&base, NODE, "sleep 1", json!({"required_cores": node.total_cores, "priority": 50})).await;
    let killed = reqwest::Client::new().post(format!("{base}/api/kill/{all}")).send().await.unwrap();
    assert!(killed.status().is_success(), "{}", killed.status());
    let (urgent, next) = (ended(&base, &urgent).await, ended(&base, &next).await);
    assert_eq!((urgent.status, next.status), (TaskStatus::Completed, TaskStatus::Completed));
    assert_eq!(urgent.priority, 50);
    assert!(next.started_at >= urgent.completed_at, "the urgent task ran first: {urgent:?} {next:?}");
    assert_eq!(next.pending_reason, None, "no reason once it ran");
}

#[tokio::test]
async fn a_user_at_their_limit_waits_while_another_users_task_runs() {
    const NODE: &str = "sched-users";
    let cluster = ClusterDir::with_auth();
    cluster.append_config("[policy]\nnative_role = \"user\"\n[limits]\nper_user_running_tasks = 1\n");
    let base = cluster.base_url();
    let _host = cluster.start_host();
    let _runner = cluster.start_runner(NODE);
    wait_for("the host", Duration::from_secs(20), || async {
        reqwest::get(format!("{base}/api/openapi.json")).await.ok().filter(|r| r.status().is_success())
    })
    .await;
    let (alice_id, alice) = create_token(&base, "alice", "user").await;
    let (_, bob) = create_token(&base, "bob", "user").await;
    let http = reqwest::Client::new();
    let submit = |token: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let body = json!({"command": "sleep", "arguments": ["300"], "container_name": "NULL",
                              "targets": [NODE], "required_cores": 0});
            let r = http.post(format!("{base}/api/submit")).bearer_auth(token).json(&body).send().await.unwrap();
            assert_eq!(r.status(), 202);
            r.json::<Value>().await.unwrap()["task_ids"][0].as_str().unwrap().to_string()
        }
    };
    let status = |id: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let r = http.get(format!("{base}/api/status/{id}")).bearer_auth(ADMIN_TOKEN).send().await.ok()?;
            r.json::<TaskView>().await.ok()
        }
    };
    wait_for("the node", Duration::from_secs(20), || async {
        let r = http.get(format!("{base}/api/nodes/{NODE}")).bearer_auth(ADMIN_TOKEN).send().await.ok()?;
        (r.json::<Value>().await.ok()?["status"] == "online").then_some(())
    })
    .await;

    let first = submit(alice.clone()).await;
    let second = submit(alice.clone()).await;
    let bobs = submit(bob).await;
    let running = |id: String| async move {
        wait_for("it to run", Duration::from_secs(20), || async {
            status(id.clone()).await.filter(|t| t.status == TaskStatus::Running)
        })
        .await
    };
    running(first.clone()).await;
    running(bobs.clone()).await;
    let waiting = status(second.clone()).await.expect("alice's second task");
    assert_eq!(waiting.status, TaskStatus::Pending);
    assert_eq!(
        waiting.pending_reason.as_deref(),
        Some("User limit: 1 of 1 running tasks in use ([limits] per_user_running_tasks)")
    );

    // An admin gives alice's token a limit of its own: her second task starts.
    let r = http
        .post(format!("{base}/api/auth/tokens/{alice_id}/limits"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"limits": {"running_tasks": 2}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["limits"]["running_tasks"], 2);
    running(second.clone()).await;
    for id in [first, second, bobs] {
        let r = http.post(format!("{base}/api/kill/{id}")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        assert!(r.status().is_success(), "kill {id}: {}", r.status());
    }
    // Only an admin sets limits.
    let r = http
        .post(format!("{base}/api/auth/tokens/{alice_id}/limits"))
        .bearer_auth(alice)
        .json(&json!({"limits": {"running_tasks": 99}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn a_task_whose_runner_dies_runs_again_elsewhere_when_it_has_retries() {
    let cluster = ClusterDir::new();
    let base = cluster.base_url();
    let _host = cluster.start_host();
    let mut runners = vec![("retry-a", cluster.start_runner("retry-a")), ("retry-b", cluster.start_runner("retry-b"))];
    for (node, _) in &runners {
        wait_for_node(&base, node, NodeStatus::Online, Duration::from_secs(20)).await;
    }
    let submit = |retries: u32| {
        let base = base.clone();
        async move {
            let body = json!({"command": "sh", "arguments": ["-c", "sleep 3; echo attempt $HAKURIVER_NODE"],
                              "container_name": "NULL", "required_cores": 0, "retries": retries});
            let (status, answer) = post(&base, body).await;
            assert_eq!(status, 202, "{answer}");
            answer["task_ids"][0].as_str().expect("an id").to_string()
        }
    };
    let retried = submit(1).await;
    let first = wait_for("it to run", Duration::from_secs(20), || async {
        task(&base, &retried).await.filter(|t| t.status == TaskStatus::Running)
    })
    .await;
    let lost_node = first.assigned_node.clone().expect("its node");
    // One without retries on the same node, for contrast.
    let body = json!({"command": "sleep", "arguments": ["3"], "container_name": "NULL", "required_cores": 0,
                      "targets": [lost_node.clone()]});
    let (_, answer) = post(&base, body).await;
    let plain = answer["task_ids"][0].as_str().expect("an id").to_string();
    wait_for("it to run", Duration::from_secs(20), || async {
        task(&base, &plain).await.filter(|t| t.status == TaskStatus::Running)
    })
    .await;
    let (_, runner) = runners.iter_mut().find(|(n, _)| *n == lost_node).expect("its runner");
    runner.kill();

    let done = ended(&base, &retried).await;
    assert_eq!(done.status, TaskStatus::Completed, "{:?}", done.error_message);
    assert_eq!((done.attempt, done.retries), (2, 1));
    assert_ne!(done.assigned_node.as_deref(), Some(lost_node.as_str()), "the second attempt ran elsewhere");
    let note = done.error_message.unwrap_or_default();
    assert!(note.contains(&format!("Attempt 1 ended: node {lost_node} went offline")), "{note}");
    let out = reqwest::get(format!("{base}/api/task/{retried}/stdout")).await.unwrap().text().await.unwrap();
    assert!(out.ends_with(&format!("attempt {}\n", done.assigned_node.unwrap_or_default())), "{out:?}");
    let lost = ended(&base, &plain).await;
    assert_eq!((lost.status, lost.attempt), (TaskStatus::Lost, 1), "no retries: lost with its node");
}
