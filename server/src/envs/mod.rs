//! Docker environments on the host: env containers (created from an image, labelled
//! `hakuriver.kind=env`; only those are listed and touched), committed to `hakuriver/<env>:base`
//! and saved as versioned tarballs in shared storage for the runners.

mod default_env;
pub mod fallback;
pub mod tarballs;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CommitContainerOptionsBuilder, CreateContainerOptionsBuilder, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use futures::StreamExt;
use std::collections::BTreeMap;

use hakuriver_model::env::{CreateEnvRequest, EnvContainer, EnvVersions, NodeEnvVersion, TarballList};
use hakuriver_model::task::{env_image, is_valid_env_name};
use hakuriver_support::beneath::{self, BeneathError};

use crate::operations::Progress;

pub const KIND_LABEL: &str = "hakuriver.kind";
/// Read and write size for tarballs (1 MiB).
const IO_CHUNK: usize = 1 << 20;
pub const ENV_KIND: &str = "env";

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("Docker is not available on the host: {0}")]
    NoDocker(String),
    #[error("Docker: {0}")]
    Docker(String),
    #[error("{0}")]
    Io(String),
}

impl From<bollard::errors::Error> for EnvError {
    fn from(e: bollard::errors::Error) -> Self {
        match e {
            bollard::errors::Error::DockerResponseServerError { status_code: 404, message } => {
                EnvError::NotFound(message)
            }
            other => EnvError::Docker(other.to_string()),
        }
    }
}

pub fn check_name(name: &str) -> Result<(), EnvError> {
    if is_valid_env_name(name) {
        Ok(())
    } else {
        Err(EnvError::Invalid(format!(
            "invalid environment name {name:?}: use lowercase letters, digits, '.', '_' or '-' (2 to 128 of them, no '..')"
        )))
    }
}

