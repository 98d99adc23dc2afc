//! The image a task runs in on this node: its environment's image, loaded from the newest
//! tarball when needed, or the registry image it names, pulled once here while the task shows
//! the pull's progress.

use std::time::Duration;

use hakuriver_model::protocol::TaskInfo;
use hakuriver_model::TaskStatus;

use super::docker::DockerRunner;
use super::report::status_update;
use super::{images, Executor};

/// How often a runner pulling a task's image tells the host how far it is.
const PULL_REPORT_EVERY: Duration = Duration::from_secs(1);

impl Executor {
    /// The Docker engine and the task's environment image, loaded when needed.
    pub(super) async fn docker_for(&self, task: &TaskInfo) -> Result<&DockerRunner, String> {
        let (Some(docker), Some(images)) = (&self.docker, &self.images) else {
            return Err(format!("Docker is not available on node {}: {}", self.node, self.docker_problem));
        };
        let env = task.docker_image_name.strip_prefix("hakuriver/").and_then(|r| r.strip_suffix(":base"));
        if let Some(env) = env {
            if let Err(e) = images.ensure(env, &task.docker_image_name).await {
                return Err(format!("Docker image sync check/load failed for task {}: {e}", task.task_id));
            }
            return Ok(docker);
        }
        // A registry image: pulled once on this node, its progress shown with the task.
        let (id, image) = (task.task_id, task.docker_image_name.clone());
        let mut last: Option<std::time::Instant> = None;
        let reports = tokio::sync::mpsc::unbounded_channel::<String>();
        let (tell, mut told) = reports;
        let reporter = {
            let this = self.clone();
            tokio::spawn(async move {
                while let Some(progress) = told.recv().await {
                    let mut update = status_update(id, TaskStatus::Assigning, None, None);
                    update.progress = Some(progress);
                    let _ = this.host.update(&update).await;
                }
            })
        };
        let pulled = images
            .ensure_pulled(&image, |done, total| {
                if last.is_none_or(|at| at.elapsed() >= PULL_REPORT_EVERY) {
                    last = Some(std::time::Instant::now());
                    let _ = tell.send(images::pull_progress(&image, done, total));
                }
            })
            .await;
        drop(tell);
        let _ = reporter.await;
        pulled.map_err(|e| {
            format!("{e}. Set its registry's login in [registries] on node {} if it needs one.", self.node)
        })?;
        Ok(docker)
    }
}
