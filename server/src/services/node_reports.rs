//! Heartbeats held in memory between liveness ticks.
//!
//! A heartbeat from a node the database already shows online, with the GPUs it already lists,
//! changes nothing the scheduler reads: it is kept here and written, with every other node's,
//! in one statement at the next tick, where the tasks it reports are reconciled against one read
//! of the active tasks. Only heartbeats that change what scheduling sees (a node back online, a
//! new GPU set) are written as they arrive. With 1000 runners this turns 400 database
//! round trips a second into a handful per tick.

use std::collections::HashMap;
use std::sync::Mutex;

use hakuriver_model::HeartbeatData;

/// A heartbeat as received.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub received_ms: i64,
    pub heartbeat: HeartbeatData,
}

#[derive(Default)]
struct State {
    /// Nodes this host last wrote online, with the GPU ids written for them.
    online: HashMap<String, Vec<u32>>,
    /// The newest report of each node since the last tick.
    fresh: HashMap<String, Report>,
}

#[derive(Default)]
pub struct NodeReports {
    state: Mutex<State>,
}

fn gpu_ids(hb: &HeartbeatData) -> Vec<u32> {
    hb.gpu_info.iter().map(|g| g.gpu_id).collect()
}

impl NodeReports {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps the heartbeat for the next tick when the database already shows what scheduling
    /// needs from it; otherwise hands it back, to be written now.
    #[must_use]
    pub fn keep_if_current(&self, hostname: &str, heartbeat: HeartbeatData, now_ms: i64) -> Option<HeartbeatData> {
        let mut state = self.state();
        if state.online.get(hostname) != Some(&gpu_ids(&heartbeat)) {
            return Some(heartbeat);
        }
        state.fresh.insert(hostname.to_string(), Report { received_ms: now_ms, heartbeat });
        None
    }

    /// The heartbeat was written (the node is online in the database with these GPUs); its
    /// tasks are reconciled at the next tick.
    pub fn written(&self, hostname: &str, heartbeat: HeartbeatData, now_ms: i64) {
        let mut state = self.state();
        state.online.insert(hostname.to_string(), gpu_ids(&heartbeat));
        state.fresh.insert(hostname.to_string(), Report { received_ms: now_ms, heartbeat });
    }

    /// A registration wrote the node online; its GPUs are known once a heartbeat is written.
    pub fn registered(&self, hostname: &str) {
        self.state().online.remove(hostname);
    }

    /// These nodes were written offline: their next heartbeat is written as it arrives.
    pub fn went_offline(&self, hostnames: &[String]) {
        let mut state = self.state();
        for name in hostnames {
            state.online.remove(name);
        }
    }

    /// The reports since the last call, by hostname.
    pub fn take(&self) -> Vec<(String, Report)> {
        let mut reports: Vec<(String, Report)> = std::mem::take(&mut self.state().fresh).into_iter().collect();
        reports.sort_by(|a, b| a.0.cmp(&b.0));
        reports
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hakuriver_model::{GpuInfo, TaskId};

    fn gpu(id: u32) -> GpuInfo {
        serde_json::from_value(serde_json::json!({ "gpu_id": id })).expect("a GPU with defaults")
    }

    fn beat(cpu: f64, gpus: &[u32]) -> HeartbeatData {
        HeartbeatData {
            cpu_percent: Some(cpu),
            gpu_info: gpus.iter().map(|&id| gpu(id)).collect(),
            running_tasks: vec![TaskId(7)],
            ..Default::default()
        }
    }

    #[test]
    fn a_node_not_written_online_is_written_first() {
        let reports = NodeReports::default();
        let back = reports.keep_if_current("n1", beat(1.0, &[]), 10).expect("an unknown node is handed back");
        assert_eq!(back, beat(1.0, &[]), "handed back whole");
        assert!(reports.take().is_empty());
        reports.written("n1", back, 10);
        assert_eq!(reports.take(), vec![("n1".to_string(), Report { received_ms: 10, heartbeat: beat(1.0, &[]) })]);
        // Online with the same GPUs: kept, the newest one only.
        assert!(reports.keep_if_current("n1", beat(2.0, &[]), 20).is_none());
        assert!(reports.keep_if_current("n1", beat(3.0, &[]), 30).is_none());
        let taken = reports.take();
        assert_eq!(taken.len(), 1);
        assert_eq!((taken[0].1.received_ms, taken[0].1.heartbeat.cpu_percent), (30, Some(3.0)));
        assert!(reports.take().is_empty(), "each report is taken once");
    }

    #[test]
    fn new_gpus_offline_and_registration_send_the_next_heartbeat_to_the_database() {
        let reports = NodeReports::default();
        reports.written("n1", beat(1.0, &[0, 1]), 10);
        assert!(reports.keep_if_current("n1", beat(1.0, &[0, 1]), 11).is_none());
        assert!(reports.keep_if_current("n1", beat(1.0, &[0]), 12).is_some(), "a GPU went away");
        reports.went_offline(&["n1".to_string()]);
        assert!(reports.keep_if_current("n1", beat(1.0, &[0, 1]), 13).is_some());
        reports.written("n1", beat(1.0, &[0, 1]), 14);
        reports.registered("n1");
        assert!(reports.keep_if_current("n1", beat(1.0, &[0, 1]), 15).is_some());
        let names: Vec<String> = reports.take().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["n1"]);
    }
}
