// suite: integration
//! The `hakuriver` binary against a real host and runner: every command that needs no Docker
//! (tasks here run without a container), their error cases, the exit codes, the `--json` shapes
//! (golden files in itest/golden), colour on a real pseudo-terminal, sweeps and completions.
//! Docker environment and VPS commands are tested in the docker suite.

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use hakuriver_itest::golden::assert_golden;
use hakuriver_itest::{bin, wait_for, wait_for_node, ClusterDir, Proc};
use hakuriver_model::{NodeStatus, TaskStatus, TaskView};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts success and returns standard output.
#[track_caller]
fn ok(out: Output) -> String {
    assert!(out.status.success(), "exit {:?}\nstdout: {}\nstderr: {}", out.status.code(), stdout(&out), stderr(&out));
    stdout(&out)
}

/// Asserts exit code `code` and returns standard error.
#[track_caller]
fn fails(out: Output, code: i32) -> String {
    assert_eq!(out.status.code(), Some(code), "stdout: {}\nstderr: {}", stdout(&out), stderr(&out));
    stderr(&out)
}

/// A host and one runner, online.
async fn cluster(node: &str) -> (ClusterDir, Proc, Proc) {
    let cluster = ClusterDir::new();
    let host = cluster.start_host();
    let runner = cluster.start_runner(node);
    wait_for_node(&cluster.base_url(), node, NodeStatus::Online, Duration::from_secs(20)).await;
    (cluster, host, runner)
}

/// `hakuriver task submit FLAGS --container NULL -- COMMAND` (tasks without a container).
fn submit(cluster: &ClusterDir, flags: &[&str], command: &[&str]) -> Output {
    let mut args = vec!["task", "submit"];
    args.extend(flags);
    args.extend(["--container", "NULL", "--"]);
    args.extend(command);
    cluster.cli(&args)
}

fn task_status(cluster: &ClusterDir, id: &str) -> TaskView {
    let out = ok(cluster.cli(&["task", "status", id, "--json"]));
    let mut tasks: Vec<TaskView> = serde_json::from_str(&out).expect("task status --json is an array of tasks");
    tasks.remove(0)
}

async fn wait_until(cluster: &ClusterDir, id: &str, status: TaskStatus) {
    wait_for(&format!("task {id} {status}"), Duration::from_secs(30), || async {
        (task_status(cluster, id).status == status).then_some(())
    })
    .await
}

#[tokio::test]
async fn nodes_and_health_as_tables_json_and_ids() {
    let cluster = ClusterDir::new();
    let err = fails(cluster.cli(&["node", "list"]), 3);
    assert!(err.contains("cannot reach the host"), "{err}");
    fails(cluster.cli(&["health"]), 3);

    let _host = cluster.start_host();
    let _runner = cluster.start_runner("cli-node");
    let base = cluster.base_url();
    wait_for_node(&base, "cli-node", NodeStatus::Online, Duration::from_secs(20)).await;
    // Let a heartbeat with readings arrive, so every field of the shapes has its value.
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let table = ok(cluster.cli(&["node", "list"]));
    assert!(table.starts_with("HOSTNAME"), "{table}");
    assert!(table.lines().any(|l| l.starts_with("cli-node") && l.contains("online")), "{table}");
    assert!(!table.contains('\x1b'), "no colour into a pipe");
    assert_eq!(ok(cluster.cli(&["node", "list", "-q"])), "cli-node\n");
    assert_golden("node-list", &cluster.cli(&["node", "list", "--json"]).stdout);
    ok(cluster.cli(&["--host", &base, "node", "list"]));

    let shown = ok(cluster.cli(&["node", "show", "cli-node"]));
    assert!(shown.starts_with("cli-node online") && shown.contains("cores reserved:"), "{shown}");
    assert_golden("node-show", &cluster.cli(&["node", "show", "cli-node", "--json"]).stdout);
    let err = fails(cluster.cli(&["node", "show", "nope"]), 4);
    assert!(err.contains("Node nope not found"), "the host's detail: {err}");
    fails(cluster.cli(&["node", "show", "../tasks"]), 4);

    let health = ok(cluster.cli(&["health"]));
    assert!(health.starts_with("cluster: 1/1 nodes online") && health.contains("cli-node"), "{health}");
    assert_golden("health", &cluster.cli(&["health", "--json"]).stdout);
    assert_eq!(ok(cluster.cli(&["health", "cli-node", "-q"])), "cli-node\n");
    let err = fails(cluster.cli(&["health", "nope"]), 4);
    assert!(err.contains("Node nope not found"), "{err}");

    // Usage errors are 2, before anything is sent.
    fails(cluster.cli(&["node", "list", "--bogus"]), 2);
    fails(cluster.cli(&["node", "list", "--json", "-q"]), 2);
    fails(cluster.cli(&["frobnicate"]), 2);
    let err = fails(cluster.cli(&["--host", "not a url", "node", "list"]), 2);
    assert!(err.contains("not a URL"), "{err}");
    assert_eq!(ok(cluster.cli(&["dashboard"])), format!("{base}/\n"));
}

