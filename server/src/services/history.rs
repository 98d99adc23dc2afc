//! Node readings over the last hour, one sample per heartbeat, kept in memory (a restart starts
//! a new hour). The dashboard's charts start from these and extend them from live node events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hakuriver_model::history::{push_sample, sample_of, NodeSeries, HISTORY_SECONDS};
use hakuriver_model::NodeInfo;

#[derive(Clone)]
pub struct NodeHistory {
    series: Arc<Mutex<HashMap<String, Vec<hakuriver_model::history::NodeSample>>>>,
    /// Samples kept per node: an hour of heartbeats.
    max: usize,
}

impl NodeHistory {
    pub fn new(heartbeat_interval: Duration) -> Self {
        let per_hour = (HISTORY_SECONDS as f64 / heartbeat_interval.as_secs_f64().max(0.1)).ceil() as usize;
        NodeHistory { series: Arc::default(), max: per_hour.clamp(60, 40_000) + 10 }
    }

    /// Records the readings a node update carries.
    pub fn record(&self, node: &NodeInfo) {
        let Some(sample) = sample_of(node) else { return };
        let mut series = self.series.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        push_sample(series.entry(node.hostname.clone()).or_default(), sample, self.max);
    }

    /// Every node's samples, by hostname.
    pub fn all(&self) -> Vec<NodeSeries> {
        let series = self.series.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out: Vec<NodeSeries> =
            series.iter().map(|(h, s)| NodeSeries { hostname: h.clone(), samples: s.clone() }).collect();
        out.sort_by(|a, b| a.hostname.cmp(&b.hostname));
        out
    }
}
