//! Environment images from shared storage: `hakuriver/<env>:base` is loaded from the newest
//! `<env>-<unix_ts>.tar` in the container folder when missing locally or older than that tar.
//! One load at a time per environment, however many tasks arrive together.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bollard::query_parameters::ImportImageOptions;
use bollard::Docker;
use futures::StreamExt;
use hakuriver_model::env::LoadProgress;
use tokio::sync::Mutex;

/// The newest tarball of `env` in `dir`: `(unix seconds, path)`.
pub fn newest_tarball(dir: &Path, env: &str) -> Option<(i64, PathBuf)> {
    let prefix = format!("{env}-");
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        // A link is never loaded (`beneath` refuses it): an older real tarball is newest.
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let ts = tarball_timestamp(&name, &prefix)?;
            Some((ts, entry.path()))
        })
        .max_by_key(|(ts, _)| *ts)
}

/// `<env>-<digits>.tar` → the digits.
pub fn tarball_timestamp(file_name: &str, prefix: &str) -> Option<i64> {
    let digits = file_name.strip_prefix(prefix)?.strip_suffix(".tar")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `hakuriver/<env>:base` images present locally: env → creation (unix seconds).
pub async fn loaded_envs(docker: &Docker) -> std::collections::BTreeMap<String, i64> {
    let filters = HashMap::from([("reference".to_string(), vec!["hakuriver/*:base".to_string()])]);
    let options = bollard::query_parameters::ListImagesOptionsBuilder::new().filters(&filters).build();
    let Ok(images) = docker.list_images(Some(options)).await else { return Default::default() };
    images
        .into_iter()
        .flat_map(|i| {
            let created = i.created;
            i.repo_tags.into_iter().filter_map(move |tag| {
                let env = tag.strip_prefix("hakuriver/")?.strip_suffix(":base")?.to_string();
                Some((env, created))
            })
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot load {path}: {reason}")]
    Load { path: PathBuf, reason: String },
}

/// Loads in progress, env → progress (reported in heartbeats).
type Loads = Arc<std::sync::Mutex<std::collections::BTreeMap<String, LoadProgress>>>;

#[derive(Clone)]
pub struct ImageSync {
    docker: Docker,
    dir: PathBuf,
    locks: Arc<Mutex<HashMap<String, Arc<Mutex<()>>>>>,
    loads: Loads,
}

/// Removes an env's entry from the loads in progress when the load ends, however it ends.
struct LoadEntry(Loads, String);

impl Drop for LoadEntry {
    fn drop(&mut self) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.1);
    }
}

impl ImageSync {
    pub fn new(docker: Docker, dir: PathBuf) -> Self {
        ImageSync { docker, dir, locks: Arc::default(), loads: Arc::default() }
    }

    /// Loads in progress now.
    pub fn loading(&self) -> std::collections::BTreeMap<String, LoadProgress> {
        self.loads.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Makes sure `hakuriver/<env>:base` is at least as new as the newest tarball of `env`.
    pub async fn ensure(&self, env: &str, image: &str) -> Result<(), ImageError> {
        let lock = self.locks.lock().await.entry(env.to_string()).or_default().clone();
        let _one_at_a_time = lock.lock().await;
        let Some((ts, path)) = newest_tarball(&self.dir, env) else {
            return Ok(()); // No tarball: use the local image as it is.
        };
        let local = self
            .docker
            .inspect_image(image)
            .await
            .ok()
            .and_then(|i| i.created)
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(&c).ok().map(|t| t.timestamp()));
        if local.is_some_and(|created| created >= ts) {
            return Ok(());
        }
        tracing::info!(env, tarball = %path.display(), "loading environment image");
        let fail = |reason: String| ImageError::Load { path: path.clone(), reason };
        // Never through a link planted in shared storage: the tarball must be a file of its own.
        let (dir, name) = (self.dir.clone(), path.clone());
        let file = tokio::task::spawn_blocking(move || hakuriver_support::beneath::open_read(&dir, &name))
            .await
            .map_err(|e| fail(e.to_string()))?
            .map_err(|e| fail(e.to_string()))?;
        let file = tokio::fs::File::from_std(file);
        let total = file.metadata().await.ok().map(|m| m.len());
        self.loads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(env.to_string(), LoadProgress { bytes: 0, total_bytes: total });
        let _entry = LoadEntry(self.loads.clone(), env.to_string());
        let (loads, key) = (self.loads.clone(), env.to_string());
        // 1 MiB reads: the default 4 KiB would make loading several times slower than `docker load`.
        let body = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20).inspect(move |chunk| {
            if let Ok(bytes) = chunk {
                if let Some(p) = loads.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_mut(&key) {
                    p.bytes += bytes.len() as u64;
                }
            }
        });
        let mut progress =
            self.docker.import_image_stream(ImportImageOptions { quiet: true, ..Default::default() }, body, None);
        while let Some(step) = progress.next().await {
            let info = step.map_err(|e| fail(e.to_string()))?;
            if let Some(error) = info.error_detail.and_then(|d| d.message) {
                return Err(fail(error));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_newest_tarball_of_the_env_only() {
        let dir = tempfile::tempdir().unwrap();
        for name in
            ["base-100.tar", "base-250.tar", "base-x.tar", "base-extra-900.tar", "other-999.tar", "base-300.tar.tmp"]
        {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("base-999.tar")).unwrap();
        let (ts, path) = newest_tarball(dir.path(), "base").unwrap();
        assert_eq!(ts, 250, "a link is no tarball");
        assert!(path.ends_with("base-250.tar"));
        assert_eq!(newest_tarball(dir.path(), "none"), None);
    }
}
