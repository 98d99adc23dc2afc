//! Slowing down guessing: after a few failed authentications from one address, that address
//! must wait before it may try again, and the wait doubles with each further failure (up to a
//! minute). Only failures are slowed down (`Auth::failed`): a credential that holds always
//! passes. Pure bookkeeping over times the caller passes in.

use std::collections::HashMap;
use std::net::IpAddr;

/// Failures allowed before waits start.
pub const FREE_FAILURES: u32 = 5;
/// The longest wait, in milliseconds.
pub const MAX_WAIT_MS: i64 = 60_000;
/// A record this old (since its last failure) is forgotten.
const FORGET_AFTER_MS: i64 = 10 * 60_000;
/// Records kept at most; the oldest are dropped first when full.
const MAX_RECORDS: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Record {
    failures: u32,
    last_ms: i64,
    blocked_until_ms: i64,
}

#[derive(Debug, Default)]
pub struct Throttle {
    records: HashMap<IpAddr, Record>,
}

impl Throttle {
    /// How many milliseconds `ip` must still wait before its next attempt (0: none).
    pub fn wait_ms(&self, ip: IpAddr, now_ms: i64) -> i64 {
        self.records.get(&ip).map_or(0, |r| (r.blocked_until_ms - now_ms).max(0))
    }

    /// Records a failed attempt; answers the wait it starts (0 while still within the free ones).
    pub fn failed(&mut self, ip: IpAddr, now_ms: i64) -> i64 {
        if self.records.len() >= MAX_RECORDS {
            self.forget_old(now_ms);
        }
        let record = self.records.entry(ip).or_insert(Record { failures: 0, last_ms: now_ms, blocked_until_ms: 0 });
        if now_ms - record.last_ms > FORGET_AFTER_MS {
            record.failures = 0;
        }
        record.failures = record.failures.saturating_add(1);
        record.last_ms = now_ms;
        let wait = wait_after(record.failures);
        record.blocked_until_ms = now_ms + wait;
        wait
    }

    fn forget_old(&mut self, now_ms: i64) {
        self.records.retain(|_, r| now_ms - r.last_ms <= FORGET_AFTER_MS);
        if self.records.len() >= MAX_RECORDS {
            let mut by_age: Vec<(i64, IpAddr)> = self.records.iter().map(|(ip, r)| (r.last_ms, *ip)).collect();
            by_age.sort_unstable();
            for (_, ip) in by_age.into_iter().take(MAX_RECORDS / 10) {
                self.records.remove(&ip);
            }
        }
    }
}

/// The wait after the `failures`-th failure: none for the first few, then 1 s doubling to a minute.
pub fn wait_after(failures: u32) -> i64 {
    match failures.checked_sub(FREE_FAILURES) {
        None | Some(0) => 0,
        Some(extra) => 1000i64.saturating_mul(1 << (extra - 1).min(6)).min(MAX_WAIT_MS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn waits_grow_after_the_free_failures() {
        let waits: Vec<i64> = (1..=13).map(wait_after).collect();
        assert_eq!(waits, [0, 0, 0, 0, 0, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
    }

    #[test]
    fn one_address_is_slowed_others_are_not() {
        let mut t = Throttle::default();
        for i in 0..FREE_FAILURES {
            assert_eq!(t.failed(IP, i64::from(i)), 0);
        }
        assert_eq!(t.wait_ms(IP, 10), 0);
        assert_eq!(t.failed(IP, 10), 1000);
        assert_eq!(t.wait_ms(IP, 510), 500);
        assert_eq!(t.wait_ms(IP, 1010), 0);
        assert_eq!(t.wait_ms(OTHER, 10), 0);
    }

    #[test]
    fn old_failures_are_forgotten() {
        let mut t = Throttle::default();
        for i in 0..10 {
            t.failed(IP, i);
        }
        assert!(t.wait_ms(IP, 10) > 0);
        assert_eq!(t.failed(IP, 20 * 60_000), 0);
    }
}
