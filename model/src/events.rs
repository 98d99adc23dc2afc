//! Live events pushed to the dashboard (and any other subscriber) over `/api/events`.

use serde::{Deserialize, Serialize};

use crate::node::NodeInfo;
use crate::task::TaskView;

/// On the wire: `{"type": "node_updated", "data": {...}}`. Adjacently tagged (not internally):
/// serde buffers internally tagged content, and buffered content cannot turn the string keys of
/// a NUMA topology back into integers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum ClusterEvent {
    /// Sent first on every subscription: the whole current state, so a client never has to merge
    /// deltas into data fetched separately.
    Snapshot { nodes: Vec<NodeInfo> },
    /// A node registered, sent a heartbeat, or went offline or online.
    NodeUpdated { node: Box<NodeInfo> },
    /// A task (command or VPS) was created or changed: status, node, port. Pages showing a list
    /// of tasks fold it into what they loaded; after a `Snapshot` (a reconnect, or a subscriber
    /// that fell behind) they load their list again.
    TaskUpdated { task: Box<TaskView> },
}

/// Websocket close codes (RFC 6455) of every HakuRiver websocket: events and terminals.
pub const CLOSE_NORMAL: u16 = 1000;
/// The server is shutting down.
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// The request cannot be served (no such container, not running, ...), or the token or login
/// session the connection was opened with was revoked or expired.
pub const CLOSE_POLICY: u16 = 1008;
/// Something failed on the server's side.
pub const CLOSE_ERROR: u16 = 1011;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{CoresInUse, NodeStatus, NumaNode};

    #[test]
    fn events_with_numa_topologies_round_trip() {
        let node = NodeInfo {
            hostname: "n".into(),
            url: "http://n:1".into(),
            total_cores: 2,
            cores_in_use: CoresInUse::Count(0),
            available_cores: 2,
            status: NodeStatus::Online,
            last_heartbeat: None,
            numa_topology: Some([(0, NumaNode { cores: vec![0, 1], memory_bytes: Some(1) })].into()),
            gpu_info: vec![],
            memory_total_bytes: None,
            memory_used_bytes: None,
            cpu_percent: Some(1.5),
            memory_percent: None,
            current_avg_temp: None,
            environments: Default::default(),
            env_loading: Default::default(),
            docker_available: true,
            current_max_temp: None,
        };
        for event in
            [ClusterEvent::NodeUpdated { node: Box::new(node.clone()) }, ClusterEvent::Snapshot { nodes: vec![node] }]
        {
            let json = serde_json::to_string(&event).unwrap();
            assert!(json.starts_with(r#"{"type":"#), "{json}");
            assert_eq!(serde_json::from_str::<ClusterEvent>(&json).unwrap(), event);
        }
    }
}
