//! Live cluster state in the browser: one websocket to `/api/events` per page, reconnecting with
//! backoff. The server sends a full snapshot first on every connection, then changes.

use std::collections::BTreeMap;

use hakuriver_model::history::{push_sample, sample_of, NodeSample};
use hakuriver_model::{ClusterEvent, NodeInfo, TaskId, TaskView};
use leptos::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Connecting,
    Live,
    Reconnecting,
}

impl LinkState {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Connecting => "connecting",
            LinkState::Live => "live",
            LinkState::Reconnecting => "reconnecting",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            LinkState::Connecting => "Connecting…",
            LinkState::Live => "● Live",
            LinkState::Reconnecting => "Reconnecting…",
        }
    }
}

/// Live data shared by every page through the context.
#[derive(Debug, Clone, Copy)]
pub struct LiveCluster {
    /// `None` until the first snapshot arrives; pages show their server-rendered data until then.
    pub nodes: RwSignal<Option<Vec<NodeInfo>>>,
    /// Tasks as the events last showed them (the newest `MAX_LIVE_TASKS`); pages overlay these on
    /// the list they loaded.
    pub tasks: RwSignal<BTreeMap<TaskId, TaskView>>,
    /// Counts snapshots: a page that loaded a list loads it again when this changes (after a
    /// reconnect, or when the host dropped events for a slow page).
    pub epoch: RwSignal<u64>,
    /// Node readings: the hour the host kept (loaded by the first page with a chart), extended
    /// by every node event.
    pub history: RwSignal<Option<BTreeMap<String, Vec<NodeSample>>>>,
    /// Counts task events (for pages that summarize tasks and refresh their summary now and then).
    pub task_changes: RwSignal<u64>,
    pub link: RwSignal<LinkState>,
}

/// Samples kept per node in the browser.
const MAX_SAMPLES: usize = 40_000;

/// Task updates kept in the browser.
pub const MAX_LIVE_TASKS: usize = 2000;

impl LiveCluster {
    /// Creates the live state, puts it into the context and, in the browser, connects.
    pub fn provide() -> Self {
        let live = LiveCluster {
            nodes: RwSignal::new(None),
            tasks: RwSignal::new(BTreeMap::new()),
            epoch: RwSignal::new(0),
            history: RwSignal::new(None),
            task_changes: RwSignal::new(0),
            link: RwSignal::new(LinkState::Connecting),
        };
        provide_context(live);
        #[cfg(feature = "hydrate")]
        Effect::new(move |_| {
            untrack(|| {
                socket::watch_leaving();
                socket::connect(live, 0)
            })
        });
        live
    }

    pub fn apply(&self, event: ClusterEvent) {
        match event {
            ClusterEvent::TaskUpdated { task } => {
                self.tasks.update(|tasks| apply_task(tasks, *task));
                self.task_changes.update(|n| *n += 1);
            }
            event @ ClusterEvent::Snapshot { .. } => {
                self.nodes.update(|nodes| apply_event(nodes, event));
                self.epoch.update(|e| *e += 1);
            }
            ClusterEvent::NodeUpdated { node } => {
                if let Some(sample) = sample_of(&node) {
                    self.history.update(|h| {
                        if let Some(h) = h {
                            push_sample(h.entry(node.hostname.clone()).or_default(), sample, MAX_SAMPLES);
                        }
                    });
                }
                self.nodes.update(|nodes| apply_event(nodes, ClusterEvent::NodeUpdated { node }));
            }
        }
    }
}

/// Keeps the newest version of each task, and only the newest `MAX_LIVE_TASKS` tasks.
pub fn apply_task(tasks: &mut BTreeMap<TaskId, TaskView>, task: TaskView) {
    tasks.insert(task.task_id, task);
    while tasks.len() > MAX_LIVE_TASKS {
        tasks.pop_first();
    }
}

/// Folds one event into the node list (kept sorted by hostname).
pub fn apply_event(nodes: &mut Option<Vec<NodeInfo>>, event: ClusterEvent) {
    match event {
        ClusterEvent::Snapshot { nodes: mut all } => {
            all.sort_by(|a, b| a.hostname.cmp(&b.hostname));
            *nodes = Some(all);
        }
        ClusterEvent::TaskUpdated { .. } => {}
        ClusterEvent::NodeUpdated { node } => {
            // Before the first snapshot there is nothing to update; the snapshot will include it.
            let Some(list) = nodes else { return };
            match list.binary_search_by(|n| n.hostname.cmp(&node.hostname)) {
                Ok(i) => list[i] = *node,
                Err(i) => list.insert(i, *node),
            }
        }
    }
}

