// suite: docker
//! Task logs through real host and runner processes, for Docker and native tasks: every byte the
//! task wrote, exactly, in the stored file, the bare REST read (the original's contract: the
//! whole log), `hakuriver task logs [-f]` and the follow stream; a 200 MB log read with the
//! host's memory flat; `[paths] max_log_bytes`; a runner restarted mid-task; an image's own user.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hakuriver_itest::images::{busybox_rootfs_tar, ensure_busybox, BUSYBOX_ENV};
use hakuriver_itest::{follow_log, wait_for_final, wait_for_node, ClusterDir, Proc};
use hakuriver_model::protocol::LogBytesDropped;
use hakuriver_model::{NodeStatus, TaskStatus};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const START: Duration = Duration::from_secs(60);
const RUN: Duration = Duration::from_secs(120);
const MIB: usize = 1024 * 1024;

struct Cluster {
    // First, so the processes stop (and print their logs on a failure) before the folder goes.
    procs: Vec<Proc>,
    dir: ClusterDir,
    base: String,
    node: String,
}

async fn cluster(node: &str, config: &str) -> Cluster {
    ensure_busybox();
    let dir = ClusterDir::new();
    if !config.is_empty() {
        dir.append_config(config);
    }
    let base = dir.base_url();
    let procs = vec![dir.start_host(), dir.start_runner(node)];
    wait_for_node(&base, node, NodeStatus::Online, START).await;
    Cluster { procs, dir, base, node: node.into() }
}

/// Where a task runs: in the busybox container, or natively.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Docker,
    Native,
}

impl Cluster {
    /// Submits `sh -c script sh ARGS...`; its id.
    async fn submit(&self, kind: Kind, script: &str, args: &[&str]) -> String {
        let container = match kind {
            Kind::Docker => BUSYBOX_ENV,
            Kind::Native => "NULL",
        };
        self.submit_in(container, script, args).await
    }

    async fn submit_in(&self, container: &str, script: &str, args: &[&str]) -> String {
        let mut arguments = vec!["-c", script, "sh"];
        arguments.extend(args);
        let body =
            json!({"command": "sh", "arguments": arguments, "targets": [self.node], "container_name": container});
        let answer = reqwest::Client::new().post(format!("{}/submit", self.base)).json(&body).send().await.unwrap();
        assert_eq!(answer.status(), 202);
        answer.json::<Value>().await.unwrap()["task_ids"][0].as_str().unwrap().to_string()
    }

    /// Where a task's `shared_data` path is on this machine (a Docker task sees it as /shared).
    fn data(&self, name: &str) -> PathBuf {
        self.dir.shared().join("shared_data").join(name)
    }

    fn in_task(kind: Kind, name: &str) -> String {
        match kind {
            Kind::Docker => format!("/shared/{name}"),
            Kind::Native => name.to_string(),
        }
    }

    fn stored(&self, id: &str) -> (PathBuf, PathBuf) {
        let shared = self.dir.shared();
        (shared.join(format!("task_outputs/{id}.out")), shared.join(format!("task_errors/{id}.err")))
    }

    /// Waits for a task whose runner was restarted to complete: its node may have been taken for
    /// lost meanwhile (and the task with it) until the new runner adopted it.
    async fn adopted_and_completed(&self, id: &str) {
        hakuriver_itest::wait_for("the adopted task to complete", RUN, || async {
            let t: hakuriver_model::TaskView =
                reqwest::get(format!("{}/api/status/{id}", self.base)).await.ok()?.json().await.ok()?;
            (t.status == TaskStatus::Completed).then_some(())
        })
        .await;
    }

    async fn finished(&self, id: &str) -> hakuriver_model::TaskView {
        let t = wait_for_final(&self.base, id, RUN).await;
        assert_eq!(t.status, TaskStatus::Completed, "{:?}", t.error_message);
        t
    }
}

fn sha(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn file_sha(path: &Path) -> String {
    sha(&std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())))
}