#[tokio::test]
async fn tasks_from_submit_to_logs_with_every_output_form() {
    let (cluster, _host, _runner) = cluster("cli-tasks").await;

    // -q prints only the id; the pipe into `xargs hakuriver task logs` works.
    let mut submitting = cluster.command("hakuriver");
    submitting
        .args(["task", "submit", "-q", "--wait", "-t", "cli-tasks", "--container", "NULL", "--"])
        .args(["sh", "-c", "echo piped-$HAKURIVER_TASK_ID"])
        .stdout(Stdio::piped());
    let mut submitting = submitting.spawn().unwrap();
    let config = cluster.config();
    let xargs = Command::new("xargs")
        .arg(bin("hakuriver"))
        .args(["--config", config.to_str().unwrap(), "task", "logs"])
        .stdin(submitting.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(submitting.wait().unwrap().success());
    let piped = ok(xargs);
    assert!(piped.starts_with("piped-") && piped.ends_with('\n'), "{piped:?}");
    let id = piped.trim().trim_start_matches("piped-").to_string();

    // status: text, and JSON always an array of the API's TaskView.
    let text = ok(cluster.cli(&["task", "status", &id]));
    assert!(text.starts_with(&format!("task {id}: completed")) && text.contains("exit:"), "{text}");
    assert_golden("task-status", &cluster.cli(&["task", "status", &id, "--json"]).stdout);

    // logs: raw text, JSON, and stderr.
    let out = ok(submit(&cluster, &["-q", "--wait", "-t", "cli-tasks"], &["sh", "-c", "echo out; echo err >&2"]));
    let id2 = out.trim().to_string();
    assert_eq!(ok(cluster.cli(&["task", "logs", &id2])), "out\n");
    assert_eq!(ok(cluster.cli(&["task", "logs", "--stderr", &id2])), "err\n");
    let two = ok(cluster.cli(&["task", "logs", &id, &id2]));
    assert_eq!(two, format!("==> task {id} <==\npiped-{id}\n==> task {id2} <==\nout\n"));
    assert_golden("task-logs", &cluster.cli(&["task", "logs", &id, &id2, "--json"]).stdout);

    // submit: text and JSON; --wait exits 1 when a task fails, 0 when all complete.
    let text = ok(submit(&cluster, &["-t", "cli-tasks"], &["true"]));
    assert!(text.contains("1 tasks created") && text.contains("  task "), "{text}");
    assert_golden("task-submit", &submit(&cluster, &["-t", "cli-tasks", "--json"], &["true"]).stdout);
    let failed = submit(&cluster, &["--wait", "-t", "cli-tasks"], &["sh", "-c", "exit 3"]);
    assert!(stdout(&failed).contains(": failed (exit 3)"), "{}", stdout(&failed));
    assert!(fails(failed, 1).contains("1 of 1 tasks did not complete"));
    let waited = submit(&cluster, &["--wait", "--json", "-t", "cli-tasks"], &["echo", "hi"]);
    assert!(waited.status.success(), "{}", stderr(&waited));
    let v = assert_golden("task-submit-wait", &waited.stdout);
    assert_eq!(v["tasks"][0]["status"], "completed");

    // list: table, ids, JSON, filters.
    let table = ok(cluster.cli(&["task", "list"]));
    assert!(table.starts_with("TASK") && table.contains(&id), "{table}");
    let ids = ok(cluster.cli(&["task", "list", "-q", "--status", "failed"]));
    assert_eq!(ids.lines().count(), 1, "{ids}");
    assert_golden("task-list", &cluster.cli(&["task", "list", "--json", "--limit", "3"]).stdout);
    assert_eq!(ok(cluster.cli(&["task", "list", "-q", "--search", "piped-"])), format!("{id}\n"));
    let err = fails(cluster.cli(&["task", "list", "--status", "bogus"]), 4);
    assert!(err.contains("bogus"), "{err}");

    // kill, pause, resume: one id or many; JSON; refusals are 4 with the host's reason.
    let long = ok(submit(&cluster, &["-q", "-t", "cli-tasks"], &["sleep", "300"]));
    let long = long.trim();
    wait_until(&cluster, long, TaskStatus::Running).await;
    ok(cluster.cli(&["task", "pause", long]));
    wait_until(&cluster, long, TaskStatus::Paused).await;
    let resumed = ok(cluster.cli(&["task", "resume", long]));
    assert!(!resumed.is_empty());
    wait_until(&cluster, long, TaskStatus::Running).await;
    let err = fails(cluster.cli(&["task", "kill", long, &id, "--json"]), 4);
    assert!(err.contains(&format!("task {id}:")), "the finished task is refused: {err}");
    wait_until(&cluster, long, TaskStatus::Killed).await;

    // Bad input: the host's detail and 4; local checks and 2.
    let err = fails(cluster.cli(&["task", "status", "not-a-number"]), 4);
    assert!(err.contains("the host rejected the request"), "{err}");
    let err = fails(cluster.cli(&["task", "submit", "--container", "../evil", "--", "true"]), 4);
    assert!(err.contains("invalid container name"), "{err}");
    // No target could take it: the original's 503, so "the host could not" (1), with its reason.
    let err = fails(cluster.cli(&["task", "submit", "-t", "nowhere", "--container", "NULL", "--", "true"]), 1);
    assert!(err.contains("nowhere: Node not registered"), "{err}");
    let err = fails(cluster.cli(&["task", "submit", "--memory", "12Q", "--", "true"]), 2);
    assert!(err.contains("--memory"), "{err}");
    fails(cluster.cli(&["task", "submit", "true"]), 2);
    // An environment that exists nowhere: refused at submit (4), naming the fix.
    let err = fails(cluster.cli(&["task", "submit", "--container", "made-up-env", "--", "true"]), 4);
    assert!(err.contains("does not exist") && err.contains("hakuriver docker tar import"), "{err}");
    fails(cluster.cli(&["task", "logs"]), 2);
}

#[tokio::test]
async fn a_json_kill_reports_each_task() {
    let (cluster, _host, _runner) = cluster("cli-kill").await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let out = ok(submit(&cluster, &["-q", "-t", "cli-kill", "--cores", "0"], &["sleep", "300"]));
        ids.push(out.trim().to_string());
    }
    for id in &ids {
        wait_until(&cluster, id, TaskStatus::Running).await;
    }
    let out = cluster.cli(&["task", "kill", "--json", &ids[0], &ids[1]]);
    let v = assert_golden("task-kill", &ok(out).into_bytes());
    assert_eq!(v[1]["task_id"], ids[1].as_str());
    for id in &ids {
        wait_until(&cluster, id, TaskStatus::Killed).await;
    }
    // Following a task to its end: the whole output, then exit 0.
    let id = ok(submit(
        &cluster,
        &["-q", "-t", "cli-kill"],
        &["sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.3; done"],
    ));
    let followed = ok(cluster.cli(&["task", "logs", "-f", id.trim()]));
    assert_eq!(followed, "line 1\nline 2\nline 3\n");
}

