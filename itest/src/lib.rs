//! Helpers for tests that run the real `hakuriver-host`, `hakuriver-runner` and `hakuriver`
//! binaries on free ports with temporary folders. The binaries come from `$HAKURIVER_BIN_DIR`
//! or `target/debug` (build them first: `cargo build --bins`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub mod auth_cluster;
pub mod fault_cluster;
pub mod golden;
pub mod images;
pub mod pki;
pub mod registry;

use hakuriver_model::{NodeInfo, NodeStatus};

/// The first line of a destructive test (one that stops the machine's Docker engine, mounts file
/// systems or cuts networks). Such a test is also `#[ignore = "destructive: …"]`, so `cargo test`
/// on a developer's machine never runs it; scripts/test-all.sh runs them with `--include-ignored`
/// and `HAKURIVER_TEST_DESTRUCTIVE=1`. This refuses to go on without that variable: an
/// `--include-ignored` run alone is not consent to touch the machine.
pub fn destructive() {
    let asked = std::env::var("HAKURIVER_TEST_DESTRUCTIVE").is_ok_and(|v| v == "1");
    assert!(asked, "this test changes the machine (its Docker engine, mounts or networks): set HAKURIVER_TEST_DESTRUCTIVE=1 to run it");
}

/// Path of one of the workspace's binaries; panics with the fix when it is missing.
pub fn bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("HAKURIVER_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug"));
    let path = dir.join(name);
    assert!(path.is_file(), "{} is missing: run `cargo build --bins` first (or set HAKURIVER_BIN_DIR)", path.display());
    path
}