#[cfg(feature = "hydrate")]
mod socket {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;

    use hakuriver_model::events::CLOSE_POLICY;
    use hakuriver_model::ClusterEvent;
    use leptos::prelude::*;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    use web_sys::{CloseEvent, MessageEvent, WebSocket};

    use super::{LinkState, LiveCluster};

    fn events_url() -> Option<String> {
        let location = window().location();
        let scheme = if location.protocol().ok()? == "https:" { "wss" } else { "ws" };
        Some(format!("{scheme}://{}{}", location.host().ok()?, crate::base::href("/api/events")))
    }

    pub fn connect(live: LiveCluster, attempt: u32) {
        let Some(ws) = events_url().and_then(|url| WebSocket::new(&url).ok()) else {
            retry(live, attempt + 1);
            return;
        };
        let opened = Rc::new(Cell::new(false));

        let on_open = {
            let opened = opened.clone();
            Closure::<dyn FnMut()>::new(move || {
                opened.set(true);
                live.link.set(LinkState::Live);
            })
        };
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            if let Some(text) = e.data().as_string() {
                match serde_json::from_str::<ClusterEvent>(&text) {
                    Ok(event) => live.apply(event),
                    Err(err) => leptos::logging::warn!("ignoring malformed event: {err}"),
                }
            }
        });
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
            // This login ended (logged out elsewhere, its token revoked or expired): log in again,
            // unless the page is already going somewhere (its own "Log out" form).
            if e.code() == CLOSE_POLICY {
                if !LEAVING.with(Cell::get) {
                    to_login();
                }
                return;
            }
            live.link.set(LinkState::Reconnecting);
            retry(live, if opened.get() { 0 } else { attempt + 1 });
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        // The socket owns its handlers for its whole life; they are small and a page makes few.
        on_open.forget();
        on_message.forget();
        on_close.forget();
    }

    thread_local! {
        /// Set once the page starts navigating away.
        static LEAVING: Cell<bool> = const { Cell::new(false) };
    }

    /// Notes when the page starts to leave, so a closing live link does not navigate as well.
    pub fn watch_leaving() {
        let leaving = Closure::<dyn FnMut()>::new(|| LEAVING.with(|l| l.set(true)));
        let _ = window().add_event_listener_with_callback("beforeunload", leaving.as_ref().unchecked_ref());
        leaving.forget();
    }

    /// The login page, coming back here after it.
    fn to_login() {
        let location = window().location();
        let here = format!("{}{}", location.pathname().unwrap_or_default(), location.search().unwrap_or_default());
        let next = String::from(js_sys::encode_uri_component(&here));
        let _ = location.set_href(&format!("{}?next={next}", crate::base::href("/login")));
    }

    /// Waits 0.5 s, 1 s, 2 s ... up to 10 s between attempts.
    fn retry(live: LiveCluster, attempt: u32) {
        let delay = Duration::from_millis(500u64.saturating_mul(1 << attempt.min(5))).min(Duration::from_secs(10));
        set_timeout(move || connect(live, attempt), delay);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hakuriver_model::{CoresInUse, NodeStatus};

    fn node(name: &str, status: NodeStatus) -> NodeInfo {
        NodeInfo {
            hostname: name.into(),
            url: String::new(),
            total_cores: 1,
            cores_in_use: CoresInUse::Count(0),
            available_cores: 1,
            status,
            last_heartbeat: None,
            numa_topology: None,
            gpu_info: vec![],
            memory_total_bytes: None,
            memory_used_bytes: None,
            cpu_percent: None,
            memory_percent: None,
            current_avg_temp: None,
            environments: Default::default(),
            env_loading: Default::default(),
            docker_available: true,
            current_max_temp: None,
        }
    }

    #[test]
    fn updates_fold_into_the_snapshot_in_name_order() {
        let mut nodes = None;
        apply_event(&mut nodes, ClusterEvent::NodeUpdated { node: Box::new(node("early", NodeStatus::Online)) });
        assert_eq!(nodes, None, "updates before the snapshot are dropped");

        apply_event(
            &mut nodes,
            ClusterEvent::Snapshot { nodes: vec![node("c", NodeStatus::Online), node("a", NodeStatus::Online)] },
        );
        apply_event(&mut nodes, ClusterEvent::NodeUpdated { node: Box::new(node("b", NodeStatus::Online)) });
        apply_event(&mut nodes, ClusterEvent::NodeUpdated { node: Box::new(node("c", NodeStatus::Offline)) });
        let list = nodes.unwrap();
        let names: Vec<&str> = list.iter().map(|n| n.hostname.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(list[2].status, NodeStatus::Offline);
    }
}