#[derive(Clone)]
pub struct EnvService {
    docker: Result<Docker, String>,
    /// `[registries]`: logins for pulls.
    registries: std::sync::Arc<std::collections::BTreeMap<String, hakuriver_config::RegistryLogin>>,
    dir: PathBuf,
    /// Imports read tar files beneath this folder only (`paths.shared_dir`), never through a link.
    import_root: PathBuf,
    warnings: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl EnvService {
    /// Connects to the host's Docker engine; without one every call says so.
    pub async fn connect(
        dir: PathBuf,
        import_root: PathBuf,
        registries: std::collections::BTreeMap<String, hakuriver_config::RegistryLogin>,
    ) -> Self {
        let docker = match Docker::connect_with_local_defaults() {
            Ok(d) => d.negotiate_version().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = &docker {
            tracing::warn!(error = %e, "Docker engine not reachable: environment management is unavailable");
        }
        EnvService {
            docker,
            registries: std::sync::Arc::new(registries),
            dir,
            import_root,
            warnings: Default::default(),
        }
    }

    /// Problems an admin must fix, for `/health` and the dashboard.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn warn(&self, message: String) {
        tracing::warn!("{message}");
        self.warnings.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(message);
    }

    pub fn docker(&self) -> Result<&Docker, EnvError> {
        self.docker.as_ref().map_err(|e| EnvError::NoDocker(e.clone()))
    }

    pub fn tarball_dir(&self) -> &Path {
        &self.dir
    }

    /// Removes what interrupted saves left behind.
    pub fn clean_partials(&self) {
        for file in tarballs::partials(&self.dir) {
            tracing::warn!(file = %file.display(), "removing an incomplete tarball from an interrupted save");
            let _ = std::fs::remove_file(file);
        }
    }

    pub async fn list_containers(&self) -> Result<Vec<EnvContainer>, EnvError> {
        let filters = HashMap::from([("label".to_string(), vec![format!("{KIND_LABEL}={ENV_KIND}")])]);
        let options = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
        let list = self.docker()?.list_containers(Some(options)).await?;
        Ok(list
            .into_iter()
            .map(|c| EnvContainer {
                id: c.id.unwrap_or_default().chars().take(12).collect(),
                name: c
                    .names
                    .unwrap_or_default()
                    .first()
                    .map(|n| n.trim_start_matches('/').to_string())
                    .unwrap_or_default(),
                image: c.image.unwrap_or_default(),
                // The state (`running`, `exited`, ...), as the original's Docker SDK called status.
                status: c.state.map(|s| s.to_string()).unwrap_or_default(),
            })
            .collect())
    }

    /// The env container named exactly `name`, if it is one of ours. Looked up by label and
    /// exact name, never by Docker's name-or-id-prefix matching (a name like `0` would
    /// otherwise reach whatever container's id starts with it).
    async fn find(&self, name: &str) -> Result<Found, EnvError> {
        check_name(name)?;
        let filters = HashMap::from([
            ("label".to_string(), vec![format!("{KIND_LABEL}={ENV_KIND}")]),
            ("name".to_string(), vec![format!("^/{name}$")]),
        ]);
        let options = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
        let wanted = format!("/{name}");
        self.docker()?
            .list_containers(Some(options))
            .await?
            .into_iter()
            .find(|c| c.names.as_ref().is_some_and(|names| names.contains(&wanted)))
            .and_then(|c| Some(Found { id: c.id?, state: c.state.map(|s| s.to_string()).unwrap_or_default() }))
            .ok_or_else(|| EnvError::NotFound(format!("Environment container '{name}' not found.")))
    }

    /// Creates and starts an env container from a local image (no-op if it exists).
    /// Checks a create request's names; answers whether its image must be pulled first.
    pub async fn check_create(&self, req: &CreateEnvRequest) -> Result<bool, EnvError> {
        check_name(&req.container_name)?;
        let image = req.image_name.trim();
        if image.is_empty() || image.contains(char::is_whitespace) || image.starts_with('-') {
            return Err(EnvError::Invalid(format!("invalid image name {:?}", req.image_name)));
        }
        if self.find(&req.container_name).await.is_ok() {
            return Ok(false);
        }
        Ok(self.docker()?.inspect_image(image).await.is_err())
    }

    /// Pulls `image` from its registry (with its configured login), progress on `progress`.
    pub async fn pull(&self, image: &str, progress: &Progress) -> Result<(), EnvError> {
        progress.phase("pulling", None);
        hakuriver_support::registry::pull(self.docker()?, image, &self.registries, |done, total| {
            progress.set_bytes(done, (total > 0).then_some(total))
        })
        .await
        .map_err(|e| {
            EnvError::NotFound(format!(
                "{e}. Import it instead (hakuriver docker tar import TAR NAME), or set its registry's login in [registries]"
            ))
        })?;
        tracing::info!(image, "image pulled");
        Ok(())
    }

    /// Creates env container `req.container_name` from `req.image_name`, pulling the image first
    /// when the host does not have it. Whether it was created (false: it existed).
    pub async fn create(&self, req: &CreateEnvRequest, progress: &Progress) -> Result<bool, EnvError> {
        if self.find(&req.container_name).await.is_ok() {
            return Ok(false);
        }
        let image = req.image_name.trim();
        if self.check_create(req).await? {
            self.pull(image, progress).await?;
        }
        let docker = self.docker()?;
        let labels = HashMap::from([
            (KIND_LABEL.to_string(), ENV_KIND.to_string()),
            ("hakuriver.env".to_string(), req.container_name.clone()),
        ]);
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            cmd: Some(vec!["sleep".into(), "infinity".into()]),
            labels: Some(labels),
            tty: Some(true),
            ..Default::default()
        };
        docker
            .create_container(Some(CreateContainerOptionsBuilder::new().name(&req.container_name).build()), body)
            .await?;
        docker.start_container(&req.container_name, None).await?;
        tracing::info!(env = %req.container_name, image, "environment container created");
        Ok(true)
    }

    pub async fn start(&self, name: &str) -> Result<(), EnvError> {
        let found = self.find(name).await?;
        self.docker()?.start_container(&found.id, None).await.or_else(already(304))
    }

    pub async fn stop(&self, name: &str) -> Result<(), EnvError> {
        let found = self.find(name).await?;
        self.docker()?.stop_container(&found.id, None).await.or_else(already(304))
    }

    pub async fn delete(&self, name: &str, force: bool) -> Result<(), EnvError> {
        let found = self.find(name).await?;
        if found.state == "running" && !force {
            return Err(EnvError::Conflict(format!("Container '{name}' is running; stop it first or pass force")));
        }
        let options = RemoveContainerOptionsBuilder::new().force(true).build();
        Ok(self.docker()?.remove_container(&found.id, Some(options)).await?)
    }

