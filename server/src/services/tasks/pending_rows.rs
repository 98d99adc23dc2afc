//! The pending tasks' rows, kept between queue passes: a pass reads the pending set's one-row
//! fingerprint (`db::task_queue::pending_fingerprint`), the pending ids with their attempt only
//! when it changed (or `KEYS_FRESH` passed), and the full rows only of tasks it has not seen yet.
//! Decoding every waiting row on every pass made a long backlog drain slowly; reading 10 000 ids
//! cost most of a pass.
//!
//! Invariant: a kept row is the row of a task that is pending in the database, as it was read.
//! A pending task's row does not change while it stays pending; a task that leaves `pending`
//! drops out at the next pass (its id is gone) or at once when the pass itself placed or failed
//! it (`forget`), so a task that comes back to `pending` (a retry, a VPS started again on its
//! node) is always read anew. The attempt is part of the key as a second guard.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hakuriver_model::TaskId;

use crate::db::task_queue::PendingFingerprint;
use crate::db::tasks::TaskRow;

/// How long pending ids read once serve passes that find the same fingerprint.
const KEYS_FRESH: Duration = Duration::from_secs(10);

#[derive(Default)]
pub(super) struct PendingRows {
    rows: HashMap<TaskId, Arc<TaskRow>>,
    keys: Option<KeptIds>,
}

/// The pending ids as last read, with the fingerprint the queue had then and when.
struct KeptIds {
    print: PendingFingerprint,
    read_at: Instant,
    ids: Vec<(TaskId, u32)>,
}

impl PendingRows {
    /// The pending ids kept, while the queue still has `print` and they are fresh.
    pub(super) fn keys_for(&self, print: &PendingFingerprint, now: Instant) -> Option<Vec<(TaskId, u32)>> {
        self.keys
            .as_ref()
            .filter(|k| k.print == *print && now.duration_since(k.read_at) < KEYS_FRESH)
            .map(|k| k.ids.clone())
    }

    /// Keeps pending ids just read, with the fingerprint read before them in the same transaction.
    pub(super) fn set_keys(&mut self, print: PendingFingerprint, now: Instant, keys: Vec<(TaskId, u32)>) {
        self.keys = Some(KeptIds { print, read_at: now, ids: keys });
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

    /// Forgets tasks a pass placed or failed (and the ids: the next pass reads them again).
    pub(super) fn forget(&mut self, ids: impl IntoIterator<Item = TaskId>) {
        self.keys = None;
        for id in ids {
            self.rows.remove(&id);
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
    fn ids_are_reused_only_while_the_fingerprint_holds_and_they_are_fresh() {
        let print = |count| PendingFingerprint { count, id_residue_sum: 3, attempt_sum: 2, min_id: 1, max_id: 2 };
        let mut kept = PendingRows::default();
        let now = Instant::now();
        assert_eq!(kept.keys_for(&print(2), now), None, "nothing read yet");
        kept.set_keys(print(2), now, vec![(TaskId(1), 1), (TaskId(2), 1)]);
        assert_eq!(kept.keys_for(&print(2), now + Duration::from_secs(1)).map(|k| k.len()), Some(2));
        assert_eq!(kept.keys_for(&print(1), now), None, "the queue changed");
        assert_eq!(kept.keys_for(&print(2), now + KEYS_FRESH), None, "read again after a while");
        kept.forget([TaskId(1)]);
        assert_eq!(kept.keys_for(&print(2), now), None, "a pass placed a task: read again");
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
