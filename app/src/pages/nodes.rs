//! Compute nodes: the live table, and a node's details (`/nodes?node=NAME`): NUMA layout, GPUs
//! and the last hour of its load and temperature.

use hakuriver_model::{CoresInUse, NodeInfo};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::{WithHistory, WithNodes};
use crate::chart::LineChart;
use crate::format;
use crate::series::{node_load, node_temperature};

#[component]
pub fn NodesPage() -> impl IntoView {
    view! {
        <h1>"Compute Nodes"</h1>
        <WithNodes content=|nodes| view! { <NodeTable nodes/><NodeDetail nodes/> }.into_any()/>
    }
}

fn cores_text(node: &NodeInfo) -> String {
    match node.cores_in_use {
        CoresInUse::Count(used) => format!("{used} / {}", node.total_cores),
        CoresInUse::NotAvailable(_) => format!("– / {}", node.total_cores),
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
            <div class="table-wrap">
                <table class="nodes" data-testid="nodes-table">
                    <thead>
                        <tr>
                            <th>"Hostname"</th>
                            <th>"Status"</th>
                            <th>"Cores reserved / total"</th>
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
            </div>
        </Show>
    }
}

#[component]
fn NodeRow(node: NodeInfo) -> impl IntoView {
    let status = node.status.as_str();
    let memory = format!(
        "{} of {} ({})",
        format::bytes(node.memory_used_bytes),
        format::bytes(node.memory_total_bytes),
        format::percent(node.memory_percent)
    );
    let numa = node.numa_topology.as_ref().map_or(0, |t| t.len());
    view! {
        <tr data-node=node.hostname.clone() data-status=status>
            <td class="hostname" title=node.url.clone()>
                <a href=crate::base::href(&format!("/nodes?node={}", node.hostname))>{node.hostname.clone()}</a>
            </td>
            <td><span class=format!("badge badge-{status}")>{status}</span></td>
            <td>{cores_text(&node)}</td>
            <td>{format::percent(node.cpu_percent)}</td>
            <td>{memory}</td>
            <td>{numa}</td>
            <td>{node.gpu_info.len()}</td>
            <td>{format::time(node.last_heartbeat)}</td>
        </tr>
    }
}

/// The node named in `?node=`.
#[component]
fn NodeDetail(nodes: Signal<Vec<NodeInfo>>) -> impl IntoView {
    let params = use_query_map();
    let name = Memo::new(move |_| params.get().get("node"));
    let node =
        Memo::new(move |_| name.get().and_then(|n| nodes.with(|all| all.iter().find(|x| x.hostname == n).cloned())));
    move || {
        node.get().map(|n| {
            let hostname = n.hostname.clone();
            view! {
                <aside class="detail" aria-label="Node details" data-testid="node-detail">
                    <header>
                        <h2>{n.hostname.clone()}" "<span class=format!("badge badge-{}", n.status.as_str())>{n.status.as_str()}</span></h2>
                        <a href=crate::base::href("/nodes") aria-label="Close details">"✕"</a>
                    </header>
                    <dl class="fields">
                        <dt>"Runner"</dt><dd class="mono">{n.url.clone()}</dd>
                        <dt>"Cores reserved / total"</dt><dd>{cores_text(&n)}</dd>
                        <dt>"CPU"</dt><dd>{format::percent(n.cpu_percent)}</dd>
                        <dt>"Memory"</dt><dd>{format!("{} of {}", format::bytes(n.memory_used_bytes), format::bytes(n.memory_total_bytes))}</dd>
                        <dt>"Temperature"</dt><dd>{n.current_avg_temp.map_or("–".into(), |t| format!("{t:.0} °C average, {:.0} °C hottest", n.current_max_temp.unwrap_or(t)))}</dd>
                        <dt>"Last heartbeat"</dt><dd>{format::time(n.last_heartbeat)}</dd>
                        <dt>"Environments"</dt><dd>{n.environments.keys().cloned().collect::<Vec<_>>().join(", ")}</dd>
                    </dl>
                    {n.numa_topology.clone().map(|t| view! {
                        <h3>"NUMA nodes"</h3>
                        <div class="table-wrap"><table class="numa">
                            <thead><tr><th>"NUMA node"</th><th>"Cores"</th><th>"Memory"</th></tr></thead>
                            <tbody>
                                {t.into_iter().map(|(id, numa)| view! {
                                    <tr><td>{id}</td><td class="mono">{compact_ranges(&numa.cores)}</td><td>{format::bytes(numa.memory_bytes)}</td></tr>
                                }).collect_view()}
                            </tbody>
                        </table></div>
                    })}
                    {(!n.gpu_info.is_empty()).then(|| view! {
                        <h3>"GPUs"</h3>
                        <ul>{n.gpu_info.iter().map(|g| view! { <li>{format!("{}: {}", g.gpu_id, g.name)}</li> }).collect_view()}</ul>
                        <p><a href=crate::base::href("/gpus")>"GPU details"</a></p>
                    })}
                    <NodeCharts hostname/>
                </aside>
            }
        })
    }
}

#[component]
fn NodeCharts(hostname: String) -> impl IntoView {
    let name = StoredValue::new(hostname);
    view! {
        <div class="charts">
            <WithHistory content=move |history| {
                let samples = move || history.with(|h| h.get(&name.get_value()).cloned().unwrap_or_default());
                view! {
                    <LineChart title="CPU and memory use" unit="%" y_max=Some(100.0)
                        series=Signal::derive(move || node_load(&samples())) testid="chart-node-load"/>
                    <LineChart title="CPU temperature" unit="°C" y_max=None
                        series=Signal::derive(move || node_temperature(&samples()))/>
                }.into_any()
            }/>
        </div>
    }
}

/// `0,1,2,3,8,9` → `0-3,8-9`.
pub fn compact_ranges(ids: &[u32]) -> String {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        parts.push(if start == end { start.to_string() } else { format!("{start}-{end}") });
        i += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    #[test]
    fn core_lists_are_compact() {
        assert_eq!(super::compact_ranges(&[9, 0, 1, 2, 3, 8, 5]), "0-3,5,8-9");
        assert_eq!(super::compact_ranges(&[]), "");
    }
}
