// suite: integration
//! What a hostile page, a planted link or a stolen runner token can do, tried against the real
//! host and runner processes: writes from other origins and foreign `Host` names (with
//! authentication on and off), links in shared storage on both sides, redirect targets, a
//! rotated admin token, the slow-down and valid credentials, where runners may be reached, and
//! the caps on SSH proxy connections and log streams.

use std::time::Duration;

use hakuriver_itest::{wait_for, ClusterDir, Proc, ADMIN_TOKEN, RUNNER_TOKEN};
use hakuriver_model::{TaskStatus, TaskView};
use reqwest::header::{CONTENT_TYPE, HOST, ORIGIN};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NODE: &str = "hard-node";

struct Cluster {
    _procs: Vec<Proc>,
    dir: ClusterDir,
    base: String,
    http: reqwest::Client,
    /// The token requests carry (none with authentication off).
    token: Option<&'static str>,
}

impl Cluster {
    async fn start(auth: bool, extra: &str) -> Cluster {
        let dir = if auth { ClusterDir::with_auth() } else { ClusterDir::new() };
        dir.append_config(extra);
        let host = dir.start_host();
        let runner = dir.start_runner(NODE);
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let c =
            Cluster { _procs: vec![host, runner], base: dir.base_url(), dir, http, token: auth.then_some(ADMIN_TOKEN) };
        wait_for("the node", Duration::from_secs(60), || async {
            let nodes: Vec<Value> = c.get("/api/nodes").send().await.ok()?.json().await.ok()?;
            nodes.iter().any(|n| n["hostname"] == NODE && n["status"] == "online").then_some(())
        })
        .await;
        c
    }

    fn with_token(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.with_token(self.http.get(format!("{}{path}", self.base)))
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.with_token(self.http.post(format!("{}{path}", self.base)))
    }

    async fn tasks(&self) -> usize {
        self.get("/api/tasks").send().await.unwrap().json::<Vec<Value>>().await.unwrap().len()
    }

    async fn run(&self, body: Value) -> (String, TaskView) {
        let r = self.post("/api/submit").json(&body).send().await.unwrap();
        assert_eq!(r.status(), 202);
        let id = r.json::<Value>().await.unwrap()["task_ids"][0].as_str().unwrap().to_string();
        let task = self.wait_final(&id).await;
        (id, task)
    }

    async fn wait_final(&self, id: &str) -> TaskView {
        wait_for(&format!("task {id}"), Duration::from_secs(30), || async {
            let t: TaskView = self.get(&format!("/api/status/{id}")).send().await.ok()?.json().await.ok()?;
            t.status.is_final().then_some(t)
        })
        .await
    }
}

async fn detail(r: reqwest::Response) -> (StatusCode, String) {
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (status, body["detail"].as_str().unwrap_or_default().to_string())
}

#[tokio::test]
async fn pages_on_other_sites_cannot_drive_the_cluster_with_auth_on_or_off() {
    for auth in [false, true] {
        let c = Cluster::start(auth, "[network]\npublic_hosts = [\"cluster.test\"]\n").await;
        let submit = json!({"command": "true", "container_name": "NULL", "targets": [NODE]});
        let text = serde_json::to_string(&submit).unwrap();
        let before = c.tasks().await;
        // A text/plain form post (no preflight): 415.
        let r = c.post("/api/submit").header(CONTENT_TYPE, "text/plain").body(text.clone()).send().await.unwrap();
        let (status, why) = detail(r).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "auth {auth}: {why}");
        assert!(why.contains("application/json"), "{why}");
        // multipart, and JSON without saying so: 415 too.
        let r = c.post("/api/submit").header(CONTENT_TYPE, "multipart/form-data; boundary=x").body(text.clone());
        assert_eq!(r.send().await.unwrap().status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let r = c.post("/api/submit").body(text.clone()).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "a body without a type");
        // JSON from a page of another origin: 403.
        let r = c.post("/api/submit").header(ORIGIN, "https://evil.example").json(&submit).send().await.unwrap();
        let (status, why) = detail(r).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "auth {auth}: {why}");
        // DNS rebinding: the attacker's name in Host, for reads and writes: 421.
        for path in ["/api/nodes", "/"] {
            let r = c.get(path).header(HOST, "evil.example:8000").send().await.unwrap();
            assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST, "auth {auth}: GET {path}");
        }
        let r = c.post("/api/submit").header(HOST, "evil.example").json(&submit).send().await.unwrap();
        let (status, why) = detail(r).await;
        assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
        assert!(why.contains("public_hosts"), "{why}");
        assert_eq!(c.tasks().await, before, "auth {auth}: nothing was submitted");

        // What the quick start does keeps working: curl (no Origin), this host's own pages, a
        // name in public_hosts, localhost, the machine's hostname.
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
        let port = c.base.rsplit(':').next().unwrap().to_string();
        for host in ["cluster.test".to_string(), format!("localhost:{port}"), format!("{hostname}:{port}")] {
            let r = c.get("/api/nodes").header(HOST, host.clone()).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "auth {auth}: Host {host}");
        }
        let own = c.base.replace("http://", "");
        let r = c.post("/api/submit").header(ORIGIN, format!("http://{own}")).json(&submit).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED, "auth {auth}: this host's own origin");
        let r = c.post("/api/submit").json(&submit).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED, "auth {auth}: a script");
        let r = c.with_token(c.http.post(format!("{}/api/kill/999999999", c.base))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "auth {auth}: a write without a body needs no type");
    }
}

