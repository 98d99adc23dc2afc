//! Placement: a pure function of the cluster's free resources and one task's demand. The caller
//! holds the scheduling lock and writes the result in one transaction.
//!
//! Policy, documented in ARCHITECTURE.md:
//! - An explicit target is checked against that node only: unknown node, offline node, a NUMA or
//!   GPU id it does not have, a container task on a node without Docker, or a demand larger than
//!   the whole node are rejected; a demand that fits the node but not its free resources waits.
//! - Nodes without Docker take only tasks without a container.
//! - Without a target the host picks, among online nodes whose free cores, memory and GPU count
//!   fit, the one left with the fewest free cores (best fit, so large nodes stay free for large
//!   tasks); ties go to more free memory, then the name. GPU tasks get the lowest free GPU ids.

use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq)]
pub struct NodeCapacity {
    pub hostname: String,
    pub online: bool,
    pub total_cores: u32,
    pub memory_total_bytes: Option<u64>,
    pub numa_ids: Vec<u32>,
    pub gpu_ids: Vec<u32>,
    pub used_cores: u32,
    pub used_memory_bytes: u64,
    pub used_gpus: BTreeSet<u32>,
    /// Its Docker engine answered: it runs container tasks.
    pub docker_available: bool,
}

impl NodeCapacity {
    fn free_cores(&self) -> u32 {
        self.total_cores.saturating_sub(self.used_cores)
    }

    fn free_memory(&self) -> Option<u64> {
        self.memory_total_bytes.map(|t| t.saturating_sub(self.used_memory_bytes))
    }

