// suite: docker
//! Host Docker environments on the real engine: create from the busybox image, change it through
//! the terminal websocket, pack it as a tarball, and run a task on a runner that loads it.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hakuriver_itest::golden::assert_golden;
use hakuriver_itest::images::{ensure_busybox, BUSYBOX_IMAGE};
use hakuriver_itest::{wait_for, wait_for_node, ClusterDir};
use hakuriver_model::{NodeStatus, TaskStatus};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

async fn post(base: &str, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new().post(format!("{base}{path}")).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Types `input` into the env's terminal and returns what it printed until `until` appeared.
async fn terminal(base: &str, env: &str, input: &str, until: &str) -> String {
    let url = format!("{}/ws/docker/host/containers/{env}/terminal", base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("terminal websocket");
    ws.send(Message::text(json!({"type": "resize", "rows": 30, "cols": 100}).to_string())).await.unwrap();
    ws.send(Message::text(json!({"type": "input", "data": input}).to_string())).await.unwrap();
    let mut seen = String::new();
    while !seen.contains(until) {
        let frame =
            tokio::time::timeout(Duration::from_secs(15), ws.next()).await.expect("terminal output").unwrap().unwrap();
        if let Message::Text(text) = frame {
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["type"], "output", "{v}");
            seen.push_str(v["data"].as_str().unwrap());
        }
    }
    ws.close(None).await.ok();
    seen
}

#[tokio::test]
async fn an_env_made_in_the_terminal_reaches_a_task_on_a_runner() {
    ensure_busybox();
    let cluster = ClusterDir::new();
    let base = cluster.base_url();
    let _host = cluster.start_host();
    let _runner = cluster.start_runner("env-node");
    wait_for_node(&base, "env-node", NodeStatus::Online, Duration::from_secs(60)).await;
    let env = cluster.env_name("it-env");

    let (status, answer) =
        post(&base, "/docker/host/create", json!({"image_name": BUSYBOX_IMAGE, "container_name": env})).await;
    assert_eq!(status, 201, "{answer}");
    let list: Vec<Value> = reqwest::get(format!("{base}/docker/host/containers")).await.unwrap().json().await.unwrap();
    assert!(list.iter().any(|c| c["name"] == env.as_str()), "{list:?}");

    let printed =
        terminal(&base, &env, "echo made-in-terminal > /etc/marker && stty size && echo WROTE-$((6*7))\n", "WROTE-42")
            .await;
    assert!(printed.starts_with("Terminal connected."), "{printed}");
    assert!(printed.contains("30 100"), "the TTY has the size the resize frame set: {printed}");

    let (status, answer) = post(&base, &format!("/docker/create_tar/{env}"), json!(null)).await;
    assert_eq!(status, 200, "{answer}");
    let first = answer["tarball_path"].as_str().unwrap().to_string();
    assert!(std::path::Path::new(&first).is_file());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, answer) = post(&base, &format!("/docker/create_tar/{env}"), json!(null)).await;
    let second = answer["tarball_path"].as_str().unwrap().to_string();
    assert!(!std::path::Path::new(&first).exists(), "the older tarball is removed");
    let tars: Value = reqwest::get(format!("{base}/docker/list")).await.unwrap().json().await.unwrap();
    assert_eq!(tars[&env]["all_versions"].as_array().unwrap().len(), 1);
    assert!(second.ends_with(tars[&env]["latest_tarball"].as_str().unwrap()));

    // The runner loads the committed image and a task sees the file made in the terminal.
    hakuriver_itest::images::docker_ok(&["rmi", "--force", &format!("hakuriver/{env}:base")]);
    let (status, answer) = post(
        &base,
        "/submit",
        json!({"command": "cat", "arguments": ["/etc/marker"], "targets": ["env-node"], "container_name": env}),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["task_ids"][0].as_str().unwrap().to_string();
    let task = hakuriver_itest::wait_for_final(&base, &id, Duration::from_secs(60)).await;
    assert_eq!(task.status, TaskStatus::Completed, "{task:?}");
    let out = reqwest::get(format!("{base}/task/{id}/stdout")).await.unwrap().text().await.unwrap();
    assert_eq!(out, "made-in-terminal\n");

    // The runner's heartbeats say which version it has (an earlier heartbeat may still show the
    // image the host's first commit made: heartbeats reach the database once per interval).
    wait_for("the runner to report the current env", Duration::from_secs(10), || async {
        let v: Value = reqwest::get(format!("{base}/api/docker/versions")).await.ok()?.json().await.ok()?;
        (v[&env]["nodes"]["env-node"]["current"] == true).then_some(())
    })
    .await;

    // Bad input.
    assert_eq!(post(&base, &format!("/docker/host/delete/{env}"), json!(null)).await.0, 409, "running: needs force");
    assert_eq!(
        post(&base, "/docker/host/create", json!({"image_name": BUSYBOX_IMAGE, "container_name": "../x"})).await.0,
        400
    );
    assert_eq!(post(&base, "/docker/create_tar/no-such-env", json!(null)).await.0, 404);
    let (status, answer) =
        post(&base, "/docker/host/create", json!({"image_name": "not-here:1", "container_name": "x1"})).await;
    assert_eq!(status, 404, "{answer}");
    assert!(answer["detail"].as_str().unwrap().contains("import"));
    assert_eq!(post(&base, &format!("/docker/host/delete/{env}?force=true"), json!(null)).await.0, 200);
    let _ = std::fs::remove_file(second);
}

#[tokio::test]
async fn a_partial_tarball_is_cleaned_at_start_and_never_loaded() {
    let cluster = ClusterDir::new();
    let dir = cluster.path().join("shared/hakuriver-containers");
    std::fs::create_dir_all(&dir).unwrap();
    let partial = dir.join(".half-1700000000.tar.partial");
    std::fs::write(&partial, b"half a tarball").unwrap();
    let _host = cluster.start_host();
    let base = cluster.base_url();
    wait_for("the host", Duration::from_secs(60), || hakuriver_itest::nodes(&base)).await;
    assert!(!partial.exists(), "removed at start");
    let tars: Value = reqwest::get(format!("{base}/docker/list")).await.unwrap().json().await.unwrap();
    assert_eq!(tars, json!({}));
}

#[tokio::test]
async fn the_terminal_refuses_unknown_containers_with_an_error_frame() {
    let cluster = ClusterDir::new();
    let base = cluster.base_url();
    let _host = cluster.start_host();
    wait_for("the host", Duration::from_secs(60), || hakuriver_itest::nodes(&base)).await;
    let url = format!("{}/api/docker/host/containers/ghost-env/terminal", base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let frame = ws.next().await.unwrap().unwrap();
    let v: Value = serde_json::from_str(frame.to_text().unwrap()).unwrap();
    assert_eq!(v["type"], "error");
    assert!(v["data"].as_str().unwrap().contains("not found"), "{v}");
    match ws.next().await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1008),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn importing_a_rootfs_or_an_image_tar_makes_a_usable_env() {
    use hakuriver_itest::images::{busybox_rootfs_tar, docker_ok};
    ensure_busybox();
    let cluster = ClusterDir::new();
    let base = cluster.base_url();
    let _host = cluster.start_host();
    let _runner = cluster.start_runner("import-node");
    wait_for_node(&base, "import-node", NodeStatus::Online, Duration::from_secs(60)).await;
    // Imports read files inside shared storage only.
    let rootfs = busybox_rootfs_tar(&cluster.shared(), &[("/etc/origin", "rootfs\n")]);
    let image_tar = cluster.shared().join("image.tar");
    docker_ok(&["save", "-o", image_tar.to_str().unwrap(), BUSYBOX_IMAGE]);

    for (path, env, expected) in
        [(&rootfs, cluster.env_name("from-rootfs"), "rootfs\n"), (&image_tar, cluster.env_name("from-image"), "")]
    {
        let (status, answer) = post(&base, "/api/docker/import", json!({"path": path, "name": env})).await;
        assert_eq!(status, 200, "{answer}");
        let tarball = answer["tarball_path"].as_str().unwrap().to_string();
        // The runner loads it from the tarball, as on another machine.
        docker_ok(&["rmi", "--force", &format!("hakuriver/{env}:base")]);
        let body = json!({"command": "sh", "arguments": ["-c", "cat /etc/origin 2>/dev/null; echo ok"],
            "targets": ["import-node"], "container_name": env});
        let (status, answer) = post(&base, "/submit", body).await;
        assert_eq!(status, 202, "{answer}");
        let id = answer["task_ids"][0].as_str().unwrap().to_string();
        let task = hakuriver_itest::wait_for_final(&base, &id, Duration::from_secs(60)).await;
        assert_eq!(task.status, TaskStatus::Completed, "{task:?}");
        let out = reqwest::get(format!("{base}/task/{id}/stdout")).await.unwrap().text().await.unwrap();
        assert_eq!(out, format!("{expected}ok\n"));
        let _ = std::fs::remove_file(tarball);
    }

    let junk = cluster.shared().join("junk.tar");
    std::fs::write(&junk, b"not a tar").unwrap();
    let (status, answer) = post(&base, "/api/docker/import", json!({"path": junk, "name": "junk"})).await;
    assert_eq!(status, 400, "{answer}");
    // Nothing outside shared storage, and no link out of it: the host's own files stay its own.
    let outside = cluster.path().join("outside.tar");
    std::fs::copy(&image_tar, &outside).unwrap();
    let (status, answer) = post(&base, "/api/docker/import", json!({"path": outside, "name": "outside"})).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["detail"].as_str().unwrap().contains("inside paths.shared_dir"), "{answer}");
    let (status, answer) = post(&base, "/api/docker/import", json!({"path": "/etc/passwd", "name": "passwd"})).await;
    assert_eq!(status, 400, "{answer}");
    let link = cluster.shared().join("link.tar");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let (status, answer) = post(&base, "/api/docker/import", json!({"path": link, "name": "linked"})).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["detail"].as_str().unwrap().contains("symbolic link"), "{answer}");
    let (status, _) =
        post(&base, "/api/docker/import", json!({"path": cluster.shared().join("no-such.tar"), "name": "missing"}))
            .await;
    assert_eq!(status, 404);
    let (status, _) = post(&base, "/api/docker/import", json!({"path": "relative.tar", "name": "x"})).await;
    assert_eq!(status, 400);
    let tars: Value = reqwest::get(format!("{base}/docker/list")).await.unwrap().json().await.unwrap();
    assert!(tars.get("junk").is_none(), "nothing half-made: {tars}");
}

