//! Environment images from shared storage: `hakuriver/<env>:base` is loaded from the newest
//! `<env>-<unix_ts>.tar` in the container folder when missing locally or older than that tar.
//! One load at a time per environment, however many tasks arrive together.
//!
//! An image's age is the tarball it was loaded from, as this runner recorded it (`LoadRecord`):
//! a loaded image keeps the creation time of wherever it was built (an imported one: long ago),
//! so that time alone would have it loaded again before every task. Only an image this runner did
//! not load (or one replaced since) is judged by its creation time.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bollard::query_parameters::ImportImageOptions;
use bollard::Docker;
use futures::StreamExt;
use hakuriver_model::env::LoadProgress;
use tokio::sync::Mutex;

/// The newest tarball of `env` in `dir`: `(unix seconds, path)`. A link is never loaded
/// (`beneath` refuses it): an older real tarball is newest then.
pub fn newest_tarball(dir: &Path, env: &str) -> Option<(i64, PathBuf)> {
    hakuriver_support::tarballs::versions(dir, env).into_iter().next()
}

/// A pull's progress as a task shows it: `pulling IMAGE: 12.0 MB of 45.0 MB`.
pub fn pull_progress(image: &str, done: u64, total: u64) -> String {
    use hakuriver_model::format_bytes;
    if total > 0 {
        format!("pulling {image}: {} of {}", format_bytes(done), format_bytes(total))
    } else {
        format!("pulling {image}")
    }
}

/// Which tarball each environment's local image was loaded from: env → (tarball timestamp, the
/// id of the image that load made). Kept in a file of the runner's own.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoadRecord(BTreeMap<String, Loaded>);

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Loaded {
    pub tarball_ts: i64,
    pub image_id: String,
}

impl LoadRecord {
    /// The record at `path`; empty when there is none (or it cannot be read: then every image is
    /// judged by its creation time once more, and loaded at most once again).
    pub fn read(path: &Path) -> LoadRecord {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "ignoring a damaged record of loaded environments");
                LoadRecord::default()
            }),
            Err(_) => LoadRecord::default(),
        }
    }

    /// Writes the record whole under a name of its own, then renames it into place.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let partial = path.with_extension(format!("json.{}", std::process::id()));
        std::fs::write(&partial, serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)?;
        std::fs::rename(&partial, path)
    }

    pub fn set(&mut self, env: &str, loaded: Loaded) {
        self.0.insert(env.to_string(), loaded);
    }

    /// The version of `env`'s local image (`id`, created at `created`): the tarball it was
    /// loaded from when this runner loaded it, else its creation time.
    pub fn version(&self, env: &str, id: &str, created: i64) -> i64 {
        match self.0.get(env) {
            Some(loaded) if loaded.image_id == id => loaded.tarball_ts,
            _ => created,
        }
    }
}

