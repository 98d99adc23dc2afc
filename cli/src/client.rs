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
    #[error("the host could not do it ({status}): {detail}")]
    HostFailed { status: u16, detail: String },
    #[error("unexpected answer from the host: {0}")]
    BadAnswer(String),
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    ca_pem: Option<Vec<u8>>,
    authorization: Option<reqwest::header::HeaderValue>,
}

impl Client {
    /// `ca_pem`: a CA certificate to trust for an HTTPS host, besides the system's roots.
    /// `token`: sent as `Authorization: Bearer` on every request and websocket.
    pub fn new(base: &str, ca_pem: Option<&[u8]>, token: Option<&str>) -> Result<Self, reqwest::Error> {
        let authorization = token.and_then(|t| {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {t}")).ok()?;
            value.set_sensitive(true);
            Some(value)
        });
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(value) = &authorization {
            headers.insert(reqwest::header::AUTHORIZATION, value.clone());
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30));
        if let Some(pem) = ca_pem {
            builder = builder.add_root_certificate(reqwest::Certificate::from_pem(pem)?);
        }
        Ok(Client {
            http: builder.build()?,
            base: base.trim_end_matches('/').to_string(),
            ca_pem: ca_pem.map(<[u8]>::to_vec),
            authorization,
        })
    }

    /// A websocket request for `url` carrying this client's token.
    pub fn websocket_request(
        &self,
        url: &str,
    ) -> Result<tokio_tungstenite::tungstenite::handshake::client::Request, String> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = url.into_client_request().map_err(|e| format!("bad websocket URL {url}: {e}"))?;
        if let Some(value) = &self.authorization {
            request.headers_mut().insert(reqwest::header::AUTHORIZATION, value.clone());
        }
        Ok(request)
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The TLS setup for websockets to the host: the system's roots (webpki) plus the CA the
    /// configuration names.
    pub fn websocket_tls(&self) -> Result<tokio_tungstenite::Connector, String> {
        let config =
            hakuriver_tls::client_config(self.ca_pem.as_deref()).map_err(|e| format!("network.tls_ca_file: {e}"))?;
        Ok(tokio_tungstenite::Connector::Rustls(config))
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let body = self.send(self.http.get(format!("{}{path}", self.base))).await?.1;
        serde_json::from_str(&body).map_err(|e| ClientError::BadAnswer(e.to_string()))
    }

    pub async fn get_query<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &impl serde::Serialize,
    ) -> Result<T, ClientError> {
        let body = self.send(self.http.get(format!("{}{path}", self.base)).query(query)).await?.1;
        serde_json::from_str(&body).map_err(|e| ClientError::BadAnswer(e.to_string()))
    }

    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &impl serde::Serialize) -> Result<T, ClientError> {
        let body = self.send(self.http.post(format!("{}{path}", self.base)).json(body)).await?.1;
        serde_json::from_str(&body).map_err(|e| ClientError::BadAnswer(e.to_string()))
    }

    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let body = self.send(self.http.delete(format!("{}{path}", self.base))).await?.1;
        serde_json::from_str(&body).map_err(|e| ClientError::BadAnswer(e.to_string()))
    }

    /// A streaming GET (server-sent events): the response once the host accepted it. No overall
    /// time limit, since such a stream lasts as long as what it follows.
    pub async fn stream(&self, path: &str) -> Result<reqwest::Response, ClientError> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .timeout(Duration::from_secs(60 * 60 * 24 * 365))
            .send()
            .await
            .map_err(|e| ClientError::Unreachable { url: self.base.clone(), reason: root_cause(&e) })?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body = response.text().await.map_err(|e| ClientError::BadAnswer(e.to_string()))?;
        Err(rejection(status, body))
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
            return Err(rejection(status, body));
        }
        Ok((headers, body))
    }
}

/// A non-success answer: 4xx is the host refusing (with its `detail`), the rest its failure.
fn rejection(status: reqwest::StatusCode, body: String) -> ClientError {
    let detail = serde_json::from_str::<ErrorDetail>(&body).map(|d| d.detail).unwrap_or(body);
    if status.is_client_error() {
        ClientError::Rejected { status: status.as_u16(), detail }
    } else {
        ClientError::HostFailed { status: status.as_u16(), detail }
    }
}

/// `text` as one URL path segment: a name typed by a user can never reach another path.
pub fn seg(text: &str) -> String {
    hakuriver_model::text::percent_encode(text)
}

/// The innermost error message (reqwest's own is "error sending request for url ...").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_cannot_leave_its_place() {
        assert_eq!(seg("node-1.lab"), "node-1.lab");
        assert_eq!(seg("../kill/1?x=é"), "..%2Fkill%2F1%3Fx%3D%C3%A9");
    }
}
