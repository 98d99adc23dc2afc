//! The seam between the dashboard and the host: the host implements this trait over its
//! services and puts it into the Leptos context; server functions call it.

use std::sync::Arc;

use hakuriver_model::NodeInfo;

#[async_trait::async_trait]
pub trait HostApi: Send + Sync + 'static {
    async fn list_nodes(&self) -> Result<Vec<NodeInfo>, String>;
}

pub type SharedHostApi = Arc<dyn HostApi>;
