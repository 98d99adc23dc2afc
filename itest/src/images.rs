//! Test images, built locally (no registry is reachable): `hakuriver/busybox-test:base`, a
//! `docker import` of a root filesystem holding Debian's static busybox.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

pub const BUSYBOX_ENV: &str = "busybox-test";
pub const BUSYBOX_IMAGE: &str = "hakuriver/busybox-test:base";

const APPLETS: &[&str] =
    &["sh", "echo", "sleep", "cat", "env", "ls", "head", "tail", "dd", "true", "false", "printf", "nproc", "grep"];

static BUILD: Mutex<()> = Mutex::new(());

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().expect("run the docker CLI (apt-get install docker.io)")
}

/// Builds the busybox test image unless present. Panics with the reason when Docker or
/// busybox-static is missing: a Docker test never passes without Docker.
pub fn ensure_busybox() -> &'static str {
    let _one = BUILD.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let info = docker(&["info", "--format", "{{.ServerVersion}}"]);
    assert!(info.status.success(), "the Docker engine is not running: {}", String::from_utf8_lossy(&info.stderr));
    if docker(&["image", "inspect", BUSYBOX_IMAGE]).status.success() {
        return BUSYBOX_IMAGE;
    }
    let busybox = Path::new("/bin/busybox");
    assert!(busybox.is_file(), "/bin/busybox is missing: apt-get install busybox-static");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("rootfs");
    for sub in ["bin", "tmp", "shared", "local_temp", "etc"] {
        std::fs::create_dir_all(root.join(sub)).expect("rootfs folders");
    }
    std::fs::copy(busybox, root.join("bin/busybox")).expect("copy busybox");
    for applet in APPLETS {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).expect("applet link");
    }
    let tar = dir.path().join("rootfs.tar");
    let packed = Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&tar).arg(".").status().expect("run tar");
    assert!(packed.success(), "tar failed");
    let imported = docker(&["import", "--change", "ENV PATH=/bin", tar.to_str().expect("utf-8 path"), BUSYBOX_IMAGE]);
    assert!(imported.status.success(), "docker import failed: {}", String::from_utf8_lossy(&imported.stderr));
    BUSYBOX_IMAGE
}

/// Whether a container of this name exists (running or not).
pub fn container_exists(name: &str) -> bool {
    docker(&["container", "inspect", name]).status.success()
}

/// `docker inspect` of a container's `State.Status` (running, paused, ...).
pub fn container_state(name: &str) -> Option<String> {
    let out = docker(&["container", "inspect", "--format", "{{.State.Status}}", name]);
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
