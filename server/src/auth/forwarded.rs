//! Who a request came from behind a reverse proxy: `X-Forwarded-For`, believed only from the
//! proxies the configuration trusts (`auth.trusted_proxies`).

use std::net::{IpAddr, SocketAddr};

use hakuriver_config::IpNet;

/// The client of a request from `peer` carrying the `X-Forwarded-For` values `forwarded_for`.
///
/// From a peer that is not a trusted proxy the header is ignored (a client could name any
/// address). From a trusted one, the hops are read from the nearest (rightmost) back: the first
/// address that is not itself a trusted proxy is the client. A hop that is not an address ends
/// the walk at the last proxy, which is then the best that is known.
pub fn client_ip(peer: IpAddr, forwarded_for: &[&str], trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut nearest = peer;
    for hop in forwarded_for.iter().rev().flat_map(|value| value.rsplit(',')) {
        let Some(ip) = address(hop.trim()) else { return nearest };
        if !is_trusted(ip) {
            return ip;
        }
        nearest = ip;
    }
    nearest
}

/// `10.0.0.1`, `10.0.0.1:5555`, `2001:db8::1` or `[2001:db8::1]:5555`.
fn address(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn the_header_counts_only_from_trusted_proxies() {
        let proxy = nets(&["127.0.0.1"]);
        assert_eq!(client_ip(ip("203.0.113.9"), &["10.9.9.9"], &proxy), ip("203.0.113.9"), "untrusted peer");
        assert_eq!(client_ip(ip("127.0.0.1"), &["203.0.113.9"], &proxy), ip("203.0.113.9"));
        assert_eq!(client_ip(ip("127.0.0.1"), &["203.0.113.9"], &[]), ip("127.0.0.1"), "nothing trusted");
        assert_eq!(client_ip(ip("127.0.0.1"), &[], &proxy), ip("127.0.0.1"), "no header");
    }

    #[test]
    fn the_nearest_untrusted_hop_is_the_client() {
        let proxies = nets(&["127.0.0.1", "10.0.0.0/8"]);
        // nginx appends the address it saw: whatever the client wrote comes first and is skipped.
        let chain = ["198.51.100.1, 203.0.113.9, 10.1.1.1"];
        assert_eq!(client_ip(ip("127.0.0.1"), &chain, &proxies), ip("203.0.113.9"));
        // The same hops over several header lines.
        let lines = ["198.51.100.1", "203.0.113.9", "10.1.1.1"];
        assert_eq!(client_ip(ip("127.0.0.1"), &lines, &proxies), ip("203.0.113.9"));
        // Every hop a proxy: the farthest proxy is all that is known.
        assert_eq!(client_ip(ip("127.0.0.1"), &["10.2.2.2, 10.1.1.1"], &proxies), ip("10.2.2.2"));
        // Ports and IPv6 forms.
        assert_eq!(client_ip(ip("127.0.0.1"), &["203.0.113.9:5555"], &proxies), ip("203.0.113.9"));
        assert_eq!(client_ip(ip("127.0.0.1"), &["[2001:db8::7]:80"], &proxies), ip("2001:db8::7"));
        assert_eq!(client_ip(ip("::ffff:127.0.0.1"), &["2001:db8::7"], &proxies), ip("2001:db8::7"));
    }

    #[test]
    fn a_hop_that_is_not_an_address_stops_at_the_last_proxy() {
        let proxies = nets(&["127.0.0.1", "10.0.0.0/8"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &["203.0.113.9, unknown, 10.1.1.1"], &proxies), ip("10.1.1.1"));
        assert_eq!(client_ip(ip("127.0.0.1"), &["garbage"], &proxies), ip("127.0.0.1"));
        assert_eq!(client_ip(ip("127.0.0.1"), &["203.0.113.9, "], &proxies), ip("127.0.0.1"));
    }
}
