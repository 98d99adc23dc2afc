//! Reading tasks: one task, a page of the list, views with their transient progress, counts.

use std::collections::{BTreeMap, HashMap};

use hakuriver_model::auth::Role;
use hakuriver_model::task::{TaskPage, TaskQuery};
use hakuriver_model::usage::{summarize, window_start, TaskUsage, UsageBy, UsageQuery, UsageReport, DEFAULT_SINCE};
use hakuriver_model::{TaskId, TaskStatus, TaskView};

use super::TaskService;
use crate::db::task_queue as queue;
use crate::db::tasks::{self as store, TaskFilter, TaskRow};
use crate::services::{local_time, now_ms, ServiceError};

/// The store's filter for a list query: `task_type` defaults to `command`, the limit to
/// `default_limit` (at most `max_limit`).
pub fn filter_of(q: &TaskQuery, default_limit: u32, max_limit: u32) -> Result<TaskFilter, ServiceError> {
    let id = |raw: &str| raw.parse::<TaskId>().map_err(|e| ServiceError::Invalid(e.to_string()));
    let statuses = match &q.status {
        Some(list) => list
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<TaskStatus>().map_err(ServiceError::Invalid))
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    Ok(TaskFilter {
        task_type: Some(q.task_type.clone().unwrap_or_else(|| "command".into())),
        statuses,
        node: q.node.clone().filter(|n| !n.is_empty()),
        batch: q.batch.as_deref().filter(|b| !b.is_empty()).map(id).transpose()?,
        text: q.q.clone().filter(|q| !q.is_empty()),
        name: q.name.clone().filter(|n| !n.is_empty()),
        before: q.cursor.as_deref().filter(|c| !c.is_empty()).map(id).transpose()?,
        limit: q.limit.unwrap_or(default_limit).clamp(1, max_limit),
    })
}

/// Default and largest page of the task list.
const DEFAULT_PAGE: u32 = 100;

const MAX_PAGE: u32 = 1000;

impl TaskService {
    /// What `role` may ask for in a submit, as the dashboard's forms offer it.
    pub fn allowed(&self, role: Role) -> hakuriver_model::policy::Allowed {
        let defaults = &self.inner.defaults;
        defaults.policy.allowed(role, &defaults.additional_mounts)
    }

    pub async fn get(&self, id: TaskId) -> Result<TaskView, ServiceError> {
        let row = store::get(&self.inner.pool, id)
            .await?
            .ok_or_else(|| ServiceError::NotFound("Task id not found".into()))?;
        Ok(self.view(&row))
    }

    /// One page of the task list for `q` (`/api/tasks/page` and the dashboard).
    pub async fn page(&self, q: &TaskQuery) -> Result<TaskPage, ServiceError> {
        let filter = filter_of(q, DEFAULT_PAGE, MAX_PAGE)?;
        let tasks = self.list(&filter).await?;
        let next_cursor = (tasks.len() == filter.limit as usize).then(|| tasks.last().map(|t| t.task_id)).flatten();
        Ok(TaskPage { tasks, next_cursor })
    }

    pub async fn list(&self, filter: &TaskFilter) -> Result<Vec<TaskView>, ServiceError> {
        Ok(store::list(&self.inner.pool, filter).await?.iter().map(|r| self.view(r)).collect())
    }

    pub fn view(&self, t: &TaskRow) -> TaskView {
        let (stdout, stderr) = self.log_paths(t.task_id);
        TaskView {
            task_id: t.task_id,
            batch_id: t.batch_id,
            task_type: t.task_type,
            command: t.command.clone(),
            arguments: t.arguments.clone(),
            env_vars: t.env_vars.clone(),
            required_cores: t.required_cores,
            required_gpus: t.required_gpus.clone(),
            required_memory_bytes: t.required_memory_bytes,
            status: t.status,
            assigned_node: t.assigned_node.clone(),
            target_numa_node_id: t.target_numa_node_id,
            stdout_path: stdout.display().to_string(),
            stderr_path: stderr.display().to_string(),
            exit_code: t.exit_code,
            error_message: t.error_message.clone(),
            submitted_at: local_time(t.submitted_at_ms),
            started_at: t.started_at_ms.and_then(local_time),
            completed_at: t.completed_at_ms.and_then(local_time),
            systemd_unit_name: format!("hakuriver-task-{}.scope", t.task_id),
            assignment_suspicion_count: t.assignment_suspicion_count,
            container_name: Some(t.container_name.clone()),
            privileged: t.privileged,
            additional_mounts: t.additional_mounts.clone(),
            ssh_port: t.ssh_port,
            owner: t.owner.clone(),
            log_bytes_dropped: t.log_bytes_dropped,
            image: t.image.clone(),
            // Only while it waits to start (a kill or a lost node may have moved it on).
            progress: (t.status == TaskStatus::Assigning).then(|| self.progress_of(t.task_id)).flatten(),
            name: t.name.clone(),
            time_limit_seconds: t.time_limit_seconds,
            depends_on: t.depends_on.clone(),
            dependency: t.dependency,
            pending_reason: (t.status == TaskStatus::Pending).then(|| self.pending_reason_of(t.task_id)),
            retries: t.retries,
            attempt: t.attempt,
            priority: t.priority,
            usage: match (t.started_at_ms, t.completed_at_ms) {
                (Some(started), Some(ended)) if t.status.is_final() => {
                    Some(TaskUsage::of(started, ended, t.required_gpus.len(), t.measured))
                }
                _ => None,
            },
        }
    }

    /// Why a pending task waits, as the last pass found (a task submitted since: not yet seen).
    fn pending_reason_of(&self, id: TaskId) -> String {
        let reasons = self.inner.pending_reasons.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        reasons.get(&id).cloned().unwrap_or_else(|| "Queued: waiting for the scheduler's next pass".into())
    }

    pub(super) fn progress_of(&self, id: TaskId) -> Option<String> {
        self.inner.progress.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&id).cloned()
    }

    pub(super) fn set_progress(&self, id: TaskId, progress: Option<String>) {
        let mut map = self.inner.progress.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match progress {
            Some(text) => map.insert(id, text),
            None => map.remove(&id),
        };
    }

    /// The node a task was placed on, if any.
    pub async fn assigned_node(&self, id: TaskId) -> Result<Option<String>, ServiceError> {
        Ok(store::get(&self.inner.pool, id).await?.and_then(|t| t.assigned_node))
    }

    /// Command tasks per status.
    pub async fn counts(&self) -> Result<BTreeMap<String, u64>, ServiceError> {
        let rows = store::count_by_status(&self.inner.pool, "command").await?;
        Ok(rows.into_iter().map(|(status, n)| (status, u64::try_from(n).unwrap_or(0))).collect())
    }

    /// Usage per user or node over a window (`GET /api/usage`, `hakuriver usage`).
    pub async fn usage_report(&self, q: &UsageQuery) -> Result<UsageReport, ServiceError> {
        let now = now_ms();
        let since = window_start(q.since.as_deref().unwrap_or(DEFAULT_SINCE), now).map_err(ServiceError::Invalid)?;
        let by: UsageBy = q.by.as_deref().unwrap_or("user").parse().map_err(ServiceError::Invalid)?;
        let mut db = self.inner.pool.acquire().await.map_err(super::db)?;
        let records = crate::db::usage::records(&mut db, since).await?;
        Ok(summarize(&records, by, since, now))
    }

    pub async fn cores_in_use(&self) -> Result<HashMap<String, u32>, ServiceError> {
        Ok(queue::cores_in_use(&self.inner.pool).await?)
    }
}
