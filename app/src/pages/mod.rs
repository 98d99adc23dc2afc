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

/// The node list a page shows: the live one once the websocket delivered it, else the list the
/// server rendered (so hydration matches the server's HTML).
pub(crate) fn current_nodes(initial: Vec<NodeInfo>) -> Signal<Vec<NodeInfo>> {
    let live = expect_context::<LiveCluster>();
    Signal::derive(move || live.nodes.get().unwrap_or_else(|| initial.clone()))
}