/// `hakuriver/<env>:base` images present locally: env → version (see `LoadRecord::version`).
pub async fn loaded_envs(docker: &Docker, record: &LoadRecord) -> BTreeMap<String, i64> {
    let filters = HashMap::from([("reference".to_string(), vec!["hakuriver/*:base".to_string()])]);
    let options = bollard::query_parameters::ListImagesOptionsBuilder::new().filters(&filters).build();
    let Ok(images) = docker.list_images(Some(options)).await else { return Default::default() };
    images
        .into_iter()
        .flat_map(|i| {
            let (id, created) = (i.id, i.created);
            i.repo_tags.into_iter().filter_map(move |tag| {
                let env = tag.strip_prefix("hakuriver/")?.strip_suffix(":base")?.to_string();
                let version = record.version(&env, &id, created);
                Some((env, version))
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
    /// Which tarball each local image came from, and where that is kept.
    record: Arc<std::sync::Mutex<LoadRecord>>,
    record_path: PathBuf,
    /// `[registries]`: logins for the images tasks name.
    registries: Arc<BTreeMap<String, hakuriver_config::RegistryLogin>>,
}

/// Removes an env's entry from the loads in progress when the load ends, however it ends.
struct LoadEntry(Loads, String);

impl Drop for LoadEntry {
    fn drop(&mut self) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.1);
    }
}

impl ImageSync {
    /// `dir`: the environment tarballs; `record_path`: where the `LoadRecord` is kept.
    pub fn new(docker: Docker, dir: PathBuf, record_path: PathBuf) -> Self {
        let record = Arc::new(std::sync::Mutex::new(LoadRecord::read(&record_path)));
        ImageSync {
            docker,
            dir,
            locks: Arc::default(),
            loads: Arc::default(),
            record,
            record_path,
            registries: Arc::default(),
        }
    }

    /// With the logins it pulls task images with.
    pub fn with_registries(mut self, registries: BTreeMap<String, hakuriver_config::RegistryLogin>) -> Self {
        self.registries = Arc::new(registries);
        self
    }

    /// Makes sure registry image `reference` is on this node: pulled when missing, one pull per
    /// reference at a time however many tasks ask (the others wait for it and find it there).
    /// A reference already here is used as it is (a moving tag is not pulled again).
    pub async fn ensure_pulled(
        &self,
        reference: &str,
        on_progress: impl FnMut(u64, u64),
    ) -> Result<(), hakuriver_support::registry::PullError> {
        let lock = self.locks.lock().await.entry(format!("image:{reference}")).or_default().clone();
        let _one_at_a_time = lock.lock().await;
        if self.docker.inspect_image(reference).await.is_ok() {
            return Ok(());
        }
        tracing::info!(image = reference, "pulling a task's image");
        hakuriver_support::registry::pull(&self.docker, reference, &self.registries, on_progress).await?;
        tracing::info!(image = reference, "image pulled");
        Ok(())
    }

    /// The record of loaded tarballs as it is now.
    pub fn record(&self) -> LoadRecord {
        self.record.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
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
        let local = self.local_image(image).await;
        let record = self.record();
        if local.as_ref().is_some_and(|(id, created)| record.version(env, id, *created) >= ts) {
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
        if let Some((image_id, _)) = self.local_image(image).await {
            self.remember(env, Loaded { tarball_ts: ts, image_id });
        }
        Ok(())
    }

    /// Records that `env`'s local image is the tarball `loaded` names (loaded from it, or the
    /// image a VPS save wrote it from).
    pub fn remember(&self, env: &str, loaded: Loaded) {
        let mut record = self.record.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        record.set(env, loaded);
        if let Err(e) = record.write(&self.record_path) {
            tracing::warn!(path = %self.record_path.display(), error = %e, "cannot keep the record of loaded environments");
        }
    }

    /// The folder of environment tarballs in shared storage.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `(id, creation in unix seconds)` of a local image.
    async fn local_image(&self, image: &str) -> Option<(String, i64)> {
        let inspect = self.docker.inspect_image(image).await.ok()?;
        let created = chrono::DateTime::parse_from_rfc3339(inspect.created.as_deref()?).ok()?.timestamp();
        Some((inspect.id?, created))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_this_runner_loaded_is_as_new_as_its_tarball() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loaded_envs.json");
        let mut record = LoadRecord::read(&path);
        assert_eq!(record.version("base", "sha256:a", 100), 100, "not loaded here: its creation time");
        record.set("base", Loaded { tarball_ts: 5_000, image_id: "sha256:a".into() });
        record.write(&path).unwrap();
        let record = LoadRecord::read(&path);
        assert_eq!(record.version("base", "sha256:a", 100), 5_000, "built long ago, loaded from the 5000 tarball");
        assert_eq!(record.version("base", "sha256:b", 100), 100, "replaced since: its creation time again");
        assert_eq!(record.version("other", "sha256:a", 7), 7);
        std::fs::write(&path, b"{ damaged").unwrap();
        assert_eq!(LoadRecord::read(&path), LoadRecord::default());
    }

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
