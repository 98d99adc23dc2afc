//! Limits for tasks that run without a container, through the kernel's cgroups (v1 or v2),
//! managed by the runner itself: no systemd needed. Each task gets `hakuriver/task-<id>` in the
//! memory and CPU controllers; the exec shim moves itself there before running the command.

use std::path::{Path, PathBuf};

/// CFS period used for CPU quotas (100 ms).
const PERIOD_US: u64 = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// Which cgroup layout `root` (normally /sys/fs/cgroup) has.
pub fn detect(root: &Path) -> Option<Version> {
    if root.join("cgroup.controllers").is_file() {
        Some(Version::V2)
    } else if root.join("memory").is_dir() {
        Some(Version::V1)
    } else {
        None
    }
}

/// One task's cgroup folders (one per controller in v1, one in v2).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskCgroup {
    version: Version,
    dirs: Vec<PathBuf>,
}

/// The files a value goes to: `(path, content)`. Pure, so the layouts are tested.
pub fn plan(
    root: &Path,
    version: Version,
    name: &str,
    cores: u32,
    memory: Option<u64>,
) -> (Vec<PathBuf>, Vec<(PathBuf, String)>) {
    let mut dirs = Vec::new();
    let mut writes = Vec::new();
    match version {
        Version::V1 => {
            if let Some(bytes) = memory {
                let dir = root.join("memory/hakuriver").join(name);
                writes.push((dir.join("memory.limit_in_bytes"), bytes.to_string()));
                dirs.push(dir);
            }
            if cores > 0 {
                let dir = root.join("cpu/hakuriver").join(name);
                writes.push((dir.join("cpu.cfs_period_us"), PERIOD_US.to_string()));
                writes.push((dir.join("cpu.cfs_quota_us"), (u64::from(cores) * PERIOD_US).to_string()));
                dirs.push(dir);
            }
        }
        Version::V2 => {
            let parent = root.join("hakuriver");
            writes.push((parent.join("cgroup.subtree_control"), "+memory +cpu".into()));
            let dir = parent.join(name);
            if let Some(bytes) = memory {
                writes.push((dir.join("memory.max"), bytes.to_string()));
                writes.push((dir.join("memory.swap.max"), "0".into()));
            }
            if cores > 0 {
                writes.push((dir.join("cpu.max"), format!("{} {PERIOD_US}", u64::from(cores) * PERIOD_US)));
            }
            dirs.push(dir);
        }
    }
    (dirs, writes)
}

impl TaskCgroup {
    /// Creates the task's cgroups with its limits.
    pub fn create(root: &Path, name: &str, cores: u32, memory: Option<u64>) -> Result<TaskCgroup, String> {
        let version = detect(root).ok_or_else(|| format!("no cgroup file system at {}", root.display()))?;
        let (dirs, writes) = plan(root, version, name, cores, memory);
        for dir in &dirs {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create cgroup {}: {e}", dir.display()))?;
        }
        let cgroup = TaskCgroup { version, dirs };
        for (file, value) in writes {
            if let Err(e) = std::fs::write(&file, &value) {
                cgroup.remove();
                return Err(format!("cannot set {} to {value}: {e}", file.display()));
            }
        }
        Ok(cgroup)
    }

    /// The `cgroup.procs` files the task's process must join.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// Whether the kernel killed a process of this cgroup for running out of memory.
    pub fn oom_killed(&self) -> bool {
        let file = match self.version {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        };
        self.dirs.iter().any(|d| std::fs::read_to_string(d.join(file)).is_ok_and(|text| oom_kills(&text) > 0))
    }

    pub fn remove(&self) {
        for dir in &self.dirs {
            if let Err(e) = std::fs::remove_dir(dir) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(cgroup = %dir.display(), error = %e, "cannot remove cgroup");
                }
            }
        }
    }
}

/// The `oom_kill N` counter of memory.oom_control (v1) or memory.events (v2).
pub fn oom_kills(text: &str) -> u64 {
    text.lines().find_map(|l| l.strip_prefix("oom_kill ")).and_then(|n| n.trim().parse().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2_layouts() {
        let (dirs, writes) = plan(Path::new("/cg"), Version::V1, "task-7", 2, Some(1000));
        assert_eq!(dirs, [PathBuf::from("/cg/memory/hakuriver/task-7"), PathBuf::from("/cg/cpu/hakuriver/task-7")]);
        assert!(writes.contains(&(PathBuf::from("/cg/memory/hakuriver/task-7/memory.limit_in_bytes"), "1000".into())));
        assert!(writes.contains(&(PathBuf::from("/cg/cpu/hakuriver/task-7/cpu.cfs_quota_us"), "200000".into())));

        let (dirs, writes) = plan(Path::new("/cg"), Version::V2, "task-7", 1, None);
        assert_eq!(dirs, [PathBuf::from("/cg/hakuriver/task-7")]);
        assert!(writes.contains(&(PathBuf::from("/cg/hakuriver/task-7/cpu.max"), "100000 100000".into())));
        assert!(!writes.iter().any(|(f, _)| f.ends_with("memory.max")));
    }

    #[test]
    fn reads_oom_kill_counters() {
        assert_eq!(oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"), 2);
        assert_eq!(oom_kills("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"), 1);
        assert_eq!(oom_kills("nothing"), 0);
    }

    #[test]
    fn creates_folders_and_writes_limits_in_a_tree() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("memory")).unwrap();
        let cg = TaskCgroup::create(root.path(), "task-1", 0, Some(5000)).unwrap();
        let limit = root.path().join("memory/hakuriver/task-1/memory.limit_in_bytes");
        assert_eq!(std::fs::read_to_string(limit).unwrap(), "5000");
        assert_eq!(cg.procs_files(), [root.path().join("memory/hakuriver/task-1/cgroup.procs")]);
        assert!(TaskCgroup::create(&root.path().join("none"), "t", 1, None).is_err());
    }
}
