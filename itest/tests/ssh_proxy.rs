// suite: integration
//! The host's SSH proxy port under bad input, without Docker: garbage, silence, unknown and
//! non-VPS tasks each get an `ERROR` line and a closed connection; a thousand of them at once
//! leave the host answering and holding no more sockets than before.

use std::time::Duration;

use hakuriver_itest::{wait_for, ClusterDir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `request` (maybe nothing) and reads the answer until the host closes.
async fn exchange(port: u16, request: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.expect("connect to the proxy");
    if !request.is_empty() {
        s.write_all(request).await.expect("send");
    }
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut answer))
        .await
        .expect("the proxy closes the connection")
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

/// `n` clients at once; returns how many got an `ERROR` line before the host closed.
async fn burst(port: u16, n: usize) -> usize {
    let clients: Vec<_> = (0..n)
        .map(|i| {
            tokio::spawn(async move {
                let request: &[u8] = match i % 3 {
                    0 => b"\x16\x03\x01garbage\n",
                    1 => b"REQUEST_TUNNEL 999\n",
                    _ => b"",
                };
                exchange(port, request).await
            })
        })
        .collect();
    let mut errors = 0;
    for client in clients {
        if client.await.expect("client").starts_with("ERROR ") {
            errors += 1;
        }
    }
    errors
}

/// The sockets process `pid` holds open (its database files may grow with its pool; sockets
/// are what a leaked connection would leave behind).
fn open_sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| std::fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().starts_with("socket:")))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn garbage_silence_and_wrong_tasks_get_an_error_and_a_closed_connection() {
    let cluster = ClusterDir::new();
    let base = cluster.base_url();
    let mut command = cluster.command("hakuriver-host");
    command.env("HAKURIVER_TIMING_SSH_HANDSHAKE_TIMEOUT", "1");
    // The bursts below all come from 127.0.0.1: the global cap is what they test.
    command.env("HAKURIVER_NETWORK_SSH_PROXY_MAX_PER_ADDRESS", "4096");
    let mut host = hakuriver_itest::Proc::spawn("host", command, cluster.path().join("host.log"));
    wait_for("the host", Duration::from_secs(30), || async { hakuriver_itest::nodes(&base).await }).await;
    let port = cluster.proxy_port;

    cluster.stand_in_tarball("hakuriver-base");
    // A command task (for a registered node whose runner does not answer) is not a VPS.
    let http = reqwest::Client::new();
    let node = serde_json::json!({"hostname": "ghost", "total_cores": 2, "total_ram_bytes": 1_000_000_000u64,
        "runner_url": "http://127.0.0.1:9"});
    assert!(http.post(format!("{base}/api/register")).json(&node).send().await.unwrap().status().is_success());
    let r = http
        .post(format!("{base}/api/submit"))
        .json(&serde_json::json!({"command": "true", "targets": ["ghost"]}))
        .send()
        .await
        .unwrap();
    let answer: serde_json::Value = r.json().await.unwrap();
    let command_task = answer["task_ids"][0].as_str().unwrap().to_string();

    for (request, expected) in [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), "ERROR Invalid request format.\n".to_string()),
        (b"REQUEST_TUNNEL abc\n".to_vec(), "ERROR Invalid task ID format.\n".into()),
        (b"REQUEST_TUNNEL 12345\n".to_vec(), "ERROR Task 12345 not found.\n".into()),
        (
            format!("REQUEST_TUNNEL {command_task}\n").into_bytes(),
            format!("ERROR Task {command_task} is not a VPS task.\n"),
        ),
        (Vec::new(), "ERROR Timeout waiting for request.\n".into()),
        (b"REQUEST_TUNNEL 1".to_vec(), "ERROR Timeout waiting for request.\n".into()),
        (vec![b'x'; 70 * 1024], "ERROR Invalid request format.\n".into()),
    ] {
        assert_eq!(
            exchange(port, &request).await,
            expected,
            "{:?}",
            String::from_utf8_lossy(&request[..request.len().min(30)])
        );
    }

    // A first burst warms the host up; then a thousand at once, a third garbage, a third unknown
    // tasks, a third silent.
    assert_eq!(burst(port, 200).await, 200);
    let before = open_sockets(host.pid());
    assert_eq!(burst(port, 1000).await, 1000, "every client got an ERROR line");
    assert!(!host.has_exited(), "the host survived");
    assert!(reqwest::get(format!("{base}/health")).await.unwrap().status().is_success());
    let after = wait_for("the host's sockets to be released", Duration::from_secs(20), || async {
        let now = open_sockets(host.pid());
        (now <= before + 2).then_some(now)
    })
    .await;
    assert!(after <= before + 2, "{before} sockets before, {after} after");
}
