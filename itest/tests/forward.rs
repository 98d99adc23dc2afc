// suite: integration
//! `hakuriver forward` through real host, runner and CLI processes with authentication on: an
//! HTTP server inside a native task reached from a local port (bytes compared, half closes,
//! many connections at once), the reasons a connection cannot be made, and who may forward.
//! The VPS case (a port inside a container) is in docker_vps.

use std::time::Duration;

use hakuriver_itest::{create_token, free_port, wait_for, ClusterDir, ADMIN_TOKEN};
use hakuriver_model::{TaskStatus, TaskView};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn http() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {ADMIN_TOKEN}").parse().unwrap());
    reqwest::Client::builder().default_headers(headers).build().unwrap()
}

async fn status(base: &str, id: &str) -> TaskStatus {
    let view: TaskView = http().get(format!("{base}/api/status/{id}")).send().await.unwrap().json().await.unwrap();
    view.status
}

/// Sends `request`, shuts the writing half (a client that says it is done), reads to the end.
async fn exchange(port: u16, request: &[u8]) -> Vec<u8> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("the forward listens");
    stream.write_all(request).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await.unwrap().unwrap();
    answer
}

#[tokio::test]
async fn a_port_inside_a_native_task_through_the_host() {
    let cluster = ClusterDir::with_auth();
    let base = cluster.base_url();
    let _host = cluster.start_host();
    let _runner = cluster.start_runner("fwd1");
    wait_for("fwd1 online", Duration::from_secs(20), || async {
        let node: Value = http().get(format!("{base}/api/nodes/fwd1")).send().await.ok()?.json().await.ok()?;
        (node["status"] == "online").then_some(())
    })
    .await;

    // Files the task's web server serves: text and 24 MiB of random bytes.
    let site = cluster.shared().join("shared_data/site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("hello.txt"), "hello through the host\n").unwrap();
    let mut big = vec![0u8; 24 << 20];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut big).unwrap();
    std::fs::write(site.join("big.bin"), &big).unwrap();

    let port = free_port();
    let body = json!({"command": "python3",
        "arguments": ["-m", "http.server", port.to_string(), "--bind", "127.0.0.1", "--directory", site],
        "targets": ["fwd1"], "container_name": "NULL"});
    let answer: Value =
        http().post(format!("{base}/api/submit")).json(&body).send().await.unwrap().json().await.unwrap();
    let id = answer["task_ids"][0].as_str().expect("submitted").to_string();
    wait_for("the server task to run", Duration::from_secs(30), || async {
        (status(&base, &id).await == TaskStatus::Running).then_some(())
    })
    .await;

    let (forward, local) = cluster.start_forward(&id, port).await;
    // The server may take a moment to listen: until then a connection is closed with the reason.
    let hello = wait_for("the page through the forward", Duration::from_secs(20), || async {
        let page = reqwest::get(format!("http://127.0.0.1:{local}/hello.txt")).await.ok()?;
        page.text().await.ok()
    })
    .await;
    assert_eq!(hello, "hello through the host\n");

    // Binary bytes whole, eight downloads at once.
    let want = hex(&Sha256::digest(&big));
    let downloads = (0..8).map(|_| async {
        let bytes = reqwest::get(format!("http://127.0.0.1:{local}/big.bin")).await.unwrap().bytes().await.unwrap();
        hex(&Sha256::digest(&bytes))
    });
    for got in futures::future::join_all(downloads).await {
        assert_eq!(got, want, "a download through the forward differs");
    }

    // A client that shuts its writing half after the request still gets the whole answer.
    let answer = exchange(local, b"GET /hello.txt HTTP/1.0\r\n\r\n").await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.0 200") && answer.ends_with("hello through the host\n"), "{answer}");

    // Nothing on the port: the connection closes and the CLI says why.
    let (empty, empty_local) = cluster.start_forward(&id, free_port()).await;
    assert!(exchange(empty_local, b"anything").await.is_empty());
    wait_for("the reason on the CLI's stderr", Duration::from_secs(10), || async {
        empty.log().contains("nothing answers on port").then_some(())
    })
    .await;

    // Roles: forwarding is for admins, as terminals are; the others are refused by the host.
    for role in ["viewer", "user", "operator"] {
        let (_, token) = create_token(&base, &format!("fwd-{role}"), role).await;
        let mut command = cluster.command("hakuriver");
        let local = free_port();
        command.args(["forward", &id, &format!("{local}:{port}")]).env("HAKURIVER_TOKEN", &token);
        let log = cluster.path().join(format!("forward-{role}.log"));
        let refused = hakuriver_itest::Proc::spawn(&format!("forward as {role}"), command, log);
        let connected = wait_for("the forward to listen", Duration::from_secs(20), || async {
            tokio::net::TcpStream::connect(("127.0.0.1", local)).await.ok()
        })
        .await;
        let mut connected = connected;
        let mut read = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(20), connected.read_to_end(&mut read)).await;
        assert!(read.is_empty(), "{role} got bytes through");
        wait_for(&format!("the refusal for {role}"), Duration::from_secs(10), || async {
            refused.log().contains("the host refused the forward (403)").then_some(())
        })
        .await;
    }

    // Bad input: a port that is not one, a task that is not there, a task that has ended.
    let out = cluster.cli(&["forward", &id, "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let out = cluster.cli(&["forward", "12345", "8888"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"), "{}", String::from_utf8_lossy(&out.stderr));
    let killed = http().post(format!("{base}/api/kill/{id}")).send().await.unwrap();
    assert!(killed.status().is_success());
    wait_for("the task to end", Duration::from_secs(20), || async {
        (status(&base, &id).await == TaskStatus::Killed).then_some(())
    })
    .await;
    // The running forward now says why; a new one will not start.
    assert!(exchange(local, b"GET / HTTP/1.0\r\n\r\n").await.is_empty());
    wait_for("the reason on the CLI's stderr", Duration::from_secs(10), || async {
        forward.log().contains(&format!("Task {id} is not running (status: killed)")).then_some(())
    })
    .await;
    let out = cluster.cli(&["forward", &id, &format!("{}:{port}", free_port())]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not running (status: killed)"));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
