//! `hakuriver-exec` (runner/helper/hakuriver-exec.c, built by build.rs and embedded here): the
//! static helper a task's container starts with. It points the program's standard output and
//! error at the task's log files (bind-mounted into the container) and replaces itself with the
//! program, so output goes to shared storage at disk speed, byte for byte, whether or not the
//! runner is there to see it. With a log limit it stays in between, copying up to the limit and
//! ending an overflowing log with one marker line, which `dropped_past` reads back.

use std::ffi::OsString;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/hakuriver-exec"));

/// Where a task container finds the helper and its log files.
pub const IN_CONTAINER: &str = "/.hakuriver/exec";
pub const STDOUT_IN_CONTAINER: &str = "/.hakuriver/stdout";
pub const STDERR_IN_CONTAINER: &str = "/.hakuriver/stderr";

/// Writes the helper to `dir/hakuriver-exec` (mode 0755) unless it is there already, whole and
/// current; its path. Written under a name of its own, then renamed into place, so a container
/// never starts a half-written helper.
pub fn install(dir: &Path) -> std::io::Result<PathBuf> {
    let path = dir.join("hakuriver-exec");
    if std::fs::read(&path).is_ok_and(|existing| existing == BINARY) {
        return Ok(path);
    }
    std::fs::create_dir_all(dir)?;
    let partial = dir.join(format!(".hakuriver-exec.{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).open(&partial)?;
    file.write_all(BINARY)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o755))?;
    file.sync_all()?;
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

/// The helper's arguments: its log files (none: the ones it inherits), the limit, the program.
pub fn args(files: Option<(&str, &str)>, limit: Option<u64>, program: Vec<OsString>) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::new();
    if let Some((stdout, stderr)) = files {
        out.extend(["--stdout".into(), stdout.into(), "--stderr".into(), stderr.into()]);
    }
    if let Some(limit) = limit {
        out.extend(["--limit".into(), limit.to_string().into()]);
    }
    out.push("--".into());
    out.extend(program);
    out
}

/// How many bytes the helper dropped past `limit`, from what the log holds after its first
/// `limit` bytes: only the helper writes there, one marker line (after a newline when the kept
/// part did not end with one).
pub fn dropped_in(after_limit: &[u8], limit: u64) -> u64 {
    let text = String::from_utf8_lossy(after_limit);
    let line = text.strip_prefix('\n').unwrap_or(&text);
    line.strip_prefix(&format!("[hakuriver] log limit of {limit} bytes reached: "))
        .and_then(|rest| rest.strip_suffix(" more bytes dropped\n"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Why a task's program could not start, from the end of its standard error: the line the exec
/// helper (`hakuriver-exec: `) or the native shim (`hakuriver: `) wrote before exiting 127.
pub fn start_failure(stderr_tail: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr_tail);
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    let reason = line.strip_prefix("hakuriver-exec: ").or_else(|| line.strip_prefix("hakuriver: "))?;
    Some(reason.trim_end_matches('.').to_string())
}

/// The last `len` bytes of the log at `path` (beneath `shared_dir`, never through a link).
pub fn tail_of(shared_dir: &Path, path: &Path, len: u64) -> std::io::Result<Vec<u8>> {
    let mut file = hakuriver_support::beneath::open_read(shared_dir, path).map_err(std::io::Error::other)?;
    let size = file.metadata()?.len();
    file.seek(std::io::SeekFrom::Start(size.saturating_sub(len)))?;
    let mut tail = Vec::new();
    file.take(len).read_to_end(&mut tail)?;
    Ok(tail)
}

/// How many bytes of the log at `path` (beneath `shared_dir`, never through a link) were
/// dropped past `limit` (0 when none were).
pub fn dropped_past(shared_dir: &Path, path: &Path, limit: u64) -> u64 {
    let read = || -> std::io::Result<Vec<u8>> {
        let mut file = hakuriver_support::beneath::open_read(shared_dir, path).map_err(std::io::Error::other)?;
        file.seek(std::io::SeekFrom::Start(limit))?;
        let mut tail = Vec::new();
        file.take(256).read_to_end(&mut tail)?;
        Ok(tail)
    };
    read().map_or(0, |tail| dropped_in(&tail, limit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn markers_are_read_back_only_where_the_helper_writes_them() {
        let marker = b"[hakuriver] log limit of 100 bytes reached: 900 more bytes dropped\n";
        assert_eq!(dropped_in(marker, 100), 900);
        assert_eq!(dropped_in(&[b"\n".as_slice(), marker].concat(), 100), 900);
        assert_eq!(dropped_in(marker, 99), 0, "another limit's marker");
        assert_eq!(dropped_in(b"", 100), 0);
        assert_eq!(dropped_in(b"more output the task wrote", 100), 0);
    }

    #[test]
    fn start_failures_are_the_last_line_the_helper_or_shim_wrote() {
        let reason = start_failure(b"noise\nhakuriver-exec: cannot run nosuch: No such file or directory\n");
        assert_eq!(reason.as_deref(), Some("cannot run nosuch: No such file or directory"));
        let shim = start_failure(b"hakuriver: cannot run \"x\": Permission denied (os error 13)\n\n");
        assert_eq!(shim.as_deref(), Some("cannot run \"x\": Permission denied (os error 13)"));
        assert_eq!(start_failure(b"the task's own last words\n"), None);
        assert_eq!(start_failure(b""), None);
    }

    /// The embedded helper, run for real: byte-exact output, the limit and its marker, the exit
    /// code and death by signal passed on, arguments never interpreted.
    #[test]
    fn the_helper_points_output_at_files_and_keeps_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let helper = install(dir.path()).unwrap();
        assert_eq!(install(dir.path()).unwrap(), helper, "installing again keeps it");
        let (out, err) = (dir.path().join("out"), dir.path().join("err"));
        let run = |limit: Option<u64>, script: &str| {
            std::fs::write(&out, b"").unwrap();
            std::fs::write(&err, b"").unwrap();
            let files = (out.to_str().unwrap(), err.to_str().unwrap());
            let program = vec!["sh".into(), "-c".into(), script.into(), "sh".into(), "$(touch x)".into()];
            Command::new(&helper).args(args(Some(files), limit, program)).status().unwrap()
        };
        let status = run(None, r#"printf '\377\376end\r50%%\r'; printf "$1" >&2; exit 3"#);
        assert_eq!(status.code(), Some(3));
        assert_eq!(std::fs::read(&out).unwrap(), b"\xff\xfeend\r50%\r");
        assert_eq!(std::fs::read(&err).unwrap(), b"$(touch x)");

        let status = run(Some(1000), "head -c 5000 /dev/zero; echo short >&2");
        assert_eq!(status.code(), Some(0));
        let kept = std::fs::read(&out).unwrap();
        assert_eq!(&kept[..1000], &[0u8; 1000][..]);
        assert_eq!(dropped_past(dir.path(), &out, 1000), 4000);
        assert_eq!(std::fs::read(&err).unwrap(), b"short\n", "under the limit: untouched");
        assert_eq!(dropped_past(dir.path(), &err, 1000), 0);

        let status = run(Some(10), "echo started; kill -KILL $$");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "it dies the way the program died");
        assert_eq!(std::fs::read(&out).unwrap(), b"started\n");

        let missing = Command::new(&helper).args(args(None, None, vec!["/no/such/program".into()])).output().unwrap();
        assert_eq!(missing.status.code(), Some(127));
        assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot run /no/such/program"));
    }
}
