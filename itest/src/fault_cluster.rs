//! The harness of the fault suites (`tests/faults*.rs`): a fast-timing cluster, the tally each
//! test prints (`faults: injected=N checked=N wrong=N`, added up by scripts/test-all.sh), and
//! small task helpers.

use std::time::Duration;

use hakuriver_model::{TaskStatus, TaskView};
use serde_json::Value;

use crate::images::ensure_busybox;
use crate::{wait_for, ClusterDir, Proc};

pub const START: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Faults {
    pub injected: u32,
    pub checked: u32,
    pub wrong: Vec<String>,
}

impl Faults {
    /// One task checked: `ok`, or what was wrong with it.
    pub fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        self.checked += 1;
        if !ok {
            self.wrong.push(what());
        }
    }

    /// Prints the figures and fails the test on any wrong task.
    pub fn report(self) {
        println!("faults: injected={} checked={} wrong={}", self.injected, self.checked, self.wrong.len());
        assert!(self.wrong.is_empty(), "{}", self.wrong.join("\n"));
    }
}

/// A host (heartbeats every 0.5 s, a node offline after 10 s) and one runner.
pub fn cluster(node: &str) -> (ClusterDir, Proc, Proc) {
    ensure_busybox();
    let dir = ClusterDir::with_timing(0.5, 20.0);
    let host = dir.start_host();
    let runner = dir.start_runner(node);
    (dir, host, runner)
}

pub async fn submit(base: &str, body: Value) -> String {
    let r = reqwest::Client::new().post(format!("{base}/submit")).json(&body).send().await.expect("submit");
    assert_eq!(r.status(), 202);
    r.json::<Value>().await.expect("JSON")["task_ids"][0].as_str().expect("an id").to_string()
}

pub async fn task(base: &str, id: &str) -> Option<TaskView> {
    reqwest::get(format!("{base}/status/{id}")).await.ok()?.json().await.ok()
}

pub async fn wait_status(base: &str, id: &str, status: TaskStatus) -> TaskView {
    wait_for(&format!("task {id} to be {status}"), Duration::from_secs(90), || async {
        task(base, id).await.filter(|t| t.status == status)
    })
    .await
}

pub async fn stdout(base: &str, id: &str) -> String {
    let r = reqwest::get(format!("{base}/task/{id}/stdout")).await.expect("log");
    r.text().await.unwrap_or_default()
}

/// A fresh ed25519 public key (the VPS is never logged into here).
pub fn public_key() -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("id_ed25519");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "faults", "-f"])
        .arg(&key)
        .status();
    assert!(made.expect("run ssh-keygen (apt-get install openssh-client)").success());
    std::fs::read_to_string(key.with_extension("pub")).expect("the public key").trim().to_string()
}
