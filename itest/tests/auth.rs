// suite: integration
//! Authentication and authorization through real host, runner and CLI processes with `[auth]`
//! on: the role × route matrix (REST, server functions, pages and websockets), task ownership,
//! runner tokens and node-name binding, the login cookie and its CSRF rule, the SSH proxy's
//! handshake token, open websockets and tunnels ending with their token or session, path
//! traversal on every path-bearing input, body limits, the slow-down after failures, security
//! headers, and that no secret reaches a log.

use std::time::Duration;

use hakuriver_itest::golden::assert_golden;
use hakuriver_itest::{wait_for, ClusterDir, Proc, ADMIN_TOKEN, RUNNER_TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ROLES: [&str; 4] = ["viewer", "user", "operator", "admin"];

/// A started cluster with authentication on, one runner (`auth-node`) and a token per role.
struct Cluster {
    dir: ClusterDir,
    _host: Proc,
    _runner: Proc,
    /// viewer, user, operator, admin (in `ROLES` order), made through the API.
    tokens: Vec<String>,
}

impl Cluster {
    async fn start() -> Cluster {
        let dir = ClusterDir::with_auth();
        // These tests are about who may control what; users' tasks run natively (as `nobody`).
        dir.append_config("[policy]\nnative_role = \"user\"\n");
        let host = dir.start_host();
        let runner = dir.start_runner("auth-node");
        let base = dir.base_url();
        wait_for("the host", Duration::from_secs(20), || async {
            reqwest::get(format!("{base}/api/openapi.json")).await.ok().filter(|r| r.status().is_success())
        })
        .await;
        let mut tokens = Vec::new();
        for role in ROLES {
            tokens.push(hakuriver_itest::create_token(&base, &format!("{role}-1"), role).await.1);
        }
        let cluster = Cluster { dir, _host: host, _runner: runner, tokens };
        cluster.wait_node().await;
        cluster
    }

    fn base(&self) -> String {
        self.dir.base_url()
    }

    fn token(&self, role: &str) -> &str {
        let i = ROLES.iter().position(|r| *r == role).expect("a role");
        &self.tokens[i]
    }

    async fn wait_node(&self) {
        let base = self.base();
        wait_for("auth-node online", Duration::from_secs(20), || async {
            let (status, body) = call(&base, Method::GET, "/api/nodes", Some(ADMIN_TOKEN), None).await;
            let nodes: Vec<Value> = serde_json::from_str(&body).ok()?;
            (status == StatusCode::OK && nodes.iter().any(|n| n["hostname"] == "auth-node" && n["status"] == "online"))
                .then_some(())
        })
        .await;
    }

    /// Submits a native task as `token`'s holder; returns its id.
    async fn submit(&self, token: &str, args: &[&str]) -> String {
        let body =
            json!({"command": args[0], "arguments": &args[1..], "container_name": "NULL", "targets": ["auth-node"]});
        let (status, text) = call(&self.base(), Method::POST, "/api/submit", Some(token), Some(body)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{text}");
        let v: Value = serde_json::from_str(&text).expect("JSON");
        v["task_ids"][0].as_str().expect("an id").to_string()
    }
}

/// One HTTP call with an optional bearer token; answers the status and body.
async fn call(
    base: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, String) {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let mut request = client.request(method, format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    if !path.starts_with("/api/") {
        // A browser asking for a page (the original's bare API paths answer JSON otherwise).
        request = request.header("accept", "text/html");
    }
    let response = request.send().await.expect("the host answers");
    let status = response.status();
    // Streams (log follow) are judged by their status alone.
    let text = if response.headers().get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
    {
        String::new()
    } else {
        response.text().await.unwrap_or_default()
    };
    (status, text)
}

/// A request sent byte for byte (no client-side path normalisation): answers the status line's
/// code and the whole answer.
async fn raw(port: u16, method: &str, path: &str, token: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    s.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut answer)).await.expect("an answer").expect("read");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let code = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, text)
}

