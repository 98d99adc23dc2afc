// suite: integration
//! Authorization through real host, runner and CLI processes with `[auth]` on: the role × route
//! matrix (REST, server functions, pages and websockets), task ownership and revoked tokens,
//! runner tokens and node-name binding. Sessions: `auth_sessions.rs`; hostile input:
//! `auth_inputs.rs`; the harness: `hakuriver_itest::auth_cluster`.

use std::time::Duration;

use hakuriver_itest::auth_cluster::*;
use hakuriver_itest::golden::assert_golden;
use hakuriver_itest::{wait_for, Proc, ADMIN_TOKEN, RUNNER_TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

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
