//! The node registry: registration, heartbeats, liveness, and the `GET /nodes` view.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hakuriver_model::node::{is_valid_node_name, NotAvailable};
use hakuriver_model::{ClusterEvent, CoresInUse, HeartbeatData, NodeInfo, NodeStatus, RunnerInfo};

use super::events::EventBus;
use super::node_reports::NodeReports;
use super::tasks::TaskService;
use super::{local_time, now_ms, ServiceError};
use crate::db::auth as auth_store;
use crate::db::nodes::{self as store, NodeRow, Transition};
use crate::db::Pool;

#[derive(Clone)]
pub struct NodeRegistry {
    pool: Pool,
    events: EventBus,
    history: super::history::NodeHistory,
    tasks: TaskService,
    heartbeat_interval: Duration,
    offline_after: Duration,
    /// When this host started (ms): silence before it is the host's, not the node's.
    started_ms: i64,
    /// Heartbeats held for the next tick.
    reports: Arc<NodeReports>,
    /// Each node as last published, by hostname: what the once-a-second health sampler reads,
    /// so it costs no database read however many nodes there are.
    views: Arc<Mutex<BTreeMap<String, NodeInfo>>>,
    trust: RunnerTrust,
}

/// How far the host believes what runners say about themselves.
#[derive(Debug, Clone, Default)]
pub struct RunnerTrust {
    /// Bind each node name to the identity of the runner that registered it first (auth on).
    pub bind_names: bool,
    /// Where runners may be reached besides the address they connect from.
    pub networks: Vec<hakuriver_config::IpNet>,
}

/// What a runner proved about itself: its identity key, when it sent one.
pub type RunnerIdentity<'a> = Option<&'a str>;

impl NodeRegistry {
    pub fn new(
        pool: Pool,
        events: EventBus,
        history: super::history::NodeHistory,
        tasks: TaskService,
        heartbeat_interval: Duration,
        offline_after: Duration,
        trust: RunnerTrust,
    ) -> Self {
        NodeRegistry {
            pool,
            events,
            history,
            tasks,
            heartbeat_interval,
            offline_after,
            started_ms: now_ms(),
            reports: Arc::default(),
            views: Arc::default(),
            trust,
        }
    }

    /// Registers (or re-registers) a runner under its hostname; the node is online from now.
    /// With name binding on, a name already bound to another runner's identity is refused.
    /// `peer`: the address the registration came from; the runner must be reached there (or in
    /// `runner_networks`).
    pub async fn register(
        &self,
        info: RunnerInfo,
        identity: RunnerIdentity<'_>,
        peer: std::net::IpAddr,
    ) -> Result<(), ServiceError> {
        validate_registration(&info)?;
        if let Err(reason) = super::runner_address::check(&info.runner_url, peer, &self.trust.networks).await {
            tracing::warn!(node = %info.hostname, %peer, url = %info.runner_url, "registration refused: {reason}");
            return Err(ServiceError::Forbidden(reason));
        }
        let claimed = self.check_identity(&info.hostname, identity, true).await?;
        let transition = store::upsert_registration(&self.pool, &info, now_ms()).await?;
        self.reports.registered(&info.hostname);
        if let Some(hash) = claimed {
            auth_store::bind_node(&self.pool, &info.hostname, &hash).await?;
            // Two runners registering one new name at once: only the first bind holds.
            self.check_identity(&info.hostname, identity, true).await?;
        }
        match transition {
            Transition::New => {
                tracing::info!(node = %info.hostname, url = %info.runner_url, cores = info.total_cores, "node registered")
            }
            Transition::BackOnline => tracing::info!(node = %info.hostname, "node re-registered, back online"),
            Transition::Unchanged => tracing::info!(node = %info.hostname, "node re-registered"),
        }
        if self.trust.bind_names && in_the_clear(&info.runner_url) {
            tracing::warn!(
                node = %info.hostname,
                url = %info.runner_url,
                "calls to this runner carry the runner token over plain HTTP; give it runner.tls_cert_file and runner.tls_key_file"
            );
        }
        self.tasks.kick();
        self.publish(&info.hostname).await
    }

