//! `GET /health`: parallel histories of per-node snapshots and cluster aggregates, oldest first.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::node::{GpuInfo, NodeStatus, NumaTopology};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeHealth {
    pub hostname: String,
    pub status: NodeStatus,
    #[serde(with = "crate::time::opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = "date-time-naive"))]
    pub last_heartbeat: Option<NaiveDateTime>,
    pub cpu_percent: Option<f64>,
    pub memory_percent: Option<f64>,
    pub memory_used_bytes: Option<u64>,
    pub memory_total_bytes: Option<u64>,
    pub total_cores: u32,
    /// NUMA id (a decimal string) → its cores and memory.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<std::collections::BTreeMap<String, crate::node::NumaNode>>))]
    pub numa_topology: Option<NumaTopology>,
    pub current_avg_temp: Option<f64>,
    pub current_max_temp: Option<f64>,
    pub gpu_info: Vec<GpuInfo>,
}

/// Cluster totals at one instant. Key names are the original's camelCase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AggregateHealth {
    pub total_nodes: u32,
    pub online_nodes: u32,
    pub total_cores: u64,
    pub total_mem_bytes: u64,
    pub used_mem_bytes: u64,
    pub avg_cpu_percent: f64,
    pub avg_mem_percent: f64,
    pub max_avg_cpu_temp: f64,
    pub max_max_cpu_temp: f64,
    #[serde(with = "crate::time::opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = "date-time-naive"))]
    pub last_updated: Option<NaiveDateTime>,
}

/// `{"nodes": [[NodeHealth, ...], ...], "aggregate": [AggregateHealth, ...]}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthResponse {
    pub nodes: Vec<Vec<NodeHealth>>,
    pub aggregate: Vec<AggregateHealth>,
    /// Ours: what the host needs an admin to fix, each with the fix (absent when nothing).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}
