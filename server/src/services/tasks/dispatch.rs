//! A scheduling pass: the queue and the nodes' capacity read, `queue::plan` applied as
//! compare-and-set writes, and each placed task sent to its runner (retried while the runner
//! restarts, failed with the reason when it cannot be reached).

use std::sync::Arc;
use std::time::Duration;

use hakuriver_model::protocol::TaskInfo;
use hakuriver_model::task::{env_image, NO_CONTAINER};
use hakuriver_model::{NodeStatus, TaskId, TaskStatus};

use std::collections::HashMap;

use super::priority;
use super::queue::{capacity_of, plan, Context, Plan};
use super::{db, TaskService};
use crate::db::nodes as node_store;
use crate::db::task_queue::{self as queue, PendingFingerprint};
use crate::db::tasks::{self as store, StatusChange, TaskRow};
use crate::scheduler::NodeCapacity;
use crate::services::runner_client::RunnerError;
use crate::services::{now_ms, ServiceError};

/// Each node's capacity and what is reserved on it now.
pub(super) async fn capacities(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
) -> Result<Vec<(NodeCapacity, node_store::NodeRow)>, ServiceError> {
    let nodes: Vec<node_store::NodeRow> = node_store::list(&mut **tx).await?;
    let mut usage = queue::usage(tx).await?;
    Ok(nodes
        .into_iter()
        .map(|n| {
            let (cores, memory, gpus) = usage.remove(&n.hostname).unwrap_or_default();
            let cap = NodeCapacity {
                online: n.status == NodeStatus::Online,
                used_cores: cores,
                used_memory_bytes: memory,
                used_gpus: gpus,
                ..capacity_of(&n)
            };
            (cap, n)
        })
        .collect())
}

/// What a scheduling pass did.
pub(super) struct Pass {
    /// Tasks placed now, with their node (to dispatch).
    pub(super) placed: Vec<(TaskRow, node_store::NodeRow)>,
    /// Queued tasks that can no longer run as asked, failed with the reason.
    pub(super) failed: Vec<TaskId>,
}

/// Writes a plan: each change is a compare-and-set from `pending`, so a task killed meanwhile
/// stays killed.
/// The plan's tasks leave the kept pending rows first: whether or not a write below
/// happens, the next pass reads them again if they are still pending.
pub(super) async fn apply(
    service: &TaskService,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    plan: Plan,
) -> Result<Pass, ServiceError> {
    service
        .kept_rows()
        .forget(plan.assign.iter().map(|(t, _, _)| t.task_id).chain(plan.fail.iter().map(|(id, _)| *id)));
    let now = now_ms();
    let mut pass = Pass { placed: Vec::new(), failed: Vec::new() };
    for (mut task, node, gpus) in plan.assign {
        if queue::assign(tx, task.task_id, &node.hostname, &gpus, now).await? {
            task.status = TaskStatus::Assigning;
            task.assigned_node = Some(node.hostname.clone());
            task.required_gpus = gpus;
            pass.placed.push((task, node));
        }
    }
    for (id, reason) in plan.fail {
        let change = StatusChange { message: Some(reason), completed_at_ms: Some(now), ..Default::default() };
        if store::change_status_in(tx, id, TaskStatus::Pending, TaskStatus::Failed, &change).await? {
            pass.failed.push(id);
        }
    }
    Ok(pass)
}

/// Reads the queue and the nodes' capacity, and plans.
impl TaskService {
    /// Each owner's decayed usage in core-seconds (a task without cores counts one), read again
    /// when older than `USAGE_REFRESH_MS`.
    async fn usage(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        now: i64,
    ) -> Result<HashMap<String, f64>, ServiceError> {
        let cached = self.inner.usage.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        if let Some((_, usage)) = cached.filter(|(at, _)| now - at < USAGE_REFRESH_MS) {
            return Ok(usage);
        }
        let half_life = i64::try_from(self.inner.defaults.limits.fair_share_half_life.0)
            .unwrap_or(i64::MAX / 1_000)
            .saturating_mul(1_000);
        let mut usage: HashMap<String, f64> = HashMap::new();
        for run in crate::db::usage::records(tx, now.saturating_sub(half_life.saturating_mul(5))).await? {
            let Some(owner) = run.owner else { continue };
            let end = run.ended_ms.unwrap_or(now);
            let core_seconds = f64::from(run.cores.max(1)) * (end - run.started_ms).max(0) as f64 / 1_000.0;
            *usage.entry(owner).or_default() += priority::decayed(core_seconds, now - end, half_life);
        }
        *self.inner.usage.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((now, usage.clone()));
        Ok(usage)
    }
}

