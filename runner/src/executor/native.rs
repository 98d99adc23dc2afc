//! Tasks without a container (`container_name` = `"NULL"`): the command runs directly on the
//! node, in its own process group and its own cgroup, through the exec shim that joins the
//! cgroup (with the task's limits) and applies the NUMA CPU set. Pause and resume freeze and thaw
//! the cgroup; a kill, and the end of the main process, end everything in it.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use hakuriver_model::protocol::TaskInfo;
use hakuriver_model::NumaTopology;

use super::docker::TaskPaths;
use super::exec_helper;
use crate::cgroups::{self, TaskCgroup};
use crate::shim::{to_args, ShimArgs};

pub struct NativeOptions<'a> {
    pub node: &'a str,
    pub runner_user: &'a str,
    pub cgroup_root: &'a Path,
    pub numa: Option<&'a NumaTopology>,
    /// The exec helper, which keeps a task's logs to its `max_log_bytes`.
    pub helper: Result<&'a Path, &'a str>,
}

/// A started native task.
pub struct NativeTask {
    pub child: tokio::process::Child,
    pub pgid: i32,
    pub cgroup: Option<TaskCgroup>,
    /// Limits that could not be applied, for the task's record.
    pub notes: Vec<String>,
}

/// A user as /etc/passwd lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

/// `user`'s entry in an /etc/passwd text.
pub fn passwd_lookup(passwd: &str, user: &str) -> Option<PasswdEntry> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 6 && fields[0] == user).then(|| {
            Some(PasswdEntry {
                name: user.to_string(),
                uid: fields[2].parse().ok()?,
                gid: fields[3].parse().ok()?,
                home: fields[5].to_string(),
            })
        })?
    })
}

/// The search path a task without a container starts with.
pub const TASK_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The user a task without a container runs as: the one the host's policy names (never root),
/// else `environment.runner_user`, else the runner's own (`None`).
pub fn task_user(task: &TaskInfo, runner_user: &str, passwd: &str, node: &str) -> Result<Option<PasswdEntry>, String> {
    if let Some(name) = &task.run_as_user {
        let entry = passwd_lookup(passwd, name).ok_or_else(|| {
            format!("policy.native_user {name:?} does not exist on {node}; create it or change [policy] native_user")
        })?;
        if entry.uid == 0 {
            return Err(format!("policy.native_user {name:?} is root on {node}; refusing to run this task as root"));
        }
        return Ok(Some(entry));
    }
    if runner_user.is_empty() {
        return Ok(None);
    }
    passwd_lookup(passwd, runner_user)
        .map(Some)
        .ok_or_else(|| format!("environment.runner_user {runner_user:?} does not exist on {node}"))
}

/// The first `name` in the folders of a PATH value.
pub fn find_on_path(name: &str, path: &str) -> Option<PathBuf> {
    path.split(':').map(|dir| Path::new(dir).join(name)).find(|p| p.is_file())
}

pub fn spawn(task: &TaskInfo, paths: &TaskPaths, o: &NativeOptions<'_>) -> Result<NativeTask, String> {
    let helper = match task.max_log_bytes {
        Some(limit) => Some((limit, o.helper.map_err(|e| format!("cannot keep the logs to max_log_bytes: {e}"))?)),
        None => None,
    };
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
    // Every task has one, limits or not: it is what ends all of the task's processes.
    let name = cgroups::task_name(o.node, task.task_id);
    let cgroup = match TaskCgroup::create(o.cgroup_root, &name, task.required_cores, task.required_memory_bytes) {
        Ok(cg) => Some(cg),
        Err(e) => {
            notes.push(format!(
                "not in a cgroup ({e}): no CPU/memory limits, and processes that leave its process group \
                     may outlive it"
            ));
            None
        }
    };
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let user = task_user(task, o.runner_user, &passwd, o.node).inspect_err(|_| {
        if let Some(cg) = &cgroup {
            cg.remove();
        }
    })?;
    let shim = ShimArgs {
        procs: cgroup.as_ref().map(TaskCgroup::procs_files).unwrap_or_default(),
        cpus,
        user: user.as_ref().map(|u| (u.uid, u.gid)),
        program,
    };
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the runner binary: {e}"))?;
    // With a log limit, the helper stands between the shim and the log files (it stays out of
    // the task's cgroups, which the shim joins after it).
    let (program, args) = match helper {
        Some((limit, helper)) => {
            let shim = std::iter::once(exe.into_os_string()).chain(to_args(&shim)).collect();
            (helper.to_path_buf(), exec_helper::args(None, Some(limit), shim))
        }
        None => (exe, to_args(&shim)),
    };
    let mut command = std::process::Command::new(program);
    // A clean environment: the runner's own variables (its configuration overrides, the runner
    // token among them) never reach a task.
    command.env_clear().env("PATH", TASK_PATH).env("LANG", "C.UTF-8");
    match &user {
        Some(u) => command.env("HOME", &u.home).env("USER", &u.name).env("LOGNAME", &u.name),
        None => command.env("HOME", std::env::var_os("HOME").unwrap_or_else(|| "/".into())),
    };
    command
        .args(args)
        .current_dir(paths.shared_dir.join("shared_data"))
        .envs(&task.env_vars)
        .env("HAKURIVER_TASK_ID", task.task_id.to_string())
        .env("HAKURIVER_NODE", o.node)
        .env("HAKURIVER_SHARED_DIR", paths.shared_dir.join("shared_data"))
        .env("HAKURIVER_LOCAL_TEMP_DIR", &paths.local_temp_dir)
        .stdin(Stdio::null())
        .stdout(paths.create_log(&paths.stdout)?)
        .stderr(paths.create_log(&paths.stderr)?)
        .process_group(0);
    if let Some(id) = task.target_numa_node_id {
        command.env("HAKURIVER_TARGET_NUMA_NODE", id.to_string());
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
        let alice = passwd_lookup(passwd, "alice").unwrap();
        assert_eq!((alice.uid, alice.gid, alice.home.as_str()), (1000, 1001, "/home/alice"));
        assert_eq!(passwd_lookup(passwd, "bob"), None);
        assert!(find_on_path("sh", "/nonexistent:/bin").is_some());
        assert_eq!(find_on_path("no-such-program-here", "/bin:/usr/bin"), None);
    }

    #[test]
    fn the_policy_user_is_never_root() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\ntoor:x:0:0::/:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/false\n";
        let mut task: TaskInfo = serde_json::from_value(serde_json::json!({
            "task_id": "1", "command": "id", "stdout_path": "", "stderr_path": "", "docker_image_name": "NULL"
        }))
        .unwrap();
        assert_eq!(task_user(&task, "", passwd, "n").unwrap(), None);
        assert_eq!(task_user(&task, "nobody", passwd, "n").unwrap().map(|u| u.uid), Some(65534));
        task.run_as_user = Some("nobody".into());
        assert_eq!(task_user(&task, "", passwd, "n").unwrap().map(|u| u.uid), Some(65534));
        task.run_as_user = Some("toor".into());
        assert!(task_user(&task, "", passwd, "n").unwrap_err().contains("root"));
        task.run_as_user = Some("ghost".into());
        assert!(task_user(&task, "", passwd, "n").unwrap_err().contains("native_user"));
    }
}
