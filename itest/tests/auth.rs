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

impl Needs {
    /// The host's name for it (`x-hakuriver-access` in the OpenAPI document).
    fn parse(access: &str) -> Needs {
        match access {
            "public" => Needs::Public,
            "runner" => Needs::Runner,
            role => Needs::Role(ROLES.iter().position(|r| *r == role).unwrap_or_else(|| panic!("access {role:?}"))),
        }
    }
}

struct Route {
    method: Method,
    path: String,
    body: Option<Value>,
    needs: Needs,
    /// Server functions answer their own errors with 500s; REST routes never may.
    server_fn: bool,
}

/// A harmless request for a route the table names: parameters an unknown id or name (the user's
/// task where reading it is harmless), bodies that do not parse.
fn concrete(method: &Method, template: &str, task: &str) -> (String, Option<Value>) {
    let path: Vec<String> = template
        .split('/')
        .map(|seg| match seg {
            "{id}" if template.starts_with("/api/operations") => "999999".to_string(),
            "{id}" if template.starts_with("/api/auth/tokens") => "000000000000".to_string(),
            "{id}" if template.starts_with("/api/kill") || template.starts_with("/api/command") => "1".to_string(),
            "{id}" => task.to_string(),
            "{hostname}" if *method == Method::GET => "auth-node".to_string(),
            "{hostname}" => "no-such-node".to_string(),
            "{name}" => "no-such-env".to_string(),
            "{command}" => "pause".to_string(),
            "{port}" => "8888".to_string(),
            other => other.to_string(),
        })
        .collect();
    let body = match template {
        "/api/submit" => Some(json!({"command": "true", "container_name": "NULL", "targets": ["auth-node"]})),
        "/api/auth/tokens" if *method == Method::POST => Some(json!({"name": "matrix", "role": "viewer"})),
        _ if *method == Method::POST || *method == Method::PUT => Some(json!({})),
        _ => None,
    };
    (path.join("/"), body)
}

/// Every route of the host's own table, as its OpenAPI document states it: the REST operations
/// and the server functions, each with the access the guard enforces.
async fn table_routes(base: &str, task: &str) -> Vec<Route> {
    let doc: Value =
        reqwest::get(format!("{base}/api/openapi.json")).await.expect("the document").json().await.expect("JSON");
    let mut routes = Vec::new();
    for (template, ops) in doc["paths"].as_object().expect("paths") {
        for (verb, op) in ops.as_object().expect("operations") {
            let method = Method::from_bytes(verb.to_ascii_uppercase().as_bytes()).expect("a method");
            let needs = Needs::parse(op["x-hakuriver-access"].as_str().expect("every operation states its access"));
            let (path, body) = concrete(&method, template, task);
            routes.push(Route { method, path, body, needs, server_fn: false });
        }
    }
    assert!(routes.len() >= 37, "the document names only {} operations", routes.len());
    let bodies: [(&str, Value); 8] = [
        ("list_tasks", json!({"query": {}})),
        ("get_task", json!({"id": task})),
        ("read_log", json!({"id": task, "stdout": true, "offset": null})),
        ("get_operation", json!({"id": 999999})),
        ("submit_task", json!({"request": {"command": "true", "container_name": "NULL", "targets": ["auth-node"]}})),
        ("task_action", json!({"id": "1", "action": "kill"})),
        ("env_action", json!({"name": "no-such-env", "action": "stop"})),
        ("create_env", json!({"image": "no-such-image", "name": "no-such-env"})),
    ];
    let fns = doc["x-hakuriver-server-functions"].as_array().expect("the server functions");
    assert!(fns.len() >= 18, "the document names only {} server functions", fns.len());
    for f in fns {
        let path = f["path"].as_str().expect("a path").to_string();
        let name = path.rsplit('/').next().unwrap_or_default();
        let body = match name {
            "create_tar" => json!({"name": "no-such-env"}),
            "save_vps" => json!({"id": "1", "name": "no-such-env"}),
            _ => bodies.iter().find(|(n, _)| *n == name).map_or(json!({}), |(_, b)| b.clone()),
        };
        let needs = Needs::parse(f["access"].as_str().expect("an access"));
        routes.push(Route { method: Method::POST, path, body: Some(body), needs, server_fn: true });
    }
    // Log streams are called like the rest; websockets are opened (`table_sockets`).
    for s in doc["x-hakuriver-streams"].as_array().expect("the streams").iter().filter(|s| s["kind"] == "stream") {
        let (path, _) = concrete(&Method::GET, s["path"].as_str().expect("a path"), task);
        routes.push(Route {
            method: Method::GET,
            path,
            body: None,
            needs: Needs::parse(s["access"].as_str().expect("an access")),
            server_fn: false,
        });
    }
    routes
}

/// The websockets of the host's table with the role each needs (its index in `ROLES`).
async fn table_sockets(base: &str, task: &str) -> Vec<(String, usize)> {
    let doc: Value =
        reqwest::get(format!("{base}/api/openapi.json")).await.expect("the document").json().await.expect("JSON");
    let sockets: Vec<(String, usize)> = doc["x-hakuriver-streams"]
        .as_array()
        .expect("the streams")
        .iter()
        .filter(|s| s["kind"] == "websocket")
        .map(|s| {
            let (path, _) = concrete(&Method::GET, s["path"].as_str().expect("a path"), task);
            match Needs::parse(s["access"].as_str().expect("an access")) {
                Needs::Role(need) => (path, need),
                other => panic!("a websocket for {other:?}"),
            }
        })
        .collect();
    assert!(sockets.len() >= 4, "the document names only {} websockets", sockets.len());
    sockets
}

fn page(path: &str, needs: Needs) -> Route {
    Route { method: Method::GET, path: path.into(), body: None, needs, server_fn: false }
}

#[tokio::test]
async fn every_route_for_every_role() {
    let c = Cluster::start().await;
    let base = c.base();
    let task = c.submit(c.token("user"), &["true"]).await;
    let mut routes = table_routes(&base, &task).await;
    for (path, needs) in [
        ("/", Needs::Role(0)),
        ("/tasks", Needs::Role(0)),
        ("/login", Needs::Public),
        ("/favicon.svg", Needs::Public),
        ("/pkg/hakuriver.css", Needs::Public),
    ] {
        routes.push(page(path, needs));
    }
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
    let sockets = table_sockets(&base, &task).await;
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
