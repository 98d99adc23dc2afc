// suite: integration
//! Preflight of the real binaries: `hakuriver-host --check` and `hakuriver-runner --check`, and
//! the same checks refusing a start. Permission problems are made real by running the binary as
//! `nobody` (setpriv), as a service user without the rights would be.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

use hakuriver_itest::{bin, ClusterDir};

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn chmod(path: &std::path::Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `binary --config <cluster config> args...` as the unprivileged user `nobody`.
fn as_nobody(cluster: &ClusterDir, binary: &str, args: &[&str]) -> Output {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test runs the binaries as `nobody` through setpriv, which needs root (the CI runs as root)"
    );
    // The cluster folder must be reachable by nobody; what is inside decides the rest.
    chmod(cluster.path(), 0o755);
    chmod(&cluster.config(), 0o644);
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin(binary))
        .arg("--config")
        .arg(cluster.config())
        .args(args)
        .env("HAKURIVER_HOME", cluster.path().join("home"))
        .output()
        .expect("setpriv (util-linux)")
}

/// A cluster whose database folder (`db/`) and `shared_dir` exist, owned by root, with these modes.
fn cluster_with_modes(db_mode: u32, shared_mode: u32) -> ClusterDir {
    let cluster = ClusterDir::new();
    for (name, mode) in [("db", db_mode), ("shared", shared_mode)] {
        let dir = cluster.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        chmod(&dir, mode);
    }
    let config = std::fs::read_to_string(cluster.config()).unwrap();
    std::fs::write(cluster.config(), config.replace("db_file = \"host.db\"", "db_file = \"db/host.db\"")).unwrap();
    cluster
}

#[test]
fn a_healthy_machine_passes_every_check() {
    let cluster = ClusterDir::new();
    for binary in ["hakuriver-host", "hakuriver-runner"] {
        let out = cluster.command(binary).arg("--check").output().unwrap();
        let report = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(0), "{binary}: {}", text(&out));
        assert!(report.lines().count() >= 5 && report.lines().all(|l| l.starts_with("ok ")), "{report}");
        assert!(report.contains("Docker") && report.contains("shared_dir") && report.contains("GB free"), "{report}");
    }
}

#[test]
fn a_taken_port_is_named_with_its_key_and_nothing_starts() {
    let cluster = ClusterDir::new();
    let _taken = std::net::TcpListener::bind(("127.0.0.1", cluster.host_port)).unwrap();
    let out = cluster.command("hakuriver-host").arg("--check").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let line = format!("FAIL  host port: 127.0.0.1:{} is already in use. Fix: ", cluster.host_port);
    assert!(text(&out).contains(&line) && text(&out).contains("network.host_port"), "{}", text(&out));

    // A plain start runs the same checks and refuses.
    let out = cluster.command("hakuriver-host").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&line) && err.contains("not starting"), "{err}");

    // The runner's own port.
    let runner_port = hakuriver_itest::free_port();
    let _taken = std::net::TcpListener::bind(("127.0.0.1", runner_port)).unwrap();
    let out = cluster
        .command("hakuriver-runner")
        .arg("--check")
        .env("HAKURIVER_NETWORK_RUNNER_PORT", runner_port.to_string())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("FAIL  runner port:") && text(&out).contains("network.runner_port"), "{}", text(&out));
}

/// The host needs Docker (environments): it fails and says how to get one. A runner without it
/// starts anyway, warning that it takes only tasks without a container.
#[test]
fn no_docker_socket_says_how_to_get_one() {
    let cluster = ClusterDir::new();
    let check = |binary: &str| {
        let out = cluster
            .command(binary)
            .arg("--check")
            .env("DOCKER_HOST", format!("unix://{}/no-docker.sock", cluster.path().display()))
            .output()
            .unwrap();
        (out.status.code(), text(&out))
    };
    let (code, report) = check("hakuriver-host");
    assert_eq!(code, Some(1), "{report}");
    let line = report.lines().find(|l| l.starts_with("FAIL  Docker:")).unwrap_or_else(|| panic!("{report}"));
    assert!(line.contains("no-docker.sock") && line.contains("Fix: install and start the Docker engine"), "{line}");
    assert_eq!(report.lines().filter(|l| l.starts_with("FAIL")).count(), 1, "only Docker fails: {report}");

    let (code, report) = check("hakuriver-runner");
    assert_eq!(code, Some(0), "{report}");
    let line = report.lines().find(|l| l.starts_with("warn  Docker:")).unwrap_or_else(|| panic!("{report}"));
    assert!(line.contains("no-docker.sock") && line.contains("only tasks without a container"), "{line}");
    assert!(!report.contains("FAIL"), "{report}");
}

#[test]
fn an_unwritable_shared_dir_and_docker_permission_for_the_service_user() {
    let cluster = cluster_with_modes(0o777, 0o755); // root's shared_dir: nobody cannot write
    let out = as_nobody(&cluster, "hakuriver-host", &["--check"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = text(&out);
    let line = report.lines().find(|l| l.starts_with("FAIL  shared_dir:")).unwrap_or_else(|| panic!("{report}"));
    assert!(line.contains("is not writable") && line.contains("sudo chown"), "{line}");
    assert!(report.contains("ok    database folder:"), "{report}");
    let docker = report.lines().find(|l| l.starts_with("FAIL  Docker:")).unwrap_or_else(|| panic!("{report}"));
    assert!(docker.contains("no permission") && docker.contains("usermod -aG docker"), "{docker}");

    let out = as_nobody(&cluster, "hakuriver-runner", &["--check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("FAIL  shared_dir:"), "{}", text(&out));
}

#[test]
fn an_unwritable_database_folder_for_the_service_user() {
    let cluster = cluster_with_modes(0o755, 0o777);
    let out = as_nobody(&cluster, "hakuriver-host", &["--check"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = text(&out);
    let line = report.lines().find(|l| l.starts_with("FAIL  database folder:")).unwrap_or_else(|| panic!("{report}"));
    assert!(line.contains("db") && line.contains("is not writable") && line.contains("database.db_file"), "{line}");
    assert!(report.contains("ok    shared_dir:"), "{report}");
    // Starting as that user stops before anything is served.
    let out = as_nobody(&cluster, "hakuriver-host", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not starting"), "{}", text(&out));
}
