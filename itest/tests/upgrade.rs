// suite: integration
//! A way in for the original's users: an original HakuRiver 0.3 database, made here with
//! Python's sqlite3 exactly as the original's peewee models create it, is brought into ours by
//! `hakuriver-host import-hakuriver OLD.db` (idempotently), and by a host started on that very
//! file (once, by itself).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use hakuriver_itest::{wait_for, ClusterDir};
use serde_json::Value;

/// The original's tables (peewee 3, SqliteDatabase) with two nodes and four tasks.
const ORIGINAL: &str = r#"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript('''
CREATE TABLE IF NOT EXISTS "node" ("hostname" VARCHAR(255) NOT NULL PRIMARY KEY, "url" VARCHAR(255) NOT NULL,
  "total_cores" INTEGER NOT NULL, "last_heartbeat" DATETIME NOT NULL, "status" VARCHAR(255) NOT NULL,
  "cpu_percent" REAL, "memory_percent" REAL, "memory_used_bytes" INTEGER, "memory_total_bytes" INTEGER,
  "current_avg_temp" REAL, "current_max_temp" REAL, "numa_topology" TEXT, "gpu_info" TEXT);
CREATE TABLE IF NOT EXISTS "task" ("task_id" INTEGER NOT NULL PRIMARY KEY, "task_type" VARCHAR(255) NOT NULL,
  "command" TEXT NOT NULL, "arguments" TEXT NOT NULL, "env_vars" TEXT NOT NULL, "required_cores" INTEGER NOT NULL,
  "required_gpus" TEXT NOT NULL, "status" VARCHAR(255) NOT NULL, "assigned_node_id" VARCHAR(255),
  "stdout_path" TEXT NOT NULL, "stderr_path" TEXT NOT NULL, "exit_code" INTEGER, "error_message" TEXT,
  "submitted_at" DATETIME NOT NULL, "started_at" DATETIME, "completed_at" DATETIME,
  "assignment_suspicion_count" INTEGER NOT NULL, "required_memory_bytes" INTEGER, "systemd_unit_name" VARCHAR(255),
  "target_numa_node_id" INTEGER, "batch_id" INTEGER, "ssh_port" INTEGER,
  FOREIGN KEY ("assigned_node_id") REFERENCES "node" ("hostname"));
