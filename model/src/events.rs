//! Live events pushed to the dashboard (and any other subscriber) over `/api/events`.

use serde::{Deserialize, Serialize};

use crate::node::NodeInfo;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClusterEvent {
    /// Sent first on every subscription: the whole current state, so a client never has to merge
    /// deltas into data fetched separately.
    Snapshot { nodes: Vec<NodeInfo> },
    /// A node registered, sent a heartbeat, or went offline or online.
    NodeUpdated { node: NodeInfo },
}
