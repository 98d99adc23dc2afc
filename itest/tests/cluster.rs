// suite: integration
//! The real host and runner binaries, talking over loopback.

use std::time::{Duration, Instant};

use hakuriver_itest::{wait_for, wait_for_node, ClusterDir};
use hakuriver_model::node::NotAvailable;
use hakuriver_model::{CoresInUse, NodeStatus};

const START: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_runner_registers_goes_offline_when_killed_and_comes_back() {
    let cluster = ClusterDir::new();
    let base = cluster.base_url();
    let mut host = cluster.start_host();
    let mut runner = cluster.start_runner("it-node-1");

    let node = wait_for_node(&base, "it-node-1", NodeStatus::Online, START).await;
    assert!(node.total_cores >= 1);
    assert!(node.memory_total_bytes.unwrap_or(0) > 0, "memory detected");
    assert!(node.url.starts_with("http://127.0.0.1:"), "{}", node.url);
    assert_eq!(node.cores_in_use, CoresInUse::Count(0));
    // Heartbeats carry readings.
    wait_for("a heartbeat with CPU usage", Duration::from_secs(5), || async {
        hakuriver_itest::nodes(&base).await?.into_iter().find(|n| n.hostname == "it-node-1" && n.cpu_percent.is_some())
    })
    .await;

    runner.kill();
    let killed_at = Instant::now();
    let offline =
        wait_for_node(&base, "it-node-1", NodeStatus::Offline, cluster.offline_after() + Duration::from_secs(5)).await;
    let took = killed_at.elapsed();
    assert!(took >= cluster.offline_after() - Duration::from_millis(600), "marked offline too early: {took:?}");
    assert_eq!(offline.cores_in_use, CoresInUse::NotAvailable(NotAvailable::NA));
    assert_eq!(offline.available_cores, 0);

    let _runner = cluster.start_runner("it-node-1");
    wait_for_node(&base, "it-node-1", NodeStatus::Online, START).await;
    assert!(host.log().contains("node offline"), "host logs the timeout");

    assert!(host.terminate(Duration::from_secs(10)), "host stops cleanly on SIGTERM");
}

#[tokio::test]
async fn a_runner_started_before_the_host_keeps_retrying_and_registers() {
    let cluster = ClusterDir::new();
    let base = cluster.base_url();
    let mut runner = cluster.start_runner("it-early");
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let attempts = runner.log().matches("registration failed").count();
    assert!((2..=4).contains(&attempts), "one line per attempt with growing delays (1 s, 2 s, ...): {attempts}");
    assert!(!runner.has_exited(), "the runner does not give up");

    let _host = cluster.start_host();
    wait_for_node(&base, "it-early", NodeStatus::Online, START).await;
}

#[tokio::test]
async fn a_host_that_forgets_a_node_gets_it_registered_again() {
    let cluster = ClusterDir::new();
    let base = cluster.base_url();
    let mut host = cluster.start_host();
    let _runner = cluster.start_runner("it-forgotten");
    wait_for_node(&base, "it-forgotten", NodeStatus::Online, START).await;

    // A new host with an empty database on the same port: heartbeats get 404.
    host.kill();
    std::fs::remove_file(cluster.path().join("host.db")).expect("remove database");
    let _host = cluster.start_host();
    wait_for_node(&base, "it-forgotten", NodeStatus::Online, START).await;
}

