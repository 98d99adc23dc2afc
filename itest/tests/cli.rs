//! The `hakuriver` binary against a real host.

use std::time::Duration;

use hakuriver_itest::{wait_for_node, ClusterDir};
use hakuriver_model::{NodeInfo, NodeStatus};

#[tokio::test]
async fn nodes_as_table_and_json_and_exit_codes() {
    let cluster = ClusterDir::new();
    let base = cluster.base_url();

    let down = cluster.cli(&["nodes"]);
    assert_eq!(down.status.code(), Some(3), "host not running: exit 3");
    assert!(String::from_utf8_lossy(&down.stderr).contains("cannot reach the host"));

    let _host = cluster.start_host();
    let _runner = cluster.start_runner("cli-node");
    wait_for_node(&base, "cli-node", NodeStatus::Online, Duration::from_secs(20)).await;

    let table = cluster.cli(&["nodes"]);
    assert!(table.status.success());
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(
        text.starts_with("HOSTNAME") && text.lines().any(|l| l.starts_with("cli-node") && l.contains("online")),
        "{text}"
    );

    let json = cluster.cli(&["nodes", "--json"]);
    assert!(json.status.success());
    let nodes: Vec<NodeInfo> = serde_json::from_slice(&json.stdout).expect("JSON in the API's shape");
    assert!(nodes.iter().any(|n| n.hostname == "cli-node"));

    let via_flag = cluster.cli(&["--host", &base, "nodes", "--json"]);
    assert!(via_flag.status.success());

    let usage = cluster.cli(&["nodes", "--bogus"]);
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn init_config_writes_a_loadable_file_and_never_overwrites_without_force() {
    let cluster = ClusterDir::new();
    let target = cluster.path().join("new/config.toml");
    let target_str = target.to_str().unwrap();

    let first = cluster.cli(&["init", "config", "--path", target_str]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let text = std::fs::read_to_string(&target).unwrap();
    assert!(text.contains("[network]") && text.contains("host_port = 8000") && text.contains("# "));

    std::fs::write(&target, "# edited by the admin\n").unwrap();
    let second = cluster.cli(&["init", "config", "--path", target_str]);
    assert_eq!(second.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&second.stderr).contains("--force"));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "# edited by the admin\n");

    let forced = cluster.cli(&["init", "config", "--path", target_str, "--force"]);
    assert!(forced.status.success());

    // The written file loads: the CLI gets past the config and fails only to reach port 1.
    let out = std::process::Command::new(hakuriver_itest::bin("hakuriver"))
        .args(["--config", target_str, "nodes"])
        .env("HAKURIVER_NETWORK_HOST_PORT", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
}
