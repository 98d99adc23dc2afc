// suite: integration
//! The host behind Debian's nginx, configured with docs/nginx/hakuriver.conf and
//! hakuriver-subpath.conf as documented (only the listen address and the host's address
//! swapped): the API, the dashboard, the events websocket, followed logs (server-sent events)
//! and the CLI all work through it, at the root and under a sub-path.

use std::process::Command;
use std::time::Duration;

use futures::StreamExt;
use hakuriver_itest::{free_port, wait_for, wait_for_node, ClusterDir, Proc};
use hakuriver_model::{NodeInfo, NodeStatus};
use serde_json::{json, Value};

/// nginx in the foreground with a documented server block (`docs/nginx/NAME`), on `port`, in
/// front of the cluster's host.
fn start_nginx(cluster: &ClusterDir, port: u16, name: &str) -> Proc {
    let path = format!("{}/../docs/nginx/{name}", env!("CARGO_MANIFEST_DIR"));
    let documented = std::fs::read_to_string(path).unwrap();
    let block = documented
        .replace("listen 80;", &format!("listen 127.0.0.1:{port};"))
        .replace("server 127.0.0.1:8000;", &format!("server 127.0.0.1:{};", cluster.host_port));
    assert_ne!(block, documented, "the documented block has the lines this test swaps");
    let dir = cluster.path().join("nginx");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hakuriver.conf"), block).unwrap();
    let d = dir.display();
    let main = format!(
        "daemon off;\nuser root;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\nevents {{}}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
         include {d}/hakuriver.conf;\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), main).unwrap();
    let test = Command::new("nginx")
        .arg("-t")
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .output()
        .expect("nginx (Debian's nginx package; scripts/setup.sh installs it)");
    assert!(test.status.success(), "{}", String::from_utf8_lossy(&test.stderr));
    let mut command = Command::new("nginx");
    command.arg("-c").arg(dir.join("nginx.conf"));
    Proc::spawn("nginx", command, dir.join("nginx.log"))
}

#[tokio::test]
async fn api_dashboard_websockets_and_live_logs_through_nginx() {
    let cluster = ClusterDir::new();
    // Users reach the cluster by its name; nginx passes that name on as Host.
    cluster.append_config("[network]\npublic_hosts = [\"cluster.test\"]\n");
    let _host = cluster.start_host();
    let _runner = cluster.start_runner("proxied");
    wait_for_node(&cluster.base_url(), "proxied", NodeStatus::Online, Duration::from_secs(20)).await;
    let port = free_port();
    let _nginx = start_nginx(&cluster, port, "hakuriver.conf");
    let front = format!("http://127.0.0.1:{port}");

    let nodes: Vec<NodeInfo> = wait_for("nginx", Duration::from_secs(10), || async {
        reqwest::get(format!("{front}/api/nodes")).await.ok()?.json().await.ok()
    })
    .await;
    assert_eq!(nodes[0].hostname, "proxied");
    let by_name = |name: &str| {
        reqwest::Client::new().get(format!("{front}/api/nodes")).header("host", format!("{name}:{port}")).send()
    };
    assert_eq!(by_name("cluster.test").await.unwrap().status(), 200, "a name in public_hosts");
    assert_eq!(by_name("rebound.example").await.unwrap().status(), 421, "any other name");
    let page = reqwest::Client::new().get(format!("{front}/nodes")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("proxied"));

    // Live updates: the events websocket upgrades through nginx.
    let (mut events, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/api/events").as_str()).await.unwrap();
    let first = events.next().await.unwrap().unwrap();
    assert!(first.to_text().unwrap().contains("proxied"), "{first:?}");

    // A followed log arrives piece by piece while the task runs (nginx does not buffer it).
    let body = json!({"command": "sh", "arguments": ["-c", "echo one; sleep 2; echo two"],
        "container_name": "NULL", "targets": ["proxied"]});
    let answer: Value = reqwest::Client::new()
        .post(format!("{front}/api/submit"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = answer["task_ids"][0].as_str().unwrap().to_string();
    let mut stream = reqwest::get(format!("{front}/api/task/{id}/stdout/follow")).await.unwrap().bytes_stream();
    let started = std::time::Instant::now();
    // Output events carry the bytes in base64: "one\n" and "two\n".
    let (one, two) = ("b25lCg==", "dHdvCg==");
    let mut seen = String::new();
    while !seen.contains(one) {
        let piece = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap().unwrap().unwrap();
        seen += &String::from_utf8_lossy(&piece);
    }
    assert!(!seen.contains(two), "the first line came before the task wrote the second: {seen}");
    assert!(started.elapsed() < Duration::from_millis(1900), "not held back by a buffer");
    while !seen.contains("event: end") {
        let piece = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap().unwrap().unwrap();
        seen += &String::from_utf8_lossy(&piece);
    }
    assert!(seen.contains(two) && seen.contains("completed"), "{seen}");

    // The CLI pointed at nginx.
    let out = cluster.cli(&["--host", &front, "task", "logs", &id]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\ntwo\n");
}

#[tokio::test]
async fn under_a_sub_path_with_base_path_set() {
    let cluster = ClusterDir::new();
    let mut host = cluster.command("hakuriver-host");
    host.env("HAKURIVER_NETWORK_BASE_PATH", "/hakuriver");
    let _host = Proc::spawn("host", host, cluster.path().join("host.log"));
    let _runner = cluster.start_runner("sub");
    wait_for_node(&cluster.base_url(), "sub", NodeStatus::Online, Duration::from_secs(20)).await;
    let port = free_port();
    let _nginx = start_nginx(&cluster, port, "hakuriver-subpath.conf");
    let front = format!("http://127.0.0.1:{port}/hakuriver");

    let nodes: Vec<NodeInfo> = wait_for("nginx", Duration::from_secs(10), || async {
        reqwest::get(format!("{front}/api/nodes")).await.ok()?.json().await.ok()
    })
    .await;
    assert_eq!(nodes[0].hostname, "sub");
    let html = reqwest::get(format!("{front}/tasks")).await.unwrap().text().await.unwrap();
    assert!(html.contains(r#"<meta name="hakuriver-base" content="/hakuriver">"#), "{html}");
    assert!(html.contains(r#"href="/hakuriver/nodes""#) && !html.contains(r#"href="/nodes""#), "links carry the base");
    for asset in ["pkg/hakuriver.css", "xterm/xterm.css", "favicon.svg"] {
        let r = reqwest::get(format!("{front}/{asset}")).await.unwrap();
        assert_eq!(r.status(), 200, "{asset}");
    }
    let (mut events, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/hakuriver/api/events").as_str()).await.unwrap();
    let first = events.next().await.unwrap().unwrap();
    assert!(first.to_text().unwrap().contains("sub"), "{first:?}");
    // Outside the sub-path nginx serves nothing of ours.
    let outside = reqwest::get(format!("http://127.0.0.1:{port}/api/nodes")).await.unwrap();
    assert_eq!(outside.status(), 404);

    // The CLI with the sub-path in --host.
    let out = cluster.cli(&["--host", &front, "node", "list", "-q"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "sub\n", "{}", String::from_utf8_lossy(&out.stderr));
}
