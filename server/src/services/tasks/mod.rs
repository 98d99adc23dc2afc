//! Command tasks: submit (validate, queue, place, reserve, dispatch), status updates from
//! runners, kill, pause, resume, logs and listings.
//!
//! Scheduling runs under one lock and in one `BEGIN IMMEDIATE` transaction: placement reads the
//! reservations and writes the new ones atomically, so concurrent submits cannot oversubscribe a
//! node. Queued (`pending`) tasks are placed in submission order whenever resources may have
//! freed up. A task waiting for a node books what it needs there ahead (virtually), so later
//! tasks for that node only take what it does not need (backfill without starving it); a waiting
//! host-placed task blocks later host-placed tasks.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hakuriver_model::api::Message;
use hakuriver_model::auth::{Actor, Role};
use hakuriver_model::protocol::{TaskControl, TaskInfo, TaskStatusUpdate};
use hakuriver_model::task::{
    env_image, revives, transition, AssignedNode, FailedTarget, SubmitResponse, TaskPage, TaskQuery, Transition,
    NO_CONTAINER,
};
use hakuriver_model::{ControlCommand, NodeStatus, ReplyCode, TaskId, TaskRequest, TaskStatus, TaskType, TaskView};
use tokio::sync::{Mutex, Notify};

use super::events::EventBus;
use super::runner_client::{RunnerClient, RunnerError};
use super::submit_request::{check_for, CheckedSubmit, SubmitDefaults, SubmitRefusal};
use super::{local_time, now_ms, ServiceError};
use crate::db::nodes as node_store;
use crate::db::task_queue as queue;
use crate::db::tasks::{self as store, StatusChange, TaskFilter, TaskRow};
use crate::db::Pool;
use crate::ids::IdGenerator;
use crate::scheduler::{place, Demand, NodeCapacity, Placement};

pub mod logs;
mod reconcile;

/// Default and largest page of the task list.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

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
        before: q.cursor.as_deref().filter(|c| !c.is_empty()).map(id).transpose()?,
        limit: q.limit.unwrap_or(default_limit).clamp(1, max_limit),
    })
}

/// How often, and how far apart, a task is sent to a runner that refuses connections.
const DISPATCH_TRIES: u32 = 10;
const DISPATCH_RETRY: Duration = Duration::from_secs(1);

