// suite: faults
//! Faults through the real host, runner and Docker engine: the host and the runner SIGKILLed
//! mid-work, in loops. Every task must end with the truth: the right status and exit code, its
//! whole log, and never a second run (each task prints one line; a second run would print it
//! twice). Each test prints `faults: injected=N checked=N wrong=N`; scripts/test-all.sh adds
//! them up.

use std::time::Duration;

use hakuriver_itest::images::{container_exists, container_state, ensure_busybox, ensure_sshd, BUSYBOX_ENV, SSHD_ENV};
use hakuriver_itest::{wait_for, wait_for_node, ClusterDir, Proc};
use hakuriver_model::{NodeStatus, TaskStatus, TaskView};
use serde_json::{json, Value};

const START: Duration = Duration::from_secs(60);

struct Faults {
    injected: u32,
    checked: u32,
    wrong: Vec<String>,
}

impl Faults {
    fn new() -> Self {
        Faults { injected: 0, checked: 0, wrong: Vec::new() }
    }

    /// One task checked: `ok`, or what was wrong with it.
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        self.checked += 1;
        if !ok {
            self.wrong.push(what());
        }
    }

    /// Prints the figures and fails the test on any wrong task.
    fn report(self) {
        println!("faults: injected={} checked={} wrong={}", self.injected, self.checked, self.wrong.len());
        assert!(self.wrong.is_empty(), "{}", self.wrong.join("\n"));
    }
}

/// A host (heartbeats every 0.5 s, a node offline after 10 s) and one runner.
fn cluster(node: &str) -> (ClusterDir, Proc, Proc) {
    ensure_busybox();
    let dir = ClusterDir::with_timing(0.5, 20.0);
    let host = dir.start_host();
    let runner = dir.start_runner(node);
    (dir, host, runner)
}

async fn submit(base: &str, body: Value) -> String {
    let r = reqwest::Client::new().post(format!("{base}/submit")).json(&body).send().await.expect("submit");
    assert_eq!(r.status(), 202);
    r.json::<Value>().await.expect("JSON")["task_ids"][0].as_str().expect("an id").to_string()
}

async fn task(base: &str, id: &str) -> Option<TaskView> {
    reqwest::get(format!("{base}/status/{id}")).await.ok()?.json().await.ok()
}

async fn wait_status(base: &str, id: &str, status: TaskStatus) -> TaskView {
    wait_for(&format!("task {id} to be {status}"), Duration::from_secs(90), || async {
        task(base, id).await.filter(|t| t.status == status)
    })
    .await
}

async fn stdout(base: &str, id: &str) -> String {
    let r = reqwest::get(format!("{base}/task/{id}/stdout")).await.expect("log");
    r.text().await.unwrap_or_default()
}

#[tokio::test]
async fn the_host_killed_three_times_while_a_queue_drains() {
    let (dir, mut host, _runner) = cluster("fault-host");
    let base = dir.base_url();
    wait_for_node(&base, "fault-host", NodeStatus::Online, START).await;
    let mut faults = Faults::new();
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
    let mut faults = Faults::new();
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
    let mut faults = Faults::new();
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
    let mut faults = Faults::new();
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
    let mut faults = Faults::new();
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

#[tokio::test]
async fn a_runner_killed_in_a_loop_loses_no_task() {
    let (dir, _host, mut runner) = cluster("fault-loop");
    let base = dir.base_url();
    wait_for_node(&base, "fault-loop", NodeStatus::Online, START).await;
    let mut faults = Faults::new();
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

/// A fresh ed25519 public key (the VPS is never logged into here).
fn public_key() -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("id_ed25519");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "faults", "-f"])
        .arg(&key)
        .status();
    assert!(made.expect("run ssh-keygen (apt-get install openssh-client)").success());
    std::fs::read_to_string(key.with_extension("pub")).expect("the public key").trim().to_string()
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
    let mut faults = Faults::new();
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

/// Process ids whose command line is exactly `args`.
fn pids_of(args: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).replace('\0', " ").trim() == args {
            pids.push(pid);
        }
    }
    pids
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
    let mut faults = Faults::new();
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
        pids_of("sleep 61.5").is_empty().then_some(())
    })
    .await;
    let still = task(&base, &long).await.expect("the task");
    faults.check(still.status == TaskStatus::Lost, || format!("the lost task became {}", still.status));
    faults.report();
}

