//! Tasks: the service every door (REST, dashboard, runners) goes through. One concern a module:
//! `submit` (validate, group-commit, answer), `queue` (the pure plan of what runs where),
//! `dispatch` (a scheduling pass written and sent to runners), `control` (kill, pause, resume,
//! VPS stop/start), `updates` (a runner's status reports), `reconcile` (heartbeats against the
//! active tasks), `read` (views, pages, counts), `logs`. SQL lives in `crate::db`, never here.
//!
//! Scheduling runs under one lock and in one `BEGIN IMMEDIATE` transaction: placement reads the
//! reservations and writes the new ones atomically, so concurrent submits cannot oversubscribe a
//! node. Queued (`pending`) tasks are placed in submission order whenever resources may have
//! freed up (`queue::plan` holds the backfill and starvation rules).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use hakuriver_model::{TaskId, TaskStatus};
use tokio::sync::{Mutex, Notify};

use super::events::EventBus;
use super::runner_client::RunnerClient;
use super::submit_request::SubmitDefaults;
use super::ServiceError;
use crate::db::tasks::{self as store, StatusChange, TaskRow};
use crate::db::Pool;
use crate::ids::IdGenerator;

mod control;
mod dispatch;
pub mod logs;
mod overdue;
mod pending_rows;
mod priority;
mod queue;
mod read;
mod reconcile;
mod submit;
mod updates;

pub use control::ControlError;
pub use read::filter_of;
#[cfg(test)]
pub(crate) mod tests_support {
    use hakuriver_model::{TaskId, TaskStatus};

    use crate::db::tasks::TaskRow;
    use crate::services::submit_request::{check, SubmitDefaults};

    /// Task `id` as a submit of `request` (JSON) stores it, with the single target it names.
    pub(crate) fn row_of(id: u64, request: serde_json::Value) -> TaskRow {
        let defaults = SubmitDefaults { container_name: "base".into(), ..SubmitDefaults::default() };
        let checked = check(&serde_json::from_value(request).expect("a request"), &defaults).expect("a valid request");
        let target = checked.targets.first().map(|(_, t)| t);
        super::submit::new_row(&checked, &[], TaskId(id), TaskId(id), target, 0)
    }

    /// A plain command task 7 in `status`.
    pub(crate) fn row(status: TaskStatus) -> TaskRow {
        TaskRow { status, ..row_of(7, serde_json::json!({"command": "true"})) }
    }
}

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
    submits: std::sync::Mutex<Vec<submit::QueuedSubmit>>,
    runners: RunnerClient,
    /// Wakes the queue loop: resources may have freed up.
    kick: Notify,
    /// What runners say they are doing for tasks not started yet (pulling an image): shown
    /// with the task until its status changes. Transient: not stored.
    progress: std::sync::Mutex<HashMap<TaskId, String>>,
    /// Why each pending task waits, as the last scheduling pass found. Transient: not stored.
    pending_reasons: std::sync::Mutex<HashMap<TaskId, String>>,
    /// Each owner's decayed usage (core-seconds) and when it was read: fair share's input,
    /// read again at most once a `USAGE_REFRESH`.
    usage: std::sync::Mutex<Option<(i64, HashMap<String, f64>)>>,
    /// The pending tasks' rows kept between passes (`pending_rows`).
    pending_rows: std::sync::Mutex<pending_rows::PendingRows>,
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
                pending_reasons: Default::default(),
                usage: Default::default(),
                pending_rows: Default::default(),
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

    /// Publishes tasks `ids` as they are stored now, read together.
    async fn publish_all(&self, ids: &[TaskId]) {
        match store::get_many(&self.inner.pool, ids).await {
            Ok(rows) => rows.iter().for_each(|row| self.publish_row(row)),
            Err(e) => tracing::warn!(tasks = ids.len(), error = %e, "cannot read tasks for their events"),
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
}

fn db(e: sqlx::Error) -> ServiceError {
    ServiceError::Db(e.into())
}
