//! CPU count and utilization from `/proc/stat`.

use std::path::Path;

/// Aggregate CPU time counters (the `cpu` line of /proc/stat), in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTimes {
    pub busy: u64,
    pub idle: u64,
}

/// Parses the first (`cpu `) line of /proc/stat. `idle` counts idle and iowait.
pub fn parse_proc_stat(text: &str) -> Option<CpuTimes> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line.split_whitespace().skip(1).map(|f| f.parse().ok()).collect::<Option<_>>()?;
    if fields.len() < 4 {
        return None;
    }
    // user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]
    let idle = fields[3] + fields.get(4).copied().unwrap_or(0);
    let busy: u64 = fields.iter().take(8).sum::<u64>() - idle;
    Some(CpuTimes { busy, idle })
}

/// Percentage of CPU time spent busy between two samples.
pub fn usage_percent(before: CpuTimes, after: CpuTimes) -> Option<f64> {
    let busy = after.busy.checked_sub(before.busy)?;
    let idle = after.idle.checked_sub(before.idle)?;
    let total = busy + idle;
    (total > 0).then(|| busy as f64 / total as f64 * 100.0)
}

pub fn read_times(proc_root: &Path) -> Option<CpuTimes> {
    parse_proc_stat(&std::fs::read_to_string(proc_root.join("stat")).ok()?)
}

/// Cores this runner may use (respects CPU affinity), at least 1.
pub fn core_count() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX))
}

/// Tracks CPU usage between calls, so each heartbeat reports the load since the previous one.
pub struct CpuMeter {
    last: Option<CpuTimes>,
}

impl CpuMeter {
    /// Takes a first sample now, so the first heartbeat already has a real reading.
    pub fn start(proc_root: &Path) -> Self {
        CpuMeter { last: read_times(proc_root) }
    }

    pub fn sample(&mut self, proc_root: &Path) -> Option<f64> {
        let now = read_times(proc_root)?;
        let usage = self.last.and_then(|before| usage_percent(before, now));
        self.last = Some(now);
        usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_aggregate_line() {
        let text = "cpu  100 5 50 800 20 3 2 0 0 0\ncpu0 50 2 25 400 10 1 1 0 0 0\nintr 1\n";
        assert_eq!(parse_proc_stat(text), Some(CpuTimes { busy: 160, idle: 820 }));
        assert_eq!(parse_proc_stat("intr 1\n"), None);
        assert_eq!(parse_proc_stat("cpu  1 x 3 4\n"), None);
    }

    #[test]
    fn usage_between_samples() {
        let a = CpuTimes { busy: 100, idle: 900 };
        let b = CpuTimes { busy: 175, idle: 925 };
        assert_eq!(usage_percent(a, b), Some(75.0));
        assert_eq!(usage_percent(a, a), None, "no time passed");
        assert_eq!(usage_percent(b, a), None, "counters went backwards");
    }
}