#[tokio::test]
async fn sweeps_submit_one_batch_and_run_locally() {
    let (cluster, _host, _runner) = cluster("cli-sweep").await;
    let out = ok(submit(
        &cluster,
        &["-q", "--wait", "--cores", "0", "-t", "cli-sweep"],
        &["echo", "seed", "span:{1..3}", "span:[a, b]"],
    ));
    let ids: Vec<&str> = out.lines().collect();
    assert_eq!(ids.len(), 6, "{out}");
    let batch = task_status(&cluster, ids[0]).batch_id.expect("a batch").to_string();
    let in_batch = ok(cluster.cli(&["task", "list", "-q", "--batch", &batch]));
    assert_eq!(in_batch.lines().count(), 6, "{in_batch}");
    let mut wait = vec!["task", "wait", "--json"];
    wait.extend(&ids);
    let waited = assert_golden("task-list", ok(cluster.cli(&wait)).as_bytes());
    assert_eq!(waited.as_array().map(Vec::len), Some(6));
    let mut outputs: Vec<String> = ids.iter().map(|id| ok(cluster.cli(&["task", "logs", id]))).collect();
    outputs.sort();
    assert_eq!(outputs, ["seed 1 a\n", "seed 1 b\n", "seed 2 a\n", "seed 2 b\n", "seed 3 a\n", "seed 3 b\n"]);
    let err = fails(cluster.cli(&["task", "submit", "--", "echo", "span:{3..1}"]), 2);
    assert!(err.contains("FIRST is greater than LAST"), "{err}");

    // Locally: the plan, then the runs (no shell: each argument arrives as it is).
    let plan = ok(cluster.cli(&["sweep", "--", "echo", "span:[x,y z]", "span:{1..2}"]));
    assert_eq!(plan, "echo x 1\necho x 2\necho 'y z' 1\necho 'y z' 2\n");
    assert_golden("sweep-plan", &cluster.cli(&["sweep", "--json", "--", "echo", "span:{1..2}"]).stdout);
    let dir = cluster.path().join("sweep");
    std::fs::create_dir(&dir).unwrap();
    let files = format!("span:[{0}/a,{0}/b $(id)]", dir.display());
    ok(cluster.cli(&["sweep", "--local", "--parallel", "--", "touch", &files]));
    assert!(dir.join("a").is_file() && dir.join("b $(id)").is_file());
    let mixed = cluster.cli(&["sweep", "--local", "--json", "-j", "2", "--", "sh", "-c", "exit $0", "span:[0,3]"]);
    assert!(stderr(&mixed).contains("1 of 2 command lines failed"), "{}", stderr(&mixed));
    let v = assert_golden("sweep-local", &mixed.stdout);
    assert_eq!((v[0]["exit_code"].as_i64(), v[1]["exit_code"].as_i64()), (Some(0), Some(3)));
    fails(mixed, 1);
    fails(cluster.cli(&["sweep", "--parallel", "--", "true"]), 2);
}

