//! Command tasks in Docker, through bollard with typed options (never a shell string).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bollard::models::{ContainerCreateBody, DeviceRequest, HostConfig, Mount, MountType};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, DownloadFromContainerOptionsBuilder, KillContainerOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use futures::StreamExt;
use hakuriver_model::protocol::TaskInfo;
use hakuriver_model::task::task_container_name;
use hakuriver_model::NumaTopology;
use tokio::io::AsyncWriteExt;

use super::exec_helper;
use super::native::passwd_lookup;

/// How long a container with a memory limit that died of SIGKILL is given for the engine to
/// record an OOM kill: the engine learns of it from a separate event, late on a busy machine.
const OOM_FLAG_GRACE: std::time::Duration = std::time::Duration::from_secs(10);
/// Marks a container whose helper writes its log files itself (`files`); one without it (started
/// by an older runner) has its output only in the engine's log, copied out by the runner.
const LOGS_LABEL: &str = "hakuriver.logs";
/// The log limit a container's helper keeps to.
const LOG_LIMIT_LABEL: &str = "hakuriver.max_log_bytes";
/// The most of a container's /etc/passwd read to find its user.
const MAX_PASSWD: usize = 4 * 1024 * 1024;
/// How long a task waits for a restarting Docker engine before its runner gives up on it.
pub const ENGINE_RETURN_WAIT: std::time::Duration = std::time::Duration::from_secs(180);

/// Where a task's files live on this node.
#[derive(Debug, Clone)]
pub struct TaskPaths {
    pub shared_dir: PathBuf,
    pub local_temp_dir: PathBuf,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl TaskPaths {
    /// Creates a log file new beneath `shared_dir` (whatever had its name is removed first, a
    /// link is never written through), mode 0644.
    pub fn create_log(&self, path: &std::path::Path) -> Result<std::fs::File, String> {
        hakuriver_support::beneath::create_fresh(&self.shared_dir, path, 0o644)
            .map_err(|e| format!("cannot create log {}: {e}", path.display()))
    }
}

/// How a container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub code: i64,
    pub oom_killed: bool,
    /// The container had a memory limit, so a SIGKILL may be an OOM kill not yet recorded.
    pub memory_limited: bool,
}

impl Exit {
    /// Killed by SIGKILL at a memory limit, but the engine has not (yet) said it was an OOM kill.
    pub fn maybe_oom(&self) -> bool {
        self.code == 137 && self.memory_limited && !self.oom_killed
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("Docker: {0}")]
    Api(#[from] bollard::errors::Error),
    #[error("{0}")]
    Setup(String),
}

/// How a task's image starts, as its configuration says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageStart {
    /// Its entrypoint: the task's command is handed to it, as `docker run` would.
    pub entrypoint: Vec<String>,
    /// The user it runs as (`USER`): empty for root.
    pub user: String,
}

