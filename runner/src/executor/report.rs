//! Reporting to the host: a status while the task runs (tried a few times), and its end (tried
//! until the host has it, before the task is forgotten and its container removed). The host's
//! reply says by its code whether the task already ended there.

use std::time::Duration;

use hakuriver_model::api::Message;
use hakuriver_model::protocol::TaskStatusUpdate;
use hakuriver_model::{TaskId, TaskStatus};

use super::log_findings::LogFindings;
use super::{Executor, Outcome, Tracked};
use crate::backoff::Backoff;
use crate::host_client::HostError;

/// How often a status report that is not final is tried before it is given up.
const REPORT_TRIES: u32 = 5;

/// The longest wait between two tries of a status report.
const FINAL_REPORT_MAX_DELAY: Duration = Duration::from_secs(10);

/// A status report with no times or port: the host stamps the times itself.
pub(super) fn status_update(
    id: TaskId,
    status: TaskStatus,
    exit_code: Option<i64>,
    message: Option<String>,
) -> TaskStatusUpdate {
    TaskStatusUpdate {
        task_id: id,
        status,
        exit_code,
        message,
        started_at: None,
        completed_at: None,
        ssh_port: None,
        log_bytes_dropped: None,
        progress: None,
        usage: None,
    }
}

impl Executor {
    /// Reports a task's end, then stops tracking it: until the host has the report, heartbeats
    /// keep listing the task, so a host slow to answer never takes it for vanished. The report
    /// is repeated (growing delays, up to `FINAL_REPORT_MAX_DELAY`) for as long as the host
    /// cannot be reached or fails; only then is the task's container removed, so a runner killed
    /// before the host heard the end leaves the container for its successor to find and report.
    pub(super) async fn conclude(&self, id: TaskId, (status, exit_code, message): Outcome) {
        let (limit, usage) = self.table.lock().await.tasks.get(&id).map(|t| (t.log_limit, t.usage)).unwrap_or_default();
        let paths = self.paths(id);
        let failed = status == TaskStatus::Failed;
        let findings = {
            let paths = paths.clone();
            tokio::task::spawn_blocking(move || LogFindings::read(&paths, exit_code, failed, limit))
                .await
                .unwrap_or_default()
        };
        let message = findings.message(message, &paths);
        tracing::info!(task = %id, %status, exit_code, message = message.as_deref().unwrap_or(""), "task ended");
        let mut update = status_update(id, status, exit_code, message);
        update.log_bytes_dropped = findings.dropped;
        update.usage = usage;
        let mut backoff = Backoff::new(Duration::from_millis(500), FINAL_REPORT_MAX_DELAY);
        loop {
            match self.host.update(&update).await {
                Err(HostError::Unreachable { .. }) => {}
                Err(HostError::Rejected { status: answer, .. }) if answer.is_server_error() => {}
                // Delivered, or refused for good (the host does not know the task).
                _ => break,
            }
            tracing::warn!(task = %id, %status, "final status report not delivered; trying again");
            tokio::time::sleep(backoff.next_delay()).await;
        }
        let tracked = self.table.lock().await.tasks.remove(&id);
        if let (Some(Tracked { container: Some(name), vps: false, .. }), Some(docker)) = (tracked, &self.docker) {
            if !self.remove_container(docker, &name).await {
                tracing::warn!(task = %id, container = name, "the container could not be removed");
            }
        }
    }

    pub(super) async fn report(
        &self,
        id: TaskId,
        status: TaskStatus,
        exit_code: Option<i64>,
        message: Option<String>,
    ) -> Option<Message> {
        self.send_report(status_update(id, status, exit_code, message)).await
    }

    /// A VPS's report: its status and published sshd port.
    pub(super) async fn report_with_port(
        &self,
        id: TaskId,
        status: TaskStatus,
        ssh_port: Option<u16>,
    ) -> Option<Message> {
        self.send_report(TaskStatusUpdate { ssh_port, ..status_update(id, status, None, None) }).await
    }

    /// Sends a report, trying up to `REPORT_TRIES` times; the host's reply, none if it never came.
    pub(super) async fn send_report(&self, update: TaskStatusUpdate) -> Option<Message> {
        let (id, status) = (update.task_id, update.status);
        if status == TaskStatus::Running {
            self.arm_time_limit(id).await;
        }
        let mut backoff = Backoff::new(Duration::from_millis(500), FINAL_REPORT_MAX_DELAY);
        for _ in 0..REPORT_TRIES {
            match self.host.update(&update).await {
                Ok(reply) => return Some(reply),
                Err(e) => {
                    tracing::warn!(task = %id, %status, error = %e, "status report failed");
                    tokio::time::sleep(backoff.next_delay()).await;
                }
            }
        }
        None
    }
}
