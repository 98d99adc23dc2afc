//! A VPS saved as an environment (`vps save`): its container committed (paused meanwhile, as
//! create-tar does) to `hakuriver/<env>:base`, then saved into shared storage as that
//! environment's next tarball version, through a temporary name. The committed image runs as the
//! environment it came from would: its own entrypoint, command, working folder and variables, not
//! the VPS's sshd script or the runner's per-task variables and labels. This node's record says
//! the image is that tarball, so it is not loaded again here.

use std::collections::HashMap;

use bollard::models::{ContainerConfig, ImageConfig};
use bollard::query_parameters::CommitContainerOptionsBuilder;
use hakuriver_model::env::{SaveEvent, VpsSaveOrder};
use hakuriver_model::task::{env_image, is_valid_env_name, vps_container_name};
use tokio::sync::mpsc::Sender;

use super::images::Loaded;
use super::Executor;

/// What the committed image keeps of the VPS container's configuration: the source image's
/// entrypoint (none: an empty list, which clears the VPS's), command, working folder; its
/// variables, with the ones HakuRiver set on the container blanked (a variable the image did
/// not have is set empty: a commit cannot remove one); labels likewise.
pub fn commit_config(
    image: Option<&ImageConfig>,
    container_env: &[String],
    labels: &HashMap<String, String>,
) -> ContainerConfig {
    let image_env = image.and_then(|i| i.env.clone()).unwrap_or_default();
    let has = |key: &str| image_env.iter().any(|e| e.split('=').next() == Some(key));
    let mut env = image_env.clone();
    for entry in container_env {
        let key = entry.split('=').next().unwrap_or_default();
        if key.starts_with("HAKURIVER_") && !has(key) {
            env.push(format!("{key}="));
        }
    }
    let image_labels = image.and_then(|i| i.labels.clone()).unwrap_or_default();
    let mut kept = image_labels.clone();
    for key in labels.keys().filter(|k| k.starts_with("hakuriver.") && !image_labels.contains_key(*k)) {
        kept.insert(key.clone(), String::new());
    }
    ContainerConfig {
        entrypoint: Some(image.and_then(|i| i.entrypoint.clone()).unwrap_or_default()),
        cmd: Some(image.and_then(|i| i.cmd.clone()).unwrap_or_default()),
        working_dir: Some(
            image.and_then(|i| i.working_dir.clone()).filter(|w| !w.is_empty()).unwrap_or_else(|| "/".into()),
        ),
        env: Some(env),
        labels: Some(kept),
        ..Default::default()
    }
}

impl Executor {
    /// Saves VPS `order.task_id` (running, paused or stopped on this node); every step is sent
    /// on `events`, ending with `Done` or `Failed`. Stops early when `events` is closed (the
    /// host went away or cancelled): the partial tarball is removed.
    pub async fn save_vps(&self, order: VpsSaveOrder, events: Sender<SaveEvent>) {
        let event = match self.try_save(&order, &events).await {
            Ok((tarball, size_bytes)) => SaveEvent::Done { tarball, size_bytes },
            Err(reason) => {
                tracing::warn!(task = %order.task_id, env = order.name, reason, "VPS save failed");
                SaveEvent::Failed { reason }
            }
        };
        let _ = events.send(event).await;
    }