    /// Commits the env container to `hakuriver/<env>:base` and saves it as a new tarball; older
    /// tarballs of the env are removed once the new one is in place. Returns the tarball path.
    pub async fn create_tar(&self, name: &str, progress: &Progress) -> Result<PathBuf, EnvError> {
        let found = self.find(name).await?;
        progress.phase("committing", None);
        let docker = self.docker()?;
        let ts = chrono::Utc::now().timestamp();
        let image = env_image(name);
        let repo = image.trim_end_matches(":base");
        let options =
            CommitContainerOptionsBuilder::new().container(&found.id).repo(repo).tag("base").pause(true).build();
        docker.commit_container(options, bollard::models::ContainerConfig::default()).await?;
        self.save_tarball(name, ts, progress).await
    }

    /// Checks that `name` is one of our env containers.
    pub async fn check_env(&self, name: &str) -> Result<(), EnvError> {
        self.find(name).await.map(drop)
    }

    /// Saves `hakuriver/<env>:base` as `<env>-<ts>.tar`, through a temporary name; then removes
    /// the env's older tarballs.
    async fn save_tarball(&self, name: &str, ts: i64, progress: &Progress) -> Result<PathBuf, EnvError> {
        let docker = self.docker()?;
        let image = env_image(name);
        let size = docker.inspect_image(&image).await.ok().and_then(|i| i.size).and_then(|s| u64::try_from(s).ok());
        progress.phase("saving", size);
        let done =
            hakuriver_support::tarballs::save_image(docker, &image, &self.dir, name, ts, |n| progress.add_bytes(n))
                .await
                .map_err(|e| match e {
                    hakuriver_support::tarballs::SaveError::Docker(e) => EnvError::from(e),
                    other => EnvError::Io(other.to_string()),
                })?;
        for old in hakuriver_support::tarballs::older_than(&self.dir, name, ts) {
            let _ = tokio::fs::remove_file(old).await;
        }
        tracing::info!(env = name, tarball = %done.display(), "environment tarball created");
        Ok(done)
    }

    /// Checks an import's name and file, and tells what kind of tar it is.
    pub async fn prepare_import(&self, path: &Path, name: &str) -> Result<TarKind, EnvError> {
        check_name(name)?;
        if !path.is_absolute() {
            return Err(EnvError::Invalid(format!("{}: give an absolute path on the host", path.display())));
        }
        let file = self.open_import(path).await?;
        self.docker()?;
        let owned = path.to_path_buf();
        tokio::task::spawn_blocking(move || tar_kind(&owned, file)).await.map_err(|e| EnvError::Io(e.to_string()))?
    }

    /// Opens a file to import: beneath `paths.shared_dir`, never through a link.
    async fn open_import(&self, path: &Path) -> Result<std::fs::File, EnvError> {
        let (root, owned) = (self.import_root.clone(), path.to_path_buf());
        let opened = tokio::task::spawn_blocking(move || beneath::open_read(&root, &owned))
            .await
            .map_err(|e| EnvError::Io(e.to_string()))?;
        opened.map_err(|e| match e {
            e if e.is_not_found() => EnvError::NotFound(format!("{}: no such file on the host", path.display())),
            BeneathError::Outside(..) => EnvError::Invalid(format!(
                "{}: imports read files inside paths.shared_dir ({}) only; copy the tar file there",
                path.display(),
                self.import_root.display()
            )),
            e @ (BeneathError::Link(_) | BeneathError::NotRegular(_)) => {
                tracing::warn!(path = %path.display(), error = %e, "import refused");
                EnvError::Invalid(e.to_string())
            }
            e => EnvError::Io(e.to_string()),
        })
    }

