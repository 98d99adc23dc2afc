//! The harness of the authentication tests (`tests/auth*.rs`): a cluster with `[auth]` on and a
//! token per role, and raw HTTP and websocket calls that judge what the host answers.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{wait_for, ClusterDir, Proc, ADMIN_TOKEN};

pub const ROLES: [&str; 4] = ["viewer", "user", "operator", "admin"];

/// A started cluster with authentication on, one runner (`auth-node`) and a token per role.
pub struct Cluster {
    pub dir: ClusterDir,
    pub _host: Proc,
    pub _runner: Proc,
    /// viewer, user, operator, admin (in `ROLES` order), made through the API.
    pub tokens: Vec<String>,
}

impl Cluster {
    pub async fn start() -> Cluster {
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
            tokens.push(crate::create_token(&base, &format!("{role}-1"), role).await.1);
        }
        let cluster = Cluster { dir, _host: host, _runner: runner, tokens };
        cluster.wait_node().await;
        cluster
    }

    pub fn base(&self) -> String {
        self.dir.base_url()
    }

    pub fn token(&self, role: &str) -> &str {
        let i = ROLES.iter().position(|r| *r == role).expect("a role");
        &self.tokens[i]
    }

    pub async fn wait_node(&self) {
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
    pub async fn submit(&self, token: &str, args: &[&str]) -> String {
        let body =
            json!({"command": args[0], "arguments": &args[1..], "container_name": "NULL", "targets": ["auth-node"]});
        let (status, text) = call(&self.base(), Method::POST, "/api/submit", Some(token), Some(body)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{text}");
        let v: Value = serde_json::from_str(&text).expect("JSON");
        v["task_ids"][0].as_str().expect("an id").to_string()
    }
}

/// One HTTP call with an optional bearer token; answers the status and body.
pub async fn call(
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
pub async fn raw(port: u16, method: &str, path: &str, token: &str) -> (u16, String) {
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
pub async fn oversized(port: u16, token: &str, chunked: bool) -> String {
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
pub async fn websocket(base: &str, path: &str, headers: &[(&'static str, String)]) -> u16 {
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

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// Opens a websocket that must open.
pub async fn open_websocket(base: &str, path: &str, headers: &[(&'static str, String)]) -> Socket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("{}{path}", base.replacen("http://", "ws://", 1)).into_client_request().expect("request");
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().expect("header value"));
    }
    tokio_tungstenite::connect_async(request).await.expect("the websocket opens").0
}

/// The code of the close frame `socket` gets next (events before it are skipped).
pub async fn close_code(socket: &mut Socket) -> Option<u16> {
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
pub async fn answers_ping(socket: &mut Socket) -> bool {
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

pub async fn revoke(base: &str, id: &str) {
    let (status, body) = call(base, Method::DELETE, &format!("/api/auth/tokens/{id}"), Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Waits until the host answers its API.
pub async fn wait_for_host(base: &str) {
    wait_for("the host", Duration::from_secs(20), || async {
        reqwest::get(format!("{base}/api/nodes")).await.ok().filter(|r| r.status().is_success())
    })
    .await;
}

pub async fn wait_for_node_json(base: &str, name: &str) -> Value {
    wait_for(&format!("node {name}"), Duration::from_secs(20), || async {
        let (_, body) = call(base, Method::GET, &format!("/api/nodes/{name}"), Some(ADMIN_TOKEN), None).await;
        serde_json::from_str::<Value>(&body).ok().filter(|n| n["status"] == "online")
    })
    .await
}

/// A tunnel ticket for `task` asked with `token`: its status and the ticket.
pub async fn ticket(base: &str, task: &str, token: &str) -> (StatusCode, String) {
    let (status, body) = call(base, Method::POST, &format!("/api/vps/{task}/ticket"), Some(token), None).await;
    let ticket = serde_json::from_str::<Value>(&body).ok().and_then(|v| v["ticket"].as_str().map(str::to_string));
    (status, ticket.unwrap_or(body))
}
