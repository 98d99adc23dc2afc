//! The configuration's shape and built-in defaults. Every key is optional.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::secret::Secret;

#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(default)]
pub struct Config {
    pub network: NetworkSection,
    pub paths: PathsSection,
    pub database: DatabaseSection,
    pub timing: TimingSection,
    pub environment: EnvironmentSection,
    pub docker: DockerSection,
    pub runner: RunnerSection,
    pub logging: LoggingSection,
    pub auth: AuthSection,
    /// What each role may ask a runner for beyond a plain container (the host checks submits).
    pub policy: hakuriver_model::policy::ResourcePolicy,
    /// Ours: how long tasks may run, per role (the host applies it to every submit).
    pub limits: hakuriver_model::limits::Limits,
    /// Ours: credentials per container registry (`"registry.lab:5000" = { username, password }`),
    /// used when the host or a runner pulls an image from it; never logged.
    pub registries: std::collections::BTreeMap<String, RegistryLogin>,
}

/// A login to one container registry.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RegistryLogin {
    pub username: String,
    pub password: Secret,
}

/// Who may talk to the host and its runners.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct AuthSection {
    /// Require tokens everywhere (API, dashboard, websockets, SSH proxy, runners). Off only for the
    /// original's clients and runners; the host warns when it is off and listens beyond loopback.
    pub enabled: bool,
    /// Shared by the host and its runners: runners present it on register, heartbeat and update;
    /// the host presents it on every call to a runner.
    pub runner_token: Secret,
    /// A token the host accepts as the admin `admin` (to create the other tokens with).
    pub admin_token: Secret,
    /// The token the command line sends (`$HAKURIVER_TOKEN` wins); empty: `admin_token`.
    pub token: Secret,
    /// Hours a dashboard login lasts.
    pub session_hours: f64,
    /// Extra origins (`https://cluster.example.org`) whose pages may use the API with a login
    /// cookie; the host's own origin is always allowed.
    pub allowed_origins: Vec<String>,
    /// Reverse proxies (addresses or CIDR blocks) whose `X-Forwarded-For` names the client: the
    /// slow-down after failed logins then counts by the client, not by the proxy.
    pub trusted_proxies: Vec<crate::IpNet>,
}

impl Default for AuthSection {
    fn default() -> Self {
        AuthSection {
            enabled: false,
            runner_token: Secret::default(),
            admin_token: Secret::default(),
            token: Secret::default(),
            session_hours: 12.0,
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
        }
    }
}

impl AuthSection {
    /// The token the command line sends: `token`, else `admin_token`.
    pub fn client_token(&self) -> Option<&str> {
        self.token.expose().or_else(|| self.admin_token.expose())
    }

