//! The host's calls to runners: `/run`, `/kill`, `/pause`, `/resume`.

use std::time::Duration;

use hakuriver_model::task::{TaskControl, TaskInfo};

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("Failed to contact runner: {0}")]
    Unreachable(String),
    #[error("Runner rejected the request: {status} - {body}")]
    Rejected { status: u16, body: String },
}

#[derive(Clone)]
pub struct RunnerClient {
    http: reqwest::Client,
}

impl RunnerClient {
    pub fn new() -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
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

    async fn post<T: serde::Serialize>(&self, base: &str, path: &str, body: &T) -> Result<(), RunnerError> {
        let url = format!("{}/{path}", base.trim_end_matches('/'));
        let response =
            self.http.post(&url).json(body).send().await.map_err(|e| RunnerError::Unreachable(e.to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err(RunnerError::Rejected { status: status.as_u16(), body })
    }
}
