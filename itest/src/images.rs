//! Test images, built locally (no registry is reachable): `hakuriver/hakuriver-test-busybox:base`, a
//! `docker import` of a root filesystem holding Debian's static busybox, and
//! `hakuriver/hakuriver-test-sshd:base`, a debootstrapped Debian with openssh-server.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

pub const BUSYBOX_ENV: &str = "hakuriver-test-busybox";
pub const BUSYBOX_IMAGE: &str = "hakuriver/hakuriver-test-busybox:base";

const APPLETS: &[&str] = &[
    "sh", "echo", "sleep", "cat", "env", "ls", "head", "tail", "dd", "true", "false", "printf", "nproc", "grep", "stty",
];

pub const SSHD_ENV: &str = "hakuriver-test-sshd";
pub const SSHD_IMAGE: &str = "hakuriver/hakuriver-test-sshd:base";

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
    if !docker(&["image", "inspect", BUSYBOX_IMAGE]).status.success() {
        build_busybox_image(BUSYBOX_IMAGE, &[]);
    }
    BUSYBOX_IMAGE
}

/// Builds the Debian image with openssh-server unless present (scripts/test-image-sshd.sh:
/// debootstrap once, the root file system cached outside the checkout). Panics with the reason.
pub fn ensure_sshd() -> &'static str {
    let _one = BUILD.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if docker(&["image", "inspect", SSHD_IMAGE]).status.success() {
        return SSHD_IMAGE;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/test-image-sshd.sh");
    let out = Command::new("bash").arg(&script).output().expect("run scripts/test-image-sshd.sh");
    assert!(
        out.status.success(),
        "building {SSHD_IMAGE} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    SSHD_IMAGE
}

/// Imports a busybox root filesystem with `files` (`(path, content)`) added, tagged `tag`;
/// returns the image id.
pub fn build_busybox_image(tag: &str, files: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let tar = busybox_rootfs_tar(dir.path(), files);
    let imported = docker(&["import", "--change", "ENV PATH=/bin", tar.to_str().expect("utf-8 path"), tag]);
    assert!(imported.status.success(), "docker import failed: {}", String::from_utf8_lossy(&imported.stderr));
    String::from_utf8_lossy(&imported.stdout).trim().to_string()
}

/// Writes `<dir>/rootfs.tar`: a root file system with Debian's static busybox and `files`.
pub fn busybox_rootfs_tar(dir: &Path, files: &[(&str, &str)]) -> std::path::PathBuf {
    let busybox = Path::new("/bin/busybox");
    assert!(busybox.is_file(), "/bin/busybox is missing: apt-get install busybox-static");
    let root = dir.join("rootfs");
    for sub in ["bin", "tmp", "shared", "local_temp", "etc"] {
        std::fs::create_dir_all(root.join(sub)).expect("rootfs folders");
    }
    std::fs::copy(busybox, root.join("bin/busybox")).expect("copy busybox");
    for applet in APPLETS {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).expect("applet link");
    }
    for (path, content) in files {
        let file = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(file.parent().expect("a parent folder")).expect("file folder");
        std::fs::write(file, content).expect("write file");
    }
    let tar = dir.join("rootfs.tar");
    let packed = Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&tar).arg(".").status().expect("run tar");
    assert!(packed.success(), "tar failed");
    tar
}

/// Saves `tag` as the environment tarball `<dir>/<env>-<created unix seconds>.tar`.
pub fn save_env_tarball(tag: &str, dir: &Path, env: &str) -> std::path::PathBuf {
    let created = docker(&["image", "inspect", "--format", "{{.Created}}", tag]);
    let created = String::from_utf8_lossy(&created.stdout).trim().to_string();
    let ts = chrono::DateTime::parse_from_rfc3339(&created).expect("RFC 3339 Created").timestamp();
    std::fs::create_dir_all(dir).expect("tarball folder");
    let path = dir.join(format!("{env}-{ts}.tar"));
    let saved = docker(&["save", "-o", path.to_str().expect("utf-8 path"), tag]);
    assert!(saved.status.success(), "docker save failed: {}", String::from_utf8_lossy(&saved.stderr));
    path
}

/// Runs the docker CLI (test setup only) and asserts it succeeded.
pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
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
