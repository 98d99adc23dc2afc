//! What a runner that starts takes over: the VPS and command-task containers of its node that
//! outlived its predecessor; and what it ends: the processes of native tasks its predecessor left.

use std::collections::HashMap;

use hakuriver_model::task::{task_container_name, vps_container_name};
use hakuriver_model::{TaskId, TaskStatus};

use super::docker::DockerRunner;
use super::{vps, Executor, Tracked};

impl Executor {
    /// The tasks whose containers of `kind` (`vps`, `command`) this node has, running or not.
    async fn left_behind(&self, docker: &DockerRunner, kind: &str) -> Vec<TaskId> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!("hakuriver.kind={kind}"), format!("hakuriver.node={}", self.node)],
        )]);
        let options =
            bollard::query_parameters::ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
        match docker.docker.list_containers(Some(options)).await {
            Ok(list) => list
                .into_iter()
                .filter_map(|c| c.labels?.get("hakuriver.task_id").and_then(|v| v.parse::<TaskId>().ok()))
                .collect(),
            Err(e) => {
                tracing::warn!(kind, error = %e, "cannot list containers to take back");
                Vec::new()
            }
        }
    }

    /// Ends the native tasks a previous runner of this node left running (their cgroups): the
    /// host counts them lost, so their cores must be free.
    pub async fn end_native_leftovers(&self) {
        let found = crate::cgroups::sweep(&self.cgroup_root, &self.node).await;
        if found > 0 {
            tracing::warn!(tasks = found, "ended the native tasks a previous runner left");
        }
    }

    /// Takes over the VPS containers of this node that outlived a runner restart: each one is
    /// tracked again, its port re-read and reported, and watched as if it had just started.
    pub async fn adopt_vps(&self) {
        let Some(docker) = &self.docker else { return };
        for id in self.left_behind(docker, "vps").await {
            let name = vps_container_name(id);
            let info = match docker.docker.inspect_container(&name, None).await {
                Ok(info) => info,
                Err(e) => {
                    tracing::warn!(task = %id, error = %e, "cannot inspect VPS container");
                    continue;
                }
            };
            if vps::stopped_by_request(&info) {
                // Stopped by `vps stop`: kept for `vps start`, nothing to watch.
                continue;
            }
            let state = info.state.clone().unwrap_or_default();
            let port = vps::published_port(&info);
            let status = if state.paused == Some(true) { TaskStatus::Paused } else { TaskStatus::Running };
            let alive = state.running == Some(true) || state.restarting == Some(true);
            let tracked = Tracked { container: Some(name.clone()), vps: true, ..Default::default() };
            self.table.lock().await.tasks.insert(id, tracked);
            let this = self.clone();
            tokio::spawn(async move {
                let outcome = match port.filter(|_| alive) {
                    Some(port) => {
                        tracing::info!(task = %id, port, %status, "adopted VPS container");
                        this.watch_vps(id, name, port, status).await
                    }
                    None => {
                        if let Some(docker) = &this.docker {
                            docker.remove(&name).await;
                        }
                        (
                            TaskStatus::Failed,
                            None,
                            Some("The VPS container had stopped while the runner was down.".into()),
                        )
                    }
                };
                this.conclude(id, outcome).await;
            });
        }
    }

    /// Takes over the command-task containers of this node that outlived a runner restart:
    /// each is tracked again and followed to its end (its helper writes its logs, so it is only
    /// waited for), and one that ended while the runner was down is reported with its real exit
    /// code.
    pub async fn adopt_commands(&self) {
        let Some(docker) = &self.docker else { return };
        for id in self.left_behind(docker, "command").await {
            let name = task_container_name(id);
            {
                let mut table = self.table.lock().await;
                if table.tasks.contains_key(&id) {
                    continue;
                }
                table.tasks.insert(id, Tracked { container: Some(name.clone()), ..Default::default() });
            }
            tracing::info!(task = %id, "adopted task container");
            let (this, docker) = (self.clone(), docker.clone());
            tokio::spawn(async move {
                let limit = docker.log_limit(&name).await;
                if let Some(t) = this.table.lock().await.tasks.get_mut(&id) {
                    t.log_limit = limit;
                }
                // The host may have ended the task while this runner was away: then it must stop.
                if this.report(id, TaskStatus::Running, None, None).await.is_some_and(|r| r.says_task_final()) {
                    let _ = docker.kill(&name).await;
                }
                let paths = this.paths(id);
                let outcome = this.finish(id, &docker, &name, &paths).await;
                this.conclude(id, outcome).await;
            });
        }
    }
}