/// The container of a task, from its `TaskInfo`: limits, NUMA binding, GPUs, environment,
/// mounts and labels. Pure, so it is tested without Docker.
pub fn container_spec(
    task: &TaskInfo,
    node: &str,
    paths: &TaskPaths,
    numa: Option<&NumaTopology>,
) -> Result<ContainerCreateBody, String> {
    let mut env: Vec<String> = task.env_vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
    env.push(format!("HAKURIVER_TASK_ID={}", task.task_id));
    env.push(format!("HAKURIVER_NODE={node}"));
    env.push("HAKURIVER_SHARED_DIR=/shared".into());
    env.push("HAKURIVER_LOCAL_TEMP_DIR=/local_temp".into());

    let mut host = HostConfig {
        network_mode: Some("host".into()),
        privileged: Some(task.docker_privileged),
        ..Default::default()
    };
    if task.required_cores > 0 {
        host.nano_cpus = Some(i64::from(task.required_cores) * 1_000_000_000);
    }
    if let Some(bytes) = task.required_memory_bytes {
        let bytes = i64::try_from(bytes).map_err(|_| "memory limit too large".to_string())?;
        host.memory = Some(bytes);
        host.memory_swap = Some(bytes); // no swap beyond the limit
    }
    if let Some(id) = task.target_numa_node_id {
        let node_cpus =
            numa.and_then(|t| t.get(&id)).ok_or_else(|| format!("NUMA node {id} does not exist on {node}"))?;
        let cpus: Vec<String> = node_cpus.cores.iter().map(u32::to_string).collect();
        host.cpuset_cpus = Some(cpus.join(","));
        host.cpuset_mems = Some(id.to_string());
        env.push(format!("HAKURIVER_TARGET_NUMA_NODE={id}"));
    }
    if !task.required_gpus.is_empty() {
        host.device_requests = Some(vec![DeviceRequest {
            driver: Some("nvidia".into()),
            device_ids: Some(task.required_gpus.iter().map(u32::to_string).collect()),
            capabilities: Some(vec![vec!["gpu".into()]]),
            ..Default::default()
        }]);
    }
    let mut mounts = Vec::new();
    for spec in &task.docker_additional_mounts {
        let parts: Vec<&str> = spec.split(':').collect();
        if !(2..=3).contains(&parts.len()) || !parts[0].starts_with('/') || !parts[1].starts_with('/') {
            return Err(format!("invalid mount {spec:?}"));
        }
        mounts.push(bind(parts[0], parts[1], parts.get(2) == Some(&"ro")));
    }
    mounts.push(bind(&paths.shared_dir.join("shared_data").display().to_string(), "/shared", false));
    mounts.push(bind(&paths.local_temp_dir.display().to_string(), "/local_temp", false));
    host.mounts = Some(mounts);

    let mut cmd = vec![task.command.clone()];
    cmd.extend(task.arguments.iter().cloned());
    let labels = HashMap::from([
        ("hakuriver.task_id".to_string(), task.task_id.to_string()),
        ("hakuriver.kind".to_string(), "command".to_string()),
        ("hakuriver.node".to_string(), node.to_string()),
    ]);
    Ok(ContainerCreateBody {
        image: Some(task.docker_image_name.clone()),
        cmd: Some(cmd),
        env: Some(env),
        working_dir: Some("/shared".into()),
        labels: Some(labels),
        host_config: Some(host),
        ..Default::default()
    })
}

/// Makes a command task's container start with the exec helper (bind-mounted from `helper`,
/// with the task's log files), which points the program's output at the files, then runs the
/// image's entrypoint with the command, as `docker run` would have.
pub fn write_logs_directly(
    spec: &mut ContainerCreateBody,
    task: &TaskInfo,
    paths: &TaskPaths,
    helper: &Path,
    image: &ImageStart,
) -> Result<(), String> {
    let mounts = spec.host_config.get_or_insert_with(Default::default).mounts.get_or_insert_with(Vec::new);
    mounts.push(bind(&helper.display().to_string(), exec_helper::IN_CONTAINER, true));
    mounts.push(bind(&paths.stdout.display().to_string(), exec_helper::STDOUT_IN_CONTAINER, false));
    mounts.push(bind(&paths.stderr.display().to_string(), exec_helper::STDERR_IN_CONTAINER, false));
    let mut program: Vec<std::ffi::OsString> = image.entrypoint.iter().map(Into::into).collect();
    program.push(task.command.clone().into());
    program.extend(task.arguments.iter().map(Into::into));
    let files = (exec_helper::STDOUT_IN_CONTAINER, exec_helper::STDERR_IN_CONTAINER);
    let cmd = exec_helper::args(Some(files), task.max_log_bytes, program)
        .into_iter()
        .map(|a| a.into_string().map_err(|a| format!("argument {a:?} is not text")))
        .collect::<Result<Vec<_>, _>>()?;
    spec.entrypoint = Some(vec![exec_helper::IN_CONTAINER.to_string()]);
    spec.cmd = Some(cmd);
    let labels = spec.labels.get_or_insert_with(HashMap::new);
    labels.insert(LOGS_LABEL.to_string(), "files".to_string());
    if let Some(limit) = task.max_log_bytes {
        labels.insert(LOG_LIMIT_LABEL.to_string(), limit.to_string());
    }
    Ok(())
}

