//! Nodes: what a runner says about itself (register, heartbeat) and what the host says about it
//! (`GET /nodes`). Field names are the original's wire names.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::ids::TaskId;

/// One NUMA node: its CPU ids and memory. JSON keys of [`NumaTopology`] are the NUMA ids as strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NumaNode {
    pub cores: Vec<u32>,
    #[serde(default)]
    pub memory_bytes: Option<u64>,
}

pub type NumaTopology = BTreeMap<u32, NumaNode>;

fn minus_one() -> i64 {
    -1
}

/// One GPU as NVML reports it. Integer readings are -1 when the device cannot report them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GpuInfo {
    pub gpu_id: u32,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub driver_version: String,
    #[serde(default)]
    pub pci_bus_id: String,
    #[serde(default = "minus_one")]
    pub gpu_utilization: i64,
    #[serde(default = "minus_one")]
    pub graphics_clock_mhz: i64,
    #[serde(default = "minus_one")]
    pub mem_utilization: i64,
    #[serde(default = "minus_one")]
    pub mem_clock_mhz: i64,
    #[serde(default)]
    pub memory_total_mib: f64,
    #[serde(default)]
    pub memory_used_mib: f64,
    #[serde(default)]
    pub memory_free_mib: f64,
    #[serde(default = "minus_one")]
    pub temperature: i64,
    #[serde(default = "minus_one")]
    pub fan_speed: i64,
    #[serde(default = "minus_one")]
    pub power_usage_mw: i64,
    #[serde(default = "minus_one")]
    pub power_limit_mw: i64,
}

/// `POST /register` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunnerInfo {
    pub hostname: String,
    pub total_cores: u32,
    pub total_ram_bytes: u64,
    pub runner_url: String,
    /// NUMA id (a decimal string) → its cores and memory.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<std::collections::BTreeMap<String, crate::node::NumaNode>>))]
    pub numa_topology: Option<NumaTopology>,
    #[serde(default)]
    pub gpu_info: Option<Vec<GpuInfo>>,
    /// Ours: whether the node's Docker engine answers, so it can run container tasks (the
    /// original's runners always needed one: assumed when absent).
    #[serde(default = "docker_assumed")]
    pub docker_available: bool,
}

/// The original's runners do not say; they could not start without Docker.
fn docker_assumed() -> bool {
    true
}

/// A task the runner killed on its own (out of memory, ...), reported in the next heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KilledTask {
    pub task_id: TaskId,
    pub reason: String,
}

/// `PUT /heartbeat/{hostname}` body.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeartbeatData {
    pub running_tasks: Vec<TaskId>,
    #[serde(default)]
    pub killed_tasks: Vec<KilledTask>,
    #[serde(default)]
    pub cpu_percent: Option<f64>,
    #[serde(default)]
    pub memory_percent: Option<f64>,
    #[serde(default)]
    pub memory_used_bytes: Option<u64>,
    #[serde(default)]
    pub memory_total_bytes: Option<u64>,
    #[serde(default)]
    pub current_avg_temp: Option<f64>,
    #[serde(default)]
    pub current_max_temp: Option<f64>,
    #[serde(default)]
    pub gpu_info: Vec<GpuInfo>,
    /// Ours: environment images loaded on the node, name → version: the timestamp of the tarball
    /// the runner loaded it from, else the image's creation (unix seconds).
    #[serde(default)]
    pub environments: BTreeMap<String, i64>,
    /// Ours: environment tarballs being loaded now, name → progress.
    #[serde(default)]
    pub env_loading: BTreeMap<String, crate::env::LoadProgress>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    Online,
    Offline,
}

impl NodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Online => "online",
            NodeStatus::Offline => "offline",
        }
    }
}

impl std::fmt::Display for NodeStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for NodeStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "online" => Ok(NodeStatus::Online),
            "offline" => Ok(NodeStatus::Offline),
            other => Err(format!("unknown node status {other:?}")),
        }
    }
}

/// `cores_in_use` of `GET /nodes`: a count for online nodes, the string `"N/A"` for offline ones
/// (the original's shape, kept so its clients keep working).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum CoresInUse {
    Count(u32),
    NotAvailable(NotAvailable),
}

/// The literal string `"N/A"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum NotAvailable {
    #[serde(rename = "N/A")]
    NA,
}

