//! Ids for failures the caller is not shown: the answer names the id, the host log has the cause
//! under the same id. Unique across restarts (the start time in seconds leads), short to read out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

static START: OnceLock<u64> = OnceLock::new();
static NEXT: AtomicU64 = AtomicU64::new(1);

/// The next id: `<start time, hex>-<count, hex>`.
pub fn next() -> String {
    let start = *START
        .get_or_init(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()));
    format!("{start:x}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_differ_and_share_the_start() {
        let (a, b) = (super::next(), super::next());
        assert_ne!(a, b);
        assert_eq!(a.split('-').next(), b.split('-').next());
    }
}
