//! Tasks that run without a container, held by the kernel's cgroups (v1 or v2), managed by the
//! runner itself: no systemd needed. Each task gets `hakuriver/<node>/task-<id>` (in v1: in the
//! `pids` and `freezer` controllers, which every task has, and in memory and CPU for its
//! limits); the exec shim moves itself there before running the command, so every process it makes,
//! whatever it does with its session or process group, is in it: `freeze` pauses them all and
//! `kill_all` ends them all. A runner that starts ends what its predecessor on the same node left
//! there (`sweep`): it owns no task yet, and the host has counted those as lost.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hakuriver_model::usage::MeasuredUsage;

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

/// The cgroup of task `id` of node `node`, under `hakuriver/`: one folder per node, so a runner
/// sweeps only its own node's (several runners may share a machine). Node names are safe as a
/// file name (`model::node::is_valid_node_name`).
pub fn task_name(node: &str, id: impl std::fmt::Display) -> String {
    format!("{node}/task-{id}")
}

/// How long `kill_all` keeps killing before it gives up (a process stuck in the kernel).
const KILL_LIMIT: Duration = Duration::from_secs(10);

/// One task's cgroup folders (one per controller in v1, one in v2).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskCgroup {
    version: Version,
    dirs: Vec<PathBuf>,
}

/// The v1 controllers every task joins, limits or not: `pids` lists its processes, `freezer`
/// pauses them, `cpuacct` and `memory` measure them (usage accounting).
pub const V1_EVERY_TASK: [&str; 4] = ["pids", "freezer", "cpuacct", "memory"];

