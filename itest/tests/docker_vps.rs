// suite: docker
//! VPS tasks on the real Docker engine with the debootstrapped Debian sshd image, reached with the
//! real OpenSSH client: through `hakuriver ssh` (the original handshake) and through a stock
//! `ssh -J` (the jump host). Also: the web terminal, `hakuriver forward` to the container's port
//! 22, a runner killed with -9 and restarted, a kill that closes the way in, and an environment
//! without sshd.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hakuriver_itest::images::{container_exists, docker_ok, ensure_busybox, ensure_sshd, BUSYBOX_ENV, SSHD_ENV};
use hakuriver_itest::{wait_for, wait_for_final, wait_for_node, ClusterDir};
use hakuriver_model::{NodeStatus, TaskStatus, TaskView};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

/// A fresh ed25519 key pair and an ssh config that uses only it and trusts any host key.
struct Keys {
    _dir: tempfile::TempDir,
    public: String,
    config: PathBuf,
}

fn new_keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id_ed25519");
    let made =
        Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", "itest", "-f"]).arg(&key).status();
    assert!(made.expect("run ssh-keygen (apt-get install openssh-client)").success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let config = dir.path().join("ssh_config");
    std::fs::write(
        &config,
        format!(
            "Host *\n  IdentityFile {}\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n  \
             UserKnownHostsFile /dev/null\n  BatchMode yes\n  LogLevel ERROR\n  ConnectTimeout 20\n",
            key.display()
        ),
    )
    .unwrap();
    Keys { _dir: dir, public: public.trim().to_string(), config }
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Stock OpenSSH through the jump host: `ssh -J hakuriver@127.0.0.1:<proxy> root@vps-<id> <cmd>`.
fn ssh_jump(config: &Path, proxy_port: u16, id: &str, command: &str) -> Output {
    Command::new("ssh")
        .arg("-F")
        .arg(config)
        .arg("-J")
        .arg(format!("hakuriver@127.0.0.1:{proxy_port}"))
        .arg(format!("root@vps-{id}"))
        .arg(command)
        .output()
        .expect("run ssh")
}

async fn task(base: &str, id: &str) -> TaskView {
    reqwest::get(format!("{base}/api/status/{id}")).await.unwrap().json().await.unwrap()
}

async fn wait_running(base: &str, id: &str) -> TaskView {
    wait_for(&format!("VPS {id} to run"), Duration::from_secs(90), || async {
        let t = task(base, id).await;
        assert!(!t.status.is_final(), "the VPS ended: {t:?}");
        (t.status == TaskStatus::Running && t.ssh_port.is_some()).then_some(t)
    })
    .await
}

/// The proxy's answer to `REQUEST_TUNNEL <id>`.
async fn tunnel_answer(proxy_port: u16, id: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", proxy_port)).await.unwrap();
    s.write_all(format!("REQUEST_TUNNEL {id}\n").as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_string(&mut answer)).await.unwrap().unwrap();
    answer
}

/// Types into the task's web terminal until `until` shows up; returns what it printed.
async fn terminal(base: &str, id: &str, input: &str, until: &str) -> String {
    let url = format!("{}/api/tasks/{id}/terminal", base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("terminal websocket");
    ws.send(Message::text(json!({"type": "resize", "rows": 33, "cols": 111}).to_string())).await.unwrap();
    ws.send(Message::text(json!({"type": "input", "data": input}).to_string())).await.unwrap();
    let mut seen = String::new();
    while !seen.contains(until) {
        let frame = tokio::time::timeout(Duration::from_secs(20), ws.next()).await.expect("terminal output");
        match frame {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                assert_eq!(v["type"], "output", "{v}");
                seen.push_str(v["data"].as_str().unwrap());
            }
            Some(Ok(_)) => {}
            other => panic!("terminal ended early ({other:?}); output so far: {seen}"),
        }
    }
    ws.send(Message::Close(None)).await.unwrap();
    // The host closes its side in turn.
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Close(_) = m {
                return true;
            }
        }
        true
    });
    assert!(closed.await.unwrap());
    seen
}

