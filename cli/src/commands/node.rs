//! `hakuriver node list|show`: the cluster's nodes.

use clap::Subcommand;
use hakuriver_model::api::Message;
use hakuriver_model::{format_bytes, CoresInUse, NodeInfo};

use crate::client::seg;
use crate::context::Ctx;
use crate::exit::Failure;
use crate::output::{Output, Tone};
use crate::table::{self, Cell};

#[derive(Subcommand)]
pub enum NodeCommand {
    /// List the nodes: status, cores reserved, load, memory, NUMA nodes, GPUs.
    #[command(after_help = "Examples:\n  hakuriver node list\n  \
        hakuriver node list --json | jq -r '.[] | select(.status == \"online\") | .hostname'\n  \
        hakuriver node list -q          # hostnames only")]
    List,
    /// One node in detail: NUMA layout, GPUs, environments loaded.
    #[command(after_help = "Example:\n  hakuriver node show gpu-01")]
    Show {
        /// The node's hostname, as `node list` shows it.
        hostname: String,
    },
    /// Let another runner take a node name (admins). A name belongs to the runner that first
    /// registered it; after a machine is replaced, release the name so the new runner can have it.
    #[command(after_help = "Example:\n  hakuriver node release gpu-01")]
    Release { hostname: String },
}

pub async fn run(ctx: &Ctx, command: NodeCommand) -> Result<(), Failure> {
    let client = ctx.client()?;
    match command {
        NodeCommand::List => {
            let nodes: Vec<NodeInfo> = client.get("/api/nodes").await?;
            let ids = || nodes.iter().map(|n| n.hostname.clone()).collect();
            ctx.out.print(&nodes, ids, || render_table(&ctx.out, &nodes))?;
        }
        NodeCommand::Show { hostname } => {
            let node: NodeInfo = client.get(&format!("/api/nodes/{}", seg(&hostname))).await?;
            ctx.out.print(&node, || vec![node.hostname.clone()], || render_node(&ctx.out, &node))?;
        }
        NodeCommand::Release { hostname } => {
            let answer: Message = client.post(&format!("/api/nodes/{}/release", seg(&hostname)), &()).await?;
            ctx.out.print(&answer, || vec![hostname.clone()], || format!("{}\n", answer.message))?;
        }
    }
    Ok(())
}

fn cores(n: &NodeInfo) -> String {
    match n.cores_in_use {
        CoresInUse::Count(c) => format!("{c}/{}", n.total_cores),
        CoresInUse::NotAvailable(_) => format!("-/{}", n.total_cores),
    }
}

fn memory(n: &NodeInfo) -> String {
    match (n.memory_used_bytes, n.memory_total_bytes) {
        (Some(u), Some(t)) => format!("{} / {}", format_bytes(u), format_bytes(t)),
        (None, Some(t)) => format!("- / {}", format_bytes(t)),
        _ => "-".into(),
    }
}

fn heartbeat(n: &NodeInfo) -> String {
    n.last_heartbeat.map_or("never".into(), |t| t.format(table::TIME).to_string())
}

pub fn render_table(out: &Output, nodes: &[NodeInfo]) -> String {
    if nodes.is_empty() {
        return "No nodes registered yet. Start `hakuriver-runner` on a compute node.\n".to_string();
    }
    let rows: Vec<Vec<Cell>> = nodes
        .iter()
        .map(|n| {
            vec![
                n.hostname.clone().into(),
                Cell::status(n.status),
                cores(n).into(),
                table::percent(n.cpu_percent).into(),
                memory(n).into(),
                n.numa_topology.as_ref().map_or(0, |t| t.len()).to_string().into(),
                n.gpu_info.len().to_string().into(),
                heartbeat(n).into(),
            ]
        })
        .collect();
    table::render(out, &["HOSTNAME", "STATUS", "CORES", "CPU", "MEMORY", "NUMA", "GPUS", "LAST HEARTBEAT"], &rows)
}

pub fn render_node(out: &Output, n: &NodeInfo) -> String {
    let mut text = format!("{} {}\n", out.paint(&n.hostname, Tone::Bold), out.status(n.status));
    text += &format!("  runner:          {}\n", n.url);
    text += &format!("  cores reserved:  {}\n", cores(n));
    text += &format!("  cpu:             {}\n", n.cpu_percent.map_or("-".into(), |p| format!("{p:.1}%")));
    text += &format!("  memory:          {}\n", memory(n));
    if let Some(t) = n.current_avg_temp {
        text += &format!("  temperature:     {t:.0} °C avg, {:.0} °C max\n", n.current_max_temp.unwrap_or(t));
    }
    text += &format!("  last heartbeat:  {}\n", heartbeat(n));
    match &n.numa_topology {
        Some(topology) if !topology.is_empty() => {
            text += "  NUMA nodes:\n";
            for (id, numa) in topology {
                let mem = numa.memory_bytes.map_or("-".into(), format_bytes);
                text += &format!("    {id}: {} cores ({}), {mem}\n", numa.cores.len(), core_ranges(&numa.cores));
            }
        }
        _ => text += "  NUMA nodes:      none reported\n",
    }
    if n.gpu_info.is_empty() {
        text += "  GPUs:            none\n";
    } else {
        text += "  GPUs:\n";
        for g in &n.gpu_info {
            text += &format!(
                "    {}: {}, {:.0}/{:.0} MiB, {} % busy, {} °C\n",
                g.gpu_id, g.name, g.memory_used_mib, g.memory_total_mib, g.gpu_utilization, g.temperature
            );
        }
    }
    if !n.docker_available {
        text += "  containers:      no Docker engine: takes only tasks without a container\n";
    } else if n.environments.is_empty() {
        text += "  environments:    none loaded\n";
    } else {
        let names: Vec<&str> = n.environments.keys().map(String::as_str).collect();
        text += &format!("  environments:    {}\n", names.join(", "));
    }
    text
}

/// `[0,1,2,3,8,9]` → `0-3,8-9`.
fn core_ranges(cores: &[u32]) -> String {
    let mut sorted = cores.to_vec();
    sorted.sort_unstable();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        while i + 1 < sorted.len() && sorted[i + 1] == sorted[i] + 1 {
            i += 1;
        }
        parts.push(if sorted[i] == start { start.to_string() } else { format!("{start}-{}", sorted[i]) });
        i += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Mode;
    use hakuriver_model::node::{NotAvailable, NumaNode};
    use hakuriver_model::NodeStatus;

    fn node() -> NodeInfo {
        NodeInfo {
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
            docker_available: true,
            current_max_temp: None,
        }
    }

    const PLAIN: Output = Output { mode: Mode::Human, color: false };

    #[test]
    fn shows_offline_nodes_without_core_usage() {
        let out = render_table(&PLAIN, &[node()]);
        let row = out.lines().nth(1).unwrap();
        assert!(
            row.starts_with("n1")
                && row.contains("offline")
                && row.contains("-/8")
                && row.contains("16.0 GB")
                && row.ends_with("never"),
            "{row}"
        );
        assert!(render_table(&PLAIN, &[]).starts_with("No nodes registered yet."));
    }

    #[test]
    fn a_node_page_lists_numa_cores_as_ranges() {
        let mut n = node();
        n.numa_topology =
            Some([(0, NumaNode { cores: vec![3, 0, 1, 2, 8, 9], memory_bytes: Some(8_000_000_000) })].into());
        let text = render_node(&PLAIN, &n);
        assert!(text.contains("0: 6 cores (0-3,8-9), 8.0 GB"), "{text}");
        assert!(text.contains("GPUs:            none"), "{text}");
        assert_eq!(core_ranges(&[5]), "5");
    }
}
