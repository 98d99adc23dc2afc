// suite: postgres
//! The real host and runner with the cluster's state in PostgreSQL (`[database] url`): tasks,
//! nodes and a restart. Run by scripts/test-postgres.sh, which starts the server and names a
//! fresh database in `HAKURIVER_TEST_POSTGRES_HOST_URL`.

use std::time::Duration;

use hakuriver_itest::{wait_for, wait_for_node, ClusterDir, Proc};
use hakuriver_model::{NodeStatus, TaskView};

fn host_on_postgres(cluster: &ClusterDir, url: &str) -> Proc {
    let mut command = cluster.command("hakuriver-host");
    command.env("HAKURIVER_DATABASE_URL", url);
    Proc::spawn("host", command, cluster.path().join("host.log"))
}

#[tokio::test]
async fn the_host_keeps_its_state_in_postgresql() {
    let url = std::env::var("HAKURIVER_TEST_POSTGRES_HOST_URL")
        .expect("run this through scripts/test-postgres.sh, which starts a PostgreSQL server for it");
    let cluster = ClusterDir::new();
    let base = cluster.base_url();
    let check = cluster.command("hakuriver-host").arg("--check").env("HAKURIVER_DATABASE_URL", &url).output().unwrap();
    assert!(String::from_utf8_lossy(&check.stdout).contains("ok    PostgreSQL:"), "{check:?}");
    let wrong = url.rsplit_once('/').map(|(server, _)| format!("{server}/no_such_database")).unwrap();
    let check =
        cluster.command("hakuriver-host").arg("--check").env("HAKURIVER_DATABASE_URL", &wrong).output().unwrap();
    assert_eq!(check.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&check.stdout).contains("FAIL  PostgreSQL: cannot connect"), "{check:?}");
    let mut host = host_on_postgres(&cluster, &url);
    let _runner = cluster.start_runner("pg-node");
    wait_for_node(&base, "pg-node", NodeStatus::Online, Duration::from_secs(30)).await;
    assert!(!cluster.path().join("host.db").exists(), "no SQLite file when a URL is set");

    let out = cluster.cli(&[
        "task",
        "submit",
        "-q",
        "--wait",
        "--cores",
        "0",
        "-t",
        "pg-node",
        "--container",
        "NULL",
        "--",
        "echo",
        "span:{1..3}",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect();
    assert_eq!(ids.len(), 3);

    // A backup of a PostgreSQL database is pg_dump's job; the host says so.
    let backup = cluster
        .command("hakuriver-host")
        .env("HAKURIVER_DATABASE_URL", &url)
        .args(["backup", "--to", "x.db"])
        .output()
        .unwrap();
    assert_eq!(backup.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&backup.stderr).contains("pg_dump"), "{backup:?}");

    assert!(host.terminate(Duration::from_secs(20)));
    let _host = host_on_postgres(&cluster, &url);
    let tasks: Vec<TaskView> = wait_for("the restarted host", Duration::from_secs(30), || async {
        reqwest::get(format!("{base}/api/tasks?limit=100")).await.ok()?.json().await.ok()
    })
    .await;
    for id in &ids {
        let task = tasks.iter().find(|t| &t.task_id.to_string() == id).expect("kept across the restart");
        assert_eq!(task.exit_code, Some(0));
    }
    let mut outputs: Vec<String> = Vec::new();
    for id in &ids {
        outputs.push(reqwest::get(format!("{base}/api/task/{id}/stdout")).await.unwrap().text().await.unwrap());
    }
    outputs.sort();
    assert_eq!(outputs, ["1\n", "2\n", "3\n"]);
    wait_for_node(&base, "pg-node", NodeStatus::Online, Duration::from_secs(30)).await;
}
