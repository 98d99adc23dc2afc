//! The default environment on a host's first start: built from `docker.initial_base_image`
//! when it is on the host or can be pulled, else from the host's static busybox (`fallback`).

use std::path::PathBuf;

use super::{fallback, CreateEnvRequest, EnvError, EnvService, TarKind};

/// How long the first start's pull of `docker.initial_base_image` may take.
const PULL_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);
use crate::operations::Progress;

impl EnvService {
    /// First start: makes sure the default environment has a tarball, building it from `image`
    /// when that image is on the host or can be pulled, else from the host's static busybox;
    /// otherwise says what is missing and the command that fixes it. An empty `image`: none is
    /// built.
    pub async fn ensure_default(&self, env: &str, image: &str, progress: &Progress) {
        if image.is_empty() {
            tracing::info!(env, "docker.initial_base_image is empty: no default environment is built");
            return;
        }
        if self.list_tars().contains_key(env) {
            return;
        }
        let fix =
            format!("import a root file system or image tar: hakuriver docker tar import /path/to/image.tar {env}");
        let docker = match self.docker() {
            Ok(d) => d,
            Err(e) => {
                return self
                    .warn(format!("The default environment '{env}' has no tarball and {e}. Start Docker, then {fix}"))
            }
        };
        let pulled = || async {
            // At most a minute: an offline lab's pull may hang on its registry until then.
            matches!(tokio::time::timeout(PULL_LIMIT, self.pull(image, progress)).await, Ok(Ok(())))
        };
        if docker.inspect_image(image).await.is_err() && !pulled().await {
            // No registry (an offline lab): a minimal environment from this machine's busybox, so
            // a fresh cluster still runs container tasks; said loudly, with the way to the real one.
            return match self.build_from_busybox(env, progress).await {
                Ok(path) => self.warn(format!(
                    "'{image}' is not on the host and cannot be pulled: the default environment '{env}' was built \
                     from this machine's busybox instead (a shell and the basic tools; {}). For '{image}', {fix}",
                    path.display()
                )),
                Err(e) => self.warn(format!(
                    "The default environment '{env}' has no tarball and its image '{image}' is not on the host and \
                     cannot be pulled ({e}). To fix it, {fix}"
                )),
            };
        }
        let made = async {
            let request = CreateEnvRequest { image_name: image.to_string(), container_name: env.to_string() };
            self.create(&request, progress).await?;
            self.create_tar(env, progress).await
        };
        match made.await {
            Ok(path) => tracing::info!(env, tarball = %path.display(), "default environment created"),
            Err(e) => {
                self.warn(format!("Cannot build the default environment '{env}' from '{image}': {e}. To fix it, {fix}"))
            }
        }
    }

    /// Makes environment `env` from this machine's static busybox (`fallback`): its root file
    /// system is written beneath `paths.shared_dir`, imported, and saved as the env's tarball.
    async fn build_from_busybox(&self, env: &str, progress: &Progress) -> Result<PathBuf, EnvError> {
        let busybox = fallback::static_busybox().ok_or_else(|| {
            EnvError::NotFound("no static busybox on the host either (apt-get install busybox-static)".into())
        })?;
        let rootfs = self.import_root.join(format!(".hakuriver-busybox-{env}.tar"));
        let written = {
            let (busybox, rootfs) = (busybox.clone(), rootfs.clone());
            tokio::task::spawn_blocking(move || {
                let applets = fallback::applets(&busybox)?;
                fallback::write_rootfs(&busybox, &applets, &rootfs)
            })
            .await
            .map_err(|e| EnvError::Io(e.to_string()))?
        };
        let made = match written {
            Ok(()) => self.import(&rootfs, env, TarKind::RootFs, progress).await,
            Err(e) => Err(EnvError::Io(format!("cannot write {}: {e}", rootfs.display()))),
        };
        let _ = tokio::fs::remove_file(&rootfs).await;
        made
    }
}
