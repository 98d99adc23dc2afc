//! The few `--json` shapes that are the command line's own (everything else prints the API's
//! types from `hakuriver-model` as the host sent them). Listed, with examples, in docs/cli.md.

use hakuriver_model::task::SubmitResponse;
use hakuriver_model::TaskView;
use serde::Serialize;

/// `task|vps kill|pause|resume --json`: one per task, in the order given.
#[derive(Debug, Serialize)]
pub struct Acted {
    pub task_id: String,
    /// The host's answer (`Message.message`).
    pub message: String,
}

/// `task submit --wait --json`: the submit answer and every task as it ended.
#[derive(Debug, Serialize)]
pub struct SubmittedAndWaited {
    pub submitted: SubmitResponse,
    pub tasks: Vec<TaskView>,
}

/// `task logs --json`: one per task (per piece, as JSON lines, with `--follow`).
#[derive(Debug, Serialize)]
pub struct TaskLog {
    pub task_id: String,
    /// `stdout` or `stderr`.
    pub stream: &'static str,
    pub text: String,
}

/// `sweep --json` (the plan) and `sweep --local --json` (with how each run ended).
#[derive(Debug, Serialize)]
pub struct SweepRun {
    /// The command line of this combination, program first.
    pub argv: Vec<String>,
    /// The exit code once run (`null` when not run, or ended by a signal).
    pub exit_code: Option<i32>,
}
