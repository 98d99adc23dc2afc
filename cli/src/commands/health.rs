//! `hakuriver health [NODE]`: the cluster's (or one node's) latest readings and the host's
//! warnings.

use hakuriver_model::format_bytes;
use hakuriver_model::health::{HealthResponse, NodeHealth};

use crate::context::Ctx;
use crate::exit::Failure;
use crate::output::{Output, Tone};
use crate::table::{self, Cell};

pub async fn run(ctx: &Ctx, node: Option<String>) -> Result<(), Failure> {
    let client = ctx.client()?;
    let query: Vec<(&str, String)> = node.into_iter().map(|n| ("hostname", n)).collect();
    let health: HealthResponse = client.get_query("/api/health", &query).await?;
    let ids = || latest(&health).iter().map(|n| n.hostname.clone()).collect();
    ctx.out.print(&health, ids, || render(&ctx.out, &health))?;
    Ok(())
}

/// The newest snapshot of each node.
fn latest(h: &HealthResponse) -> &[NodeHealth] {
    h.nodes.last().map(Vec::as_slice).unwrap_or_default()
}

pub fn render(out: &Output, h: &HealthResponse) -> String {
    let mut text = String::new();
    if let Some(a) = h.aggregate.last() {
        text += &format!(
            "{} {}/{} nodes online, {} cores, memory {} / {}, cpu {:.1}% avg\n",
            out.paint("cluster:", Tone::Bold),
            a.online_nodes,
            a.total_nodes,
            a.total_cores,
            format_bytes(a.used_mem_bytes),
            format_bytes(a.total_mem_bytes),
            a.avg_cpu_percent,
        );
    }
    let nodes = latest(h);
    if nodes.is_empty() {
        text += "No node readings yet.\n";
    } else {
        let rows: Vec<Vec<Cell>> = nodes
            .iter()
            .map(|n| {
                vec![
                    n.hostname.clone().into(),
                    Cell::status(n.status),
                    table::percent(n.cpu_percent).into(),
                    table::percent(n.memory_percent).into(),
                    n.current_max_temp.map_or("-".into(), |t| format!("{t:.0} °C")).into(),
                    n.gpu_info.len().to_string().into(),
                    n.last_heartbeat.map_or("never".into(), |t| t.format("%H:%M:%S").to_string()).into(),
                ]
            })
            .collect();
        text += &table::render(out, &["NODE", "STATUS", "CPU", "MEMORY", "MAX TEMP", "GPUS", "HEARTBEAT"], &rows);
    }
    for warning in &h.warnings {
        text += &format!("{} {warning}\n", out.paint("warning:", Tone::Warn));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Mode;
    use hakuriver_model::health::AggregateHealth;
    use hakuriver_model::NodeStatus;

    #[test]
    fn shows_the_newest_snapshot_and_the_warnings() {
        let node = |cpu| NodeHealth {
            hostname: "n1".into(),
            status: NodeStatus::Online,
            last_heartbeat: None,
            cpu_percent: Some(cpu),
            memory_percent: None,
            memory_used_bytes: None,
            memory_total_bytes: None,
            total_cores: 4,
            numa_topology: None,
            current_avg_temp: None,
            current_max_temp: None,
            gpu_info: vec![],
        };
        let aggregate = AggregateHealth {
            total_nodes: 1,
            online_nodes: 1,
            total_cores: 4,
            total_mem_bytes: 8_000_000_000,
            used_mem_bytes: 2_000_000_000,
            avg_cpu_percent: 12.5,
            avg_mem_percent: 25.0,
            max_avg_cpu_temp: 0.0,
            max_max_cpu_temp: 0.0,
            last_updated: None,
        };
        let h = HealthResponse {
            nodes: vec![vec![node(1.0)], vec![node(42.0)]],
            aggregate: vec![aggregate],
            warnings: vec!["shared_dir is not writable".into()],
        };
        let text = render(&Output { mode: Mode::Human, color: false }, &h);
        assert!(text.starts_with("cluster: 1/1 nodes online, 4 cores, memory 2.0 GB / 8.0 GB"), "{text}");
        assert!(text.contains("42.0%") && !text.contains("1.0%"), "{text}");
        assert!(text.ends_with("warning: shared_dir is not writable\n"), "{text}");
    }
}