#[tokio::test]
async fn bad_requests_get_json_errors_and_bare_paths_work() {
    let cluster = ClusterDir::new();
    let base = cluster.base_url();
    let _host = cluster.start_host();
    wait_for("the host", START, || hakuriver_itest::nodes(&base)).await;
    let http = reqwest::Client::new();

    for (body, needle) in [
        ("{\"hostname\": \"n\"}", "total_cores"),
        ("not json", "invalid request body"),
        (
            "{\"hostname\":\"n\",\"total_cores\":\"x\",\"total_ram_bytes\":1,\"runner_url\":\"http://a:1\"}",
            "total_cores",
        ),
        (
            "{\"hostname\":\"../x\",\"total_cores\":1,\"total_ram_bytes\":1,\"runner_url\":\"http://a:1\"}",
            "invalid hostname",
        ),
    ] {
        let r = http
            .post(format!("{base}/register"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{body}");
        let json: serde_json::Value = r.json().await.unwrap();
        let detail = json["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(needle), "{body} -> {detail}");
    }

    let json = |r: reqwest::RequestBuilder| r.header("content-type", "application/json");
    let r = json(http.put(format!("{base}/heartbeat/ghost"))).body("{\"running_tasks\":[]}").send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"detail": "Node not registered", "code": "not_registered"})
    );
    // A runner's report: a task the host never had is named by its code, an unknown status refused.
    let update = |status: &str| serde_json::json!({"task_id": "424242", "status": status});
    let r = http.post(format!("{base}/api/update")).json(&update("running")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"message": "Task ID not recognized", "code": "task_unknown"})
    );
    let r = http.post(format!("{base}/api/update")).json(&update("exploded")).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let detail = r.json::<serde_json::Value>().await.unwrap()["detail"].as_str().unwrap_or_default().to_string();
    assert!(detail.contains("status") && detail.contains("exploded"), "{detail}");
    let r = json(http.put(format!("{base}/api/heartbeat/ghost"))).body("{\"running_tasks\": 5}").send().await.unwrap();
    assert_eq!(r.status(), 422);
    // Query strings and path parameters are refused like bodies: 422, JSON, the field named.
    for (path, needle) in [
        ("/api/tasks?limit=many", "limit"),
        ("/api/task/1/stdout?tail=-1", "tail"),
        ("/api/operations/first", "first"),
        ("/api/status/x1", "x1"),
    ] {
        let r = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 422, "{path}");
        let detail = r.json::<serde_json::Value>().await.unwrap()["detail"].as_str().unwrap_or_default().to_string();
        assert!(detail.contains(needle), "{path} -> {detail}");
    }

    // The original's register body, at the bare path, then the bare and /api list.
    let body = serde_json::json!({"hostname": "compat", "total_cores": 4, "total_ram_bytes": 8_000_000_000u64,
        "runner_url": "http://127.0.0.1:9", "numa_topology": null, "gpu_info": []});
    let r = http.post(format!("{base}/register")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"message": "Runner compat acknowledged."})
    );
    for path in ["/nodes", "/api/nodes"] {
        let list: serde_json::Value = http.get(format!("{base}{path}")).send().await.unwrap().json().await.unwrap();
        assert_eq!(list[0]["hostname"], "compat", "{path}");
        assert_eq!(list[0]["cores_in_use"], 0);
        assert_eq!(list[0]["available_cores"], 4);
    }
    let page = http.get(format!("{base}/nodes")).header("accept", "text/html").send().await.unwrap();
    assert!(page.text().await.unwrap().starts_with("<!DOCTYPE html>"), "browsers get the Nodes page");

    let health: serde_json::Value = wait_for("a health sample", Duration::from_secs(5), || async {
        let h: serde_json::Value = reqwest::get(format!("{base}/health")).await.ok()?.json().await.ok()?;
        (h["aggregate"].as_array()?.last()?["totalNodes"] == 1).then_some(h)
    })
    .await;
    let snapshots = health["nodes"].as_array().unwrap();
    assert_eq!(snapshots.len(), health["aggregate"].as_array().unwrap().len(), "parallel histories");
    assert_eq!(snapshots.last().unwrap()[0]["hostname"], "compat");
    let r = http.get(format!("{base}/api/health?hostname=nobody")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = http.get(format!("{base}/api/no-such-thing")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.json::<serde_json::Value>().await.unwrap()["detail"].is_string());
}

#[tokio::test]
async fn an_invalid_config_stops_the_host_naming_file_and_key() {
    let cluster = ClusterDir::new();
    let text = std::fs::read_to_string(cluster.config()).unwrap();
    std::fs::write(cluster.config(), format!("{text}\n[docker]\ntasks_privileged = \"maybe\"\nno_such_key = 1\n"))
        .unwrap();
    let out = cluster.command("hakuriver-host").output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("config.toml") && stderr.contains("docker.tasks_privileged"), "{stderr}");

    std::fs::write(cluster.config(), format!("{text}\n[docker]\nno_such_key = 1\n")).unwrap();
    let mut host = cluster.start_host();
    let base = cluster.base_url();
    wait_for("the host", START, || hakuriver_itest::nodes(&base)).await;
    assert!(host.log().contains("unknown key `docker.no_such_key`"), "{}", host.log());
    assert!(host.terminate(Duration::from_secs(10)));
}

