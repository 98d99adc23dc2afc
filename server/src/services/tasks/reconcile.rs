//! What the heartbeats since the last tick mean for the tasks the host counts active: tasks a
//! node should run but no longer reports (`verdict`: a grace after placement, then three
//! reports), tasks a runner still runs that the host ended, kills the runner did on its own,
//! and a node lost altogether.

use std::collections::HashMap;

use hakuriver_model::task::revives;
use hakuriver_model::{TaskId, TaskStatus, TaskType};

use super::TaskService;
use crate::db::nodes as node_store;
use crate::db::task_queue as queue;
use crate::db::tasks::{self as store, StatusChange, TaskRow};
use crate::services::node_reports::Report;
use crate::services::{now_ms, ServiceError};

impl TaskService {
    /// Reconciles the heartbeats held since the last tick against one read of the active
    /// tasks: tasks a node should run but does not report (`verdict`), and tasks it reports
    /// that the host has ended. Returns the cores each reporting node's tasks hold afterwards.
    pub async fn reconcile_reports(
        &self,
        reports: &[(String, Report)],
        grace_ms: i64,
    ) -> Result<HashMap<String, u32>, ServiceError> {
        let all = store::active(&self.inner.pool).await?;
        let ended = self.end_overdue(&all).await?;
        let mut active: HashMap<String, Vec<TaskRow>> = HashMap::new();
        for task in all.into_iter().filter(|t| !ended.contains(&t.task_id)) {
            if let Some(node) = task.assigned_node.clone() {
                active.entry(node).or_default().push(task);
            }
        }
        let mut held = HashMap::new();
        for (node, report) in reports {
            let tasks = active.remove(node).unwrap_or_default();
            self.reconcile_strays(node, report, &tasks).await?;
            held.insert(
                node.clone(),
                self.reconcile_missing(node, &report.heartbeat.running_tasks, tasks, grace_ms).await?,
            );
        }
        Ok(held)
    }

    /// Tasks this node should run but does not report; returns the cores its tasks hold.
    async fn reconcile_missing(
        &self,
        node: &str,
        running: &[TaskId],
        tasks: Vec<TaskRow>,
        grace_ms: i64,
    ) -> Result<u32, ServiceError> {
        let now = now_ms();
        let mut held = 0u32;
        for task in tasks {
            let reported = running.contains(&task.task_id);
            match verdict(&task, reported, now, grace_ms) {
                Verdict::Holds => {
                    held = held.saturating_add(task.required_cores);
                    if task.assignment_suspicion_count > 0 {
                        queue::set_suspicion(&self.inner.pool, task.task_id, 0).await?;
                    }
                }
                Verdict::InGrace => held = held.saturating_add(task.required_cores),
                Verdict::Suspect(count) => {
                    held = held.saturating_add(task.required_cores);
                    queue::set_suspicion(&self.inner.pool, task.task_id, count).await?;
                }
                Verdict::Missing => {
                    let message = if task.status == TaskStatus::Assigning {
                        format!("Task assignment failed. Runner {node} did not confirm start after multiple checks.")
                    } else {
                        format!("Runner {node} no longer reports this task running.")
                    };
                    let change = StatusChange {
                        exit_code: Some(-1),
                        message: Some(message),
                        completed_at_ms: Some(now),
                        ..Default::default()
                    };
                    if self.change_status(task.task_id, task.status, TaskStatus::Failed, &change).await? {
                        tracing::warn!(task = %task.task_id, node, "task failed: runner does not report it");
                        self.kick();
                    }
                }
            }
        }
        Ok(held)
    }

    /// A lost VPS whose runner reports it alive is running again.
    pub(super) async fn revive(&self, id: TaskId) -> Result<(), ServiceError> {
        let note = "Its node went silent and came back; the VPS kept running.";
        if store::revive(&self.inner.pool, id, note).await? {
            tracing::info!(task = %id, "VPS back after its node returned");
            self.publish(id).await;
            self.kick();
        }
        Ok(())
    }

    /// Tasks a runner still runs that the host has ended (a node that went silent and came back,
    /// a kill the runner never got): a lost VPS comes back (`model::task::revives`); anything
    /// else is stopped on the runner. A task that ended after the report was sent is not one.
    async fn reconcile_strays(&self, node: &str, report: &Report, active: &[TaskRow]) -> Result<(), ServiceError> {
        for &id in &report.heartbeat.running_tasks {
            if active.iter().any(|t| t.task_id == id) {
                continue;
            }
            let Some(row) = store::get(&self.inner.pool, id).await? else { continue };
            if row.task_type == TaskType::Command
                && row.attempt > 1
                && row.assigned_node.as_deref() != Some(node)
                && !row.status.is_final()
            {
                // An attempt the host gave up on when this node went silent; the task was queued
                // again (retries): the old attempt must not run on beside the new one.
                if let Some(here) = node_store::get(&self.inner.pool, node).await? {
                    tracing::warn!(task = %id, node, "runner still runs an earlier attempt; stopping it");
                    self.stop_on(&here, id);
                }
                continue;
            }
            if row.assigned_node.as_deref() != Some(node)
                || !row.status.is_final()
                || row.completed_at_ms.is_some_and(|ended| ended >= report.received_ms)
            {
                continue;
            }
            if revives(row.task_type, row.status, TaskStatus::Running) {
                self.revive(id).await?;
                continue;
            }
            tracing::warn!(task = %id, node, status = %row.status, "runner still runs an ended task; stopping it");
            self.stop_on_runner(&row).await?;
        }
        Ok(())
    }

