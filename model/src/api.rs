//! Envelopes every REST answer uses, as in the original host: `{"message": ...}` on success,
//! `{"detail": ...}` on error.

use serde::{Deserialize, Serialize};

/// `{"message": "..."}`: the success envelope of runner-facing and control endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub message: String,
}

impl Message {
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }
}

/// `{"detail": "..."}`: the error envelope of every 4xx/5xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub detail: String,
}

impl ErrorDetail {
    pub fn new(detail: impl Into<String>) -> Self {
        Self { detail: detail.into() }
    }
}

/// A request refused because of one field: the dashboard shows `message` next to `field` (the
/// request's JSON name, e.g. `targets`); the REST API sends `message` as its `detail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
