// suite: integration
//! Hostile input with `[auth]` on: path traversal on every path-bearing input, body limits, the
//! slow-down after failures (also behind a trusted proxy), security headers, no secret in any
//! log, and the warning of a host without authentication listening beyond loopback.

use std::time::Duration;

use hakuriver_itest::auth_cluster::*;
use hakuriver_itest::{wait_for, ClusterDir, ADMIN_TOKEN, RUNNER_TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn no_path_input_leaves_its_folder() {
    let c = Cluster::start().await;
    let port = c.dir.host_port;
    let admin = c.token("admin");
    let attempts = [
        "..",
        "../../../../etc/passwd",
        "..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "%2E%2E",
        "....//....//etc//passwd",
        "%252e%252e%252fetc%252fpasswd",
        "%00",
        "..\\..\\etc\\passwd",
    ];
    let templates = [
        ("GET", "/api/status/{}"),
        ("GET", "/api/task/{}/stdout"),
        ("GET", "/api/task/{}/stderr"),
        ("GET", "/api/task/{}/stdout/follow"),
        ("POST", "/api/kill/{}"),
        ("POST", "/api/command/{}/pause"),
        ("POST", "/api/command/1/{}"),
        ("GET", "/api/tasks/{}/terminal"),
        ("GET", "/api/tasks/{}/forward/22"),
        ("GET", "/api/tasks/1/forward/{}"),
        ("GET", "/api/nodes/{}"),
        ("POST", "/api/nodes/{}/release"),
        ("PUT", "/api/heartbeat/{}"),
        ("POST", "/api/docker/host/start/{}"),
        ("POST", "/api/docker/host/stop/{}"),
        ("POST", "/api/docker/host/delete/{}"),
        ("POST", "/api/docker/create_tar/{}"),
        ("GET", "/api/docker/host/containers/{}/terminal"),
        ("GET", "/api/operations/{}"),
        ("DELETE", "/api/auth/tokens/{}"),
        ("GET", "/pkg/{}"),
        ("GET", "/xterm/{}"),
    ];
    let mut failures = Vec::new();
    for (method, template) in templates {
        for attempt in attempts {
            let path = template.replace("{}", attempt);
            let token = if template.starts_with("/api/heartbeat") { RUNNER_TOKEN } else { admin };
            let (code, answer) = raw(port, method, &path, token).await;
            let leaked = answer.contains("root:x:0:0") || answer.contains("[auth]");
            if !(400..500).contains(&code) || leaked {
                failures.push(format!("{method} {path}: {code}{}", if leaked { " LEAKED A FILE" } else { "" }));
            }
        }
    }
    // Bodies that name files: environment and tarball names.
    let base = c.base();
    for attempt in attempts {
        for (path, body) in [
            ("/api/docker/host/create", json!({"image_name": "busybox", "container_name": attempt})),
            ("/api/docker/import", json!({"name": attempt, "source": "/etc/passwd"})),
            ("/api/submit", json!({"command": "true", "container_name": attempt, "targets": ["auth-node"]})),
        ] {
            let (status, text) = call(&base, Method::POST, path, Some(admin), Some(body)).await;
            if !status.is_client_error() || text.contains("root:x:0:0") {
                failures.push(format!("POST {path} with {attempt:?}: {status} {text}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let shared = c.dir.path().join("shared");
    assert!(!shared.join("etc").exists() && !c.dir.path().join("etc").exists(), "nothing was written outside");
}

#[tokio::test]
async fn limits_slow_down_headers_and_no_secret_in_any_log() {
    let c = Cluster::start().await;
    let base = c.base();
    let admin = c.token("admin").to_string();
    // A body over the limit: 413 with a detail, whether its length is announced or streamed.
    let port = c.dir.host_port;
    let announced = oversized(port, &admin, false).await;
    assert!(announced.starts_with("HTTP/1.1 413") && announced.contains("\"detail\""), "{announced}");
    let streamed = oversized(port, &admin, true).await;
    assert!(streamed.starts_with("HTTP/1.1 413"), "{streamed}");

    // Security headers on API answers too.
    let r = reqwest::Client::new().get(format!("{base}/api/nodes")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["referrer-policy"], "same-origin");

    // Guessing: after five failures the address must wait before its next guess; a good token
    // from the same address (a NAT, a proxy) is never held up.
    for _ in 0..6 {
        let (status, _) = call(&base, Method::GET, "/api/nodes", Some("guess-guess-guess-guess-guess"), None).await;
        assert!(status == StatusCode::UNAUTHORIZED || status == StatusCode::TOO_MANY_REQUESTS);
    }
    let guess = reqwest::Client::new().get(format!("{base}/api/nodes")).bearer_auth("guess-guess-guess-guess-guess");
    let r = guess.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    let (status, _) = call(&base, Method::GET, "/api/nodes", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "a good token is served at once");

    // No token, runner token or identity in any log.
    let identity = std::fs::read_to_string(c.dir.path().join("home/runner_identity")).unwrap_or_default();
    let mut secrets: Vec<String> = c.tokens.clone();
    secrets.extend([RUNNER_TOKEN.to_string(), ADMIN_TOKEN.to_string()]);
    secrets.extend(c.tokens.iter().filter_map(|t| t.split('_').nth(2).map(str::to_string)));
    if !identity.trim().is_empty() {
        secrets.push(identity.trim().to_string());
    }
    for log in ["host.log", "runner-auth-node.log"] {
        let text = std::fs::read_to_string(c.dir.path().join(log)).unwrap();
        assert!(!text.is_empty(), "{log} is written");
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{log} contains a secret");
        }
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_slow_down_counts_by_client() {
    let dir = ClusterDir::with_auth();
    let mut config = std::fs::read_to_string(dir.config()).unwrap();
    assert!(config.ends_with(&format!("admin_token = \"{ADMIN_TOKEN}\"\n")), "[auth] is the last section");
    config.push_str("trusted_proxies = [\"127.0.0.1\"]\n");
    std::fs::write(dir.config(), config).unwrap();
    let host = dir.start_host();
    let base = dir.base_url();
    wait_for("the host", Duration::from_secs(20), || async {
        reqwest::get(format!("{base}/api/openapi.json")).await.ok().filter(|r| r.status().is_success())
    })
    .await;
    let client = reqwest::Client::new();
    let nodes = |token: &str, forwarded_for: Option<&str>| {
        let mut request = client.get(format!("{base}/api/nodes")).bearer_auth(token);
        if let Some(ip) = forwarded_for {
            request = request.header("x-forwarded-for", ip);
        }
        async move { request.send().await.expect("the host answers").status() }
    };
    // A client guessing behind the proxy (which appends the address it saw) must wait...
    let guess = "guess-guess-guess-guess-guess";
    for _ in 0..6 {
        let status = nodes(guess, Some("198.51.100.1, 203.0.113.9")).await;
        assert!(status == StatusCode::UNAUTHORIZED || status == StatusCode::TOO_MANY_REQUESTS, "{status}");
    }
    assert_eq!(nodes(guess, Some("203.0.113.9")).await, StatusCode::TOO_MANY_REQUESTS);
    // ... while other clients behind the same proxy, and the proxy itself, go on.
    assert_eq!(nodes(guess, Some("198.51.100.7")).await, StatusCode::UNAUTHORIZED, "another client's guess is its own");
    assert_eq!(nodes(ADMIN_TOKEN, Some("203.0.113.9")).await, StatusCode::OK, "a good token is never held up");
    assert_eq!(nodes(ADMIN_TOKEN, Some("198.51.100.7")).await, StatusCode::OK);
    assert_eq!(nodes(ADMIN_TOKEN, Some("198.51.100.1, 198.51.100.7")).await, StatusCode::OK);
    assert_eq!(nodes(ADMIN_TOKEN, None).await, StatusCode::OK);
    let log = host.log();
    assert!(log.contains("ip=203.0.113.9"), "the log names the client:\n{log}");
}

#[tokio::test]
async fn auth_off_warns_when_the_host_listens_beyond_loopback() {
    assert!(start_log_with_auth_off("0.0.0.0").await.contains("AUTHENTICATION IS OFF"));
    assert!(!start_log_with_auth_off("127.0.0.1").await.contains("AUTHENTICATION IS OFF"));
}

/// The log of a host with authentication off, bound to `ip`, once it answered.
async fn start_log_with_auth_off(ip: &str) -> String {
    let cluster = ClusterDir::new();
    let config = std::fs::read_to_string(cluster.config()).unwrap();
    let config = config.replacen("[network]\n", &format!("[network]\nhost_bind_ip = \"{ip}\"\n"), 1);
    std::fs::write(cluster.config(), config).unwrap();
    let mut host = cluster.start_host();
    wait_for_host(&cluster.base_url()).await;
    host.terminate(Duration::from_secs(5));
    host.log()
}
