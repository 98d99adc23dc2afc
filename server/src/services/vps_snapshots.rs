//! VPS tasks saved as environments (`vps save`): the host checks the request, has the VPS's
//! runner commit and save it into shared storage as the environment's next tarball version (a
//! long operation, its progress the runner's), records which VPS it came from, and keeps the
//! newest `docker.vps_snapshots_kept` versions of that environment.

use std::path::{Path, PathBuf};

use hakuriver_model::env::{SaveEvent, VpsSaveOrder, VpsSnapshot};
use hakuriver_model::TaskType;
use hakuriver_model::{NodeStatus, TaskId, TaskStatus};
use tokio::sync::watch;

use super::{ServiceError, Services};
use crate::db::snapshots::{self as store, SnapshotRow};
use crate::db::tasks::TaskRow;
use crate::db::{nodes as node_store, tasks as task_store, Pool};

/// Where snapshots are recorded and kept.
#[derive(Clone)]
pub struct Snapshots {
    pub pool: Pool,
    /// The environment tarballs (`<shared>/<container_dir>`).
    pub dir: PathBuf,
    /// `docker.vps_snapshots_kept`.
    pub kept: u32,
}

/// Why VPS `task` cannot be saved now, if it cannot.
pub fn refusal(id: TaskId, task: Option<&TaskRow>) -> Option<ServiceError> {
    let Some(task) = task else { return Some(ServiceError::NotFound(format!("Task {id} not found."))) };
    if task.task_type != TaskType::Vps {
        return Some(ServiceError::Conflict(format!("Task {id} is not a VPS: only a VPS is saved as an environment.")));
    }
    if !matches!(task.status, TaskStatus::Running | TaskStatus::Paused | TaskStatus::ShutOff) {
        return Some(ServiceError::Conflict(format!(
            "VPS {id} is {}: only a running, paused or stopped VPS has a container to save.",
            task.status
        )));
    }
    None
}

/// The timestamp of a new version: now, or just after the newest one there.
pub fn next_version(now: i64, newest: Option<i64>) -> i64 {
    newest.map_or(now, |n| now.max(n + 1))
}

/// The tarballs of `env` past the newest `kept`: removed after a save.
pub fn beyond_kept(versions: &[(i64, PathBuf)], kept: u32) -> Vec<PathBuf> {
    versions.iter().skip(kept.max(1) as usize).map(|(_, p)| p.clone()).collect()
}

impl Services {
    /// Starts saving VPS `id` as a new tarball version of environment `name`, as an operation;
    /// returns its id and a receiver that turns true when it has ended.
    pub async fn start_vps_save(
        &self,
        id: TaskId,
        name: &str,
        saved_by: Option<String>,
    ) -> Result<(u64, watch::Receiver<bool>), ServiceError> {
        crate::envs::check_name(name).map_err(|e| {
            ServiceError::BadRequest(hakuriver_model::api::FieldError { field: "name".into(), message: e.to_string() })
        })?;
        let snapshots = self.snapshots.clone();
        let task = task_store::get(&snapshots.pool, id).await?;
        if let Some(refused) = refusal(id, task.as_ref()) {
            return Err(refused);
        }
        let node_name = task.and_then(|t| t.assigned_node).unwrap_or_default();
        let node = node_store::get(&snapshots.pool, &node_name).await?.filter(|n| n.status == NodeStatus::Online);
        let node =
            node.ok_or_else(|| ServiceError::Conflict(format!("The node of VPS {id} ({node_name}) is not online.")))?;
        // A version newer than any there: two saves within a second get names of their own.
        let newest = hakuriver_support::tarballs::versions(&snapshots.dir, name).first().map(|(ts, _)| *ts);
        let timestamp = next_version(chrono::Utc::now().timestamp(), newest);
        let order = VpsSaveOrder { task_id: id, name: name.to_string(), timestamp };
        let runners = self.runners.clone();
        let target = format!("VPS {id} as {name}");
        Ok(self.operations.start("vps_save", &target, move |progress| async move {
            let last = runners
                .save_vps(&node.url, &order, |event| match event {
                    SaveEvent::Phase { phase, total_bytes } => progress.phase(phase, *total_bytes),
                    SaveEvent::Bytes { bytes } => progress.add_bytes(*bytes),
                    SaveEvent::Done { .. } | SaveEvent::Failed { .. } => {}
                })
                .await
                .map_err(|e| e.to_string())?;
            let (tarball, size_bytes) = match last {
                SaveEvent::Done { tarball, size_bytes } => (tarball, size_bytes),
                SaveEvent::Failed { reason } => return Err(reason),
                _ => return Err("the runner ended the save without a result".into()),
            };
            let row = SnapshotRow {
                tarball: tarball.clone(),
                task_id: id,
                env_name: order.name.clone(),
                timestamp_s: order.timestamp,
                size_bytes,
                node: node.hostname.clone(),
                saved_by,
            };
            store::insert(&snapshots.pool, &row).await.map_err(|e| e.to_string())?;
            let versions = hakuriver_support::tarballs::versions(&snapshots.dir, &order.name);
            for old in beyond_kept(&versions, snapshots.kept) {
                match tokio::fs::remove_file(&old).await {
                    Ok(()) => tracing::info!(tarball = %old.display(), "older environment version removed"),
                    Err(e) => tracing::warn!(tarball = %old.display(), error = %e, "cannot remove an older version"),
                }
            }
            tracing::info!(task = %id, env = order.name, tarball, size_bytes, "VPS saved as an environment");
            Ok(super::tarball_result(&snapshots.dir.join(&tarball)))
        }))
    }

    /// The tarballs saved from VPS `id`, newest first, each with whether it is still there.
    pub async fn vps_snapshots(&self, id: TaskId) -> Result<Vec<VpsSnapshot>, ServiceError> {
        let s = &self.snapshots;
        if task_store::get(&s.pool, id).await?.is_none() {
            return Err(ServiceError::NotFound(format!("Task {id} not found.")));
        }
        Ok(store::of_task(&s.pool, id).await?.into_iter().map(|r| view(&s.dir, r)).collect())
    }
}

fn view(dir: &Path, r: SnapshotRow) -> VpsSnapshot {
    let present = dir.join(&r.tarball).is_file();
    VpsSnapshot {
        task_id: r.task_id,
        env_name: r.env_name,
        tarball: r.tarball,
        timestamp: r.timestamp_s,
        size_bytes: r.size_bytes,
        node: r.node,
        saved_by: r.saved_by,
        present,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_versions_are_kept() {
        let versions: Vec<(i64, PathBuf)> =
            [300, 200, 100].iter().map(|t| (*t, PathBuf::from(format!("e-{t}.tar")))).collect();
        assert_eq!(beyond_kept(&versions, 2), [PathBuf::from("e-100.tar")]);
        assert!(beyond_kept(&versions, 3).is_empty());
        assert_eq!(beyond_kept(&versions, 0).len(), 2, "the version just saved always stays");
        assert_eq!(next_version(1000, None), 1000);
        assert_eq!(next_version(1000, Some(999)), 1000);
        assert_eq!(next_version(1000, Some(1000)), 1001, "a second save in the same second");
    }
}