#[tokio::test]
async fn first_start_builds_the_default_env_or_says_how_to_fix_it() {
    ensure_busybox();
    let cluster = ClusterDir::new();
    let base = cluster.base_url();
    let env = cluster.env_name("first");
    let mut host = cluster.command("hakuriver-host");
    host.env("HAKURIVER_DOCKER_DEFAULT_CONTAINER_NAME", &env).env("HAKURIVER_DOCKER_INITIAL_BASE_IMAGE", BUSYBOX_IMAGE);
    let mut host = hakuriver_itest::Proc::spawn("host", host, cluster.path().join("host.log"));
    let tars: Value = wait_for("the default env tarball", Duration::from_secs(60), || async {
        let t: Value = reqwest::get(format!("{base}/docker/list")).await.ok()?.json().await.ok()?;
        t.get(&env).is_some().then_some(t)
    })
    .await;
    let tarball =
        cluster.path().join("shared/hakuriver-containers").join(tars[&env]["latest_tarball"].as_str().unwrap());
    assert!(tarball.is_file());
    host.kill();
    hakuriver_itest::images::docker_ok(&["rm", "--force", &env]);

    // Without the image and without a registry: the host still starts and says what to do.
    let cluster = ClusterDir::new();
    let base = cluster.base_url();
    let mut host = cluster.command("hakuriver-host");
    host.env("HAKURIVER_DOCKER_DEFAULT_CONTAINER_NAME", "nothing-here")
        .env("HAKURIVER_DOCKER_INITIAL_BASE_IMAGE", "hakuriver-missing/none:1");
    let host = hakuriver_itest::Proc::spawn("host", host, cluster.path().join("host.log"));
    let health: Value = wait_for("the warning", Duration::from_secs(90), || async {
        let h: Value = reqwest::get(format!("{base}/health")).await.ok()?.json().await.ok()?;
        h.get("warnings").is_some().then_some(h)
    })
    .await;
    let warning = health["warnings"][0].as_str().unwrap();
    assert!(warning.contains("nothing-here") && warning.contains("hakuriver docker tar import"), "{warning}");
    assert!(host.log().contains("hakuriver docker tar import"), "logged too");
}

