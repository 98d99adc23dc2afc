// suite: docker
//! Command tasks through the real host and runner processes on the real Docker engine, with the
//! locally built busybox image.

use std::time::Duration;

use hakuriver_itest::images::{container_exists, container_state, ensure_busybox, ensure_sshd, BUSYBOX_ENV, SSHD_ENV};
use hakuriver_itest::{escaped, escaping_script, pids_of, wait_for, wait_for_node, ClusterDir, Proc};
use hakuriver_model::{NodeStatus, TaskStatus, TaskView};
use serde_json::{json, Value};

const START: Duration = Duration::from_secs(60);
const RUN: Duration = Duration::from_secs(60);

struct Cluster {
    // First, so the processes stop (and print their logs on a failure) before the folder goes.
    _procs: Vec<Proc>,
    dir: ClusterDir,
    base: String,
    http: reqwest::Client,
}

async fn cluster(nodes: &[&str]) -> Cluster {
    ensure_busybox();
    let dir = ClusterDir::new();
    let base = dir.base_url();
    let mut procs = vec![dir.start_host()];
    for node in nodes {
        procs.push(dir.start_runner(node));
    }
    for node in nodes {
        wait_for_node(&base, node, NodeStatus::Online, START).await;
    }
    Cluster { _procs: procs, dir, base, http: reqwest::Client::new() }
}