    pub fn session_length(&self) -> Duration {
        Duration::from_secs_f64(self.session_hours * 3600.0)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct NetworkSection {
    /// Address the host's HTTP server and SSH proxy bind to.
    pub host_bind_ip: String,
    pub host_port: u16,
    pub host_ssh_proxy_port: u16,
    /// Address runners and clients use to reach the host.
    pub host_reachable_address: String,
    /// Address the runner listens on and advertises to the host.
    pub runner_address: String,
    pub runner_port: u16,
    /// Host: PEM certificate chain; with `tls_key_file` the host serves HTTPS (and WSS) on
    /// `host_port`. Everyone: set means the host is reached over HTTPS.
    pub tls_cert_file: Option<PathBuf>,
    /// Host: PEM private key of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// The path the dashboard and API are served under behind a reverse proxy (`/hakuriver`);
    /// empty: the root.
    pub base_path: String,
    /// Runners and the CLI: a PEM CA certificate to trust for the host (a private CA or a
    /// self-signed certificate), besides the system's roots. Set means HTTPS too.
    pub tls_ca_file: Option<PathBuf>,
    /// Names the host (and each runner) answers to besides IP addresses, `localhost`, the
    /// machine's hostname and `host_reachable_address` / `runner_address`: a request with any
    /// other `Host` gets 421 (DNS rebinding).
    pub public_hosts: Vec<String>,
    /// Addresses (or CIDR blocks) a runner may register a `runner_url` at besides the address
    /// it connects from (a runner behind NAT, or with several interfaces).
    pub runner_networks: Vec<crate::IpNet>,
    /// Connections one address may hold open on the SSH proxy at once.
    pub ssh_proxy_max_per_address: usize,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct PathsSection {
    /// Storage shared by host and runners (same path on every machine).
    pub shared_dir: PathBuf,
    /// Node-local scratch space of the runner.
    pub local_temp_dir: PathBuf,
    /// Accepted for compatibility; NUMA topology is read from /sys, numactl is not needed.
    pub numactl_path: String,
    /// Accepted for compatibility and unused: logs go to standard error (and so to journald).
    pub host_log_file: String,
    /// Accepted for compatibility and unused, as `host_log_file`.
    pub runner_log_file: String,
    /// Most bytes kept of each task log (stdout, stderr); what comes after is dropped and
    /// counted, and the log ends with one marker line. 0: unlimited.
    pub max_log_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct DatabaseSection {
    /// SQLite database file of the host.
    pub db_file: PathBuf,
    /// A PostgreSQL URL (`postgres://user:password@host/db`); set, the host keeps its state
    /// there instead of in `db_file`.
    pub url: Option<String>,
}

/// Durations in seconds; fractions are allowed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct TimingSection {
    pub heartbeat_interval: f64,
    pub heartbeat_timeout_factor: f64,
    pub cleanup_check_interval: f64,
    pub resource_check_interval: f64,
    /// How long a runner waits for a new VPS's sshd to answer (installing it may take a while).
    pub vps_ready_timeout: f64,
    /// How long the host's SSH proxy waits for a client's first line.
    pub ssh_handshake_timeout: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(default)]
pub struct EnvironmentSection {
    /// User that native (container-less) tasks run as; empty means the runner's own user.
    pub runner_user: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct DockerSection {
    /// Folder for environment tarballs, relative to `shared_dir`.
    pub container_dir: PathBuf,
    pub default_container_name: String,
    pub initial_base_image: String,
    pub tasks_privileged: bool,
    pub additional_mounts: Vec<String>,
    /// Ours: how many tarball versions of an environment a `vps save` keeps (the newest); older
    /// ones are removed once a new save is in place. At least 1.
    pub vps_snapshots_kept: u32,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct RunnerSection {
    /// Node name; empty means the OS hostname. Lets several runners share one machine.
    pub hostname: String,
    /// JSON file listing this node's GPUs (`GpuInfo` objects), re-read at every heartbeat,
    /// instead of asking NVML. Empty: use NVML when the driver is installed.
    pub gpu_inventory_file: Option<PathBuf>,
    /// Where the runner keeps its identity: a random key it creates on first start and presents
    /// with every registration; the host binds the node name to it.
    pub identity_file: PathBuf,
    /// PEM certificate chain for this runner's address; with `tls_key_file` the runner serves
    /// HTTPS (and WSS terminals), so the runner token never crosses the network in the clear.
    /// The host trusts it through `network.tls_ca_file`.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
}

/// How the daemons log (to standard error; journald keeps it under systemd).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct LoggingSection {
    /// `text` for people, `json` (one object per line) for log collectors.
    pub log_format: LogFormat,
    /// A level (`info`, `debug`, ...) or `tracing` directives (`info,hakuriver_host=debug`);
    /// `RUST_LOG` wins when set.
    pub log_level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Default for LoggingSection {
    fn default() -> Self {
        LoggingSection { log_format: LogFormat::Text, log_level: "info".into() }
    }
}

impl Config {
    /// Built-in defaults, with data under `home` (normally `~/.hakuriver`).
    pub fn defaults(home: &Path) -> Self {
        let mut config = Config::default();
        config.resolve_paths(|_, _| home.to_path_buf());
        config
    }

    /// Makes every relative path absolute against the folder `base(section, key)` names for it.
    pub(crate) fn resolve_paths(&mut self, base: impl Fn(&str, &str) -> PathBuf) {
        let paths = [
            ("paths", "shared_dir", &mut self.paths.shared_dir),
            ("paths", "local_temp_dir", &mut self.paths.local_temp_dir),
            ("database", "db_file", &mut self.database.db_file),
            ("runner", "identity_file", &mut self.runner.identity_file),
        ];
        for (key, path) in [
            ("tls_cert_file", &mut self.network.tls_cert_file),
            ("tls_key_file", &mut self.network.tls_key_file),
            ("tls_ca_file", &mut self.network.tls_ca_file),
        ] {
            if let Some(path) = path.as_mut().filter(|p| p.is_relative()) {
                *path = base("network", key).join(&*path);
            }
        }
        for (key, path) in [
            ("gpu_inventory_file", &mut self.runner.gpu_inventory_file),
            ("tls_cert_file", &mut self.runner.tls_cert_file),
            ("tls_key_file", &mut self.runner.tls_key_file),
        ] {
            if let Some(path) = path.as_mut().filter(|p| p.is_relative()) {
                *path = base("runner", key).join(&*path);
            }
        }
        for (section, key, path) in paths {
            if path.is_relative() {
                *path = base(section, key).join(&*path);
            }
        }
    }

    /// The folder holding environment tarballs: `shared_dir/container_dir`.
    pub fn container_dir(&self) -> PathBuf {
        self.paths.shared_dir.join(&self.docker.container_dir)
    }

    /// Whether the host is reached over HTTPS: it has a certificate, or a CA to trust is named.
    pub fn host_tls(&self) -> bool {
        self.network.tls_cert_file.is_some() || self.network.tls_ca_file.is_some()
    }

    /// The CA certificate (PEM) runners and clients trust for the host, if one is named.
    pub fn tls_ca_pem(&self) -> std::io::Result<Option<Vec<u8>>> {
        self.network.tls_ca_file.as_deref().map(std::fs::read).transpose()
    }

    /// Base URL of the host's HTTP API as runners and clients reach it.
    pub fn host_url(&self) -> String {
        let scheme = if self.host_tls() { "https" } else { "http" };
        url(scheme, &self.network.host_reachable_address, self.network.host_port) + &self.network.base_path
    }

    /// Whether the runner serves HTTPS (it has a certificate and key).
    pub fn runner_tls(&self) -> bool {
        self.runner.tls_cert_file.is_some() && self.runner.tls_key_file.is_some()
    }

    /// The URL a runner advertises to the host.
    pub fn runner_url(&self) -> String {
        let scheme = if self.runner_tls() { "https" } else { "http" };
        url(scheme, &self.network.runner_address, self.network.runner_port)
    }
}

/// `SCHEME://ADDRESS:PORT`, with IPv6 addresses in brackets.
fn url(scheme: &str, addr: &str, port: u16) -> String {
    if addr.contains(':') && !addr.starts_with('[') {
        format!("{scheme}://[{addr}]:{port}")
    } else {
        format!("{scheme}://{addr}:{port}")
    }
}

impl Default for NetworkSection {
    fn default() -> Self {
        NetworkSection {
            // Loopback until the admin opens it up: the host runs commands on every runner.
            host_bind_ip: "127.0.0.1".into(),
            host_port: 8000,
            host_ssh_proxy_port: 8002,
            host_reachable_address: "127.0.0.1".into(),
            runner_address: "127.0.1.1".into(),
            runner_port: 8001,
            base_path: String::new(),
            tls_cert_file: None,
            tls_key_file: None,
            tls_ca_file: None,
            public_hosts: Vec::new(),
            runner_networks: Vec::new(),
            ssh_proxy_max_per_address: 64,
        }
    }
}

impl Default for TimingSection {
    fn default() -> Self {
        TimingSection {
            heartbeat_interval: 5.0,
            heartbeat_timeout_factor: 6.0,
            cleanup_check_interval: 10.0,
            resource_check_interval: 1.0,
            vps_ready_timeout: 300.0,
            ssh_handshake_timeout: 10.0,
        }
    }
}

impl TimingSection {
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_secs_f64(self.heartbeat_interval)
    }

    /// How long a node may stay silent before the host marks it offline.
    pub fn offline_after(&self) -> Duration {
        Duration::from_secs_f64(self.heartbeat_interval * self.heartbeat_timeout_factor)
    }

    /// How often the host writes held heartbeats, reconciles their tasks and looks for silent
    /// nodes: every `cleanup_check_interval`, and at least once per heartbeat interval, so each
    /// heartbeat is reconciled on its own.
    pub fn node_tick(&self) -> Duration {
        Duration::from_secs_f64(self.cleanup_check_interval.min(self.heartbeat_interval))
    }

    pub fn vps_ready_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.vps_ready_timeout)
    }

    pub fn ssh_handshake_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.ssh_handshake_timeout)
    }
}

impl Default for DockerSection {
    fn default() -> Self {
        DockerSection {
            container_dir: PathBuf::from("hakuriver-containers"),
            default_container_name: "hakuriver-base".into(),
            initial_base_image: "python:3.12.10-alpine3.21".into(),
            tasks_privileged: false,
            additional_mounts: Vec::new(),
            vps_snapshots_kept: 3,
        }
    }
}

/// Default paths are relative: `load` resolves them against the home folder.
impl Default for PathsSection {
    fn default() -> Self {
        PathsSection {
            shared_dir: PathBuf::from("shared"),
            local_temp_dir: PathBuf::from("temp"),
            numactl_path: String::new(),
            host_log_file: String::new(),
            runner_log_file: String::new(),
            max_log_bytes: 0,
        }
    }
}

impl Default for RunnerSection {
    fn default() -> Self {
        RunnerSection {
            hostname: String::new(),
            gpu_inventory_file: None,
            identity_file: PathBuf::from("runner_identity"),
            tls_cert_file: None,
            tls_key_file: None,
        }
    }
}

impl Default for DatabaseSection {
    fn default() -> Self {
        DatabaseSection { db_file: PathBuf::from("cluster_management.db"), url: None }
    }
}