impl TaskService {
    /// The pending tasks in submission order: their ids (kept while the pending set's fingerprint
    /// holds), the rows of those not kept from earlier passes read and kept (`pending_rows`).
    async fn pending(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<Vec<Arc<TaskRow>>, ServiceError> {
        let print = queue::pending_fingerprint(tx).await?;
        let now = std::time::Instant::now();
        let kept = self.kept_rows().fresh_keys(now);
        let keys = match kept {
            // The same pending set: every row that could be read is kept already.
            Some(keys) if PendingFingerprint::of(&keys) == print => return Ok(self.kept_rows().in_order(&keys)),
            // New submits only, as a rule: the ids above the largest kept one complete the set.
            Some(mut keys) => {
                let after = keys.last().map_or(TaskId(0), |&(id, _)| id);
                keys.extend(queue::pending_keys(tx, after).await?);
                if PendingFingerprint::of(&keys) == print {
                    self.kept_rows().extend_keys(keys.clone());
                    keys
                } else {
                    self.read_every_key(tx, now).await?
                }
            }
            None => self.read_every_key(tx, now).await?,
        };
        let missing = self.kept_rows().missing(&keys);
        if !missing.is_empty() {
            let rows = queue::pending_rows(tx, &missing).await?;
            self.kept_rows().add(rows);
        }
        Ok(self.kept_rows().in_order(&keys))
    }

    /// Every pending id, read and kept.
    async fn read_every_key(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        now: std::time::Instant,
    ) -> Result<Vec<(TaskId, u32)>, ServiceError> {
        let keys = queue::pending_keys(tx, TaskId(0)).await?;
        self.kept_rows().set_keys(now, keys.clone());
        Ok(keys)
    }

    fn kept_rows(&self) -> std::sync::MutexGuard<'_, super::pending_rows::PendingRows> {
        self.inner.pending_rows.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How long one reading of the owners' usage serves the queue's passes.
const USAGE_REFRESH_MS: i64 = 60_000;

pub(super) async fn plan_from(
    service: &TaskService,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
) -> Result<Plan, ServiceError> {
    let limits = &service.inner.defaults.limits;
    let pending = service.pending(tx).await?;
    if pending.is_empty() {
        return Ok(Plan::default());
    }
    let capacity = capacities(tx).await?;
    let mut parent_ids: Vec<TaskId> = pending.iter().flat_map(|t| t.depends_on.iter().copied()).collect();
    parent_ids.sort_unstable();
    parent_ids.dedup();
    let parents = queue::statuses(tx, &parent_ids).await?;
    let held = queue::held_by_owner(tx).await?;
    let own_limits = crate::db::auth::token_limits(tx).await?;
    let now = now_ms();
    let usage = service.usage(tx, now).await?;
    let owners: std::collections::HashSet<&str> = pending.iter().filter_map(|t| t.owner.as_deref()).collect();
    let fair_share = priority::fair_shares(&usage, owners.into_iter());
    let context = Context { parents, held, limits: limits.clone(), own_limits, fair_share, now_ms: now };
    Ok(plan(pending, capacity, &context))
}

impl TaskService {
    /// A whole pass inside one write transaction.
    pub(super) async fn schedule_pass(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<Pass, ServiceError> {
        let mut plan = plan_from(self, tx).await?;
        self.note_waiting(std::mem::take(&mut plan.waiting));
        apply(self, tx, plan).await
    }

    /// The reasons of the tasks a pass left waiting (those of the previous pass are dropped).
    /// Tasks whose reason changed are published again (at most `REASONS_PUBLISHED` a pass; the
    /// rest show theirs when next read), so a dashboard sees why a task waits as it changes.
    fn note_waiting(&self, waiting: Vec<(TaskId, String)>) {
        let changed: Vec<TaskId> = {
            let mut reasons = self.inner.pending_reasons.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let changed = waiting
                .iter()
                .filter(|(id, reason)| reasons.get(id) != Some(reason))
                .map(|(id, _)| *id)
                .take(REASONS_PUBLISHED)
                .collect();
            *reasons = waiting.into_iter().collect();
            changed
        };
        if !changed.is_empty() {
            let this = self.clone();
            tokio::spawn(async move { this.publish_all(&changed).await });
        }
    }
}

/// Most tasks a pass publishes again because their pending reason changed.
const REASONS_PUBLISHED: usize = 500;

/// How often, and how far apart, a task is sent to a runner that refuses connections.
pub(super) const DISPATCH_TRIES: u32 = 10;

pub(super) const DISPATCH_RETRY: Duration = Duration::from_secs(1);

impl TaskService {
    /// Places what the queue can place now and dispatches it.
    ///
    /// The queue and the capacity are read in a read transaction, so a pass that places nothing
    /// (the usual case while a backlog waits for busy nodes) never takes the write lock; the
    /// schedule lock keeps other placements out between the read and the write.
    pub async fn run_queue(&self) -> Result<(), ServiceError> {
        let pass = {
            let _guard = self.inner.schedule_lock.lock().await;
            let mut read = crate::db::begin_read(&self.inner.pool).await.map_err(db)?;
            let mut plan = plan_from(self, &mut read).await?;
            read.rollback().await.map_err(db)?;
            self.note_waiting(std::mem::take(&mut plan.waiting));
            if plan.is_empty() {
                return Ok(());
            }
            let mut tx = crate::db::begin_write(&self.inner.pool).await.map_err(db)?;
            let pass = apply(self, &mut tx, plan).await?;
            tx.commit().await.map_err(db)?;
            pass
        };
        for id in pass.placed.iter().map(|(t, _)| t.task_id).chain(pass.failed.iter().copied()) {
            self.publish(id).await;
        }
        self.dispatch(pass.placed);
        Ok(())
    }

    /// At start: the tasks a previous host placed but may never have sent (it died between the
    /// two) are sent again. A runner that already has one answers 409 and keeps it, so none runs
    /// twice.
    pub async fn redispatch_assigning(&self) -> Result<(), ServiceError> {
        let mut again = Vec::new();
        for task in queue::assigning(&self.inner.pool).await? {
            let Some(node) = self.node_of(&task).await? else { continue };
            if queue::renew_assignment(&self.inner.pool, task.task_id, now_ms()).await? {
                again.push((task, node));
            }
        }
        if !again.is_empty() {
            tracing::info!(tasks = again.len(), "sending again the tasks placed before the restart");
        }
        self.dispatch(again);
        Ok(())
    }

    pub(super) fn dispatch(&self, placed: Vec<(TaskRow, node_store::NodeRow)>) {
        for (task, node) in placed {
            let this = self.clone();
            tokio::spawn(async move {
                let info = this.task_info(&task);
                let mut sent = this.inner.runners.run(&node.url, &info).await;
                // A runner restarting refuses connections for a moment: the task keeps its
                // place and is sent again while the node is still counted online.
                let mut tries = 1;
                while matches!(sent, Err(RunnerError::NotListening(_))) && tries < DISPATCH_TRIES {
                    tokio::time::sleep(DISPATCH_RETRY).await;
                    // Killed meanwhile, or no longer ours: nothing to send.
                    if !matches!(queue::renew_assignment(&this.inner.pool, task.task_id, now_ms()).await, Ok(true)) {
                        return;
                    }
                    tries += 1;
                    // A restarted runner may listen elsewhere: its registration says where.
                    let url = match node_store::get(&this.inner.pool, &node.hostname).await {
                        Ok(Some(now)) => now.url,
                        _ => node.url.clone(),
                    };
                    sent = this.inner.runners.run(&url, &info).await;
                }
                if let Err(RunnerError::Rejected { status: 409, .. }) = sent {
                    // The runner has it already (sent before a host restart): it reports on.
                    tracing::info!(task = %task.task_id, node = %node.hostname, "the runner already has the task");
                    return;
                }
                if let Err(e) = sent {
                    tracing::warn!(task = %task.task_id, node = %node.hostname, error = %e, "dispatch failed");
                    let why = format!("could not be sent to {}: {e}", node.hostname);
                    if matches!(this.retry(&task, &why).await, Ok(true)) {
                        return;
                    }
                    let change = StatusChange {
                        message: Some(e.to_string()),
                        completed_at_ms: Some(now_ms()),
                        ..Default::default()
                    };
                    if let Ok(true) =
                        this.change_status(task.task_id, TaskStatus::Assigning, TaskStatus::Failed, &change).await
                    {
                        this.kick();
                    }
                }
            });
        }
    }

    pub(super) fn task_info(&self, t: &TaskRow) -> TaskInfo {
        let (stdout, stderr) = self.log_paths(t.task_id);
        TaskInfo {
            task_id: t.task_id,
            task_type: t.task_type,
            command: t.command.clone(),
            arguments: t.arguments.clone(),
            env_vars: t.env_vars.clone(),
            required_cores: t.required_cores,
            required_gpus: t.required_gpus.clone(),
            stdout_path: stdout.display().to_string(),
            stderr_path: stderr.display().to_string(),
            required_memory_bytes: t.required_memory_bytes,
            target_numa_node_id: t.target_numa_node_id,
            docker_image_name: match &t.image {
                Some(image) => image.clone(),
                None if t.container_name == NO_CONTAINER => NO_CONTAINER.into(),
                None => env_image(&t.container_name),
            },
            docker_privileged: t.privileged,
            docker_additional_mounts: t.additional_mounts.clone(),
            run_as_user: t.run_as.clone(),
            max_log_bytes: self.inner.max_log_bytes,
            time_limit_seconds: t.time_limit_seconds,
            kill_grace_seconds: t.time_limit_seconds.map(|_| self.inner.defaults.limits.kill_grace.0),
            attempt: (t.attempt > 1).then_some(t.attempt),
        }
    }
}
