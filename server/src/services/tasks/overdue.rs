//! The host's side of time limits: a runner stops a task at its limit (SIGTERM, the grace, then
//! SIGKILL) and reports `timeout`. A task still running well past its limit and grace (its
//! runner predates time limits, or restarted and adopted it without its limit) is ended by the
//! host: recorded `timeout` and killed on its runner.

use hakuriver_model::span::Span;
use hakuriver_model::{TaskId, TaskStatus};

use super::TaskService;
use crate::db::tasks::{StatusChange, TaskRow};
use crate::services::{now_ms, ServiceError};

/// How long past its limit and grace the host waits for the runner's own report.
pub(super) const SLACK_MS: i64 = 60_000;

/// Whether `task` has run past its time limit, its grace and the slack.
pub(super) fn overdue(task: &TaskRow, now_ms: i64, grace_ms: i64) -> bool {
    let (Some(limit), Some(started)) = (task.time_limit_seconds, task.started_at_ms) else { return false };
    let limit_ms = i64::try_from(limit).unwrap_or(i64::MAX / 2_000).saturating_mul(1_000);
    matches!(task.status, TaskStatus::Running | TaskStatus::Paused)
        && now_ms > started.saturating_add(limit_ms).saturating_add(grace_ms).saturating_add(SLACK_MS)
}

impl TaskService {
    /// Ends the tasks of `active` that are overdue (see the module); the ids it ended.
    pub(super) async fn end_overdue(&self, active: &[TaskRow]) -> Result<Vec<TaskId>, ServiceError> {
        let mut ended = Vec::new();
        let grace_ms = i64::try_from(self.inner.defaults.limits.kill_grace.0).unwrap_or(0).saturating_mul(1_000);
        let now = now_ms();
        for task in active.iter().filter(|t| overdue(t, now, grace_ms)) {
            let limit = Span(task.time_limit_seconds.unwrap_or_default());
            let change = StatusChange {
                exit_code: Some(-9),
                message: Some(format!(
                    "Time limit of {limit} reached; its runner did not stop it, so the host ended it."
                )),
                completed_at_ms: Some(now),
                ..Default::default()
            };
            if self.change_status(task.task_id, task.status, TaskStatus::Timeout, &change).await? {
                tracing::warn!(task = %task.task_id, %limit, "task overdue: ended by the host");
                self.stop_on_runner(task).await?;
                self.kick();
                ended.push(task.task_id);
            }
        }
        Ok(ended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_running_task_past_limit_grace_and_slack_is_overdue() {
        let mut t = crate::services::tasks::tests_support::row(TaskStatus::Running);
        t.started_at_ms = Some(1_000);
        assert!(!overdue(&t, 10_000_000, 0), "no limit: never");
        t.time_limit_seconds = Some(60);
        let end = 1_000 + 60_000 + 30_000 + SLACK_MS;
        assert!(!overdue(&t, end, 30_000));
        assert!(overdue(&t, end + 1, 30_000));
        t.status = TaskStatus::Paused;
        assert!(overdue(&t, end + 1, 30_000), "a paused task's clock runs too");
        t.status = TaskStatus::Assigning;
        assert!(!overdue(&t, end + 1, 30_000), "not started");
        t.status = TaskStatus::Running;
        t.time_limit_seconds = Some(u64::MAX);
        assert!(!overdue(&t, 4_000_000_000_000, 30_000), "no overflow: a limit past any date");
    }
}
