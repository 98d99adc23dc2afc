//! The exec shim for tasks without a container: `hakuriver-runner __exec-task [--procs FILE]...
//! [--cpus 0,1] -- PROGRAM ARGS...`. The runner starts it in a new process group; it joins the
//! task's cgroups and CPU set, drops to the task's user (`--user UID:GID`: its group, no
//! supplementary groups, then its uid), then replaces itself with the program (no shell
//! involved), so limits and the user apply from the program's first instruction.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

pub const SUBCOMMAND: &str = "__exec-task";

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ShimArgs {
    pub procs: Vec<PathBuf>,
    pub cpus: Vec<usize>,
    /// `(uid, gid)` to run the program as; none: the runner's own.
    pub user: Option<(u32, u32)>,
    pub program: Vec<OsString>,
}

/// Builds the shim's arguments (after the runner's own path).
pub fn to_args(a: &ShimArgs) -> Vec<OsString> {
    let mut out: Vec<OsString> = vec![SUBCOMMAND.into()];
    for p in &a.procs {
        out.push("--procs".into());
        out.push(p.clone().into());
    }
    if !a.cpus.is_empty() {
        out.push("--cpus".into());
        out.push(a.cpus.iter().map(usize::to_string).collect::<Vec<_>>().join(",").into());
    }
    if let Some((uid, gid)) = a.user {
        out.push("--user".into());
        out.push(format!("{uid}:{gid}").into());
    }
    out.push("--".into());
    out.extend(a.program.iter().cloned());
    out
}

/// Parses what `to_args` wrote (without the subcommand itself).
pub fn parse(args: &[OsString]) -> Result<ShimArgs, String> {
    let mut out = ShimArgs::default();
    let mut i = 0;
    while i < args.len() {
        match args[i].to_str() {
            Some("--") => {
                out.program = args[i + 1..].to_vec();
                break;
            }
            Some("--procs") => {
                out.procs.push(args.get(i + 1).ok_or("--procs needs a file")?.into());
                i += 2;
            }
            Some("--cpus") => {
                let list = args.get(i + 1).and_then(|s| s.to_str()).ok_or("--cpus needs a list")?;
                out.cpus = list
                    .split(',')
                    .map(|c| c.parse().map_err(|_| format!("bad cpu {c:?}")))
                    .collect::<Result<_, _>>()?;
                i += 2;
            }
            Some("--user") => {
                let text = args.get(i + 1).and_then(|s| s.to_str()).ok_or("--user needs UID:GID")?;
                let (uid, gid) = text.split_once(':').ok_or("--user needs UID:GID")?;
                let number = |n: &str| n.parse::<u32>().map_err(|_| format!("bad --user {text:?}"));
                out.user = Some((number(uid)?, number(gid)?));
                i += 2;
            }
            _ => return Err(format!("unexpected argument {:?}", args[i])),
        }
    }
    if out.program.is_empty() {
        return Err("no program after --".into());
    }
    Ok(out)
}

/// Runs the shim: never returns unless setting up or exec fails (then the error, for exit 127).
pub fn exec(args: &[OsString]) -> String {
    let shim = match parse(args) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let pid = std::process::id().to_string();
    for file in &shim.procs {
        if let Err(e) = std::fs::write(file, &pid) {
            return format!("cannot join cgroup {}: {e}", file.display());
        }
    }
    if !shim.cpus.is_empty() {
        let mut set = rustix::thread::CpuSet::new();
        shim.cpus.iter().for_each(|&c| set.set(c));
        if let Err(e) = rustix::thread::sched_setaffinity(None, &set) {
            return format!("cannot bind to CPUs {:?}: {e}", shim.cpus);
        }
    }
    let mut program = std::process::Command::new(&shim.program[0]);
    program.args(&shim.program[1..]);
    if let Some((uid, gid)) = shim.user {
        // The standard library sets the group, drops supplementary groups (as root), then the
        // uid, right before exec: the program never runs with the runner's privileges.
        program.uid(uid).gid(gid);
    }
    let err = program.exec();
    format!("cannot run {:?}: {err}", shim.program[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_round_trip_without_interpretation() {
        let a = ShimArgs {
            procs: vec!["/cg/memory/hakuriver/t/cgroup.procs".into()],
            cpus: vec![2, 3],
            user: Some((65534, 65534)),
            program: vec!["echo".into(), "--procs".into(), "$(rm -rf /)".into()],
        };
        let args = to_args(&a);
        assert_eq!(args[0], SUBCOMMAND);
        assert_eq!(parse(&args[1..]).unwrap(), a);
        assert!(parse(&["--cpus".into(), "x".into(), "--".into(), "a".into()]).is_err());
        assert!(parse(&["--".into()]).is_err());
        assert!(parse(&["--user".into(), "0".into(), "--".into(), "a".into()]).is_err());
        assert!(parse(&["--user".into(), "a:1".into(), "--".into(), "a".into()]).is_err());
    }
}