/// A submit with a body over the 16 MiB limit, byte for byte: announced by `Content-Length`
/// (and never sent: the host must answer from the header), or streamed in chunks until the host
/// stops reading. The host may close while a chunk is on its way, so writes may fail; a
/// connection reset before the answer could be read is tried again (at most three times).
async fn oversized(port: u16, token: &str, chunked: bool) -> String {
    const OVER: usize = 16 * 1024 * 1024 + 1;
    for _ in 0..3 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
        let length = if chunked { "Transfer-Encoding: chunked".to_string() } else { format!("Content-Length: {OVER}") };
        let head = format!(
            "POST /api/submit HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n{length}\r\nConnection: close\r\n\r\n"
        );
        s.write_all(head.as_bytes()).await.expect("send the head");
        if chunked {
            let chunk = vec![b' '; 1024 * 1024];
            let mut sent = 0;
            while sent < OVER {
                let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
                if s.write_all(&framed).await.is_err() {
                    break;
                }
                sent += chunk.len();
            }
            let _ = s.write_all(b"0\r\n\r\n").await;
        }
        let mut answer = Vec::new();
        match tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut answer)).await {
            Ok(Ok(_)) if !answer.is_empty() => return String::from_utf8_lossy(&answer).into_owned(),
            Ok(_) => continue,
            Err(_) => panic!("no answer to an oversized body"),
        }
    }
    panic!("every oversized request was reset before its answer could be read")
}

/// Opens a websocket with optional headers; answers the handshake's HTTP status (101 when open).
async fn websocket(base: &str, path: &str, headers: &[(&'static str, String)]) -> u16 {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = format!("{}{path}", base.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().expect("request");
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().expect("header value"));
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("websocket {path}: {e}"),
    }
}

/// What a route needs: nothing, the runner token, or a role (its index in `ROLES`).
#[derive(Clone, Copy, Debug)]
enum Needs {
    Public,
    Runner,
    Role(usize),
}

struct Route {
    method: Method,
    path: String,
    body: Option<Value>,
    needs: Needs,
    /// Server functions answer their own errors with 500s; REST routes never may.
    server_fn: bool,
}

fn route(method: Method, path: impl Into<String>, body: Option<Value>, needs: Needs) -> Route {
    Route { method, path: path.into(), body, needs, server_fn: false }
}

/// Every REST route, with a harmless request for each (unknown ids, bodies that do not parse).
fn rest_routes(task: &str) -> Vec<Route> {
    use Needs::{Public, Role, Runner};
    let (v, u, o, a) = (Role(0), Role(1), Role(2), Role(3));
    let get = |p: &str, n| route(Method::GET, p, None, n);
    let post = |p: &str, b: Value, n| route(Method::POST, p, Some(b), n);
    vec![
        get("/api/health", v),
        get("/api/nodes", v),
        get("/api/nodes/auth-node", v),
        post("/api/nodes/no-such-node/release", json!({}), a),
        post("/api/register", json!({}), Runner),
        route(Method::PUT, "/api/heartbeat/no-such-node", Some(json!({})), Runner),
        post("/api/update", json!({}), Runner),
        post("/api/submit", json!({"command": "true", "container_name": "NULL", "targets": ["auth-node"]}), u),
        get(&format!("/api/status/{task}"), v),
        get("/api/tasks", v),
        get("/api/tasks/page", v),
        post("/api/kill/1", json!({}), u),
        post("/api/command/1/pause", json!({}), u),
        get(&format!("/api/task/{task}/stdout"), v),
        get(&format!("/api/task/{task}/stderr"), v),
        get(&format!("/api/task/{task}/stdout/follow"), v),
        get(&format!("/api/task/{task}/stderr/follow"), v),
        get("/api/docker/host/containers", v),
        post("/api/docker/host/create", json!({}), o),
        post("/api/docker/host/delete/no-such-env", json!({}), o),
        post("/api/docker/host/stop/no-such-env", json!({}), o),
        post("/api/docker/host/start/no-such-env", json!({}), o),
        get("/api/vps/status", v),
        get("/api/vps", v),
        post(&format!("/api/vps/{task}/ticket"), json!({}), u),
        post("/api/docker/create_tar/no-such-env", json!({}), o),
        get("/api/docker/list", v),
        post("/api/docker/import", json!({}), o),
        get("/api/docker/versions", v),
        get("/api/operations", v),
        get("/api/operations/999999", v),
        route(Method::DELETE, "/api/operations/999999", None, o),
        get("/api/auth/tokens", a),
        post("/api/auth/tokens", json!({"name": "matrix", "role": "viewer"}), a),
        route(Method::DELETE, "/api/auth/tokens/000000000000", None, a),
        get("/api/auth/whoami", v),
        get("/api/openapi.json", Public),
        get("/login", Public),
        get("/favicon.svg", Public),
        get("/pkg/hakuriver.css", Public),
    ]
}

