//! Where a port forward into a task connects: a container on the host network (command tasks)
//! and a native task listen on this node's loopback; a VPS container on its own address in its
//! Docker network. The address is found when the forward opens, so a restarted container is
//! found where it is now.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bollard::models::ContainerInspectResponse;
use hakuriver_model::TaskId;

use super::{ExecError, Executor};

impl Executor {
    /// The address of `port` inside task `id`, when the task runs here.
    pub async fn forward_target(&self, id: TaskId, port: u16) -> Result<SocketAddr, ExecError> {
        let container = {
            let table = self.table.lock().await;
            let task = table.tasks.get(&id).ok_or(ExecError::NotTracked(id))?;
            match (&task.container, task.pgid) {
                (Some(name), _) => name.clone(),
                (None, Some(_)) => return Ok(SocketAddr::new(LOOPBACK, port)),
                (None, None) => return Err(ExecError::Failed(format!("Task {id} has not started yet."))),
            }
        };
        let docker = self.docker.as_ref().ok_or_else(|| ExecError::Failed("Docker is not available".into()))?;
        let info = docker
            .docker
            .inspect_container(&container, None)
            .await
            .map_err(|e| ExecError::Failed(format!("Task {id}'s container: {e}")))?;
        let ip = container_address(&info)
            .ok_or_else(|| ExecError::Failed(format!("Task {id}'s container has no network address.")))?;
        Ok(SocketAddr::new(ip, port))
    }
}

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Where a container's ports are reached from its node: loopback on the host network, else its
/// first address in a Docker network.
pub fn container_address(info: &ContainerInspectResponse) -> Option<IpAddr> {
    let mode = info.host_config.as_ref().and_then(|h| h.network_mode.as_deref());
    if mode == Some("host") {
        return Some(LOOPBACK);
    }
    let networks = info.network_settings.as_ref()?.networks.as_ref()?;
    let mut names: Vec<&String> = networks.keys().collect();
    names.sort();
    names.into_iter().filter_map(|name| networks.get(name)?.ip_address.as_deref()).find_map(|ip| ip.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{EndpointSettings, HostConfig, NetworkSettings};

    fn inspect(mode: &str, networks: &[(&str, &str)]) -> ContainerInspectResponse {
        let networks = networks
            .iter()
            .map(|(n, ip)| (n.to_string(), EndpointSettings { ip_address: Some(ip.to_string()), ..Default::default() }))
            .collect();
        ContainerInspectResponse {
            host_config: Some(HostConfig { network_mode: Some(mode.into()), ..Default::default() }),
            network_settings: Some(NetworkSettings { networks: Some(networks), ..Default::default() }),
            ..Default::default()
        }
    }

    #[test]
    fn host_network_containers_are_on_loopback_others_on_their_address() {
        assert_eq!(container_address(&inspect("host", &[])), Some(LOOPBACK));
        let bridge = inspect("bridge", &[("bridge", "172.17.0.3")]);
        assert_eq!(container_address(&bridge), Some("172.17.0.3".parse().unwrap()));
        // An endpoint without an address yet is passed over; none at all is no address.
        let two = inspect("default", &[("a", ""), ("b", "10.1.0.9")]);
        assert_eq!(container_address(&two), Some("10.1.0.9".parse().unwrap()));
        assert_eq!(container_address(&inspect("none", &[])), None);
    }
}
