use hakuriver_model::{CoresInUse, NodeInfo};
use leptos::prelude::*;

use super::WithNodes;
use crate::format;

#[component]
pub fn NodesPage() -> impl IntoView {
    view! {
        <h1>"Compute Nodes"</h1>
        <WithNodes content=|nodes| view! { <NodeTable nodes/> }.into_any()/>
    }
}

#[component]
fn NodeTable(nodes: Signal<Vec<NodeInfo>>) -> impl IntoView {
    view! {
        <Show
            when=move || nodes.with(|n| !n.is_empty())
            fallback=|| view! {
                <p class="empty" data-testid="no-nodes">
                    "No nodes yet. Start a runner on a compute node: "
                    <code>"hakuriver-runner --config /path/to/config.toml"</code>
                </p>
            }
        >
            <table class="nodes" data-testid="nodes-table">
                <thead>
                    <tr>
                        <th>"Hostname"</th>
                        <th>"Status"</th>
                        <th>"Cores used / total"</th>
                        <th>"CPU"</th>
                        <th>"Memory"</th>
                        <th>"NUMA nodes"</th>
                        <th>"GPUs"</th>
                        <th>"Last heartbeat"</th>
                    </tr>
                </thead>
                <tbody>
                    {move || nodes.get().into_iter().map(|node| view! { <NodeRow node/> }).collect_view()}
                </tbody>
            </table>
        </Show>
    }
}

#[component]
fn NodeRow(node: NodeInfo) -> impl IntoView {
    let status = node.status.as_str();
    let cores = match node.cores_in_use {
        CoresInUse::Count(used) => format!("{used} / {}", node.total_cores),
        CoresInUse::NotAvailable(_) => format!("– / {}", node.total_cores),
    };
    let memory = format!(
        "{} of {} ({})",
        format::bytes(node.memory_used_bytes),
        format::bytes(node.memory_total_bytes),
        format::percent(node.memory_percent)
    );
    let numa = node.numa_topology.as_ref().map_or(0, |t| t.len());
    view! {
        <tr data-node=node.hostname.clone() data-status=status>
            <td class="hostname" title=node.url.clone()>{node.hostname.clone()}</td>
            <td><span class=format!("badge badge-{status}")>{status}</span></td>
            <td>{cores}</td>
            <td>{format::percent(node.cpu_percent)}</td>
            <td>{memory}</td>
            <td>{numa}</td>
            <td>{node.gpu_info.len()}</td>
            <td>{format::time(node.last_heartbeat)}</td>
        </tr>
    }
}