/// What the mixed API load saw.
#[derive(Default)]
struct LoadFigures {
    sent: u32,
    server_errors: Vec<String>,
    latencies_ms: Vec<f64>,
    submitted: Vec<(String, String)>,
}

/// One request of the mixed load, by its turn `n`: one in six is a submit, the rest read what a
/// dashboard and scripts read.
async fn mixed_request(
    http: &reqwest::Client,
    base: &str,
    node: &str,
    n: u32,
    known: &str,
) -> (String, reqwest::Result<(u16, Option<String>)>) {
    let what = match n % 6 {
        0 => "submit",
        1 => "nodes",
        2 => "page",
        3 => "status",
        4 => "health",
        _ => "stdout",
    };
    let request = match what {
        "submit" => {
            http.post(format!("{base}/api/submit")).json(&json!({"command": "echo", "arguments": [format!("load-{n}")],
            "targets": [node], "container_name": "NULL"}))
        }
        "nodes" => http.get(format!("{base}/api/nodes")),
        "page" => http.get(format!("{base}/api/tasks/page?limit=50")),
        "status" => http.get(format!("{base}/api/status/{known}")),
        "health" => http.get(format!("{base}/api/health")),
        _ => http.get(format!("{base}/api/task/{known}/stdout")),
    };
    let result = async {
        let r = request.send().await?;
        let status = r.status().as_u16();
        let body: Option<String> = if what == "submit" && status == 202 {
            let v: Value = r.json().await?;
            v["task_ids"][0].as_str().map(str::to_string)
        } else {
            r.bytes().await?;
            None
        };
        Ok((status, body))
    }
    .await;
    (what.to_string(), result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_tasks_drain_under_a_mixed_api_load_of_200_requests_a_second() {
    // Production timing (heartbeats every 5 s, offline after 30 s): the load must not starve them.
    let dir = ClusterDir::with_timing(5.0, 6.0);
    let base = dir.base_url();
    let _host = dir.start_host();
    let _runner = dir.start_runner("fault-load");
    wait_for_node(&base, "fault-load", NodeStatus::Online, START).await;
    let mut faults = Faults::new();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");

    // A thousand tasks queued at once, in one batch.
    let sets: Vec<Vec<String>> = (0..1000).map(|i| vec![format!("batch-{i}")]).collect();
    let r = http
        .post(format!("{base}/api/submit"))
        .json(&json!({"command": "echo", "argument_sets": sets, "targets": ["fault-load"], "container_name": "NULL"}))
        .send()
        .await
        .expect("submit the batch");
    assert_eq!(r.status(), 202);
    let answer: Value = r.json().await.expect("JSON");
    let batch: Vec<String> =
        answer["task_ids"].as_array().expect("ids").iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
    assert_eq!(batch.len(), 1000, "{answer}");

    // 200 requests a second for 60 s while they drain; every answer timed.
    let figures = std::sync::Arc::new(tokio::sync::Mutex::new(LoadFigures::default()));
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut requests = Vec::new();
    for n in 0..12_000u32 {
        tick.tick().await;
        let (http, base, figures, known) =
            (http.clone(), base.clone(), figures.clone(), batch[(n as usize) % 1000].clone());
        requests.push(tokio::spawn(async move {
            let started = std::time::Instant::now();
            let (what, result) = mixed_request(&http, &base, "fault-load", n, &known).await;
            let mut f = figures.lock().await;
            f.sent += 1;
            f.latencies_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            match result {
                Ok((status, _)) if status >= 500 => f.server_errors.push(format!("{what}: HTTP {status}")),
                Ok((_, Some(id))) => f.submitted.push((id, format!("load-{n}\n"))),
                Ok(_) => {}
                Err(e) => f.server_errors.push(format!("{what}: {e}")),
            }
        }));
    }
    for r in requests {
        r.await.expect("a request task");
    }
    let mut f = std::mem::take(&mut *figures.lock().await);
    f.latencies_ms.sort_by(f64::total_cmp);
    let at = |q: f64| f.latencies_ms[((f.latencies_ms.len() - 1) as f64 * q) as usize];
    println!(
        "load: {} requests, {} failed, latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        f.sent,
        f.server_errors.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
    faults.injected += 1;
    f.server_errors.truncate(20);
    faults.check(f.server_errors.is_empty(), || format!("the load got errors: {:?}", f.server_errors));

    // Every task, the thousand and the load's own, completes once with its own line.
    let mut all: Vec<(String, String)> =
        batch.iter().enumerate().map(|(i, id)| (id.clone(), format!("batch-{i}\n"))).collect();
    all.append(&mut f.submitted);
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    for (id, want) in &all {
        let view = loop {
            match task(&base, id).await {
                Some(t) if t.status.is_final() => break Some(t),
                _ if std::time::Instant::now() > deadline => break None,
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        let log = stdout(&base, id).await;
        faults.check(view.as_ref().is_some_and(|t| t.status == TaskStatus::Completed) && &log == want, || {
            format!("task {id}: {:?}, log {log:?}", view.map(|t| (t.status, t.error_message)))
        });
    }
    let node = hakuriver_itest::nodes(&base).await.unwrap_or_default();
    faults.check(node.iter().all(|n| n.status == NodeStatus::Online), || "the node went offline under load".into());
    faults.report();
}

/// One terminal's session: opens the task's terminal, then types five sums and times each answer.
async fn terminal_session(url: String, n: u32) -> Result<Vec<f64>, String> {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.map_err(|e| format!("terminal {n}: {e}"))?;
    let mut seen = String::new();
    let mut round_trips = Vec::new();
    for k in 0..5u32 {
        // The shell echoes what is typed; the sum's value appears only in its answer.
        let want = (n * 1000 + 100 + k).to_string();
        let line = json!({"type": "input", "data": format!("echo $(({n}*1000+100+{k}))\n")}).to_string();
        let started = std::time::Instant::now();
        ws.send(Message::text(line)).await.map_err(|e| format!("terminal {n}: {e}"))?;
        while !seen.contains(&want) {
            match tokio::time::timeout(Duration::from_secs(20), ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(&t).map_err(|e| format!("terminal {n}: {e}"))?;
                    seen.push_str(v["data"].as_str().unwrap_or_default());
                }
                Ok(Some(Ok(_))) => {}
                other => return Err(format!("terminal {n}: no answer to round {k}: {other:?}")),
            }
        }
        round_trips.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    ws.close(None).await.ok();
    Ok(round_trips)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_terminals_at_once_stay_responsive() {
    let (dir, _host, _runner) = cluster("fault-terms");
    let base = dir.base_url();
    wait_for_node(&base, "fault-terms", NodeStatus::Online, START).await;
    let mut faults = Faults::new();
    let id = submit(
        &base,
        json!({"command": "sleep", "arguments": ["600"], "targets": ["fault-terms"], "container_name": BUSYBOX_ENV}),
    )
    .await;
    wait_status(&base, &id, TaskStatus::Running).await;
    let url = format!("{}/api/tasks/{id}/terminal", base.replace("http://", "ws://"));
    // All fifty open at once, each relayed through the runner into its own shell.
    let sessions = futures::future::join_all((0..50).map(|n| terminal_session(url.clone(), n))).await;
    let mut all = Vec::new();
    for session in sessions {
        let ok = session.as_ref().is_ok_and(|times| times.len() == 5);
        faults.check(ok, || format!("{:?}", session.as_ref().err()));
        all.extend(session.unwrap_or_default());
    }
    all.sort_by(f64::total_cmp);
    if let Some(max) = all.last() {
        println!(
            "terminals: 50 at once, {} round trips (the first of each includes its shell's start), \
             p50 {:.1} ms, p99 {:.1} ms, max {max:.1} ms",
            all.len(),
            all[all.len() / 2],
            all[(all.len() - 1) * 99 / 100]
        );
    }
    let r = reqwest::Client::new().post(format!("{base}/kill/{id}")).send().await.expect("kill");
    assert_eq!(r.status(), 202);
    faults.report();
}
