//! `hakuriver nodes`: the cluster's nodes as a table or JSON.

use hakuriver_model::{format_bytes, CoresInUse, NodeInfo};

use crate::table;

pub fn render_table(nodes: &[NodeInfo]) -> String {
    if nodes.is_empty() {
        return "No nodes registered yet.\n".to_string();
    }
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            let used = match n.cores_in_use {
                CoresInUse::Count(c) => c.to_string(),
                CoresInUse::NotAvailable(_) => "-".into(),
            };
            vec![
                n.hostname.clone(),
                n.status.to_string(),
                format!("{used}/{}", n.total_cores),
                n.cpu_percent.map_or("-".into(), |p| format!("{p:.1}%")),
                match (n.memory_used_bytes, n.memory_total_bytes) {
                    (Some(u), Some(t)) => format!("{} / {}", format_bytes(u), format_bytes(t)),
                    (None, Some(t)) => format!("- / {}", format_bytes(t)),
                    _ => "-".into(),
                },
                n.numa_topology.as_ref().map_or(0, |t| t.len()).to_string(),
                n.gpu_info.len().to_string(),
                n.last_heartbeat.map_or("never".into(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string()),
            ]
        })
        .collect();
    table::render(&["HOSTNAME", "STATUS", "CORES", "CPU", "MEMORY", "NUMA", "GPUS", "LAST HEARTBEAT"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hakuriver_model::node::NotAvailable;
    use hakuriver_model::NodeStatus;

    #[test]
    fn shows_offline_nodes_without_core_usage() {
        let node = NodeInfo {
            hostname: "n1".into(),
            url: "http://x:1".into(),
            total_cores: 8,
            cores_in_use: CoresInUse::NotAvailable(NotAvailable::NA),
            available_cores: 0,
            status: NodeStatus::Offline,
            last_heartbeat: None,
            numa_topology: None,
            gpu_info: vec![],
            memory_total_bytes: Some(16_000_000_000),
            memory_used_bytes: None,
            cpu_percent: None,
            memory_percent: None,
            current_avg_temp: None,
            environments: Default::default(),
            env_loading: Default::default(),
            current_max_temp: None,
        };
        let out = render_table(&[node]);
        let row = out.lines().nth(1).unwrap();
        assert!(
            row.starts_with("n1")
                && row.contains("offline")
                && row.contains("-/8")
                && row.contains("16.0 GB")
                && row.ends_with("never"),
            "{row}"
        );
        assert_eq!(render_table(&[]), "No nodes registered yet.\n");
    }
}
