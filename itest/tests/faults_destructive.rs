// suite: faults
//! Faults that touch the machine itself: the Docker engine restarted under running tasks, shared
//! storage that fills up, a network cut between host and runner. Each is `#[ignore]`d and runs
//! only with `HAKURIVER_TEST_DESTRUCTIVE=1 … --include-ignored` (scripts/test-all.sh sets both),
//! so `cargo test` on a developer's machine never restarts its dockerd, mounts or cuts a network.

use std::time::Duration;

use hakuriver_itest::fault_cluster::*;
use hakuriver_itest::images::{container_exists, container_state, ensure_busybox, ensure_sshd, BUSYBOX_ENV, SSHD_ENV};
use hakuriver_itest::{wait_for, wait_for_node, ClusterDir, Proc};
use hakuriver_model::{NodeStatus, TaskStatus};
use serde_json::{json, Value};

/// Restarts the Docker engine as a service manager would (SIGTERM, then a fresh `dockerd`, as
/// scripts/setup.sh starts it) and waits until it answers again.
fn restart_docker_engine() {
    let gone = || std::process::Command::new("pgrep").args(["-x", "dockerd"]).status().is_ok_and(|s| !s.success());
    assert!(std::process::Command::new("pkill").args(["-TERM", "-x", "dockerd"]).status().expect("pkill").success());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !gone() {
        assert!(std::time::Instant::now() < deadline, "dockerd did not stop within 60 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open("/var/log/hakuriver-dockerd.log")
        .expect("the dockerd log");
    // `setsid --fork`: dockerd runs on in a session of its own, not a child of this test.
    let started = std::process::Command::new("setsid")
        .args(["--fork", "dockerd"])
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .status()
        .expect("start dockerd");
    assert!(started.success(), "setsid --fork dockerd: {started}");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !std::process::Command::new("docker").arg("info").output().is_ok_and(|o| o.status.success()) {
        assert!(std::time::Instant::now() < deadline, "dockerd did not answer within 60 s of its start");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[tokio::test]
#[ignore = "destructive: restarts dockerd, mounts or cuts networks; run with HAKURIVER_TEST_DESTRUCTIVE=1 --include-ignored"]
async fn the_docker_engine_restarted_under_running_tasks() {
    hakuriver_itest::destructive();
    ensure_busybox();
    ensure_sshd();
    let (dir, _host, _runner) = cluster("fault-engine");
    let base = dir.base_url();
    wait_for_node(&base, "fault-engine", NodeStatus::Online, START).await;
    let mut faults = Faults::default();
    let command = submit(
        &base,
        json!({"command": "sh", "arguments": ["-c", "echo before; sleep 60; echo after"],
        "targets": ["fault-engine"], "container_name": BUSYBOX_ENV}),
    )
    .await;
    let vps = submit(
        &base,
        json!({"task_type": "vps", "command": public_key(), "targets": ["fault-engine"],
        "container_name": SSHD_ENV, "queue": true}),
    )
    .await;
    wait_status(&base, &command, TaskStatus::Running).await;
    wait_status(&base, &vps, TaskStatus::Running).await;
    // The log line is out before the engine goes.
    wait_for("the first line", START, || async { (stdout(&base, &command).await == "before\n").then_some(()) }).await;

    restart_docker_engine();
    faults.injected += 1;

    // The engine stopped the command task's container: the task fails with the code it was
    // stopped with and its log as it was; its container is removed.
    let ended = wait_for("the command task to end", Duration::from_secs(120), || async {
        task(&base, &command).await.filter(|t| t.status.is_final())
    })
    .await;
    let log = stdout(&base, &command).await;
    println!("the command task after the engine restart: {:?} {:?}", ended.exit_code, ended.error_message);
    faults.check(
        ended.status == TaskStatus::Failed && ended.exit_code.is_some_and(|c| c != 0) && log == "before\n",
        || format!("command task after the engine restart: {ended:?}, log {log:?}"),
    );
    let container = format!("hakuriver-task-{command}");
    wait_for("the ended task's container to go", START, || async { (!container_exists(&container)).then_some(()) })
        .await;
    // The VPS comes back by its restart policy and stays running.
    let vps_container = format!("hakuriver-vps-{vps}");
    wait_for("the VPS container running again", Duration::from_secs(60), || async {
        (container_state(&vps_container).as_deref() == Some("running")).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let still = task(&base, &vps).await.expect("the VPS");
    faults.check(still.status == TaskStatus::Running && still.ssh_port.is_some(), || {
        format!("VPS after the engine restart: {still:?}")
    });

    // The runner talks to the new engine by itself: the next task runs.
    let next = submit(
        &base,
        json!({"command": "echo", "arguments": ["after the restart"], "targets": ["fault-engine"],
        "container_name": BUSYBOX_ENV}),
    )
    .await;
    let done = wait_status(&base, &next, TaskStatus::Completed).await;
    let log = stdout(&base, &next).await;
    faults.check(done.exit_code == Some(0) && log == "after the restart\n", || format!("next task: {done:?}, {log:?}"));
    let r = reqwest::Client::new().post(format!("{base}/kill/{vps}")).send().await.expect("kill the VPS");
    assert_eq!(r.status(), 202);
    wait_for("the VPS container to go", START, || async { (!container_exists(&vps_container)).then_some(()) }).await;
    faults.report();
}

/// A small tmpfs mounted over a folder for the length of a test (root only); unmounted on drop,
/// also when the test fails.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(path: &std::path::Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(path).expect("the mount point");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .expect("run mount");
        assert!(status.success(), "mounting a tmpfs needs root (the fault suite runs as root)");
        SmallDisk(path.to_path_buf())
    }

    /// Remounts it with `options` (`ro`, `size=8m`: a tmpfs shrinks while it is mostly empty).
    fn remount(&self, options: &str) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.0)
            .status()
            .expect("run mount");
        assert!(status.success(), "remount {options}");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test]
#[ignore = "destructive: restarts dockerd, mounts or cuts networks; run with HAKURIVER_TEST_DESTRUCTIVE=1 --include-ignored"]
async fn failing_shared_storage_fails_tasks_with_the_reason_and_the_host_serves_on() {
    hakuriver_itest::destructive();
    ensure_busybox();
    let dir = ClusterDir::with_timing(0.5, 20.0);
    // The shared folder on its own disk: big enough for the daemons' start checks (1 GB free),
    // then shrunk to 8 MiB under them.
    let disk = SmallDisk::mount(&dir.path().join("shared"), "2g");
    let base = dir.base_url();
    let _host = dir.start_host();
    let _runner = dir.start_runner("fault-disk");
    wait_for_node(&base, "fault-disk", NodeStatus::Online, START).await;
    disk.remount("size=8m");
    let mut faults = Faults::default();
    let body = |args: &[&str]| json!({"command": args[0], "arguments": &args[1..], "targets": ["fault-disk"], "container_name": BUSYBOX_ENV});

    // Full: a task writing 32 MiB of output fails, saying so.
    let full = submit(&base, body(&["dd", "if=/dev/zero", "bs=1048576", "count=32"])).await;
    faults.injected += 1;
    let t = wait_status(&base, &full, TaskStatus::Failed).await;
    let reason = t.error_message.clone().unwrap_or_default();
    faults.check(reason.contains("No space left"), || format!("full disk: {reason:?}"));

    // An environment packed onto the full disk: the host says why, and no tarball (whole or
    // partial) is left where runners would look.
    let env = dir.env_name("fault-disk-env");
    let http = reqwest::Client::new();
    let made = http
        .post(format!("{base}/api/docker/host/create"))
        .json(&json!({"image_name": hakuriver_itest::images::BUSYBOX_IMAGE, "container_name": env}))
        .send()
        .await
        .expect("create the env");
    assert_eq!(made.status(), 201);
    faults.injected += 1;
    let packed = http.post(format!("{base}/api/docker/create_tar/{env}")).send().await.expect("create_tar");
    let status = packed.status();
    let answer: Value = packed.json().await.unwrap_or(Value::Null);
    let detail = answer["detail"].as_str().unwrap_or_default().to_string();
    let left: Vec<String> = std::fs::read_dir(dir.path().join("shared/hakuriver-containers"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    faults.check(
        status.is_server_error() && detail.contains("No space left") && left.iter().all(|f| !f.contains(&env)),
        || format!("packing onto a full disk: HTTP {status}, {answer}, files left {left:?}"),
    );

    // Read-only: the next task fails with the reason; nothing waits or hangs.
    disk.remount("ro");
    faults.injected += 1;
    let ro = submit(&base, body(&["echo", "hello"])).await;
    let t = wait_status(&base, &ro, TaskStatus::Failed).await;
    let reason = t.error_message.clone().unwrap_or_default();
    faults.check(reason.contains("Read-only file system"), || format!("read-only disk: {reason:?}"));

    // The host answers throughout.
    let health = reqwest::get(format!("{base}/api/health")).await.expect("health");
    faults.check(health.status().is_success(), || format!("health: {}", health.status()));
    faults.report();
}

/// A network namespace joined to this one by a veth pair (root only): the runner lives inside,
/// and taking the host's end down cuts it off. Removed on drop.
struct Partition {
    netns: String,
    host_end: String,
    host_ip: String,
    runner_ip: String,
}

impl Partition {
    fn create() -> Partition {
        let n = std::process::id() % 200 + 20;
        let p = Partition {
            netns: format!("hakuriver-{}", std::process::id()),
            host_end: format!("hrh{n}"),
            host_ip: format!("10.213.{n}.1"),
            runner_ip: format!("10.213.{n}.2"),
        };
        let runner_end = format!("hrr{n}");
        for args in [
            vec!["netns", "add", &p.netns],
            vec!["link", "add", &p.host_end, "type", "veth", "peer", "name", &runner_end],
            vec!["link", "set", &runner_end, "netns", &p.netns],
            vec!["addr", "add", &format!("{}/30", p.host_ip), "dev", &p.host_end],
            vec!["link", "set", &p.host_end, "up"],
            vec!["-n", &p.netns, "addr", "add", &format!("{}/30", p.runner_ip), "dev", &runner_end],
            vec!["-n", &p.netns, "link", "set", &runner_end, "up"],
            vec!["-n", &p.netns, "link", "set", "lo", "up"],
        ] {
            let status = std::process::Command::new("ip").args(&args).status().expect("run ip (iproute2)");
            assert!(status.success(), "ip {args:?} (network namespaces need root)");
        }
        p
    }

    /// Cuts (`false`) or heals (`true`) the link.
    fn link(&self, up: bool) {
        let state = if up { "up" } else { "down" };
        let status =
            std::process::Command::new("ip").args(["link", "set", &self.host_end, state]).status().expect("run ip");
        assert!(status.success());
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip").args(["link", "del", &self.host_end]).status();
        let _ = std::process::Command::new("ip").args(["netns", "del", &self.netns]).status();
    }
}

#[tokio::test]
#[ignore = "destructive: restarts dockerd, mounts or cuts networks; run with HAKURIVER_TEST_DESTRUCTIVE=1 --include-ignored"]
async fn a_network_cut_shorter_than_the_timeout_changes_nothing_and_a_longer_one_loses_then_reconciles() {
    hakuriver_itest::destructive();
    let net = Partition::create();
    // Offline after 3 s of silence.
    let dir = ClusterDir::with_timing(0.5, 6.0);
    let config = std::fs::read_to_string(dir.config()).expect("config");
    let config =
        config.replace("runner_address = \"127.0.0.1\"\n", &format!("runner_address = \"{}\"\n", net.runner_ip));
    let config = config.replacen(
        "[network]\n",
        &format!("[network]\nhost_bind_ip = \"0.0.0.0\"\nhost_reachable_address = \"{}\"\n", net.host_ip),
        1,
    );
    std::fs::write(dir.config(), config).expect("config");
    let base = dir.base_url();
    let _host = dir.start_host();
    let mut inside = std::process::Command::new("ip");
    inside
        .args(["netns", "exec", &net.netns])
        .arg(hakuriver_itest::bin("hakuriver-runner"))
        .arg("--config")
        .arg(dir.config())
        .env("HAKURIVER_HOME", dir.path().join("home"))
        .env("HAKURIVER_RUNNER_HOSTNAME", "fault-net")
        .env("HAKURIVER_NETWORK_RUNNER_PORT", hakuriver_itest::free_port().to_string())
        .env("RUST_LOG", "info");
    let _runner = Proc::spawn("runner fault-net", inside, dir.path().join("runner-fault-net.log"));
    wait_for_node(&base, "fault-net", NodeStatus::Online, START).await;
    let mut faults = Faults::default();
    let native = |secs: &str| json!({"command": "sleep", "arguments": [secs], "targets": ["fault-net"], "container_name": "NULL"});

    // A cut of one second: nothing changes; the task completes.
    let short = submit(&base, native("4")).await;
    wait_status(&base, &short, TaskStatus::Running).await;
    net.link(false);
    faults.injected += 1;
    tokio::time::sleep(Duration::from_secs(1)).await;
    net.link(true);
    let node = hakuriver_itest::nodes(&base).await.unwrap_or_default();
    faults.check(node.iter().any(|n| n.hostname == "fault-net" && n.status == NodeStatus::Online), || {
        "the node went offline after a one-second cut".into()
    });
    let done = wait_status(&base, &short, TaskStatus::Completed).await;
    faults.check(done.exit_code == Some(0), || format!("short cut: {done:?}"));

    // A cut past the timeout: the node is offline and its task lost; once healed, the node is
    // back and the runner is told to stop the task the host no longer counts.
    let long = submit(&base, native("61.5")).await;
    wait_status(&base, &long, TaskStatus::Running).await;
    net.link(false);
    faults.injected += 1;
    wait_for_node(&base, "fault-net", NodeStatus::Offline, START).await;
    let lost = wait_status(&base, &long, TaskStatus::Lost).await;
    faults.check(lost.error_message.as_deref().is_some_and(|m| m.contains("went offline")), || format!("{lost:?}"));
    net.link(true);
    wait_for_node(&base, "fault-net", NodeStatus::Online, START).await;
    wait_for("the lost task's process to be stopped", START, || async {
        hakuriver_itest::pids_of("sleep 61.5").is_empty().then_some(())
    })
    .await;
    let still = task(&base, &long).await.expect("the task");
    faults.check(still.status == TaskStatus::Lost, || format!("the lost task became {}", still.status));
    faults.report();
}
