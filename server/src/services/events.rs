//! The host's event bus: every state change worth showing live is published here, and each
//! `/api/events` subscriber (the dashboard, scripts) gets its own receiver.

use hakuriver_model::ClusterEvent;
use tokio::sync::broadcast;

/// Events a slow subscriber may fall behind by before it is sent a fresh snapshot instead.
const CAPACITY: usize = 1024;

#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<ClusterEvent>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus { sender: broadcast::channel(CAPACITY).0 }
    }
}

impl EventBus {
    pub fn publish(&self, event: ClusterEvent) {
        // No subscriber is not an error: nobody is watching right now.
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ClusterEvent> {
        self.sender.subscribe()
    }
}
