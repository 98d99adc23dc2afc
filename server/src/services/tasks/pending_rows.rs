//! The pending tasks' rows, kept between queue passes: a pass reads the pending set's one-row
//! fingerprint (`db::task_queue::pending_fingerprint`) and compares it with the fingerprint of
//! the ids it keeps. The same: nothing to read. Different: it reads the ids above the largest
//! kept one (what a stream of submits adds) and, if the kept ids with those now give the
//! database's fingerprint, reads nothing more; otherwise (a task left the queue by another way
//! than the pass, or came back to it) it reads every pending id again, as it also does once
//! `KEYS_FRESH` has passed. Full rows are read only for tasks not seen yet. Decoding every
//! waiting row on every pass made a long backlog drain slowly; reading every pending id on every
//! pass made a stream of queueing submits slow down as the queue grew.
//!
//! Invariant: a kept row is the row of a task that is pending in the database, as it was read.
//! A pending task's row does not change while it stays pending; a task that leaves `pending`
//! drops out at the next pass (its id is gone) or at once when the pass itself placed or failed
//! it (`forget`), so a task that comes back to `pending` (a retry, a VPS started again on its
//! node) is always read anew. The attempt is part of the key as a second guard.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hakuriver_model::TaskId;

use crate::db::tasks::TaskRow;

/// How long pending ids read once serve passes that find the same fingerprint.
const KEYS_FRESH: Duration = Duration::from_secs(10);

#[derive(Default)]
pub(super) struct PendingRows {
    rows: HashMap<TaskId, Arc<TaskRow>>,
    keys: Option<KeptIds>,
}

/// The pending ids (ascending) as last known, and when they were last read in full.
struct KeptIds {
    read_at: Instant,
    ids: Vec<(TaskId, u32)>,
}

impl PendingRows {
    /// The pending ids kept, while they are fresh.
    pub(super) fn fresh_keys(&self, now: Instant) -> Option<Vec<(TaskId, u32)>> {
        self.keys.as_ref().filter(|k| now.duration_since(k.read_at) < KEYS_FRESH).map(|k| k.ids.clone())
    }

    /// Keeps every pending id, just read.
    pub(super) fn set_keys(&mut self, now: Instant, ids: Vec<(TaskId, u32)>) {
        self.keys = Some(KeptIds { read_at: now, ids });
    }

    /// Keeps the pending ids as extended by the ids above them (their full read stays as old).
    pub(super) fn extend_keys(&mut self, ids: Vec<(TaskId, u32)>) {
        if let Some(kept) = &mut self.keys {
            kept.ids = ids;
        }
    }

    /// Drops the rows of tasks no longer pending (or pending as another attempt) and returns the
    /// ids among `keys` whose rows must be read.
    pub(super) fn missing(&mut self, keys: &[(TaskId, u32)]) -> Vec<TaskId> {
        let wanted: HashMap<TaskId, u32> = keys.iter().copied().collect();
        self.rows.retain(|id, row| wanted.get(id) == Some(&row.attempt));
        keys.iter().filter(|(id, _)| !self.rows.contains_key(id)).map(|(id, _)| *id).collect()
    }

    /// Keeps rows just read.
    pub(super) fn add(&mut self, rows: Vec<TaskRow>) {
        self.rows.extend(rows.into_iter().map(|row| (row.task_id, Arc::new(row))));
    }

    /// The rows of `keys` in their order (a task whose row could not be read, because it left
    /// `pending` between the two reads, is left out).
    pub(super) fn in_order(&self, keys: &[(TaskId, u32)]) -> Vec<Arc<TaskRow>> {
        keys.iter().filter_map(|(id, _)| self.rows.get(id).cloned()).collect()
    }

    /// Forgets tasks a pass placed or failed: their rows, and their ids among those kept.
    pub(super) fn forget(&mut self, ids: impl IntoIterator<Item = TaskId>) {
        let gone: HashSet<TaskId> = ids.into_iter().collect();
        self.rows.retain(|id, _| !gone.contains(id));
        if let Some(kept) = &mut self.keys {
            kept.ids.retain(|(id, _)| !gone.contains(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use hakuriver_model::TaskStatus;

    use super::*;
    use crate::services::tasks::tests_support::row;

    fn pending(id: u64, attempt: u32) -> TaskRow {
        TaskRow { task_id: TaskId(id), attempt, ..row(TaskStatus::Pending) }
    }

    #[test]
    fn only_rows_not_seen_yet_are_read_and_gone_tasks_drop_out() {
        let mut kept = PendingRows::default();
        let keys = [(TaskId(1), 1), (TaskId(2), 1)];
        assert_eq!(kept.missing(&keys), vec![TaskId(1), TaskId(2)]);
        kept.add(vec![pending(1, 1), pending(2, 1)]);
        // Task 1 left the queue, task 3 joined it: only 3 is read.
        let keys = [(TaskId(2), 1), (TaskId(3), 1)];
        assert_eq!(kept.missing(&keys), vec![TaskId(3)]);
        kept.add(vec![pending(3, 1)]);
        let ids: Vec<TaskId> = kept.in_order(&keys).iter().map(|r| r.task_id).collect();
        assert_eq!(ids, vec![TaskId(2), TaskId(3)]);
        assert_eq!(kept.rows.len(), 2, "the row of a task gone from the queue is dropped");
    }

    #[test]
    fn kept_ids_serve_while_fresh_and_lose_what_the_pass_placed() {
        let mut kept = PendingRows::default();
        let now = Instant::now();
        assert_eq!(kept.fresh_keys(now), None, "nothing read yet");
        kept.set_keys(now, vec![(TaskId(1), 1), (TaskId(2), 1)]);
        kept.extend_keys(vec![(TaskId(1), 1), (TaskId(2), 1), (TaskId(5), 1)]);
        assert_eq!(kept.fresh_keys(now + Duration::from_secs(1)).map(|k| k.len()), Some(3));
        assert_eq!(kept.fresh_keys(now + KEYS_FRESH), None, "read in full again after a while, extended or not");
        kept.forget([TaskId(2)]);
        assert_eq!(kept.fresh_keys(now), Some(vec![(TaskId(1), 1), (TaskId(5), 1)]), "a placed task's id is dropped");
    }

    #[test]
    fn a_task_back_in_the_queue_is_read_anew() {
        let mut kept = PendingRows::default();
        kept.add(vec![pending(1, 1), pending(2, 1)]);
        // Task 1 is pending again as its second attempt; task 2 was placed by the pass.
        kept.forget([TaskId(2)]);
        assert_eq!(kept.missing(&[(TaskId(1), 2), (TaskId(2), 1)]), vec![TaskId(1), TaskId(2)]);
        // A row that could not be read (it left the queue meanwhile) is left out.
        kept.add(vec![pending(1, 2)]);
        let rows = kept.in_order(&[(TaskId(1), 2), (TaskId(2), 1)]);
        assert_eq!(rows.iter().map(|r| (r.task_id, r.attempt)).collect::<Vec<_>>(), vec![(TaskId(1), 2)]);
    }
}