#[tokio::test]
async fn ctrl_c_stops_waiting_and_the_task_runs_on() {
    let (cluster, _host, _runner) = cluster("cli-wait").await;
    let id = ok(submit(&cluster, &["-q", "-t", "cli-wait"], &["sleep", "300"]));
    let id = id.trim();
    wait_until(&cluster, id, TaskStatus::Running).await;
    let mut waiting = cluster.command("hakuriver");
    waiting.args(["task", "wait", id]).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = waiting.spawn().unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = fails(out, 130);
    assert!(err.contains("the tasks keep running") && err.contains(&format!("hakuriver task wait {id}")), "{err}");
    assert_eq!(task_status(&cluster, id).status, TaskStatus::Running, "not killed");
    ok(cluster.cli(&["task", "kill", id]));
    wait_until(&cluster, id, TaskStatus::Killed).await;
    fails(cluster.cli(&["task", "wait", id]), 1);
}

/// Which of the CLI's streams goes to the pseudo-terminal (the other is captured from a pipe).
#[derive(Clone, Copy, PartialEq)]
enum OnTerminal {
    Stdout,
    Stderr,
}

/// Runs the CLI with one stream on a new pseudo-terminal; returns what it printed there and on
/// the other stream.
fn on_a_terminal(cluster: &ClusterDir, args: &[&str], env: &[(&str, &str)], which: OnTerminal) -> (String, String) {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("a pseudo-terminal");
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let terminal = std::fs::OpenOptions::new().read(true).write(true).open(name.to_str().unwrap()).unwrap();
    let mut command = cluster.command("hakuriver");
    command.args(args).env_remove("NO_COLOR").env("TERM", "xterm");
    match which {
        OnTerminal::Stdout => command.stdout(terminal).stderr(Stdio::piped()),
        OnTerminal::Stderr => command.stderr(terminal).stdout(Stdio::piped()),
    };
    for (k, v) in env {
        command.env(k, v);
    }
    let child = command.spawn().unwrap();
    drop(command);
    // Read the terminal while the program runs (a full terminal buffer would block it), until
    // the kernel says the far side is closed (EIO).
    let mut master = std::fs::File::from(master);
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            text.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&text).into_owned()
    });
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    let other = if which == OnTerminal::Stdout { stderr(&out) } else { stdout(&out) };
    (reader.join().unwrap(), other)
}

