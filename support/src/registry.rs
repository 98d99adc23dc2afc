//! Images pulled from registries, by the host (an environment container from an image it does
//! not have) and by runners (a task or VPS that names an image): with the configured login of
//! the image's registry (`[registries]`, never logged), and the download's progress summed over
//! its layers.

use std::collections::{BTreeMap, HashMap};

use bollard::auth::DockerCredentials;
use bollard::models::CreateImageInfo;
use bollard::Docker;
use futures::StreamExt;
use hakuriver_config::RegistryLogin;

/// The registry an image reference names: `registry.lab:5000/team/app:1` → `registry.lab:5000`;
/// a reference without one (`debian:12`, `library/debian`) is Docker Hub's, `docker.io`.
pub fn registry_of(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => "docker.io",
    }
}

/// The login for `image`'s registry, as the Docker API takes it.
pub fn credentials(image: &str, logins: &BTreeMap<String, RegistryLogin>) -> Option<DockerCredentials> {
    let registry = registry_of(image);
    let login = logins.get(registry)?;
    Some(DockerCredentials {
        username: Some(login.username.clone()),
        password: login.password.expose().map(str::to_string),
        serveraddress: Some(registry.to_string()),
        ..Default::default()
    })
}

/// Download progress over a pull's layers: bytes done and the total known so far.
#[derive(Debug, Default)]
pub struct PullProgress {
    layers: HashMap<String, (u64, u64)>,
}

impl PullProgress {
    /// Takes one step of the engine's pull stream into account.
    pub fn step(&mut self, info: &CreateImageInfo) {
        let Some(id) = info.id.clone() else { return };
        let detail = info.progress_detail.as_ref();
        let number = |v: Option<i64>| v.and_then(|n| u64::try_from(n).ok());
        match info.status.as_deref() {
            Some("Downloading") => {
                let current = number(detail.and_then(|d| d.current)).unwrap_or(0);
                let total = number(detail.and_then(|d| d.total)).unwrap_or(current);
                self.layers.insert(id, (current, total.max(current)));
            }
            Some("Download complete" | "Pull complete" | "Already exists") => {
                if let Some((current, total)) = self.layers.get_mut(&id) {
                    *current = *total;
                }
            }
            _ => {}
        }
    }

    pub fn bytes(&self) -> (u64, u64) {
        self.layers.values().fold((0, 0), |(d, t), (current, total)| (d + current, t + total))
    }
}

/// Why a pull failed: the engine's reason (an image the registry does not have, a refused
/// login, an unreachable registry).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot pull '{image}': {reason}")]
pub struct PullError {
    pub image: String,
    pub reason: String,
}

/// `docker pull image` with its registry's login; `on_progress` hears (bytes, total) as the
/// layers download.
pub async fn pull(
    docker: &Docker,
    image: &str,
    logins: &BTreeMap<String, RegistryLogin>,
    mut on_progress: impl FnMut(u64, u64),
) -> Result<(), PullError> {
    let failed = |reason: String| PullError { image: image.to_string(), reason };
    let options =
        bollard::query_parameters::CreateImageOptions { from_image: Some(image.to_string()), ..Default::default() };
    let mut stream = docker.create_image(Some(options), None, credentials(image, logins));
    let mut progress = PullProgress::default();
    while let Some(step) = stream.next().await {
        let info = step.map_err(|e| failed(pull_reason(&e)))?;
        if let Some(message) = info.error_detail.as_ref().and_then(|d| d.message.clone()) {
            return Err(failed(message));
        }
        progress.step(&info);
        let (done, total) = progress.bytes();
        on_progress(done, total);
    }
    Ok(())
}

/// The engine's message for a failed pull, without the request around it.
fn pull_reason(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::ProgressDetail;

    #[test]
    fn registries_as_docker_reads_references() {
        assert_eq!(registry_of("127.0.0.1:5000/lab/app:1"), "127.0.0.1:5000");
        assert_eq!(registry_of("registry.lab/team/app"), "registry.lab");
        assert_eq!(registry_of("localhost/app"), "localhost");
        assert_eq!(registry_of("debian:12"), "docker.io");
        assert_eq!(registry_of("library/debian"), "docker.io");
        let logins = BTreeMap::from([(
            "127.0.0.1:5000".to_string(),
            RegistryLogin { username: "lab".into(), password: hakuriver_config::Secret::new("s3cret") },
        )]);
        let login = credentials("127.0.0.1:5000/lab/app:1", &logins).unwrap();
        assert_eq!((login.username.as_deref(), login.password.as_deref()), (Some("lab"), Some("s3cret")));
        assert_eq!(login.serveraddress.as_deref(), Some("127.0.0.1:5000"));
        assert!(credentials("debian:12", &logins).is_none());
    }

    #[test]
    fn progress_sums_the_layers() {
        let step = |id: &str, status: &str, current: i64, total: i64| CreateImageInfo {
            id: Some(id.into()),
            status: Some(status.into()),
            progress_detail: Some(ProgressDetail { current: Some(current), total: Some(total) }),
            ..Default::default()
        };
        let mut p = PullProgress::default();
        p.step(&step("a", "Downloading", 10, 100));
        p.step(&step("b", "Downloading", 5, 50));
        assert_eq!(p.bytes(), (15, 150));
        p.step(&CreateImageInfo {
            id: Some("a".into()),
            status: Some("Download complete".into()),
            ..Default::default()
        });
        assert_eq!(p.bytes(), (105, 150));
        p.step(&step("b", "Extracting", 1, 999));
        assert_eq!(p.bytes(), (105, 150), "extraction is not download");
    }
}