#[tokio::test]
async fn the_cli_manages_environments() {
    ensure_busybox();
    let cluster = ClusterDir::new();
    let base = cluster.base_url();
    let _host = cluster.start_host();
    wait_for("the host", Duration::from_secs(60), || hakuriver_itest::nodes(&base)).await;
    let env = cluster.env_name("cli-env");
    let ok = |args: &[&str]| {
        let out = cluster.cli(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let created = ok(&["docker", "container", "create", BUSYBOX_IMAGE, &env]);
    assert!(created.contains(&env), "{created}");
    assert!(ok(&["docker", "container", "list"]).contains(&env));
    assert!(ok(&["docker", "container", "list", "-q"]).lines().any(|l| l == env), "names only, one per line");
    assert_golden("docker-container-list", ok(&["docker", "container", "list", "--json"]).as_bytes());
    ok(&["docker", "container", "stop", &env]);
    assert_golden("docker-container-start", ok(&["docker", "container", "start", &env, "--json"]).as_bytes());
    let tarball = ok(&["docker", "tar", "create", &env, "-q"]);
    assert!(std::path::Path::new(tarball.trim()).is_file(), "-q prints the tarball's path: {tarball}");
    assert!(ok(&["docker", "tar", "list"]).contains(&env));
    assert_eq!(ok(&["docker", "tar", "list", "-q"]), format!("{env}\n"));
    assert_golden("docker-tar-list", ok(&["docker", "tar", "list", "--json"]).as_bytes());
    assert_golden("docker-tar-versions", ok(&["docker", "tar", "versions", "--json"]).as_bytes());
    // A shell through the terminal websocket, fed from a pipe.
    let mut shell = cluster.command("hakuriver");
    shell
        .args(["docker", "container", "shell", &env])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = shell.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"echo shell-$((20+22))\nexit\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("shell-42"));
    let refused = cluster.cli(&["docker", "container", "shell", "no-such-env"]);
    assert_eq!(refused.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not found"));

    let running = cluster.cli(&["docker", "container", "delete", &env]);
    assert_eq!(running.status.code(), Some(4), "a running env needs --force");
    assert!(String::from_utf8_lossy(&running.stderr).contains("force"));
    ok(&["docker", "container", "delete", &env, "--force"]);
    let bad = cluster.cli(&["docker", "tar", "create", "Bad/Name"]);
    assert_eq!(bad.status.code(), Some(4), "{}", String::from_utf8_lossy(&bad.stderr));
    let missing = cluster.cli(&["docker", "container", "create", "no-such-image:1", &format!("{env}-x")]);
    assert_eq!(missing.status.code(), Some(4), "{}", String::from_utf8_lossy(&missing.stderr));

    let rootfs = hakuriver_itest::images::busybox_rootfs_tar(&cluster.shared(), &[]);
    let imported = cluster.env_name("cli-imported");
    let op = cluster.cli(&["docker", "tar", "import", rootfs.to_str().unwrap(), &imported, "--json"]);
    assert!(op.status.success(), "{}", String::from_utf8_lossy(&op.stderr));
    let op = assert_golden("docker-tar-import", &op.stdout);
    assert_eq!(op["state"], "succeeded", "{op}");
    let tars: Value = serde_json::from_str(&ok(&["docker", "tar", "list", "--json"])).unwrap();
    assert!(tars.get(&imported).is_some(), "{tars}");
    for t in [&env, &imported] {
        let _ = std::fs::remove_file(
            cluster
                .path()
                .join("shared/hakuriver-containers")
                .join(tars[t]["latest_tarball"].as_str().unwrap_or("none")),
        );
    }
}

#[tokio::test]
async fn long_operations_report_progress_and_can_be_cancelled() {
    use hakuriver_itest::images::busybox_rootfs_tar;
    ensure_busybox();
    let cluster = ClusterDir::new();
    let base = cluster.base_url();
    let _host = cluster.start_host();
    wait_for("the host", Duration::from_secs(60), || hakuriver_itest::nodes(&base)).await;
    let env = cluster.env_name("big");
    let payload = "x".repeat(96 * 1024 * 1024);
    let rootfs = busybox_rootfs_tar(&cluster.shared(), &[("/data/payload", &payload)]);
    drop(payload);

    let (status, answer) =
        post(&base, "/api/docker/import", json!({"path": rootfs, "name": env, "background": true})).await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["operation_id"].as_u64().unwrap();
    let phases = std::sync::Mutex::new(Vec::<String>::new());
    let op: Value = wait_for("the import", Duration::from_secs(120), || async {
        let op: Value = reqwest::get(format!("{base}/api/operations/{id}")).await.ok()?.json().await.ok()?;
        phases.lock().unwrap().push(op["phase"].as_str().unwrap_or_default().to_string());
        (op["state"] != "running").then_some(op)
    })
    .await;
    let phases = phases.into_inner().unwrap();
    assert_eq!(op["state"], "succeeded", "{op}");
    assert_eq!(op["percent"], 100.0);
    assert!(phases.iter().any(|p| p == "importing" || p == "saving"), "progress was visible: {phases:?}");
    let first = op["result"]["tarball_path"].as_str().unwrap().to_string();

    // A create-tar cancelled at once leaves no partial file and keeps the previous tarball.
    assert_eq!(
        post(
            &base,
            "/docker/host/create",
            json!({"image_name": format!("hakuriver/{env}:base"), "container_name": env})
        )
        .await
        .0,
        201
    );
    let (status, answer) = post(&base, &format!("/api/docker/create_tar/{env}?background=true"), json!(null)).await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["operation_id"].as_u64().unwrap();
    let cancelled = reqwest::Client::new().delete(format!("{base}/api/operations/{id}")).send().await.unwrap();
    if cancelled.status() == 200 {
        let op: Value = cancelled.json().await.unwrap();
        assert_eq!(op["state"], "cancelled");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let dir = cluster.path().join("shared/hakuriver-containers");
        let files: Vec<String> =
            std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name().into_string().unwrap()).collect();
        assert_eq!(files.len(), 1, "only the imported tarball: {files:?}");
        assert!(first.ends_with(&files[0]));
    } else {
        // The save finished before the cancel arrived: the cancel is refused, not half-applied.
        assert_eq!(cancelled.status(), 409);
    }
    let again = reqwest::Client::new().delete(format!("{base}/api/operations/{id}")).send().await.unwrap();
    assert_eq!(again.status(), 409, "a finished operation cannot be cancelled");
    let list: Vec<Value> = reqwest::get(format!("{base}/api/operations")).await.unwrap().json().await.unwrap();
    assert!(list.iter().any(|o| o["kind"] == "import"));
    hakuriver_itest::images::docker_ok(&["rm", "--force", &env]);
    hakuriver_itest::images::docker_ok(&["rmi", "--force", &format!("hakuriver/{env}:base")]);
}

#[tokio::test]
async fn a_host_killed_during_a_save_leaves_nothing_a_runner_would_load() {
    use hakuriver_itest::images::{build_busybox_image, docker_ok};
    ensure_busybox();
    let cluster = ClusterDir::new();
    let base = cluster.base_url();
    let env = cluster.env_name("killed");
    let payload = "y".repeat(128 * 1024 * 1024);
    build_busybox_image(&format!("hakuriver/{env}:base"), &[("/data/payload", &payload)]);
    drop(payload);
    let mut host = cluster.start_host();
    wait_for("the host", Duration::from_secs(60), || hakuriver_itest::nodes(&base)).await;
    let (status, _) = post(
        &base,
        "/docker/host/create",
        json!({"image_name": format!("hakuriver/{env}:base"), "container_name": env}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, answer) = post(&base, &format!("/api/docker/create_tar/{env}?background=true"), json!(null)).await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["operation_id"].as_u64().unwrap();
    // Kill the host while it writes the tarball.
    wait_for("the save to start", Duration::from_secs(60), || async {
        let op: Value = reqwest::get(format!("{base}/api/operations/{id}")).await.ok()?.json().await.ok()?;
        (op["phase"] == "saving" && op["bytes"].as_u64()? > 0).then_some(())
    })
    .await;
    host.kill();
    let dir = cluster.path().join("shared/hakuriver-containers");
    let names = || -> Vec<String> {
        std::fs::read_dir(&dir)
            .map(|d| d.flatten().map(|e| e.file_name().into_string().unwrap()).collect())
            .unwrap_or_default()
    };
    assert!(
        names().iter().all(|n| n.starts_with('.') && n.ends_with(".partial")),
        "only a hidden partial: {:?}",
        names()
    );

    let _host = cluster.start_host();
    wait_for("the host again", Duration::from_secs(60), || hakuriver_itest::nodes(&base)).await;
    assert!(names().is_empty(), "the partial file is cleaned at start: {:?}", names());
    docker_ok(&["rm", "--force", &env]);
    docker_ok(&["rmi", "--force", &format!("hakuriver/{env}:base")]);
}

#[tokio::test]
async fn a_runners_load_shows_its_progress() {
    use hakuriver_itest::images::{build_busybox_image, docker_ok, save_env_tarball};
    ensure_busybox();
    // Fast heartbeats, so a load of a few hundred megabytes is seen while it runs.
    let cluster = ClusterDir::with_timing(0.2, 50.0);
    let base = cluster.base_url();
    let env = cluster.env_name("loadme");
    let image = format!("hakuriver/{env}:base");
    let payload = "w".repeat(384 * 1024 * 1024);
    build_busybox_image(&image, &[("/data/payload", &payload)]);
    drop(payload);
    let tarball = save_env_tarball(&image, &cluster.path().join("shared/hakuriver-containers"), &env);
    docker_ok(&["rmi", "--force", &image]);
    let _host = cluster.start_host();
    let _runner = cluster.start_runner("load-node");
    wait_for_node(&base, "load-node", NodeStatus::Online, Duration::from_secs(60)).await;

    let (status, answer) =
        post(&base, "/submit", json!({"command": "true", "targets": ["load-node"], "container_name": env})).await;
    assert_eq!(status, 202, "{answer}");
    let seen: Value = wait_for("the load in progress", Duration::from_secs(60), || async {
        let v: Value = reqwest::get(format!("{base}/api/docker/versions")).await.ok()?.json().await.ok()?;
        v[&env]["loading"]["load-node"].is_object().then(|| v[&env]["loading"]["load-node"].clone())
    })
    .await;
    assert!(seen["total_bytes"].as_u64().unwrap() > 384_000_000, "{seen}");
    let id = answer["task_ids"][0].as_str().unwrap().to_string();
    let task = hakuriver_itest::wait_for_final(&base, &id, Duration::from_secs(120)).await;
    assert_eq!(task.status, TaskStatus::Completed);
    wait_for("the load entry to go", Duration::from_secs(10), || async {
        let v: Value = reqwest::get(format!("{base}/api/docker/versions")).await.ok()?.json().await.ok()?;
        v[&env]["loading"].as_object().is_some_and(|m| m.is_empty()).then_some(())
    })
    .await;
    docker_ok(&["rmi", "--force", &image]);
    let _ = std::fs::remove_file(tarball);
}

/// A fresh cluster on a machine with no registry (the quick start here): the default
/// environment's image cannot be pulled, so the host builds a small one from the machine's static
/// busybox, says so, and `hakuriver task submit --wait -- echo hi` runs in a container.
#[tokio::test]
async fn a_fresh_cluster_without_a_registry_runs_a_container_task() {
    ensure_busybox();
    let cluster = ClusterDir::new();
    let env = cluster.env_name("quickstart");
    cluster.append_config(&format!("[docker]\ndefault_container_name = \"{env}\"\n"));
    let mut command = cluster.command("hakuriver-host");
    command.env("HAKURIVER_DOCKER_INITIAL_BASE_IMAGE", "registry.invalid/hakuriver/none:1");
    let host = hakuriver_itest::Proc::spawn("host", command, cluster.path().join("host.log"));
    let _runner = cluster.start_runner("fresh-node");
    wait_for_node(&cluster.base_url(), "fresh-node", NodeStatus::Online, Duration::from_secs(60)).await;
    let tarballs = cluster.shared().join("hakuriver-containers");
    wait_for("the default environment's tarball", Duration::from_secs(120), || async {
        let names: Vec<String> =
            std::fs::read_dir(&tarballs).ok()?.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
        names.iter().any(|n| n.starts_with(&format!("{env}-")) && n.ends_with(".tar")).then_some(())
    })
    .await;
    // It says so (once the tarball is in place, so the line may come a moment after it).
    wait_for("the host to say so", Duration::from_secs(10), || async {
        host.log().contains("was built from this machine's busybox").then_some(())
    })
    .await;
    let health: Value = reqwest::get(format!("{}/api/health", cluster.base_url())).await.unwrap().json().await.unwrap();
    assert!(health.to_string().contains("busybox"), "and /health says so: {health}");

    let submitted = cluster.cli(&["task", "submit", "--wait", "-q", "-t", "fresh-node", "--", "echo", "hi"]);
    assert!(submitted.status.success(), "{}", String::from_utf8_lossy(&submitted.stderr));
    let id = String::from_utf8_lossy(&submitted.stdout).trim().to_string();
    let logs = cluster.cli(&["task", "logs", &id]);
    assert_eq!(String::from_utf8_lossy(&logs.stdout), "hi\n");
    let task: Value =
        reqwest::get(format!("{}/api/status/{id}", cluster.base_url())).await.unwrap().json().await.unwrap();
    assert_eq!(task["container_name"], json!(env), "in the default environment's container");
}

#[tokio::test]
async fn an_env_container_from_a_registry_image_is_pulled_with_its_login_and_progress() {
    ensure_busybox();
    let mut registry = hakuriver_itest::registry::Registry::with_login();
    let cluster = ClusterDir::new();
    // An image with a layer big enough for the engine to report its download (8 MB of text).
    let blob: String =
        (0..1_000_000u64).map(|i| format!("{:08x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32)).collect();
    let tar = hakuriver_itest::images::busybox_rootfs_tar(&cluster.shared(), &[("/data/blob.txt", &blob)]);
    let local = format!("hakuriver-itest/registry-source:{}", cluster.host_port);
    hakuriver_itest::images::docker_ok(&["import", tar.to_str().unwrap(), &local]);
    let reference = registry.push(&local, "lab/busybox:1");
    hakuriver_itest::images::docker_ok(&["rmi", &local]);
    let password = hakuriver_itest::registry::PASSWORD;
    cluster.append_config(&format!(
        "[registries.\"{}\"]\nusername = \"{}\"\npassword = \"{password}\"\n",
        registry.address,
        hakuriver_itest::registry::USER
    ));
    let base = cluster.base_url();
    let mut host = cluster.start_host();
    wait_for("the host", Duration::from_secs(20), || async {
        reqwest::get(format!("{base}/health")).await.ok().filter(|r| r.status().is_success())
    })
    .await;

    // The CLI follows the pull (an operation) and the container runs from the pulled image.
    let env = cluster.env_name("pulled");
    let out = cluster.cli(&["docker", "container", "create", &reference, &env]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ops: Value = reqwest::get(format!("{base}/api/operations")).await.unwrap().json().await.unwrap();
    let op = ops.as_array().unwrap().iter().find(|o| o["kind"] == "create_env" && o["target"] == env.as_str()).cloned();
    let op = op.expect("the create was an operation");
    assert_eq!(op["state"], "succeeded", "{op}");
    assert!(op["bytes"].as_u64().unwrap() > 100_000, "the pull's bytes were counted: {op}");
    let image = hakuriver_itest::images::docker_ok(&["inspect", "--format", "{{.Config.Image}}", &env]);
    assert_eq!(image, reference);

    // A reference the registry does not have: refused with the reason and the way out.
    let (status, answer) = post(
        &base,
        "/api/docker/host/create",
        json!({"image_name": format!("{}/lab/none:1", registry.address), "container_name": format!("{env}-none")}),
    )
    .await;
    assert_eq!(status, 404, "{answer}");
    let detail = answer["detail"].as_str().unwrap();
    assert!(detail.contains("cannot pull") && detail.contains("[registries]"), "{detail}");
    host.kill();
    assert!(!host.log().contains(password), "the registry password was logged");

    // Without the login the registry refuses the pull, and the host says so.
    hakuriver_itest::images::docker_ok(&["rm", "--force", &env]);
    hakuriver_itest::images::docker_ok(&["rmi", &reference]);
    let anonymous = ClusterDir::new();
    let base = anonymous.base_url();
    let _host = anonymous.start_host();
    wait_for("the host", Duration::from_secs(20), || async {
        reqwest::get(format!("{base}/health")).await.ok().filter(|r| r.status().is_success())
    })
    .await;
    let out = anonymous.cli(&["docker", "container", "create", &reference, &anonymous.env_name("refused")]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("cannot pull") && said.contains("no basic auth credentials"), "{said}");
}
