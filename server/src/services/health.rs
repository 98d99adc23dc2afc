//! Cluster health history for `GET /health`: one snapshot of every node plus cluster aggregates,
//! taken once a second, the newest `HISTORY_LEN` kept in memory.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::NaiveDateTime;
use hakuriver_model::health::{AggregateHealth, HealthResponse, NodeHealth};
use hakuriver_model::{NodeInfo, NodeStatus};

/// Snapshots kept: one minute at one per second, as the original.
pub const HISTORY_LEN: usize = 60;

#[derive(Clone, Default)]
pub struct HealthHistory {
    samples: Arc<Mutex<VecDeque<Sample>>>,
}

#[derive(Clone)]
struct Sample {
    nodes: Vec<NodeHealth>,
    aggregate: AggregateHealth,
}

impl HealthHistory {
    /// Adds a snapshot of `nodes` taken at `now`, dropping the oldest beyond `HISTORY_LEN`.
    pub fn record(&self, nodes: &[NodeInfo], now: NaiveDateTime) {
        let sample = Sample { nodes: nodes.iter().map(node_health).collect(), aggregate: aggregate(nodes, now) };
        let mut samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        if samples.len() == HISTORY_LEN {
            samples.pop_front();
        }
        samples.push_back(sample);
    }

    /// The history, oldest first; with `hostname`, each snapshot holds only that node.
    pub fn response(&self, hostname: Option<&str>) -> HealthResponse {
        let samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = HealthResponse::default();
        for s in samples.iter() {
            let nodes = match hostname {
                Some(h) => s.nodes.iter().filter(|n| n.hostname == h).cloned().collect(),
                None => s.nodes.clone(),
            };
            out.nodes.push(nodes);
            out.aggregate.push(s.aggregate.clone());
        }
        out
    }
}

pub fn node_health(n: &NodeInfo) -> NodeHealth {
    NodeHealth {
        hostname: n.hostname.clone(),
        status: n.status,
        last_heartbeat: n.last_heartbeat,
        cpu_percent: n.cpu_percent,
        memory_percent: n.memory_percent,
        memory_used_bytes: n.memory_used_bytes,
        memory_total_bytes: n.memory_total_bytes,
        total_cores: n.total_cores,
        numa_topology: n.numa_topology.clone(),
        current_avg_temp: n.current_avg_temp,
        current_max_temp: n.current_max_temp,
        gpu_info: n.gpu_info.clone(),
    }
}

/// Cluster totals over the online nodes (a missing reading counts as nothing, never as an error).
pub fn aggregate(nodes: &[NodeInfo], now: NaiveDateTime) -> AggregateHealth {
    let online: Vec<&NodeInfo> = nodes.iter().filter(|n| n.status == NodeStatus::Online).collect();
    let total_cores: u64 = online.iter().map(|n| u64::from(n.total_cores)).sum();
    let total_mem: u64 = online.iter().filter_map(|n| n.memory_total_bytes).sum();
    let used_mem: u64 = online.iter().filter_map(|n| n.memory_used_bytes).sum();
    let weighted_cpu: f64 = online.iter().map(|n| n.cpu_percent.unwrap_or(0.0) * f64::from(n.total_cores)).sum();
    let max_of = |f: fn(&NodeInfo) -> Option<f64>| online.iter().filter_map(|n| f(n)).fold(0.0, f64::max);
    let last_updated = nodes.iter().filter_map(|n| n.last_heartbeat).chain([now]).max();
    AggregateHealth {
        total_nodes: u32::try_from(nodes.len()).unwrap_or(u32::MAX),
        online_nodes: u32::try_from(online.len()).unwrap_or(u32::MAX),
        total_cores,
        total_mem_bytes: total_mem,
        used_mem_bytes: used_mem,
        avg_cpu_percent: weighted_cpu / total_cores.max(1) as f64,
        avg_mem_percent: used_mem as f64 / total_mem.max(1) as f64 * 100.0,
        max_avg_cpu_temp: max_of(|n| n.current_avg_temp),
        max_max_cpu_temp: max_of(|n| n.current_max_temp),
        last_updated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hakuriver_model::CoresInUse;

    fn node(name: &str, status: NodeStatus, cores: u32, cpu: Option<f64>, temp: Option<f64>) -> NodeInfo {
        NodeInfo {
            hostname: name.into(),
            url: String::new(),
            total_cores: cores,
            cores_in_use: CoresInUse::Count(0),
            available_cores: cores,
            status,
            last_heartbeat: None,
            numa_topology: None,
            gpu_info: vec![],
            memory_total_bytes: Some(1000),
            memory_used_bytes: Some(250),
            cpu_percent: cpu,
            memory_percent: None,
            current_avg_temp: temp,
            environments: Default::default(),
            env_loading: Default::default(),
            docker_available: true,
            current_max_temp: temp.map(|t| t + 10.0),
        }
    }

    fn at(s: &str) -> NaiveDateTime {
        hakuriver_model::time::parse(s).unwrap()
    }

    #[test]
    fn aggregates_online_nodes_and_tolerates_missing_readings() {
        let nodes = [
            node("a", NodeStatus::Online, 2, Some(50.0), None),
            node("b", NodeStatus::Online, 6, Some(10.0), Some(40.0)),
            node("c", NodeStatus::Offline, 64, Some(99.0), Some(90.0)),
        ];
        let agg = aggregate(&nodes, at("2026-01-01T00:00:00"));
        assert_eq!((agg.total_nodes, agg.online_nodes, agg.total_cores), (3, 2, 8));
        assert_eq!((agg.total_mem_bytes, agg.used_mem_bytes), (2000, 500));
        assert!((agg.avg_cpu_percent - 20.0).abs() < 1e-9, "(2*50 + 6*10) / 8");
        assert!((agg.avg_mem_percent - 25.0).abs() < 1e-9);
        assert_eq!((agg.max_avg_cpu_temp, agg.max_max_cpu_temp), (40.0, 50.0));
        assert_eq!(agg.last_updated, Some(at("2026-01-01T00:00:00")));
    }

    #[test]
    fn keeps_the_newest_minute_and_filters_by_host() {
        let history = HealthHistory::default();
        let nodes = [node("a", NodeStatus::Online, 1, None, None), node("b", NodeStatus::Online, 1, None, None)];
        for _ in 0..HISTORY_LEN + 5 {
            history.record(&nodes, at("2026-01-01T00:00:00"));
        }
        let all = history.response(None);
        assert_eq!((all.nodes.len(), all.aggregate.len()), (HISTORY_LEN, HISTORY_LEN));
        let only_b = history.response(Some("b"));
        assert!(only_b.nodes.iter().all(|s| s.len() == 1 && s[0].hostname == "b"));
    }
}
