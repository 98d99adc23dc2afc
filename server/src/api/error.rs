//! How the REST door reports failure: a status code and `{"detail": "..."}`, always JSON.

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hakuriver_model::api::ErrorDetail;
use hakuriver_model::ReplyCode;
use serde::de::DeserializeOwned;

use crate::services::tasks::ControlError;
use crate::services::ServiceError;

#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    NotFound(String),
    Conflict(String),
    Unprocessable(String),
    Internal(String),
    /// A failure whose message the caller should see (a Docker or storage error in an operation).
    Failed(String),
    BadGateway(String),
    Unavailable(String),
    /// No credentials, or ones that do not hold (401).
    Unauthorized(String),
    /// Credentials that hold but do not allow this (403).
    Forbidden(String),
    /// A body over the limit (413).
    TooLarge(String),
    /// A write whose body is not JSON (415).
    UnsupportedMediaType(String),
    /// A request for a name this host does not answer to (421).
    Misdirected(String),
    /// Too many long-lived streams open (429).
    TooMany(String),
    /// Another refusal with the machine-readable `code` a runner or script matches on.
    Coded(ReplyCode, Box<ApiError>),
}

impl ApiError {
    pub fn coded(self, code: ReplyCode) -> Self {
        ApiError::Coded(code, Box::new(self))
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound(m) => ApiError::NotFound(m),
            ServiceError::NotRegistered => ApiError::NotFound(e.to_string()).coded(ReplyCode::NotRegistered),
            ServiceError::Invalid(m) => ApiError::Unprocessable(m),
            ServiceError::BadRequest(e) => ApiError::BadRequest(e.message),
            ServiceError::Conflict(m) => ApiError::Conflict(m),
            ServiceError::Forbidden(m) => ApiError::Forbidden(m),
            ServiceError::Denied(d) => ApiError::Forbidden(d.message),
            ServiceError::Db(e) => ApiError::Internal(e.to_string()),
            ServiceError::Io(m) | ServiceError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        match e {
            ControlError::NotFound(m) => ApiError::NotFound(m).coded(ReplyCode::TaskUnknown),
            ControlError::Final(m) => ApiError::Conflict(m).coded(ReplyCode::TaskFinal),
            ControlError::Conflict(m) => ApiError::Conflict(m),
            ControlError::BadState(m) => ApiError::BadRequest(m),
            ControlError::Runner(m) => ApiError::BadGateway(m),
            ControlError::Forbidden(m) => ApiError::Forbidden(m),
            ControlError::Service(e) => e.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, detail, code) = self.parts();
        (status, Json(ErrorDetail { detail, code })).into_response()
    }
}

impl ApiError {
    /// The status, the `detail` the caller sees, and the refusal's code.
    fn parts(self) -> (StatusCode, String, Option<ReplyCode>) {
        let (status, detail) = match self {
            ApiError::Coded(code, inner) => {
                let (status, detail, _) = inner.parts();
                return (status, detail, Some(code));
            }
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, m),
            ApiError::Unprocessable(m) => (StatusCode::UNPROCESSABLE_ENTITY, m),
            ApiError::Failed(m) => (StatusCode::INTERNAL_SERVER_ERROR, m),
            ApiError::BadGateway(m) => (StatusCode::BAD_GATEWAY, m),
            ApiError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m),
            ApiError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            ApiError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m),
            ApiError::UnsupportedMediaType(m) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, m),
            ApiError::Misdirected(m) => (StatusCode::MISDIRECTED_REQUEST, m),
            ApiError::TooMany(m) => (StatusCode::TOO_MANY_REQUESTS, m),
            ApiError::Internal(m) => {
                let id = crate::request_id::next();
                tracing::error!(request_id = %id, error = %m, "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, format!("internal error (request {id}); see the host log"))
            }
        };
        (status, detail, None)
    }
}

/// The largest request body the API reads (a batch of 10 000 tasks fits well below it).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// A JSON request body (the guard has already refused writes that are not JSON). Unlike
/// `axum::Json` it answers a malformed body with 422 and a `detail` naming the field.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge(format!("request body too large: at most {MAX_BODY_BYTES} bytes"))
            } else {
                ApiError::Unprocessable(format!("cannot read request body: {}", e.body_text()))
            }
        })?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(de).map(ApiJson).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." {
                ApiError::Unprocessable(format!("invalid request body: {inner}"))
            } else {
                ApiError::Unprocessable(format!("invalid request body: {path}: {inner}"))
            }
        })
    }
}

/// A query string, refused as the JSON bodies are (422 with a `detail` naming the field) rather
/// than with axum's plain-text 400.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(q) = Query::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::Unprocessable(format!("invalid query: {}", e.body_text())))?;
        Ok(ApiQuery(q))
    }
}

/// Path parameters, refused with 422 and a `detail` like every other input.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(p) = Path::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::Unprocessable(format!("invalid path: {}", e.body_text())))?;
        Ok(ApiPath(p))
    }
}