/// 30 MB of random bytes, written in six pieces while the log is followed live (by the REST
/// stream and by `hakuriver task logs -f`), then read back whole every way there is.
async fn random_bytes_round_trip(kind: Kind) {
    let c = cluster(&format!("logs-{kind:?}").to_lowercase(), "").await;
    let (all, piece) = (Cluster::in_task(kind, "all.bin"), Cluster::in_task(kind, "piece.bin"));
    let script = r#"i=0; while [ $i -lt 6 ]; do
        head -c 5242880 /dev/urandom > "$2"; cat "$2"; cat "$2" >> "$1"; sleep 0.3; i=$((i+1))
    done; printf '\377\376end\r50%%\r' >&2"#;
    let id = c.submit(kind, script, &[&all, &piece]).await;

    let url = format!("{}/api/task/{id}/stdout/follow", c.base);
    let live = tokio::spawn(async move { follow_log(&url).await });
    let cli_follow = {
        let command = c.dir.command("hakuriver");
        let id = id.clone();
        tokio::task::spawn_blocking(move || {
            let mut command = command;
            command.args(["task", "logs", "-f", &id]).output().unwrap()
        })
    };
    c.finished(&id).await;
    let expected = file_sha(&c.data("all.bin"));
    assert_eq!(std::fs::metadata(c.data("all.bin")).unwrap().len(), 30 * MIB as u64);

    let (out, err) = c.stored(&id);
    assert_eq!(file_sha(&out), expected, "{kind:?}: the stored file holds exactly what the task wrote");
    assert_eq!(std::fs::read(&err).unwrap(), b"\xff\xfeend\r50%\r", "{kind:?}: not a byte decoded");

    // The original's contract: a bare read is the whole log (here 30 MB, far past any page).
    let whole = reqwest::get(format!("{}/task/{id}/stdout", c.base)).await.unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["x-log-size"], (30 * MIB).to_string().as_str());
    assert_eq!(whole.headers()["x-next-offset"], (30 * MIB).to_string().as_str());
    assert_eq!(sha(&whole.bytes().await.unwrap()), expected, "{kind:?}: the bare REST read");
    let stderr = reqwest::get(format!("{}/task/{id}/stderr", c.base)).await.unwrap().bytes().await.unwrap();
    assert_eq!(&stderr[..], b"\xff\xfeend\r50%\r");

    let cli = c.dir.cli(&["task", "logs", &id]);
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    assert_eq!(sha(&cli.stdout), expected, "{kind:?}: hakuriver task logs");
    let cli_err = c.dir.cli(&["task", "logs", "--stderr", &id]);
    assert_eq!(cli_err.stdout, b"\xff\xfeend\r50%\r");

    let (followed, end) = live.await.unwrap();
    assert_eq!((followed.len(), sha(&followed)), (30 * MIB, expected.clone()), "{kind:?}: the live follow stream");
    assert_eq!(end.as_deref(), Some("completed"));
    let (again, _) = follow_log(&format!("{}/api/task/{id}/stdout/follow", c.base)).await;
    assert_eq!(sha(&again), expected, "{kind:?}: the follow stream of a finished task");
    let cli_follow = cli_follow.await.unwrap();
    assert!(cli_follow.status.success(), "{}", String::from_utf8_lossy(&cli_follow.stderr));
    assert_eq!(sha(&cli_follow.stdout), expected, "{kind:?}: hakuriver task logs -f");
}

#[tokio::test]
async fn random_bytes_round_trip_byte_exact_in_docker() {
    random_bytes_round_trip(Kind::Docker).await;
}

#[tokio::test]
async fn random_bytes_round_trip_byte_exact_natively() {
    random_bytes_round_trip(Kind::Native).await;
}

/// Kilobytes of resident memory of process `pid`.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap()
}