/// The files a value goes to: `(path, content)`. Pure, so the layouts are tested. `mounted` says
/// which of `V1_EVERY_TASK` a v1 machine has.
pub fn plan(
    root: &Path,
    version: Version,
    name: &str,
    cores: u32,
    memory: Option<u64>,
    mounted: impl Fn(&str) -> bool,
) -> (Vec<PathBuf>, Vec<(PathBuf, String)>) {
    let mut dirs = Vec::new();
    let mut writes = Vec::new();
    match version {
        Version::V1 => {
            // Every task: the folders that list (`tracker`) and pause (`freeze`) its processes.
            for controller in V1_EVERY_TASK.into_iter().filter(|c| mounted(c)) {
                dirs.push(root.join(controller).join("hakuriver").join(name));
            }
            if let Some(bytes) = memory {
                let dir = root.join("memory/hakuriver").join(name);
                writes.push((dir.join("memory.limit_in_bytes"), bytes.to_string()));
                if !dirs.contains(&dir) {
                    dirs.push(dir);
                }
            }
            if cores > 0 {
                let dir = root.join("cpu/hakuriver").join(name);
                writes.push((dir.join("cpu.cfs_period_us"), PERIOD_US.to_string()));
                writes.push((dir.join("cpu.cfs_quota_us"), (u64::from(cores) * PERIOD_US).to_string()));
                dirs.push(dir);
            }
        }
        Version::V2 => {
            // The controllers reach the task's folder through every folder above it.
            let mut parent = root.join("hakuriver");
            writes.push((parent.join("cgroup.subtree_control"), "+memory +cpu".into()));
            for part in Path::new(name).parent().into_iter().flat_map(Path::components) {
                parent = parent.join(part);
                writes.push((parent.join("cgroup.subtree_control"), "+memory +cpu".into()));
            }
            let dir = root.join("hakuriver").join(name);
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
        let (dirs, writes) = plan(root, version, name, cores, memory, |c| root.join(c).is_dir());
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

    /// The folder that lists every process of the task (v2: its one folder; v1: any of them,
    /// `pids` where mounted).
    fn tracker(&self) -> Option<&Path> {
        self.dirs.first().map(PathBuf::as_path)
    }

    /// The task's folder in v1 controller `controller` (`<controller>/hakuriver/...`).
    fn v1_dir(&self, controller: &str) -> Option<&Path> {
        self.dirs.iter().map(PathBuf::as_path).find(|d| {
            let parts: Vec<_> = d.components().map(|c| c.as_os_str()).collect();
            parts.windows(2).any(|w| w[0] == controller && w[1] == "hakuriver")
        })
    }

    /// Freezes (`true`) or thaws every process of the task, whatever its process group:
    /// `cgroup.freeze` on v2, the freezer controller on v1 (as Docker pauses a container).
    pub fn freeze(&self, frozen: bool) -> Result<(), String> {
        let (file, value) = match self.version {
            Version::V2 => (self.tracker().map(|d| d.join("cgroup.freeze")), if frozen { "1" } else { "0" }),
            Version::V1 => {
                (self.v1_dir("freezer").map(|d| d.join("freezer.state")), if frozen { "FROZEN" } else { "THAWED" })
            }
        };
        let file = file.ok_or("no freezer cgroup on this node")?;
        std::fs::write(&file, value).map_err(|e| format!("cannot write {value} to {}: {e}", file.display()))
    }

    /// The processes in the task's cgroup now.
    pub fn pids(&self) -> Vec<i32> {
        self.tracker()
            .and_then(|dir| std::fs::read_to_string(dir.join("cgroup.procs")).ok())
            .map(|text| parse_procs(&text))
            .unwrap_or_default()
    }

    /// Sends `signal` to every process in the task's cgroup now (SIGTERM at a time limit).
    pub fn signal_all(&self, signal: rustix::process::Signal) {
        for pid in self.pids().into_iter().filter_map(rustix::process::Pid::from_raw) {
            // Gone already: nothing to do.
            let _ = rustix::process::kill_process(pid, signal);
        }
    }

    /// Ends every process in the task's cgroup and waits until none is left: `cgroup.kill` where
    /// the kernel has it (v2, 5.14+), else SIGKILL to each process listed while the cgroup is
    /// frozen, again until the list is empty. Frozen or stopped processes die too. Errs naming
    /// what is left after `KILL_LIMIT`.
    pub async fn kill_all(&self) -> Result<(), String> {
        let Some(dir) = self.tracker() else { return Ok(()) };
        let kill_file = dir.join("cgroup.kill");
        let whole = self.version == Version::V2 && std::fs::write(&kill_file, "1").is_ok();
        let deadline = tokio::time::Instant::now() + KILL_LIMIT;
        loop {
            let left = self.pids();
            if left.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!("{} processes of the task could not be killed: {left:?}", left.len()));
            }
            if !whole {
                // Frozen, nothing can fork between the listing and the kills; thawed, the kills
                // land (a frozen v1 process takes its SIGKILL only once thawed, which also covers
                // a paused task being killed). Without a freezer, the loop catches the forks.
                let frozen = self.freeze(true).is_ok();
                for pid in left.iter().filter_map(|&p| rustix::process::Pid::from_raw(p)) {
                    // Gone already, or not ours to kill: the next listing tells.
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
                if frozen {
                    let _ = self.freeze(false);
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Whether the kernel killed a process of this cgroup for running out of memory.
    pub fn oom_killed(&self) -> bool {
        let file = match self.version {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        };
        self.dirs.iter().any(|d| std::fs::read_to_string(d.join(file)).is_ok_and(|text| oom_kills(&text) > 0))
    }

    /// What the task's processes used: CPU time and peak memory (v2: `cpu.stat`, `memory.peak`
    /// where the kernel has it; v1: `cpuacct.usage`, `memory.max_usage_in_bytes`). Read before
    /// `remove`.
    pub fn usage(&self) -> MeasuredUsage {
        match self.version {
            Version::V2 => self.tracker().map(usage_v2).unwrap_or_default(),
            Version::V1 => usage_v1(self.v1_dir("cpuacct"), self.v1_dir("memory")),
        }
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

/// Ends and removes every task cgroup of `node` under `root`: what a runner of that node that is
/// gone (killed, crashed) left running. Answers how many it found.
pub async fn sweep(root: &Path, node: &str) -> usize {
    let Some(version) = detect(root) else { return 0 };
    let parents: Vec<PathBuf> = match version {
        Version::V2 => vec![root.join("hakuriver").join(node)],
        Version::V1 => {
            V1_EVERY_TASK.iter().chain(&["cpu"]).map(|c| root.join(c).join("hakuriver").join(node)).collect()
        }
    };
    // Each task's folders, in the order `plan` makes them (the tracker first).
    let mut tasks: std::collections::BTreeMap<std::ffi::OsString, Vec<PathBuf>> = Default::default();
    for parent in &parents {
        for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with("task-") && entry.path().is_dir() {
                tasks.entry(name).or_default().push(entry.path());
            }
        }
    }
    for (name, dirs) in &tasks {
        let cgroup = TaskCgroup { version, dirs: dirs.clone() };
        let left = cgroup.pids().len();
        let name = name.to_string_lossy();
        match cgroup.kill_all().await {
            Ok(()) => tracing::warn!(node, cgroup = %name, processes = left, "ended what a previous runner left"),
            Err(e) => tracing::error!(node, cgroup = %name, error = %e, "cannot end what a previous runner left"),
        }
        cgroup.remove();
    }
    tasks.len()
}

/// What a v2 cgroup folder measured.
pub fn usage_v2(dir: &Path) -> MeasuredUsage {
    let read = |file: &str| std::fs::read_to_string(dir.join(file)).ok();
    MeasuredUsage {
        cpu_seconds: read("cpu.stat").and_then(|t| cpu_seconds_v2(&t)),
        max_memory_bytes: read("memory.peak").and_then(|t| t.trim().parse().ok()),
    }
}

/// What v1 `cpuacct` and `memory` folders measured.
pub fn usage_v1(cpuacct: Option<&Path>, memory: Option<&Path>) -> MeasuredUsage {
    let read = |dir: Option<&Path>, file: &str| dir.and_then(|d| std::fs::read_to_string(d.join(file)).ok());
    MeasuredUsage {
        cpu_seconds: read(cpuacct, "cpuacct.usage")
            .and_then(|t| t.trim().parse::<u64>().ok())
            .map(|ns| ns as f64 / 1e9),
        max_memory_bytes: read(memory, "memory.max_usage_in_bytes").and_then(|t| t.trim().parse().ok()),
    }
}

/// The CPU seconds of a v2 `cpu.stat` text (`usage_usec`).
pub fn cpu_seconds_v2(text: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix("usage_usec "))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .map(|us| us as f64 / 1e6)
}

/// The folders measuring a process, from its `/proc/<pid>/cgroup` text: `(cpu, memory)` (the
/// same folder on v2).
pub fn cgroup_dirs_of(proc_cgroup: &str, root: &Path, version: Version) -> (Option<PathBuf>, Option<PathBuf>) {
    let under = |path: &str| root.join(path.trim_start_matches('/'));
    let mut cpu = None;
    let mut memory = None;
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else { continue };
        match version {
            Version::V2 if controllers.is_empty() => return (Some(under(path)), Some(under(path))),
            Version::V2 => {}
            Version::V1 => {
                let has = |c: &str| controllers.split(',').any(|x| x == c);
                if has("cpuacct") {
                    cpu = Some(root.join("cpuacct").join(path.trim_start_matches('/')));
                }
                if has("memory") {
                    memory = Some(root.join("memory").join(path.trim_start_matches('/')));
                }
            }
        }
    }
    (cpu, memory)
}

/// What the cgroup of process `pid` measured so far (a container's, through its main process).
pub fn usage_of_process(root: &Path, pid: i64) -> Option<MeasuredUsage> {
    let version = detect(root)?;
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let (cpu, memory) = cgroup_dirs_of(&text, root, version);
    let usage = match version {
        Version::V2 => usage_v2(cpu.as_deref()?),
        Version::V1 => usage_v1(cpu.as_deref(), memory.as_deref()),
    };
    (usage != MeasuredUsage::default()).then_some(usage)
}

/// The pids of a `cgroup.procs` text.
pub fn parse_procs(text: &str) -> Vec<i32> {
    text.lines().filter_map(|l| l.trim().parse().ok()).filter(|&p| p > 0).collect()
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
        let all = |_: &str| true;
        let (dirs, writes) = plan(Path::new("/cg"), Version::V1, "task-7", 2, Some(1000), all);
        let expected =
            ["pids", "freezer", "cpuacct", "memory", "cpu"].map(|c| PathBuf::from(format!("/cg/{c}/hakuriver/task-7")));
        assert_eq!(dirs, expected);
        let (dirs, _) = plan(Path::new("/cg"), Version::V1, "task-8", 0, None, all);
        let expected =
            ["pids", "freezer", "cpuacct", "memory"].map(|c| PathBuf::from(format!("/cg/{c}/hakuriver/task-8")));
        assert_eq!(dirs, expected, "every task is tracked, can be paused and is measured, limits or not");
        let (dirs, _) = plan(Path::new("/cg"), Version::V1, "task-9", 0, None, |c| c == "freezer");
        assert_eq!(dirs, [PathBuf::from("/cg/freezer/hakuriver/task-9")], "only the controllers mounted");
        assert!(writes.contains(&(PathBuf::from("/cg/memory/hakuriver/task-7/memory.limit_in_bytes"), "1000".into())));
        assert!(writes.contains(&(PathBuf::from("/cg/cpu/hakuriver/task-7/cpu.cfs_quota_us"), "200000".into())));

        let (dirs, writes) = plan(Path::new("/cg"), Version::V2, "n1/task-7", 1, None, |_| false);
        assert_eq!(dirs, [PathBuf::from("/cg/hakuriver/n1/task-7")]);
        assert!(writes.contains(&(PathBuf::from("/cg/hakuriver/n1/task-7/cpu.max"), "100000 100000".into())));
        let enabled: Vec<_> = writes.iter().filter(|(f, _)| f.ends_with("cgroup.subtree_control")).collect();
        let parents = ["/cg/hakuriver/cgroup.subtree_control", "/cg/hakuriver/n1/cgroup.subtree_control"];
        assert_eq!(enabled.iter().map(|(f, _)| f.clone()).collect::<Vec<_>>(), parents.map(PathBuf::from));
        assert!(!writes.iter().any(|(f, _)| f.ends_with("memory.max")));
    }

    #[test]
    fn reads_oom_kill_counters() {
        assert_eq!(oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"), 2);
        assert_eq!(oom_kills("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"), 1);
        assert_eq!(oom_kills("nothing"), 0);
    }

    #[tokio::test]
    async fn a_sweep_takes_only_its_own_nodes_task_cgroups() {
        let root = tempfile::tempdir().unwrap();
        for dir in ["pids/hakuriver/n1/task-5", "freezer/hakuriver/n1/task-5", "pids/hakuriver/n2/task-6"] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
            std::fs::write(root.path().join(dir).join("cgroup.procs"), "").unwrap();
        }
        std::fs::create_dir_all(root.path().join("memory")).unwrap();
        assert_eq!(sweep(root.path(), "n1").await, 1, "one task, in two controllers");
        assert_eq!(sweep(root.path(), "n3").await, 0);
        assert!(!root.path().join("freezer/hakuriver/n2").exists());
    }

    #[test]
    fn reads_usage_files_and_finds_a_processs_cgroup() {
        assert_eq!(cpu_seconds_v2("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n"), Some(2.5));
        assert_eq!(cpu_seconds_v2("nr_periods 0\n"), None);
        let root = Path::new("/sys/fs/cgroup");
        let v1 =
            "12:pids:/docker/abc\n4:cpu,cpuacct:/docker/abc\n9:memory:/docker/abc\n0::/system.slice/docker.service\n";
        assert_eq!(
            cgroup_dirs_of(v1, root, Version::V1),
            (Some(root.join("cpuacct/docker/abc")), Some(root.join("memory/docker/abc")))
        );
        let v2 = "0::/system.slice/docker-abc.scope\n";
        let dir = root.join("system.slice/docker-abc.scope");
        assert_eq!(cgroup_dirs_of(v2, root, Version::V2), (Some(dir.clone()), Some(dir)));

        let tmp = tempfile::tempdir().unwrap();
        for (dir, file, text) in [
            ("cpuacct/hakuriver/t", "cpuacct.usage", "1500000000\n"),
            ("memory/hakuriver/t", "memory.max_usage_in_bytes", "4096\n"),
        ] {
            std::fs::create_dir_all(tmp.path().join(dir)).unwrap();
            std::fs::write(tmp.path().join(dir).join(file), text).unwrap();
        }
        let cg = TaskCgroup {
            version: Version::V1,
            dirs: ["cpuacct", "memory"].map(|c| tmp.path().join(c).join("hakuriver/t")).to_vec(),
        };
        assert_eq!(cg.usage(), MeasuredUsage { cpu_seconds: Some(1.5), max_memory_bytes: Some(4096) });
        std::fs::write(tmp.path().join("cpu.stat"), "usage_usec 10\n").unwrap();
        std::fs::write(tmp.path().join("memory.peak"), "77\n").unwrap();
        assert_eq!(usage_v2(tmp.path()), MeasuredUsage { cpu_seconds: Some(0.00001), max_memory_bytes: Some(77) });
    }

    #[test]
    fn reads_procs_lists() {
        assert_eq!(parse_procs("12\n345\n\n"), [12, 345]);
        assert_eq!(parse_procs("0\nx\n-1\n7"), [7]);
    }

    #[tokio::test]
    async fn an_empty_cgroup_is_killed_at_once_and_v2_asks_the_kernel() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("cgroup.controllers"), "cpu memory pids").unwrap();
        let cg = TaskCgroup::create(root.path(), "task-2", 0, None).unwrap();
        let dir = root.path().join("hakuriver/task-2");
        std::fs::write(dir.join("cgroup.procs"), "").unwrap();
        cg.kill_all().await.unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("cgroup.kill")).unwrap(), "1");
        cg.freeze(true).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("cgroup.freeze")).unwrap(), "1");
    }

    #[test]
    fn creates_folders_and_writes_limits_in_a_tree() {
        let root = tempfile::tempdir().unwrap();
        for controller in ["memory", "pids"] {
            std::fs::create_dir_all(root.path().join(controller)).unwrap();
        }
        let cg = TaskCgroup::create(root.path(), "task-1", 0, Some(5000)).unwrap();
        let limit = root.path().join("memory/hakuriver/task-1/memory.limit_in_bytes");
        assert_eq!(std::fs::read_to_string(limit).unwrap(), "5000");
        let procs = ["pids/hakuriver/task-1/cgroup.procs", "memory/hakuriver/task-1/cgroup.procs"];
        assert_eq!(cg.procs_files(), procs.map(|p| root.path().join(p)), "pids is mounted here, freezer not");
        assert!(cg.freeze(true).is_err(), "no freezer: the caller signals the process group instead");
        assert!(TaskCgroup::create(&root.path().join("none"), "t", 1, None).is_err());
    }
}
