//! A real container registry for tests: Debian's `docker-registry` (the CNCF distribution
//! registry) serving on a free loopback port from a temporary folder, optionally behind a
//! htpasswd login. The engine treats 127.0.0.0/8 registries as insecure, so push and pull work
//! over plain HTTP. Images pushed here are removed from the engine with the registry.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{free_port, Proc};

pub struct Registry {
    _dir: tempfile::TempDir,
    _proc: Proc,
    /// `127.0.0.1:PORT`, as image references name it.
    pub address: String,
    pushed: Vec<String>,
}

/// The login `Registry::with_login` requires.
pub const USER: &str = "lab";
pub const PASSWORD: &str = "registry-pw-4f9a1c";

impl Registry {
    /// A registry anyone may pull from and push to.
    pub fn open() -> Registry {
        Self::start(false)
    }

    /// A registry that needs `USER` / `PASSWORD` (pushes from the test log in first).
    pub fn with_login() -> Registry {
        Self::start(true)
    }

    fn start(login: bool) -> Registry {
        let binary = "/usr/bin/docker-registry";
        assert!(std::path::Path::new(binary).is_file(), "{binary} is missing: apt-get install docker-registry");
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {address}\n",
            dir.path().join("data").display()
        );
        if login {
            let htpasswd = dir.path().join("htpasswd");
            let made = Command::new("htpasswd").args(["-Bbc"]).arg(&htpasswd).args([USER, PASSWORD]).output();
            assert!(made.expect("htpasswd (apt-get install apache2-utils)").status.success());
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: hakuriver-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path: PathBuf = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("registry config");
        let mut command = Command::new(binary);
        command.arg("serve").arg(&config_path);
        let proc = Proc::spawn("docker-registry", command, dir.path().join("registry.log"));
        let registry = Registry { _dir: dir, _proc: proc, address, pushed: Vec::new() };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&registry.address).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not listen on {}", registry.address);
            std::thread::sleep(Duration::from_millis(100));
        }
        if login {
            let out =
                registry.docker(&["login", "--username", USER, "--password-stdin", &registry.address], Some(PASSWORD));
            assert!(out.status.success(), "docker login: {}", String::from_utf8_lossy(&out.stderr));
        }
        registry
    }

    /// Pushes local image `image` as `<address>/<repo>` and removes that tag from the engine, so
    /// a pull must fetch it; answers the reference.
    pub fn push(&mut self, image: &str, repo: &str) -> String {
        let reference = format!("{}/{repo}", self.address);
        for args in [vec!["tag", image, &reference], vec!["push", &reference], vec!["rmi", &reference]] {
            let out = self.docker(&args, None);
            assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        self.pushed.push(reference.clone());
        reference
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        for reference in &self.pushed {
            let _ = self.docker(&["rmi", "--force", reference], None);
        }
    }
}

impl Registry {
    /// The docker CLI with a configuration of this registry's own (its login never lands in
    /// the user's ~/.docker).
    fn docker(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        docker(&self._dir.path().join("docker-cli"), args, stdin)
    }
}

fn docker(config: &std::path::Path, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new("docker")
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("docker CLI");
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let _ = pipe.write_all(text.as_bytes());
    }
    child.wait_with_output().expect("docker CLI")
}
