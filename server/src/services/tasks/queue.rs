//! The queue's plan, pure: which pending tasks go where now, given each node's capacity.
//!
//! Rules (unit and property tests below):
//! - Tasks are taken in submission order; none is placed on a node beyond its free cores,
//!   memory or GPUs (`scheduler::place` decides one task; the plan books each placement).
//! - A task waiting for its named node books what it needs there ahead, so later tasks for that
//!   node take only what it leaves (backfill that never starves it).
//! - A waiting host-placed task blocks every later host-placed task (FIFO among them).
//! - A queued task that can never run on its online node as asked fails with the reason; one
//!   whose node is gone or offline waits for it.

use std::collections::BTreeSet;

use hakuriver_model::task::NO_CONTAINER;
use hakuriver_model::{TaskId, TaskType};

use crate::db::nodes as node_store;
use crate::db::tasks::TaskRow;
use crate::scheduler::{place, Demand, NodeCapacity, Placement};
use crate::services::submit_request::CheckedSubmit;

pub(super) fn demand_of(c: &CheckedSubmit, target: Option<&hakuriver_model::Target>) -> Demand {
    Demand {
        node: target.map(|t| t.node.clone()),
        numa: target.and_then(|t| t.numa),
        cores: c.cores,
        memory_bytes: c.memory_bytes,
        gpu_ids: target.map(|t| t.gpus.clone()).unwrap_or_default(),
        container: in_container(c.task_type, &c.container_name),
    }
}

fn row_demand(t: &TaskRow) -> Demand {
    Demand {
        node: t.target_node.clone(),
        numa: t.target_numa_node_id,
        cores: t.required_cores,
        memory_bytes: t.required_memory_bytes,
        gpu_ids: t.required_gpus.clone(),
        container: in_container(t.task_type, &t.container_name),
    }
}

/// Whether a task runs in a container: every VPS, and command tasks with an environment.
pub(super) fn in_container(task_type: TaskType, container_name: &str) -> bool {
    task_type == TaskType::Vps || container_name != NO_CONTAINER
}

/// A node's capacity with nothing reserved on it.
pub(super) fn capacity_of(n: &node_store::NodeRow) -> NodeCapacity {
    NodeCapacity {
        hostname: n.hostname.clone(),
        online: true,
        total_cores: n.total_cores,
        memory_total_bytes: n.memory_total_bytes,
        numa_ids: n.numa_topology.as_ref().map(|t| t.keys().copied().collect()).unwrap_or_default(),
        gpu_ids: n.gpu_info.iter().map(|g| g.gpu_id).collect(),
        used_cores: 0,
        used_memory_bytes: 0,
        used_gpus: BTreeSet::new(),
        docker_available: n.docker_available,
    }
}

/// The nodes with nothing reserved, all counted online: for checks that do not depend on load.
pub(super) fn idle(nodes: Vec<node_store::NodeRow>) -> Vec<NodeCapacity> {
    nodes.iter().map(capacity_of).collect()
}

/// Whether the task's named node is registered and online (host-placed tasks: any node is).
fn node_is_up<N>(capacity: &[(NodeCapacity, N)], node: Option<&str>) -> bool {
    match node {
        Some(name) => capacity.iter().any(|(c, _)| c.hostname == name && c.online),
        None => capacity.iter().any(|(c, _)| c.online),
    }
}

/// What a scheduling pass decided, before it is written. `N`: what the caller knows of a node
/// (its database row).
pub(super) struct Plan<N = node_store::NodeRow> {
    /// Tasks to place, with their node and GPUs.
    pub(super) assign: Vec<(TaskRow, N, Vec<u32>)>,
    /// Queued tasks that can no longer run as asked, with the reason.
    pub(super) fail: Vec<(TaskId, String)>,
}

impl<N> Default for Plan<N> {
    fn default() -> Self {
        Plan { assign: Vec::new(), fail: Vec::new() }
    }
}

impl<N> Plan<N> {
    pub(super) fn is_empty(&self) -> bool {
        self.assign.is_empty() && self.fail.is_empty()
    }
}

/// The node a waiting host-placed task is held for: the one it would get with every node idle
/// (best fit among online nodes large enough), so the choice does not move as load changes.
fn held_for(capacity: &[(NodeCapacity, impl Sized)], demand: &Demand) -> Option<String> {
    let idle: Vec<NodeCapacity> = capacity
        .iter()
        .filter(|(c, _)| c.online)
        .map(|(c, _)| NodeCapacity { used_cores: 0, used_memory_bytes: 0, used_gpus: BTreeSet::new(), ..c.clone() })
        .collect();
    match place(&idle, demand) {
        Placement::Place { node, .. } => Some(node),
        Placement::Wait(_) | Placement::Reject(_) => None,
    }
}