#[tokio::test]
async fn a_vps_through_hakuriver_ssh_and_ssh_jump_survives_a_runner_restart_and_dies_on_kill() {
    ensure_sshd();
    // Slow offline timeout: the runner is restarted well within it.
    let cluster = ClusterDir::with_timing(0.5, 30.0);
    let base = cluster.base_url();
    let _host = cluster.start_host();
    let mut runner = cluster.start_runner("vps1");
    wait_for_node(&base, "vps1", NodeStatus::Online, Duration::from_secs(60)).await;
    let keys = new_keys();

    // Submit with the CLI; the answer carries the port once sshd answers (the original's field).
    let out = cluster.cli(&[
        "vps",
        "submit",
        "--target",
        "vps1",
        "--container",
        SSHD_ENV,
        "--memory",
        "512M",
        "--public-key-string",
        &keys.public,
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let answer = hakuriver_itest::golden::assert_golden("vps-submit", &out.stdout);
    let id = answer["task_ids"][0].as_str().unwrap().to_string();
    let running = wait_running(&base, &id).await;
    let port = running.ssh_port.unwrap();
    assert_eq!(answer["runner_response"]["ssh_port"], json!(port), "{answer}");
    let container = format!("hakuriver-vps-{id}");
    let inspect = docker_ok(&[
        "inspect",
        "--format",
        "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.Memory}} {{.Config.Labels}}",
        &container,
    ]);
    assert!(inspect.starts_with("unless-stopped 512000000 "), "{inspect}");
    assert!(inspect.contains("hakuriver.kind:vps"), "{inspect}");
    let published = docker_ok(&["port", &container, "22"]);
    assert_eq!(published, format!("127.0.0.1:{port}"), "published on the runner's address only");

    // `vps list` shows it with its port.
    let out = cluster.cli(&["vps", "list"]);
    assert!(text(&out).contains(&id) && text(&out).contains(&port.to_string()), "{}", text(&out));
    hakuriver_itest::golden::assert_golden("vps-list", &cluster.cli(&["vps", "list", "--json"]).stdout);
    assert_eq!(cluster.cli(&["vps", "list", "-q"]).stdout, format!("{id}\n").into_bytes());

    // 1. hakuriver ssh: local proxy + the system ssh, a command and its output.
    let out =
        cluster.cli(&["ssh", &id, "--", "-F", keys.config.to_str().unwrap(), "echo", "via-handshake", "$((6*7))"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("via-handshake 42"), "{}", text(&out));
    // Key-only: the VPS's sshd offers no other way in.
    let password = Command::new("ssh")
        .arg("-F")
        .arg(&keys.config)
        .args(["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive"])
        .arg("-J")
        .arg(format!("hakuriver@127.0.0.1:{}", cluster.proxy_port))
        .arg(format!("root@vps-{id}"))
        .arg("true")
        .output()
        .unwrap();
    assert!(!password.status.success());
    assert!(text(&password).contains("Permission denied (publickey)"), "{}", text(&password));

    // 2. stock ssh -J through the jump host.
    let out = ssh_jump(&keys.config, cluster.proxy_port, &id, "cat /etc/debian_version && whoami");
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("root\n"), "{}", text(&out));
    // Another key does not get through the jump host.
    let stranger = new_keys();
    let out = ssh_jump(&stranger.config, cluster.proxy_port, &id, "true");
    assert!(!out.status.success(), "a key the VPS was not made with got through");
    // --print gives the same way in.
    let out = cluster.cli(&["ssh", &id, "--print"]);
    assert!(
        text(&out).contains(&format!("ssh -J hakuriver@127.0.0.1:{} root@vps-{id}", cluster.proxy_port)),
        "{}",
        text(&out)
    );

    // 3. The web terminal, relayed host → runner → docker exec.
    let seen = terminal(&base, &id, "stty size; echo term-$((20+22))\n", "term-42").await;
    assert!(seen.contains("33 111"), "the resize frame reached the TTY: {seen}");
    // The other side closing: the shell exits, the runner closes, the host passes the close on.
    let url = format!("{}/api/tasks/{id}/terminal", base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("terminal websocket");
    ws.send(Message::text(json!({"type": "input", "data": "exit\n"}).to_string())).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Close(frame) = m {
                return frame.map(|f| u16::from(f.code));
            }
        }
        None
    })
    .await
    .expect("the host closes the terminal when the shell exits");
    assert_eq!(closed, Some(1000));

    // 3b. `hakuriver forward` to port 22 inside the container (its own address in Docker's
    // network, not the published port): sshd's banner, then a whole ssh session through it.
    let (forward, local) = cluster.start_forward(&id, 22).await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", local)).await.expect("the forward listens");
    let mut banner = vec![0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut banner)).await.unwrap().unwrap();
    assert!(banner[..n].starts_with(b"SSH-2.0-OpenSSH"), "{:?}", String::from_utf8_lossy(&banner[..n]));
    drop(stream);
    let out = Command::new("ssh")
        .arg("-F")
        .arg(&keys.config)
        .args(["-p", &local.to_string(), "root@127.0.0.1", "echo via-forward $((6*7))"])
        .output()
        .expect("run ssh");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "via-forward 42\n", "{}\n{}", text(&out), forward.log());
    drop(forward);

    // 4. kill -9 the runner and start it again: the VPS keeps running and is adopted.
    let started = docker_ok(&["inspect", "--format", "{{.State.StartedAt}}", &container]);
    runner.kill();
    let mut runner = cluster.start_runner("vps1");
    wait_for_node(&base, "vps1", NodeStatus::Online, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(3)).await; // several heartbeats: the host keeps it
    let after = wait_running(&base, &id).await;
    assert_eq!(after.ssh_port, Some(port));
    assert_eq!(docker_ok(&["inspect", "--format", "{{.State.StartedAt}}", &container]), started, "same container");
    let out = ssh_jump(&keys.config, cluster.proxy_port, &id, "echo still-here");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "still-here\n", "{}", text(&out));

    // 5. Pause and resume reach the container.
    assert!(cluster.cli(&["vps", "pause", &id]).status.success());
    wait_for("paused", Duration::from_secs(20), || async {
        (task(&base, &id).await.status == TaskStatus::Paused).then_some(())
    })
    .await;
    assert_eq!(hakuriver_itest::images::container_state(&container).as_deref(), Some("paused"));
    assert!(tunnel_answer(cluster.proxy_port, &id)
        .await
        .starts_with(&format!("ERROR VPS task {id} is not active (status: paused).")));
    assert!(cluster.cli(&["vps", "resume", &id]).status.success());
    wait_running(&base, &id).await;

    // 6. Kill: the container goes, and the proxy says why it cannot tunnel.
    let out = cluster.cli(&["vps", "kill", &id]);
    assert!(out.status.success(), "{}", text(&out));
    wait_for("the VPS container to go", Duration::from_secs(30), || async {
        (!container_exists(&container)).then_some(())
    })
    .await;
    assert_eq!(task(&base, &id).await.status, TaskStatus::Killed);
    assert_eq!(
        tunnel_answer(cluster.proxy_port, &id).await,
        format!("ERROR VPS task {id} is not active (status: killed).\n")
    );
    let out = ssh_jump(&keys.config, cluster.proxy_port, &id, "true");
    assert!(!out.status.success());
    runner.terminate(Duration::from_secs(10));
}

