//! Reaching running tasks: where a VPS's sshd is (for the SSH proxy and the jump host), which keys
//! may reach it, and where a task's terminal and port forwards are served (its runner). The checks are
//! plain functions over the stored rows, so every refusal has a test.

use hakuriver_model::sshkey::parse_public_key;
use hakuriver_model::TaskType;
use hakuriver_model::{NodeStatus, TaskId, TaskStatus};

use crate::db::nodes::{self as node_store, NodeRow};
use crate::db::tasks::{self as store, TaskFilter, TaskRow};
use crate::db::Pool;

/// Where a VPS's sshd answers: the runner's address and the port published there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpsRoute {
    pub node: String,
    pub host: String,
    pub port: u16,
}

/// The most VPS tasks the jump host looks at for a key.
const MAX_RUNNING_VPS: u32 = 10_000;

#[derive(Clone)]
pub struct VpsDirectory {
    pool: Pool,
}

impl VpsDirectory {
    pub fn new(pool: Pool) -> Self {
        VpsDirectory { pool }
    }

    /// Where VPS `id` can be reached, or the original's `ERROR` reason why not.
    pub async fn route(&self, id: TaskId) -> Result<VpsRoute, String> {
        let internal = |e: crate::db::DbError| {
            tracing::error!(task = %id, error = %e, "task lookup failed");
            "Internal server error during task lookup.".to_string()
        };
        let task = store::get(&self.pool, id).await.map_err(internal)?;
        let node = match task.as_ref().and_then(|t| t.assigned_node.as_deref()) {
            Some(name) => node_store::get(&self.pool, name).await.map_err(internal)?,
            None => None,
        };
        route(id, task.as_ref(), node.as_ref())
    }

    /// Who submitted task `id` (for the proxy's authorization), or the original's reason.
    pub async fn owner(&self, id: TaskId) -> Result<Option<String>, String> {
        match store::get(&self.pool, id).await {
            Ok(Some(task)) => Ok(task.owner),
            Ok(None) => Err(format!("Task {id} not found.")),
            Err(e) => {
                tracing::error!(task = %id, error = %e, "task lookup failed");
                Err("Internal server error during task lookup.".into())
            }
        }
    }

    /// Whether `blob` (a public key in SSH wire format) is the key of a running VPS.
    pub async fn is_vps_key(&self, blob: &[u8]) -> bool {
        match self.running().await {
            Ok(tasks) => tasks.iter().any(|t| key_blob(t).as_deref() == Some(blob)),
            Err(e) => {
                tracing::error!(error = %e, "VPS key lookup failed");
                false
            }
        }
    }

    /// Whether `blob` may reach VPS `id`: the key it was created with.
    pub async fn key_opens(&self, id: TaskId, blob: &[u8]) -> bool {
        matches!(store::get(&self.pool, id).await, Ok(Some(t)) if key_blob(&t).as_deref() == Some(blob))
    }

    async fn running(&self) -> Result<Vec<TaskRow>, crate::db::DbError> {
        let filter = TaskFilter {
            task_type: Some(TaskType::Vps.as_str().into()),
            statuses: vec![TaskStatus::Running],
            limit: MAX_RUNNING_VPS,
            ..Default::default()
        };
        store::list(&self.pool, &filter).await
    }

    /// The runner websocket serving `socket` into task `id`.
    pub async fn socket_url(&self, id: TaskId, socket: TaskSocket) -> Result<String, String> {
        let task = store::get(&self.pool, id).await.map_err(|e| e.to_string())?;
        let node = match task.as_ref().and_then(|t| t.assigned_node.as_deref()) {
            Some(name) => node_store::get(&self.pool, name).await.map_err(|e| e.to_string())?,
            None => None,
        };
        socket_url(id, task.as_ref(), node.as_ref(), socket)
    }
}

/// The key blob a VPS was created with (its `command`).
fn key_blob(task: &TaskRow) -> Option<Vec<u8>> {
    parse_public_key(&task.command).ok().map(|k| k.blob)
}

/// The checks of the original's proxy, in its order and words; only a running VPS is reachable.
pub fn route(id: TaskId, task: Option<&TaskRow>, node: Option<&NodeRow>) -> Result<VpsRoute, String> {
    let task = task.ok_or_else(|| format!("Task {id} not found."))?;
    if task.task_type != TaskType::Vps {
        return Err(format!("Task {id} is not a VPS task."));
    }
    if task.status != TaskStatus::Running {
        return Err(format!("VPS task {id} is not active (status: {}).", task.status));
    }
    let name = task.assigned_node.as_deref().ok_or_else(|| format!("VPS task {id} has no assigned node."))?;
    let port = task.ssh_port.filter(|p| *p > 0).ok_or_else(|| format!("VPS task {id} has no SSH port assigned."))?;
    let node = node.filter(|n| n.status == NodeStatus::Online);
    let node = node.ok_or_else(|| format!("Assigned node for VPS task {id} is not online."))?;
    let host = runner_host(&node.url).ok_or_else(|| format!("Error parsing runner URL for node {name}."))?;
    Ok(VpsRoute { node: name.to_string(), host, port })
}

/// What a websocket into a running task carries, served by its runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskSocket {
    /// A shell on a TTY in the task's container.
    Terminal,
    /// One TCP connection to this port inside the task (container or native).
    Forward(u16),
}

