//! The host's clock: stored times are its UTC milliseconds; the wire shows them as the
//! original's naive local time. Runner clocks are never trusted.

/// Wall-clock milliseconds since the Unix epoch (UTC): how the host stamps everything it stores.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A stored UTC millisecond stamp as the wire's naive local time.
pub fn local_time(ms: i64) -> Option<chrono::NaiveDateTime> {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.with_timezone(&chrono::Local).naive_local())
}