/// A TCP port that was free a moment ago, from 20000–32767: below the kernel's ephemeral range,
/// where outgoing connections and Docker's published ports take theirs, so the port is not taken
/// between this check and the bind of the process it is meant for. Within one test process the
/// ports handed out never repeat (tests run in parallel threads and bind late), because they walk
/// the range from one start chosen per process.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::OnceLock;
    const FIRST: u32 = 20000;
    const SPAN: u32 = 12768;
    static START: OnceLock<u32> = OnceLock::new();
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = *START.get_or_init(|| {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        std::process::id().wrapping_mul(7919) ^ nanos
    });
    loop {
        let port = FIRST + start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN;
        let port = u16::try_from(port).expect("the range ends below 32768");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A child process that is killed when dropped; its output goes to a log file that is printed
/// if the test fails.
pub struct Proc {
    child: Child,
    log: PathBuf,
    name: String,
}

impl Proc {
    pub fn spawn(name: &str, mut command: Command, log: PathBuf) -> Proc {
        let file = std::fs::File::create(&log).expect("create log file");
        let err = file.try_clone().expect("clone log handle");
        command.stdin(Stdio::null()).stdout(Stdio::from(file)).stderr(Stdio::from(err));
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc { child, log, name: name.to_string() }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: the process gets no chance to say goodbye (a crashed runner).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits up to `timeout` for a clean exit; returns whether it exited 0.
    pub fn terminate(&mut self, timeout: Duration) -> bool {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("----- {} log ({}) -----\n{}", self.name, self.log.display(), self.log());
        }
    }
}

/// The runner token of `ClusterDir::with_auth` clusters.
pub const RUNNER_TOKEN: &str = "itest-runner-token-5f0c2e9a41b7d3";
/// The configured admin token of `ClusterDir::with_auth` clusters.
pub const ADMIN_TOKEN: &str = "itest-admin-token-8e1d4b7c02a9f6";

/// A temporary cluster folder with one config file shared by the host and its runners.
pub struct ClusterDir {
    pub dir: tempfile::TempDir,
    pub host_port: u16,
    /// The host's SSH proxy port.
    pub proxy_port: u16,
    offline_after: Duration,
    /// Runner names and environments this cluster made: their containers and images go with it.
    leftovers: std::sync::Mutex<Leftovers>,
}

#[derive(Default)]
struct Leftovers {
    nodes: Vec<String>,
    envs: Vec<String>,
}

impl ClusterDir {
    /// Fast timing: heartbeats every 0.5 s, offline after 2 s, checked every 0.5 s.
    pub fn new() -> ClusterDir {
        Self::with_timing(0.5, 4.0)
    }

    /// Heartbeats every `interval` seconds, offline after `interval × factor`.
    pub fn with_timing(interval: f64, factor: f64) -> ClusterDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let cluster = ClusterDir {
            dir,
            host_port: free_port(),
            proxy_port: free_port(),
            offline_after: Duration::from_secs_f64(interval * factor),
            leftovers: Default::default(),
        };
        let config = format!(
            "[network]\nhost_port = {}\nhost_ssh_proxy_port = {}\nrunner_address = \"127.0.0.1\"\n\
             [paths]\nshared_dir = \"shared\"\nlocal_temp_dir = \"temp\"\n[database]\ndb_file = \"host.db\"\n\
             [timing]\nheartbeat_interval = {interval}\nheartbeat_timeout_factor = {factor}\ncleanup_check_interval = 0.5\n",
            cluster.host_port, cluster.proxy_port
        );
        std::fs::write(cluster.config(), config).expect("write config");
        cluster
    }

    /// A cluster with authentication on: runners share `RUNNER_TOKEN`, and the CLI (through the
    /// shared config) acts as the configured admin.
    pub fn with_auth() -> ClusterDir {
        let cluster = Self::new();
        cluster.append_config(&format!(
            "[auth]\nenabled = true\nrunner_token = \"{RUNNER_TOKEN}\"\nadmin_token = \"{ADMIN_TOKEN}\"\n"
        ));
        cluster
    }

    /// Adds `[section]` lines to the configuration host and runners read (`toml` holds
    /// `[section]` headers and their `key = value` lines): keys go into a section the file
    /// already has, or a new one.
    pub fn append_config(&self, toml: &str) {
        let mut config = std::fs::read_to_string(self.config()).expect("read config");
        let mut section = String::new();
        for line in toml.lines().filter(|l| !l.trim().is_empty()) {
            if line.starts_with('[') {
                section = line.trim().to_string();
                if !config.contains(&format!("{section}\n")) {
                    config.push_str(&format!("{section}\n"));
                }
                continue;
            }
            // At the end of that section: before the next header, or at the end of the file.
            let header = format!("{section}\n");
            let start = config.find(&header).expect("a section header first") + header.len();
            let end = config[start..].find("\n[").map_or(config.len(), |i| start + i + 1);
            config.insert_str(end, &format!("{line}\n"));
        }
        std::fs::write(self.config(), config).expect("write config");
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `paths.shared_dir` of this cluster (created by the host at start, or here).
    pub fn shared(&self) -> PathBuf {
        let shared = self.path().join("shared");
        std::fs::create_dir_all(&shared).expect("shared folder");
        shared
    }

    /// An empty tarball of environment `env` in shared storage: the host then counts `env` as
    /// existing (submits check that), for tests whose runners never load it.
    pub fn stand_in_tarball(&self, env: &str) {
        let dir = self.shared().join("hakuriver-containers");
        std::fs::create_dir_all(&dir).expect("tarball folder");
        std::fs::write(dir.join(format!("{env}-1.tar")), b"").expect("stand-in tarball");
    }

    pub fn config(&self) -> PathBuf {
        self.path().join("config.toml")
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.host_port)
    }

    /// The offline timeout this config sets (heartbeat_interval × factor).
    pub fn offline_after(&self) -> Duration {
        self.offline_after
    }

    pub fn command(&self, binary: &str) -> Command {
        let mut command = Command::new(bin(binary));
        command
            .arg("--config")
            .arg(self.config())
            .env("HAKURIVER_HOME", self.path().join("home"))
            .env("RUST_LOG", "info")
            // No default environment is built: tests bring their own images and tarballs.
            .env("HAKURIVER_DOCKER_INITIAL_BASE_IMAGE", "");
        command
    }

    pub fn start_host(&self) -> Proc {
        Proc::spawn("host", self.command("hakuriver-host"), self.path().join("host.log"))
    }

    /// An environment name unique to this cluster (`prefix-port`); its image and Host container
    /// are removed with the cluster.
    pub fn env_name(&self, prefix: &str) -> String {
        let env = format!("{prefix}-{}", self.host_port);
        self.leftovers.lock().unwrap_or_else(|e| e.into_inner()).envs.push(env.clone());
        env
    }

    /// A runner named `name` listening on a free port. Task containers of that node left when
    /// the cluster goes (a runner killed mid-task) are removed with it.
    pub fn start_runner(&self, name: &str) -> Proc {
        self.start_runner_with(name, &[])
    }

    /// `start_runner` with extra environment variables for the runner process.
    pub fn start_runner_with(&self, name: &str, env: &[(&str, &str)]) -> Proc {
        let mut leftovers = self.leftovers.lock().unwrap_or_else(|e| e.into_inner());
        if !leftovers.nodes.iter().any(|n| n == name) {
            leftovers.nodes.push(name.to_string());
        }
        drop(leftovers);
        let mut command = self.command("hakuriver-runner");
        command.env("HAKURIVER_RUNNER_HOSTNAME", name).env("HAKURIVER_NETWORK_RUNNER_PORT", free_port().to_string());
        command.envs(env.iter().copied());
        Proc::spawn(&format!("runner {name}"), command, self.path().join(format!("runner-{name}.log")))
    }

    /// `hakuriver forward ID LOCAL:REMOTE` on a free local port, running until dropped; returns
    /// once it listens, with the local port.
    pub async fn start_forward(&self, id: &str, remote: u16) -> (Proc, u16) {
        let local = free_port();
        let mut command = self.command("hakuriver");
        command.args(["forward", id, &format!("{local}:{remote}")]);
        let log = self.path().join(format!("forward-{id}-{remote}.log"));
        let mut proc = Proc::spawn("hakuriver forward", command, log);
        let listening = format!("Forwarding 127.0.0.1:{local} to port {remote} of task {id}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !proc.log().contains(&listening) {
            assert!(
                !proc.has_exited() && Instant::now() < deadline,
                "hakuriver forward did not start:\n{}",
                proc.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (proc, local)
    }

    /// Runs the CLI against this cluster to completion.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.command("hakuriver").args(args).output().expect("run hakuriver")
    }
}

impl Drop for ClusterDir {
    /// Removes what the cluster's runners and environments left in Docker, so runs of the suite
    /// do not pile up stopped containers and images. Without a Docker CLI there is nothing to do.
    fn drop(&mut self) {
        let leftovers = std::mem::take(&mut *self.leftovers.lock().unwrap_or_else(|e| e.into_inner()));
        let docker = |args: &[&str]| Command::new("docker").args(args).stderr(Stdio::null()).output().ok();
        let mut containers = Vec::new();
        for node in &leftovers.nodes {
            let filter = format!("label=hakuriver.node={node}");
            if let Some(out) = docker(&["ps", "--all", "--quiet", "--filter", &filter]) {
                containers.extend(String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string));
            }
        }
        containers.extend(leftovers.envs.iter().cloned());
        if !containers.is_empty() {
            let mut args = vec!["rm", "--force"];
            args.extend(containers.iter().map(String::as_str));
            docker(&args);
        }
        for env in &leftovers.envs {
            docker(&["rmi", "--force", &hakuriver_model::task::env_image(env)]);
        }
    }
}