    /// With name binding on: whether `identity` may speak for node `hostname`. Answers the
    /// identity's hash when the name is free to bind (unknown or unbound), for `register` to bind.
    pub async fn check_identity(
        &self,
        hostname: &str,
        identity: RunnerIdentity<'_>,
        registering: bool,
    ) -> Result<Option<String>, ServiceError> {
        if !self.trust.bind_names {
            return Ok(None);
        }
        let Some(identity) = identity.filter(|i| !i.is_empty()) else {
            return Err(ServiceError::Forbidden(format!(
                "runner identity missing: runners present one in {}",
                hakuriver_model::auth::RUNNER_IDENTITY_HEADER
            )));
        };
        let hash = hakuriver_config::secret::hash(identity);
        match auth_store::node_binding(&self.pool, hostname).await? {
            None | Some(None) => Ok(Some(hash)),
            Some(Some(bound)) if hakuriver_config::secret::matches(identity, &bound) => Ok(None),
            Some(Some(_)) if registering => Err(ServiceError::Conflict(format!(
                "Node name {hostname} belongs to another runner. If this machine replaced it, an admin can release the name: hakuriver node release {hostname}"
            ))),
            Some(Some(_)) => Err(ServiceError::Forbidden(format!("this runner does not own node name {hostname}"))),
        }
    }

    /// Forgets which runner a node name is bound to, so the next to register keeps it.
    pub async fn release(&self, hostname: &str) -> Result<(), ServiceError> {
        if !auth_store::release_node(&self.pool, hostname).await? {
            return Err(ServiceError::NotFound(format!("Node {hostname} not found")));
        }
        tracing::warn!(node = %hostname, "node name released by an admin");
        Ok(())
    }

    /// Records a heartbeat; `NotFound` tells the runner to register again. One from a node
    /// online with the GPUs the database lists is held in memory for the next `tick`
    /// (`node_reports`); one that changes what scheduling sees is written now.
    pub async fn heartbeat(
        &self,
        hostname: &str,
        mut hb: HeartbeatData,
        identity: RunnerIdentity<'_>,
    ) -> Result<(), ServiceError> {
        let not_registered = || ServiceError::NotRegistered;
        if !is_valid_node_name(hostname) {
            return Err(not_registered());
        }
        self.check_identity(hostname, identity, false).await?;
        let killed = std::mem::take(&mut hb.killed_tasks);
        let now = now_ms();
        if let Some(hb) = self.reports.keep_if_current(hostname, hb, now) {
            let (transition, _) =
                store::record_heartbeat(&self.pool, hostname, &hb, now).await?.ok_or_else(not_registered)?;
            self.reports.written(hostname, hb, now);
            if transition == Transition::BackOnline {
                tracing::info!(node = %hostname, "node back online");
                self.tasks.kick();
                self.publish(hostname).await?;
            }
        }
        if !killed.is_empty() {
            self.tasks.apply_runner_kills(hostname, &killed).await?;
            self.publish(hostname).await?;
        }
        Ok(())
    }

    /// Once per tick: writes the held heartbeats' readings, reconciles the tasks they report,
    /// publishes those nodes, then marks nodes silent past the timeout offline.
    pub async fn tick(&self) -> Result<(), ServiceError> {
        let reports = self.reports.take();
        if !reports.is_empty() {
            let readings: Vec<(&str, i64, &HeartbeatData)> =
                reports.iter().map(|(name, r)| (name.as_str(), r.received_ms, &r.heartbeat)).collect();
            store::record_reports(&self.pool, &readings).await?;
            // A task gets three heartbeat intervals to be confirmed before it counts as missing.
            let grace = i64::try_from((self.heartbeat_interval * 3).as_millis()).unwrap_or(i64::MAX);
            let held = self.tasks.reconcile_reports(&reports, grace).await?;
            for row in store::list(&self.pool).await? {
                if let Some(&used) = held.get(&row.hostname) {
                    self.publish_row(&row, used);
                }
            }
        }
        self.mark_silent_offline().await?;
        Ok(())
    }