impl Cluster {
    async fn submit(&self, body: Value) -> (u16, Value) {
        let r = self.http.post(format!("{}/submit", self.base)).json(&body).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn submit_one(&self, node: &str, command: &str, args: &[&str], extra: Value) -> String {
        let mut body = json!({"command": command, "arguments": args, "targets": [node], "container_name": BUSYBOX_ENV});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let (status, answer) = self.submit(body).await;
        assert_eq!(status, 202, "{answer}");
        answer["task_ids"][0].as_str().unwrap().to_string()
    }

    async fn task(&self, id: &str) -> TaskView {
        self.http.get(format!("{}/status/{id}", self.base)).send().await.unwrap().json().await.unwrap()
    }

    async fn wait_status(&self, id: &str, status: TaskStatus) -> TaskView {
        let deadline = std::time::Instant::now() + RUN;
        loop {
            let t = self.task(id).await;
            if t.status == status {
                return t;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "task {id} is {} ({:?}, exit {:?}), not {status}, after {RUN:?}",
                t.status,
                t.error_message,
                t.exit_code
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn log(&self, id: &str, which: &str) -> String {
        self.http.get(format!("{}/task/{id}/{which}", self.base)).send().await.unwrap().text().await.unwrap()
    }
}

#[tokio::test]
async fn echo_round_trip_failures_and_oom() {
    let c = cluster(&["dock-1"]).await;
    let id = c.submit_one("dock-1", "echo", &["hello from hakuriver", "$(touch /tmp/pwned)"], json!({})).await;
    let done = c.wait_status(&id, TaskStatus::Completed).await;
    assert_eq!(done.exit_code, Some(0));
    assert_eq!(done.assigned_node.as_deref(), Some("dock-1"));
    assert_eq!(c.log(&id, "stdout").await, "hello from hakuriver $(touch /tmp/pwned)\n", "argv, never a shell");
    assert!(!container_exists(&format!("hakuriver-task-{id}")), "container removed when done");

    let id = c.submit_one("dock-1", "sh", &["-c", "echo oops >&2; exit 3"], json!({})).await;
    let failed = c.wait_status(&id, TaskStatus::Failed).await;
    assert_eq!(failed.exit_code, Some(3));
    assert_eq!(c.log(&id, "stderr").await, "oops\n");

    let id = c
        .submit_one(
            "dock-1",
            "dd",
            &["if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"],
            json!({"required_memory_bytes": 16_000_000}),
        )
        .await;
    let oom = c.wait_status(&id, TaskStatus::KilledOom).await;
    assert!(oom.error_message.unwrap_or_default().contains("memory"));
}

#[tokio::test]
async fn env_vars_mounts_and_tails_of_logs() {
    let c = cluster(&["dock-env"]).await;
    let data = c.dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("file.txt"), "mounted content").unwrap();
    let mount = format!("{}:/data:ro", data.display());
    let id = c
        .submit_one(
            "dock-env",
            "sh",
            &["-c", "echo \"$GREETING $HAKURIVER_TASK_ID\"; cat /data/file.txt; touch /data/x || echo read-only"],
            json!({"env_vars": {"GREETING": "hi"}, "additional_mounts": [mount]}),
        )
        .await;
    c.wait_status(&id, TaskStatus::Completed).await;
    let out = c.log(&id, "stdout").await;
    assert!(out.starts_with(&format!("hi {id}\nmounted content")), "{out}");
    assert!(out.ends_with("read-only\n"), "{out}");
    let tail = c.http.get(format!("{}/api/task/{id}/stdout?tail=10", c.base)).send().await.unwrap();
    assert_eq!(tail.headers()["x-log-size"].to_str().unwrap(), out.len().to_string());
    assert_eq!(tail.text().await.unwrap(), &out[out.len() - 10..]);
}

#[tokio::test]
async fn kill_pause_and_resume_reach_the_container() {
    let c = cluster(&["dock-ctl"]).await;
    let id = c.submit_one("dock-ctl", "sleep", &["300"], json!({"required_cores": 1})).await;
    c.wait_status(&id, TaskStatus::Running).await;
    let name = format!("hakuriver-task-{id}");

    let r = c.http.post(format!("{}/command/{id}/pause", c.base)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(c.task(&id).await.status, TaskStatus::Paused);
    assert_eq!(container_state(&name).as_deref(), Some("paused"));

    let r = c.http.post(format!("{}/command/{id}/resume", c.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(c.task(&id).await.status, TaskStatus::Running);
    assert_eq!(container_state(&name).as_deref(), Some("running"));

    let r = c.http.post(format!("{}/kill/{id}", c.base)).send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(c.task(&id).await.status, TaskStatus::Killed);
    wait_for("the container to go", Duration::from_secs(20), || async { (!container_exists(&name)).then_some(()) })
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(c.task(&id).await.status, TaskStatus::Killed, "final stays final");

    let again = c.http.post(format!("{}/kill/{id}", c.base)).send().await.unwrap();
    assert_eq!(again.status(), 409);
}

/// Every process of a container task ends with it (a Debian image, for `setsid`): killed, or
/// when its main process ends, nothing it started in a new session, double-forked or deaf to
/// SIGTERM survives on the node.
#[tokio::test]
async fn every_process_of_a_container_task_ends_with_it() {
    ensure_sshd();
    let c = cluster(&["dock-tree"]).await;
    let start = |n: u32, then: &str| {
        let script = escaping_script(n, then);
        let c = &c;
        async move {
            let id = c.submit_one("dock-tree", "sh", &["-c", &script], json!({"container_name": SSHD_ENV})).await;
            c.wait_status(&id, TaskStatus::Running).await;
            wait_for("every process to start", RUN, || async { (escaped(n) == 3).then_some(()) }).await;
            id
        }
    };

    let id = start(430, "sleep 4304").await;
    assert_eq!(c.http.post(format!("{}/kill/{id}", c.base)).send().await.unwrap().status(), 202);
    wait_for("every process to end", Duration::from_secs(20), || async {
        (escaped(430) == 0 && pids_of("sleep 4304").is_empty()).then_some(())
    })
    .await;

    let id = start(431, "sleep 2").await;
    assert_eq!(c.wait_status(&id, TaskStatus::Completed).await.exit_code, Some(0));
    assert_eq!(escaped(431), 0, "nothing of the task outlives it");
}

#[tokio::test]
async fn a_batch_across_two_runners_and_a_queue_that_drains_in_order() {
    let c = cluster(&["dock-a", "dock-b"]).await;
    let (status, answer) = c
        .submit(json!({"command": "echo", "arguments": ["batch"], "targets": ["dock-a", "dock-b", "nowhere"],
                       "container_name": BUSYBOX_ENV}))
        .await;
    assert_eq!(status, 202, "{answer}");
    let ids: Vec<String> =
        answer["task_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(answer["failed_targets"][0]["target"], "nowhere");
    assert_eq!(answer["failed_targets"][0]["reason"], "Node not registered");
    let mut nodes = Vec::new();
    for id in &ids {
        let t = c.wait_status(id, TaskStatus::Completed).await;
        assert_eq!(t.batch_id.map(|b| b.to_string()).as_deref(), Some(ids[0].as_str()));
        nodes.push(t.assigned_node.unwrap());
    }
    nodes.sort();
    assert_eq!(nodes, ["dock-a", "dock-b"]);

    // Two tasks that each need every core of dock-a: the second waits, then runs.
    let cores = reqwest::get(format!("{}/api/nodes", c.base)).await.unwrap().json::<Value>().await.unwrap()[0]
        ["total_cores"]
        .as_u64()
        .unwrap();
    let first = c.submit_one("dock-a", "sleep", &["2"], json!({"required_cores": cores})).await;
    let second = c.submit_one("dock-a", "echo", &["second"], json!({"required_cores": cores})).await;
    c.wait_status(&first, TaskStatus::Running).await;
    assert_eq!(c.task(&second).await.status, TaskStatus::Pending);
    c.wait_status(&second, TaskStatus::Completed).await;
    let (a, b) = (c.task(&first).await, c.task(&second).await);
    assert!(b.started_at >= a.completed_at, "queued task started after the first finished");

    let (status, answer) = c
        .submit(json!({"command": "true", "targets": ["dock-a"], "required_cores": cores + 1, "container_name": BUSYBOX_ENV}))
        .await;
    assert_eq!(status, 503, "{answer}");
}

#[tokio::test]
async fn fifty_concurrent_submits_never_oversubscribe() {
    let c = cluster(&["dock-many"]).await;
    let total = reqwest::get(format!("{}/api/nodes", c.base)).await.unwrap().json::<Value>().await.unwrap()[0]
        ["total_cores"]
        .as_u64()
        .unwrap();
    let submits = (0..50).map(|_| c.submit_one("dock-many", "sleep", &["0.3"], json!({"required_cores": 1})));
    let ids: Vec<String> = futures::future::join_all(submits).await;
    assert_eq!(ids.len(), 50);
    let mut max_active = 0;
    loop {
        let tasks: Vec<TaskView> =
            reqwest::get(format!("{}/api/tasks?limit=100", c.base)).await.unwrap().json().await.unwrap();
        let active = tasks.iter().filter(|t| t.status.holds_resources()).count() as u64;
        max_active = max_active.max(active);
        assert!(active <= total, "{active} tasks hold cores on a {total}-core node");
        if tasks.iter().all(|t| t.status.is_final()) {
            assert!(tasks.iter().all(|t| t.status == TaskStatus::Completed), "all completed");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(max_active >= 1);
}

#[tokio::test]
async fn bad_submits_are_refused_and_run_nothing() {
    let c = cluster(&["dock-bad"]).await;
    let big = "x".repeat(1_000_000);
    for body in [
        json!({"command": "echo", "targets": ["dock-bad:x"]}),
        json!({"command": "echo", "targets": ["dock-bad:7"]}),
        json!({"command": "echo", "targets": ["dock-bad::9"]}),
        json!({"command": "echo", "targets": ["dock-bad"], "required_cores": -1}),
        json!({"command": "echo", "targets": ["dock-bad"], "required_cores": 1_000_000}),
        json!({"command": "echo", "targets": ["dock-bad"], "required_memory_bytes": "12Q"}),
        json!({"command": "echo", "targets": ["dock-bad"], "env_vars": {"A=B": "x"}}),
        json!({"command": "echo", "targets": ["dock-bad"], "additional_mounts": ["../etc:/etc"]}),
        json!({"command": "echo", "targets": ["dock-bad"], "container_name": "../x"}),
        json!({"command": big, "targets": ["dock-bad"]}),
    ] {
        let r = c.http.post(format!("{}/submit", c.base)).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        let answer: Value = r.json().await.unwrap();
        assert!((400..500).contains(&status) || status == 503, "{status} {answer}");
        assert!(answer["detail"].is_string(), "{answer}");
    }
    let tasks: Vec<Value> = reqwest::get(format!("{}/api/tasks", c.base)).await.unwrap().json().await.unwrap();
    assert!(tasks.is_empty(), "nothing was created: {tasks:?}");
    let r = c.http.get(format!("{}/status/12345", c.base)).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = c.http.get(format!("{}/status/abc", c.base)).send().await.unwrap();
    assert_eq!(r.status(), 422);
}

#[tokio::test]
async fn the_cli_submits_waits_and_reads_logs() {
    let c = cluster(&["dock-cli"]).await;
    let cli = |args: &[&str]| c.dir.cli(args);
    let out = cli(&[
        "task",
        "submit",
        "-t",
        "dock-cli",
        "--container",
        BUSYBOX_ENV,
        "--env",
        "WHO=cli",
        "--wait",
        "-q",
        "--",
        "sh",
        "-c",
        "echo hi $WHO",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let logs = cli(&["task", "logs", &id]);
    assert_eq!(String::from_utf8(logs.stdout).unwrap(), "hi cli\n");

    let failed =
        cli(&["task", "submit", "-t", "dock-cli", "--container", BUSYBOX_ENV, "--wait", "--", "sh", "-c", "exit 4"]);
    assert_eq!(failed.status.code(), Some(1), "--wait follows the task: it failed");

    let status = cli(&["task", "status", &id, "--json"]);
    let views: Vec<TaskView> = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(views[0].status, TaskStatus::Completed);
    let list = cli(&["task", "list"]);
    assert!(String::from_utf8(list.stdout).unwrap().contains(&id));

    assert_eq!(cli(&["task", "status", "not-a-number"]).status.code(), Some(4), "rejected by the host");
    assert_eq!(cli(&["task", "submit", "-t", "dock-cli", "--memory", "12Q", "--", "true"]).status.code(), Some(2));
    let killed = cli(&["task", "kill", &id]);
    assert_eq!(killed.status.code(), Some(4), "a finished task cannot be killed (409)");
}

#[tokio::test]
async fn a_newer_tarball_is_loaded_before_the_next_task() {
    use hakuriver_itest::images::{build_busybox_image, docker_ok, save_env_tarball};
    let c = cluster(&["dock-tar"]).await;
    let tag = "hakuriver/tartest:base";
    let tars = c.dir.path().join("shared/hakuriver-containers");
    let v1 = build_busybox_image(tag, &[("/etc/version", "v1\n")]);
    save_env_tarball(tag, &tars, "tartest");
    docker_ok(&["rmi", "--force", tag]);

    let read_version = || c.submit_one("dock-tar", "cat", &["/etc/version"], json!({"container_name": "tartest"}));
    let id = read_version().await;
    c.wait_status(&id, TaskStatus::Completed).await;
    assert_eq!(c.log(&id, "stdout").await, "v1\n", "loaded from the tarball");

    // A newer tarball appears while the node still has v1.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    build_busybox_image(tag, &[("/etc/version", "v2\n")]);
    save_env_tarball(tag, &tars, "tartest");
    docker_ok(&["tag", &v1, tag]);
    // Ten tasks at once: each sees v2, and the tarball is loaded once.
    let ids = futures::future::join_all((0..10).map(|_| read_version())).await;
    for id in &ids {
        c.wait_status(id, TaskStatus::Completed).await;
        assert_eq!(c.log(id, "stdout").await, "v2\n", "the newer tarball was loaded first");
    }
    let runner_log = std::fs::read_to_string(c.dir.path().join("runner-dock-tar.log")).unwrap();
    assert_eq!(runner_log.matches("loading environment image").count(), 2, "v1 once, v2 once");
}

/// An environment imported from an image built long before (README's way without a registry):
/// its tarball is loaded once, whatever the image's own creation time says, and the versions view
/// calls the node current.
#[tokio::test]
async fn an_imported_image_built_long_ago_is_loaded_once() {
    use hakuriver_itest::images::{build_busybox_image, docker_ok};
    let c = cluster(&["dock-once"]).await;
    let env = c.dir.env_name("built-long-ago");
    let built = format!("hakuriver-itest/{env}:built");
    let id = build_busybox_image(&built, &[("/etc/origin", &env)]);
    let image_tar = c.dir.shared().join("built.tar");
    docker_ok(&["save", "-o", image_tar.to_str().unwrap(), &built]);
    docker_ok(&["rmi", "--force", &built]);
    // The tarball is made later than the image: its name carries a newer timestamp.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let answer = c.http.post(format!("{}/api/docker/import", c.base)).json(&json!({"path": image_tar, "name": env}));
    let answer = answer.send().await.unwrap();
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    docker_ok(&["rmi", "--force", &format!("hakuriver/{env}:base")]);

    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    // Events are counted from the next whole second: the host's own load (the import) is before.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let since = now().to_string();
    for _ in 0..3 {
        let task = c.submit_one("dock-once", "cat", &["/etc/origin"], json!({"container_name": env})).await;
        c.wait_status(&task, TaskStatus::Completed).await;
        assert_eq!(c.log(&task, "stdout").await, env);
    }
    let until = (now() + 1).to_string();
    let events = docker_ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "type=image",
        "--filter",
        "event=load",
        "--format",
        "{{.ID}}",
    ]);
    assert_eq!(events.lines().filter(|l| *l == id).count(), 1, "Docker's load events: {events}");

    hakuriver_itest::wait_for("the versions view to call the node current", START, || async {
        let versions: Value =
            c.http.get(format!("{}/api/docker/versions", c.base)).send().await.ok()?.json().await.ok()?;
        (versions[&env]["nodes"]["dock-once"]["current"] == json!(true)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_numa_target_gets_that_nodes_cpuset() {
    use hakuriver_itest::images::docker_ok;
    let c = cluster(&["dock-numa"]).await;
    let nodes: Value = reqwest::get(format!("{}/api/nodes", c.base)).await.unwrap().json().await.unwrap();
    let numa = &nodes[0]["numa_topology"];
    let Some((id, node)) = numa.as_object().and_then(|m| m.iter().next()) else {
        panic!("this machine reports no NUMA topology in /sys: {nodes}");
    };
    let cores: Vec<String> = node["cores"].as_array().unwrap().iter().map(|c| c.to_string()).collect();
    let task = c.submit_one(&format!("dock-numa:{id}"), "sleep", &["300"], json!({"required_cores": 1})).await;
    c.wait_status(&task, TaskStatus::Running).await;
    let name = format!("hakuriver-task-{task}");
    assert_eq!(docker_ok(&["inspect", "--format", "{{.HostConfig.CpusetCpus}}", &name]), cores.join(","));
    assert_eq!(docker_ok(&["inspect", "--format", "{{.HostConfig.CpusetMems}}", &name]), *id);
    assert_eq!(docker_ok(&["inspect", "--format", "{{.HostConfig.NanoCpus}}", &name]), "1000000000");
    c.http.post(format!("{}/kill/{task}", c.base)).send().await.unwrap();
}

#[tokio::test]
async fn a_web_terminal_reaches_a_running_task_container_and_only_that() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let c = cluster(&["term-1"]).await;
    let id = c.submit_one("term-1", "sleep", &["120"], json!({})).await;
    c.wait_status(&id, TaskStatus::Running).await;
    let ws_url = |id: &str| format!("{}/api/tasks/{id}/terminal", c.base.replace("http://", "ws://"));

    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&id)).await.expect("terminal websocket");
    ws.send(Message::text(json!({"type": "input", "data": "echo in-task-$HAKURIVER_TASK_ID\n"}).to_string()))
        .await
        .unwrap();
    let mut seen = String::new();
    while !seen.contains(&format!("in-task-{id}")) {
        let frame = tokio::time::timeout(Duration::from_secs(20), ws.next()).await.expect("output");
        if let Some(Ok(Message::Text(t))) = frame {
            seen.push_str(serde_json::from_str::<Value>(&t).unwrap()["data"].as_str().unwrap_or_default());
        }
    }
    ws.close(None).await.ok();

    // A task that is not running: an error frame and a policy close, no shell.
    let (status, answer) =
        c.submit(json!({"command": "true", "targets": ["term-1"], "container_name": BUSYBOX_ENV})).await;
    assert_eq!(status, 202);
    let done = answer["task_ids"][0].as_str().unwrap().to_string();
    c.wait_status(&done, TaskStatus::Completed).await;
    for bad in [done.as_str(), "12345", "abc"] {
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(bad)).await.expect("terminal websocket");
        let mut error = None;
        let mut code = None;
        while let Some(Ok(m)) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("an answer") {
            match m {
                Message::Text(t) => error = Some(serde_json::from_str::<Value>(&t).unwrap()),
                Message::Close(f) => {
                    code = f.map(|f| u16::from(f.code));
                    break;
                }
                _ => {}
            }
        }
        let error = error.expect("an error frame");
        assert_eq!(error["type"], "error", "{bad}: {error}");
        assert_eq!(code, Some(1008), "{bad}");
    }
    assert_eq!(c.http.post(format!("{}/kill/{id}", c.base)).send().await.unwrap().status(), 202);
}

#[tokio::test]
async fn a_terminal_on_an_https_runner_is_relayed_over_wss_and_ends_with_its_token() {
    use futures::{SinkExt, StreamExt};
    use hakuriver_itest::{pki::pki, ADMIN_TOKEN};
    use tokio_tungstenite::tungstenite::Message;
    ensure_busybox();
    let dir = ClusterDir::with_auth();
    let pki = pki();
    dir.use_tls(&pki, true);
    let _procs = [dir.start_host(), dir.start_runner("tls-term")];
    let base = dir.https_url();
    let ca = reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap();
    let http = reqwest::Client::builder().add_root_certificate(ca).build().unwrap();
    let node: Value = wait_for("the runner over HTTPS", START, || async {
        let r = http.get(format!("{base}/api/nodes/tls-term")).bearer_auth(ADMIN_TOKEN).send().await.ok()?;
        r.json::<Value>().await.ok().filter(|n| n["status"] == "online")
    })
    .await;
    assert!(node["url"].as_str().unwrap().starts_with("https://"), "{node}");

    // An admin's own token opens the terminal; it is revoked while the terminal is open.
    let made: Value = http
        .post(format!("{base}/api/auth/tokens"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "tess", "role": "admin"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tess = made["token"].as_str().unwrap();
    let submit =
        json!({"command": "sleep", "arguments": ["120"], "targets": ["tls-term"], "container_name": BUSYBOX_ENV});
    let r = http.post(format!("{base}/api/submit")).bearer_auth(ADMIN_TOKEN).json(&submit).send().await.unwrap();
    let id = r.json::<Value>().await.unwrap()["task_ids"][0].as_str().unwrap().to_string();
    wait_for("the task to run", RUN, || async {
        let r = http.get(format!("{base}/api/status/{id}")).bearer_auth(ADMIN_TOKEN).send().await.ok()?;
        (r.json::<Value>().await.ok()?["status"] == "running").then_some(())
    })
    .await;

    // Browser → host over WSS, host → runner over WSS with the runner token: a real shell.
    let mut ws = dir.open_wss(&pki, &format!("/api/tasks/{id}/terminal"), Some(tess)).await;
    ws.send(Message::text(json!({"type": "input", "data": "echo wss-$((6*7))\n"}).to_string())).await.unwrap();
    let mut seen = String::new();
    while !seen.contains("wss-42") {
        let frame = tokio::time::timeout(Duration::from_secs(20), ws.next()).await.expect("output");
        if let Some(Ok(Message::Text(t))) = frame {
            seen.push_str(serde_json::from_str::<Value>(&t).unwrap()["data"].as_str().unwrap_or_default());
        }
    }

    // Revoked: the terminal says why and closes with 1008.
    let r = http.delete(format!("{base}/api/auth/tokens/{}", made["id"].as_str().unwrap())).bearer_auth(ADMIN_TOKEN);
    assert_eq!(r.send().await.unwrap().status(), 200);
    let mut said = String::new();
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("the terminal closes") {
            Some(Ok(Message::Text(t))) => said.push_str(&t),
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => {}
            None | Some(Err(_)) => break None,
        }
    };
    assert_eq!(code, Some(1008), "{said}");
    assert!(said.contains("revoked or expired"), "{said}");
    let r = http.post(format!("{base}/api/kill/{id}")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 202);
}
