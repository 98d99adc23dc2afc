//! The queue's plan, pure: which pending tasks go where now, given each node's capacity.
//!
//! Rules (unit and property tests below):
//! - Tasks are taken in order of effective priority (`priority`: the submit's priority, the
//!   owner's fair share, the time waited; submission order when equal); none is placed on a node beyond its free cores,
//!   memory or GPUs (`scheduler::place` decides one task; the plan books each placement).
//! - A task waiting for its named node books what it needs there ahead, so later tasks for that
//!   node take only what it leaves (backfill that never starves it).
//! - A waiting host-placed task blocks every later host-placed task (FIFO among them).
//! - A queued task that can never run on its online node as asked fails with the reason; one
//!   whose node is gone or offline waits for it.
//! - A task with `depends_on` is not considered until its parents allow it (it holds nothing and
//!   blocks nobody meanwhile); one whose condition can no longer be met fails, naming the parent.
//! - A task that would take its owner past their `[limits]` (or their token's own limits) waits,
//!   holding nothing and blocking nobody: other users' tasks run meanwhile.
//! - Every task left waiting gets its reason (`pending_reason`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use hakuriver_model::limits::{Held, Limits, UserLimits};
use hakuriver_model::task::{dependency_state, DependencyState, NO_CONTAINER};
use hakuriver_model::{TaskId, TaskStatus, TaskType};

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
fn node_is_up(capacity: &[NodeCapacity], node: Option<&str>) -> bool {
    match node {
        Some(name) => capacity.iter().any(|c| c.hostname == name && c.online),
        None => capacity.iter().any(|c| c.online),
    }
}

/// What a scheduling pass decided, before it is written. `N`: what the caller knows of a node
/// (its database row).
pub(super) struct Plan<N = node_store::NodeRow> {
    /// Tasks to place, with their node and GPUs.
    pub(super) assign: Vec<(TaskRow, N, Vec<u32>)>,
    /// Queued tasks that can no longer run as asked, with the reason.
    pub(super) fail: Vec<(TaskId, String)>,
    /// Tasks left waiting, with why.
    pub(super) waiting: Vec<(TaskId, String)>,
}

impl<N> Default for Plan<N> {
    fn default() -> Self {
        Plan { assign: Vec::new(), fail: Vec::new(), waiting: Vec::new() }
    }
}

impl<N> Plan<N> {
    pub(super) fn is_empty(&self) -> bool {
        self.assign.is_empty() && self.fail.is_empty()
    }
}

/// The node a waiting host-placed task is held for: the one it would get with every node idle
/// (best fit among online nodes large enough), so the choice does not move as load changes.
fn held_for(capacity: &[NodeCapacity], demand: &Demand) -> Option<String> {
    let idle: Vec<NodeCapacity> = capacity
        .iter()
        .filter(|c| c.online)
        .map(|c| NodeCapacity { used_cores: 0, used_memory_bytes: 0, used_gpus: BTreeSet::new(), ..c.clone() })
        .collect();
    match place(&idle, demand) {
        Placement::Place { node, .. } => Some(node),
        Placement::Wait(_) | Placement::Reject(_) => None,
    }
}

/// Where a dependent task stands, from its parents' statuses (`None`: no parents).
fn dependency_of(task: &TaskRow, parents: &HashMap<TaskId, TaskStatus>) -> Option<DependencyState> {
    if task.depends_on.is_empty() {
        return None;
    }
    let states: Vec<(TaskId, Option<TaskStatus>)> =
        task.depends_on.iter().map(|id| (*id, parents.get(id).copied())).collect();
    Some(dependency_state(task.dependency.unwrap_or_default(), &states))
}

/// What a pass knows besides the queue and the nodes.
#[derive(Debug, Clone, Default)]
pub(super) struct Context {
    /// The status of every task a pending one depends on.
    pub(super) parents: HashMap<TaskId, TaskStatus>,
    /// What each owner's tasks hold now.
    pub(super) held: HashMap<String, Held>,
    pub(super) limits: Limits,
    /// Owners whose token carries its own limits.
    pub(super) own_limits: HashMap<String, UserLimits>,
    /// Each owner's fair-share factor (`priority::fair_shares`), the time of the pass and the
    /// priority age: the queue's order (`priority::order`).
    pub(super) fair_share: HashMap<String, f64>,
    pub(super) now_ms: i64,
}