fn bind(source: &str, target: &str, read_only: bool) -> Mount {
    Mount {
        source: Some(source.to_string()),
        target: Some(target.to_string()),
        typ: Some(MountType::BIND),
        read_only: Some(read_only),
        ..Default::default()
    }
}

/// The uid of a container user as an image names it (`USER`): empty and `root` are 0, a number
/// is itself, a name is looked up in the container's `passwd` (an error without one).
pub fn user_uid(user: &str, passwd: Option<&str>) -> Result<u32, String> {
    let name = user.split(':').next().unwrap_or_default();
    if name.is_empty() || name == "root" {
        return Ok(0);
    }
    if let Ok(uid) = name.parse() {
        return Ok(uid);
    }
    let passwd = passwd.ok_or_else(|| format!("user {name:?} needs the image's /etc/passwd"))?;
    passwd_lookup(passwd, name)
        .map(|entry| entry.uid)
        .ok_or_else(|| format!("the image's user {name:?} is not in its /etc/passwd"))
}

#[derive(Clone)]
pub struct DockerRunner {
    pub docker: Docker,
}

impl DockerRunner {
    /// How `image` starts: its entrypoint and user.
    pub async fn image_start(&self, image: &str) -> Result<ImageStart, DockerError> {
        let config = self.docker.inspect_image(image).await?.config.unwrap_or_default();
        Ok(ImageStart { entrypoint: config.entrypoint.unwrap_or_default(), user: config.user.unwrap_or_default() })
    }

    /// Creates and starts the task's container (replacing a leftover one of the same name). The
    /// log files (`logs`, created new by the runner) are handed to the image's user first, so
    /// the helper, which runs as that user, can write them.
    pub async fn start(
        &self,
        task: &TaskInfo,
        spec: ContainerCreateBody,
        user: &str,
        logs: [&std::fs::File; 2],
    ) -> Result<String, DockerError> {
        let name = task_container_name(task.task_id);
        let remove =
            || self.docker.remove_container(&name, Some(RemoveContainerOptionsBuilder::new().force(true).build()));
        let _ = remove().await;
        let options = CreateContainerOptionsBuilder::new().name(&name).build();
        self.docker.create_container(Some(options), spec).await?;
        let started = async {
            let uid = match user_uid(user, None) {
                Ok(uid) => uid,
                Err(_) => user_uid(user, Some(&self.passwd_of(&name).await?)).map_err(DockerError::Setup)?,
            };
            if uid != 0 {
                for file in logs {
                    std::os::unix::fs::fchown(file, Some(uid), None)
                        .map_err(|e| DockerError::Setup(format!("cannot hand the log files to uid {uid}: {e}")))?;
                }
            }
            Ok::<_, DockerError>(self.docker.start_container(&name, None).await?)
        };
        if let Err(e) = started.await {
            // A container that never started must not stay behind in `created`.
            let _ = remove().await;
            return Err(e);
        }
        Ok(name)
    }