/// Every server function the dashboard calls, with the role it needs.
fn server_fn_routes(task: &str) -> Vec<Route> {
    let fns: [(&str, usize, Value); 17] = [
        ("list_nodes", 0, json!({})),
        ("list_tasks", 0, json!({"query": {}})),
        ("get_task", 0, json!({"id": task})),
        ("read_log", 0, json!({"id": task, "stdout": true, "offset": null})),
        ("env_names", 0, json!({})),
        ("ssh_proxy_port", 0, json!({})),
        ("node_history", 0, json!({})),
        ("task_counts", 0, json!({})),
        ("env_containers", 0, json!({})),
        ("get_operation", 0, json!({"id": 999999})),
        ("tarballs", 0, json!({})),
        ("list_env_versions", 0, json!({})),
        ("submit_task", 1, json!({"request": {"command": "true", "container_name": "NULL", "targets": ["auth-node"]}})),
        ("task_action", 1, json!({"id": "1", "action": "kill"})),
        ("env_action", 2, json!({"name": "no-such-env", "action": "stop"})),
        ("create_env", 2, json!({"image": "no-such-image", "name": "no-such-env"})),
        ("create_tar", 2, json!({"name": "no-such-env"})),
    ];
    fns.into_iter()
        .map(|(name, role, body)| Route {
            method: Method::POST,
            path: format!("/api/ui/{name}"),
            body: Some(body),
            needs: Needs::Role(role),
            server_fn: true,
        })
        .collect()
}