/// Places pending tasks in the order of their effective priority (`priority`; submission order
/// when all are equal; see the module's rules). `pending`: rows, or rows kept between passes.
pub(super) fn plan<N: Clone>(
    pending: Vec<impl Into<Arc<TaskRow>>>,
    capacity: Vec<(NodeCapacity, N)>,
    context: &Context,
) -> Plan<N> {
    let Context { parents, limits, own_limits, .. } = context;
    let mut pending: Vec<Arc<TaskRow>> = pending.into_iter().map(Into::into).collect();
    let age_unit_ms = i64::try_from(limits.priority_age.0).unwrap_or(i64::MAX / 1_000).saturating_mul(1_000);
    super::priority::order(&mut pending, &context.fair_share, context.now_ms, age_unit_ms);
    let (mut caps, rows): (Vec<NodeCapacity>, Vec<N>) = capacity.into_iter().unzip();
    let mut held = context.held.clone();
    let mut plan = Plan::default();
    // The first host-placed task left waiting: every later host-placed one waits behind it.
    let mut host_placed_blocked: Option<TaskId> = None;
    for task in pending {
        let kind = task.dependency.unwrap_or_default();
        match dependency_of(&task, parents) {
            Some(DependencyState::Waiting(parent)) => {
                plan.waiting.push((task.task_id, format!("Dependency: waits for task {parent} to end ({kind})")));
                continue;
            }
            Some(DependencyState::Never(_, why)) => {
                plan.fail.push((task.task_id, format!("Dependency can never be met: {why}; the task did not run")));
                continue;
            }
            Some(DependencyState::Ready) | None => {}
        }
        let vps = task.task_type == TaskType::Vps;
        let gpus = u32::try_from(task.required_gpus.len()).unwrap_or(u32::MAX);
        if let Some(owner) = &task.owner {
            let own = own_limits.get(owner).copied().unwrap_or_default();
            let now = held.get(owner).copied().unwrap_or_default();
            if let Some(reason) = limits.user_limit_hit(&own, now, vps, task.required_cores, gpus) {
                plan.waiting.push((task.task_id, reason));
                continue;
            }
        }
        if let (None, Some(first)) = (&task.target_node, host_placed_blocked) {
            plan.waiting.push((task.task_id, format!("Queued: behind task {first}, which waits for resources")));
            continue;
        }
        let demand = row_demand(&task);
        match place(&caps, &demand) {
            Placement::Place { node, gpus } => {
                if let Some(at) = caps.iter().position(|c| c.hostname == node) {
                    caps[at].reserve(&demand, &gpus);
                    if let Some(owner) = &task.owner {
                        let entry = held.entry(owner.clone()).or_default();
                        *entry = entry.with(vps, task.required_cores, u32::try_from(gpus.len()).unwrap_or(u32::MAX));
                    }
                    plan.assign.push((Arc::unwrap_or_clone(task), rows[at].clone(), gpus));
                }
            }
            // A queued task whose node is gone or offline waits for it, like one whose node is busy.
            Placement::Reject(reason) if node_is_up(&caps, task.target_node.as_deref()) => {
                plan.fail.push((task.task_id, reason));
            }
            Placement::Wait(why) | Placement::Reject(why) => {
                // It waits: what it needs is held on its node, so later tasks take only the rest.
                let held = task.target_node.clone().or_else(|| held_for(&caps, &demand));
                let reason = match (&task.target_node, &held) {
                    (Some(node), _) if !node_is_up(&caps, Some(node)) => {
                        format!("Node: {node} is offline or not registered")
                    }
                    (Some(node), _) => format!("Resources: {why} on {node}"),
                    (None, Some(node)) => format!("Resources: {why}; next in line for {node}"),
                    (_, None) => format!("Resources: {why}"),
                };
                plan.waiting.push((task.task_id, reason));
                if let Some(cap) = held.and_then(|node| caps.iter_mut().find(|c| c.hostname == node)) {
                    cap.reserve(&demand, &demand.gpu_ids);
                }
                if task.target_node.is_none() {
                    host_placed_blocked = host_placed_blocked.or(Some(task.task_id));
                }
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use hakuriver_model::task::Dependency;

    use super::*;
    use crate::services::tasks::tests_support::row_of;

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
        let targets: Vec<&str> = target.into_iter().collect();
        let req = serde_json::json!({"command": "true", "required_cores": cores, "targets": targets, "container_name": NO_CONTAINER});
        row_of(id, req)
    }

    fn plan_of(pending: Vec<TaskRow>, capacity: Vec<(NodeCapacity, String)>) -> Plan<String> {
        plan(pending, capacity, &Context::default())
    }

    fn owned(mut t: TaskRow, owner: &str) -> TaskRow {
        t.owner = Some(owner.into());
        t
    }

    #[test]
    fn a_user_at_their_limit_waits_while_others_run() {
        let limits = Limits { per_user_running_tasks: 2, per_user_cores: 3, ..Limits::default() };
        let context = Context {
            limits,
            held: HashMap::from([("alice".to_string(), Held { tasks: 1, cores: 1, ..Held::default() })]),
            own_limits: HashMap::from([(
                "carol".to_string(),
                UserLimits { running_tasks: Some(5), ..UserLimits::default() },
            )]),
            ..Context::default()
        };
        let pending = vec![
            owned(task(1, None, 1), "alice"),
            owned(task(2, None, 1), "alice"),
            owned(task(3, None, 1), "bob"),
            owned(task(4, None, 2), "bob"),
            owned(task(5, None, 1), "bob"),
            task(6, None, 1),
            owned(task(7, None, 1), "carol"),
            owned(task(8, None, 1), "carol"),
            owned(task(9, None, 1), "carol"),
        ];
        let plan = plan(pending, vec![node("a", 32, 0)], &context);
        assert_eq!(placed(&plan).iter().map(|(id, _)| *id).collect::<Vec<_>>(), [1, 3, 4, 6, 7, 8, 9]);
        let reasons: HashMap<u64, &str> = plan.waiting.iter().map(|(id, r)| (id.0, r.as_str())).collect();
        assert_eq!(reasons[&2], "User limit: 2 of 2 running tasks in use ([limits] per_user_running_tasks)");
        assert_eq!(reasons[&5], "User limit: 2 of 2 running tasks in use ([limits] per_user_running_tasks)");
        // Cores count too: alice's one core and a task of three would be four.
        let alone = super::plan(vec![owned(task(10, None, 3), "alice")], vec![node("a", 32, 0)], &context);
        assert_eq!(alone.waiting[0].1, "User limit: 1 of 3 cores in use ([limits] per_user_cores)");
    }

    fn after(mut t: TaskRow, kind: Dependency, parents: &[u64]) -> TaskRow {
        t.depends_on = parents.iter().copied().map(TaskId).collect();
        t.dependency = Some(kind);
        t
    }

    #[test]
    fn dependent_tasks_wait_without_blocking_and_fail_when_never_met() {
        use hakuriver_model::TaskStatus::*;
        let parents = HashMap::from([(TaskId(90), Running), (TaskId(91), Completed), (TaskId(92), Failed)]);
        let pending = vec![
            after(task(1, None, 1), Dependency::AfterOk, &[91, 90]),
            after(task(2, None, 1), Dependency::AfterOk, &[91]),
            after(task(3, None, 1), Dependency::AfterOk, &[92]),
            after(task(4, None, 1), Dependency::AfterNotOk, &[92, 91]),
            after(task(5, None, 1), Dependency::AfterAny, &[92, 91]),
            task(6, None, 1),
        ];
        let plan = plan(pending, vec![node("a", 8, 0)], &Context { parents, ..Context::default() });
        assert_eq!(placed(&plan), [(2, "a"), (5, "a"), (6, "a")]);
        let failed: Vec<(u64, &str)> = plan.fail.iter().map(|(id, m)| (id.0, m.as_str())).collect();
        assert_eq!(failed.len(), 2);
        assert!(failed[0].0 == 3 && failed[0].1.contains("task 92 ended failed"), "{failed:?}");
        assert!(failed[1].0 == 4 && failed[1].1.contains("task 91 completed"), "{failed:?}");
        assert_eq!(plan.waiting, [(TaskId(1), "Dependency: waits for task 90 to end (afterok)".to_string())]);
    }

    #[test]
    fn every_waiting_task_says_why() {
        let nodes = vec![node("big", 8, 6)];
        let pending = vec![task(1, None, 4), task(2, None, 1), task(3, Some("big"), 4), task(4, Some("gone"), 1)];
        let plan = plan_of(pending, nodes);
        let reasons: HashMap<u64, &str> = plan.waiting.iter().map(|(id, r)| (id.0, r.as_str())).collect();
        assert_eq!(reasons[&1], "Resources: All suitable nodes are busy; next in line for big");
        assert_eq!(reasons[&2], "Queued: behind task 1, which waits for resources");
        assert_eq!(reasons[&3], "Resources: Insufficient available cores on big");
        assert_eq!(reasons[&4], "Node: gone is offline or not registered");
    }

    fn placed(plan: &Plan<String>) -> Vec<(u64, &str)> {
        plan.assign.iter().map(|(t, n, _)| (t.task_id.0, n.as_str())).collect()
    }

    #[test]
    fn tasks_are_placed_in_order_until_the_room_runs_out() {
        let plan = plan_of(vec![task(1, None, 2), task(2, None, 2), task(3, None, 1)], vec![node("a", 4, 0)]);
        assert_eq!(placed(&plan), [(1, "a"), (2, "a")]);
        assert!(plan.fail.is_empty());
    }

    #[test]
    fn a_waiting_host_placed_task_holds_its_node_and_blocks_later_host_placed_ones() {
        // 8 cores on `big` are busy with 6: task 1 (4 cores) waits there (the only node it fits);
        // task 2 (host-placed, 1 core) must not jump it; task 3 names `big` and gets only what
        // task 1 leaves (nothing now); task 4 names `small` and runs (backfill elsewhere).
        let nodes = vec![node("big", 8, 6), node("small", 2, 0)];
        let plan = plan_of(
            vec![task(1, None, 4), task(2, None, 1), task(3, Some("big"), 1), task(4, Some("small"), 2)],
            nodes,
        );
        assert_eq!(placed(&plan), [(4, "small")]);
    }

    #[test]
    fn a_waiting_targeted_task_is_backfilled_only_with_what_it_leaves() {
        // Task 1 wants all of `a` (4 busy of 8); task 2 (same node) would fit now but would delay
        // task 1, so it waits; task 3 may use `b`.
        let nodes = vec![node("a", 8, 4), node("b", 4, 0)];
        let plan = plan_of(vec![task(1, Some("a"), 8), task(2, Some("a"), 2), task(3, None, 2)], nodes);
        assert_eq!(placed(&plan), [(3, "b")]);
    }

    #[test]
    fn impossible_tasks_fail_and_tasks_for_an_offline_node_wait() {
        let (mut off, name) = node("off", 8, 0);
        off.online = false;
        let plan = plan_of(
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
        /// Each pending task is placed, failed or waiting with a reason: exactly one of them.
        #[test]
        fn every_task_is_placed_failed_or_waiting_with_a_reason((nodes, tasks) in cluster()) {
            let (caps, rows) = build(&nodes, &tasks);
            let ids: Vec<TaskId> = rows.iter().map(|t| t.task_id).collect();
            let plan = plan_of(rows, caps);
            for id in ids {
                let n = plan.assign.iter().filter(|(t, _, _)| t.task_id == id).count()
                    + plan.fail.iter().filter(|(f, _)| *f == id).count()
                    + plan.waiting.iter().filter(|(w, r)| *w == id && !r.is_empty()).count();
                prop_assert_eq!(n, 1, "task {}", id);
            }
        }

        /// A dependent task starts only when its parents allow it, and fails only when they never
        /// will.
        #[test]
        fn dependencies_are_never_jumped(
            statuses in prop::collection::vec(prop::sample::select(hakuriver_model::TaskStatus::ALL.to_vec()), 1..4),
            kind in prop::sample::select(Dependency::ALL.to_vec()),
        ) {
            let parents: HashMap<TaskId, TaskStatus> =
                statuses.iter().enumerate().map(|(i, s)| (TaskId(100 + i as u64), *s)).collect();
            let ids: Vec<u64> = parents.keys().map(|id| id.0).collect();
            let context = Context { parents, ..Context::default() };
            let plan = plan(vec![after(task(1, None, 1), kind, &ids)], vec![node("a", 8, 0)], &context);
            let all_ended = statuses.iter().all(|s| s.is_final());
            let ok = |s: &TaskStatus| *s == TaskStatus::Completed;
            let allowed = match kind {
                Dependency::AfterOk => statuses.iter().all(ok),
                Dependency::AfterAny => all_ended,
                Dependency::AfterNotOk => all_ended && !statuses.iter().any(ok),
            };
            let never = match kind {
                Dependency::AfterOk => statuses.iter().any(|s| s.is_final() && !ok(s)),
                Dependency::AfterAny => false,
                Dependency::AfterNotOk => statuses.iter().any(ok),
            };
            prop_assert_eq!(!plan.assign.is_empty(), allowed && !never);
            prop_assert_eq!(!plan.fail.is_empty(), never);
        }

        /// Whatever the queue, no user ends a pass holding more than their limits allow.
        #[test]
        fn user_limits_are_never_exceeded(
            (nodes, tasks) in cluster(),
            owners in prop::collection::vec(0usize..3, 24),
            (max_tasks, max_cores) in (0u32..4, 0u32..12),
        ) {
            let (caps, rows) = build(&nodes, &tasks);
            let names = ["ann", "ben", "cy"];
            let rows: Vec<TaskRow> = rows.into_iter().zip(&owners).map(|(t, &o)| owned(t, names[o])).collect();
            let limits = Limits { per_user_running_tasks: max_tasks, per_user_cores: max_cores, ..Limits::default() };
            let plan = plan(rows, caps, &Context { limits, ..Context::default() });
            for name in names {
                let mine: Vec<&TaskRow> = plan.assign.iter().map(|(t, _, _)| t).filter(|t| t.owner.as_deref() == Some(name)).collect();
                let cores: u32 = mine.iter().map(|t| t.required_cores).sum();
                prop_assert!(max_tasks == 0 || mine.len() as u32 <= max_tasks, "{name}: {} tasks", mine.len());
                prop_assert!(max_cores == 0 || cores <= max_cores, "{name}: {cores} cores");
            }
        }

        #[test]
        fn no_node_is_ever_given_more_than_it_has((nodes, tasks) in cluster()) {
            let (caps, rows) = build(&nodes, &tasks);
            let plan = plan_of(rows, caps.clone());
            for (cap, name) in &caps {
                let given: u32 = plan.assign.iter().filter(|(_, n, _)| n == name).map(|(t, _, _)| t.required_cores).sum();
                prop_assert!(cap.used_cores + given <= cap.total_cores, "{name}: {} busy + {given} > {}", cap.used_cores, cap.total_cores);
            }
        }

        #[test]
        fn host_placed_tasks_keep_their_order((nodes, tasks) in cluster()) {
            let (caps, rows) = build(&nodes, &tasks);
            let host_placed: Vec<TaskId> = rows.iter().filter(|t| t.target_node.is_none()).map(|t| t.task_id).collect();
            let plan = plan_of(rows, caps);
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
            let plan = plan_of(rows.clone(), caps.clone());
            let done = |id: TaskId| plan.assign.iter().any(|(t, _, _)| t.task_id == id) || plan.fail.iter().any(|(f, _)| *f == id);
            for (pos, waiting) in rows.iter().enumerate().filter(|(_, t)| !done(t.task_id)) {
                let held = match &waiting.target_node {
                    Some(node) => Some(node.clone()),
                    None => held_for(&caps.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>(), &row_demand(waiting)),
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
