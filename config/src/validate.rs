//! Checks that go beyond types: each failure names the key (`section.key`) and says why.

use std::net::IpAddr;
use std::path::Component;

use crate::schema::Config;
use crate::secret::MIN_SECRET_LEN;

pub(crate) fn validate(c: &Config) -> Result<(), (String, String)> {
    let fail = |key: &str, msg: &str| Err((key.to_string(), msg.to_string()));

    if c.network.host_bind_ip.parse::<IpAddr>().is_err() {
        return fail("network.host_bind_ip", "expected an IP address such as 0.0.0.0 or 127.0.0.1");
    }
    for (key, port) in [
        ("network.host_port", c.network.host_port),
        ("network.host_ssh_proxy_port", c.network.host_ssh_proxy_port),
        ("network.runner_port", c.network.runner_port),
    ] {
        if port == 0 {
            return fail(key, "expected a port between 1 and 65535");
        }
    }
    if !(1..=4096).contains(&c.network.ssh_proxy_max_per_address) {
        return fail("network.ssh_proxy_max_per_address", "expected a number of connections between 1 and 4096");
    }
    if let Some(bad) = c.network.public_hosts.iter().find(|h| !is_host_name(h)) {
        return fail("network.public_hosts", &format!("{bad:?} is not a host name like \"cluster.lab.org\""));
    }
    if !is_base_path(&c.network.base_path) {
        return fail(
            "network.base_path",
            "expected \"\" or a path like \"/hakuriver\": a leading slash, no trailing slash, letters, digits, '-', '.', '_', '~'",
        );
    }
    if c.docker.vps_snapshots_kept == 0 {
        return fail("docker.vps_snapshots_kept", "expected at least 1: the version just saved is always kept");
    }
    if let Some(url) = &c.database.url {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return fail("database.url", "expected a PostgreSQL URL, postgres://user:password@host/database");
        }
    }
    if c.network.tls_cert_file.is_some() != c.network.tls_key_file.is_some() {
        return fail("network.tls_cert_file", "set both tls_cert_file and tls_key_file, or neither");
    }
    if c.runner.tls_cert_file.is_some() != c.runner.tls_key_file.is_some() {
        return fail("runner.tls_cert_file", "set both tls_cert_file and tls_key_file, or neither");
    }
    for (key, addr) in [
        ("network.host_reachable_address", &c.network.host_reachable_address),
        ("network.runner_address", &c.network.runner_address),
    ] {
        if addr.trim().is_empty() || addr.contains(char::is_whitespace) || addr.contains('/') {
            return fail(key, "expected a host name or IP address");
        }
    }
    for (key, secs, min) in [
        ("timing.heartbeat_interval", c.timing.heartbeat_interval, 0.0),
        ("timing.cleanup_check_interval", c.timing.cleanup_check_interval, 0.0),
        ("timing.resource_check_interval", c.timing.resource_check_interval, 0.0),
        ("timing.vps_ready_timeout", c.timing.vps_ready_timeout, 0.0),
        ("timing.ssh_handshake_timeout", c.timing.ssh_handshake_timeout, 0.0),
    ] {
        if !(secs.is_finite() && secs > min && secs <= 86_400.0) {
            return fail(key, "expected a number of seconds greater than 0 and at most 86400");
        }
    }
    let factor = c.timing.heartbeat_timeout_factor;
    if !(factor.is_finite() && (1.0..=1000.0).contains(&factor)) {
        return fail("timing.heartbeat_timeout_factor", "expected a number between 1 and 1000");
    }
    let dir = &c.docker.container_dir;
    if dir.as_os_str().is_empty() || !dir.components().all(|part| matches!(part, Component::Normal(_))) {
        return fail("docker.container_dir", "expected a folder name relative to paths.shared_dir, without `..`");
    }
    if c.docker.default_container_name.trim().is_empty() {
        return fail("docker.default_container_name", "must not be empty");
    }
    let name = &c.runner.hostname;
    if !name.is_empty() && !hakuriver_model::node::is_valid_node_name(name) {
        return fail("runner.hostname", "expected letters, digits, `.`, `-` or `_` (at most 253 characters)");
    }
    for (key, secret) in [
        ("auth.runner_token", &c.auth.runner_token),
        ("auth.admin_token", &c.auth.admin_token),
        ("auth.token", &c.auth.token),
    ] {
        if secret.expose().is_some_and(|s| s.len() < MIN_SECRET_LEN || s.contains(char::is_whitespace)) {
            return fail(
                key,
                "expected at least 24 characters without spaces (hakuriver init config writes random ones)",
            );
        }
    }
    let hours = c.auth.session_hours;
    if !(hours.is_finite() && hours > 0.0 && hours <= 8760.0) {
        return fail("auth.session_hours", "expected a number of hours greater than 0 and at most 8760");
    }
    if let Some(bad) = c.auth.allowed_origins.iter().find(|o| !is_origin(o)) {
        return fail("auth.allowed_origins", &format!("{bad:?} is not an origin like \"https://cluster.example.org\""));
    }
    if let Err((key, message)) = c.policy.validate() {
        return fail(&format!("policy.{key}"), &message);
    }
    if c.runner.gpu_inventory_file.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
        return fail("runner.gpu_inventory_file", "must be a file path when set (remove the key to use NVML)");
    }
    Ok(())
}

/// A DNS name: labels of letters, digits and '-', separated by dots.
fn is_host_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// `http(s)://host[:port]`, nothing after it.
fn is_origin(origin: &str) -> bool {
    let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
    rest.is_some_and(|authority| {
        !authority.is_empty() && !authority.contains(['/', '?', '#', '@']) && !authority.contains(char::is_whitespace)
    })
}

/// `""`, or `/` then path segments of URL-safe characters, without a trailing slash.
fn is_base_path(base: &str) -> bool {
    base.is_empty()
        || (base.starts_with('/')
            && !base.ends_with('/')
            && base[1..].split('/').all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && seg.chars().all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
            }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths_are_plain_prefixes() {
        for ok in ["", "/hakuriver", "/lab/hakuriver", "/a-b_c.d~"] {
            assert!(is_base_path(ok), "{ok}");
        }
        for bad in ["/", "hakuriver", "/x/", "/a//b", "/../x", "/a b", "/a?b", "/<script>"] {
            assert!(!is_base_path(bad), "{bad}");
        }
    }

    #[test]
    fn public_hosts_are_names() {
        for ok in ["cluster.lab.org", "gpu-01", "lab.org."] {
            assert!(is_host_name(ok), "{ok}");
        }
        for bad in ["", "a b", "http://x", "x:80", "a..b", "x/y"] {
            assert!(!is_host_name(bad), "{bad}");
        }
    }

    #[test]
    fn origins_are_scheme_and_authority() {
        for ok in ["https://cluster.example.org", "http://10.0.0.1:8000", "http://[::1]:80"] {
            assert!(is_origin(ok), "{ok}");
        }
        for bad in ["cluster.example.org", "https://", "https://x/", "https://a@b", "ftp://x", "https://a b"] {
            assert!(!is_origin(bad), "{bad}");
        }
    }
}