    pub async fn list(&self) -> Result<Vec<NodeInfo>, ServiceError> {
        let rows = store::list(&self.pool).await?;
        let used = self.tasks.cores_in_use().await?;
        Ok(rows.iter().map(|r| node_view(r, used.get(&r.hostname).copied().unwrap_or(0))).collect())
    }

    /// Marks nodes silent for longer than the heartbeat timeout offline; returns their names.
    pub async fn mark_silent_offline(&self) -> Result<Vec<String>, ServiceError> {
        let timeout = i64::try_from(self.offline_after.as_millis()).unwrap_or(i64::MAX);
        let Some(cutoff) = silence_cutoff(now_ms(), self.started_ms, timeout) else { return Ok(Vec::new()) };
        let names = store::mark_silent_offline(&self.pool, cutoff).await?;
        self.reports.went_offline(&names);
        for name in &names {
            tracing::warn!(node = %name, timeout_s = self.offline_after.as_secs_f64(), "node offline: no heartbeat");
            self.tasks.node_lost(name).await?;
            self.publish(name).await?;
        }
        Ok(names)
    }

    async fn publish(&self, hostname: &str) -> Result<(), ServiceError> {
        if let Some(row) = store::get(&self.pool, hostname).await? {
            let used = self.tasks.cores_in_use().await?.get(hostname).copied().unwrap_or(0);
            self.publish_row(&row, used);
        }
        Ok(())
    }

    fn publish_row(&self, row: &store::NodeRow, cores_in_use: u32) {
        let view = node_view(row, cores_in_use);
        self.history.record(&view);
        self.views.lock().unwrap_or_else(PoisonError::into_inner).insert(view.hostname.clone(), view.clone());
        self.events.publish(ClusterEvent::NodeUpdated { node: Box::new(view) });
    }

    /// Every node as last published (after `load_views`, every node the database holds), by
    /// hostname.
    pub fn published(&self) -> Vec<NodeInfo> {
        self.views.lock().unwrap_or_else(PoisonError::into_inner).values().cloned().collect()
    }

    /// Reads every node once, at start, for `published`; from then on each change is published.
    pub async fn load_views(&self) -> Result<(), ServiceError> {
        let nodes = self.list().await?;
        let mut views = self.views.lock().unwrap_or_else(PoisonError::into_inner);
        for node in nodes {
            views.entry(node.hostname.clone()).or_insert(node);
        }
        Ok(())
    }
}

fn validate_registration(info: &RunnerInfo) -> Result<(), ServiceError> {
    let invalid = |m: String| Err(ServiceError::Invalid(m));
    if !is_valid_node_name(&info.hostname) {
        return invalid(format!(
            "invalid hostname {:?}: use letters, digits, '.', '-' or '_' (at most 253 characters)",
            info.hostname
        ));
    }
    if info.total_cores == 0 {
        return invalid("total_cores must be at least 1".into());
    }
    let url = &info.runner_url;
    if !(url.starts_with("http://") || url.starts_with("https://"))
        || url.len() > 2048
        || url.contains(char::is_whitespace)
    {
        return invalid(format!("invalid runner_url {url:?}: expected http://ADDRESS:PORT"));
    }
    Ok(())
}

/// Nodes whose last heartbeat is older than the answer have been silent past `timeout_ms`.
/// Silence is counted from the host's start at the earliest: while the host was down no runner
/// could reach it, so a host back after a long stop gives every node one whole timeout to speak
/// again rather than losing all their tasks at once. `None` while nobody can be silent that long.
fn silence_cutoff(now_ms: i64, started_ms: i64, timeout_ms: i64) -> Option<i64> {
    let cutoff = now_ms.saturating_sub(timeout_ms);
    (cutoff > started_ms).then_some(cutoff)
}

