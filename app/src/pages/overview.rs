//! The cluster at a glance: nodes, cores, memory and tasks, and the last hour of load.

use std::collections::BTreeMap;

use hakuriver_model::{CoresInUse, NodeInfo, NodeStatus};
use leptos::prelude::*;

use super::{WithHistory, WithNodes};
use crate::chart::LineChart;
use crate::format;
use crate::live::LiveCluster;
use crate::series::{cluster_load, per_node};
use crate::server_fns::task_counts;

#[component]
pub fn Overview() -> impl IntoView {
    view! {
        <h1>"Cluster Overview"</h1>
        <WithNodes content=|nodes| view! { <Totals nodes/> }.into_any()/>
        <TaskCounts/>
        <div class="charts">
            <WithHistory content=|history| view! {
                <LineChart title="Cluster load (average of online nodes)" unit="%" y_max=Some(100.0)
                    series=Signal::derive(move || cluster_load(&history.get())) testid="chart-cluster-load"/>
                <LineChart title="CPU temperature (average per node)" unit="°C" y_max=None
                    series=Signal::derive(move || per_node(&history.get(), |s| s.avg_temp)) testid="chart-temperature"/>
            }.into_any()/>
        </div>
    }
}

#[component]
fn Totals(nodes: Signal<Vec<NodeInfo>>) -> impl IntoView {
    let online =
        move || nodes.with(|n| n.iter().filter(|n| n.status == NodeStatus::Online).cloned().collect::<Vec<_>>());
    let total = move || nodes.with(Vec::len);
    let cores = move || {
        let online = online();
        let total: u64 = online.iter().map(|n| u64::from(n.total_cores)).sum();
        let used: u64 = online
            .iter()
            .map(|n| match n.cores_in_use {
                CoresInUse::Count(c) => u64::from(c),
                CoresInUse::NotAvailable(_) => 0,
            })
            .sum();
        format!("{used} / {total}")
    };
    let memory = move || {
        let online = online();
        let total: u64 = online.iter().filter_map(|n| n.memory_total_bytes).sum();
        let used: u64 = online.iter().filter_map(|n| n.memory_used_bytes).sum();
        format!("{} / {}", format::bytes(Some(used)), format::bytes(Some(total)))
    };
    let gpus = move || online().iter().map(|n| n.gpu_info.len()).sum::<usize>();
    view! {
        <div class="cards">
            <div class="card" data-testid="card-nodes">
                <div class="card-title">"Nodes online"</div>
                <div class="card-value">{move || online().len()}" / "{total}</div>
            </div>
            <div class="card" data-testid="card-cores">
                <div class="card-title">"Cores reserved / online"</div>
                <div class="card-value">{cores}</div>
            </div>
            <div class="card" data-testid="card-memory">
                <div class="card-title">"Memory used / online"</div>
                <div class="card-value">{memory}</div>
            </div>
            <div class="card">
                <div class="card-title">"GPUs online"</div>
                <div class="card-value">{gpus}</div>
            </div>
        </div>
    }
}

/// Command tasks by state; refreshed at most every two seconds while tasks change.
#[component]
fn TaskCounts() -> impl IntoView {
    let live = expect_context::<LiveCluster>();
    let refresh = RwSignal::new(0u64);
    #[cfg(feature = "hydrate")]
    {
        let seen = StoredValue::new(0u64);
        if let Ok(handle) = set_interval_with_handle(
            move || {
                let now = live.task_changes.get_untracked();
                if now != seen.get_value() {
                    seen.set_value(now);
                    refresh.update(|r| *r += 1);
                }
            },
            std::time::Duration::from_secs(2),
        ) {
            on_cleanup(move || handle.clear());
        }
    }
    let counts = Resource::new(move || (refresh.get(), live.epoch.get()), |_| task_counts());
    let sum =
        |c: &BTreeMap<String, u64>, keys: &[&str]| keys.iter().map(|k| c.get(*k).copied().unwrap_or(0)).sum::<u64>();
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let c = counts.await.unwrap_or_default();
                view! {
                    <div class="cards" data-testid="task-counts">
                        <a class="card" href=crate::base::href("/tasks?status=running")>
                            <div class="card-title">"Tasks running"</div>
                            <div class="card-value" data-testid="count-running">{sum(&c, &["running", "paused"])}</div>
                        </a>
                        <a class="card" href=crate::base::href("/tasks?status=pending")>
                            <div class="card-title">"Queued"</div>
                            <div class="card-value">{sum(&c, &["pending", "assigning"])}</div>
                        </a>
                        <a class="card" href=crate::base::href("/tasks?status=completed")>
                            <div class="card-title">"Completed"</div>
                            <div class="card-value" data-testid="count-completed">{sum(&c, &["completed"])}</div>
                        </a>
                        <a class="card" href=crate::base::href("/tasks?status=failed")>
                            <div class="card-title">"Failed, killed, lost or timed out"</div>
                            <div class="card-value">{sum(&c, &["failed", "killed", "killed_oom", "lost", "stopped", "timeout"])}</div>
                        </a>
                    </div>
                }
            })}
        </Transition>
    }
}
