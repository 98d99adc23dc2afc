//! Caps on long-lived connections, so that one address cannot take every slot of the host:
//! SSH proxy connections and log-follow streams.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// How many connections each address holds open, at most `cap` each.
pub struct PerAddress {
    cap: usize,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One address's connection, counted until dropped.
pub struct AddressSlot(Arc<PerAddress>, IpAddr);

impl PerAddress {
    pub fn new(cap: usize) -> Self {
        PerAddress { cap, counts: Mutex::new(HashMap::new()) }
    }

    fn counts(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        // Plain counters: a panic elsewhere cannot leave them half-written.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a new connection from `ip`, unless it already holds `cap`.
    pub fn take(this: &Arc<PerAddress>, ip: IpAddr) -> Option<AddressSlot> {
        let mut counts = this.counts();
        let count = counts.entry(ip).or_insert(0);
        if *count >= this.cap {
            return None;
        }
        *count += 1;
        Some(AddressSlot(this.clone(), ip))
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self.0.counts();
        if let Some(count) = counts.get_mut(&self.1) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.1);
            }
        }
    }
}

/// Log-follow streams open at once: in all, and from one address.
pub const MAX_LOG_STREAMS: usize = 1024;
pub const MAX_LOG_STREAMS_PER_ADDRESS: usize = 32;

/// The slots of open log-follow streams.
#[derive(Clone)]
pub struct LogStreams {
    all: Arc<tokio::sync::Semaphore>,
    per_address: Arc<PerAddress>,
}

/// A stream's slots, given back when it ends.
pub struct StreamSlot {
    _all: tokio::sync::OwnedSemaphorePermit,
    _address: AddressSlot,
}

impl Default for LogStreams {
    fn default() -> Self {
        LogStreams {
            all: Arc::new(tokio::sync::Semaphore::new(MAX_LOG_STREAMS)),
            per_address: Arc::new(PerAddress::new(MAX_LOG_STREAMS_PER_ADDRESS)),
        }
    }
}

impl LogStreams {
    /// Slots for a new stream from `ip`, unless that address or the host has too many.
    pub fn open(&self, ip: IpAddr) -> Option<StreamSlot> {
        let address = PerAddress::take(&self.per_address, ip)?;
        let all = self.all.clone().try_acquire_owned().ok()?;
        Some(StreamSlot { _all: all, _address: address })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_its_cap_and_slots_come_back() {
        let limits = Arc::new(PerAddress::new(2));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = PerAddress::take(&limits, a).unwrap();
        let _second = PerAddress::take(&limits, a).unwrap();
        assert!(PerAddress::take(&limits, a).is_none());
        assert!(PerAddress::take(&limits, b).is_some(), "another address is not affected");
        drop(first);
        assert!(PerAddress::take(&limits, a).is_some());
        assert!(limits.counts().len() <= 2);
    }
}
