//! Memory totals from `/proc/meminfo`.

use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryUsage {
    pub total_bytes: u64,
    pub used_bytes: u64,
}

impl MemoryUsage {
    pub fn percent(&self) -> f64 {
        self.used_bytes as f64 / self.total_bytes.max(1) as f64 * 100.0
    }
}

/// Used = MemTotal − MemAvailable (what the kernel says could be given to programs).
pub fn parse_meminfo(text: &str) -> Option<MemoryUsage> {
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name) && l[name.len()..].starts_with(':'))?;
        let kib: u64 = line[name.len() + 1..].split_whitespace().next()?.parse().ok()?;
        Some(kib * 1024)
    };
    let total = field("MemTotal")?;
    let available = field("MemAvailable").or_else(|| Some(field("MemFree")? + field("Cached").unwrap_or(0)))?;
    Some(MemoryUsage { total_bytes: total, used_bytes: total.saturating_sub(available) })
}

pub fn read(proc_root: &Path) -> Option<MemoryUsage> {
    parse_meminfo(&std::fs::read_to_string(proc_root.join("meminfo")).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn used_is_total_minus_available() {
        let text = "MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:   12000000 kB\n";
        let m = parse_meminfo(text).unwrap();
        assert_eq!(m.total_bytes, 16_000_000 * 1024);
        assert_eq!(m.used_bytes, 4_000_000 * 1024);
        assert!((m.percent() - 25.0).abs() < 1e-9);
    }

    #[test]
    fn old_kernels_without_memavailable_and_garbage() {
        let m = parse_meminfo("MemTotal: 1000 kB\nMemFree: 200 kB\nCached: 300 kB\n").unwrap();
        assert_eq!(m.used_bytes, 500 * 1024);
        assert_eq!(parse_meminfo("nothing here"), None);
    }
}