#[tokio::test]
async fn a_200_mb_log_is_read_whole_while_the_hosts_memory_stays_flat() {
    let c = cluster("logs-big", "").await;
    let id = c.submit(Kind::Native, "head -c 209715200 /dev/urandom", &[]).await;
    c.finished(&id).await;
    let (out, _) = c.stored(&id);
    let expected = file_sha(&out);
    let host = c.procs[0].pid();
    let before = rss_kib(host);
    let mut response = reqwest::get(format!("{}/api/task/{id}/stdout", c.base)).await.unwrap();
    let (mut hasher, mut read, mut peak) = (Sha256::new(), 0usize, before);
    while let Some(chunk) = response.chunk().await.unwrap() {
        hasher.update(&chunk);
        read += chunk.len();
        if read % (8 * MIB) < chunk.len() {
            peak = peak.max(rss_kib(host));
        }
    }
    assert_eq!((read, format!("{:x}", hasher.finalize())), (200 * MIB, expected));
    let grown = peak.saturating_sub(before);
    assert!(grown < 48 * 1024, "the host grew by {grown} KiB reading a 200 MiB log (from {before} KiB)");
}

/// `[paths] max_log_bytes`: the first part is kept, then one marker line; the count is in the
/// task's record; a log under the limit is untouched.
async fn the_limit_keeps_the_first_part_and_one_marker(kind: Kind) {
    let node = format!("limit-{kind:?}").to_lowercase();
    let c = cluster(&node, "[paths]\nmax_log_bytes = 1000000\n").await;
    let id = c.submit(kind, "head -c 3000000 /dev/zero; echo under the limit >&2", &[]).await;
    let t = c.finished(&id).await;
    assert_eq!(t.log_bytes_dropped, Some(LogBytesDropped { stdout: 2_000_000, stderr: 0 }), "{kind:?}");
    let (out, err) = c.stored(&id);
    let stored = std::fs::read(&out).unwrap();
    let marker = b"\n[hakuriver] log limit of 1000000 bytes reached: 2000000 more bytes dropped\n";
    assert_eq!(stored.len(), 1_000_000 + marker.len(), "{kind:?}");
    assert!(stored[..1_000_000].iter().all(|&b| b == 0));
    assert_eq!(&stored[1_000_000..], marker);
    assert_eq!(std::fs::read(&err).unwrap(), b"under the limit\n");
    let record: Value = reqwest::get(format!("{}/api/status/{id}", c.base)).await.unwrap().json().await.unwrap();
    assert_eq!(record["log_bytes_dropped"], json!({"stdout": 2_000_000, "stderr": 0}));
    let shown = c.dir.cli(&["task", "status", &id]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("log dropped:") && shown.contains("of stdout"), "{shown}");
}

#[tokio::test]
async fn the_limit_keeps_the_first_part_and_one_marker_in_docker() {
    the_limit_keeps_the_first_part_and_one_marker(Kind::Docker).await;
}

#[tokio::test]
async fn the_limit_keeps_the_first_part_and_one_marker_natively() {
    the_limit_keeps_the_first_part_and_one_marker(Kind::Native).await;
}

/// The container writes its own log files: a runner SIGKILLed mid-task and started again adopts
/// the container and only waits for it; the log is whole and nothing in it is written twice.
#[tokio::test]
async fn a_runner_restarted_mid_task_neither_loses_nor_repeats_output() {
    let mut c = cluster("logs-restart", "").await;
    let script = r#"i=0; while [ $i -lt 10 ]; do
        head -c 1048576 /dev/urandom > /shared/piece.bin; cat /shared/piece.bin; cat /shared/piece.bin >> /shared/all.bin
        sleep 0.5; i=$((i+1))
    done"#;
    let id = c.submit(Kind::Docker, script, &[]).await;
    let (out, _) = c.stored(&id);
    hakuriver_itest::wait_for("output to start", RUN, || async {
        std::fs::metadata(&out).is_ok_and(|m| m.len() > 0).then_some(())
    })
    .await;
    c.procs[1].kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    c.procs.push(c.dir.start_runner("logs-restart"));
    c.adopted_and_completed(&id).await;
    assert_eq!(std::fs::metadata(c.data("all.bin")).unwrap().len(), 10 * MIB as u64);
    assert_eq!(file_sha(&out), file_sha(&c.data("all.bin")));
}