#[tokio::test]
async fn gpus_a_runner_reports_reach_the_host_and_probe_shows_them() {
    let cluster = ClusterDir::new();
    let base = cluster.base_url();
    let inventory = cluster.path().join("gpus.json");
    std::fs::write(
        &inventory,
        r#"[{"gpu_id":0,"name":"Test GPU A","memory_total_mib":81920.0,"gpu_utilization":12,"temperature":40},
            {"gpu_id":3,"name":"Test GPU B","memory_total_mib":81920.0}]"#,
    )
    .unwrap();

    let probe = cluster
        .command("hakuriver-runner")
        .arg("--probe")
        .env("HAKURIVER_RUNNER_GPU_INVENTORY_FILE", &inventory)
        .env("HAKURIVER_RUNNER_HOSTNAME", "probe-node")
        .output()
        .unwrap();
    assert!(probe.status.success(), "{}", String::from_utf8_lossy(&probe.stderr));
    let report: serde_json::Value = serde_json::from_slice(&probe.stdout).unwrap();
    assert_eq!(report["register"]["hostname"], "probe-node");
    assert!(report["register"]["total_cores"].as_u64().unwrap() >= 1);
    assert_eq!(report["register"]["gpu_info"][1]["gpu_id"], 3);
    assert!(report["heartbeat"]["cpu_percent"].is_number(), "a real CPU reading: {report}");

    let _host = cluster.start_host();
    let mut command = cluster.command("hakuriver-runner");
    command
        .env("HAKURIVER_RUNNER_HOSTNAME", "gpu-node")
        .env("HAKURIVER_NETWORK_RUNNER_PORT", hakuriver_itest::free_port().to_string())
        .env("HAKURIVER_RUNNER_GPU_INVENTORY_FILE", &inventory);
    let _runner = hakuriver_itest::Proc::spawn("gpu runner", command, cluster.path().join("gpu-runner.log"));
    let node = wait_for_node(&base, "gpu-node", NodeStatus::Online, START).await;
    let ids: Vec<u32> = node.gpu_info.iter().map(|g| g.gpu_id).collect();
    assert_eq!(ids, [0, 3]);

    // Heartbeats re-read the inventory: a changed reading reaches the host.
    std::fs::write(&inventory, r#"[{"gpu_id":0,"name":"Test GPU A","gpu_utilization":99}]"#).unwrap();
    wait_for("the new GPU reading", Duration::from_secs(10), || async {
        let nodes = hakuriver_itest::nodes(&base).await?;
        let node = nodes.into_iter().find(|n| n.hostname == "gpu-node")?;
        (node.gpu_info.len() == 1 && node.gpu_info[0].gpu_utilization == 99).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_task_whose_runner_cannot_be_reached_fails_with_the_reason() {
    // Production timing (offline after 30 s): the dispatch is repeated for ten seconds, as for
    // a runner restarting, then the task fails with the reason.
    let cluster = ClusterDir::with_timing(5.0, 6.0);
    let base = cluster.base_url();
    let _host = cluster.start_host();
    wait_for("the host", START, || hakuriver_itest::nodes(&base)).await;
    let http = reqwest::Client::new();
    // A node whose runner address answers nothing.
    cluster.stand_in_tarball("hakuriver-base");
    let dead = format!("http://127.0.0.1:{}", hakuriver_itest::free_port());
    let body = serde_json::json!({"hostname": "ghost", "total_cores": 4, "total_ram_bytes": 1_000_000_000u64, "runner_url": dead});
    assert_eq!(http.post(format!("{base}/register")).json(&body).send().await.unwrap().status(), 200);

    let r = http
        .post(format!("{base}/submit"))
        .json(&serde_json::json!({"command": "true", "targets": ["ghost"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let id = r.json::<serde_json::Value>().await.unwrap()["task_ids"][0].as_str().unwrap().to_string();
    let task: serde_json::Value = wait_for("the dispatch to fail", Duration::from_secs(25), || async {
        let t: serde_json::Value = reqwest::get(format!("{base}/status/{id}")).await.ok()?.json().await.ok()?;
        (t["status"] == "failed").then_some(t)
    })
    .await;
    assert!(task["error_message"].as_str().unwrap().starts_with("Failed to contact runner"), "{task}");
    // A late report about it changes nothing and says so by its code, as a kill does.
    let update = serde_json::json!({"task_id": id, "status": "completed", "exit_code": 0});
    let r = http.post(format!("{base}/api/update")).json(&update).send().await.unwrap();
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"message": "Task already in a final state", "code": "task_final"})
    );
    let r = http.post(format!("{base}/api/kill/{id}")).send().await.unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["code"], "task_final");
    let t: serde_json::Value = reqwest::get(format!("{base}/status/{id}")).await.unwrap().json().await.unwrap();
    assert_eq!(t["status"], "failed", "still failed: {t}");
    // The reservation is released: the node shows no cores in use.
    let nodes = hakuriver_itest::nodes(&base).await.unwrap();
    assert_eq!(nodes[0].cores_in_use, CoresInUse::Count(0));
}

#[tokio::test]
async fn gpus_are_exclusive_unconfirmed_tasks_fail_and_killed_pending_tasks_never_start() {
    let cluster = ClusterDir::with_timing(0.5, 40.0);
    let base = cluster.base_url();
    let _host = cluster.start_host();
    wait_for("the host", START, || hakuriver_itest::nodes(&base)).await;
    let http = reqwest::Client::new();
    cluster.stand_in_tarball("hakuriver-base");
    let gpus: Vec<serde_json::Value> = (0..2).map(|i| serde_json::json!({"gpu_id": i, "name": "fake"})).collect();
    let body = serde_json::json!({"hostname": "gpu-box", "total_cores": 64, "total_ram_bytes": 64_000_000_000u64,
        "runner_url": hakuriver_itest::accepting_runner().await, "gpu_info": gpus.clone()});
    assert_eq!(http.post(format!("{base}/register")).json(&body).send().await.unwrap().status(), 200);

    // Ten concurrent submits for GPU 0: one holds it, the others queue.
    let submit = |target: &'static str| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let body = serde_json::json!({"command": "train", "targets": [target], "required_cores": 1});
            let r: serde_json::Value =
                http.post(format!("{base}/submit")).json(&body).send().await.unwrap().json().await.unwrap();
            r["task_ids"][0].as_str().unwrap().to_string()
        }
    };
    let ids = futures::future::join_all((0..10).map(|_| submit("gpu-box::0"))).await;
    let other = submit("gpu-box::1").await;
    let status = |id: String| {
        let base = base.clone();
        async move {
            let t: serde_json::Value = reqwest::get(format!("{base}/status/{id}")).await.unwrap().json().await.unwrap();
            t["status"].as_str().unwrap().to_string()
        }
    };
    let mut states = Vec::new();
    for id in &ids {
        states.push(status(id.clone()).await);
    }
    assert_eq!(states.iter().filter(|s| *s == "assigning").count(), 1, "{states:?}");
    assert_eq!(states.iter().filter(|s| *s == "pending").count(), 9, "{states:?}");
    // GPU 1 is free: behind the queued GPU 0 tasks, the queue loop places it at its next pass.
    wait_for("the GPU 1 task to be placed", Duration::from_secs(5), || async {
        (status(other.clone()).await == "assigning").then_some(())
    })
    .await;

    // A queued task killed now never starts.
    let queued = ids.iter().zip(&states).find(|(_, s)| *s == "pending").unwrap().0.clone();
    assert_eq!(http.post(format!("{base}/kill/{queued}")).send().await.unwrap().status(), 202);
    assert_eq!(status(queued.clone()).await, "killed");

    // Heartbeats that never list the assigned tasks fail them after the grace period, with a
    // reason; the freed GPU goes to the next task in the queue.
    let holder = ids.iter().zip(&states).find(|(_, s)| *s == "assigning").unwrap().0.clone();
    wait_for("the unconfirmed task to fail", Duration::from_secs(20), || async {
        let beat = serde_json::json!({"running_tasks": [], "gpu_info": gpus});
        http.put(format!("{base}/heartbeat/gpu-box")).json(&beat).send().await.ok()?;
        let t: serde_json::Value = reqwest::get(format!("{base}/status/{holder}")).await.ok()?.json().await.ok()?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        (t["status"] == "failed").then_some(t)
    })
    .await;
    let t: serde_json::Value = reqwest::get(format!("{base}/status/{holder}")).await.unwrap().json().await.unwrap();
    assert!(t["error_message"].as_str().unwrap().contains("did not confirm start"), "{t}");
    assert_eq!(status(queued).await, "killed", "still killed: it never started");
    wait_for("the next queued task to get GPU 0", Duration::from_secs(5), || async {
        let mut states = Vec::new();
        for id in &ids {
            states.push(status(id.clone()).await);
        }
        (states.iter().filter(|s| *s == "assigning").count() == 1).then_some(())
    })
    .await;
}
