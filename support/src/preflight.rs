//! Preflight checks for the daemons: what the Host Setup Guide's troubleshooting list catches
//! after the fact (cannot connect, database access, Docker permission, shared directory, full
//! disk), checked before serving. Each failure is one line: the cause, then the fix.

use std::net::SocketAddr;
use std::path::Path;

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok(String),
    /// Something is missing that the daemon can do without: it starts, and says what it means
    /// and how to have it.
    Warning {
        cause: String,
        consequence: String,
        fix: String,
    },
    Failed {
        cause: String,
        fix: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked, e.g. `shared_dir`.
    pub name: String,
    pub outcome: Outcome,
}

impl Check {
    pub fn ok(name: &str, detail: impl Into<String>) -> Check {
        Check { name: name.to_string(), outcome: Outcome::Ok(detail.into()) }
    }

    pub fn failed(name: &str, cause: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { name: name.to_string(), outcome: Outcome::Failed { cause: cause.into(), fix: fix.into() } }
    }

    /// A failure that the daemon can start without becomes a warning naming `consequence`.
    pub fn or_warn(self, consequence: &str) -> Check {
        match self.outcome {
            Outcome::Failed { cause, fix } => Check {
                name: self.name,
                outcome: Outcome::Warning { cause, consequence: consequence.to_string(), fix },
            },
            _ => self,
        }
    }

    /// Whether the daemon may start (a warning passes).
    pub fn passed(&self) -> bool {
        !matches!(self.outcome, Outcome::Failed { .. })
    }

    /// One line for people.
    pub fn line(&self) -> String {
        match &self.outcome {
            Outcome::Ok(detail) => format!("ok    {}: {detail}", self.name),
            Outcome::Warning { cause, consequence, fix } => {
                format!("warn  {}: {cause}; {consequence}. To have it: {fix}", self.name)
            }
            Outcome::Failed { cause, fix } => format!("FAIL  {}: {cause}. Fix: {fix}", self.name),
        }
    }
}

/// Less free space than this fails the disk check.
pub const MIN_FREE_BYTES: u64 = 1_000_000_000;

/// The address can be listened on (nothing else has it, and the address is this machine's).
pub fn port_free(name: &str, key: &str, addr: SocketAddr) -> Check {
    match std::net::TcpListener::bind(addr) {
        Ok(_) => Check::ok(name, format!("{addr} is free")),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Check::failed(
            name,
            format!("{addr} is already in use"),
            format!("stop what listens there (ss -ltnp 'sport = :{}') or set {key} to a free port", addr.port()),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => Check::failed(
            name,
            format!("{} is not an address of this machine", addr.ip()),
            format!("set {key} to one of this machine's addresses, or 0.0.0.0 for all"),
        ),
        Err(e) => Check::failed(
            name,
            format!("cannot listen on {addr}: {e}"),
            format!("ports below 1024 need root; choose another {key}"),
        ),
    }
}

/// The folder exists (or can be made), and a file written into it reads back the same and can
/// be removed.
pub fn dir_usable(name: &str, key: &str, dir: &Path) -> Check {
    let shown = dir.display();
    let fix_owner =
        format!("give the user running this service the folder: sudo chown -R $USER {shown} (or set {key})");
    if let Err(e) = std::fs::create_dir_all(dir) {
        return Check::failed(name, format!("{shown} does not exist and cannot be created ({e})"), fix_owner);
    }
    let probe = dir.join(format!(".hakuriver-preflight-{}", std::process::id()));
    let text = format!("hakuriver preflight {}", std::process::id());
    if let Err(e) = std::fs::write(&probe, &text) {
        return Check::failed(name, format!("{shown} is not writable ({e})"), fix_owner);
    }
    let read = std::fs::read_to_string(&probe);
    let removed = std::fs::remove_file(&probe);
    match (read, removed) {
        (Ok(back), Ok(())) if back == text => Check::ok(name, format!("{shown} is writable and reads back")),
        (Ok(_), Ok(())) => Check::failed(
            name,
            format!("{shown} returned other bytes than were written"),
            "check the mount (a shared file system must be mounted at the same path on every machine)",
        ),
        (Err(e), _) | (_, Err(e)) => {
            Check::failed(name, format!("{shown}: cannot read back or remove a file ({e})"), fix_owner)
        }
    }
}

/// The folder exists (it is not created here).
pub fn dir_present(name: &str, key: &str, dir: &Path) -> Check {
    if dir.is_dir() {
        Check::ok(name, format!("{} exists", dir.display()))
    } else {
        Check::failed(
            name,
            format!("{} does not exist", dir.display()),
            format!("create it (mkdir -p {}) or set {key}", dir.display()),
        )
    }
}

/// At least [`MIN_FREE_BYTES`] free on the file system holding `dir`.
/// The TLS certificate chain and its private key load and go together; `keys` names the two
/// configuration keys for the fix.
pub fn tls_pair(cert: &Path, key: &Path, keys: &str) -> Check {
    match hakuriver_tls::acceptor(cert, key) {
        Ok(_) => Check::ok("TLS", format!("certificate {} and its key load", cert.display())),
        Err(e) => {
            Check::failed("TLS", e.to_string(), format!("point {keys} at a PEM certificate chain and its private key"))
        }
    }
}

/// Bytes free for unprivileged users on the file system holding `dir`.
pub fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let s = rustix::fs::statvfs(dir)?;
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}

