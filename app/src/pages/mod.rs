//! One module per dashboard page.

mod nodes;
mod not_found;
mod overview;

pub use nodes::NodesPage;
pub use not_found::NotFound;
pub use overview::Overview;

use hakuriver_model::NodeInfo;
use leptos::prelude::*;

use crate::live::LiveCluster;
use crate::server_fns::list_nodes;

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
