//! A VPS's run on this node: its container started (or the kept one started again), sshd waited
//! for, then watched until it ends; Docker restarts it after a crash and a new port is reported.

use std::time::Duration;

use futures::StreamExt;
use hakuriver_model::protocol::TaskInfo;
use hakuriver_model::task::vps_container_name;
use hakuriver_model::TaskId;
use hakuriver_model::TaskStatus;

use super::{numa, vps, vps_power, Executor, Outcome, VPS_ENGINE_RESTART_GRACE};

impl Executor {
    /// A VPS: start its container, wait for sshd, report `running` with the port, then watch it
    /// until it ends.
    pub(super) async fn run_vps(&self, task: &TaskInfo) -> Outcome {
        let failed = |m: String| (TaskStatus::Failed, None, Some(m));
        let paths = self.paths(task.task_id);
        if let Err(e) = self.prepare_dirs(&paths).await {
            return failed(e);
        }
        let docker = match self.docker_for(task).await {
            Ok(d) => d,
            Err(e) => return failed(e),
        };
        let numa = task.target_numa_node_id.and_then(|_| numa::detect(&self.numa_root));
        let spec = match vps::vps_container_spec(task, &self.node, &paths, numa.as_ref(), &self.vps_bind_ip) {
            Ok(spec) => spec,
            Err(e) => return failed(e),
        };
        if self.was_killed(task.task_id).await {
            return (TaskStatus::Killed, Some(-9), Some("Killed before start.".into()));
        }
        let name = vps_container_name(task.task_id);
        match vps::start(&docker.docker, &name, spec).await {
            Ok(true) => tracing::info!(task = %task.task_id, "VPS started again in its kept container"),
            Ok(false) => {}
            Err(e) => {
                docker.remove(&name).await;
                return failed(format!("Unexpected error launching VPS {}: {e}", task.task_id));
            }
        }
        {
            let mut table = self.table.lock().await;
            let entry = table.tasks.entry(task.task_id).or_default();
            entry.container = Some(name.clone());
            entry.vps = true;
        }
        let ready = vps::wait_ready(&docker.docker, &name, &self.connect_ip(), self.vps_ready_timeout).await;
        let port = match ready {
            Ok(port) => port,
            Err(_) if self.was_killed(task.task_id).await => {
                docker.remove(&name).await;
                return (TaskStatus::Killed, Some(-9), Some("Killed by request.".into()));
            }
            Err(reason) => {
                tracing::warn!(task = %task.task_id, reason, "VPS did not come up");
                docker.remove(&name).await;
                return failed(reason);
            }
        };
        if let Err(e) = vps::keep_running(&docker.docker, &name).await {
            tracing::warn!(task = %task.task_id, error = %e, "cannot set the VPS restart policy");
        }
        tracing::info!(task = %task.task_id, port, "VPS running");
        self.watch_vps(task.task_id, name, port, TaskStatus::Running).await
    }

    /// Where this runner connects to check a VPS's sshd.
    fn connect_ip(&self) -> String {
        match self.vps_bind_ip.parse::<std::net::IpAddr>() {
            Ok(ip) if ip.is_unspecified() => "127.0.0.1".into(),
            _ => self.vps_bind_ip.clone(),
        }
    }

    /// Reports the VPS as `status` with its port, then follows its container: Docker restarts it
    /// after a crash (the port is re-read and re-reported if it moved); it ends when it is
    /// removed (killed) or stops for good.
    pub(super) async fn watch_vps(&self, id: TaskId, name: String, mut port: u16, status: TaskStatus) -> Outcome {
        let Some(docker) = &self.docker else { return (TaskStatus::Failed, None, Some("Docker went away".into())) };
        if self.report_with_port(id, status, Some(port)).await.is_some_and(|r| r.says_task_final()) {
            // The host ended this VPS meanwhile: it must not keep running.
            docker.remove(&name).await;
            return (TaskStatus::Killed, Some(-9), Some("Ended by the host.".into()));
        }
        loop {
            let options =
                bollard::query_parameters::WaitContainerOptionsBuilder::new().condition("not-running").build();
            let _ = docker.docker.wait_container(&name, Some(options)).next().await;
            if let Some(limit) = self.timed_out(id).await {
                docker.remove(&name).await;
                return super::time_limit::timeout_outcome(limit, None);
            }
            if self.was_killed(id).await {
                docker.remove(&name).await;
                return (TaskStatus::Killed, Some(-9), Some("Killed by request.".into()));
            }
            if self.was_stopped(id).await {
                return (TaskStatus::ShutOff, None, Some(vps_power::SHUT_OFF_NOTE.into()));
            }
            // A crash: Docker restarts the container after a moment (its restart policy). A
            // restarted engine does the same for it once it is back: it gets longer.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let mut grace = Duration::ZERO;
            let (info, state) = loop {
                let info = match docker.docker.inspect_container(&name, None).await {
                    Ok(info) => info,
                    Err(_) if self.was_killed(id).await => {
                        return (TaskStatus::Killed, Some(-9), Some("Killed by request.".into()))
                    }
                    Err(_) if docker.came_back(&name).await => {
                        grace = VPS_ENGINE_RESTART_GRACE;
                        continue;
                    }
                    Err(e) => return (TaskStatus::Failed, None, Some(format!("The VPS container is gone: {e}"))),
                };
                let state = info.state.clone().unwrap_or_default();
                if state.running == Some(true) || state.restarting == Some(true) || grace.is_zero() {
                    break (info, state);
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                grace = grace.saturating_sub(Duration::from_millis(500));
            };
            if state.running == Some(true) || state.restarting == Some(true) {
                if let Some(now) = vps::published_port(&info).filter(|p| *p != port) {
                    port = now;
                    tracing::info!(task = %id, port, "VPS restarted on a new port");
                    self.report_with_port(id, TaskStatus::Running, Some(port)).await;
                }
                continue;
            }
            let code = state.exit_code.unwrap_or(-1);
            docker.remove(&name).await;
            return (TaskStatus::Failed, Some(code), Some(format!("The VPS container stopped (exit code {code}).")));
        }
    }
}
