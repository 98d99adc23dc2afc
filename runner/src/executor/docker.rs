//! Command tasks in Docker, through bollard with typed options (never a shell string).

use std::collections::HashMap;
use std::path::PathBuf;

use bollard::models::{ContainerCreateBody, DeviceRequest, HostConfig, Mount, MountType};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, KillContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use futures::StreamExt;
use hakuriver_model::task::{task_container_name, TaskInfo};
use hakuriver_model::NumaTopology;
use tokio::io::AsyncWriteExt;

/// How long a container that died of SIGKILL is given for the engine to record an OOM kill.
const OOM_FLAG_GRACE: std::time::Duration = std::time::Duration::from_secs(3);
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
}

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("Docker: {0}")]
    Api(#[from] bollard::errors::Error),
    #[error("{0}")]
    Setup(String),
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

fn bind(source: &str, target: &str, read_only: bool) -> Mount {
    Mount {
        source: Some(source.to_string()),
        target: Some(target.to_string()),
        typ: Some(MountType::BIND),
        read_only: Some(read_only),
        ..Default::default()
    }
}

#[derive(Clone)]
pub struct DockerRunner {
    pub docker: Docker,
}

impl DockerRunner {
    /// Creates and starts the task's container (replacing a leftover one of the same name).
    pub async fn start(&self, task: &TaskInfo, spec: ContainerCreateBody) -> Result<String, DockerError> {
        let name = task_container_name(task.task_id);
        let _ =
            self.docker.remove_container(&name, Some(RemoveContainerOptionsBuilder::new().force(true).build())).await;
        let options = CreateContainerOptionsBuilder::new().name(&name).build();
        self.docker.create_container(Some(options), spec).await?;
        if let Err(e) = self.docker.start_container(&name, None).await {
            // A container that never started must not stay behind in `created`.
            let _ = self
                .docker
                .remove_container(&name, Some(RemoveContainerOptionsBuilder::new().force(true).build()))
                .await;
            return Err(e.into());
        }
        Ok(name)
    }

    /// Streams the container's output into the log files until it ends, then waits for its exit.
    /// The files are created new and written from the container's first byte (Docker keeps the
    /// whole output), so a runner restarted mid-task writes them whole again.
    pub async fn follow(&self, name: &str, paths: &TaskPaths) -> Result<Exit, DockerError> {
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
        let mut wait = self.docker.wait_container(name, None);
        let code = match wait.next().await {
            Some(Ok(r)) => r.status_code,
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
            Some(Err(e)) => return Err(e.into()),
            None => -1,
        };
        let mut oom_killed = self.oom_killed(name).await?;
        // The engine learns of an OOM kill from a separate event that can arrive after the exit:
        // a SIGKILLed container gets a moment for the flag to appear.
        let deadline = tokio::time::Instant::now() + OOM_FLAG_GRACE;
        while code == 137 && !oom_killed && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            oom_killed = self.oom_killed(name).await?;
        }
        Ok(Exit { code, oom_killed })
    }

    async fn oom_killed(&self, name: &str) -> Result<bool, DockerError> {
        let state = self.docker.inspect_container(name, None).await?.state;
        Ok(state.as_ref().and_then(|s| s.oom_killed).unwrap_or(false))
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
    fn a_numa_node_the_machine_lacks_is_an_error() {
        assert!(container_spec(&task(), "n1", &paths(), None).unwrap_err().contains("NUMA node 1"));
    }
}
