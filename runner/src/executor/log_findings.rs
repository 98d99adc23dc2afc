//! What an ended task's logs tell its final report: why its program could not start, whether
//! the disk holding them was full, and how much output was dropped past `max_log_bytes`.

use hakuriver_model::protocol::LogBytesDropped;

use super::docker::TaskPaths;
use super::exec_helper;

/// Below this many free bytes, the file system holding a task's logs counts as full.
const FULL_BELOW: u64 = 64 * 1024;

/// What an ended task's logs tell its final report.
#[derive(Debug, Default)]
pub(super) struct LogFindings {
    /// Why the program could not start (exit 127: the helper's or shim's last line).
    start_failure: Option<String>,
    /// The task's logs are on a full file system: its writes there failed (a failed task's
    /// reason; a task that ignored the errors completed with a shorter log).
    storage_full: bool,
    /// Output dropped past the task's `max_log_bytes`.
    pub(super) dropped: Option<LogBytesDropped>,
}

impl LogFindings {
    /// `exit_code`: the task's, when it ran; `failed`: it ended `failed`.
    pub(super) fn read(paths: &TaskPaths, exit_code: Option<i64>, failed: bool, limit: Option<u64>) -> LogFindings {
        let start_failure = (failed && exit_code == Some(127))
            .then(|| exec_helper::tail_of(&paths.shared_dir, &paths.stderr, 1024).ok())
            .flatten()
            .and_then(|tail| exec_helper::start_failure(&tail));
        let storage_full = exit_code.is_some()
            && hakuriver_support::preflight::free_bytes(log_dir(paths)).is_ok_and(|free| free < FULL_BELOW);
        let dropped = limit
            .map(|limit| LogBytesDropped {
                stdout: exec_helper::dropped_past(&paths.shared_dir, &paths.stdout, limit),
                stderr: exec_helper::dropped_past(&paths.shared_dir, &paths.stderr, limit),
            })
            .filter(|d| *d != LogBytesDropped::default());
        LogFindings { start_failure, storage_full, dropped }
    }

    /// The final report's message, told what the logs show.
    pub(super) fn message(&self, message: Option<String>, paths: &TaskPaths) -> Option<String> {
        let message = self.start_failure.as_ref().map(|why| format!("Exited with code 127: {why}.")).or(message);
        if !self.storage_full {
            return message;
        }
        let full = format!(
            "No space left on device: the shared storage holding its logs ({}) is full.",
            log_dir(paths).display()
        );
        Some(match message {
            Some(m) => format!("{m} {full}"),
            None => full,
        })
    }
}

fn log_dir(paths: &TaskPaths) -> &std::path::Path {
    paths.stdout.parent().unwrap_or(&paths.shared_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> TaskPaths {
        TaskPaths {
            shared_dir: "/mnt/shared".into(),
            local_temp_dir: "/tmp".into(),
            stdout: "/mnt/shared/task_outputs/1.out".into(),
            stderr: "/mnt/shared/task_errors/1.err".into(),
        }
    }

    #[test]
    fn the_report_says_what_the_logs_show() {
        let exited = Some("Exited with code 1.".to_string());
        let nothing = LogFindings::default();
        assert_eq!(nothing.message(exited.clone(), &paths()), exited);
        let full = LogFindings { storage_full: true, ..LogFindings::default() };
        assert_eq!(
            full.message(exited.clone(), &paths()).unwrap(),
            "Exited with code 1. No space left on device: the shared storage holding its logs \
             (/mnt/shared/task_outputs) is full."
        );
        assert!(full.message(None, &paths()).unwrap().starts_with("No space left"), "a completed task says so too");
        let missing = LogFindings { start_failure: Some("cannot run x: No such file or directory".into()), ..nothing };
        assert_eq!(
            missing.message(Some("Exited with code 127.".into()), &paths()).unwrap(),
            "Exited with code 127: cannot run x: No such file or directory."
        );
    }
}
