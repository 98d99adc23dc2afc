// suite: integration
//! Built-in HTTPS: a private CA (made here with rcgen) signs the host's certificate; the runner
//! and the CLI trust it through `network.tls_cert_file`'s neighbour `tls_ca_file`, and the API,
//! the dashboard and the events websocket (WSS) answer over TLS on the one port. Runners serve
//! HTTPS too (`runner.tls_cert_file`): the host's calls, carrying the runner token, go over TLS,
//! trusting the same CA (relayed terminals over WSS: `docker_tasks`).

use std::time::Duration;

use futures::StreamExt;
use hakuriver_itest::pki::pki;
use hakuriver_itest::{wait_for, ClusterDir, ADMIN_TOKEN};
use hakuriver_model::NodeInfo;

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[tokio::test]
async fn api_dashboard_and_websockets_over_https_with_a_private_ca() {
    let cluster = ClusterDir::new();
    let pki = pki();
    cluster.use_tls(&pki, false);

    let check = cluster.command("hakuriver-host").arg("--check").output().unwrap();
    assert!(check.status.success() && text(&check).contains("ok    TLS:"), "{}", text(&check));
    let _host = cluster.start_host();
    let _runner = cluster.start_runner("tls-node");
    let base = cluster.https_url();

    // A client that trusts only the private CA: the runner registered over HTTPS.
    let ca = reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap();
    let trusting = reqwest::Client::builder().add_root_certificate(ca).build().unwrap();
    let nodes: Vec<NodeInfo> = wait_for("the runner over HTTPS", Duration::from_secs(30), || async {
        let nodes: Vec<NodeInfo> = trusting.get(format!("{base}/api/nodes")).send().await.ok()?.json().await.ok()?;
        nodes.iter().any(|n| n.hostname == "tls-node").then_some(nodes)
    })
    .await;
    assert_eq!(nodes[0].status.to_string(), "online");
    let page = trusting.get(format!("{base}/nodes")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("tls-node"), "the dashboard, server-rendered over TLS");

    // Without the CA the certificate is refused: this is real TLS, not a plain port.
    let stranger = reqwest::Client::new();
    assert!(stranger.get(format!("{base}/api/nodes")).send().await.is_err());
    // Plain HTTP to the TLS port gets no answer.
    let plain = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    assert!(plain.get(format!("http://127.0.0.1:{}/api/nodes", cluster.host_port)).send().await.is_err());

    // The CLI finds https:// and the CA in the same configuration file.
    let out = cluster.cli(&["node", "list", "-q"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tls-node\n");

    // The CLI's terminal websocket over WSS: the TLS handshake succeeds and the host answers
    // (there is no such environment here, so it refuses with its reason).
    let out = cluster.cli(&["docker", "container", "shell", "no-such-env"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("not found"), "{}", text(&out));

    // The events websocket over TLS (WSS).
    let mut events = cluster.open_wss(&pki, "/api/events", None).await;
    let first = events.next().await.unwrap().unwrap();
    assert!(first.to_text().unwrap().contains("tls-node"), "{first:?}");
}

#[tokio::test]
async fn with_auth_on_runners_serve_https_and_the_host_calls_them_over_it() {
    let cluster = ClusterDir::with_auth();
    let pki = pki();
    cluster.use_tls(&pki, true);
    let check = cluster.command("hakuriver-runner").arg("--check").output().unwrap();
    assert!(text(&check).contains("ok    TLS:"), "{}", text(&check));

    let host = cluster.start_host();
    let runner = cluster.start_runner("tls-runner");
    let base = cluster.https_url();
    let ca = reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap();
    let admin = reqwest::Client::builder().add_root_certificate(ca).build().unwrap();
    let node: serde_json::Value = wait_for("the runner to register", Duration::from_secs(30), || async {
        let r = admin.get(format!("{base}/api/nodes/tls-runner")).bearer_auth(ADMIN_TOKEN);
        r.send().await.ok()?.json::<serde_json::Value>().await.ok().filter(|n| n["status"] == "online")
    })
    .await;
    let runner_url = node["url"].as_str().unwrap().to_string();
    assert!(runner_url.starts_with("https://127.0.0.1:"), "{runner_url}");
    // Plain HTTP to the runner's port gets no answer.
    let plain = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let plain_url = runner_url.replacen("https://", "http://", 1);
    assert!(plain.get(format!("{plain_url}/health")).send().await.is_err());

    // A task is dispatched over HTTPS and runs.
    let submit = serde_json::json!({"command": "sleep", "arguments": ["30"], "container_name": "NULL",
        "targets": ["tls-runner"]});
    let r = admin.post(format!("{base}/api/submit")).bearer_auth(ADMIN_TOKEN).json(&submit);
    let answer: serde_json::Value = r.send().await.unwrap().json().await.unwrap();
    let id = answer["task_ids"][0].as_str().expect("a task id").to_string();
    wait_for("the task to run", Duration::from_secs(30), || async {
        let r = admin.get(format!("{base}/api/status/{id}")).bearer_auth(ADMIN_TOKEN);
        let t: serde_json::Value = r.send().await.ok()?.json().await.ok()?;
        (t["status"] == "running").then_some(())
    })
    .await;

    let r = admin.post(format!("{base}/api/kill/{id}")).bearer_auth(ADMIN_TOKEN);
    assert_eq!(r.send().await.unwrap().status(), 202);
    for log in [host.log(), runner.log()] {
        assert!(!log.contains("plain HTTP"), "no warning about the runner token in the clear:\n{log}");
    }
}

#[tokio::test]
async fn a_runner_the_host_cannot_trust_fails_its_tasks_saying_why() {
    // The runner serves HTTPS with the private CA's certificate; the host is not told the CA.
    let cluster = ClusterDir::new();
    let pki = pki();
    std::fs::write(cluster.path().join("cert.pem"), &pki.cert_pem).unwrap();
    std::fs::write(cluster.path().join("key.pem"), &pki.key_pem).unwrap();
    let mut config = std::fs::read_to_string(cluster.config()).unwrap();
    config.push_str("[runner]\ntls_cert_file = \"cert.pem\"\ntls_key_file = \"key.pem\"\n");
    std::fs::write(cluster.config(), config).unwrap();
    let _host = cluster.start_host();
    let _runner = cluster.start_runner("untrusted");
    let base = cluster.base_url();
    hakuriver_itest::wait_for_node(&base, "untrusted", hakuriver_model::NodeStatus::Online, Duration::from_secs(30))
        .await;
    let submit = serde_json::json!({"command": "true", "container_name": "NULL", "targets": ["untrusted"]});
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/api/submit"))
        .json(&submit)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = answer["task_ids"][0].as_str().expect("a task id").to_string();
    let task = hakuriver_itest::wait_for_final(&base, &id, Duration::from_secs(30)).await;
    assert_eq!(task.status.to_string(), "failed");
    let why = task.error_message.unwrap_or_default();
    assert!(why.contains("certificate"), "the reason names the certificate: {why}");
}

#[test]
fn a_broken_certificate_fails_the_preflight() {
    let cluster = ClusterDir::new();
    std::fs::write(cluster.path().join("cert.pem"), "not a certificate").unwrap();
    std::fs::write(cluster.path().join("key.pem"), "not a key").unwrap();
    let config = std::fs::read_to_string(cluster.config())
        .unwrap()
        .replace("[network]\n", "[network]\ntls_cert_file = \"cert.pem\"\ntls_key_file = \"key.pem\"\n");
    std::fs::write(cluster.config(), config).unwrap();
    let out = cluster.command("hakuriver-host").arg("--check").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = text(&out).lines().find(|l| l.starts_with("FAIL  TLS:")).map(String::from);
    assert!(line.as_deref().is_some_and(|l| l.contains("cert.pem") && l.contains("Fix: ")), "{}", text(&out));

    // Half a TLS setup is a configuration error.
    let config = std::fs::read_to_string(cluster.config()).unwrap().replace("tls_key_file = \"key.pem\"\n", "");
    std::fs::write(cluster.config(), config).unwrap();
    let out = cluster.command("hakuriver-host").arg("--check").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("set both tls_cert_file and tls_key_file"), "{}", text(&out));
}