    /// Heartbeat `killed_tasks`: the runner ended these on its own (out of memory, ...). Only
    /// tasks of the reporting node are touched.
    pub async fn apply_runner_kills(
        &self,
        node: &str,
        killed: &[hakuriver_model::KilledTask],
    ) -> Result<(), ServiceError> {
        for k in killed {
            let Some(row) = store::get(&self.inner.pool, k.task_id).await? else { continue };
            if row.assigned_node.as_deref() != Some(node) || row.status.is_final() {
                continue;
            }
            let to = if k.reason == "oom" { TaskStatus::KilledOom } else { TaskStatus::Failed };
            let change = StatusChange {
                exit_code: Some(-9),
                message: Some(format!("Killed by runner: {}", k.reason)),
                completed_at_ms: Some(now_ms()),
                ..Default::default()
            };
            if self.change_status(k.task_id, row.status, to, &change).await? {
                self.kick();
            }
        }
        Ok(())
    }

    /// The node went offline: what ran there is lost, or queued again when it has retries left.
    pub async fn node_lost(&self, node: &str) -> Result<(), ServiceError> {
        let now = now_ms();
        for task in store::active_on(&self.inner.pool, node).await? {
            if self.retry(&task, &format!("node {node} went offline")).await? {
                continue;
            }
            let change = StatusChange {
                exit_code: Some(-1),
                message: Some(format!("Node {node} went offline (heartbeat timeout).")),
                completed_at_ms: Some(now),
                ..Default::default()
            };
            self.change_status(task.task_id, task.status, TaskStatus::Lost, &change).await?;
        }
        Ok(())
    }
}

/// What a node's heartbeat means for one task the host counts active there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Reported (or paused, which a runner does not list): it holds its cores.
    Holds,
    /// Placed moments ago: its runner may not have started it yet.
    InGrace,
    /// Missing from this report; the new suspicion count.
    Suspect(u32),
    /// Missing from the third report in a row: it failed.
    Missing,
}

/// A task in `assigning` has `grace_ms` from its placement, then three more heartbeats; a
/// running one is failed on the third report that misses it.
fn verdict(task: &TaskRow, reported: bool, now_ms: i64, grace_ms: i64) -> Verdict {
    if task.status == TaskStatus::Paused || reported {
        return Verdict::Holds;
    }
    let assigned_at = task.assigned_at_ms.unwrap_or(task.submitted_at_ms);
    if task.status == TaskStatus::Assigning && now_ms - assigned_at < grace_ms {
        return Verdict::InGrace;
    }
    if task.assignment_suspicion_count < 2 {
        return Verdict::Suspect(task.assignment_suspicion_count + 1);
    }
    Verdict::Missing
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::tasks::tests_support::row;

    fn task(status: TaskStatus, assigned_at_ms: i64, suspicion: u32) -> TaskRow {
        let mut row = row(status);
        row.assigned_at_ms = Some(assigned_at_ms);
        row.assignment_suspicion_count = suspicion;
        row
    }

    #[test]
    fn a_task_missing_from_three_reports_fails_and_one_reported_holds() {
        let grace = 1500;
        assert_eq!(verdict(&task(TaskStatus::Running, 0, 2), true, 10_000, grace), Verdict::Holds);
        assert_eq!(verdict(&task(TaskStatus::Paused, 0, 0), false, 10_000, grace), Verdict::Holds, "not listed");
        assert_eq!(verdict(&task(TaskStatus::Running, 0, 0), false, 10_000, grace), Verdict::Suspect(1));
        assert_eq!(verdict(&task(TaskStatus::Running, 0, 1), false, 10_000, grace), Verdict::Suspect(2));
        assert_eq!(verdict(&task(TaskStatus::Running, 0, 2), false, 10_000, grace), Verdict::Missing);
    }

    #[test]
    fn a_task_just_placed_has_its_grace_before_suspicion() {
        let grace = 1500;
        assert_eq!(verdict(&task(TaskStatus::Assigning, 9_000, 0), false, 10_000, grace), Verdict::InGrace);
        assert_eq!(verdict(&task(TaskStatus::Assigning, 8_500, 0), false, 10_000, grace), Verdict::Suspect(1));
        assert_eq!(verdict(&task(TaskStatus::Assigning, 0, 2), false, 10_000, grace), Verdict::Missing);
        // A running task gets no grace from its placement.
        assert_eq!(verdict(&task(TaskStatus::Running, 9_000, 0), false, 10_000, grace), Verdict::Suspect(1));
    }
}