/// One node as `GET /nodes` shows it, with `in_use` cores reserved by its tasks.
pub fn node_view(row: &NodeRow, in_use: u32) -> NodeInfo {
    let online = row.status == NodeStatus::Online;
    NodeInfo {
        hostname: row.hostname.clone(),
        url: row.url.clone(),
        total_cores: row.total_cores,
        cores_in_use: if online { CoresInUse::Count(in_use) } else { CoresInUse::NotAvailable(NotAvailable::NA) },
        available_cores: if online { row.total_cores.saturating_sub(in_use) } else { 0 },
        status: row.status,
        last_heartbeat: local_time(row.last_heartbeat_ms),
        numa_topology: row.numa_topology.clone(),
        gpu_info: row.gpu_info.clone(),
        memory_total_bytes: row.memory_total_bytes,
        memory_used_bytes: row.memory_used_bytes,
        cpu_percent: row.cpu_percent,
        memory_percent: row.memory_percent,
        current_avg_temp: row.current_avg_temp,
        current_max_temp: row.current_max_temp,
        environments: row.environments.clone(),
        env_loading: row.env_loading.clone(),
        docker_available: row.docker_available,
    }
}

/// Whether calls to a runner at `url` cross a network unencrypted: plain HTTP to an address
/// other than this machine's loopback.
fn in_the_clear(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else { return false };
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => true,
    };
    parsed.scheme() == "http" && !loopback
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_beyond_loopback_is_in_the_clear() {
        assert!(in_the_clear("http://10.0.0.5:8001"));
        assert!(in_the_clear("http://node-1.lab:8001"));
        assert!(!in_the_clear("https://10.0.0.5:8001"));
        assert!(!in_the_clear("http://127.0.0.1:8001"));
        assert!(!in_the_clear("http://[::1]:8001"));
        assert!(!in_the_clear("http://localhost:8001"));
        assert!(!in_the_clear("not a url"));
    }

    fn info() -> RunnerInfo {
        RunnerInfo {
            hostname: "n1".into(),
            total_cores: 4,
            total_ram_bytes: 1,
            runner_url: "http://127.0.0.1:8001".into(),
            numa_topology: None,
            gpu_info: None,
            docker_available: true,
        }
    }

    #[test]
    fn registration_is_checked() {
        assert!(validate_registration(&info()).is_ok());
        for bad in [
            RunnerInfo { hostname: "../etc".into(), ..info() },
            RunnerInfo { hostname: String::new(), ..info() },
            RunnerInfo { total_cores: 0, ..info() },
            RunnerInfo { runner_url: "ftp://x".into(), ..info() },
            RunnerInfo { runner_url: "http://a b".into(), ..info() },
        ] {
            assert!(matches!(validate_registration(&bad), Err(ServiceError::Invalid(_))), "{bad:?}");
        }
    }

    #[test]
    fn offline_nodes_show_na_and_no_available_cores() {
        let row = NodeRow {
            hostname: "n1".into(),
            url: "http://x:1".into(),
            total_cores: 8,
            memory_total_bytes: None,
            status: NodeStatus::Offline,
            registered_at_ms: 0,
            last_heartbeat_ms: 0,
            cpu_percent: None,
            memory_percent: None,
            memory_used_bytes: None,
            current_avg_temp: None,
            current_max_temp: None,
            numa_topology: None,
            gpu_info: vec![],
            environments: Default::default(),
            env_loading: Default::default(),
            docker_available: true,
        };
        let view = node_view(&row, 3);
        assert_eq!(view.cores_in_use, CoresInUse::NotAvailable(NotAvailable::NA));
        assert_eq!(view.available_cores, 0);
        let online = node_view(&NodeRow { status: NodeStatus::Online, ..row }, 3);
        assert_eq!(online.cores_in_use, CoresInUse::Count(3));
        assert_eq!(online.available_cores, 5);
    }

    #[test]
    fn silence_counts_from_the_hosts_start_at_the_earliest() {
        // A host up for a minute, 30 s timeout: nodes silent since before 30 s ago.
        assert_eq!(silence_cutoff(100_000, 40_000, 30_000), Some(70_000));
        // A host started 10 s ago after a long stop: nobody has been silent 30 s under it.
        assert_eq!(silence_cutoff(100_000, 90_000, 30_000), None);
        // Exactly one timeout after the start: not yet.
        assert_eq!(silence_cutoff(100_000, 70_000, 30_000), None);
        assert_eq!(silence_cutoff(100_001, 70_000, 30_000), Some(70_001));
    }
}
