//! The host's calls to runners: `/run`, `/kill`, `/pause`, `/resume`, and relayed terminals and
//! port forwards.
//! Over HTTPS (WSS) to runners that serve it, trusting the system's roots and the cluster's CA
//! (`network.tls_ca_file`); every call carries the runner token.

use std::time::Duration;

use hakuriver_model::env::{SaveEvent, VpsSaveOrder};
use hakuriver_model::protocol::{TaskControl, TaskInfo};
use hakuriver_model::ControlCommand;

/// The longest a VPS save may take (a day: the largest images, the slowest shared storage).
const SAVE_LIMIT_SECONDS: u64 = 24 * 3600;

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("Failed to contact runner: {0}")]
    Unreachable(String),
    /// Nothing listens at the runner's address (a runner restarting): the call certainly did
    /// not arrive, so it may be repeated.
    #[error("Failed to contact runner: {0}")]
    NotListening(String),
    #[error("Runner rejected the request: {status} - {body}")]
    Rejected { status: u16, body: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ClientSetupError {
    #[error("network.tls_ca_file: {0}")]
    Tls(#[from] hakuriver_tls::TlsError),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// A runner's websocket (terminal or port forward), as the relay holds it.
pub type RunnerSocket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[derive(Clone)]
pub struct RunnerClient {
    http: reqwest::Client,
    /// `Bearer <runner token>` when authentication is on.
    authorization: Option<reqwest::header::HeaderValue>,
    tls: std::sync::Arc<tokio_rustls::rustls::ClientConfig>,
}

impl RunnerClient {
    /// A client that presents `runner_token` (when set) on every call, as runners require, and
    /// trusts `ca_pem` besides the system's roots for runners that serve HTTPS.
    pub fn new(runner_token: Option<&str>, ca_pem: Option<&[u8]>) -> Result<Self, ClientSetupError> {
        let authorization = runner_token.and_then(bearer);
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(value) = &authorization {
            headers.insert(reqwest::header::AUTHORIZATION, value.clone());
        }
        let tls = hakuriver_tls::client_config(ca_pem)?;
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .use_preconfigured_tls((*tls).clone())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(RunnerClient { http, authorization, tls })
    }

    pub async fn run(&self, runner_url: &str, info: &TaskInfo) -> Result<(), RunnerError> {
        self.post(runner_url, "run", info).await
    }

    /// `action` is `kill`, `pause` or `resume`.
    pub async fn control(
        &self,
        runner_url: &str,
        command: ControlCommand,
        control: &TaskControl,
    ) -> Result<(), RunnerError> {
        self.post(runner_url, command.as_str(), control).await
    }

    /// Opens a task's websocket on its runner (a terminal or a port forward; `ws://` or
    /// `wss://`), carrying the runner token.
    pub async fn open_socket(&self, url: &str) -> Result<RunnerSocket, RunnerError> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request =
            url.into_client_request().map_err(|e| RunnerError::Unreachable(format!("bad runner address: {e}")))?;
        if let Some(value) = &self.authorization {
            request.headers_mut().insert(reqwest::header::AUTHORIZATION, value.clone());
        }
        let connector = tokio_tungstenite::Connector::Rustls(self.tls.clone());
        match tokio_tungstenite::connect_async_tls_with_config(request, None, false, Some(connector)).await {
            Ok((socket, _)) => Ok(socket),
            Err(e) => Err(RunnerError::Unreachable(causes(&e))),
        }
    }

    /// Has the runner save a VPS as an environment tarball; `on_event` hears each step as the
    /// runner reports it. Returns the last event (`Done` or `Failed`); dropping the future
    /// closes the connection, which cancels the save on the runner.
    pub async fn save_vps(
        &self,
        runner_url: &str,
        order: &VpsSaveOrder,
        mut on_event: impl FnMut(&SaveEvent),
    ) -> Result<SaveEvent, RunnerError> {
        use futures::StreamExt;
        let url = format!("{}/vps/save", runner_url.trim_end_matches('/'));
        // A save takes as long as the image is large: no overall limit, the runner reports as it goes.
        let request = self.http.post(&url).json(order).timeout(Duration::from_secs(SAVE_LIMIT_SECONDS));
        let response = request.send().await.map_err(|e| RunnerError::Unreachable(causes(&e)))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(RunnerError::Rejected { status: status.as_u16(), body });
        }
        let mut body = response.bytes_stream();
        let mut buffer = Vec::new();
        let mut last = None;
        while let Some(chunk) = body.next().await {
            buffer.extend_from_slice(&chunk.map_err(|e| RunnerError::Unreachable(causes(&e)))?);
            while let Some(end) = buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                let event: SaveEvent = serde_json::from_slice(&line)
                    .map_err(|e| RunnerError::Unreachable(format!("the runner's progress is not JSON: {e}")))?;
                on_event(&event);
                last = Some(event);
            }
        }
        last.ok_or_else(|| RunnerError::Unreachable("the runner ended the save without a word".into()))
    }

    async fn post<T: serde::Serialize>(&self, base: &str, path: &str, body: &T) -> Result<(), RunnerError> {
        let url = format!("{}/{path}", base.trim_end_matches('/'));
        let response = self.http.post(&url).json(body).send().await.map_err(|e| {
            if e.is_connect() && !is_tls(&e) {
                RunnerError::NotListening(causes(&e))
            } else {
                RunnerError::Unreachable(causes(&e))
            }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err(RunnerError::Rejected { status: status.as_u16(), body })
    }
}

/// An error with every cause under it (`error sending request …: … invalid peer certificate:
/// UnknownIssuer`): the top one alone rarely says what went wrong.
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = cause.source();
    }
    text
}

/// Whether a connect error came from the TLS handshake (the runner listens, and refused or was
/// refused): not worth repeating like a runner that is restarting.
fn is_tls(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if is_rustls(cause) {
            return true;
        }
        source = cause.source();
    }
    false
}

/// A rustls error, or I/O errors wrapped around one (an I/O error hides what it wraps from
/// `source()`).
fn is_rustls(e: &(dyn std::error::Error + 'static)) -> bool {
    if e.is::<tokio_rustls::rustls::Error>() {
        return true;
    }
    match e.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref) {
        Some(inner) => is_rustls(inner),
        None => false,
    }
}

/// `Bearer <token>`, marked sensitive so it never shows in debug output.
fn bearer(token: &str) -> Option<reqwest::header::HeaderValue> {
    let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_errors_are_found_inside_io_errors() {
        use tokio_rustls::rustls::{CertificateError, Error as Rustls};
        let rustls = Rustls::InvalidCertificate(CertificateError::UnknownIssuer);
        let wrapped = std::io::Error::other(std::io::Error::new(std::io::ErrorKind::InvalidData, rustls));
        assert!(is_rustls(&wrapped));
        assert!(!is_rustls(&std::io::Error::from(std::io::ErrorKind::ConnectionRefused)));
        assert!(!is_rustls(&std::io::Error::other("not TLS")));
    }

    #[tokio::test]
    async fn a_failed_call_says_why() {
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let client = RunnerClient::new(None, None).unwrap();
        let control = TaskControl { task_id: hakuriver_model::TaskId(1), unit_name: String::new() };
        match client.control(&url, ControlCommand::Kill, &control).await {
            Err(RunnerError::NotListening(why)) => assert!(why.to_lowercase().contains("refused"), "{why}"),
            other => panic!("expected NotListening, got {other:?}"),
        }
    }
}
