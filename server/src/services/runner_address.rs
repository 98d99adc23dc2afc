//! Where the host will call a runner: a registration's `runner_url` must point at the address
//! the runner connected from (or at a block of `[network] runner_networks`), so that holding the
//! runner token does not turn dispatch, relayed terminals or the SSH proxy into a way to reach
//! other addresses from the host. A runner on the host's own machine (a loopback peer) may name
//! any loopback address.

use std::net::IpAddr;

use hakuriver_config::IpNet;

/// An IPv4-mapped IPv6 address as the IPv4 address.
fn plain(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether a runner connecting from `peer` may be called at every one of `resolved` (the
/// addresses its URL's host names).
pub fn allowed(resolved: &[IpAddr], peer: IpAddr, networks: &[IpNet]) -> bool {
    let peer = plain(peer);
    !resolved.is_empty()
        && resolved
            .iter()
            .map(|&ip| plain(ip))
            .all(|ip| ip == peer || (peer.is_loopback() && ip.is_loopback()) || networks.iter().any(|n| n.contains(ip)))
}

/// Checks `url` for a runner connecting from `peer`, resolving a host name: the reason when
/// it may not be used.
pub async fn check(url: &str, peer: IpAddr, networks: &[IpNet]) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("invalid runner_url {url:?}: {e}"))?;
    let host = parsed.host_str().ok_or_else(|| format!("invalid runner_url {url:?}: no host"))?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    let resolved: Vec<IpAddr> = match host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("runner_url {url:?}: cannot resolve {host}: {e}"))?
            .map(|a| a.ip())
            .collect(),
    };
    if allowed(&resolved, peer, networks) {
        Ok(())
    } else {
        Err(format!(
            "runner_url {url:?} is not the address this runner connects from ({peer}); \
             set network.runner_address to it, or add the address to the host's [network] runner_networks"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_the_peer_its_networks_or_loopback_from_loopback() {
        let nets: Vec<IpNet> = vec!["10.1.0.0/16".parse().unwrap()];
        assert!(allowed(&[ip("192.168.1.5")], ip("192.168.1.5"), &[]));
        assert!(allowed(&[ip("192.168.1.5")], ip("::ffff:192.168.1.5"), &[]));
        assert!(!allowed(&[ip("192.168.1.6")], ip("192.168.1.5"), &[]), "another machine");
        assert!(!allowed(&[ip("127.0.0.1")], ip("192.168.1.5"), &[]), "the host's own loopback");
        assert!(!allowed(&[ip("169.254.169.254")], ip("192.168.1.5"), &[]), "a metadata service");
        assert!(allowed(&[ip("10.1.2.3")], ip("192.168.1.5"), &nets));
        assert!(allowed(&[ip("127.0.1.1")], ip("127.0.0.1"), &[]));
        assert!(!allowed(&[ip("10.9.9.9")], ip("127.0.0.1"), &[]), "loopback peers name loopback only");
        assert!(!allowed(&[ip("192.168.1.5"), ip("10.9.9.9")], ip("192.168.1.5"), &[]), "every address");
        assert!(!allowed(&[], ip("192.168.1.5"), &[]));
    }

    #[tokio::test]
    async fn urls_are_parsed_and_names_resolved() {
        assert!(check("http://127.0.0.1:8001", ip("127.0.0.1"), &[]).await.is_ok());
        assert!(check("http://[::1]:8001", ip("::1"), &[]).await.is_ok());
        assert!(check("http://localhost:8001", ip("127.0.0.1"), &[]).await.is_ok());
        let e = check("http://10.0.0.9:8001", ip("10.0.0.8"), &[]).await.unwrap_err();
        assert!(e.contains("runner_networks"), "{e}");
        assert!(check("not a url", ip("127.0.0.1"), &[]).await.is_err());
    }
}
