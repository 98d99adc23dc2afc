//! The host's calls to runners: `/run`, `/kill`, `/pause`, `/resume`.

use std::time::Duration;

use hakuriver_model::task::{TaskControl, TaskInfo};

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

#[derive(Clone)]
pub struct RunnerClient {
    http: reqwest::Client,
}

impl RunnerClient {
    /// A client that presents `runner_token` (when set) on every call, as runners require.
    pub fn new(runner_token: Option<&str>) -> Result<Self, reqwest::Error> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(value) = runner_token.and_then(bearer) {
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(RunnerClient { http })
    }

    pub async fn run(&self, runner_url: &str, info: &TaskInfo) -> Result<(), RunnerError> {
        self.post(runner_url, "run", info).await
    }

    /// `action` is `kill`, `pause` or `resume`.
    pub async fn control(&self, runner_url: &str, action: &str, control: &TaskControl) -> Result<(), RunnerError> {
        self.post(runner_url, action, control).await
    }

    /// The websocket request for a task's terminal on its runner, carrying the runner token.
    pub fn terminal_request(
        url: &str,
        runner_token: Option<&str>,
    ) -> Result<tokio_tungstenite::tungstenite::handshake::client::Request, tokio_tungstenite::tungstenite::Error> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = url.into_client_request()?;
        if let Some(value) = runner_token.and_then(bearer) {
            request.headers_mut().insert(reqwest::header::AUTHORIZATION, value);
        }
        Ok(request)
    }

    async fn post<T: serde::Serialize>(&self, base: &str, path: &str, body: &T) -> Result<(), RunnerError> {
        let url = format!("{}/{path}", base.trim_end_matches('/'));
        let response = self.http.post(&url).json(body).send().await.map_err(|e| {
            if e.is_connect() {
                RunnerError::NotListening(e.to_string())
            } else {
                RunnerError::Unreachable(e.to_string())
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

/// `Bearer <token>`, marked sensitive so it never shows in debug output.
fn bearer(token: &str) -> Option<reqwest::header::HeaderValue> {
    let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}