/// Places pending tasks in submission order (see the module's rules).
pub(super) fn plan<N: Clone>(pending: Vec<TaskRow>, mut capacity: Vec<(NodeCapacity, N)>) -> Plan<N> {
    let mut plan = Plan::default();
    let mut host_placed_blocked = false;
    for task in pending {
        if task.target_node.is_none() && host_placed_blocked {
            continue;
        }
        let demand = row_demand(&task);
        let caps: Vec<NodeCapacity> = capacity.iter().map(|(c, _)| c.clone()).collect();
        match place(&caps, &demand) {
            Placement::Place { node, gpus } => {
                if let Some((cap, row)) = capacity.iter_mut().find(|(c, _)| c.hostname == node) {
                    cap.reserve(&demand, &gpus);
                    plan.assign.push((task, row.clone(), gpus));
                }
            }
            // A queued task whose node is gone or offline waits for it, like one whose node is busy.
            Placement::Reject(reason) if node_is_up(&capacity, task.target_node.as_deref()) => {
                plan.fail.push((task.task_id, reason));
            }
            Placement::Wait(_) | Placement::Reject(_) => {
                // It waits: what it needs is held on its node, so later tasks take only the rest.
                let held = task.target_node.clone().or_else(|| held_for(&capacity, &demand));
                if let Some((cap, _)) = held.and_then(|node| capacity.iter_mut().find(|(c, _)| c.hostname == node)) {
                    cap.reserve(&demand, &demand.gpu_ids);
                }
                host_placed_blocked |= task.target_node.is_none();
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::services::submit_request::{check, SubmitDefaults};
    use crate::services::tasks::new_row;

    const GB: u64 = 1_000_000_000;

    fn node(name: &str, cores: u32, used: u32) -> (NodeCapacity, String) {
        let cap = NodeCapacity {
            hostname: name.into(),
            online: true,
            total_cores: cores,
            memory_total_bytes: Some(64 * GB),
            numa_ids: Vec::new(),
            gpu_ids: vec![0, 1, 2, 3],
            used_cores: used,
            used_memory_bytes: 0,
            used_gpus: BTreeSet::new(),
            docker_available: true,
        };
        (cap, name.to_string())
    }

    /// A pending command task without a container, as a submit would store it.
    fn task(id: u64, target: Option<&str>, cores: u32) -> TaskRow {
        let defaults = SubmitDefaults {
            container_name: NO_CONTAINER.into(),
            privileged: false,
            additional_mounts: vec![],
            policy: Default::default(),
        };
        let targets: Vec<&str> = target.into_iter().collect();
        let req = serde_json::json!({"command": "true", "required_cores": cores, "targets": targets});
        let checked = check(&serde_json::from_value(req).expect("a request"), &defaults).expect("a valid request");
        let target = checked.targets.first().map(|(_, t)| t);
        new_row(&checked, &[], TaskId(id), TaskId(id), target, 0)
    }

    fn placed(plan: &Plan<String>) -> Vec<(u64, &str)> {
        plan.assign.iter().map(|(t, n, _)| (t.task_id.0, n.as_str())).collect()
    }

    #[test]
    fn tasks_are_placed_in_order_until_the_room_runs_out() {
        let plan = plan(vec![task(1, None, 2), task(2, None, 2), task(3, None, 1)], vec![node("a", 4, 0)]);
        assert_eq!(placed(&plan), [(1, "a"), (2, "a")]);
        assert!(plan.fail.is_empty());
    }

    #[test]
    fn a_waiting_host_placed_task_holds_its_node_and_blocks_later_host_placed_ones() {
        // 8 cores on `big` are busy with 6: task 1 (4 cores) waits there (the only node it fits);
        // task 2 (host-placed, 1 core) must not jump it; task 3 names `big` and gets only what
        // task 1 leaves (nothing now); task 4 names `small` and runs (backfill elsewhere).
        let nodes = vec![node("big", 8, 6), node("small", 2, 0)];
        let plan =
            plan(vec![task(1, None, 4), task(2, None, 1), task(3, Some("big"), 1), task(4, Some("small"), 2)], nodes);
        assert_eq!(placed(&plan), [(4, "small")]);
    }

    #[test]
    fn a_waiting_targeted_task_is_backfilled_only_with_what_it_leaves() {
        // Task 1 wants all of `a` (4 busy of 8); task 2 (same node) would fit now but would delay
        // task 1, so it waits; task 3 may use `b`.
        let nodes = vec![node("a", 8, 4), node("b", 4, 0)];
        let plan = plan(vec![task(1, Some("a"), 8), task(2, Some("a"), 2), task(3, None, 2)], nodes);
        assert_eq!(placed(&plan), [(3, "b")]);
    }

    #[test]
    fn impossible_tasks_fail_and_tasks_for_an_offline_node_wait() {
        let (mut off, name) = node("off", 8, 0);
        off.online = false;
        let plan = plan(
            vec![task(1, Some("a"), 64), task(2, Some("off"), 1), task(3, None, 1)],
            vec![node("a", 8, 0), (off, name)],
        );
        assert_eq!(plan.fail.iter().map(|(id, _)| id.0).collect::<Vec<_>>(), [1]);
        assert!(plan.fail[0].1.contains("cores"), "{}", plan.fail[0].1);
        assert_eq!(placed(&plan), [(3, "a")]);
    }

    /// Random clusters and queues: (nodes as (total cores, busy cores)), tasks as (target index
    /// or none, cores).
    type Nodes = Vec<(u32, u32)>;
    type Tasks = Vec<(Option<usize>, u32)>;

    fn cluster() -> impl Strategy<Value = (Nodes, Tasks)> {
        let nodes = prop::collection::vec((1u32..16).prop_flat_map(|total| (Just(total), 0..=total)), 1..5);
        let tasks = prop::collection::vec((prop::option::of(0usize..5), 1u32..10), 0..24);
        (nodes, tasks)
    }

    fn build(nodes: &[(u32, u32)], tasks: &[(Option<usize>, u32)]) -> (Vec<(NodeCapacity, String)>, Vec<TaskRow>) {
        let caps = nodes.iter().enumerate().map(|(i, &(total, used))| node(&format!("n{i}"), total, used)).collect();
        let rows = tasks
            .iter()
            .enumerate()
            .map(|(i, &(target, cores))| {
                let name = target.filter(|&t| t < nodes.len()).map(|t| format!("n{t}"));
                task(i as u64 + 1, name.as_deref(), cores)
            })
            .collect();
        (caps, rows)
    }

    proptest! {
        #[test]
        fn no_node_is_ever_given_more_than_it_has((nodes, tasks) in cluster()) {
            let (caps, rows) = build(&nodes, &tasks);
            let plan = plan(rows, caps.clone());
            for (cap, name) in &caps {
                let given: u32 = plan.assign.iter().filter(|(_, n, _)| n == name).map(|(t, _, _)| t.required_cores).sum();
                prop_assert!(cap.used_cores + given <= cap.total_cores, "{name}: {} busy + {given} > {}", cap.used_cores, cap.total_cores);
            }
        }

        #[test]
        fn host_placed_tasks_keep_their_order((nodes, tasks) in cluster()) {
            let (caps, rows) = build(&nodes, &tasks);
            let host_placed: Vec<TaskId> = rows.iter().filter(|t| t.target_node.is_none()).map(|t| t.task_id).collect();
            let plan = plan(rows, caps);
            let done = |id: &TaskId| plan.assign.iter().any(|(t, _, _)| t.task_id == *id) || plan.fail.iter().any(|(f, _)| f == id);
            if let Some(first_waiting) = host_placed.iter().position(|id| !done(id)) {
                for later in &host_placed[first_waiting..] {
                    prop_assert!(!plan.assign.iter().any(|(t, _, _)| t.task_id == *later), "{later} placed before an earlier host-placed task");
                }
            }
        }

        /// A task that waits keeps its share: the tasks placed after it on the node it waits for
        /// leave room for it there, so once what runs now ends it starts (never starved by a
        /// stream of smaller, later tasks).
        #[test]
        fn a_waiting_task_is_never_starved_by_later_ones((nodes, tasks) in cluster()) {
            let (caps, rows) = build(&nodes, &tasks);
            let order: Vec<TaskId> = rows.iter().map(|t| t.task_id).collect();
            let plan = plan(rows.clone(), caps.clone());
            let done = |id: TaskId| plan.assign.iter().any(|(t, _, _)| t.task_id == id) || plan.fail.iter().any(|(f, _)| *f == id);
            for (pos, waiting) in rows.iter().enumerate().filter(|(_, t)| !done(t.task_id)) {
                let held = match &waiting.target_node {
                    Some(node) => Some(node.clone()),
                    None => held_for(&caps, &row_demand(waiting)),
                };
                let Some(held) = held else { continue };
                if waiting.target_node.is_none() && rows[..pos].iter().any(|t| t.target_node.is_none() && !done(t.task_id)) {
                    continue; // held behind an earlier host-placed task, which holds the node
                }
                let total = caps.iter().find(|(c, _)| c.hostname == held).map(|(c, _)| c.total_cores).unwrap_or(0);
                let later: u32 = plan
                    .assign
                    .iter()
                    .filter(|(t, n, _)| *n == held && order.iter().position(|id| *id == t.task_id) > Some(pos))
                    .map(|(t, _, _)| t.required_cores)
                    .sum();
                prop_assert!(later + waiting.required_cores <= total, "task {} waits on {held}: later tasks took {later} of {total}", waiting.task_id);
            }
        }
    }
}