    async fn try_save(&self, order: &VpsSaveOrder, events: &Sender<SaveEvent>) -> Result<(String, u64), String> {
        let id = order.task_id;
        if !is_valid_env_name(&order.name) {
            return Err(format!("{:?} is not an environment name", order.name));
        }
        let (Some(docker), Some(images)) = (&self.docker, &self.images) else {
            return Err(format!("Docker is not available on node {}: {}", self.node, self.docker_problem));
        };
        let name = vps_container_name(id);
        let info = docker.docker.inspect_container(&name, None).await.map_err(|e| format!("VPS {id}: {e}"))?;
        let config = info.config.clone().unwrap_or_default();
        let labels = config.labels.clone().unwrap_or_default();
        let ours = labels.get("hakuriver.node") == Some(&self.node)
            && labels.get("hakuriver.kind").map(String::as_str) == Some("vps");
        if !ours {
            return Err(format!("VPS {id} has no container on node {}", self.node));
        }
        let source = match info.image.as_deref() {
            Some(image) => docker.docker.inspect_image(image).await.ok().and_then(|i| i.config),
            None => None,
        };
        let commit = commit_config(source.as_ref(), &config.env.unwrap_or_default(), &labels);
        let phase = |phase: &str, total_bytes| SaveEvent::Phase { phase: phase.into(), total_bytes };
        send(events, phase("committing", None)).await?;
        let image = env_image(&order.name);
        let repo = image.trim_end_matches(":base");
        let options = CommitContainerOptionsBuilder::new().container(&name).repo(repo).tag("base").pause(true).build();
        let committed = docker.docker.commit_container(options, commit).await.map_err(|e| format!("commit: {e}"))?;
        let size =
            docker.docker.inspect_image(&image).await.ok().and_then(|i| i.size).and_then(|s| u64::try_from(s).ok());
        send(events, phase("saving", size)).await?;
        let (bytes_out, mut pending) = (events.clone(), 0u64);
        let path = hakuriver_support::tarballs::save_image(
            &docker.docker,
            &image,
            images.dir(),
            &order.name,
            order.timestamp,
            |n| {
                // Progress in steps of 8 MiB, without waiting on the host.
                pending += n;
                if pending >= 8 << 20 && bytes_out.try_send(SaveEvent::Bytes { bytes: pending }).is_ok() {
                    pending = 0;
                }
            },
        );
        let path = tokio::select! {
            saved = path => saved.map_err(|e| e.to_string())?,
            () = events.closed() => return Err("the host stopped waiting: cancelled".into()),
        };
        if pending > 0 {
            send(events, SaveEvent::Bytes { bytes: pending }).await?;
        }
        images.remember(&order.name, Loaded { tarball_ts: order.timestamp, image_id: committed.id });
        let size_bytes = tokio::fs::metadata(&path).await.map(|m| m.len()).unwrap_or(0);
        let tarball = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        tracing::info!(task = %id, env = order.name, tarball, size_bytes, "VPS saved as an environment");
        Ok((tarball, size_bytes))
    }
}

async fn send(events: &Sender<SaveEvent>, event: SaveEvent) -> Result<(), String> {
    events.send(event).await.map_err(|_| "the host stopped waiting: cancelled".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_runs_as_its_source_not_as_the_vps() {
        let source = ImageConfig {
            env: Some(vec!["PATH=/usr/bin:/bin".into(), "LANG=C.UTF-8".into()]),
            cmd: Some(vec!["bash".into()]),
            labels: Some(HashMap::from([("org.opencontainers.image.title".into(), "debian".into())])),
            ..Default::default()
        };
        let container_env =
            ["PATH=/usr/bin:/bin", "HAKURIVER_TASK_ID=7", "HAKURIVER_SSH_PUBLIC_KEY=ssh-ed25519 AAAA", "MY_VAR=1"]
                .map(String::from);
        let labels = HashMap::from([
            ("hakuriver.kind".to_string(), "vps".to_string()),
            ("hakuriver.task_id".to_string(), "7".to_string()),
        ]);
        let c = commit_config(Some(&source), &container_env, &labels);
        assert_eq!(c.entrypoint, Some(vec![]), "the sshd script is cleared");
        assert_eq!(c.cmd, Some(vec!["bash".to_string()]));
        assert_eq!(c.working_dir.as_deref(), Some("/"));
        let env = c.env.unwrap();
        assert!(
            env.contains(&"HAKURIVER_SSH_PUBLIC_KEY=".to_string()) && env.contains(&"HAKURIVER_TASK_ID=".to_string())
        );
        assert!(
            !env.iter().any(|e| e.starts_with("MY_VAR")),
            "a variable the user set is kept by Docker's merge, not blanked"
        );
        let labels = c.labels.unwrap();
        assert_eq!(labels["hakuriver.kind"], "");
        assert_eq!(labels["org.opencontainers.image.title"], "debian");
        // An image without a configuration: nothing of the VPS's runs.
        let bare = commit_config(None, &[], &HashMap::new());
        assert_eq!((bare.entrypoint, bare.cmd), (Some(vec![]), Some(vec![])));
    }
}
