//! The runner's preflight (`hakuriver-runner --check`, and before every start): its port,
//! shared storage, its local temp folder, its TLS pair, the Docker engine (a warning only: a node
//! without it runs native tasks), free disk space.

use std::net::ToSocketAddrs;

use hakuriver_config::Config;
use hakuriver_support::preflight::{self as pf, Check};

/// What a runner without a Docker engine does instead.
pub const NO_DOCKER: &str =
    "this node will take only tasks without a container (container_name \"NULL\"); the host places no container task here";

pub async fn checks(config: &Config) -> Vec<Check> {
    let mut checks = Vec::new();
    let (address, port) = (config.network.runner_address.as_str(), config.network.runner_port);
    match (address, port).to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(addr)) => checks.push(pf::port_free("runner port", "network.runner_port", addr)),
        _ => checks.push(Check::failed(
            "runner address",
            format!("network.runner_address {address:?} does not resolve to an address of this machine"),
            "set it to this node's address as the host reaches it",
        )),
    }
    // Shared storage: tarballs are read from it and task output is written to it.
    checks.push(pf::dir_usable("shared_dir", "paths.shared_dir", &config.paths.shared_dir));
    checks.push(pf::dir_usable("local_temp_dir", "paths.local_temp_dir", &config.paths.local_temp_dir));
    if config.paths.local_temp_dir.is_dir() {
        checks.push(pf::free_space("disk (local_temp_dir)", &config.paths.local_temp_dir));
    }
    if let (Some(cert), Some(key)) = (&config.runner.tls_cert_file, &config.runner.tls_key_file) {
        checks.push(pf::tls_pair(cert, key, "runner.tls_cert_file and runner.tls_key_file"));
    }
    // A node without Docker still runs tasks without a container: it starts and says so.
    checks.push(pf::docker_reachable("Docker").await.or_warn(NO_DOCKER));
    checks
}
