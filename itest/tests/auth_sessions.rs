// suite: integration
//! Sessions and open connections with `[auth]` on, through real host, runner and CLI processes:
//! the login cookie and its CSRF rule, the SSH proxy's single-use ticket, and websockets and
//! tunnels that end with their token or session.

use std::time::Duration;

use hakuriver_itest::auth_cluster::*;
use hakuriver_itest::{wait_for, ADMIN_TOKEN, RUNNER_TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn the_dashboard_login_cookie_and_its_csrf_rule() {
    let c = Cluster::start().await;
    let base = c.base();
    let host = format!("127.0.0.1:{}", c.dir.host_port);
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    // A page without a login goes to the login form, which keeps where it was going.
    let r = client.get(format!("{base}/tasks?status=running")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/login?next=%2Ftasks%3Fstatus%3Drunning");
    let r = client.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert!(r.text().await.unwrap().contains("name=\"token\""));

    // A wrong token: 401 and the form again; a login from another site is refused.
    let form = |token: &str| vec![("token", token.to_string()), ("next", "/tasks".to_string())];
    let r = client
        .post(format!("{base}/login"))
        .header("origin", format!("http://{host}"))
        .form(&form("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = client
        .post(format!("{base}/login"))
        .header("origin", "https://evil.example")
        .form(&form(c.token("viewer")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = client
        .post(format!("{base}/login"))
        .header("origin", format!("http://{host}"))
        .form(&form(c.token("viewer")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/tasks");
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    for part in ["hakuriver_session=", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(part), "{set_cookie}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_string();

    // The cookie opens pages (with a script nonce in their policy) and reads.
    let r = client
        .get(format!("{base}/tasks"))
        .header("cookie", &cookie)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("'wasm-unsafe-eval'") && csp.contains("'nonce-"), "{csp}");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let nonce = csp.split("'nonce-").nth(1).unwrap().split('\'').next().unwrap().to_string();
    let page = r.text().await.unwrap();
    assert!(page.contains(&format!("nonce=\"{nonce}\"")), "the page's inline scripts carry the nonce");
    let server_fn = |origin: Option<&str>| {
        let mut r = client
            .post(format!("{base}/api/ui/list_nodes"))
            .header("cookie", &cookie)
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(origin) = origin {
            r = r.header("origin", origin);
        }
        r.body("")
    };
    assert_eq!(server_fn(Some(&format!("http://{host}"))).send().await.unwrap().status(), StatusCode::OK);
    // A state-changing request riding on the cookie must come from our own pages.
    assert_eq!(server_fn(Some("https://evil.example")).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(server_fn(None).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    // The viewer's cookie does not submit.
    let r = client
        .post(format!("{base}/api/submit"))
        .header("cookie", &cookie)
        .header("origin", format!("http://{host}"))
        .json(&json!({"command": "true"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The websocket takes the cookie from our origin, not from another.
    let with_cookie = |origin: &str| vec![("cookie", cookie.clone()), ("origin", origin.to_string())];
    assert_eq!(websocket(&base, "/api/events", &with_cookie(&format!("http://{host}"))).await, 101);
    assert_eq!(websocket(&base, "/api/events", &with_cookie("https://evil.example")).await, 403);

    // Logging out ends the session.
    let r = client
        .post(format!("{base}/logout"))
        .header("cookie", &cookie)
        .header("origin", format!("http://{host}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    let r = client.get(format!("{base}/api/nodes")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_ssh_proxy_wants_a_single_use_ticket_for_someone_who_may_reach_the_vps() {
    let c = Cluster::start().await;
    let task = c.submit(c.token("user"), &["sleep", "30"]).await;
    let port = c.dir.proxy_port;
    let ask = |line: String| async move {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
        s.write_all(line.as_bytes()).await.expect("send");
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut answer)).await.expect("closed").expect("read");
        String::from_utf8_lossy(&answer).into_owned()
    };
    let how = format!(
        "get one with POST /api/vps/{task}/ticket and send REQUEST_TUNNEL {task} <ticket> (hakuriver ssh does)"
    );
    assert_eq!(ask(format!("REQUEST_TUNNEL {task}\n")).await, format!("ERROR Authorization required: {how}.\n"));
    // API tokens are not accepted on the plain-TCP port, not even valid ones.
    let invalid = format!("ERROR Invalid, used or expired tunnel ticket: {how}.\n");
    for wrong in ["hkt_wrong-ticket-0000000000", RUNNER_TOKEN, c.token("user"), ADMIN_TOKEN] {
        assert_eq!(ask(format!("REQUEST_TUNNEL {task} {wrong}\n")).await, invalid, "{wrong:.8}");
    }
    // Tickets go to whoever may control the VPS; the runner token and a viewer get none.
    assert_eq!(ticket(&c.base(), &task, RUNNER_TOKEN).await.0, StatusCode::FORBIDDEN);
    assert_eq!(ticket(&c.base(), &task, c.token("viewer")).await.0, StatusCode::FORBIDDEN);
    let (_, stranger) = hakuriver_itest::create_token(&c.base(), "mallory", "user").await;
    let (status, body) = ticket(&c.base(), &task, &stranger).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains(&format!("Not authorized for VPS task {task}")), "{body}");
    // The owner's ticket gets past authorization to the original's own reasons (this is not a
    // VPS); used once, it is gone.
    let (status, owners) = ticket(&c.base(), &task, c.token("user")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(owners.starts_with("hkt_"), "{owners}");
    assert_eq!(
        ask(format!("REQUEST_TUNNEL {task} {owners}\n")).await,
        format!("ERROR Task {task} is not a VPS task.\n")
    );
    assert_eq!(ask(format!("REQUEST_TUNNEL {task} {owners}\n")).await, invalid, "single use");
    let (_, operators) = ticket(&c.base(), &task, c.token("operator")).await;
    assert_eq!(
        ask(format!("REQUEST_TUNNEL {task} {operators}\n")).await,
        format!("ERROR Task {task} is not a VPS task.\n")
    );
    // A ticket opens only the tunnel it was asked for.
    let other = c.submit(c.token("user"), &["sleep", "30"]).await;
    let (_, for_other) = ticket(&c.base(), &other, c.token("user")).await;
    let how_task = format!(
        "get one with POST /api/vps/{task}/ticket and send REQUEST_TUNNEL {task} <ticket> (hakuriver ssh does)"
    );
    assert_eq!(
        ask(format!("REQUEST_TUNNEL {task} {for_other}\n")).await,
        format!("ERROR Invalid, used or expired tunnel ticket: {how_task}.\n")
    );
}

#[tokio::test]
async fn open_connections_end_with_their_token_or_session() {
    let c = Cluster::start().await;
    let base = c.base();
    let origin = format!("http://127.0.0.1:{}", c.dir.host_port);
    // A bystander's socket, opened with a token nobody revokes: it stays open throughout.
    let mut bystander =
        open_websocket(&base, "/api/events", &[("authorization", format!("Bearer {}", c.token("viewer")))]).await;

    // An events websocket opened with a token closes (1008) when the token is revoked.
    let (erin_id, erin) = hakuriver_itest::create_token(&base, "erin", "viewer").await;
    let mut events = open_websocket(&base, "/api/events", &[("authorization", format!("Bearer {erin}"))]).await;
    assert!(answers_ping(&mut events).await);
    revoke(&base, &erin_id).await;
    assert_eq!(close_code(&mut events).await, Some(1008), "revoked token");

    // One opened with a login cookie closes when that session logs out.
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let login = |token: String| {
        client.post(format!("{base}/login")).header("origin", &origin).form(&[("token", token), ("next", "/".into())])
    };
    let r = login(c.token("operator").to_string()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let mut dashboard =
        open_websocket(&base, "/api/events", &[("cookie", cookie.clone()), ("origin", origin.clone())]).await;
    assert!(answers_ping(&mut dashboard).await);
    let r = client.post(format!("{base}/logout")).header("cookie", &cookie).header("origin", &origin).send().await;
    assert_eq!(r.unwrap().status(), StatusCode::SEE_OTHER);
    assert_eq!(close_code(&mut dashboard).await, Some(1008), "logged out");

    // An SSH tunnel closes when the token that opened it is revoked. The VPS is a stand-in: a
    // runner that accepts the task and reports it running with an echo server as its sshd.
    let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sshd_port = echo.local_addr().unwrap().port();
    let reached = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    tokio::spawn({
        let reached = reached.clone();
        async move {
            while let Ok((mut socket, _)) = echo.accept().await {
                let reached = reached.clone();
                tokio::spawn(async move {
                    // OpenSSH's own client (through `hakuriver ssh`) is counted and sent away;
                    // anything else is echoed.
                    let mut first = [0u8; 15];
                    if socket.read_exact(&mut first).await.is_err() {
                        return;
                    }
                    if &first == b"SSH-2.0-OpenSSH" {
                        reached.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        return;
                    }
                    let (mut read, mut write) = socket.split();
                    if write.write_all(&first).await.is_ok() {
                        let _ = tokio::io::copy(&mut read, &mut write).await;
                    }
                });
            }
        }
    });
    let runner = reqwest::Client::new();
    let as_runner = |r: reqwest::RequestBuilder| {
        r.bearer_auth(RUNNER_TOKEN).header("x-hakuriver-runner-identity", "stand-in-runner-identity-0123456789")
    };
    let node = json!({"hostname": "vps-node", "total_cores": 4, "total_ram_bytes": 8_000_000_000u64,
        "runner_url": hakuriver_itest::accepting_runner().await});
    let r = as_runner(runner.post(format!("{base}/api/register"))).json(&node).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // It heartbeats from now on (the node would go offline after 2 s of silence), listing the
    // VPS once it runs.
    let running: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let beats = tokio::spawn({
        let (base, runner, running) = (base.clone(), runner.clone(), running.clone());
        async move {
            loop {
                let beat = json!({"running_tasks": *running.lock().unwrap()});
                let _ = as_runner(runner.put(format!("{base}/api/heartbeat/vps-node"))).json(&beat).send().await;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    });
    let (frank_id, frank) = hakuriver_itest::create_token(&base, "frank", "user").await;
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPIvHW968nTBxRcy05qQApqONnymK/1g3+0T1i0o/j3h frank@laptop";
    c.dir.stand_in_tarball("some-env");
    let submit = json!({"task_type": "vps", "command": key, "container_name": "some-env", "targets": ["vps-node"],
        "required_cores": 1});
    let submitted = tokio::spawn({
        let base = base.clone();
        let frank = frank.clone();
        async move { call(&base, Method::POST, "/api/submit", Some(&frank), Some(submit)).await }
    });
    let vps = wait_for("the VPS to be assigned", Duration::from_secs(10), || async {
        let (_, body) = call(&base, Method::GET, "/api/vps/status", Some(ADMIN_TOKEN), None).await;
        let list: Vec<Value> = serde_json::from_str(&body).ok()?;
        list.iter().find(|t| t["assigned_node"] == "vps-node").and_then(|t| t["task_id"].as_str().map(str::to_string))
    })
    .await;
    let update = json!({"task_id": vps, "status": "running", "ssh_port": sshd_port});
    let r = as_runner(runner.post(format!("{base}/api/update"))).json(&update).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    running.lock().unwrap().push(vps.clone());
    let (status, body) = submitted.await.unwrap();
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let mut tunnel = TcpStream::connect(("127.0.0.1", c.dir.proxy_port)).await.unwrap();
    let (status, pass) = ticket(&base, &vps, &frank).await;
    assert_eq!(status, StatusCode::OK, "{pass}");
    tunnel.write_all(format!("REQUEST_TUNNEL {vps} {pass}\n").as_bytes()).await.unwrap();
    let mut answer = [0u8; 8];
    tunnel.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"SUCCESS\n");
    tunnel.write_all(b"SSH-2.0-hello-there\n").await.unwrap();
    let mut echoed = [0u8; 20];
    tunnel.read_exact(&mut echoed).await.unwrap();
    assert_eq!(&echoed, b"SSH-2.0-hello-there\n", "the tunnel reaches the VPS");

    // `hakuriver ssh` as frank: the CLI gets a ticket over the API for its connection and the
    // system ssh reaches the VPS through it (the stand-in's echo then ends ssh's handshake).
    let before = reached.load(std::sync::atomic::Ordering::SeqCst);
    let mut cli = tokio::process::Command::from(c.dir.command("hakuriver"));
    cli.env("HAKURIVER_TOKEN", &frank).args(["ssh", &vps, "--", "-o", "BatchMode=yes", "-o"]).args([
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "ConnectTimeout=10",
        "true",
    ]);
    let out = tokio::time::timeout(Duration::from_secs(30), cli.output()).await.expect("ssh ends").unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("Proxy Error"), "{stderr}");
    assert_eq!(
        reached.load(std::sync::atomic::Ordering::SeqCst),
        before + 1,
        "the CLI's tunnel reached the VPS: {stderr}"
    );
    revoke(&base, &frank_id).await;
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), tunnel.read_to_end(&mut rest)).await;
    assert!(matches!(closed, Ok(Ok(0))), "the tunnel closes when its token is revoked: {closed:?}");
    beats.abort();

    assert!(answers_ping(&mut bystander).await, "a connection whose token holds stays open");
}