#[tokio::test]
async fn runners_serve_only_the_host_whatever_auth_enabled_says() {
    // A runner with a runner token but authentication off still wants the token.
    let dir = ClusterDir::new();
    dir.append_config(&format!("[auth]\nenabled = false\nrunner_token = \"{RUNNER_TOKEN}\"\n"));
    let _host = dir.start_host();
    let _runner = dir.start_runner(NODE);
    let base = dir.base_url();
    let http = reqwest::Client::new();
    let url = wait_for("the runner's URL", Duration::from_secs(60), || async {
        let nodes: Vec<Value> = http.get(format!("{base}/api/nodes")).send().await.ok()?.json().await.ok()?;
        nodes
            .iter()
            .find(|n| n["hostname"] == NODE && n["status"] == "online")
            .and_then(|n| n["url"].as_str().map(str::to_string))
    })
    .await;
    let task = json!({"task_id": "1", "command": "touch", "arguments": ["/tmp/hakuriver-itest-pwned"],
        "stdout_path": "", "stderr_path": "", "docker_image_name": "NULL"});
    let r = http.post(format!("{url}/run")).json(&task).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "no token, no /run");
    let with = |r: reqwest::RequestBuilder| r.bearer_auth(RUNNER_TOKEN);
    let r = with(http.post(format!("{url}/run"))).header(CONTENT_TYPE, "text/plain").body(task.to_string());
    assert_eq!(r.send().await.unwrap().status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = with(http.post(format!("{url}/run"))).header(ORIGIN, "http://evil.example").json(&task);
    assert_eq!(r.send().await.unwrap().status(), StatusCode::FORBIDDEN, "no web page reaches a runner");
    let r = with(http.post(format!("{url}/run"))).header(HOST, "evil.example").json(&task);
    assert_eq!(r.send().await.unwrap().status(), StatusCode::MISDIRECTED_REQUEST);
    assert!(!std::path::Path::new("/tmp/hakuriver-itest-pwned").exists());
    // And the host still gets its tasks run.
    let r = http
        .post(format!("{base}/api/submit"))
        .json(&json!({"command": "true", "container_name": "NULL", "targets": [NODE]}));
    let id = r.send().await.unwrap().json::<Value>().await.unwrap()["task_ids"][0].as_str().unwrap().to_string();
    let t = hakuriver_itest::wait_for_final(&base, &id, Duration::from_secs(30)).await;
    assert_eq!(t.status, TaskStatus::Completed, "{t:?}");
}

