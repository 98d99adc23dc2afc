//! One module per dashboard page.

mod docker;
mod gpus;
mod nodes;
mod not_found;
mod overview;
mod task_submit;
mod task_widgets;
mod tasks;
mod usage;
mod vps;

pub use docker::DockerPage;
pub use gpus::GpusPage;
pub use nodes::NodesPage;
pub use not_found::NotFound;
pub use overview::Overview;
pub use tasks::TasksPage;
pub use usage::UsagePage;
pub use vps::VpsPage;

use hakuriver_model::api::FieldError;
use hakuriver_model::NodeInfo;
use leptos::prelude::*;

use crate::live::LiveCluster;
use crate::series::History;
use crate::server_fns::{list_nodes, node_history};

/// The node list a page shows: the live one once the websocket delivered it, else the list the
/// server rendered (so hydration matches the server's HTML).
fn current_nodes(initial: Vec<NodeInfo>) -> Signal<Vec<NodeInfo>> {
    let live = expect_context::<LiveCluster>();
    Signal::derive(move || live.nodes.get().unwrap_or_else(|| initial.clone()))
}

/// Loads the node list (server function, rendered on the server) and shows `content` with the
/// current list; an error shows in its place.
#[component]
fn WithNodes(content: fn(Signal<Vec<NodeInfo>>) -> AnyView) -> impl IntoView {
    let initial = Resource::new(|| (), |_| list_nodes());
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match initial.await {
                    Ok(nodes) => content(current_nodes(nodes)),
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Loads the last hour of node readings (server function, rendered on the server) and shows
/// `content` with the live history: the browser extends it from node events.
#[component]
fn WithHistory<F>(content: F) -> impl IntoView
where
    F: Fn(Signal<History>) -> AnyView + Clone + Send + Sync + 'static,
{
    let live = expect_context::<LiveCluster>();
    let loaded = Resource::new(|| (), |_| node_history());
    view! {
        <Suspense fallback=|| view! { <p>"Loading charts…"</p> }>
            {move || {
                let content = content.clone();
                Suspend::new(async move {
                match loaded.await {
                    Ok(series) => {
                        let initial: History = series.into_iter().map(|s| (s.hostname, s.samples)).collect();
                        let seed = initial.clone();
                        Effect::new(move |_| {
                            live.history.update(|h| {
                                if h.is_none() {
                                    *h = Some(seed.clone());
                                }
                            })
                        });
                        content(Signal::derive(move || live.history.get().unwrap_or_else(|| initial.clone())))
                    }
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}}
        </Suspense>
    }
}

/// The message of `error` when it concerns `field`; `field = ""` shows errors about fields the
/// form has no place for (and failures of the host).
#[component]
pub fn FieldMessage(field: &'static str, error: RwSignal<Option<FieldError>>) -> impl IntoView {
    /// Fields the forms show next to an input.
    const PLACED: &[&str] = &[
        "command",
        "arguments",
        "env_vars",
        "required_cores",
        "required_memory_bytes",
        "container_name",
        "targets",
        "additional_mounts",
    ];
    move || {
        error
            .get()
            .filter(|e| if field.is_empty() { !PLACED.contains(&e.field.as_str()) } else { e.field == field })
            .map(|e| view! { <span class="field-error" role="alert" data-field=field>{e.message}</span> })
    }
}