#[tokio::test]
async fn every_route_for_every_role() {
    let c = Cluster::start().await;
    let base = c.base();
    let task = c.submit(c.token("user"), &["true"]).await;
    let mut routes = rest_routes(&task);
    routes.extend(server_fn_routes(&task));
    routes.push(route(Method::GET, "/", None, Needs::Role(0)));
    routes.push(route(Method::GET, "/tasks", None, Needs::Role(0)));
    let mut credentials: Vec<(&str, Option<&str>)> = vec![("nobody", None), ("runner", Some(RUNNER_TOKEN))];
    credentials.extend(ROLES.iter().map(|r| (*r, Some(c.token(r)))));
    let mut failures = Vec::new();
    for r in &routes {
        for (who, token) in &credentials {
            let (status, body) = call(&base, r.method.clone(), &r.path, *token, r.body.clone()).await;
            let allowed = match (r.needs, *who) {
                (Needs::Public, _) => true,
                (_, "nobody") => false,
                (Needs::Runner, who) => who == "runner",
                (Needs::Role(_), "runner") => false,
                (Needs::Role(need), role) => ROLES.iter().position(|x| *x == role).is_some_and(|have| have >= need),
            };
            let denied = status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN;
            let expected_denial = match *who {
                // A page sends the browser to the login form instead.
                "nobody" if !r.path.starts_with("/api/") => status == StatusCode::SEE_OTHER,
                "nobody" => status == StatusCode::UNAUTHORIZED,
                _ => status == StatusCode::FORBIDDEN,
            };
            let ok = if allowed {
                !denied && (r.server_fn || status.as_u16() < 500)
            } else {
                expected_denial && (status == StatusCode::SEE_OTHER || body.contains("\"detail\""))
            };
            if !ok {
                failures.push(format!(
                    "{} {} as {who}: {status} {}",
                    r.method,
                    r.path,
                    body.chars().take(160).collect::<String>()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} calls wrong:\n{}",
        failures.len(),
        routes.len() * credentials.len(),
        failures.join("\n")
    );

    // Websockets: none without credentials; terminals and port forwards for admins only.
    let sockets = [
        ("/api/events".to_string(), 0),
        (format!("/api/tasks/{task}/terminal"), 3),
        (format!("/api/tasks/{task}/forward/8888"), 3),
        ("/api/docker/host/containers/no-such-env/terminal".to_string(), 3),
    ];
    for (path, need) in &sockets {
        assert_eq!(websocket(&base, path, &[]).await, 401, "{path} without credentials");
        assert_eq!(
            websocket(&base, path, &[("authorization", format!("Bearer {RUNNER_TOKEN}"))]).await,
            403,
            "{path} with the runner token"
        );
        for (i, role) in ROLES.iter().enumerate() {
            let status = websocket(&base, path, &[("authorization", format!("Bearer {}", c.token(role)))]).await;
            let want = if i >= *need { 101 } else { 403 };
            assert_eq!(status, want, "{path} as {role}");
        }
        // A page on another site cannot open one with a visitor's credentials.
        let evil =
            [("authorization", format!("Bearer {}", c.token("admin"))), ("origin", "https://evil.example".into())];
        assert_eq!(websocket(&base, path, &evil).await, 403, "{path} from another origin");
    }
}

#[tokio::test]
async fn users_control_their_own_tasks_and_tokens_can_be_revoked() {
    let c = Cluster::start().await;
    let base = c.base();
    let (status, created) = call(
        &base,
        Method::POST,
        "/api/auth/tokens",
        Some(ADMIN_TOKEN),
        Some(json!({"name": "bob", "role": "user", "expires_in_days": 30})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let bob: Value = serde_json::from_str(&created).unwrap();
    let bob_token = bob["token"].as_str().unwrap().to_string();
    assert!(bob["expires_at"].is_string());

    let task = c.submit(c.token("user"), &["sleep", "60"]).await;
    let (_, view) = call(&base, Method::GET, &format!("/api/status/{task}"), Some(c.token("viewer")), None).await;
    assert_eq!(serde_json::from_str::<Value>(&view).unwrap()["owner"], "user-1");
    wait_for("the task to run", Duration::from_secs(30), || async {
        let (_, v) = call(&base, Method::GET, &format!("/api/status/{task}"), Some(ADMIN_TOKEN), None).await;
        (serde_json::from_str::<Value>(&v).ok()?["status"] == "running").then_some(())
    })
    .await;
    for (who, token) in [("bob", bob_token.as_str()), ("a viewer", c.token("viewer"))] {
        let (status, body) = call(&base, Method::POST, &format!("/api/kill/{task}"), Some(token), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}: {body}");
        let (status, _) = call(&base, Method::POST, &format!("/api/command/{task}/pause"), Some(token), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who} pausing");
    }
    let (status, body) =
        call(&base, Method::POST, &format!("/api/command/{task}/pause"), Some(c.token("operator")), None).await;
    assert_eq!(status, StatusCode::OK, "an operator pauses any task: {body}");
    let (status, body) =
        call(&base, Method::POST, &format!("/api/command/{task}/resume"), Some(c.token("user")), None).await;
    assert_eq!(status, StatusCode::OK, "its owner resumes it: {body}");
    let (status, body) = call(&base, Method::POST, &format!("/api/kill/{task}"), Some(c.token("user")), None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "its owner kills it: {body}");

    // The list never shows secrets; the CLI's token commands work for the configured admin.
    let (_, listed) = call(&base, Method::GET, "/api/auth/tokens", Some(ADMIN_TOKEN), None).await;
    assert!(!listed.contains(&bob_token) && !listed.contains(bob_token.split('_').nth(2).unwrap()));
    let out = c.dir.cli(&["--json", "token", "create", "carol", "--role", "viewer"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let carol = assert_golden("token-create", &out.stdout);
    let out = c.dir.cli(&["--json", "token", "list"]);
    assert!(out.status.success());
    assert_golden("token-list", &out.stdout);
    let out = c.dir.cli(&["token", "revoke", carol["id"].as_str().unwrap(), "000000000000"]);
    assert_eq!(out.status.code(), Some(4), "one unknown id is refused: {}", String::from_utf8_lossy(&out.stderr));
    let (status, _) = call(&base, Method::GET, "/api/nodes", carol["token"].as_str(), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a revoked token is refused");
    // A user cannot make tokens; the CLI says so with exit 4.
    let out =
        c.dir.command("hakuriver").env("HAKURIVER_TOKEN", c.token("user")).args(["token", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("admin"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = c
        .dir
        .command("hakuriver")
        .env("HAKURIVER_TOKEN", "wrong-token-wrong-token-wrong")
        .args(["node", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "a wrong token is refused");
}

#[tokio::test]
async fn runners_need_the_runner_token_and_keep_their_names() {
    let c = Cluster::start().await;
    let base = c.base();
    // Runner routes refuse a wrong token, and a person's.
    let info =
        json!({"hostname": "intruder", "total_cores": 4, "total_ram_bytes": 1000, "runner_url": "http://127.0.0.1:1"});
    let (status, _) =
        call(&base, Method::POST, "/api/register", Some("wrong-runner-token-0000000000"), Some(info.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&base, Method::POST, "/api/register", Some(c.token("admin")), Some(info)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A runner with a wrong token never joins, and says why in its log.
    let mut wrong = c.dir.command("hakuriver-runner");
    wrong
        .env("HAKURIVER_RUNNER_HOSTNAME", "wrong-token-node")
        .env("HAKURIVER_NETWORK_RUNNER_PORT", hakuriver_itest::free_port().to_string())
        .env("HAKURIVER_AUTH_RUNNER_TOKEN", "not-the-runner-token-at-all-000")
        .env("HAKURIVER_RUNNER_IDENTITY_FILE", c.dir.path().join("wrong-identity"));
    let wrong = Proc::spawn("runner wrong-token-node", wrong, c.dir.path().join("runner-wrong.log"));
    wait_for("the refused runner to log its refusal", Duration::from_secs(20), || async {
        wrong.log().contains("401").then_some(())
    })
    .await;
    let (_, nodes) = call(&base, Method::GET, "/api/nodes", Some(ADMIN_TOKEN), None).await;
    assert!(!nodes.contains("wrong-token-node"), "{nodes}");

    // The host's calls carry the token: the runner refuses a caller without it.
    let node = wait_for_node_json(&base, "auth-node").await;
    let runner_url = node["url"].as_str().unwrap().to_string();
    let r = reqwest::Client::new()
        .post(format!("{runner_url}/kill"))
        .json(&json!({"task_id": "1", "unit_name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "a call to the runner without the runner token");
    let r = reqwest::get(format!("{runner_url}/health")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // ... and a task still runs, dispatched with it.
    let task = c.submit(c.token("user"), &["true"]).await;
    wait_for("the task to complete", Duration::from_secs(30), || async {
        let (_, v) = call(&base, Method::GET, &format!("/api/status/{task}"), Some(ADMIN_TOKEN), None).await;
        (serde_json::from_str::<Value>(&v).ok()?["status"] == "completed").then_some(())
    })
    .await;

    // The name is bound to the runner that registered it: another identity with the right
    // token cannot take it, heartbeat for it or report on its tasks, until an admin releases it.
    let client = reqwest::Client::new();
    let as_other = |r: reqwest::RequestBuilder| {
        r.bearer_auth(RUNNER_TOKEN).header("x-hakuriver-runner-identity", "another-machine-identity-0123456789")
    };
    let takeover = json!({"hostname": "auth-node", "total_cores": 64, "total_ram_bytes": 1000, "runner_url": "http://127.0.0.1:9"});
    let r = as_other(client.post(format!("{base}/api/register"))).json(&takeover).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("hakuriver node release auth-node"));
    let r = as_other(client.put(format!("{base}/api/heartbeat/auth-node")))
        .json(&json!({"running_tasks": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = as_other(client.post(format!("{base}/api/update")))
        .json(&json!({"task_id": task, "status": "failed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let node = wait_for_node_json(&base, "auth-node").await;
    assert_eq!(node["url"].as_str(), Some(runner_url.as_str()), "the name kept its runner");
    let out = c.dir.cli(&["node", "release", "auth-node"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = as_other(client.post(format!("{base}/api/register"))).json(&takeover).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "after the release the new machine may take the name");
}

async fn wait_for_node_json(base: &str, name: &str) -> Value {
    wait_for(&format!("node {name}"), Duration::from_secs(20), || async {
        let (_, body) = call(base, Method::GET, &format!("/api/nodes/{name}"), Some(ADMIN_TOKEN), None).await;
        serde_json::from_str::<Value>(&body).ok().filter(|n| n["status"] == "online")
    })
    .await
}

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

/// A tunnel ticket for `task` asked with `token`: its status and the ticket.
async fn ticket(base: &str, task: &str, token: &str) -> (StatusCode, String) {
    let (status, body) = call(base, Method::POST, &format!("/api/vps/{task}/ticket"), Some(token), None).await;
    let ticket = serde_json::from_str::<Value>(&body).ok().and_then(|v| v["ticket"].as_str().map(str::to_string));
    (status, ticket.unwrap_or(body))
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

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// Opens a websocket that must open.
async fn open_websocket(base: &str, path: &str, headers: &[(&'static str, String)]) -> Socket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("{}{path}", base.replacen("http://", "ws://", 1)).into_client_request().expect("request");
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().expect("header value"));
    }
    tokio_tungstenite::connect_async(request).await.expect("the websocket opens").0
}

/// The code of the close frame `socket` gets next (events before it are skipped).
async fn close_code(socket: &mut Socket) -> Option<u16> {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let read = async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                None | Some(Err(_)) => return None,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read).await.expect("a close frame within 10 s")
}

/// Whether `socket` still answers a ping.
async fn answers_ping(socket: &mut Socket) -> bool {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    if socket.send(Message::Ping(b"still there?".to_vec().into())).await.is_err() {
        return false;
    }
    let read = async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Pong(_))) => return true,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return false,
                Some(Ok(_)) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read).await.unwrap_or(false)
}

async fn revoke(base: &str, id: &str) {
    let (status, body) = call(base, Method::DELETE, &format!("/api/auth/tokens/{id}"), Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
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

/// Waits until the host answers its API.
async fn wait_for_host(base: &str) {
    wait_for("the host", Duration::from_secs(20), || async {
        reqwest::get(format!("{base}/api/nodes")).await.ok().filter(|r| r.status().is_success())
    })
    .await;
}
