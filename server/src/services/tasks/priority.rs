//! The queue's order, pure: each pending task's effective priority
//!
//! ```text
//! effective = priority / 100          (-1 … 1: the submit's own, -100 … 100)
//!           + fair_share              ( 0 … 1: 2^(-U/S), 1 for a user with no recent usage)
//!           + waited / priority_age   ( 0 … ∞: one point per `[limits] priority_age` waited)
//! ```
//!
//! `U` is the owner's share of the cluster's recent usage (core-seconds of tasks, each decayed by
//! `2^(-ago / fair_share_half_life)` from when it ended; running tasks count as they go), `S` the
//! owner's share of the cluster (equal among the users with usage or waiting tasks): Slurm's
//! classic fair-share factor. The first two terms together span at most 3 points, so a task that
//! has waited `3 × priority_age` longer than another is always ahead of it: nobody starves, however
//! urgent, light or many the newcomers. Ties go to the older task.

use std::borrow::Borrow;
use std::cmp::{Ordering, Reverse};
use std::collections::HashMap;

use crate::db::tasks::TaskRow;

/// A task's effective priority (see the module).
pub(super) fn effective(priority: i32, fair_share: f64, waited_ms: i64, age_unit_ms: i64) -> f64 {
    f64::from(priority) / 100.0 + fair_share + waited_ms.max(0) as f64 / age_unit_ms.max(1) as f64
}

/// `core_seconds` of a task that ended `ago_ms` ago, decayed by the half-life.
pub(super) fn decayed(core_seconds: f64, ago_ms: i64, half_life_ms: i64) -> f64 {
    core_seconds * 0.5f64.powf(ago_ms.max(0) as f64 / half_life_ms.max(1) as f64)
}

/// Each user's fair-share factor, `2^(-U/S)`, from their decayed usage; `users` are those with
/// waiting tasks (users with usage only count toward `S`).
pub(super) fn fair_shares<'a>(
    usage: &'a HashMap<String, f64>,
    users: impl Iterator<Item = &'a str>,
) -> HashMap<String, f64> {
    let total: f64 = usage.values().sum();
    let mut everyone: Vec<&str> = usage.keys().map(String::as_str).chain(users).collect();
    everyone.sort_unstable();
    everyone.dedup();
    let share = 1.0 / everyone.len().max(1) as f64;
    everyone
        .into_iter()
        .map(|user| {
            let used = if total > 0.0 { usage.get(user).copied().unwrap_or(0.0) / total } else { 0.0 };
            (user.to_string(), 0.5f64.powf(used / share))
        })
        .collect()
}

/// Sorts `pending` by effective priority, highest first; ties to the older task. A task without
/// an owner (authentication off) has a fair share of 1. Each task's score is computed once.
pub(super) fn order<T: Borrow<TaskRow>>(pending: &mut [T], fair: &HashMap<String, f64>, now_ms: i64, age_unit_ms: i64) {
    pending.sort_by_cached_key(|t| {
        let t = t.borrow();
        let share = t.owner.as_ref().and_then(|o| fair.get(o)).copied().unwrap_or(1.0);
        (Reverse(Score(effective(t.priority, share, now_ms - t.submitted_at_ms, age_unit_ms))), t.task_id)
    });
}

/// An effective priority, ordered as `f64::total_cmp` orders it.
struct Score(f64);

impl PartialEq for Score {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::services::tasks::tests_support::row_of;

    const HOUR: i64 = 3_600_000;

    fn task(id: u64, owner: &str, priority: i32, submitted_at_ms: i64) -> TaskRow {
        let mut t = row_of(id, serde_json::json!({"command": "true"}));
        (t.owner, t.priority, t.submitted_at_ms) = (Some(owner.into()), priority, submitted_at_ms);
        t
    }

    fn ids(tasks: &[TaskRow]) -> Vec<u64> {
        tasks.iter().map(|t| t.task_id.0).collect()
    }

    #[test]
    fn priority_then_fair_share_then_age() {
        let usage = HashMap::from([("heavy".to_string(), 1_000_000.0), ("light".to_string(), 10.0)]);
        let fair = fair_shares(&usage, ["new"].into_iter());
        assert!(fair["new"] == 1.0 && fair["light"] > 0.9 && fair["heavy"] < 0.2, "{fair:?}");
        let now = 10 * HOUR;
        let mut queue = vec![
            task(1, "heavy", 0, now - HOUR / 2),
            task(2, "light", 0, now - HOUR / 2),
            task(3, "heavy", 100, now),
            task(4, "new", -100, now),
            task(5, "heavy", 0, now - 5 * HOUR),
        ];
        order(&mut queue, &fair, now, HOUR);
        // 5 waited 5 h (5 + 0.1); 2: light user (0.5 + 0.99); 3: urgent (1 + 0.1); 1: heavy (0.5 + 0.1);
        // 4 yields (-1 + 1).
        assert_eq!(ids(&queue), [5, 2, 3, 1, 4]);
        assert_eq!(fair_shares(&HashMap::new(), ["a", "b"].into_iter())["a"], 1.0, "no usage: all equal");
        assert!((decayed(100.0, 7 * 24 * HOUR, 7 * 24 * HOUR) - 50.0).abs() < 1e-9);
    }

    #[test]
    fn equal_tasks_keep_their_submission_order() {
        let mut queue = vec![task(3, "a", 0, 0), task(1, "a", 0, 0), task(2, "b", 0, 0)];
        order(&mut queue, &HashMap::new(), 0, HOUR);
        assert_eq!(ids(&queue), [1, 2, 3]);
    }

    proptest! {
        /// A task that has waited three priority-ages longer than another is ahead of it, whatever
        /// their priorities and their owners' usage: under a steady stream of newcomers every
        /// waiting task reaches the front.
        #[test]
        fn nobody_starves(
            tasks in prop::collection::vec((0usize..4, -100i32..=100, 0i64..(20 * HOUR)), 2..30),
            usage in prop::collection::vec(0f64..1e9, 4),
        ) {
            let users = ["a", "b", "c", "d"];
            let usage: HashMap<String, f64> = users.iter().map(|u| u.to_string()).zip(usage).collect();
            let fair = fair_shares(&usage, users.into_iter());
            let now = 20 * HOUR;
            let mut queue: Vec<TaskRow> = tasks
                .iter()
                .enumerate()
                .map(|(i, &(owner, priority, at))| task(i as u64 + 1, users[owner], priority, at))
                .collect();
            order(&mut queue, &fair, now, HOUR);
            for (i, earlier) in queue.iter().enumerate() {
                for later in &queue[i + 1..] {
                    prop_assert!(
                        later.submitted_at_ms + 3 * HOUR >= earlier.submitted_at_ms,
                        "task {} (waited {} ms) is behind {} (waited {} ms)",
                        later.task_id, now - later.submitted_at_ms, earlier.task_id, now - earlier.submitted_at_ms
                    );
                }
            }
        }
    }
}