/// A running task's websocket on its runner: `ws://<runner>/tasks/<id>/terminal` or
/// `…/forward/<port>`.
pub fn socket_url(
    id: TaskId,
    task: Option<&TaskRow>,
    node: Option<&NodeRow>,
    socket: TaskSocket,
) -> Result<String, String> {
    let task = task.ok_or_else(|| format!("Task {id} not found."))?;
    if socket == TaskSocket::Terminal && task.container_name == hakuriver_model::task::NO_CONTAINER {
        return Err(format!("Task {id} runs without a container: it has no terminal."));
    }
    if task.status != TaskStatus::Running {
        return Err(format!("Task {id} is not running (status: {}).", task.status));
    }
    let node = node.filter(|n| n.status == NodeStatus::Online);
    let node = node.ok_or_else(|| format!("The node of task {id} is not online."))?;
    let base = node.url.trim_end_matches('/');
    let ws = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        return Err(format!("Error parsing runner URL for node {}.", node.hostname));
    };
    Ok(match socket {
        TaskSocket::Terminal => format!("{ws}/tasks/{id}/terminal"),
        TaskSocket::Forward(port) => format!("{ws}/tasks/{id}/forward/{port}"),
    })
}

/// The host part of a runner URL, IPv6 without brackets (the original cut at the first `:`).
pub fn runner_host(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    match parsed.host()? {
        url::Host::Domain(d) => Some(d.to_string()),
        url::Host::Ipv4(ip) => Some(ip.to_string()),
        url::Host::Ipv6(ip) => Some(ip.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPIvHW968nTBxRcy05qQApqONnymK/1g3+0T1i0o/j3h alice@laptop";

    fn vps(status: TaskStatus, port: Option<u16>) -> TaskRow {
        let mut row =
            crate::services::tasks::tests_support::row_of(7, serde_json::json!({"task_type": "vps", "command": KEY}));
        row.status = status;
        row.assigned_node = Some("n1".into());
        row.ssh_port = port;
        row
    }

    fn node(status: NodeStatus, url: &str) -> NodeRow {
        NodeRow {
            hostname: "n1".into(),
            url: url.into(),
            total_cores: 4,
            memory_total_bytes: None,
            status,
            registered_at_ms: 0,
            last_heartbeat_ms: 0,
            cpu_percent: None,
            memory_percent: None,
            memory_used_bytes: None,
            current_avg_temp: None,
            current_max_temp: None,
            numa_topology: None,
            gpu_info: vec![],
            environments: Default::default(),
            env_loading: Default::default(),
            docker_available: true,
        }
    }

    #[test]
    fn a_running_vps_on_an_online_node_is_reachable() {
        let up = node(NodeStatus::Online, "http://[fd00::5]:8001");
        let r = route(TaskId(7), Some(&vps(TaskStatus::Running, Some(40022))), Some(&up)).unwrap();
        assert_eq!(r, VpsRoute { node: "n1".into(), host: "fd00::5".into(), port: 40022 });
        assert_eq!(key_blob(&vps(TaskStatus::Running, None)).map(|b| b.len()), Some(51));
    }

    #[test]
    fn the_original_reasons() {
        let up = node(NodeStatus::Online, "http://10.0.0.5:8001");
        let down = node(NodeStatus::Offline, "http://10.0.0.5:8001");
        let mut command = vps(TaskStatus::Running, Some(1));
        command.task_type = TaskType::Command;
        let cases = [
            (None, Some(&up), "Task 7 not found."),
            (Some(command), Some(&up), "Task 7 is not a VPS task."),
            (Some(vps(TaskStatus::Paused, Some(1))), Some(&up), "VPS task 7 is not active (status: paused)."),
            (Some(vps(TaskStatus::Killed, Some(1))), Some(&up), "VPS task 7 is not active (status: killed)."),
            (Some(vps(TaskStatus::Running, None)), Some(&up), "VPS task 7 has no SSH port assigned."),
            (Some(vps(TaskStatus::Running, Some(1))), Some(&down), "Assigned node for VPS task 7 is not online."),
            (Some(vps(TaskStatus::Running, Some(1))), None, "Assigned node for VPS task 7 is not online."),
        ];
        for (task, node, reason) in cases {
            assert_eq!(route(TaskId(7), task.as_ref(), node), Err(reason.to_string()));
        }
    }

    #[test]
    fn terminals_and_forwards_are_served_by_the_runner() {
        let up = node(NodeStatus::Online, "http://10.0.0.5:8001/");
        let tls = node(NodeStatus::Online, "https://n1.lab:8001");
        let running = vps(TaskStatus::Running, Some(1));
        let url = |task: &TaskRow, node: &NodeRow, socket| socket_url(TaskId(7), Some(task), Some(node), socket);
        assert_eq!(url(&running, &up, TaskSocket::Terminal).unwrap(), "ws://10.0.0.5:8001/tasks/7/terminal");
        assert_eq!(url(&running, &tls, TaskSocket::Forward(8888)).unwrap(), "wss://n1.lab:8001/tasks/7/forward/8888");
        let paused = vps(TaskStatus::Paused, Some(1));
        assert!(url(&paused, &up, TaskSocket::Terminal).unwrap_err().contains("not running"));
        assert!(url(&paused, &up, TaskSocket::Forward(22)).unwrap_err().contains("not running"));
        // A native task has ports but no terminal.
        let mut native = running.clone();
        native.container_name = hakuriver_model::task::NO_CONTAINER.into();
        assert!(url(&native, &up, TaskSocket::Terminal).unwrap_err().contains("without a container"));
        assert_eq!(url(&native, &up, TaskSocket::Forward(8888)).unwrap(), "ws://10.0.0.5:8001/tasks/7/forward/8888");
        let down = node(NodeStatus::Offline, "http://10.0.0.5:8001");
        assert!(url(&running, &down, TaskSocket::Forward(22)).unwrap_err().contains("not online"));
    }
}