#[tokio::test]
async fn colour_and_progress_only_on_a_terminal() {
    let (cluster, _host, _runner) = cluster("cli-colour").await;
    let (coloured, _) = on_a_terminal(&cluster, &["node", "list"], &[], OnTerminal::Stdout);
    assert!(coloured.contains("\x1b[32monline\x1b[0m"), "{coloured:?}");
    let (plain, _) = on_a_terminal(&cluster, &["node", "list"], &[("NO_COLOR", "1")], OnTerminal::Stdout);
    assert!(plain.contains("online") && !plain.contains('\x1b'), "{plain:?}");
    let (never, _) = on_a_terminal(&cluster, &["--color", "never", "node", "list"], &[], OnTerminal::Stdout);
    assert!(!never.contains('\x1b'), "{never:?}");
    let forced = ok(cluster.cli(&["--color", "always", "node", "list"]));
    assert!(forced.contains("\x1b[1mHOSTNAME"), "{forced:?}");

    // --wait on many tasks: a progress bar on the terminal, clean ids on the pipe.
    let mut args = vec!["task", "submit", "-q", "--wait", "--cores", "0", "-t", "cli-colour", "-t", "cli-colour"];
    args.extend(["--container", "NULL", "--", "sleep", "1.5"]);
    let (progress, ids) = on_a_terminal(&cluster, &args, &[], OnTerminal::Stderr);
    assert!(progress.contains("waiting: 0/2 ended") && progress.contains("waiting: 2/2 ended"), "{progress:?}");
    assert_eq!(ids.lines().count(), 2, "{ids:?}");
    assert!(!ids.contains('\x1b'), "{ids:?}");
    // Without a terminal there is no bar at all.
    let piped = cluster.cli(&args);
    assert!(!stderr(&piped).contains("waiting:"), "{}", stderr(&piped));
    // Following logs: a spinner on the terminal while the output streams to the pipe.
    let id = ids.lines().next().unwrap();
    let (spinner, text) = on_a_terminal(&cluster, &["task", "logs", "-f", id], &[], OnTerminal::Stderr);
    assert!(text.is_empty(), "sleep prints nothing: {text:?}");
    assert!(spinner.contains(&format!("task {id} ended: completed")), "{spinner:?}");
}

