//! `hakuriver ssh <id>`: a local listener on 127.0.0.1 (kept bound: no pick-then-rebind race)
//! whose every connection is tunnelled through the host's SSH proxy with the original handshake
//! (`REQUEST_TUNNEL <id>` → `SUCCESS`), then the system `ssh` pointed at it. Authentication is
//! end to end between `ssh` and the VPS's sshd. With a token, each connection first gets a
//! single-use tunnel ticket from the API (HTTPS where configured) and sends only that on the
//! proxy's port: the token itself never crosses it.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use hakuriver_model::auth::TunnelTicket;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Tunnel {
    pub task_id: String,
    pub proxy_host: String,
    pub proxy_port: u16,
    pub local_port: u16,
    pub user: String,
    pub ssh_args: Vec<String>,
    /// Where tickets come from when the CLI has a token: `REQUEST_TUNNEL <id> <ticket>`.
    pub tickets: Option<Arc<crate::client::Client>>,
}

/// Serves the local end and runs `ssh`; returns ssh's exit status (127 when ssh is missing).
pub async fn run(t: Tunnel) -> Result<ExitCode, String> {
    let listener = TcpListener::bind(("127.0.0.1", t.local_port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", t.local_port))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let (host, proxy_port) = (t.proxy_host.clone(), t.proxy_port);
    let (task_id, tickets) = (t.task_id.clone(), t.tickets.clone());
    tokio::spawn(async move {
        while let Ok((local, _)) = listener.accept().await {
            let (host, task_id, tickets) = (host.clone(), task_id.clone(), tickets.clone());
            tokio::spawn(async move {
                let request = handshake(&task_id, tickets.as_deref()).await;
                serve(local, &host, proxy_port, request).await
            });
        }
    });
    let mut command = tokio::process::Command::new("ssh");
    command
        .arg("-p")
        .arg(port.to_string())
        // Known-hosts entries per VPS, not one for 127.0.0.1 that every VPS would contradict.
        .arg("-o")
        .arg(format!("HostKeyAlias=vps-{}", t.task_id))
        .arg(format!("{}@127.0.0.1", t.user))
        .args(&t.ssh_args);
    eprintln!("Connecting to VPS {} through {}:{} (local port {port})", t.task_id, t.proxy_host, t.proxy_port);
    match command.status().await {
        Ok(status) => Ok(ExitCode::from(status.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(1))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("error: ssh is not installed (install openssh-client)");
            Ok(ExitCode::from(127))
        }
        Err(e) => Err(format!("cannot run ssh: {e}")),
    }
}

/// The proxy handshake's first line: with a token, a fresh ticket from the API.
async fn handshake(task_id: &str, tickets: Option<&crate::client::Client>) -> Result<String, String> {
    let Some(client) = tickets else { return Ok(format!("REQUEST_TUNNEL {task_id}\n")) };
    let segment = crate::client::seg(task_id);
    let answer: TunnelTicket = client
        .post(&format!("/api/vps/{segment}/ticket"), &())
        .await
        .map_err(|e| format!("cannot get a tunnel ticket: {e}"))?;
    Ok(format!("REQUEST_TUNNEL {task_id} {}\n", answer.ticket))
}

/// One local connection: handshake with the host's proxy, then relay both ways.
async fn serve(mut local: TcpStream, host: &str, port: u16, request: Result<String, String>) {
    match async { open(host, port, &request?).await }.await {
        Ok((mut upstream, early)) => {
            if local.write_all(&early).await.is_ok() {
                let _ = tokio::io::copy_bidirectional(&mut local, &mut upstream).await;
            }
        }
        Err(reason) => {
            let _ = local.write_all(format!("Proxy Error: {reason}\r\n").as_bytes()).await;
        }
    }
}

/// Connects and asks for the tunnel; returns the stream and any bytes read past `SUCCESS\n`.
async fn open(host: &str, port: u16, request: &str) -> Result<(TcpStream, Vec<u8>), String> {
    let mut stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port))).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(format!("Cannot connect to the host's SSH proxy at {host}:{port}: {e}")),
        Err(_) => return Err(format!("Timeout connecting to the host's SSH proxy at {host}:{port}.")),
    };
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let read = async {
        while !buf.contains(&b'\n') && buf.len() < 4096 {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Ok::<(), std::io::Error>(())
    };
    match tokio::time::timeout(REPLY_TIMEOUT, read).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(format!("The proxy connection failed: {e}")),
        Err(_) => return Err("Timeout waiting for the proxy's answer.".into()),
    }
    let end = buf.iter().position(|&b| b == b'\n').ok_or("Unexpected response from server.")?;
    let line = String::from_utf8_lossy(&buf[..end]).trim().to_string();
    if line == "SUCCESS" {
        return Ok((stream, buf[end + 1..].to_vec()));
    }
    match line.strip_prefix("ERROR ") {
        Some(reason) => Err(reason.to_string()),
        None => Err("Unexpected response from server.".into()),
    }
}