CREATE INDEX IF NOT EXISTS "task_assigned_node_id" ON "task" ("assigned_node_id");
CREATE INDEX IF NOT EXISTS "task_batch_id" ON "task" ("batch_id");
''')
db.executemany('INSERT INTO node VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)', [
  ('gpu-01', 'http://10.0.0.11:8001', 32, '2025-05-01 12:00:00.123456', 'online', 12.5, 40.0, 1000, 64000000000,
   None, None, '{"0": {"cores": [0, 1, 2, 3], "memory_bytes": 32000000000}}', '[]'),
  ('cpu-02', 'http://10.0.0.12:8001', 16, '2025-05-01 11:00:00', 'offline', None, None, None, None, None, None, None, None),
])
rows = [
  (7325000000000000001, 'command', 'python', '["train.py", "--lr", "0.1"]', '{"SEED": "1"}', 4, '[0]', 'completed',
   'gpu-01', '/mnt/s/task_outputs/7325000000000000001.out', '/mnt/s/task_errors/7325000000000000001.err', 0, None,
   '2025-05-01 10:00:00.000001', '2025-05-01 10:00:01', '2025-05-01 10:30:00', 0, 8000000000,
   'hakuriver-task-7325000000000000001.scope', None, 7325000000000000001, None),
  (7325000000000000002, 'command', 'sh', '["-c", "exit 3"]', '[]', 1, '[]', 'failed', 'cpu-02', 'x', 'y', 3,
   'systemd-run failed with exit code 3.', '2025-05-01 10:05:00', '2025-05-01 10:05:01', '2025-05-01 10:05:02', 0,
   None, None, 0, 7325000000000000002, None),
  (7325000000000000003, 'command', 'sleep', '["1000"]', '[]', 1, '[]', 'killed', 'cpu-02', 'x', 'y', -9,
   'Killed by user request.', '2025-05-01 10:06:00', None, '2025-05-01 10:07:00', 0, None, None, None, None, None),
  (7325000000000000004, 'vps', 'ssh-ed25519 AAAA test', '[]', '[]', 2, '[]', 'completed', 'gpu-01', 'x', 'y', 0,
   None, '2025-05-01 10:08:00', '2025-05-01 10:08:05', '2025-05-01 11:00:00', 0, None, None, None, None, 32801),
]
db.executemany('INSERT INTO task VALUES (' + ','.join('?' * 22) + ')', rows)
db.commit()
"#;

fn make_original(path: &Path) {
    let out =
        Command::new("python3").arg("-c").arg(ORIGINAL).arg(path).output().expect("python3 (apt-get install python3)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

async fn task(base: &str, id: &str) -> Value {
    reqwest::get(format!("{base}/api/status/{id}")).await.unwrap().json().await.unwrap()
}

/// What the host shows of the original's history once imported.
async fn check_history(base: &str) {
    let t = task(base, "7325000000000000001").await;
    assert_eq!((t["status"].as_str(), t["exit_code"].as_i64()), (Some("completed"), Some(0)), "{t}");
    assert_eq!(t["command"], "python");
    assert_eq!(t["arguments"], serde_json::json!(["train.py", "--lr", "0.1"]));
    assert_eq!(t["env_vars"]["SEED"], "1");
    assert_eq!((t["assigned_node"].as_str(), t["required_gpus"].clone()), (Some("gpu-01"), serde_json::json!([0])));
    assert!(t["submitted_at"].as_str().unwrap().starts_with("2025-05-01T10:00:00"), "{t}");
    let failed = task(base, "7325000000000000002").await;
    assert_eq!((failed["status"].as_str(), failed["exit_code"].as_i64()), (Some("failed"), Some(3)));
    assert_eq!(task(base, "7325000000000000003").await["status"], "killed");
    let vps: Vec<Value> = reqwest::get(format!("{base}/api/vps")).await.unwrap().json().await.unwrap();
    assert!(vps.iter().any(|v| v["task_id"] == "7325000000000000004"), "{vps:?}");
    let nodes: Vec<Value> = reqwest::get(format!("{base}/api/nodes")).await.unwrap().json().await.unwrap();
    let names: Vec<&str> = nodes.iter().filter_map(|n| n["hostname"].as_str()).collect();
    assert_eq!(names.len(), 2, "{nodes:?}");
    assert!(names.contains(&"gpu-01") && names.contains(&"cpu-02"));
    assert!(nodes.iter().all(|n| n["status"] == "offline"), "offline until their runners register again");
}

async fn serving(cluster: &ClusterDir) {
    let base = cluster.base_url();
    wait_for("the host to serve", Duration::from_secs(20), || async {
        reqwest::get(format!("{base}/health")).await.ok().filter(|r| r.status().is_success()).map(|_| ())
    })
    .await;
}

#[tokio::test]
async fn import_hakuriver_brings_nodes_and_history_once() {
    let cluster = ClusterDir::new();
    let old = cluster.path().join("cluster_management.db");
    make_original(&old);
    let import = || cluster.command("hakuriver-host").arg("import-hakuriver").arg(&old).output().unwrap();
    let first = import();
    let said = String::from_utf8_lossy(&first.stdout);
    assert!(first.status.success(), "{said}{}", String::from_utf8_lossy(&first.stderr));
    assert!(said.contains("nodes: 2 found, 2 new; tasks: 4 found, 4 new"), "{said}");
    let again = import();
    let said = String::from_utf8_lossy(&again.stdout);
    assert!(said.contains("nodes: 2 found, 0 new; tasks: 4 found, 0 new"), "idempotent: {said}");

    let _host = cluster.start_host();
    serving(&cluster).await;
    check_history(&cluster.base_url()).await;

    let not_original = cluster.path().join("not-hakuriver.db");
    std::fs::write(&not_original, b"").unwrap();
    let refused = cluster.command("hakuriver-host").arg("import-hakuriver").arg(&not_original).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a HakuRiver 0.3 database"));
}

#[tokio::test]
async fn a_host_started_on_the_originals_database_file_imports_it_once() {
    let cluster = ClusterDir::new();
    // The original's file is the host's own database (db_file = "host.db" in the test config).
    make_original(&cluster.path().join("host.db"));
    let mut host = cluster.start_host();
    serving(&cluster).await;
    check_history(&cluster.base_url()).await;
    assert!(host.log().contains("imported the original HakuRiver's nodes and tasks"), "{}", host.log());
    assert!(host.terminate(Duration::from_secs(10)));
    let host = cluster.start_host();
    serving(&cluster).await;
    assert!(!host.log().contains("imported the original HakuRiver's"), "once: {}", host.log());
}
