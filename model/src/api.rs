//! Envelopes every REST answer uses, as in the original host: `{"message": ...}` on success,
//! `{"detail": ...}` on error.

use serde::{Deserialize, Serialize};

use crate::protocol::ReplyCode;

/// `{"message": "..."}`: the success envelope of runner-facing and control endpoints; `code`
/// (ours) says in a word what a reply that refuses something means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<ReplyCode>,
}

/// The original host's sentence for a report about an ended task, which it sends without a code.
const ORIGINAL_TASK_FINAL: &str = "Task already in a final state";

impl Message {
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), code: None }
    }

    pub fn coded(code: ReplyCode, message: impl Into<String>) -> Self {
        Self { message: message.into(), code: Some(code) }
    }

    /// Whether the reply says the task already ended: by its code, or (from an original host,
    /// which sends none) by that host's sentence.
    pub fn says_task_final(&self) -> bool {
        match self.code {
            Some(code) => code == ReplyCode::TaskFinal,
            None => self.message == ORIGINAL_TASK_FINAL,
        }
    }
}

/// `{"detail": "..."}`: the error envelope of every 4xx/5xx answer; `code` (ours) as in `Message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<ReplyCode>,
}

impl ErrorDetail {
    pub fn new(detail: impl Into<String>) -> Self {
        Self { detail: detail.into(), code: None }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_final_task_is_told_by_its_code_or_by_the_original_hosts_sentence() {
        assert!(Message::coded(ReplyCode::TaskFinal, "anything").says_task_final());
        assert!(!Message::coded(ReplyCode::TaskUnknown, ORIGINAL_TASK_FINAL).says_task_final());
        let original: Message = serde_json::from_str(r#"{"message": "Task already in a final state"}"#).unwrap();
        assert!(original.says_task_final());
        assert!(!Message::new("Task status updated successfully.").says_task_final());
        assert_eq!(serde_json::to_string(&Message::new("ok")).unwrap(), r#"{"message":"ok"}"#, "no code: none sent");
    }
}
