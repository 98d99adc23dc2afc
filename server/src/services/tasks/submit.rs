//! Submits: a checked request waits for the next group write, which stores every queued submit
//! in one transaction, places what nothing is ahead of, and answers each submitter.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use hakuriver_model::api::FieldError;
use hakuriver_model::auth::Role;
use hakuriver_model::task::{AssignedNode, FailedTarget, SubmitResponse, NO_CONTAINER};
use hakuriver_model::{TaskId, TaskRequest, TaskStatus, TaskType};

use super::dispatch::Pass;
use super::queue::{demand_of, idle};
use super::{db, TaskService};
use crate::db::nodes as node_store;
use crate::db::task_queue as queue;
use crate::db::tasks::{self as store, TaskRow};
use crate::scheduler::{place, Placement};
use crate::services::submit_request::{check_for, CheckedSubmit, SubmitRefusal};
use crate::services::{now_ms, ServiceError};

pub(super) fn label(target: &Option<(String, hakuriver_model::Target)>) -> String {
    target.as_ref().map_or_else(|| "(host placement)".to_string(), |t| t.0.clone())
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
        name: c.name.clone(),
        time_limit_seconds: c.time_limit_seconds,
        depends_on: c.depends_on.clone(),
        dependency: c.dependency,
        retries: c.retries,
        attempt: 1,
        priority: c.priority,
        measured: Default::default(),
    }
}

/// A checked submit waiting for the next group write, with where its answer goes.
pub(super) struct QueuedSubmit {
    checked: CheckedSubmit,
    owner: Option<String>,
    now: i64,
    reply: tokio::sync::oneshot::Sender<Result<SubmitResponse, ServiceError>>,
}

/// What a group write made of one submit.
#[derive(Default)]
pub(super) struct Written {
    /// Targets refused, with the reason.
    failed: Vec<FailedTarget>,
    /// Each new row with the target it was made for.
    created: Vec<(TaskRow, String)>,
    /// The rows kept (all of them, unless the submit asked not to queue).
    task_ids: Vec<TaskId>,
    /// Why nothing of the submit was stored (a task it waits for does not exist).
    refused: Option<FieldError>,
}

impl Written {
    /// The submit's answer; `assigned_node` is where the last of its own tasks placed now went.
    fn response(self, placed: &[(TaskRow, node_store::NodeRow)]) -> Result<SubmitResponse, ServiceError> {
        if let Some(refused) = self.refused {
            return Err(ServiceError::BadRequest(refused));
        }
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
        Ok(SubmitResponse {
            message,
            task_ids: self.task_ids,
            failed_targets: self.failed,
            assigned_node,
            runner_response: None,
        })
    }
}

/// A task a submit waits for that is not stored. (A task can only name tasks stored before it,
/// so dependencies never form a cycle.)
fn unknown_parent(parents: &[TaskId], known: &HashMap<TaskId, TaskStatus>) -> Option<FieldError> {
    parents.iter().find(|id| !known.contains_key(id)).map(|unknown| FieldError {
        field: "depends_on".into(),
        message: format!("task {unknown} does not exist: a task can wait only for tasks submitted before it"),
    })
}

/// How long a VPS submit waits for the VPS to come up before answering without its port.
pub(super) const VPS_SUBMIT_WAIT: Duration = Duration::from_secs(30);

impl TaskService {
    /// The environment a request's tasks would run in (none: without a container).
    pub fn environment_of(&self, req: &TaskRequest) -> Option<String> {
        if req.image.is_some() {
            return None;
        }
        let env = req.container_name.clone().unwrap_or_else(|| self.inner.defaults.container_name.clone());
        (env != NO_CONTAINER).then_some(env)
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
    pub(super) async fn write_submits(&self) {
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
        let responses: Vec<Result<SubmitResponse, ServiceError>> =
            written.into_iter().map(|w| w.response(&pass.placed)).collect();
        self.dispatch(pass.placed);
        self.kick();
        for (q, response) in queued.into_iter().zip(responses) {
            if let Ok(r) = &response {
                tracing::info!(tasks = r.task_ids.len(), failed = r.failed_targets.len(), "tasks submitted");
            }
            let _ = q.reply.send(response);
        }
    }

    /// The queued submits' rows, in one write transaction (the schedule lock held).
    pub(super) async fn write_batch(&self, queued: &[QueuedSubmit]) -> Result<(Vec<Written>, Pass), ServiceError> {
        let mut tx = crate::db::begin_write(&self.inner.pool).await.map_err(db)?;
        // The newest id stored, read once: after that the generator alone gives ids (one host
        // per database file).
        let floor = match self.inner.id_floor.get() {
            Some(&floor) => floor,
            None => {
                let floor = store::max_id(&mut tx).await?.unwrap_or(0);
                let _ = self.inner.id_floor.set(floor);
                floor
            }
        };
        // Checks that never change with load need the nodes, not what runs on them.
        let nodes = idle(node_store::list(&mut *tx).await?);
        // The tasks the submits wait for, read once for all of them.
        let mut parents: Vec<TaskId> = queued.iter().flat_map(|q| q.checked.depends_on.iter().copied()).collect();
        parents.sort_unstable();
        parents.dedup();
        let known = queue::statuses(&mut tx, &parents).await?;
        let mut written = Vec::with_capacity(queued.len());
        for q in queued {
            let checked = &q.checked;
            if let Some(refused) = unknown_parent(&checked.depends_on, &known) {
                written.push(Written { refused: Some(refused), ..Written::default() });
                continue;
            }
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
                    w.created.push((row, label(target)));
                }
            }
            written.push(w);
        }
        let rows: Vec<&TaskRow> = written.iter().flat_map(|w| w.created.iter().map(|(row, _)| row)).collect();
        store::insert_many(&mut tx, &rows).await?;
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
            self.schedule_pass(&mut tx).await?
        };
        // Tasks that asked not to queue and did not get a place now: not created after all.
        for (q, w) in queued.iter().zip(&mut written) {
            for (row, target) in &w.created {
                let id = row.task_id;
                if q.checked.queue || pass.placed.iter().any(|(t, _)| t.task_id == id) {
                    w.task_ids.push(id);
                } else {
                    store::delete_in(&mut tx, id).await?;
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
    pub(super) async fn wait_for_ssh_port(&self, id: TaskId, wait: Duration) -> Option<u16> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_submit_may_wait_only_for_stored_tasks() {
        let known = HashMap::from([(TaskId(1), TaskStatus::Running), (TaskId(2), TaskStatus::Completed)]);
        assert_eq!(unknown_parent(&[], &known), None);
        assert_eq!(unknown_parent(&[TaskId(1), TaskId(2)], &known), None);
        let refused = unknown_parent(&[TaskId(2), TaskId(9)], &known).expect("task 9 is not stored");
        assert_eq!(refused.field, "depends_on");
        assert!(refused.message.starts_with("task 9 does not exist"), "{}", refused.message);
    }
}
