//! The runner's calls to the host: `POST /api/register` and `PUT /api/heartbeat/{hostname}`.

use std::time::Duration;

use hakuriver_model::api::{ErrorDetail, Message};
use hakuriver_model::protocol::TaskStatusUpdate;
use hakuriver_model::{HeartbeatData, ReplyCode, RunnerInfo};
use reqwest::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot reach the host at {url}: {source}")]
    Unreachable { url: String, source: reqwest::Error },
    #[error("host answered {status}: {detail}")]
    Rejected { status: StatusCode, detail: String, code: Option<ReplyCode> },
}

pub enum HeartbeatOutcome {
    Accepted,
    /// The host does not know this node (`not_registered`; an original host's plain 404):
    /// register again.
    NotRegistered,
}

#[derive(Clone)]
pub struct HostClient {
    http: reqwest::Client,
    base: String,
}

/// What the runner presents on every call: the runner token (when configured) and its identity.
pub struct Credentials<'a> {
    pub runner_token: Option<&'a str>,
    pub identity: &'a str,
}

impl HostClient {
    /// `ca_pem`: a CA certificate to trust for an HTTPS host, besides the system's roots.
    pub fn new(base: String, ca_pem: Option<&[u8]>, credentials: &Credentials<'_>) -> Result<Self, reqwest::Error> {
        let mut headers = reqwest::header::HeaderMap::new();
        let sensitive = |text: String| {
            reqwest::header::HeaderValue::from_str(&text).ok().map(|mut v| {
                v.set_sensitive(true);
                v
            })
        };
        if let Some(v) = credentials.runner_token.and_then(|t| sensitive(format!("Bearer {t}"))) {
            headers.insert(reqwest::header::AUTHORIZATION, v);
        }
        if let Some(v) = sensitive(credentials.identity.to_string()) {
            headers.insert(hakuriver_model::auth::RUNNER_IDENTITY_HEADER, v);
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15));
        if let Some(pem) = ca_pem {
            builder = builder.add_root_certificate(reqwest::Certificate::from_pem(pem)?);
        }
        Ok(HostClient { http: builder.build()?, base })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn register(&self, info: &RunnerInfo) -> Result<(), HostError> {
        let url = format!("{}/api/register", self.base);
        let response =
            self.http.post(&url).json(info).send().await.map_err(|source| HostError::Unreachable { url, source })?;
        check(response).await.map(drop)
    }

    pub async fn heartbeat(&self, hostname: &str, data: &HeartbeatData) -> Result<HeartbeatOutcome, HostError> {
        let url = format!("{}/api/heartbeat/{hostname}", self.base);
        let response =
            self.http.put(&url).json(data).send().await.map_err(|source| HostError::Unreachable { url, source })?;
        match check(response).await {
            Ok(_) => Ok(HeartbeatOutcome::Accepted),
            Err(HostError::Rejected { code: Some(ReplyCode::NotRegistered), .. })
            | Err(HostError::Rejected { status: StatusCode::NOT_FOUND, code: None, .. }) => {
                Ok(HeartbeatOutcome::NotRegistered)
            }
            Err(e) => Err(e),
        }
    }
}

impl HostClient {
    /// `POST /api/update`; returns the host's reply (its `code` says whether the task already
    /// ended).
    pub async fn update(&self, update: &TaskStatusUpdate) -> Result<Message, HostError> {
        let url = format!("{}/api/update", self.base);
        let response =
            self.http.post(&url).json(update).send().await.map_err(|source| HostError::Unreachable { url, source })?;
        let response = check(response).await?;
        Ok(response.json::<Message>().await.unwrap_or_else(|_| Message::new("")))
    }
}

async fn check(response: reqwest::Response) -> Result<reqwest::Response, HostError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    let (detail, code) = match serde_json::from_str::<ErrorDetail>(&body) {
        Ok(e) => (e.detail, e.code),
        Err(_) => (body, None),
    };
    Err(HostError::Rejected { status, detail, code })
}