/// An image with its own `USER` (a name, found in the image's /etc/passwd): the log files are
/// handed to that user, whose program writes them.
#[tokio::test]
async fn an_image_running_as_its_own_user_writes_its_logs() {
    let c = cluster("logs-user", "").await;
    let env = c.dir.env_name("logs-user");
    let dir = tempfile::tempdir().unwrap();
    let passwd = "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n";
    let tar = busybox_rootfs_tar(dir.path(), &[("/etc/passwd", passwd)]);
    let tag = hakuriver_model::task::env_image(&env);
    let imported = Command::new("docker")
        .args(["import", "--change", "ENV PATH=/bin", "--change", "USER nobody", tar.to_str().unwrap(), &tag])
        .output()
        .unwrap();
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    let id = c.submit_in(&env, r#"printf 'as %s\377' "$(cat /proc/self/status | grep ^Uid)""#, &[]).await;
    c.finished(&id).await;
    let (out, _) = c.stored(&id);
    let text = std::fs::read(&out).unwrap();
    assert!(text.starts_with(b"as Uid:\t65534\t"), "{}", String::from_utf8_lossy(&text));
    assert_eq!(text.last(), Some(&0xff));
    assert_eq!(std::fs::metadata(&out).unwrap().uid(), 65534);
}

/// A program that does not exist: the task fails with exit code 127 and the reason, for a
/// container (the exec helper says it) and natively (the shim says it).
#[tokio::test]
async fn a_program_that_cannot_start_says_why() {
    let c = cluster("logs-missing", "").await;
    for container in [BUSYBOX_ENV, "NULL"] {
        let body = json!({"command": "/no/such/program", "arguments": ["x"], "targets": [c.node], "container_name": container});
        let answer = reqwest::Client::new().post(format!("{}/submit", c.base)).json(&body).send().await.unwrap();
        let id = answer.json::<Value>().await.unwrap()["task_ids"][0].as_str().unwrap().to_string();
        let t = wait_for_final(&c.base, &id, RUN).await;
        assert_eq!((t.status, t.exit_code), (TaskStatus::Failed, Some(127)), "{container}");
        let message = t.error_message.unwrap_or_default();
        assert!(message.contains("cannot run") && message.contains("/no/such/program"), "{container}: {message}");
    }
}

/// A container started by a runner older than the exec helper (no `hakuriver.logs` label) has
/// its output only in Docker's log: a new runner adopting it copies that out, whole.
#[tokio::test]
async fn a_container_from_an_older_runner_has_its_output_copied_from_dockers_log() {
    let mut c = cluster("logs-legacy", "").await;
    let id = c.submit(Kind::Docker, "sleep 30", &[]).await;
    hakuriver_itest::wait_for("the task to run", RUN, || async {
        let t: hakuriver_model::TaskView =
            reqwest::get(format!("{}/api/status/{id}", c.base)).await.ok()?.json().await.ok()?;
        (t.status == TaskStatus::Running).then_some(())
    })
    .await;
    c.procs[1].kill();
    // What an older runner left behind: the same container, its output in the engine's log only.
    let name = hakuriver_model::task::task_container_name(id.parse().unwrap());
    let docker = |args: &[&str]| Command::new("docker").args(args).output().unwrap();
    assert!(docker(&["rm", "--force", &name]).status.success());
    let labels =
        [format!("hakuriver.task_id={id}"), "hakuriver.kind=command".into(), "hakuriver.node=logs-legacy".into()];
    let mut run = vec!["run", "--detach", "--name", &name];
    for label in &labels {
        run.extend(["--label", label]);
    }
    run.extend([hakuriver_itest::images::BUSYBOX_IMAGE, "sh", "-c", "echo from an older runner; sleep 2"]);
    let started = docker(&run);
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
    c.procs.push(c.dir.start_runner("logs-legacy"));
    c.adopted_and_completed(&id).await;
    let (out, _) = c.stored(&id);
    assert_eq!(std::fs::read(&out).unwrap(), b"from an older runner\n");
}