pub fn free_space(name: &str, dir: &Path) -> Check {
    match free_bytes(dir) {
        Ok(free) => {
            let gb = free as f64 / 1e9;
            if free >= MIN_FREE_BYTES {
                Check::ok(name, format!("{gb:.1} GB free on {}", dir.display()))
            } else {
                Check::failed(
                    name,
                    format!("only {gb:.2} GB free on {}", dir.display()),
                    "free space there (old environment tarballs and task logs are safe to delete) or move the folder",
                )
            }
        }
        Err(e) => Check::failed(name, format!("cannot read free space of {}: {e}", dir.display()), "check the mount"),
    }
}

/// Docker's engine answers on its socket with this user's permissions.
pub async fn docker_reachable(name: &str) -> Check {
    let socket = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string());
    // A local socket is tried first: its error tells a missing engine from a missing permission.
    if let Some(path) = socket.strip_prefix("unix://") {
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Check::failed(
                    name,
                    format!("no permission to use Docker at {socket}"),
                    "add the user to the docker group (sudo usermod -aG docker $USER), then log in again or restart the service",
                )
            }
            Err(e) => return Check::failed(name, format!("Docker does not answer at {socket} ({e})"), DOCKER_INSTALL_FIX),
        }
    }
    let answer = match bollard::Docker::connect_with_local_defaults() {
        Ok(docker) => docker.version().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match answer {
        Ok(v) => Check::ok(name, format!("Docker {} at {socket}", v.version.unwrap_or_default())),
        Err(e) => Check::failed(name, format!("Docker does not answer at {socket} ({e})"), DOCKER_INSTALL_FIX),
    }
}

const DOCKER_INSTALL_FIX: &str =
    "install and start the Docker engine (sudo apt install docker.io; sudo systemctl start docker), or set DOCKER_HOST";

/// All checks' lines, and whether every one passed.
pub fn report(checks: &[Check]) -> (String, bool) {
    let text = checks.iter().map(|c| c.line() + "\n").collect();
    (text, checks.iter().all(Check::passed))
}

/// For `--check`: every line on standard output. Before a start: the failures on standard
/// error (the passes go to the log). Returns whether all passed.
pub fn print_outcome(checks: &[Check], all: bool) -> bool {
    let (text, ok) = report(checks);
    if all {
        print!("{text}");
        return ok;
    }
    for check in checks {
        match check.outcome {
            Outcome::Ok(_) => tracing::debug!("preflight {}", check.line()),
            Outcome::Warning { .. } => tracing::warn!("preflight {}", check.line()),
            Outcome::Failed { .. } => eprintln!("{}", check.line()),
        }
    }
    if !ok {
        eprintln!("not starting: fix the above, then check again with --check");
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_names_the_key_to_change() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let check = port_free("host port", "network.host_port", addr);
        assert!(!check.passed());
        assert!(
            check.line().contains("already in use") && check.line().contains("network.host_port"),
            "{}",
            check.line()
        );
        drop(taken);
        assert!(port_free("host port", "network.host_port", addr).passed());
        let foreign = port_free("bind", "network.host_bind_ip", "203.0.113.7:8000".parse().unwrap());
        assert!(foreign.line().contains("not an address of this machine"), "{}", foreign.line());
    }

    #[test]
    fn a_folder_is_written_read_back_and_left_clean() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("new/shared");
        let check = dir_usable("shared_dir", "paths.shared_dir", &target);
        assert!(check.passed(), "{}", check.line());
        assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0, "the probe file is gone");
        // A file where a folder should be.
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let check = dir_usable("shared_dir", "paths.shared_dir", &file.join("sub"));
        assert!(check.line().starts_with("FAIL  shared_dir:") && check.line().contains("Fix: "), "{}", check.line());
        assert!(!dir_present("container_dir", "docker.container_dir", &file).passed());
        assert!(free_space("disk", dir.path()).line().contains("GB"));
    }

    #[test]
    fn a_failure_the_daemon_can_do_without_is_a_warning() {
        let check = Check::failed("Docker", "Docker does not answer", "install it").or_warn("native tasks only");
        assert!(check.passed());
        assert_eq!(check.line(), "warn  Docker: Docker does not answer; native tasks only. To have it: install it");
        let fine = Check::ok("Docker", "Docker 20.10").or_warn("native tasks only");
        assert_eq!(fine, Check::ok("Docker", "Docker 20.10"));
    }

    #[test]
    fn the_report_fails_when_one_check_does() {
        let (text, ok) = report(&[Check::ok("a", "fine"), Check::failed("b", "broken", "mend it")]);
        assert!(!ok);
        assert_eq!(text, "ok    a: fine\nFAIL  b: broken. Fix: mend it\n");
    }
}
