//! Exit codes, the contract with scripts (documented in docs/cli.md):
//! 0 success; 1 a task did not complete (`--wait`, `task wait`) or something else failed;
//! 2 usage or configuration error; 3 cannot reach the host; 4 the host rejected the request (4xx,
//! its `detail` printed); 130 interrupted (Ctrl-C while waiting: the tasks keep running).

use crate::client::ClientError;

pub const FAILED: u8 = 1;
pub const USAGE: u8 = 2;
pub const UNREACHABLE: u8 = 3;
pub const REJECTED: u8 = 4;
pub const INTERRUPTED: u8 = 130;

/// Why a command stopped, and the exit code that says so.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn new(code: u8, message: impl ToString) -> Failure {
        Failure { code, message: message.to_string() }
    }

    pub fn usage(message: impl ToString) -> Failure {
        Failure::new(USAGE, message)
    }

    pub fn failed(message: impl ToString) -> Failure {
        Failure::new(FAILED, message)
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        let code = match e {
            ClientError::Unreachable { .. } => UNREACHABLE,
            ClientError::Rejected { .. } => REJECTED,
            ClientError::HostFailed { .. } | ClientError::BadAnswer(_) => FAILED,
        };
        Failure::new(code, e)
    }
}

impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Self {
        Failure::failed(format!("cannot write JSON: {e}"))
    }
}

/// The code to exit with after several independent steps: the first failure's, else success.
pub fn first_failure(codes: impl IntoIterator<Item = u8>) -> u8 {
    codes.into_iter().find(|c| *c != 0).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_map_to_their_codes() {
        let code = |e: ClientError| Failure::from(e).code;
        assert_eq!(code(ClientError::Unreachable { url: "u".into(), reason: "r".into() }), 3);
        assert_eq!(code(ClientError::Rejected { status: 404, detail: "d".into() }), 4);
        assert_eq!(code(ClientError::HostFailed { status: 500, detail: "d".into() }), 1);
        assert_eq!(first_failure([0, 4, 1]), 4);
        assert_eq!(first_failure([0, 0]), 0);
    }
}
