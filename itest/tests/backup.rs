// suite: integration
//! `hakuriver-host backup` while the host runs and takes submits, `restore` once it is stopped,
//! and the lock that keeps a second host (or a restore) off a database in use.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hakuriver_itest::{free_port, wait_for, wait_for_node, ClusterDir};
use hakuriver_model::{NodeStatus, TaskView};
use serde_json::{json, Value};

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[tokio::test]
async fn a_backup_taken_under_load_restores_to_a_consistent_database() {
    let cluster = ClusterDir::new();
    let base = cluster.base_url();
    let mut host = cluster.start_host();
    let _runner = cluster.start_runner("backup-node");
    wait_for_node(&base, "backup-node", NodeStatus::Online, Duration::from_secs(20)).await;

    // Submit without pause from another task; remember what the host confirmed, in order.
    let confirmed = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let submitter = {
        let (confirmed, stop, base) = (confirmed.clone(), stop.clone(), base.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let body = json!({"command": "true", "container_name": "NULL", "required_cores": 0});
                let Ok(r) = http.post(format!("{base}/api/submit")).json(&body).send().await else { continue };
                if let Ok(v) = r.json::<Value>().await {
                    if let Some(id) = v["task_ids"][0].as_str() {
                        confirmed.lock().unwrap().push(id.to_string());
                    }
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    let before_backup: Vec<String> = confirmed.lock().unwrap().clone();
    assert!(before_backup.len() > 5, "submits flow: {}", before_backup.len());
    let copy = cluster.path().join("backups/host-copy.db");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    let out = cluster.command("hakuriver-host").args(["backup", "--to"]).arg(&copy).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("integrity checked"), "{}", text(&out));
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    submitter.await.unwrap();
    let all = confirmed.lock().unwrap().clone();
    assert!(all.len() > before_backup.len(), "submits went on during the backup");

    // The copy exists, so a second backup to it needs --force.
    let again = cluster.command("hakuriver-host").args(["backup", "--to"]).arg(&copy).output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again).contains("--force"), "{}", text(&again));

    // Neither a restore nor a second host may touch the database of a running host.
    let refused = cluster.command("hakuriver-host").args(["restore", "--from"]).arg(&copy).output().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused).contains("the host is running") && text(&refused).contains("stop it first"),
        "{}",
        text(&refused)
    );
    let second = cluster
        .command("hakuriver-host")
        .env("HAKURIVER_NETWORK_HOST_PORT", free_port().to_string())
        .env("HAKURIVER_NETWORK_HOST_SSH_PROXY_PORT", free_port().to_string())
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1), "{}", text(&second));
    assert!(text(&second).contains(&format!("pid {}", host.pid())), "{}", text(&second));

    assert!(host.terminate(Duration::from_secs(20)), "the host stops on SIGTERM");
    let out = cluster.command("hakuriver-host").args(["restore", "--from"]).arg(&copy).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("kept as"), "{}", text(&out));

    let _host = cluster.start_host();
    let tasks: Vec<TaskView> = wait_for("the restored host", Duration::from_secs(20), || async {
        reqwest::get(format!("{base}/api/tasks?limit=5000")).await.ok()?.json().await.ok()
    })
    .await;
    let restored: std::collections::HashSet<String> = tasks.iter().map(|t| t.task_id.to_string()).collect();
    for id in &before_backup {
        assert!(restored.contains(id), "task {id}, confirmed before the backup began, is in it");
    }
    let confirmed_all: std::collections::HashSet<&String> = all.iter().collect();
    assert!(restored.iter().all(|id| confirmed_all.contains(id)), "nothing invented");
    // Whatever the backup holds is whole: every restored task is one the host confirmed or was
    // confirming, and each reads back with its fields.
    for t in &tasks {
        assert_eq!(t.command, "true");
        assert!(t.submitted_at.is_some());
    }
}
