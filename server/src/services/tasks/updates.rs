//! A runner's status reports (`POST /api/update`): each goes through the one `transition`
//! function; a report about an ended task is answered with `ReplyCode::TaskFinal`.

use hakuriver_model::api::Message;
use hakuriver_model::protocol::TaskStatusUpdate;
use hakuriver_model::task::{revives, transition, Transition};
use hakuriver_model::{ReplyCode, TaskStatus, TaskType};

use super::TaskService;
use crate::db::tasks::{self as store, StatusChange};
use crate::services::{now_ms, ServiceError};

/// Whether a runner's reported VPS port could be one Docker published (an unprivileged port).
fn vps_port_plausible(port: u16) -> bool {
    port >= 1024
}

impl TaskService {
    /// A runner's report. Returns the `{"message"}` answer: a refusal carries its `code`.
    pub async fn apply_update(&self, update: TaskStatusUpdate) -> Result<Message, ServiceError> {
        let to = update.status;
        for _ in 0..3 {
            let Some(row) = store::get(&self.inner.pool, update.task_id).await? else {
                return Ok(Message::coded(ReplyCode::TaskUnknown, "Task ID not recognized"));
            };
            // The original runner reports `pending` when it accepts a task: an acknowledgement.
            if row.status == TaskStatus::Assigning && to == TaskStatus::Pending {
                return Ok(Message::new("Task status updated successfully."));
            }
            if revives(row.task_type, row.status, to) {
                self.revive(update.task_id).await?;
                continue;
            }
            if let Some(port) = update.ssh_port.filter(|_| row.task_type == TaskType::Vps && !row.status.is_final()) {
                // A port Docker publishes for a VPS is never a privileged one: a report naming one
                // would point the SSH proxy at a service of the node itself.
                if !vps_port_plausible(port) || row.assigned_node.is_none() {
                    tracing::warn!(task = %update.task_id, port, "ignored an implausible VPS ssh port");
                    return Err(ServiceError::Invalid(format!(
                        "ssh_port {port} is not a port Docker publishes for a VPS on its node"
                    )));
                }
                if row.ssh_port != Some(port) {
                    store::set_ssh_port(&self.inner.pool, update.task_id, port).await?;
                    self.publish(update.task_id).await;
                    tracing::info!(task = %update.task_id, port, "VPS ssh port");
                }
            }
            match transition(row.status, to) {
                Transition::Same if update.progress.is_some() && !to.is_final() => {
                    // What the runner is doing before the task starts (pulling its image).
                    self.set_progress(update.task_id, update.progress.clone());
                    self.publish(update.task_id).await;
                    return Ok(Message::new("Task progress noted."));
                }
                Transition::Same => return Ok(Message::new("Task status unchanged.")),
                Transition::Refused if row.status.is_final() => {
                    return Ok(Message::coded(ReplyCode::TaskFinal, "Task already in a final state"))
                }
                Transition::Refused => {
                    return Err(ServiceError::Invalid(format!("cannot move task from {} to {to}", row.status)));
                }
                Transition::Apply => {}
            }
            // It could not start on its node (it never ran): another attempt, if it has one.
            if row.status == TaskStatus::Assigning && to == TaskStatus::Failed {
                let why = format!("could not start: {}", update.message.as_deref().unwrap_or("no reason given"));
                if self.retry(&row, &why).await? {
                    return Ok(Message::new("Task queued again for its next attempt."));
                }
            }
            if let Some(dropped) = update.log_bytes_dropped.filter(|_| to.is_final()) {
                // Stored before the final status is published, so whoever sees it sees the count.
                store::set_log_bytes_dropped(&self.inner.pool, update.task_id, dropped).await?;
                tracing::info!(task = %update.task_id, stdout = dropped.stdout, stderr = dropped.stderr, "output dropped past paths.max_log_bytes");
            }
            if let Some(measured) = update.usage.filter(|_| to.is_final()) {
                store::set_measured_usage(&self.inner.pool, update.task_id, measured).await?;
            }
            let now = now_ms();
            let change = StatusChange {
                exit_code: update.exit_code,
                message: update.message.clone(),
                started_at_ms: (to == TaskStatus::Running).then_some(now),
                completed_at_ms: to.is_final().then_some(now),
            };
            if self.change_status(update.task_id, row.status, to, &change).await? {
                tracing::info!(task = %update.task_id, from = %row.status, to = %to, "task status");
                if !to.holds_resources() {
                    self.kick();
                }
                return Ok(Message::new("Task status updated successfully."));
            }
            // The task changed under us (a kill, a concurrent report): look again.
        }
        Err(ServiceError::Invalid("task status is changing too fast; retry".into()))
    }
}
