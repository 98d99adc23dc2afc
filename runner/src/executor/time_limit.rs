//! Time limits: a task's clock starts when it is first reported running; at its limit it gets
//! SIGTERM (its container stopped, or every process of a native task), then SIGKILL after the
//! grace the host sent, and it ends `timeout` with the limit in its message.

use std::time::Duration;

use bollard::models::{ContainerUpdateBody, RestartPolicy, RestartPolicyNameEnum};
use bollard::query_parameters::StopContainerOptionsBuilder;
use hakuriver_model::span::Span;
use hakuriver_model::{TaskId, TaskStatus};
use rustix::process::Signal;

use super::{native, Executor, Outcome};

/// A task's limit and grace, as `/run` gave them.
#[derive(Debug, Clone, Copy)]
pub(super) struct TimeLimit {
    pub(super) limit: Duration,
    pub(super) grace: Duration,
}

impl TimeLimit {
    pub(super) fn of(task: &hakuriver_model::protocol::TaskInfo) -> Option<TimeLimit> {
        task.time_limit_seconds.filter(|s| *s > 0).map(|s| TimeLimit {
            limit: Duration::from_secs(s),
            grace: Duration::from_secs(task.kill_grace_seconds.unwrap_or(30)),
        })
    }
}

/// How a task stopped at its limit ends.
pub(super) fn timeout_outcome(limit: TimeLimit, exit_code: Option<i64>) -> Outcome {
    (
        TaskStatus::Timeout,
        exit_code,
        Some(format!(
            "Time limit of {} reached: stopped (SIGTERM, then SIGKILL after {}).",
            Span(limit.limit.as_secs()),
            Span(limit.grace.as_secs())
        )),
    )
}

impl Executor {
    /// Starts task `id`'s clock, once: called whenever it is reported running.
    pub(super) async fn arm_time_limit(&self, id: TaskId) {
        let limit = {
            let mut table = self.table.lock().await;
            match table.tasks.get_mut(&id) {
                Some(t) if !t.clock_started => {
                    t.clock_started = true;
                    t.time_limit
                }
                _ => None,
            }
        };
        let Some(limit) = limit else { return };
        let this = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(limit.limit).await;
            this.time_out(id, limit).await;
        });
    }

    /// The limit task `id` was stopped at, if it was.
    pub(super) async fn timed_out(&self, id: TaskId) -> Option<TimeLimit> {
        self.table.lock().await.tasks.get(&id).and_then(|t| t.timed_out.then_some(t.time_limit).flatten())
    }

    async fn time_out(&self, id: TaskId, limit: TimeLimit) {
        let (container, pgid, cgroup) = {
            let mut table = self.table.lock().await;
            let Some(t) = table.tasks.get_mut(&id).filter(|t| !t.killed && !t.stopping) else { return };
            t.timed_out = true;
            (t.container.clone(), t.pgid, t.cgroup.clone())
        };
        tracing::info!(task = %id, limit = %Span(limit.limit.as_secs()), "time limit reached; stopping the task");
        if let (Some(name), Some(docker)) = (container, &self.docker) {
            // A VPS must not come back by its restart policy; a paused container must thaw to stop.
            let policy = RestartPolicy { name: Some(RestartPolicyNameEnum::NO), maximum_retry_count: None };
            let _ = docker
                .docker
                .update_container(&name, ContainerUpdateBody { restart_policy: Some(policy), ..Default::default() })
                .await;
            let _ = docker.unpause(&name).await;
            let grace = i32::try_from(limit.grace.as_secs()).unwrap_or(i32::MAX);
            let options = StopContainerOptionsBuilder::new().t(grace).build();
            if let Err(e) = docker.docker.stop_container(&name, Some(options)).await {
                tracing::warn!(task = %id, error = %e, "cannot stop the container at its time limit; killing it");
                let _ = docker.kill(&name).await;
            }
            return;
        }
        // A native task: SIGTERM to its group and to everything in its cgroup (a frozen task is
        // thawed first so it can act on it), then SIGKILL to all of it after the grace.
        if let Some(cg) = &cgroup {
            let _ = cg.freeze(false);
        }
        if let Some(pgid) = pgid {
            let _ = native::signal_group(pgid, Signal::CONT);
            let _ = native::signal_group(pgid, Signal::TERM);
        }
        if let Some(cg) = &cgroup {
            cg.signal_all(Signal::TERM);
        }
        let deadline = tokio::time::Instant::now() + limit.grace;
        while tokio::time::Instant::now() < deadline {
            if !self.table.lock().await.tasks.contains_key(&id) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if let Some(pgid) = pgid {
            let _ = native::signal_group(pgid, Signal::KILL);
        }
        if let Some(cg) = &cgroup {
            if let Err(e) = cg.kill_all().await {
                tracing::error!(task = %id, error = %e, "processes left after the time limit");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_message_names_the_limit_and_the_grace() {
        let limit = TimeLimit { limit: Duration::from_secs(9_000), grace: Duration::from_secs(30) };
        let (status, code, message) = timeout_outcome(limit, Some(143));
        assert_eq!((status, code), (TaskStatus::Timeout, Some(143)));
        assert_eq!(message.as_deref(), Some("Time limit of 2h30m reached: stopped (SIGTERM, then SIGKILL after 30s)."));
    }
}
