use hakuriver_model::{NodeInfo, NodeStatus};
use leptos::prelude::*;

use super::WithNodes;
use crate::format;

#[component]
pub fn Overview() -> impl IntoView {
    view! {
        <h1>"Cluster Overview"</h1>
        <WithNodes content=|nodes| view! { <Totals nodes/> }.into_any()/>
    }
}

#[component]
fn Totals(nodes: Signal<Vec<NodeInfo>>) -> impl IntoView {
    let online = move || nodes.with(|n| n.iter().filter(|n| n.status == NodeStatus::Online).count());
    let total = move || nodes.with(Vec::len);
    let cores = move || {
        nodes.with(|n| {
            n.iter().filter(|n| n.status == NodeStatus::Online).map(|n| u64::from(n.total_cores)).sum::<u64>()
        })
    };
    let memory = move || {
        nodes.with(|n| {
            n.iter().filter(|n| n.status == NodeStatus::Online).filter_map(|n| n.memory_total_bytes).sum::<u64>()
        })
    };
    view! {
        <div class="cards">
            <div class="card" data-testid="card-nodes">
                <div class="card-title">"Nodes online"</div>
                <div class="card-value">{online}" / "{total}</div>
            </div>
            <div class="card">
                <div class="card-title">"Cores (online)"</div>
                <div class="card-value">{cores}</div>
            </div>
            <div class="card">
                <div class="card-title">"Memory (online)"</div>
                <div class="card-value">{move || format::bytes(Some(memory()))}</div>
            </div>
        </div>
    }
}
