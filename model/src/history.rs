//! Readings over time: one sample per node per heartbeat, kept by the host for an hour and
//! extended live in the dashboard from the same node events. Built from a [`NodeInfo`] in one
//! place so the host's history and the browser's additions agree.

use serde::{Deserialize, Serialize};

use crate::node::{NodeInfo, NodeStatus};

/// How long the host keeps node samples.
pub const HISTORY_SECONDS: i64 = 3600;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuSample {
    pub gpu_id: u32,
    /// Percent; `None` when the driver does not say.
    pub utilization: Option<f64>,
    pub memory_used_mib: f64,
    pub memory_total_mib: f64,
    /// °C.
    pub temperature: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeSample {
    /// Milliseconds of the host's local wall clock (the wire's naive time), so samples line up
    /// with the timestamps the pages show.
    pub t: i64,
    pub cpu_percent: Option<f64>,
    pub memory_percent: Option<f64>,
    pub avg_temp: Option<f64>,
    pub max_temp: Option<f64>,
    #[serde(default)]
    pub gpus: Vec<GpuSample>,
}

/// A node's samples, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeSeries {
    pub hostname: String,
    pub samples: Vec<NodeSample>,
}

fn known(v: i64) -> Option<f64> {
    (v >= 0).then_some(v as f64)
}

/// The sample a node event carries: its last heartbeat's readings (none for an offline node or
/// one that never sent a heartbeat).
pub fn sample_of(node: &NodeInfo) -> Option<NodeSample> {
    if node.status != NodeStatus::Online {
        return None;
    }
    let t = node.last_heartbeat?.and_utc().timestamp_millis();
    Some(NodeSample {
        t,
        cpu_percent: node.cpu_percent,
        memory_percent: node.memory_percent,
        avg_temp: node.current_avg_temp,
        max_temp: node.current_max_temp,
        gpus: node
            .gpu_info
            .iter()
            .map(|g| GpuSample {
                gpu_id: g.gpu_id,
                utilization: known(g.gpu_utilization),
                memory_used_mib: g.memory_used_mib,
                memory_total_mib: g.memory_total_mib,
                temperature: known(g.temperature),
            })
            .collect(),
    })
}

/// Appends `sample` unless it repeats the last one's time, and drops what is older than the
/// window or beyond `max` samples.
pub fn push_sample(samples: &mut Vec<NodeSample>, sample: NodeSample, max: usize) {
    if samples.last().is_some_and(|last| last.t >= sample.t) {
        return;
    }
    let oldest = sample.t - HISTORY_SECONDS * 1000;
    samples.push(sample);
    let stale = samples.iter().take_while(|s| s.t < oldest).count();
    let over = samples.len().saturating_sub(max);
    samples.drain(..stale.max(over));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: i64) -> NodeSample {
        NodeSample { t, cpu_percent: Some(1.0), memory_percent: None, avg_temp: None, max_temp: None, gpus: vec![] }
    }

    #[test]
    fn the_window_is_an_hour_and_repeats_are_dropped() {
        let mut s = Vec::new();
        push_sample(&mut s, at(1_000), 10);
        push_sample(&mut s, at(1_000), 10);
        push_sample(&mut s, at(2_000), 10);
        assert_eq!(s.len(), 2);
        push_sample(&mut s, at(1_000 + HISTORY_SECONDS * 1000 + 500), 10);
        assert_eq!(s.iter().map(|x| x.t).collect::<Vec<_>>(), [2_000, 3_601_500]);
        for t in 0..20 {
            push_sample(&mut s, at(4_000_000 + t), 10);
        }
        assert_eq!(s.len(), 10);
    }
}
