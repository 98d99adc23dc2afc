//! A VPS stopped and started again with its disk: `stop` stops its container and keeps it (its
//! restart policy set to `no`, which is also how a restarted runner tells a VPS stopped by
//! request from one that died); the host then queues it again for this node, and `/run` starts
//! the same container. A kill of a stopped VPS removes its container.

use bollard::models::{ContainerUpdateBody, RestartPolicy, RestartPolicyNameEnum};
use bollard::query_parameters::{RemoveContainerOptionsBuilder, StopContainerOptionsBuilder};
use hakuriver_model::task::vps_container_name;
use hakuriver_model::TaskId;

use super::{ExecError, Executor};

/// How long sshd and the programs of a VPS get to end after SIGTERM before SIGKILL.
const STOP_GRACE_SECONDS: i32 = 10;

/// The note a stopped VPS's report carries.
pub const SHUT_OFF_NOTE: &str = "Stopped by request; its container and disk are kept on its node.";

impl Executor {
    /// Stops VPS `id`'s container and keeps it; its watcher reports `shut_off`.
    pub async fn stop_vps(&self, id: TaskId) -> Result<(), ExecError> {
        let name = {
            let mut table = self.table.lock().await;
            let task = table.tasks.get_mut(&id).ok_or(ExecError::NotTracked(id))?;
            match (&task.container, task.vps) {
                (Some(name), true) => {
                    task.stopping = true;
                    name.clone()
                }
                _ => return Err(ExecError::Failed(format!("Task {id} is not a running VPS on this node."))),
            }
        };
        let docker = self.docker.as_ref().ok_or_else(|| ExecError::Failed("Docker is not available".into()))?;
        let failed = |e: bollard::errors::Error| ExecError::Failed(format!("cannot stop VPS {id}: {e}"));
        let policy = RestartPolicy { name: Some(RestartPolicyNameEnum::NO), maximum_retry_count: None };
        let update = ContainerUpdateBody { restart_policy: Some(policy), ..Default::default() };
        docker.docker.update_container(&name, update).await.map_err(failed)?;
        // A paused container must be thawed to stop.
        let _ = docker.unpause(&name).await;
        let options = StopContainerOptionsBuilder::new().t(STOP_GRACE_SECONDS).build();
        docker.docker.stop_container(&name, Some(options)).await.map_err(failed)?;
        tracing::info!(task = %id, "VPS stopped; its container is kept");
        Ok(())
    }

    pub(super) async fn was_stopped(&self, id: TaskId) -> bool {
        self.table.lock().await.tasks.get(&id).is_some_and(|t| t.stopping)
    }

    /// Removes the kept container of a stopped VPS this runner no longer tracks; whether there
    /// was one.
    pub(super) async fn remove_shut_off(&self, id: TaskId) -> Result<bool, ExecError> {
        let Some(docker) = &self.docker else { return Ok(false) };
        let name = vps_container_name(id);
        let Ok(info) = docker.docker.inspect_container(&name, None).await else { return Ok(false) };
        let labels = info.config.and_then(|c| c.labels).unwrap_or_default();
        if labels.get("hakuriver.node") != Some(&self.node) {
            return Ok(false);
        }
        let force = RemoveContainerOptionsBuilder::new().force(true).build();
        docker.docker.remove_container(&name, Some(force)).await.map_err(|e| ExecError::Failed(e.to_string()))?;
        tracing::info!(task = %id, "removed a stopped VPS's container");
        Ok(true)
    }
}
