//! NUMA topology from `/sys/devices/system/node` (no numactl needed).

use std::path::Path;

use hakuriver_model::{NumaNode, NumaTopology};

/// Parses a kernel CPU list such as `0-3,8,10-11`.
pub fn parse_cpulist(text: &str) -> Option<Vec<u32>> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if a > b {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    Some(cpus)
}

/// Parses `MemTotal` of a node's meminfo (`Node 0 MemTotal:  16301520 kB`).
pub fn parse_node_memtotal(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.contains("MemTotal:"))?;
    let kib: u64 = line.split("MemTotal:").nth(1)?.split_whitespace().next()?.parse().ok()?;
    Some(kib * 1024)
}

/// Reads every `nodeN` folder under `node_root` (normally /sys/devices/system/node). `None` when
/// the machine exposes no NUMA information.
pub fn detect(node_root: &Path) -> Option<NumaTopology> {
    let mut topology = NumaTopology::new();
    for entry in std::fs::read_dir(node_root).ok()?.flatten() {
        let name = entry.file_name();
        let Some(id) = name.to_str().and_then(|n| n.strip_prefix("node")).and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let dir = entry.path();
        let Some(cores) = std::fs::read_to_string(dir.join("cpulist")).ok().and_then(|t| parse_cpulist(&t)) else {
            continue;
        };
        let memory_bytes = std::fs::read_to_string(dir.join("meminfo")).ok().and_then(|t| parse_node_memtotal(&t));
        topology.insert(id, NumaNode { cores, memory_bytes });
    }
    (!topology.is_empty()).then_some(topology)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpulists() {
        assert_eq!(parse_cpulist("0-3,8,10-11\n"), Some(vec![0, 1, 2, 3, 8, 10, 11]));
        assert_eq!(parse_cpulist("\n"), Some(vec![]));
        assert_eq!(parse_cpulist("3-1"), None);
        assert_eq!(parse_cpulist("a"), None);
    }

    #[test]
    fn reads_a_two_node_sysfs_tree() {
        let root = tempfile::tempdir().unwrap();
        for (id, cpus, kib) in [(0, "0-1", 1000), (1, "2-3", 2000)] {
            let dir = root.path().join(format!("node{id}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("cpulist"), cpus).unwrap();
            std::fs::write(dir.join("meminfo"), format!("Node {id} MemTotal:  {kib} kB\nNode {id} MemFree: 1 kB\n"))
                .unwrap();
        }
        std::fs::create_dir_all(root.path().join("power")).unwrap();
        let topo = detect(root.path()).unwrap();
        assert_eq!(topo.len(), 2);
        assert_eq!(topo[&1], NumaNode { cores: vec![2, 3], memory_bytes: Some(2000 * 1024) });
        assert_eq!(detect(&root.path().join("missing")), None);
    }
}