    /// The /etc/passwd of a created container (to find its image's user by name).
    async fn passwd_of(&self, name: &str) -> Result<String, DockerError> {
        let options = DownloadFromContainerOptionsBuilder::new().path("/etc/passwd").build();
        let mut archive = Vec::new();
        let mut stream = self.docker.download_from_container(name, Some(options));
        while let Some(piece) = stream.next().await {
            archive.extend_from_slice(&piece?);
            if archive.len() > MAX_PASSWD {
                return Err(DockerError::Setup("the image's /etc/passwd is too large".into()));
            }
        }
        let mut entries = tar::Archive::new(archive.as_slice());
        let mut text = String::new();
        let mut entry = entries
            .entries()
            .ok()
            .and_then(|mut e| e.next())
            .and_then(Result::ok)
            .ok_or_else(|| DockerError::Setup("the image has no readable /etc/passwd".into()))?;
        std::io::Read::read_to_string(&mut entry, &mut text)
            .map_err(|e| DockerError::Setup(format!("cannot read the image's /etc/passwd: {e}")))?;
        Ok(text)
    }

    /// Follows a started task container to its end, then its exit. Its helper writes the log
    /// files itself, so a runner restarted mid-task (or an engine restarted) only waits again:
    /// nothing is written twice. A container started by an older runner has its output copied
    /// from the engine's log, whole, into new files.
    pub async fn follow(&self, name: &str, paths: &TaskPaths) -> Result<Exit, DockerError> {
        let labels = self.labels(name).await?;
        if labels.get(LOGS_LABEL).map(String::as_str) != Some("files") {
            self.copy_engine_log(name, paths).await?;
        }
        let mut wait = self.docker.wait_container(name, None);
        let code = match wait.next().await {
            Some(Ok(r)) => r.status_code,
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
            Some(Err(e)) => return Err(e.into()),
            None => -1,
        };
        let (oom_killed, memory_limited) = self.oom_killed(name).await?;
        Ok(Exit { code, oom_killed, memory_limited })
    }

    /// The log limit a task container's helper keeps to (none: unlimited).
    pub async fn log_limit(&self, name: &str) -> Option<u64> {
        self.labels(name).await.ok()?.get(LOG_LIMIT_LABEL)?.parse().ok()
    }

    async fn labels(&self, name: &str) -> Result<HashMap<String, String>, DockerError> {
        Ok(self.docker.inspect_container(name, None).await?.config.and_then(|c| c.labels).unwrap_or_default())
    }

    /// Copies a container's output from the engine's log into new log files, until it ends.
    async fn copy_engine_log(&self, name: &str, paths: &TaskPaths) -> Result<(), DockerError> {
        let open = |p: &PathBuf| {
            let (p, paths) = (p.clone(), paths.clone());
            async move {
                let file = tokio::task::spawn_blocking(move || paths.create_log(&p))
                    .await
                    .map_err(|e| DockerError::Setup(e.to_string()))?
                    .map_err(DockerError::Setup)?;
                Ok::<_, DockerError>(tokio::fs::File::from_std(file))
            }
        };
        let mut out = open(&paths.stdout).await?;
        let mut err = open(&paths.stderr).await?;
        let options = LogsOptionsBuilder::new().follow(true).stdout(true).stderr(true).build();
        let mut logs = self.docker.logs(name, Some(options));
        while let Some(chunk) = logs.next().await {
            match chunk {
                Ok(bollard::container::LogOutput::StdErr { message }) => err.write_all(&message).await,
                Ok(output) => out.write_all(&output.into_bytes()).await,
                Err(e) => {
                    tracing::warn!(container = name, error = %e, "log stream ended early");
                    break;
                }
            }
            .map_err(|e| DockerError::Setup(format!("cannot write log: {e}")))?;
        }
        out.flush().await.ok();
        err.flush().await.ok();
        Ok(())
    }