#[test]
fn the_config_is_found_where_the_spec_says() {
    let cluster = ClusterDir::new();
    // The cluster's config points at a port nobody listens on: reaching for it gives exit 3,
    // so which file won is visible in the port named in the error.
    let port = cluster.host_port.to_string();
    let other = cluster.path().join("other.toml");
    std::fs::write(&other, "[network]\nhost_port = 1\n").unwrap();
    let home = cluster.path().join("home");
    std::fs::create_dir_all(home.join(".hakuriver")).unwrap();
    std::fs::write(home.join(".hakuriver/config.toml"), "[network]\nhost_port = 2\n").unwrap();
    let run = |args: &[&str], env: &[(&str, &std::path::Path)]| {
        let mut c = Command::new(bin("hakuriver"));
        c.args(args).env_remove("HAKURIVER_CONFIG").env_remove("HAKURIVER_HOST").env_remove("HAKURIVER_HOME");
        c.env("HOME", &home);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let port_in = |out: Output| fails(out, 3);
    assert!(port_in(run(&["node", "list"], &[])).contains(":2"), "~/.hakuriver/config.toml");
    assert!(port_in(run(&["node", "list"], &[("HAKURIVER_CONFIG", &other)])).contains(":1"), "$HAKURIVER_CONFIG");
    let explicit = cluster.config();
    let out = run(&["--config", explicit.to_str().unwrap(), "node", "list"], &[("HAKURIVER_CONFIG", &other)]);
    assert!(port_in(out).contains(&format!(":{port}")), "--config wins");
    let out = run(&["--host", "http://127.0.0.1:3", "node", "list"], &[("HAKURIVER_CONFIG", &other)]);
    assert!(port_in(out).contains(":3"), "--host wins over every file");
    let broken = cluster.path().join("broken.toml");
    std::fs::write(&broken, "[network\n").unwrap();
    let err = fails(run(&["--config", broken.to_str().unwrap(), "node", "list"], &[]), 2);
    assert!(err.contains("broken.toml"), "{err}");
}

#[test]
fn init_writes_a_config_and_systemd_units_without_overwriting() {
    let cluster = ClusterDir::new();
    let target = cluster.path().join("new/config.toml");
    let target_str = target.to_str().unwrap();

    ok(cluster.cli(&["init", "config", "--path", target_str]));
    let text = std::fs::read_to_string(&target).unwrap();
    assert!(text.contains("[network]") && text.contains("host_port = 8000") && text.contains("# "));
    std::fs::write(&target, "# edited by the admin\n").unwrap();
    let err = fails(cluster.cli(&["init", "config", "--path", target_str]), 1);
    assert!(err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "# edited by the admin\n");
    ok(cluster.cli(&["init", "config", "--path", target_str, "--force"]));

    // The written file loads: the CLI gets past the config and fails only to reach port 1.
    let out = Command::new(bin("hakuriver"))
        .args(["--config", target_str, "node", "list"])
        .env("HAKURIVER_NETWORK_HOST_PORT", "1")
        .output()
        .unwrap();
    fails(out, 3);

    let units = cluster.path().join("units");
    let out = ok(cluster.cli(&["init", "service", "all", "--output-dir", units.to_str().unwrap(), "--user", "lab"]));
    assert!(out.contains("sudo systemctl enable --now hakuriver-host.service hakuriver-runner.service"), "{out}");
    let host_unit = std::fs::read_to_string(units.join("hakuriver-host.service")).unwrap();
    let binary = bin("hakuriver-host").canonicalize().unwrap();
    let exec = format!("ExecStart={} --config {}", binary.display(), cluster.config().display());
    assert!(host_unit.lines().any(|l| l == exec), "{host_unit}");
    assert!(host_unit.contains("User=lab\nGroup=lab\n"), "{host_unit}");
    assert!(units.join("hakuriver-runner.service").is_file());
    fails(cluster.cli(&["init", "service", "runner", "--output-dir", units.to_str().unwrap(), "--user", "lab"]), 1);
    fails(cluster.cli(&["init", "service"]), 2);
    // The original's flags work too.
    let flags = cluster.path().join("units-flags");
    ok(cluster.cli(&["init", "service", "--runner", "--output-dir", flags.to_str().unwrap(), "--user", "lab"]));
    assert!(flags.join("hakuriver-runner.service").is_file() && !flags.join("hakuriver-host.service").exists());
    // `--host` with no URL is the original's flag for the host's unit, not the global option.
    let host_only = cluster.path().join("units-host");
    ok(cluster.cli(&["init", "service", "--host", "--output-dir", host_only.to_str().unwrap(), "--user", "lab"]));
    assert!(host_only.join("hakuriver-host.service").is_file() && !host_only.join("hakuriver-runner.service").exists());
    // systemd's own reading of both units (scripts/setup.sh installs systemd-analyze).
    for unit in ["hakuriver-host.service", "hakuriver-runner.service"] {
        let verify = Command::new("systemd-analyze")
            .arg("verify")
            .arg(units.join(unit))
            .output()
            .expect("systemd-analyze (Debian's systemd package; scripts/setup.sh installs it)");
        assert!(verify.status.success() && verify.stderr.is_empty(), "{unit}: {}", stderr(&verify));
    }
}

#[test]
fn completions_load_in_bash_and_help_has_examples() {
    let cluster = ClusterDir::new();
    let script = ok(cluster.cli(&["completions", "bash"]));
    let mut bash = Command::new("bash")
        .args(["--norc", "-c", "source /dev/stdin && complete -p hakuriver"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    bash.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let loaded = ok(bash.wait_with_output().unwrap());
    assert!(loaded.contains("hakuriver"), "{loaded}");
    assert!(ok(cluster.cli(&["completions", "zsh"])).starts_with("#compdef hakuriver"));
    assert!(ok(cluster.cli(&["completions", "fish"])).contains("complete -c hakuriver"));
    fails(cluster.cli(&["completions", "tcsh"]), 2);
    fails(cluster.cli(&["completions", "bash", "--json"]), 2);
    let help = ok(cluster.cli(&["task", "submit", "--help"]));
    assert!(help.contains("Examples:") && help.contains("span:{1..8}"), "{help}");
}