/// How long a VPS submit waits for the VPS to come up before answering without its port.
const VPS_SUBMIT_WAIT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct TaskService {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    events: EventBus,
    shared_dir: PathBuf,
    /// `[paths] max_log_bytes`, sent with each task (none: unlimited).
    max_log_bytes: Option<u64>,
    defaults: SubmitDefaults,
    ids: IdGenerator,
    /// The newest task id in the database when this host first submitted.
    id_floor: std::sync::OnceLock<u64>,
    schedule_lock: Mutex<()>,
    /// Submits waiting for the next group write (`write_submits`).
    submits: std::sync::Mutex<Vec<QueuedSubmit>>,
    runners: RunnerClient,
    /// Wakes the queue loop: resources may have freed up.
    kick: Notify,
    /// What runners say they are doing for tasks not started yet (pulling an image): shown
    /// with the task until its status changes. Transient: not stored.
    progress: std::sync::Mutex<HashMap<TaskId, String>>,
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
    pub fn new(
        pool: Pool,
        (shared_dir, max_log_bytes): (PathBuf, Option<u64>),
        defaults: SubmitDefaults,
        events: EventBus,
        runners: RunnerClient,
    ) -> Self {
        TaskService {
            inner: Arc::new(Inner {
                pool,
                events,
                shared_dir,
                max_log_bytes,
                defaults,
                ids: IdGenerator::default(),
                id_floor: std::sync::OnceLock::new(),
                schedule_lock: Mutex::new(()),
                submits: std::sync::Mutex::default(),
                runners,
                kick: Notify::new(),
                progress: Default::default(),
            }),
        }
    }

    /// A compare-and-set status change; a change that happened is published as an event.
    async fn change_status(
        &self,
        id: TaskId,
        from: TaskStatus,
        to: TaskStatus,
        change: &StatusChange,
    ) -> Result<bool, crate::db::DbError> {
        let changed = store::change_status(&self.inner.pool, id, from, to, change).await?;
        if changed {
            // A task that moves on is past what its runner was doing before it.
            self.set_progress(id, None);
            self.publish(id).await;
        }
        Ok(changed)
    }

    /// Publishes a task from a row known to be what is stored.
    fn publish_row(&self, row: &TaskRow) {
        self.inner.events.publish(hakuriver_model::ClusterEvent::TaskUpdated { task: Box::new(self.view(row)) });
    }

    /// Publishes task `id` as it is stored now.
    async fn publish(&self, id: TaskId) {
        match store::get(&self.inner.pool, id).await {
            Ok(Some(row)) => self.publish_row(&row),
            Ok(None) => {}
            Err(e) => tracing::warn!(task = %id, error = %e, "cannot read task for its event"),
        }
    }

    /// Resources may have freed up (a task ended, a node came online): run the queue soon.
    pub fn kick(&self) {
        self.inner.kick.notify_one();
    }

    /// Waits for the next kick.
    pub async fn kicked(&self) {
        self.inner.kick.notified().await;
    }

    /// Submits one task per target; `task_ids` empty in the answer means every target failed.
    ///
    /// Group commit: the submit joins the queue of submits waiting to be written, and a writer
    /// (one is started per submit; the first to get the schedule lock takes them all) writes the
    /// whole queue in one transaction. Under a stream of single-task requests this makes one
    /// transaction, one node read and one queue check serve many submits. Once queued, a submit
    /// is written even if its caller goes away.
    ///
    /// `role` is the submitter's: what it may ask for is checked against the resource policy
    /// before anything is stored.
    /// The environment a request's tasks would run in (none: without a container).
    pub fn environment_of(&self, req: &TaskRequest) -> Option<String> {
        if req.image.is_some() {
            return None;
        }
        let env = req.container_name.clone().unwrap_or_else(|| self.inner.defaults.container_name.clone());
        (env != NO_CONTAINER).then_some(env)
    }

    pub async fn submit(
        &self,
        req: TaskRequest,
        owner: Option<&str>,
        role: Role,
    ) -> Result<SubmitResponse, ServiceError> {
        let checked = check_for(&req, &self.inner.defaults, role).map_err(|refusal| match refusal {
            SubmitRefusal::Invalid(e) => ServiceError::BadRequest(e),
            SubmitRefusal::Denied(d) => {
                tracing::info!(owner = owner.unwrap_or("-"), %role, rule = d.key, "submit refused by the policy");
                ServiceError::Denied(d)
            }
        })?;
        let is_vps = checked.task_type == TaskType::Vps;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let queued = QueuedSubmit { checked, owner: owner.map(str::to_string), now: now_ms(), reply };
        self.inner.submits.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(queued);
        let writer = self.clone();
        tokio::spawn(async move { writer.write_submits().await });
        let mut response = answer.await.map_err(|_| ServiceError::Internal("the submit was not written".into()))??;
        // A VPS answers with its SSH port, as the original did, when it comes up soon enough.
        if let (true, Some(&id)) = (is_vps, response.task_ids.first()) {
            response.runner_response =
                self.wait_for_ssh_port(id, VPS_SUBMIT_WAIT).await.map(|p| serde_json::json!({"ssh_port": p}));
        }
        Ok(response)
    }

    /// Writes every queued submit in one transaction, then publishes, dispatches and answers.
    async fn write_submits(&self) {
        let guard = self.inner.schedule_lock.lock().await;
        let queued = std::mem::take(&mut *self.inner.submits.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        if queued.is_empty() {
            return;
        }
        let result = self.write_batch(&queued).await;
        drop(guard);
        let (written, pass) = match result {
            Ok(done) => done,
            Err(e) => {
                tracing::error!(error = %e, submits = queued.len(), "submits not written");
                let message = e.to_string();
                for q in queued {
                    let _ = q.reply.send(Err(ServiceError::Internal(message.clone())));
                }
                return;
            }
        };
        // New rows are published as written (placed ones as placed); older tasks the pass placed
        // or failed are read back.
        let placed_rows: HashMap<TaskId, &TaskRow> = pass.placed.iter().map(|(t, _)| (t.task_id, t)).collect();
        let kept: BTreeSet<TaskId> = written.iter().flat_map(|w| w.task_ids.iter().copied()).collect();
        for w in &written {
            for (row, _) in &w.created {
                if kept.contains(&row.task_id) && !pass.failed.contains(&row.task_id) {
                    self.publish_row(placed_rows.get(&row.task_id).copied().unwrap_or(row));
                }
            }
        }
        let others: BTreeSet<TaskId> =
            pass.failed.iter().copied().chain(placed_rows.keys().copied().filter(|id| !kept.contains(id))).collect();
        for id in others {
            self.publish(id).await;
        }
        let responses: Vec<SubmitResponse> = written.into_iter().map(|w| w.response(&pass.placed)).collect();
        self.dispatch(pass.placed);
        self.kick();
        for (q, response) in queued.into_iter().zip(responses) {
            tracing::info!(tasks = response.task_ids.len(), failed = response.failed_targets.len(), "tasks submitted");
            let _ = q.reply.send(Ok(response));
        }
    }

    /// The queued submits' rows, in one write transaction (the schedule lock held).
    async fn write_batch(&self, queued: &[QueuedSubmit]) -> Result<(Vec<Written>, Pass), ServiceError> {
        let mut tx = crate::db::begin_write(&self.inner.pool).await.map_err(db)?;
        // The newest id stored, read once: after that the generator alone gives ids (one host
        // per database file).
        let floor = match self.inner.id_floor.get() {
            Some(&floor) => floor,
            None => {
                let newest: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(task_id) FROM tasks").fetch_one(&mut *tx).await.map_err(db)?;
                let floor = newest.and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
                let _ = self.inner.id_floor.set(floor);
                floor
            }
        };
        // Checks that never change with load need the nodes, not what runs on them.
        let nodes = idle(node_store::list(&mut *tx).await?);
        let mut written = Vec::with_capacity(queued.len());
        for q in queued {
            let checked = &q.checked;
            let targets: Vec<Option<(String, hakuriver_model::Target)>> = if checked.targets.is_empty() {
                vec![None]
            } else {
                checked.targets.iter().cloned().map(Some).collect()
            };
            // Refuse a target that can never run the task now, rather than queue it forever.
            let mut w = Written::default();
            let mut open_targets = Vec::new();
            for target in targets {
                let demand = demand_of(checked, target.as_ref().map(|t| &t.1));
                match place(&nodes, &demand) {
                    Placement::Reject(reason) => w.failed.push(FailedTarget { target: label(&target), reason }),
                    _ => open_targets.push(target),
                }
            }
            let mut batch = None;
            for arguments in &checked.argument_sets {
                for target in &open_targets {
                    let id = self.inner.ids.next(q.now, floor);
                    let batch_id = *batch.get_or_insert(id);
                    let mut row = new_row(checked, arguments, id, batch_id, target.as_ref().map(|t| &t.1), q.now);
                    row.owner = q.owner.clone();
                    row.run_as = checked.run_as.clone();
                    store::insert(&mut tx, &row).await?;
                    w.created.push((row, label(target)));
                }
            }
            written.push(w);
        }
        // Queued tasks behind older ones wait for the queue loop: a pass over a long backlog
        // here would hold the write lock on every submit. Tasks that must not queue, or that
        // nothing is ahead of, are placed now. Ids grow, so the first new row is the oldest.
        let first_new = written.iter().find_map(|w| w.created.first()).map(|(row, _)| row.task_id);
        let behind_others = queued.iter().all(|q| q.checked.queue)
            && match first_new {
                Some(id) => queue::pending_before(&mut tx, id).await?,
                None => true,
            };
        let pass = if behind_others {
            Pass { placed: Vec::new(), failed: Vec::new() }
        } else {
            schedule_pass(&mut tx).await?
        };
        // Tasks that asked not to queue and did not get a place now: not created after all.
        for (q, w) in queued.iter().zip(&mut written) {
            for (row, target) in &w.created {
                let id = row.task_id;
                if q.checked.queue || pass.placed.iter().any(|(t, _)| t.task_id == id) {
                    w.task_ids.push(id);
                } else {
                    sqlx::query("DELETE FROM tasks WHERE task_id = $1")
                        .bind(i64::try_from(id.0).unwrap_or(i64::MAX))
                        .execute(&mut *tx)
                        .await
                        .map_err(db)?;
                    w.failed.push(FailedTarget {
                        target: target.clone(),
                        reason: "Insufficient available resources".into(),
                    });
                }
            }
        }
        tx.commit().await.map_err(db)?;
        Ok((written, pass))
    }

    /// Polls until the VPS runs with a port, it ends, or `wait` passes.
    async fn wait_for_ssh_port(&self, id: TaskId, wait: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + wait;
        while tokio::time::Instant::now() < deadline {
            match store::get(&self.inner.pool, id).await {
                Ok(Some(t)) if t.status == TaskStatus::Running && t.ssh_port.is_some() => return t.ssh_port,
                Ok(Some(t)) if !t.status.is_final() => {}
                _ => return None,
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        None
    }

    /// Places what the queue can place now and dispatches it.
    ///
    /// The queue and the capacity are read in a read transaction, so a pass that places nothing
    /// (the usual case while a backlog waits for busy nodes) never takes the write lock; the
    /// schedule lock keeps other placements out between the read and the write.
    pub async fn run_queue(&self) -> Result<(), ServiceError> {
        let pass = {
            let _guard = self.inner.schedule_lock.lock().await;
            let mut read = crate::db::begin_read(&self.inner.pool).await.map_err(db)?;
            let plan = plan_from(&mut read).await?;
            read.rollback().await.map_err(db)?;
            if plan.is_empty() {
                return Ok(());
            }
            let mut tx = crate::db::begin_write(&self.inner.pool).await.map_err(db)?;
            let pass = apply(&mut tx, plan).await?;
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

    fn dispatch(&self, placed: Vec<(TaskRow, node_store::NodeRow)>) {
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

    fn task_info(&self, t: &TaskRow) -> TaskInfo {
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
        }
    }

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
        }
    }

    fn progress_of(&self, id: TaskId) -> Option<String> {
        self.inner.progress.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&id).cloned()
    }

    fn set_progress(&self, id: TaskId, progress: Option<String>) {
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
            if let Some(dropped) = update.log_bytes_dropped.filter(|_| to.is_final()) {
                // Stored before the final status is published, so whoever sees it sees the count.
                store::set_log_bytes_dropped(&self.inner.pool, update.task_id, dropped).await?;
                tracing::info!(task = %update.task_id, stdout = dropped.stdout, stderr = dropped.stderr, "output dropped past paths.max_log_bytes");
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
                if let Some(node) = self.node_of(&row).await? {
                    let this = self.clone();
                    tokio::spawn(async move {
                        let control = TaskControl { task_id: id, unit_name: format!("hakuriver-task-{id}.scope") };
                        if let Err(e) = this.inner.runners.control(&node.url, ControlCommand::Kill, &control).await {
                            tracing::warn!(task = %id, error = %e, "runner did not confirm the kill");
                        }
                    });
                }
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
    async fn start_vps(&self, row: &TaskRow) -> Result<String, ControlError> {
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

    async fn node_of(&self, row: &TaskRow) -> Result<Option<node_store::NodeRow>, ServiceError> {
        match &row.assigned_node {
            Some(name) => Ok(node_store::get(&self.inner.pool, name).await?),
            None => Ok(None),
        }
    }

    /// Command tasks per status.
    pub async fn counts(&self) -> Result<BTreeMap<String, u64>, ServiceError> {
        let rows = store::count_by_status(&self.inner.pool, "command").await?;
        Ok(rows.into_iter().map(|(status, n)| (status, u64::try_from(n).unwrap_or(0))).collect())
    }

    pub async fn cores_in_use(&self) -> Result<HashMap<String, u32>, ServiceError> {
        Ok(queue::cores_in_use(&self.inner.pool).await?)
    }
}

fn db(e: sqlx::Error) -> ServiceError {
    ServiceError::Db(e.into())
}

fn label(target: &Option<(String, hakuriver_model::Target)>) -> String {
    target.as_ref().map_or_else(|| "(host placement)".to_string(), |t| t.0.clone())
}

fn demand_of(c: &CheckedSubmit, target: Option<&hakuriver_model::Target>) -> Demand {
    Demand {
        node: target.map(|t| t.node.clone()),
        numa: target.and_then(|t| t.numa),
        cores: c.cores,
        memory_bytes: c.memory_bytes,
        gpu_ids: target.map(|t| t.gpus.clone()).unwrap_or_default(),
        container: in_container(c.task_type, &c.container_name),
    }
}

fn row_demand(t: &TaskRow) -> Demand {
    Demand {
        node: t.target_node.clone(),
        numa: t.target_numa_node_id,
        cores: t.required_cores,
        memory_bytes: t.required_memory_bytes,
        gpu_ids: t.required_gpus.clone(),
        container: in_container(t.task_type, &t.container_name),
    }
}

/// Whether a task runs in a container: every VPS, and command tasks with an environment.
fn in_container(task_type: TaskType, container_name: &str) -> bool {
    task_type == TaskType::Vps || container_name != NO_CONTAINER
}

pub(crate) fn new_row(
    c: &CheckedSubmit,
    arguments: &[String],
    id: TaskId,
    batch: TaskId,
    target: Option<&hakuriver_model::Target>,
    now: i64,
) -> TaskRow {
    TaskRow {
        task_id: id,
        batch_id: Some(batch),
        task_type: c.task_type,
        command: c.command.clone(),
        arguments: arguments.to_vec(),
        env_vars: c.env_vars.clone(),
        required_cores: c.cores,
        required_memory_bytes: c.memory_bytes,
        required_gpus: target.map(|t| t.gpus.clone()).unwrap_or_default(),
        target_node: target.map(|t| t.node.clone()),
        target_numa_node_id: target.and_then(|t| t.numa),
        assigned_node: None,
        container_name: c.container_name.clone(),
        privileged: c.privileged,
        additional_mounts: c.mounts.clone(),
        status: TaskStatus::Pending,
        exit_code: None,
        error_message: None,
        submitted_at_ms: now,
        started_at_ms: None,
        completed_at_ms: None,
        assigned_at_ms: None,
        assignment_suspicion_count: 0,
        ssh_port: None,
        owner: None,
        run_as: c.run_as.clone(),
        log_bytes_dropped: None,
        image: c.image.clone(),
    }
}

/// Whether a runner's reported VPS port could be one Docker published (an unprivileged port).
fn vps_port_plausible(port: u16) -> bool {
    port >= 1024
}

/// Users control their own tasks; operators and admins every task.
fn may_control(actor: &Actor, row: &TaskRow) -> Result<(), ControlError> {
    if actor.may_control(row.owner.as_deref()) {
        return Ok(());
    }
    Err(ControlError::Forbidden(format!(
        "Task {} belongs to {}; only its owner, an operator or an admin may control it.",
        row.task_id,
        row.owner.as_deref().unwrap_or("nobody")
    )))
}

/// Each node's capacity and what is reserved on it now.
async fn capacities(
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

/// A node's capacity with nothing reserved on it.
fn capacity_of(n: &node_store::NodeRow) -> NodeCapacity {
    NodeCapacity {
        hostname: n.hostname.clone(),
        online: true,
        total_cores: n.total_cores,
        memory_total_bytes: n.memory_total_bytes,
        numa_ids: n.numa_topology.as_ref().map(|t| t.keys().copied().collect()).unwrap_or_default(),
        gpu_ids: n.gpu_info.iter().map(|g| g.gpu_id).collect(),
        used_cores: 0,
        used_memory_bytes: 0,
        used_gpus: BTreeSet::new(),
        docker_available: n.docker_available,
    }
}

/// The nodes with nothing reserved, all counted online: for checks that do not depend on load.
fn idle(nodes: Vec<node_store::NodeRow>) -> Vec<NodeCapacity> {
    nodes.iter().map(capacity_of).collect()
}

/// Whether the task's named node is registered and online (host-placed tasks: any node is).
fn node_is_up(capacity: &[(NodeCapacity, node_store::NodeRow)], node: Option<&str>) -> bool {
    match node {
        Some(name) => capacity.iter().any(|(c, _)| c.hostname == name && c.online),
        None => capacity.iter().any(|(c, _)| c.online),
    }
}

/// A checked submit waiting for the next group write, with where its answer goes.
struct QueuedSubmit {
    checked: CheckedSubmit,
    owner: Option<String>,
    now: i64,
    reply: tokio::sync::oneshot::Sender<Result<SubmitResponse, ServiceError>>,
}

/// What a group write made of one submit.
#[derive(Default)]
struct Written {
    /// Targets refused, with the reason.
    failed: Vec<FailedTarget>,
    /// Each new row with the target it was made for.
    created: Vec<(TaskRow, String)>,
    /// The rows kept (all of them, unless the submit asked not to queue).
    task_ids: Vec<TaskId>,
}

impl Written {
    /// The submit's answer; `assigned_node` is where the last of its own tasks placed now went.
    fn response(self, placed: &[(TaskRow, node_store::NodeRow)]) -> SubmitResponse {
        let assigned_node = placed
            .iter()
            .rev()
            .find(|(t, _)| self.task_ids.contains(&t.task_id))
            .map(|(_, node)| AssignedNode { hostname: node.hostname.clone(), url: node.url.clone() });
        let n = self.task_ids.len();
        let message = if self.failed.is_empty() {
            format!("Task batch submitted successfully. {n} tasks created.")
        } else {
            format!("Task batch submitted. {n} tasks created. Some targets failed.")
        };
        SubmitResponse {
            message,
            task_ids: self.task_ids,
            failed_targets: self.failed,
            assigned_node,
            runner_response: None,
        }
    }
}

/// What a scheduling pass did.
struct Pass {
    /// Tasks placed now, with their node (to dispatch).
    placed: Vec<(TaskRow, node_store::NodeRow)>,
    /// Queued tasks that can no longer run as asked, failed with the reason.
    failed: Vec<TaskId>,
}

/// What a scheduling pass decided, before it is written.
#[derive(Default)]
struct Plan {
    /// Tasks to place, with their node and GPUs.
    assign: Vec<(TaskRow, node_store::NodeRow, Vec<u32>)>,
    /// Queued tasks that can no longer run as asked, with the reason.
    fail: Vec<(TaskId, String)>,
}

impl Plan {
    fn is_empty(&self) -> bool {
        self.assign.is_empty() && self.fail.is_empty()
    }
}

/// Places pending tasks in submission order. A queued task that can no longer run on its
/// (online) node as asked fails with the reason; one that waits for its node books what it needs
/// there, so later tasks fill only what it leaves (backfill).
fn plan(pending: Vec<TaskRow>, mut capacity: Vec<(NodeCapacity, node_store::NodeRow)>) -> Plan {
    let mut plan = Plan::default();
    let mut host_placed_blocked = false;
    for task in pending {
        if task.target_node.is_none() && host_placed_blocked {
            continue;
        }
        let demand = row_demand(&task);
        let caps: Vec<NodeCapacity> = capacity.iter().map(|(c, _)| c.clone()).collect();
        match place(&caps, &demand) {
            Placement::Place { node, gpus } => {
                if let Some((cap, row)) = capacity.iter_mut().find(|(c, _)| c.hostname == node) {
                    cap.reserve(&demand, &gpus);
                    plan.assign.push((task, row.clone(), gpus));
                }
            }
            // A queued task whose node is gone or offline waits for it, like one whose node is busy.
            Placement::Reject(reason) if node_is_up(&capacity, task.target_node.as_deref()) => {
                plan.fail.push((task.task_id, reason));
            }
            Placement::Wait(_) | Placement::Reject(_) => match &task.target_node {
                Some(node) => {
                    if let Some((cap, _)) = capacity.iter_mut().find(|(c, _)| &c.hostname == node) {
                        cap.reserve(&demand, &demand.gpu_ids);
                    }
                }
                None => host_placed_blocked = true,
            },
        }
    }
    plan
}

/// Writes a plan: each change is a compare-and-set from `pending`, so a task killed meanwhile
/// stays killed.
async fn apply(tx: &mut sqlx::Transaction<'_, sqlx::Any>, plan: Plan) -> Result<Pass, ServiceError> {
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
async fn plan_from(tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<Plan, ServiceError> {
    let pending = queue::pending(tx).await?;
    if pending.is_empty() {
        return Ok(Plan::default());
    }
    let capacity = capacities(tx).await?;
    Ok(plan(pending, capacity))
}

/// A whole pass inside one write transaction.
async fn schedule_pass(tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<Pass, ServiceError> {
    let plan = plan_from(tx).await?;
    apply(tx, plan).await
}
