//! VPS tasks: a long-lived container running sshd, reached through the host's SSH proxy.
//!
//! The container runs a fixed entry script (no user input in it): install openssh when the image
//! lacks it, make host keys, write the user's key (passed in an environment variable, never
//! spliced into a command line) as root's only authorized key, and run sshd with key-only root
//! login and no passwords. Port 22 is published on a free port of the runner's address only.
//! The container starts without a restart policy; once sshd answers it becomes
//! `unless-stopped`, so a VPS that never came up is not restarted forever.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum, ContainerUpdateBody, PortBinding,
    RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{CreateContainerOptionsBuilder, LogsOptionsBuilder};
use bollard::Docker;
use futures::StreamExt;
use hakuriver_model::protocol::TaskInfo;
use hakuriver_model::sshkey::parse_public_key;
use hakuriver_model::NumaTopology;
use tokio::io::AsyncReadExt;

use super::docker::{container_spec, DockerError, TaskPaths};

/// The environment variable that carries the user's public key into the container.
pub const KEY_ENV: &str = "HAKURIVER_SSH_PUBLIC_KEY";
/// Exit code of the entry script when there is no sshd and none could be installed.
pub const NO_SSHD_EXIT: i64 = 97;

const SSH_PORT: &str = "22/tcp";

/// The container's entry script. Fixed text: the key arrives as `$HAKURIVER_SSH_PUBLIC_KEY`.
const ENTRY_SCRIPT: &str = r#"
find_sshd() { command -v sshd 2>/dev/null || { [ -x /usr/sbin/sshd ] && echo /usr/sbin/sshd; }; }
if [ -z "$(find_sshd)" ]; then
  echo "hakuriver: no sshd in this environment; installing openssh" >&2
  if command -v apk >/dev/null 2>&1; then apk add --no-cache openssh
  elif command -v apt-get >/dev/null 2>&1; then apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssh-server
  elif command -v dnf >/dev/null 2>&1; then dnf install -y openssh-server
  elif command -v yum >/dev/null 2>&1; then yum install -y openssh-server
  elif command -v zypper >/dev/null 2>&1; then zypper --non-interactive install openssh
  elif command -v pacman >/dev/null 2>&1; then pacman -Sy --noconfirm openssh
  elif command -v xbps-install >/dev/null 2>&1; then xbps-install -Sy openssh
  else echo "hakuriver: no package manager found" >&2
  fi
  if [ -z "$(find_sshd)" ]; then
    echo "hakuriver: the environment has no sshd and it could not be installed" >&2
    exit 97
  fi
fi
set -e
mkdir -p /run/sshd /root/.ssh
chmod 0755 /run/sshd
chmod 0700 /root/.ssh
printf '%s\n' "$HAKURIVER_SSH_PUBLIC_KEY" > /root/.ssh/authorized_keys
chmod 0600 /root/.ssh/authorized_keys
ssh-keygen -A >/dev/null
exec "$(find_sshd)" -D -e \
  -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no -o PermitEmptyPasswords=no \
  -o PermitRootLogin=prohibit-password -o PubkeyAuthentication=yes \
  -o AuthorizedKeysFile=.ssh/authorized_keys -o UsePAM=no
"#;

/// The VPS container: the limits, GPUs, mounts and labels of a task container, on the bridge
/// network with port 22 published on `bind_ip`, running the entry script.
pub fn vps_container_spec(
    task: &TaskInfo,
    node: &str,
    paths: &TaskPaths,
    numa: Option<&NumaTopology>,
    bind_ip: &str,
) -> Result<ContainerCreateBody, String> {
    let key = parse_public_key(&task.command).map_err(|e| format!("Invalid SSH public key: {e}."))?;
    let mut spec = container_spec(task, node, paths, numa)?;
    spec.entrypoint = Some(vec!["/bin/sh".into(), "-c".into(), ENTRY_SCRIPT.into()]);
    spec.cmd = Some(Vec::new());
    spec.working_dir = Some("/root".into());
    spec.env.get_or_insert_with(Vec::new).push(format!("{KEY_ENV}={}", key.authorized_key()));
    spec.exposed_ports = Some(vec![SSH_PORT.into()]);
    if let Some(labels) = spec.labels.as_mut() {
        labels.insert("hakuriver.kind".into(), "vps".into());
    }
    let host = spec.host_config.get_or_insert_with(Default::default);
    host.network_mode = None;
    host.port_bindings = Some(HashMap::from([(
        SSH_PORT.to_string(),
        Some(vec![PortBinding { host_ip: Some(bind_ip.to_string()), host_port: Some(String::new()) }]),
    )]));
    host.restart_policy = Some(RestartPolicy { name: Some(RestartPolicyNameEnum::NO), maximum_retry_count: None });
    Ok(spec)
}

