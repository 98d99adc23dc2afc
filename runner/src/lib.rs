//! The HakuRiver runner: one per compute node. It registers with the host, heartbeats its load,
//! and (with the tasks capability) runs the host's tasks on the node's Docker engine or natively.

pub mod agent;
pub mod backoff;
pub mod cgroups;
pub mod executor;
pub mod host_client;
pub mod identity;
pub mod preflight;
pub mod probe;
pub mod server;
pub mod shim;

use std::path::Path;

use anyhow::Context;
use hakuriver_config::Config;
use hakuriver_model::node::is_valid_node_name;

use agent::{Agent, SysRoots};
use executor::{Executor, ExecutorConfig};
use host_client::HostClient;
use probe::cpu::CpuMeter;
use probe::gpu::GpuSource;

/// The node name: `[runner] hostname`, else the OS hostname.
pub fn node_name(config: &Config, proc_root: &Path) -> anyhow::Result<String> {
    if !config.runner.hostname.is_empty() {
        return Ok(config.runner.hostname.clone());
    }
    let raw = std::fs::read_to_string(proc_root.join("sys/kernel/hostname")).context("cannot read the OS hostname")?;
    let name = raw.trim().to_string();
    anyhow::ensure!(
        is_valid_node_name(&name),
        "the OS hostname {name:?} is not a valid node name; set [runner] hostname"
    );
    Ok(name)
}

/// The agent for this node, as configured.
pub fn agent(config: &Config) -> anyhow::Result<Agent> {
    let roots = SysRoots::default();
    let ca = config.tls_ca_pem().context("network.tls_ca_file")?;
    let identity = identity::load_or_create(&config.runner.identity_file)?;
    let credentials = host_client::Credentials { runner_token: config.auth.runner_token.expose(), identity: &identity };
    Ok(Agent {
        client: HostClient::new(config.host_url(), ca.as_deref(), &credentials).context("network.tls_ca_file")?,
        hostname: node_name(config, &roots.proc)?,
        runner_url: config.runner_url(),
        interval: config.timing.heartbeat_interval(),
        gpus: GpuSource::detect(config.runner.gpu_inventory_file.clone()),
        roots,
        docker_available: false,
    })
}

/// What this node would report: its registration and one heartbeat's readings (CPU usage over
/// one second). For `hakuriver-runner --probe`.
pub async fn probe(config: &Config) -> anyhow::Result<serde_json::Value> {
    let mut agent = agent(config)?;
    agent.docker_available = executor::connect_docker().await.is_ok();
    let register = agent.runner_info().await;
    let mut cpu = CpuMeter::start(&agent.roots.proc);
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let heartbeat = agent.sample(&mut cpu).await;
    Ok(serde_json::json!({ "register": register, "heartbeat": heartbeat }))
}

/// The IP address VPS ports are published on: the runner's address, resolved when it is a name.
async fn vps_bind_ip(runner_address: &str) -> String {
    if runner_address.parse::<std::net::IpAddr>().is_ok() {
        return runner_address.to_string();
    }
    match tokio::net::lookup_host((runner_address, 0)).await.map(|mut a| a.next()) {
        Ok(Some(addr)) => addr.ip().to_string(),
        _ => {
            tracing::warn!(runner_address, "cannot resolve runner_address: VPS ports are published on all addresses");
            "0.0.0.0".into()
        }
    }
}

/// The runner's own folder, beside its identity file: the exec helper, the record of loaded
/// environment tarballs.
fn state_dir(config: &Config) -> std::path::PathBuf {
    config.runner.identity_file.parent().map_or_else(|| ".".into(), Path::to_path_buf)
}

/// Whether `address` is this machine's loopback (nothing crosses a network).
fn is_loopback(address: &str) -> bool {
    address == "localhost" || address.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Runs the runner until `shutdown` completes.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if config.auth.enabled && config.auth.runner_token.expose().is_none() {
        anyhow::bail!("auth.enabled = true needs auth.runner_token, the secret the host gave this cluster's runners");
    }
    let mut agent = agent(&config)?;
    let hostname = agent.hostname.clone();
    let addr = (config.network.runner_address.as_str(), config.network.runner_port);
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {}:{} (network.runner_address / network.runner_port)", addr.0, addr.1)
    })?;
    tracing::info!(node = %hostname, listen = %listener.local_addr()?, url = %config.runner_url(), host = %config.host_url(), "runner starting");

    let executor = Executor::new(ExecutorConfig {
        host: agent.client.clone(),
        node: hostname.clone(),
        shared_dir: config.paths.shared_dir.clone(),
        local_temp_dir: config.paths.local_temp_dir.clone(),
        container_dir: config.container_dir(),
        numa_root: agent.roots.sys.join("devices/system/node"),
        cgroup_root: agent.roots.sys.join("fs/cgroup"),
        runner_user: config.environment.runner_user.clone(),
        vps_bind_ip: vps_bind_ip(&config.network.runner_address).await,
        vps_ready_timeout: config.timing.vps_ready_timeout(),
        state_dir: state_dir(&config),
        registries: config.registries.clone(),
    })
    .await;
    executor.adopt_vps().await;
    executor.adopt_commands().await;
    executor.end_native_leftovers().await;
    agent.docker_available = executor.docker_available();
    let agent_task = tokio::spawn(agent.run(executor.clone()));
    let names = hakuriver_support::request_rules::PublicNames::with_hostname(
        config.network.public_hosts.iter().chain([&config.network.runner_address, &hostname]),
    );
    let guard = server::Guard::new(config.auth.runner_token.expose(), names);
    let router = server::router(hostname, executor, guard);
    let result = match (&config.runner.tls_cert_file, &config.runner.tls_key_file) {
        (Some(cert), Some(key)) => {
            let acceptor = hakuriver_tls::acceptor(cert, key).context("runner.tls_cert_file / runner.tls_key_file")?;
            let listener = hakuriver_tls::TlsListener::new(listener, acceptor)?;
            axum::serve(listener, router).with_graceful_shutdown(shutdown).await
        }
        _ => {
            if config.auth.enabled && !is_loopback(&config.network.runner_address) {
                tracing::warn!(
                    "the host's calls (carrying the runner token) reach this runner over plain HTTP; \
                     set runner.tls_cert_file and runner.tls_key_file to serve HTTPS"
                );
            }
            axum::serve(listener, router).with_graceful_shutdown(shutdown).await
        }
    };
    let result = result.context("runner HTTP server failed");
    agent_task.abort();
    tracing::info!("runner stopped");
    result
}
