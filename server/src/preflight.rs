//! The host's preflight (`hakuriver-host --check`, and before every start): its ports, the
//! database folder, shared storage and its layout, the Docker engine, free disk space.

use std::net::{IpAddr, SocketAddr};

use hakuriver_config::Config;
use hakuriver_support::preflight::{self as pf, Check};

/// Every check, in the order an admin would fix them.
pub async fn checks(config: &Config) -> Vec<Check> {
    let mut checks = Vec::new();
    match config.network.host_bind_ip.parse::<IpAddr>() {
        Ok(ip) => {
            checks.push(pf::port_free("host port", "network.host_port", SocketAddr::new(ip, config.network.host_port)));
            let proxy = SocketAddr::new(ip, config.network.host_ssh_proxy_port);
            checks.push(pf::port_free("SSH proxy port", "network.host_ssh_proxy_port", proxy));
        }
        Err(_) => checks.push(Check::failed(
            "host address",
            format!("network.host_bind_ip {:?} is not an IP address", config.network.host_bind_ip),
            "set it to an address of this machine, or 0.0.0.0 for all",
        )),
    }
    let db_dir = match config.database.db_file.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => dir.to_path_buf(),
        None => std::path::PathBuf::from("."),
    };
    checks.push(pf::dir_usable("database folder", "database.db_file", &db_dir));
    let shared = pf::dir_usable("shared_dir", "paths.shared_dir", &config.paths.shared_dir);
    let shared_ok = shared.passed();
    checks.push(shared);
    if shared_ok {
        // The layout under shared storage is the host's to make.
        if let Err(e) = crate::storage::create_layout(config) {
            tracing::warn!("{e}");
        }
        checks.push(pf::dir_present("container_dir", "docker.container_dir", &config.container_dir()));
        checks.push(pf::free_space("disk (shared_dir)", &config.paths.shared_dir));
    }
    if db_dir.is_dir() {
        checks.push(pf::free_space("disk (database)", &db_dir));
    }
    if let (Some(cert), Some(key)) = (&config.network.tls_cert_file, &config.network.tls_key_file) {
        checks.push(pf::tls_pair(cert, key, "network.tls_cert_file and network.tls_key_file"));
    }
    if let Some(url) = &config.database.url {
        checks.push(postgres_reachable(url).await);
    }
    checks.push(pf::docker_reachable("Docker").await);
    checks
}

/// The PostgreSQL server answers and lets this user in.
async fn postgres_reachable(url: &str) -> Check {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let shown = crate::db::Location::Url(url).to_string();
    match tokio::time::timeout(std::time::Duration::from_secs(10), sqlx::AnyConnection::connect(url)).await {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            Check::ok("PostgreSQL", format!("{shown} answers"))
        }
        Ok(Err(e)) => Check::failed(
            "PostgreSQL",
            format!("cannot connect to {shown}: {e}"),
            "check database.url (user, password, host, database) and that the server accepts connections from here",
        ),
        Err(_) => Check::failed(
            "PostgreSQL",
            format!("{shown} did not answer within 10 s"),
            "check the host and port in database.url, and the firewall",
        ),
    }
}