impl Default for ClusterDir {
    fn default() -> Self {
        Self::new()
    }
}

/// A shell script (for `sh -c`) that ignores SIGTERM and leaves three processes trying to outlive
/// their task, then runs `then`: `sleep {n}1` in a new session, `sleep {n}2` double-forked
/// (reparented, out of the shell's reach), `sleep {n}3` in a new session and deaf to SIGTERM.
pub fn escaping_script(n: u32, then: &str) -> String {
    format!("trap '' TERM; setsid sleep {n}1 & (sleep {n}2 &); setsid sh -c 'trap \"\" TERM; exec sleep {n}3' & {then}")
}

/// How many of `escaping_script(n, ..)`'s three processes are alive.
pub fn escaped(n: u32) -> usize {
    (1..=3).filter(|i| !pids_of(&format!("sleep {n}{i}")).is_empty()).count()
}

/// Process ids whose command line is exactly `args`.
pub fn pids_of(args: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).replace('\0', " ").trim() == args {
            pids.push(pid);
        }
    }
    pids
}

/// Polls `probe` every 100 ms until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A stand-in runner that answers every request with 200 `{}`: the host's calls (`/run`,
/// `/kill`, ...) succeed and nothing runs. Answers its URL.
pub async fn accepting_runner() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0; 65536];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}").await;
            });
        }
    });
    url
}