    /// Books `demand` on this node (for placing several tasks in one pass).
    pub fn reserve(&mut self, demand: &Demand, gpus: &[u32]) {
        self.used_cores += demand.cores;
        self.used_memory_bytes += demand.memory_bytes.unwrap_or(0);
        self.used_gpus.extend(gpus.iter().copied());
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Demand {
    pub node: Option<String>,
    pub numa: Option<u32>,
    pub cores: u32,
    pub memory_bytes: Option<u64>,
    /// Exact GPU ids; GPU tasks always name their node.
    pub gpu_ids: Vec<u32>,
    /// It runs in a container (a command task with an environment, or a VPS).
    pub container: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Placement {
    /// Run on this node with these GPU ids.
    Place { node: String, gpus: Vec<u32> },
    /// Could run once resources free up.
    Wait(String),
    /// Can never run as asked.
    Reject(String),
}

pub fn place(nodes: &[NodeCapacity], demand: &Demand) -> Placement {
    match &demand.node {
        Some(name) => match nodes.iter().find(|n| &n.hostname == name) {
            None => Placement::Reject("Node not registered".into()),
            Some(node) => place_on(node, demand),
        },
        None => place_anywhere(nodes, demand),
    }
}

fn place_on(node: &NodeCapacity, d: &Demand) -> Placement {
    if !node.online {
        return Placement::Reject("Node status is offline".into());
    }
    if d.container && !node.docker_available {
        return Placement::Reject(NO_DOCKER.into());
    }
    if let Some(numa) = d.numa {
        if node.numa_ids.is_empty() {
            return Placement::Reject("Node has no NUMA topology".into());
        }
        if !node.numa_ids.contains(&numa) {
            return Placement::Reject(format!("Invalid NUMA ID for node (Valid: {:?})", node.numa_ids));
        }
    }
    let unknown: Vec<u32> = d.gpu_ids.iter().copied().filter(|g| !node.gpu_ids.contains(g)).collect();
    if !unknown.is_empty() {
        return Placement::Reject(format!("Invalid GPU IDs: {unknown:?} (node has {:?})", node.gpu_ids));
    }
    if let Some(reason) = never_fits(node, d) {
        return Placement::Reject(reason);
    }
    if d.cores > node.free_cores() {
        return Placement::Wait("Insufficient available cores".into());
    }
    if let (Some(want), Some(free)) = (d.memory_bytes, node.free_memory()) {
        if want > free {
            return Placement::Wait("Insufficient available memory".into());
        }
    }
    if d.gpu_ids.iter().any(|g| node.used_gpus.contains(g)) {
        return Placement::Wait("Requested GPUs not available".into());
    }
    Placement::Place { node: node.hostname.clone(), gpus: d.gpu_ids.clone() }
}

/// Why `d` cannot fit `node` even when the node is idle.
fn never_fits(node: &NodeCapacity, d: &Demand) -> Option<String> {
    if d.cores > node.total_cores {
        return Some(format!("Requested {} cores; node has {}", d.cores, node.total_cores));
    }
    if let (Some(want), Some(total)) = (d.memory_bytes, node.memory_total_bytes) {
        if want > total {
            return Some(format!("Requested {want} bytes of memory; node has {total}"));
        }
    }
    None
}

/// Why a container task cannot run on a node without Docker.
const NO_DOCKER: &str = "Node has no Docker engine: it runs only tasks without a container (container_name \"NULL\")";

fn place_anywhere(nodes: &[NodeCapacity], d: &Demand) -> Placement {
    let online = nodes.iter().filter(|n| n.online);
    let possible: Vec<&NodeCapacity> =
        online.clone().filter(|n| never_fits(n, d).is_none() && (n.docker_available || !d.container)).collect();
    if possible.is_empty() {
        if d.container && online.clone().next().is_some() && online.clone().all(|n| !n.docker_available) {
            return Placement::Reject(
                "No online node has a Docker engine: only tasks without a container (container_name \"NULL\") can run"
                    .into(),
            );
        }
        return Placement::Reject("No online node can satisfy the requested resources".into());
    }
    let best = possible
        .iter()
        .filter_map(|n| match place_on(n, d) {
            Placement::Place { node, gpus } => Some((n, node, gpus)),
            _ => None,
        })
        .min_by(|(a, ..), (b, ..)| {
            (a.free_cores() - d.cores)
                .cmp(&(b.free_cores() - d.cores))
                .then(b.free_memory().cmp(&a.free_memory()))
                .then(a.hostname.cmp(&b.hostname))
        });
    match best {
        Some((_, node, gpus)) => Placement::Place { node, gpus },
        None => Placement::Wait("All suitable nodes are busy".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, cores: u32, used: u32) -> NodeCapacity {
        NodeCapacity {
            hostname: name.into(),
            online: true,
            total_cores: cores,
            memory_total_bytes: Some(16_000),
            numa_ids: vec![0, 1],
            gpu_ids: vec![0, 1],
            used_cores: used,
            used_memory_bytes: 0,
            used_gpus: BTreeSet::new(),
            docker_available: true,
        }
    }

    fn on(name: &str, cores: u32) -> Demand {
        Demand { node: Some(name.into()), cores, ..Demand::default() }
    }

    #[test]
    fn explicit_targets_are_checked() {
        let nodes = [node("a", 4, 3), NodeCapacity { online: false, ..node("b", 4, 0) }];
        assert_eq!(place(&nodes, &on("zz", 1)), Placement::Reject("Node not registered".into()));
        assert_eq!(place(&nodes, &on("b", 1)), Placement::Reject("Node status is offline".into()));
        assert_eq!(place(&nodes, &on("a", 1)), Placement::Place { node: "a".into(), gpus: vec![] });
        assert_eq!(place(&nodes, &on("a", 2)), Placement::Wait("Insufficient available cores".into()));
        assert!(matches!(place(&nodes, &on("a", 5)), Placement::Reject(_)));
        let numa = Demand { numa: Some(7), ..on("a", 1) };
        assert_eq!(place(&nodes, &numa), Placement::Reject("Invalid NUMA ID for node (Valid: [0, 1])".into()));
        let gpu = Demand { gpu_ids: vec![5], ..on("a", 0) };
        assert!(matches!(place(&nodes, &gpu), Placement::Reject(r) if r.starts_with("Invalid GPU IDs: [5]")));
    }

    #[test]
    fn busy_memory_and_gpus_wait() {
        let mut a = node("a", 8, 0);
        a.used_memory_bytes = 15_000;
        a.used_gpus.insert(1);
        let mem = Demand { memory_bytes: Some(2_000), ..on("a", 1) };
        assert_eq!(place(&[a.clone()], &mem), Placement::Wait("Insufficient available memory".into()));
        let gpu = Demand { gpu_ids: vec![1], ..on("a", 1) };
        assert_eq!(place(&[a.clone()], &gpu), Placement::Wait("Requested GPUs not available".into()));
        let other = Demand { gpu_ids: vec![0], ..on("a", 1) };
        assert_eq!(place(&[a], &other), Placement::Place { node: "a".into(), gpus: vec![0] });
    }

    #[test]
    fn auto_placement_is_best_fit() {
        let nodes = [node("big", 16, 0), node("small", 4, 1), node("full", 4, 4)];
        let d = Demand { cores: 2, ..Demand::default() };
        assert_eq!(place(&nodes, &d), Placement::Place { node: "small".into(), gpus: vec![] });
        let d = Demand { cores: 8, ..Demand::default() };
        assert_eq!(place(&nodes, &d), Placement::Place { node: "big".into(), gpus: vec![] });
        let d = Demand { cores: 32, ..Demand::default() };
        assert!(matches!(place(&nodes, &d), Placement::Reject(_)));
        let busy = [node("x", 4, 4)];
        assert!(matches!(place(&busy, &Demand { cores: 1, ..Demand::default() }), Placement::Wait(_)));
    }

    #[test]
    fn nodes_without_docker_take_only_tasks_without_a_container() {
        let bare = NodeCapacity { docker_available: false, ..node("bare", 16, 0) };
        let in_container = |node: Option<&str>| Demand {
            node: node.map(str::to_string),
            cores: 1,
            container: true,
            ..Demand::default()
        };
        let Placement::Reject(why) = place(std::slice::from_ref(&bare), &in_container(Some("bare"))) else {
            panic!("placed")
        };
        assert!(why.contains("no Docker engine") && why.contains("NULL"), "{why}");
        let Placement::Reject(why) = place(std::slice::from_ref(&bare), &in_container(None)) else { panic!("placed") };
        assert!(why.contains("No online node has a Docker engine"), "{why}");
        let native = Demand { cores: 1, ..Demand::default() };
        assert_eq!(place(std::slice::from_ref(&bare), &native), Placement::Place { node: "bare".into(), gpus: vec![] });
        // The idle node without Docker is passed over for a busier one that has it.
        let nodes = [bare, node("docker", 4, 2)];
        assert_eq!(place(&nodes, &in_container(None)), Placement::Place { node: "docker".into(), gpus: vec![] });
    }

    #[test]
    fn reserving_in_a_pass_prevents_oversubscription() {
        let mut nodes = vec![node("a", 4, 0)];
        let d = on("a", 1);
        let mut placed = 0;
        for _ in 0..10 {
            if let Placement::Place { gpus, .. } = place(&nodes, &d) {
                nodes[0].reserve(&d, &gpus);
                placed += 1;
            }
        }
        assert_eq!(placed, 4);
    }
}