    /// The engine learns of an OOM kill from a separate event that can arrive after the exit:
    /// a SIGKILLed container that had a memory limit gets a moment for the flag to appear.
    pub async fn oom_flag_appears(&self, name: &str) -> bool {
        let deadline = tokio::time::Instant::now() + OOM_FLAG_GRACE;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            if matches!(self.oom_killed(name).await, Ok((true, _))) {
                return true;
            }
        }
        false
    }

    /// Whether the engine recorded an OOM kill, and whether the container has a memory limit.
    async fn oom_killed(&self, name: &str) -> Result<(bool, bool), DockerError> {
        let inspect = self.docker.inspect_container(name, None).await?;
        let oom = inspect.state.as_ref().and_then(|s| s.oom_killed).unwrap_or(false);
        let limited = inspect.host_config.as_ref().and_then(|h| h.memory).is_some_and(|m| m > 0);
        Ok((oom, limited))
    }

    /// Whether the engine answers now.
    pub async fn answers(&self) -> bool {
        self.docker.ping().await.is_ok()
    }

    /// After a call failed: when the engine does not answer, waits (up to `ENGINE_RETURN_WAIT`)
    /// for it to come back. Whether it went away and came back, so the call is worth repeating.
    pub async fn came_back(&self, name: &str) -> bool {
        if self.answers().await {
            return false;
        }
        tracing::warn!(container = name, "the Docker engine does not answer; waiting for it to come back");
        let deadline = tokio::time::Instant::now() + ENGINE_RETURN_WAIT;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            if self.answers().await {
                tracing::info!(container = name, "the Docker engine is back");
                return true;
            }
        }
        false
    }

    pub async fn remove(&self, name: &str) {
        let options = RemoveContainerOptionsBuilder::new().force(true).build();
        if let Err(e) = self.docker.remove_container(name, Some(options)).await {
            tracing::warn!(container = name, error = %e, "cannot remove container");
        }
    }

    pub async fn kill(&self, name: &str) -> Result<(), DockerError> {
        self.docker.kill_container(name, Some(KillContainerOptionsBuilder::new().signal("SIGKILL").build())).await?;
        Ok(())
    }

    pub async fn pause(&self, name: &str) -> Result<(), DockerError> {
        Ok(self.docker.pause_container(name).await?)
    }

    pub async fn unpause(&self, name: &str) -> Result<(), DockerError> {
        Ok(self.docker.unpause_container(name).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hakuriver_model::{NumaNode, TaskId};

    #[test]
    fn only_a_sigkill_at_a_memory_limit_may_be_an_unrecorded_oom_kill() {
        let exit = |code, oom_killed, memory_limited| Exit { code, oom_killed, memory_limited };
        assert!(exit(137, false, true).maybe_oom());
        assert!(!exit(137, true, true).maybe_oom(), "already recorded");
        assert!(!exit(137, false, false).maybe_oom(), "no limit to be killed at");
        assert!(!exit(1, false, true).maybe_oom());
    }

    fn task() -> TaskInfo {
        serde_json::from_value(serde_json::json!({
            "task_id": 42, "command": "python", "arguments": ["-c", "print(1); $(rm -rf /)"],
            "env_vars": {"A": "1"}, "required_cores": 2, "required_memory_bytes": 1_000_000_000u64,
            "target_numa_node_id": 1, "required_gpus": [0, 3],
            "stdout_path": "/x.out", "stderr_path": "/x.err", "docker_image_name": "hakuriver/base:base",
            "docker_additional_mounts": ["/data:/data:ro"]
        }))
        .unwrap()
    }

    fn paths() -> TaskPaths {
        TaskPaths {
            shared_dir: "/mnt/shared".into(),
            local_temp_dir: "/tmp/hr".into(),
            stdout: "/mnt/shared/task_outputs/42.out".into(),
            stderr: "/mnt/shared/task_errors/42.err".into(),
        }
    }

    #[test]
    fn the_container_gets_limits_binding_gpus_env_and_mounts() {
        let numa: NumaTopology = [(1, NumaNode { cores: vec![4, 5, 6, 7], memory_bytes: None })].into();
        let spec = container_spec(&task(), "n1", &paths(), Some(&numa)).unwrap();
        let host = spec.host_config.unwrap();
        assert_eq!(host.nano_cpus, Some(2_000_000_000));
        assert_eq!((host.memory, host.memory_swap), (Some(1_000_000_000), Some(1_000_000_000)));
        assert_eq!((host.cpuset_cpus.as_deref(), host.cpuset_mems.as_deref()), (Some("4,5,6,7"), Some("1")));
        assert_eq!(host.device_requests.unwrap()[0].device_ids, Some(vec!["0".into(), "3".into()]));
        assert_eq!(host.privileged, Some(false));
        // The command is an argv: the shell syntax in an argument stays a literal string.
        assert_eq!(spec.cmd.unwrap(), ["python", "-c", "print(1); $(rm -rf /)"]);
        let env = spec.env.unwrap();
        assert!(env.contains(&"A=1".to_string()) && env.contains(&"HAKURIVER_TASK_ID=42".to_string()));
        let mounts = host.mounts.unwrap();
        assert_eq!(mounts[0].target.as_deref(), Some("/data"));
        assert_eq!(mounts[0].read_only, Some(true));
        assert_eq!(mounts[1].source.as_deref(), Some("/mnt/shared/shared_data"));
        assert_eq!(spec.labels.unwrap()["hakuriver.task_id"], TaskId(42).to_string());
    }

    #[test]
    fn the_helper_starts_the_images_entrypoint_with_the_command_and_its_output_at_the_files() {
        let mut task = task();
        task.target_numa_node_id = None;
        task.max_log_bytes = Some(1_000);
        let mut spec = container_spec(&task, "n1", &paths(), None).unwrap();
        let image = ImageStart { entrypoint: vec!["/entry.sh".into()], user: "jovyan".into() };
        write_logs_directly(&mut spec, &task, &paths(), Path::new("/var/lib/hr/bin/hakuriver-exec"), &image).unwrap();
        assert_eq!(spec.entrypoint.unwrap(), ["/.hakuriver/exec"]);
        assert_eq!(
            spec.cmd.unwrap(),
            [
                "--stdout",
                "/.hakuriver/stdout",
                "--stderr",
                "/.hakuriver/stderr",
                "--limit",
                "1000",
                "--",
                "/entry.sh",
                "python",
                "-c",
                "print(1); $(rm -rf /)"
            ]
        );
        let mounts = spec.host_config.unwrap().mounts.unwrap();
        let mount = |target: &str| mounts.iter().find(|m| m.target.as_deref() == Some(target)).unwrap().clone();
        assert_eq!(mount("/.hakuriver/exec").read_only, Some(true), "the helper cannot be changed by a task");
        assert_eq!(mount("/.hakuriver/stdout").source.as_deref(), Some("/mnt/shared/task_outputs/42.out"));
        assert_eq!(mount("/.hakuriver/stderr").source.as_deref(), Some("/mnt/shared/task_errors/42.err"));
        let labels = spec.labels.unwrap();
        assert_eq!((labels[LOGS_LABEL].as_str(), labels[LOG_LIMIT_LABEL].as_str()), ("files", "1000"));
    }

    #[test]
    fn image_users_become_uids() {
        let passwd = "root:x:0:0::/root:/bin/sh\njovyan:x:1000:100::/home/jovyan:/bin/bash\n";
        assert_eq!(user_uid("", None), Ok(0));
        assert_eq!(user_uid("root:root", None), Ok(0));
        assert_eq!(user_uid("1234:5", None), Ok(1234));
        assert!(user_uid("jovyan", None).is_err(), "a name needs the image's passwd");
        assert_eq!(user_uid("jovyan", Some(passwd)), Ok(1000));
        assert_eq!(user_uid("jovyan:users", Some(passwd)), Ok(1000));
        assert!(user_uid("ghost", Some(passwd)).unwrap_err().contains("ghost"));
    }

    #[test]
    fn a_numa_node_the_machine_lacks_is_an_error() {
        assert!(container_spec(&task(), "n1", &paths(), None).unwrap_err().contains("NUMA node 1"));
    }
}
