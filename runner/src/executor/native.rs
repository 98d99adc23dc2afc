//! Tasks without a container (`container_name` = `"NULL"`): the command runs directly on the
//! node, in its own process group, through the exec shim that applies cgroup limits and the
//! NUMA CPU set. Kill, pause and resume signal the whole process group.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use hakuriver_model::task::TaskInfo;
use hakuriver_model::NumaTopology;

use super::docker::TaskPaths;
use crate::cgroups::TaskCgroup;
use crate::shim::{to_args, ShimArgs};

pub struct NativeOptions<'a> {
    pub node: &'a str,
    pub runner_user: &'a str,
    pub cgroup_root: &'a Path,
    pub numa: Option<&'a NumaTopology>,
}

/// A started native task.
pub struct NativeTask {
    pub child: tokio::process::Child,
    pub pgid: i32,
    pub cgroup: Option<TaskCgroup>,
    /// Limits that could not be applied, for the task's record.
    pub notes: Vec<String>,
}

/// `(uid, gid)` of `user` in an /etc/passwd text.
pub fn passwd_lookup(passwd: &str, user: &str) -> Option<(u32, u32)> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 4 && fields[0] == user).then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))?
    })
}

/// The first `name` in the folders of a PATH value.
pub fn find_on_path(name: &str, path: &str) -> Option<PathBuf> {
    path.split(':').map(|dir| Path::new(dir).join(name)).find(|p| p.is_file())
}

pub fn spawn(task: &TaskInfo, paths: &TaskPaths, o: &NativeOptions<'_>) -> Result<NativeTask, String> {
    let mut notes = Vec::new();
    let mut program = vec![task.command.clone().into()];
    program.extend(task.arguments.iter().map(Into::into));
    let mut cpus = Vec::new();
    if let Some(id) = task.target_numa_node_id {
        let node =
            o.numa.and_then(|t| t.get(&id)).ok_or_else(|| format!("NUMA node {id} does not exist on {}", o.node))?;
        match find_on_path("numactl", &std::env::var("PATH").unwrap_or_default()) {
            Some(numactl) => {
                let mut bound = vec![
                    numactl.into(),
                    format!("--cpunodebind={id}").into(),
                    format!("--membind={id}").into(),
                    "--".into(),
                ];
                bound.append(&mut program);
                program = bound;
            }
            None => {
                cpus = node.cores.iter().map(|&c| c as usize).collect();
                notes.push(format!("bound to the CPUs of NUMA node {id}; memory not bound (numactl is not installed)"));
            }
        }
    }
    let cgroup = if task.required_cores > 0 || task.required_memory_bytes.is_some() {
        match TaskCgroup::create(
            o.cgroup_root,
            &format!("task-{}", task.task_id),
            task.required_cores,
            task.required_memory_bytes,
        ) {
            Ok(cg) => Some(cg),
            Err(e) => {
                notes.push(format!("CPU/memory limits not applied: {e}"));
                None
            }
        }
    } else {
        None
    };
    let shim = ShimArgs { procs: cgroup.as_ref().map(TaskCgroup::procs_files).unwrap_or_default(), cpus, program };
    let open = |p: &Path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .map_err(|e| format!("cannot open log {}: {e}", p.display()))
    };
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the runner binary: {e}"))?;
    let mut command = std::process::Command::new(exe);
    command
        .args(to_args(&shim))
        .current_dir(paths.shared_dir.join("shared_data"))
        .envs(&task.env_vars)
        .env("HAKURIVER_TASK_ID", task.task_id.to_string())
        .env("HAKURIVER_NODE", o.node)
        .env("HAKURIVER_SHARED_DIR", paths.shared_dir.join("shared_data"))
        .env("HAKURIVER_LOCAL_TEMP_DIR", &paths.local_temp_dir)
        .stdin(Stdio::null())
        .stdout(open(&paths.stdout)?)
        .stderr(open(&paths.stderr)?)
        .process_group(0);
    if let Some(id) = task.target_numa_node_id {
        command.env("HAKURIVER_TARGET_NUMA_NODE", id.to_string());
    }
    if !o.runner_user.is_empty() {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let (uid, gid) = passwd_lookup(&passwd, o.runner_user)
            .ok_or_else(|| format!("environment.runner_user {:?} does not exist on {}", o.runner_user, o.node))?;
        command.uid(uid).gid(gid);
    }
    let child = tokio::process::Command::from(command).spawn().map_err(|e| {
        if let Some(cg) = &cgroup {
            cg.remove();
        }
        format!("cannot start the task: {e}")
    })?;
    let pgid = child.id().and_then(|id| i32::try_from(id).ok()).ok_or("the task exited at once")?;
    Ok(NativeTask { child, pgid, cgroup, notes })
}

/// Sends `signal` to the task's whole process group.
pub fn signal_group(pgid: i32, signal: rustix::process::Signal) -> Result<(), String> {
    let pid = rustix::process::Pid::from_raw(pgid).ok_or("invalid process group")?;
    rustix::process::kill_process_group(pid, signal).map_err(|e| e.to_string())
}

/// `(exit code, killed by SIGKILL)` of an exit status; a signal counts as 128 + its number.
pub fn exit_code(status: std::process::ExitStatus) -> (i64, bool) {
    match (status.code(), status.signal()) {
        (Some(code), _) => (i64::from(code), false),
        (None, Some(sig)) => (128 + i64::from(sig), sig == 9),
        (None, None) => (-1, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_and_path_lookups() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1001::/home/alice:/bin/sh\n";
        assert_eq!(passwd_lookup(passwd, "alice"), Some((1000, 1001)));
        assert_eq!(passwd_lookup(passwd, "bob"), None);
        assert!(find_on_path("sh", "/nonexistent:/bin").is_some());
        assert_eq!(find_on_path("no-such-program-here", "/bin:/usr/bin"), None);
    }
}