#[tokio::test]
async fn a_vps_needs_sshd_and_a_real_key() {
    ensure_busybox();
    let cluster = ClusterDir::new();
    // The bad requests below name no environment: the default must count as existing, or the
    // host would refuse them for that first.
    cluster.stand_in_tarball("hakuriver-base");
    let base = cluster.base_url();
    let _host = cluster.start_host();
    let _runner = cluster.start_runner("bare1");
    wait_for_node(&base, "bare1", NodeStatus::Online, Duration::from_secs(60)).await;
    let keys = new_keys();
    let submit = |body: Value| {
        let base = base.clone();
        async move {
            let r = reqwest::Client::new().post(format!("{base}/api/submit")).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };

    // Busybox has no sshd and no package manager: the VPS fails with that reason, no hanging.
    let (code, answer) = submit(
        json!({"task_type": "vps", "command": keys.public, "targets": ["bare1"], "container_name": BUSYBOX_ENV}),
    )
    .await;
    assert_eq!(code, 202, "{answer}");
    assert!(answer.get("runner_response").is_none(), "{answer}");
    let id = answer["task_ids"][0].as_str().unwrap().to_string();
    let done = wait_for_final(&base, &id, Duration::from_secs(60)).await;
    assert_eq!(done.status, TaskStatus::Failed);
    assert!(done.error_message.as_deref().unwrap_or("").contains("no sshd"), "{done:?}");
    assert!(!container_exists(&format!("hakuriver-vps-{id}")));

    // Bad keys and shapes are refused before anything runs.
    for (body, why) in [
        (json!({"task_type": "vps", "command": "ssh-ed25519 AAAA'; rm -rf /"}), "Invalid SSH public key"),
        (json!({"task_type": "vps", "command": ""}), "Invalid SSH public key"),
        (json!({"task_type": "vps", "command": keys.public, "container_name": "NULL"}), "require a Docker container"),
        (json!({"task_type": "vps", "command": keys.public, "targets": ["a", "b"]}), "multiple targets"),
    ] {
        let (code, answer) = submit(body).await;
        assert_eq!(code, 400, "{answer}");
        assert!(answer["detail"].as_str().unwrap().contains(why), "{answer}");
    }
    let out = cluster.cli(&["vps", "submit", "--public-key-string", "not a key"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[tokio::test]
async fn a_vps_stopped_and_started_keeps_its_disk_and_saved_becomes_an_environment() {
    ensure_sshd();
    let cluster = ClusterDir::new();
    cluster.append_config("[docker]\nvps_snapshots_kept = 2\n");
    let base = cluster.base_url();
    let _host = cluster.start_host();
    let _runner = cluster.start_runner("keep1");
    wait_for_node(&base, "keep1", NodeStatus::Online, Duration::from_secs(60)).await;
    let keys = new_keys();
    let out = cluster.cli(&[
        "vps",
        "submit",
        "-t",
        "keep1",
        "--container",
        SSHD_ENV,
        "--cores",
        "2",
        "--public-key-string",
        &keys.public,
        "-q",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    wait_running(&base, &id).await;
    let out = ssh_jump(&keys.config, cluster.proxy_port, &id, "echo set-up-by-hand > /root/kept.txt && echo ok");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n", "{}", text(&out));
    let container = format!("hakuriver-vps-{id}");

    // Stop: the container stays, stopped; the VPS holds no cores; the proxy says why.
    let out = cluster.cli(&["vps", "stop", &id]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(task(&base, &id).await.status, TaskStatus::ShutOff);
    assert_eq!(hakuriver_itest::images::container_state(&container).as_deref(), Some("exited"));
    let cores: Value = reqwest::get(format!("{base}/api/nodes/keep1")).await.unwrap().json().await.unwrap();
    assert_eq!(cores["cores_in_use"], json!(0), "{cores}");
    assert!(tunnel_answer(cluster.proxy_port, &id).await.contains("not active (status: shut_off)"));
    let listed = cluster.cli(&["vps", "list"]);
    assert!(text(&listed).contains("shut_off"), "a stopped VPS is listed: {}", text(&listed));
    // Stopping twice, or starting a command task, is refused with the reason.
    let out = cluster.cli(&["vps", "stop", &id]);
    assert!(!out.status.success());

    // Start: the same container again, with its disk.
    let out = cluster.cli(&["vps", "start", &id]);
    assert!(out.status.success(), "{}", text(&out));
    wait_running(&base, &id).await;
    let out = ssh_jump(&keys.config, cluster.proxy_port, &id, "cat /root/kept.txt");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "set-up-by-hand\n", "{}", text(&out));

    // Save it as an environment (running: paused for the commit), and run a task from it.
    let env = cluster.env_name("from-vps");
    let out = cluster.cli(&["vps", "save", &id, &env, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let op: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(op["state"], "succeeded", "{op}");
    assert!(op["bytes"].as_u64().unwrap() > 1_000_000, "progress was reported: {op}");
    let tarball = op["result"]["tarball_path"].as_str().unwrap().to_string();
    assert!(std::path::Path::new(&tarball).is_file(), "{tarball}");
    assert_eq!(task(&base, &id).await.status, TaskStatus::Running, "the VPS runs on after its save");
    let out = cluster.cli(&[
        "task",
        "submit",
        "-t",
        "keep1",
        "--cores",
        "0",
        "--container",
        &env,
        "--wait",
        "-q",
        "--",
        "cat",
        "/root/kept.txt",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let task_id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let logs = cluster.cli(&["task", "logs", &task_id]);
    assert_eq!(String::from_utf8_lossy(&logs.stdout), "set-up-by-hand\n", "{}", text(&logs));
    // Saved while stopped too; the newest two versions are kept, the snapshots say which.
    assert!(cluster.cli(&["vps", "save", &id, &env]).status.success());
    assert!(cluster.cli(&["vps", "stop", &id]).status.success());
    let out = cluster.cli(&["vps", "save", &id, &env]);
    assert!(out.status.success(), "{}", text(&out));
    let out = cluster.cli(&["vps", "snapshots", &id, "--json"]);
    let snapshots: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kept: Vec<bool> = snapshots.as_array().unwrap().iter().map(|s| s["present"].as_bool().unwrap()).collect();
    assert_eq!(kept, [true, true, false], "{snapshots}");
    let on_disk = std::fs::read_dir(cluster.shared().join("hakuriver-containers"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&format!("{env}-")))
        .count();
    assert_eq!(on_disk, 2);
    // Bad input: a bad name, a task that is no VPS.
    let out = cluster.cli(&["vps", "save", &id, "Bad Name"]);
    assert!(!out.status.success() && text(&out).contains("name"), "{}", text(&out));
    let out = cluster.cli(&["vps", "save", &task_id, &env]);
    assert!(!out.status.success() && text(&out).contains("not a VPS"), "{}", text(&out));

    // Killing a stopped VPS removes its kept container.
    let out = cluster.cli(&["vps", "kill", &id]);
    assert!(out.status.success(), "{}", text(&out));
    wait_for("the kept container to go", Duration::from_secs(30), || async {
        (!container_exists(&container)).then_some(())
    })
    .await;
}
