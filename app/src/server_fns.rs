//! Server functions: the dashboard's door into the host's services.

use hakuriver_model::NodeInfo;
use leptos::prelude::*;

#[server(prefix = "/api/ui")]
pub async fn list_nodes() -> Result<Vec<NodeInfo>, ServerFnError> {
    let api =
        use_context::<crate::SharedHostApi>().ok_or_else(|| ServerFnError::new("host services are not available"))?;
    api.list_nodes().await.map_err(ServerFnError::new)
}