#[tokio::test]
async fn links_planted_in_shared_storage_are_never_followed() {
    let c = Cluster::start(false, "").await;
    let shared = c.dir.shared();
    let victim = c.dir.path().join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();

    // Host: a finished task's log replaced by a link to the host's configuration, then a FIFO.
    let (id, task) =
        c.run(json!({"command": "echo", "arguments": ["hi"], "container_name": "NULL", "targets": [NODE]})).await;
    assert_eq!(task.status, TaskStatus::Completed);
    let out = shared.join(format!("task_outputs/{id}.out"));
    std::fs::remove_file(&out).unwrap();
    std::os::unix::fs::symlink(c.dir.config(), &out).unwrap();
    for path in [
        format!("/api/task/{id}/stdout"),
        format!("/api/task/{id}/stdout?tail=100"),
        format!("/api/task/{id}/stdout/follow"),
    ] {
        let r = c.get(&path).send().await.unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert!(body.contains("symbolic link") && !body.contains("[network]"), "{path}: {body}");
    }
    std::fs::remove_file(&out).unwrap();
    rustix::fs::mknodat(rustix::fs::CWD, &out, rustix::fs::FileType::Fifo, rustix::fs::Mode::from_raw_mode(0o666), 0)
        .unwrap();
    let r = tokio::time::timeout(Duration::from_secs(10), c.get(&format!("/api/task/{id}/stdout")).send()).await;
    assert_eq!(r.expect("a FIFO does not hang the host").unwrap().status(), StatusCode::FORBIDDEN);
    assert!(c._procs[0].log().contains("refused to read a task log"), "and it says so in its log");

    // Runner: a link planted where a queued task's log will be written; the task writes a new
    // file of its own and the link's target is untouched.
    let cores = {
        let nodes: Vec<Value> = c.get("/api/nodes").send().await.unwrap().json().await.unwrap();
        nodes.iter().find(|n| n["hostname"] == NODE).unwrap()["total_cores"].as_u64().unwrap()
    };
    let hold = json!({"command": "sleep", "arguments": ["30"], "container_name": "NULL", "targets": [NODE], "required_cores": cores});
    let r = c.post("/api/submit").json(&hold).send().await.unwrap();
    let holder = r.json::<Value>().await.unwrap()["task_ids"][0].as_str().unwrap().to_string();
    let queued = json!({"command": "echo", "arguments": ["mine"], "container_name": "NULL", "targets": [NODE], "required_cores": cores});
    let r = c.post("/api/submit").json(&queued).send().await.unwrap();
    let next = r.json::<Value>().await.unwrap()["task_ids"][0].as_str().unwrap().to_string();
    let t: TaskView = c.get(&format!("/api/status/{next}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(t.status, TaskStatus::Pending, "queued behind the first");
    let planted = shared.join(format!("task_outputs/{next}.out"));
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    let r = c.post(&format!("/api/kill/{holder}")).send().await.unwrap();
    assert!(r.status().is_success());
    let t = c.wait_final(&next).await;
    assert_eq!(t.status, TaskStatus::Completed, "{t:?}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n", "nothing written through the link");
    assert!(!std::fs::symlink_metadata(&planted).unwrap().file_type().is_symlink());
    assert!(c._procs[1].log().contains("a symbolic link was planted"), "the runner says so in its log");
    assert_eq!(c.get(&format!("/api/task/{next}/stdout")).send().await.unwrap().text().await.unwrap(), "mine\n");
}

#[tokio::test]
async fn logins_redirect_only_to_this_host_and_end_with_a_rotated_admin_token() {
    let c = Cluster::start(true, "").await;
    let own = c.base.replace("http://", "");
    let login = |next: &str| {
        c.http
            .post(format!("{}/login", c.base))
            .header(ORIGIN, format!("http://{own}"))
            .form(&[("token", ADMIN_TOKEN), ("next", next)])
    };
    for (next, to) in [
        ("/\t/evil.example", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/tasks?status=running", "/tasks?status=running"),
    ] {
        let r = login(next).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(r.headers()["location"], to, "{next:?}");
    }
    let r = login("/").send().await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let whoami = |cookie: String| c.http.get(format!("{}/api/auth/whoami", c.base)).header("cookie", cookie).send();
    assert_eq!(whoami(cookie.clone()).await.unwrap().status(), StatusCode::OK);

    // The admin rotates the configured admin token and restarts the host: old logins end.
    let mut procs = c._procs;
    procs[0].kill();
    let config = std::fs::read_to_string(c.dir.config()).unwrap();
    std::fs::write(c.dir.config(), config.replace(ADMIN_TOKEN, "itest-rotated-admin-token-0b9c7d1e2f")).unwrap();
    let _host = c.dir.start_host();
    let status = wait_for("the restarted host", Duration::from_secs(30), || async {
        Some(whoami(cookie.clone()).await.ok()?.status())
    })
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a login made with the old admin token is over");
}

#[tokio::test]
async fn a_guesser_slows_down_its_address_but_never_locks_out_valid_credentials() {
    let c = Cluster::start(true, "").await;
    let nodes = |token: &str| c.http.get(format!("{}/api/nodes", c.base)).bearer_auth(token.to_string()).send();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(nodes("hkr_000000000000_guessguessguess").await.unwrap().status().as_u16());
    }
    assert!(statuses.contains(&429), "the guesser is slowed down: {statuses:?}");
    // The same address (a NAT, a proxy) with a valid credential: served at once, every time.
    for _ in 0..3 {
        assert_eq!(nodes(ADMIN_TOKEN).await.unwrap().status(), StatusCode::OK);
    }
    // The runner behind that address keeps heartbeating: its node stays online past the
    // offline timeout.
    tokio::time::sleep(c.dir.offline_after() + Duration::from_secs(1)).await;
    let listed: Vec<Value> = nodes(ADMIN_TOKEN).await.unwrap().json().await.unwrap();
    assert!(listed.iter().any(|n| n["hostname"] == NODE && n["status"] == "online"), "{listed:?}");
    assert_ne!(nodes("hkr_000000000000_guessguessguess").await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn runners_are_reached_only_where_they_connect_from() {
    let c = Cluster::start(true, "[network]\nrunner_networks = [\"10.77.0.0/16\"]\n").await;
    let register = |url: &str, name: &str| {
        c.http
            .post(format!("{}/api/register", c.base))
            .bearer_auth(RUNNER_TOKEN)
            .header(hakuriver_model::auth::RUNNER_IDENTITY_HEADER, format!("itest-identity-{name}-0123456789abcdef"))
            .json(&json!({"hostname": name, "total_cores": 1, "total_ram_bytes": 1000, "runner_url": url}))
            .send()
    };
    // From loopback: another machine's address, or a metadata service, is refused.
    for url in ["http://192.0.2.10:8001", "http://169.254.169.254:80", "http://example.invalid:8001"] {
        let (status, why) = detail(register(url, "relay").await.unwrap()).await;
        assert!(status == StatusCode::FORBIDDEN, "{url}: {status} {why}");
        assert!(why.contains("runner_networks") || why.contains("cannot resolve"), "{why}");
    }
    let nodes: Vec<Value> = c.get("/api/nodes").send().await.unwrap().json().await.unwrap();
    assert!(!nodes.iter().any(|n| n["hostname"] == "relay"), "no node was made");
    // Loopback from loopback, and a configured network, are accepted.
    let stand_in = hakuriver_itest::accepting_runner().await;
    assert_eq!(register(&stand_in, "local").await.unwrap().status(), StatusCode::OK);
    assert_eq!(register("http://10.77.3.4:8001", "natted").await.unwrap().status(), StatusCode::OK);

    // A VPS's ssh port is never a privileged one (the node's own sshd on 22).
    c.dir.stand_in_tarball("vps-env");
    let body = json!({"task_type": "vps", "command": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPIvHW968nTBxRcy05qQApqONnymK/1g3+0T1i0o/j3h a@b",
        "targets": ["local"], "container_name": "vps-env"});
    // The submit waits for the port: it goes on in the background.
    let submitting = tokio::spawn(c.post("/api/submit").json(&body).send());
    let id = wait_for("the VPS to be assigned", Duration::from_secs(10), || async {
        let list: Vec<Value> = c.get("/api/vps/status").send().await.ok()?.json().await.ok()?;
        list.iter().find(|t| t["assigned_node"] == "local").and_then(|t| t["task_id"].as_str().map(str::to_string))
    })
    .await;
    submitting.abort();
    let update = json!({"task_id": id, "status": "running", "ssh_port": 22});
    let r = c
        .http
        .post(format!("{}/api/update", c.base))
        .bearer_auth(RUNNER_TOKEN)
        .header(hakuriver_model::auth::RUNNER_IDENTITY_HEADER, "itest-identity-local-0123456789abcdef")
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let t: Value = c.get(&format!("/api/status/{id}")).send().await.unwrap().json().await.unwrap();
    assert!(t["ssh_port"].is_null(), "{t}");
}

#[tokio::test]
async fn one_address_cannot_hold_every_proxy_connection_or_log_stream() {
    let c = Cluster::start(true, "[network]\nssh_proxy_max_per_address = 3\n").await;
    let port = c.dir.proxy_port;
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut fourth = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), fourth.read_to_string(&mut answer)).await.unwrap().unwrap();
    assert_eq!(answer, "ERROR Too many connections from your address.\n");
    drop(silent);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    again.write_all(b"REQUEST_TUNNEL 1\n").await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), again.read_to_string(&mut answer)).await.unwrap().unwrap();
    assert!(answer.starts_with("ERROR Authorization required"), "{answer}");

    // A followed log ends when the token that opened it is revoked.
    let (token_id, token) = hakuriver_itest::create_token(&c.base, "follower", "viewer").await;
    let r = c
        .post("/api/submit")
        .json(&json!({"command": "sleep", "arguments": ["30"], "container_name": "NULL", "targets": [NODE]}))
        .send()
        .await
        .unwrap();
    let id = r.json::<Value>().await.unwrap()["task_ids"][0].as_str().unwrap().to_string();
    let mut stream =
        c.http.get(format!("{}/api/task/{id}/stdout/follow", c.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let r = c.with_token(c.http.delete(format!("{}/api/auth/tokens/{token_id}", c.base))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let ended =
        tokio::time::timeout(Duration::from_secs(10), async { while let Ok(Some(_)) = stream.chunk().await {} }).await;
    assert!(ended.is_ok(), "the stream ends with its token");

    // And one address holds a bounded number of streams.
    let mut open = Vec::new();
    let mut refused = None;
    for _ in 0..40 {
        let r = c.get(&format!("/api/task/{id}/stdout/follow")).send().await.unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(r.json::<Value>().await.unwrap());
            break;
        }
        open.push(r);
    }
    let refused = refused.expect("a cap on log streams per address");
    assert!(open.len() >= 8, "a few streams are fine: {}", open.len());
    assert!(refused["detail"].as_str().unwrap().contains("log streams"), "{refused}");
}