/// The host port Docker published port 22 on.
pub fn published_port(info: &ContainerInspectResponse) -> Option<u16> {
    let ports = info.network_settings.as_ref()?.ports.as_ref()?;
    let bindings = ports.get(SSH_PORT)?.as_ref()?;
    bindings.iter().find_map(|b| b.host_port.as_deref()?.parse().ok())
}

/// Why a VPS container ended before sshd answered, from its exit code and last output lines.
pub fn failure_reason(exit_code: i64, output_tail: &str) -> String {
    if exit_code == NO_SSHD_EXIT {
        return "The environment has no sshd and it could not be installed.".into();
    }
    let tail = output_tail.trim();
    if tail.is_empty() {
        format!("The VPS container exited with code {exit_code} before sshd started.")
    } else {
        format!("The VPS container exited with code {exit_code} before sshd started: {tail}")
    }
}

/// Starts the VPS container `name`: the one kept when it was stopped (`vps stop`: its restart
/// policy is `no` and it is not running), else a new one (replacing a leftover of that name).
/// Returns whether the kept one was started.
pub async fn start(docker: &Docker, name: &str, spec: ContainerCreateBody) -> Result<bool, DockerError> {
    if let Ok(info) = docker.inspect_container(name, None).await {
        if stopped_by_request(&info) {
            docker.start_container(name, None).await?;
            return Ok(true);
        }
    }
    let force = bollard::query_parameters::RemoveContainerOptionsBuilder::new().force(true).build();
    let _ = docker.remove_container(name, Some(force)).await;
    docker.create_container(Some(CreateContainerOptionsBuilder::new().name(name).build()), spec).await?;
    docker.start_container(name, None).await?;
    Ok(false)
}

/// A VPS container `vps stop` stopped: not running, and Docker will not restart it (a running
/// VPS is always `unless-stopped`; one that died keeps that).
pub fn stopped_by_request(info: &ContainerInspectResponse) -> bool {
    let state = info.state.as_ref();
    let running = state.is_some_and(|s| s.running == Some(true) || s.restarting == Some(true));
    let policy = info.host_config.as_ref().and_then(|h| h.restart_policy.as_ref()).and_then(|p| p.name);
    let ran = state.and_then(|s| s.started_at.as_deref()).is_some_and(|t| !t.starts_with("0001-"));
    !running && ran && policy == Some(RestartPolicyNameEnum::NO)
}

/// Waits until sshd answers with its banner on the published port; returns the port.
pub async fn wait_ready(docker: &Docker, name: &str, connect_ip: &str, timeout: Duration) -> Result<u16, String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let info = docker.inspect_container(name, None).await.map_err(|e| format!("Docker: {e}"))?;
        let state = info.state.as_ref();
        let status = state.and_then(|s| s.status);
        if matches!(status, Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD)) {
            let code = state.and_then(|s| s.exit_code).unwrap_or(-1);
            return Err(failure_reason(code, &output_tail(docker, name, 5).await));
        }
        if let Some(port) = published_port(&info) {
            if answers_ssh(connect_ip, port).await {
                return Ok(port);
            }
        }
        if tokio::time::Instant::now() >= deadline {
            let tail = output_tail(docker, name, 5).await;
            return Err(format!("sshd did not answer within {} s. {}", timeout.as_secs(), tail.trim()));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Whether an SSH server greets on `ip:port` (Docker accepts connections before sshd listens).
async fn answers_ssh(ip: &str, port: u16) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect((ip, port)).await.ok()?;
        let mut greeting = [0u8; 4];
        stream.read_exact(&mut greeting).await.ok()?;
        Some(&greeting == b"SSH-")
    };
    matches!(tokio::time::timeout(Duration::from_secs(2), attempt).await, Ok(Some(true)))
}