/// A new API token made with `ADMIN_TOKEN`: its id and secret.
pub async fn create_token(base: &str, name: &str, role: &str) -> (String, String) {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/auth/tokens"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"name": name, "role": role}))
        .send()
        .await
        .expect("the host answers");
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let made: serde_json::Value = r.json().await.expect("token JSON");
    let text = |key: &str| made[key].as_str().expect("a token field").to_string();
    (text("id"), text("token"))
}

/// `GET /api/nodes`, or `None` while the host does not answer.
pub async fn nodes(base: &str) -> Option<Vec<NodeInfo>> {
    reqwest::get(format!("{base}/api/nodes")).await.ok()?.json().await.ok()
}

/// Waits until node `name` has `status`, and returns it.
pub async fn wait_for_node(base: &str, name: &str, status: NodeStatus, timeout: Duration) -> NodeInfo {
    wait_for(&format!("node {name} to be {status}"), timeout, || async {
        nodes(base).await?.into_iter().find(|n| n.hostname == name && n.status == status)
    })
    .await
}

/// Waits until task `id` reaches a final status, and returns it.
pub async fn wait_for_final(base: &str, id: &str, timeout: Duration) -> hakuriver_model::TaskView {
    wait_for(&format!("task {id} to finish"), timeout, || async {
        let t: hakuriver_model::TaskView =
            reqwest::get(format!("{base}/api/status/{id}")).await.ok()?.json().await.ok()?;
        t.status.is_final().then_some(t)
    })
    .await
}

/// Follows a task log's server-sent events at `url` (`…/stdout/follow`) to their end: every
/// byte the `output` events carried (base64), and the final status the `end` event named.
pub async fn follow_log(url: &str) -> (Vec<u8>, Option<String>) {
    use base64::Engine;
    let mut response = reqwest::get(url).await.expect("open the log stream");
    assert_eq!(response.status(), 200, "{url}");
    let (mut buffer, mut bytes) = (Vec::new(), Vec::new());
    while let Some(chunk) = response.chunk().await.expect("read the log stream") {
        buffer.extend_from_slice(&chunk);
        while let Some(at) = buffer.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = buffer.drain(..at + 2).collect();
            let block = String::from_utf8(block).expect("events are text");
            let field = |name: &str| block.lines().find_map(|l| l.strip_prefix(name)).map(str::trim_start);
            match field("event:") {
                Some("output") => {
                    let data = field("data:").expect("an output event has data");
                    bytes.extend(base64::engine::general_purpose::STANDARD.decode(data).expect("base64"));
                }
                Some("end") => return (bytes, field("data:").map(str::to_string)),
                _ => {}
            }
        }
    }
    (bytes, None)
}
