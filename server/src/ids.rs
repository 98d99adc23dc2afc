//! Task ids: `(milliseconds since 2024-01-01 UTC) << 22 | sequence`. Monotonic even when the
//! clock steps back, never null (the original's snowflake could be), and good until 2157.

use std::sync::Mutex;

use hakuriver_model::TaskId;

const EPOCH_MS: i64 = 1_704_067_200_000; // 2024-01-01T00:00:00Z
const SEQ_BITS: u32 = 22;

#[derive(Default)]
pub struct IdGenerator {
    last: Mutex<u64>,
}

impl IdGenerator {
    /// A new id, greater than every id this generator gave before and than `floor`.
    pub fn next(&self, now_ms: i64, floor: u64) -> TaskId {
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let stamp = u64::try_from(now_ms - EPOCH_MS).unwrap_or(0) << SEQ_BITS;
        let id = stamp.max(*last + 1).max(floor + 1);
        *last = id;
        TaskId(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_grow_even_when_the_clock_steps_back() {
        let ids = IdGenerator::default();
        let now = EPOCH_MS + 1_000_000;
        let a = ids.next(now, 0);
        let b = ids.next(now, 0);
        let c = ids.next(now - 5_000, 0);
        assert!(a < b && b < c);
        assert!(ids.next(now, c.0 + 100).0 > c.0 + 100, "never below the database's newest id");
    }
}