    /// Makes environment `name` from a tar file on the host (checked by `prepare_import`): a root
    /// file system (as `docker import` takes) or an image (as `docker save` writes); then saves
    /// its tarball.
    pub async fn import(
        &self,
        path: &Path,
        name: &str,
        kind: TarKind,
        progress: &Progress,
    ) -> Result<PathBuf, EnvError> {
        let docker = self.docker()?;
        let size = tokio::fs::metadata(path).await.ok().map(|m| m.len());
        progress.phase("importing", size);
        let image = env_image(name);
        let repo = image.trim_end_matches(":base").to_string();
        let open = || async {
            let file = tokio::fs::File::from_std(self.open_import(path).await?);
            let counter = progress.clone();
            let counted = tokio_util::io::ReaderStream::with_capacity(file, IO_CHUNK).inspect(move |chunk| {
                if let Ok(bytes) = chunk {
                    counter.add_bytes(bytes.len() as u64);
                }
            });
            Ok::<_, EnvError>(counted)
        };
        match kind {
            TarKind::RootFs => {
                let options = bollard::query_parameters::CreateImageOptions {
                    from_src: Some("-".into()),
                    repo: Some(repo.clone()),
                    tag: Some("base".into()),
                    changes: vec!["ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
                    ..Default::default()
                };
                let body = bollard::body_try_stream(open().await?);
                let mut progress = docker.create_image(Some(options), Some(body), None);
                while let Some(step) = progress.next().await {
                    let info = step.map_err(|e| EnvError::Invalid(format!("cannot import {}: {e}", path.display())))?;
                    if let Some(message) = info.error_detail.and_then(|d| d.message) {
                        return Err(EnvError::Invalid(format!("cannot import {}: {message}", path.display())));
                    }
                }
            }
            TarKind::Image => {
                let mut loaded = None;
                let options = bollard::query_parameters::ImportImageOptions { quiet: false, ..Default::default() };
                let mut progress = docker.import_image_stream(options, open().await?, None);
                while let Some(step) = progress.next().await {
                    let info = step.map_err(|e| EnvError::Invalid(format!("cannot load {}: {e}", path.display())))?;
                    if let Some(message) = info.error_detail.and_then(|d| d.message) {
                        return Err(EnvError::Invalid(format!("cannot load {}: {message}", path.display())));
                    }
                    if let Some(name) = info.stream.as_deref().and_then(loaded_image) {
                        loaded = Some(name);
                    }
                }
                let loaded =
                    loaded.ok_or_else(|| EnvError::Invalid(format!("{}: no image in this tar", path.display())))?;
                let options =
                    bollard::query_parameters::TagImageOptions { repo: Some(repo.clone()), tag: Some("base".into()) };
                docker.tag_image(&loaded, Some(options)).await?;
            }
        }
        tracing::info!(env = name, from = %path.display(), ?kind, "environment imported");
        self.save_tarball(name, chrono::Utc::now().timestamp(), progress).await
    }

    /// Whether tasks can get `env` from the host's side: it has a tarball in shared storage, or
    /// its image is on the host's engine. Else why not, and the commands that fix it.
    pub async fn check_available(&self, env: &str) -> Result<(), String> {
        if self.list_tars().contains_key(env) {
            return Ok(());
        }
        if let Ok(docker) = self.docker() {
            if docker.inspect_image(&hakuriver_model::task::env_image(env)).await.is_ok() {
                return Ok(());
            }
        }
        Err(format!(
            "Environment '{env}' does not exist: it has no tarball in shared storage, and neither the host nor any \
             node has its image. Make it from an image (hakuriver docker container create IMAGE {env}; then \
             hakuriver docker tar create {env}), import one (hakuriver docker tar import IMAGE.tar {env}), or \
             run without a container (container_name \"NULL\")."
        ))
    }

    pub fn list_tars(&self) -> TarballList {
        tarballs::list(&self.dir)
    }

    /// Starts an interactive shell (bash if the image has it, else sh) on a TTY in a running env
    /// container.
    pub async fn open_shell(&self, name: &str) -> Result<hakuriver_terminal::Shell, EnvError> {
        let found = self.find(name).await?;
        if found.state != "running" {
            let state = found.state;
            return Err(EnvError::Conflict(format!("Container '{name}' is not running (status: {state}).")));
        }
        hakuriver_terminal::exec_shell(self.docker()?, &found.id).await.map_err(|e| EnvError::Docker(e.to_string()))
    }
}

/// An env container as found by its exact name.
struct Found {
    id: String,
    /// `running`, `exited`, ...
    state: String,
}

/// Which runner has which version of each environment: from the tarballs and the images the
/// runners report in their heartbeats.
pub fn versions(tars: &TarballList, nodes: &[hakuriver_model::NodeInfo]) -> BTreeMap<String, EnvVersions> {
    let mut out: BTreeMap<String, EnvVersions> = tars
        .iter()
        .map(|(env, t)| (env.clone(), EnvVersions { latest_timestamp: Some(t.latest_timestamp), ..empty_versions() }))
        .collect();
    for node in nodes {
        for (env, &created) in &node.environments {
            let entry = out.entry(env.clone()).or_insert_with(empty_versions);
            let current = entry.latest_timestamp.is_none_or(|latest| created >= latest);
            entry.nodes.insert(node.hostname.clone(), NodeEnvVersion { image_created: created, current });
        }
        for (env, progress) in &node.env_loading {
            out.entry(env.clone())
                .or_insert_with(empty_versions)
                .loading
                .insert(node.hostname.clone(), progress.clone());
        }
    }
    out
}

fn empty_versions() -> EnvVersions {
    EnvVersions { latest_timestamp: None, nodes: BTreeMap::new(), loading: BTreeMap::new() }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TarKind {
    /// A root file system (`docker import`).
    RootFs,
    /// A saved image with `manifest.json` (`docker load`).
    Image,
}

/// Tells a saved image from a root file system by its `manifest.json`.
pub fn tar_kind(path: &Path, file: std::fs::File) -> Result<TarKind, EnvError> {
    let bad = |e: std::io::Error| EnvError::Invalid(format!("{}: not a readable tar file: {e}", path.display()));
    let mut archive = tar::Archive::new(file);
    let mut entries = 0;
    for entry in archive.entries().map_err(bad)? {
        let entry = entry.map_err(bad)?;
        let name = entry.path().map_err(bad)?.to_string_lossy().trim_start_matches("./").to_string();
        if name == "manifest.json" {
            return Ok(TarKind::Image);
        }
        entries += 1;
    }
    if entries == 0 {
        return Err(EnvError::Invalid(format!("{}: an empty or corrupt tar file", path.display())));
    }
    Ok(TarKind::RootFs)
}

/// The image name in a `docker load` progress line: `Loaded image: NAME` or `Loaded image ID: ID`.
pub fn loaded_image(line: &str) -> Option<String> {
    let line = line.trim();
    line.strip_prefix("Loaded image: ").or_else(|| line.strip_prefix("Loaded image ID: ")).map(|s| s.trim().to_string())
}

/// Treats an HTTP status of Docker (304: already started/stopped) as success.
fn already(code: u16) -> impl Fn(bollard::errors::Error) -> Result<(), EnvError> {
    move |e| match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } if status_code == code => Ok(()),
        other => Err(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(files: &[&str]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut builder = tar::Builder::new(file.reopen().unwrap());
        for name in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(2);
            header.set_cksum();
            builder.append_data(&mut header, name, &b"{}"[..]).unwrap();
        }
        builder.finish().unwrap();
        file
    }

    #[test]
    fn tells_images_from_root_file_systems() {
        let kind = |f: &tempfile::NamedTempFile| tar_kind(f.path(), std::fs::File::open(f.path()).unwrap());
        assert_eq!(kind(&tar_with(&["manifest.json", "abc/layer.tar"])).unwrap(), TarKind::Image);
        assert_eq!(kind(&tar_with(&["./bin/sh", "./etc/passwd"])).unwrap(), TarKind::RootFs);
        let junk = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(junk.path(), b"this is not a tar file at all").unwrap();
        assert!(matches!(kind(&junk), Err(EnvError::Invalid(_))));
    }

    #[test]
    fn versions_compare_loaded_images_with_the_newest_tarball() {
        let dir = tempfile::tempdir().unwrap();
        for n in ["base-100.tar", "base-200.tar"] {
            std::fs::write(dir.path().join(n), b"").unwrap();
        }
        let node = |name: &str, created: i64| {
            let mut n: hakuriver_model::NodeInfo = serde_json::from_value(serde_json::json!({
                "hostname": name, "url": "", "total_cores": 1, "cores_in_use": 0, "available_cores": 1,
                "status": "online", "last_heartbeat": null, "numa_topology": null, "gpu_info": []}))
            .unwrap();
            n.environments.insert("base".into(), created);
            n
        };
        let v = versions(&tarballs::list(dir.path()), &[node("a", 205), node("b", 150)]);
        assert_eq!(v["base"].latest_timestamp, Some(200));
        assert!(v["base"].nodes["a"].current);
        assert!(!v["base"].nodes["b"].current);
    }

    #[test]
    fn reads_load_progress() {
        assert_eq!(loaded_image("Loaded image: hakuriver/x:base\n").as_deref(), Some("hakuriver/x:base"));
        assert_eq!(loaded_image("Loaded image ID: sha256:ab").as_deref(), Some("sha256:ab"));
        assert_eq!(loaded_image("Loading layer"), None);
    }
}