/// One entry of `GET /nodes`. The first nine fields are the original's; the rest are ours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeInfo {
    pub hostname: String,
    pub url: String,
    pub total_cores: u32,
    pub cores_in_use: CoresInUse,
    pub available_cores: u32,
    pub status: NodeStatus,
    #[serde(with = "crate::time::opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = "date-time-naive"))]
    pub last_heartbeat: Option<NaiveDateTime>,
    /// NUMA id (a decimal string) → its cores and memory.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<std::collections::BTreeMap<String, crate::node::NumaNode>>))]
    pub numa_topology: Option<NumaTopology>,
    pub gpu_info: Vec<GpuInfo>,
    #[serde(default)]
    pub memory_total_bytes: Option<u64>,
    #[serde(default)]
    pub memory_used_bytes: Option<u64>,
    #[serde(default)]
    pub cpu_percent: Option<f64>,
    #[serde(default)]
    pub memory_percent: Option<f64>,
    #[serde(default)]
    pub current_avg_temp: Option<f64>,
    #[serde(default)]
    pub current_max_temp: Option<f64>,
    /// Environment images loaded on the node, name → version: the timestamp of the tarball the
    /// runner loaded it from, else the image's creation (unix seconds).
    #[serde(default)]
    pub environments: BTreeMap<String, i64>,
    /// Environment tarballs being loaded now, name → progress.
    #[serde(default)]
    pub env_loading: BTreeMap<String, crate::env::LoadProgress>,
    /// Whether the node runs container tasks (its Docker engine answered when it registered);
    /// a node without one takes only tasks without a container.
    #[serde(default = "docker_assumed")]
    pub docker_available: bool,
}

/// Node names: what hostnames allow, plus `_`; at most 253 characters, starting with a letter
/// or digit. Checked at registration and in the config, so a name is always safe in a URL path.
pub fn is_valid_node_name(name: &str) -> bool {
    name.len() <= 253
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_body_of_the_original_runner_parses() {
        let body = r#"{"hostname":"n1","total_cores":8,"total_ram_bytes":16000000000,
            "runner_url":"http://10.0.0.2:8001",
            "numa_topology":{"0":{"cores":[0,1,2,3],"memory_bytes":8000000000},"1":{"cores":[4,5,6,7],"memory_bytes":null}},
            "gpu_info":[]}"#;
        let info: RunnerInfo = serde_json::from_str(body).unwrap();
        let numa = info.numa_topology.unwrap();
        assert_eq!(numa[&1].cores, vec![4, 5, 6, 7]);
        assert_eq!(numa[&1].memory_bytes, None);
        assert_eq!(info.gpu_info, Some(vec![]));
    }

    #[test]
    fn heartbeat_defaults_match_the_original() {
        let hb: HeartbeatData = serde_json::from_str(r#"{"running_tasks":[1,"2"]}"#).unwrap();
        assert_eq!(hb.running_tasks, vec![TaskId(1), TaskId(2)]);
        assert!(hb.killed_tasks.is_empty() && hb.gpu_info.is_empty());
        assert!(serde_json::from_str::<HeartbeatData>(r#"{"cpu_percent":3}"#).is_err());
    }

    #[test]
    fn offline_cores_in_use_is_the_string_na() {
        assert_eq!(serde_json::to_string(&CoresInUse::NotAvailable(NotAvailable::NA)).unwrap(), "\"N/A\"");
        assert_eq!(serde_json::to_string(&CoresInUse::Count(3)).unwrap(), "3");
        assert_eq!(serde_json::from_str::<CoresInUse>("\"N/A\"").unwrap(), CoresInUse::NotAvailable(NotAvailable::NA));
    }

    #[test]
    fn node_names() {
        assert!(is_valid_node_name("gpu-01.lab_a"));
        for bad in ["", "-x", "a b", "a/b", "../x", "ä"] {
            assert!(!is_valid_node_name(bad), "{bad}");
        }
        assert!(!is_valid_node_name(&"a".repeat(254)));
    }

    #[test]
    fn gpu_info_missing_readings_default_to_minus_one() {
        let gpu: GpuInfo = serde_json::from_str(r#"{"gpu_id":0,"name":"A100"}"#).unwrap();
        assert_eq!(gpu.temperature, -1);
        assert_eq!(gpu.power_limit_mw, -1);
    }
}
