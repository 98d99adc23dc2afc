//! Long operations on the host (create-tar, import): progress for the CLI and the dashboard, and
//! cancellation.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum OperationState {
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Operation {
    pub id: u64,
    /// `create_tar` or `import`.
    pub kind: String,
    /// The environment it works on.
    pub target: String,
    /// What it is doing now: `committing`, `saving`, `importing`, ...
    pub phase: String,
    pub bytes: u64,
    pub total_bytes: Option<u64>,
    pub percent: Option<f64>,
    pub state: OperationState,
    pub error: Option<String>,
    /// What it produced (e.g. `{"tarball_path": ...}`), once it succeeded.
    pub result: Option<serde_json::Value>,
}

/// The answer to a long request asked to run in the background (`?background=true`, or
/// `"background": true` in the body): 202 with the operation to follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OperationStarted {
    pub message: String,
    pub operation_id: u64,
}

/// The answer to a tarball save that was waited for (the original's `create_tar` answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TarballSaved {
    pub message: String,
    /// Where the tarball lies in shared storage.
    pub tarball_path: String,
}

/// `percent` from bytes done and an expected total (capped at 100 until the end).
pub fn percent(bytes: u64, total: Option<u64>) -> Option<f64> {
    total.filter(|t| *t > 0).map(|t| (bytes as f64 / t as f64 * 100.0).min(100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_is_capped_and_needs_a_total() {
        assert_eq!(percent(50, Some(200)), Some(25.0));
        assert_eq!(percent(300, Some(200)), Some(100.0));
        assert_eq!(percent(5, None), None);
        assert_eq!(percent(5, Some(0)), None);
    }
}
