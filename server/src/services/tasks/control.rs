//! What users ask of tasks: kill (any unfinished task), pause and resume, and a VPS's stop
//! (container and disk kept) and start (queued again for its node).

use hakuriver_model::auth::Actor;
use hakuriver_model::protocol::TaskControl;
use hakuriver_model::{ControlCommand, TaskId, TaskStatus, TaskType};

use super::TaskService;
use crate::db::nodes as node_store;
use crate::db::tasks::{self as store, StatusChange, TaskRow};
use crate::services::{now_ms, ServiceError};

/// Users control their own tasks; operators and admins every task.
pub(super) fn may_control(actor: &Actor, row: &TaskRow) -> Result<(), ControlError> {
    if actor.may_control(row.owner.as_deref()) {
        return Ok(());
    }
    Err(ControlError::Forbidden(format!(
        "Task {} belongs to {}; only its owner, an operator or an admin may control it.",
        row.task_id,
        row.owner.as_deref().unwrap_or("nobody")
    )))
}

/// Why an outcome of a control request failed, for the door to map.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The task already ended.
    #[error("{0}")]
    Final(String),
    #[error("{0}")]
    BadState(String),
    #[error("{0}")]
    Runner(String),
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<crate::db::DbError> for ControlError {
    fn from(e: crate::db::DbError) -> Self {
        ControlError::Service(ServiceError::Db(e))
    }
}

impl TaskService {
    pub async fn kill(&self, id: TaskId, actor: &Actor) -> Result<String, ControlError> {
        loop {
            let row = store::get(&self.inner.pool, id)
                .await?
                .ok_or_else(|| ControlError::NotFound("Task not found.".into()))?;
            may_control(actor, &row)?;
            if row.status.is_final() {
                return Err(ControlError::Final(format!("Task cannot be killed (state: {})", row.status)));
            }
            let change = StatusChange {
                exit_code: Some(-9),
                message: Some("Kill requested by user.".into()),
                completed_at_ms: Some(now_ms()),
                ..Default::default()
            };
            if !self.change_status(id, row.status, TaskStatus::Killed, &change).await? {
                continue;
            }
            tracing::info!(task = %id, from = %row.status, "task killed");
            if row.status != TaskStatus::Pending {
                self.stop_on_runner(&row).await?;
            }
            self.kick();
            return Ok(format!("Kill requested for task {id}. Task marked as killed."));
        }
    }

    /// `pause` or `resume` (any task), `stop` or `start` (a VPS, its disk kept): asks the runner,
    /// and records the new status once it confirms. `start` asks no runner: the VPS is queued
    /// again for its node, and its runner starts the kept container when it is dispatched.
    pub async fn control(&self, id: TaskId, command: ControlCommand, actor: &Actor) -> Result<String, ControlError> {
        if command == ControlCommand::Kill {
            return self.kill(id, actor).await;
        }
        let row = store::get(&self.inner.pool, id)
            .await?
            .ok_or_else(|| ControlError::NotFound("Task id not found".into()))?;
        may_control(actor, &row)?;
        let vps = row.task_type == TaskType::Vps;
        let (from, to, word) = match (command, row.status) {
            (ControlCommand::Pause, TaskStatus::Running) => (TaskStatus::Running, TaskStatus::Paused, "Pause"),
            (ControlCommand::Resume, TaskStatus::Paused) => (TaskStatus::Paused, TaskStatus::Running, "Resume"),
            (ControlCommand::Stop, TaskStatus::Running | TaskStatus::Paused) if vps => {
                (row.status, TaskStatus::ShutOff, "Stop")
            }
            (ControlCommand::Start, TaskStatus::ShutOff) if vps => return self.start_vps(&row).await,
            (ControlCommand::Stop | ControlCommand::Start, _) if !vps => {
                return Err(ControlError::BadState(format!(
                    "Task {id} is not a VPS: only a VPS is stopped and started"
                )))
            }
            _ => {
                return Err(ControlError::BadState(format!(
                    "Invalid command or task state: {command} for {}",
                    row.status
                )))
            }
        };
        let node =
            self.node_of(&row).await?.ok_or_else(|| ControlError::BadState("Task has no assigned node".into()))?;
        let control = TaskControl { task_id: id, unit_name: format!("hakuriver-task-{id}.scope") };
        self.inner
            .runners
            .control(&node.url, command, &control)
            .await
            .map_err(|e| ControlError::Runner(e.to_string()))?;
        self.change_status(id, from, to, &StatusChange::default()).await?;
        if to == TaskStatus::ShutOff {
            self.kick();
        }
        Ok(format!("{word} for task {id} sent to runner: {word} command sent successfully."))
    }

    /// A stopped VPS back in the queue, pinned to the node that keeps its disk.
    pub(super) async fn start_vps(&self, row: &TaskRow) -> Result<String, ControlError> {
        let node =
            row.assigned_node.clone().ok_or_else(|| ControlError::BadState("Task has no assigned node".into()))?;
        if !store::requeue_shut_off(&self.inner.pool, row.task_id, &node).await? {
            return Err(ControlError::BadState(format!("VPS {} is no longer shut off", row.task_id)));
        }
        tracing::info!(task = %row.task_id, node, "VPS queued to start again on its node");
        self.publish(row.task_id).await;
        self.kick();
        Ok(format!("Start for VPS {} queued: it starts on {node} when the node has room.", row.task_id))
    }

    /// Asks the runner of `row`'s node to kill it, in the background (the host has recorded its
    /// end already).
    pub(super) async fn stop_on_runner(&self, row: &TaskRow) -> Result<(), ServiceError> {
        if let Some(node) = self.node_of(row).await? {
            self.stop_on(&node, row.task_id);
        }
        Ok(())
    }

    /// Asks `node`'s runner to kill task `id`, in the background.
    pub(super) fn stop_on(&self, node: &node_store::NodeRow, id: TaskId) {
        let (this, node) = (self.clone(), node.clone());
        tokio::spawn(async move {
            let control = TaskControl { task_id: id, unit_name: format!("hakuriver-task-{id}.scope") };
            if let Err(e) = this.inner.runners.control(&node.url, ControlCommand::Kill, &control).await {
                tracing::warn!(task = %id, node = node.hostname, error = %e, "runner did not confirm the kill");
            }
        });
    }

    /// Queues a command task again as its next attempt when its attempt ended without running to
    /// its own end (`why`: its node lost, it could not start) and it has retries left. Whether it
    /// was queued again.
    pub(super) async fn retry(&self, row: &TaskRow, why: &str) -> Result<bool, ServiceError> {
        if row.task_type != TaskType::Command || row.attempt > row.retries {
            return Ok(false);
        }
        let note = format!(
            "Attempt {} ended: {why}; queued again (attempt {} of {}).",
            row.attempt,
            row.attempt + 1,
            row.retries + 1
        );
        if !store::requeue_attempt(&self.inner.pool, row.task_id, row.status, &note).await? {
            return Ok(false);
        }
        tracing::info!(task = %row.task_id, attempt = row.attempt + 1, why, "task queued again");
        self.set_progress(row.task_id, None);
        self.publish(row.task_id).await;
        self.kick();
        Ok(true)
    }

    pub(super) async fn node_of(&self, row: &TaskRow) -> Result<Option<node_store::NodeRow>, ServiceError> {
        match &row.assigned_node {
            Some(name) => Ok(node_store::get(&self.inner.pool, name).await?),
            None => Ok(None),
        }
    }
}