/// The last `lines` lines of the container's output (stdout and stderr).
pub async fn output_tail(docker: &Docker, name: &str, lines: usize) -> String {
    let options = LogsOptionsBuilder::new().stdout(true).stderr(true).tail(&lines.to_string()).build();
    let mut logs = docker.logs(name, Some(options));
    let mut text = String::new();
    while let Some(Ok(chunk)) = logs.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
    }
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" | ")
}

/// From now on Docker restarts the VPS (after a crash or a reboot) unless it is stopped.
pub async fn keep_running(docker: &Docker, name: &str) -> Result<(), DockerError> {
    let policy = RestartPolicy { name: Some(RestartPolicyNameEnum::UNLESS_STOPPED), maximum_retry_count: None };
    docker.update_container(name, ContainerUpdateBody { restart_policy: Some(policy), ..Default::default() }).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPIvHW968nTBxRcy05qQApqONnymK/1g3+0T1i0o/j3h alice@laptop";

    fn task(command: &str) -> TaskInfo {
        serde_json::from_value(serde_json::json!({
            "task_id": 7, "task_type": "vps", "command": command, "required_cores": 2,
            "required_memory_bytes": 1_000_000_000u64, "stdout_path": "", "stderr_path": "",
            "docker_image_name": "hakuriver/base:base"
        }))
        .unwrap()
    }

    fn paths() -> TaskPaths {
        TaskPaths {
            shared_dir: "/mnt/shared".into(),
            local_temp_dir: "/tmp/hr".into(),
            stdout: "/dev/null".into(),
            stderr: "/dev/null".into(),
        }
    }

    #[test]
    fn the_vps_container_publishes_ssh_on_the_runner_address_only() {
        let spec = vps_container_spec(&task(KEY), "n1", &paths(), None, "10.0.0.5").unwrap();
        let host = spec.host_config.unwrap();
        assert_eq!(host.network_mode, None, "bridge network, not the host's");
        let binding = &host.port_bindings.unwrap()[SSH_PORT].clone().unwrap()[0];
        assert_eq!((binding.host_ip.as_deref(), binding.host_port.as_deref()), (Some("10.0.0.5"), Some("")));
        assert_eq!(host.nano_cpus, Some(2_000_000_000));
        assert_eq!(host.memory, Some(1_000_000_000));
        assert_eq!(host.restart_policy.unwrap().name, Some(RestartPolicyNameEnum::NO));
        assert_eq!(spec.labels.unwrap()["hakuriver.kind"], "vps");
        // The key travels in the environment, without its comment; the script is fixed text.
        let env = spec.env.unwrap();
        assert!(env.contains(&format!("{KEY_ENV}={}", KEY.rsplit_once(' ').unwrap().0)));
        let entry = spec.entrypoint.unwrap();
        assert!(!entry[2].contains("AAAA") && entry[2].contains("PasswordAuthentication=no"));
    }

    #[test]
    fn a_bad_key_never_reaches_a_container() {
        let err = vps_container_spec(&task("ssh-ed25519 x'; rm -rf /"), "n1", &paths(), None, "127.0.0.1").unwrap_err();
        assert!(err.contains("Invalid SSH public key"), "{err}");
    }

    #[test]
    fn failures_say_why() {
        assert!(failure_reason(NO_SSHD_EXIT, "").contains("no sshd"));
        assert_eq!(
            failure_reason(127, "sh: /bin/sh: not found"),
            "The VPS container exited with code 127 before sshd started: sh: /bin/sh: not found"
        );
    }

    #[test]
    fn the_published_port_is_read_from_inspect() {
        let info: ContainerInspectResponse = serde_json::from_value(serde_json::json!({
            "NetworkSettings": {"Ports": {"22/tcp": [{"HostIp": "127.0.0.1", "HostPort": "40022"}]}}
        }))
        .unwrap();
        assert_eq!(published_port(&info), Some(40022));
        assert_eq!(published_port(&ContainerInspectResponse::default()), None);
    }
}
