//! HTTP calls to the host, with the failures a script needs to tell apart.

use std::time::Duration;

use hakuriver_model::api::ErrorDetail;
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the host at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the host rejected the request ({status}): {detail}")]
    Rejected { status: u16, detail: String },
    #[error("the host failed ({status}): {detail}")]
    HostFailed { status: u16, detail: String },
    #[error("unexpected answer from the host: {0}")]
    BadAnswer(String),
}

pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    pub fn new(base: &str) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ClientError::BadAnswer(e.to_string()))?;
        Ok(Client { http, base: base.trim_end_matches('/').to_string() })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let body = self.send(self.http.get(format!("{}{path}", self.base))).await?.1;
        serde_json::from_str(&body).map_err(|e| ClientError::BadAnswer(e.to_string()))
    }

    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &impl serde::Serialize) -> Result<T, ClientError> {
        let body = self.send(self.http.post(format!("{}{path}", self.base)).json(body)).await?.1;
        serde_json::from_str(&body).map_err(|e| ClientError::BadAnswer(e.to_string()))
    }

    /// A log read: `(text, next offset)`.
    pub async fn log(&self, path: &str) -> Result<(String, Option<u64>), ClientError> {
        let (headers, body) = self.send(self.http.get(format!("{}{path}", self.base))).await?;
        let next = headers.get("x-next-offset").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
        Ok((body, next))
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(reqwest::header::HeaderMap, String), ClientError> {
        let response = request
            .send()
            .await
            .map_err(|e| ClientError::Unreachable { url: self.base.clone(), reason: root_cause(&e) })?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.map_err(|e| ClientError::BadAnswer(e.to_string()))?;
        if !status.is_success() {
            let detail = serde_json::from_str::<ErrorDetail>(&body).map(|d| d.detail).unwrap_or(body);
            return Err(if status.is_client_error() {
                ClientError::Rejected { status: status.as_u16(), detail }
            } else {
                ClientError::HostFailed { status: status.as_u16(), detail }
            });
        }
        Ok((headers, body))
    }
}

/// The innermost error message (reqwest's own is "error sending request for url ...").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}
