//! Address ranges in the configuration (`auth.trusted_proxies`): one IP address, or a CIDR block.

use std::net::IpAddr;

/// An IP address or a CIDR block (`10.0.0.0/8`, `fd00::/8`); a bare address is a block of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for IpNet {
    type Err = String;

    fn from_str(text: &str) -> Result<IpNet, String> {
        let bad = || format!("{text:?} is not an IP address or a CIDR block like \"10.0.0.0/8\"");
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
        };
        // An IPv4 block written as IPv6 (`::ffff:10.0.0.0/104`) is kept as the IPv4 block.
        match addr {
            IpAddr::V6(v6) if prefix >= 96 && v6.to_ipv4_mapped().is_some() => {
                Ok(IpNet { addr: plain(addr), prefix: prefix - 96 })
            }
            _ => Ok(IpNet { addr, prefix }),
        }
    }
}

impl TryFrom<String> for IpNet {
    type Error = String;

    fn try_from(text: String) -> Result<IpNet, String> {
        text.parse()
    }
}

impl IpNet {
    /// Whether `ip` is in the block. An IPv4 address written as IPv6 (`::ffff:10.0.0.1`, as a
    /// dual-stack listener reports IPv4 peers) counts as the IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, plain(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                same_prefix(u128::from(u32::from(net)) << 96, u128::from(u32::from(ip)) << 96, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => same_prefix(u128::from(net), u128::from(ip), self.prefix),
            _ => false,
        }
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address; any other address as it is.
fn plain(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether the first `prefix` bits of `a` and `b` agree.
fn same_prefix(a: u128, b: u128, prefix: u8) -> bool {
    (a ^ b).checked_shr(128 - u32::from(prefix)).unwrap_or(0) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn blocks_contain_their_addresses() {
        assert!(net("127.0.0.1").contains(ip("127.0.0.1")));
        assert!(!net("127.0.0.1").contains(ip("127.0.0.2")));
        assert!(net("10.0.0.0/8").contains(ip("10.255.1.2")));
        assert!(!net("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(net("172.16.0.0/12").contains(ip("172.31.255.255")));
        assert!(!net("172.16.0.0/12").contains(ip("172.32.0.0")));
        assert!(net("0.0.0.0/0").contains(ip("8.8.8.8")));
        assert!(!net("0.0.0.0/0").contains(ip("::1")), "an IPv4 block holds no IPv6 address");
        assert!(net("fd00::/8").contains(ip("fd12::1")));
        assert!(!net("fd00::/8").contains(ip("fe80::1")));
        assert!(net("::1").contains(ip("::1")));
        assert!(net("127.0.0.1").contains(ip("::ffff:127.0.0.1")), "IPv4-mapped peers count as IPv4");
        assert!(net("::ffff:10.0.0.0/104").contains(ip("10.1.2.3")));
    }

    #[test]
    fn bad_blocks_are_refused_with_the_text() {
        for bad in ["", "10.0.0", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "host.example", " 10.0.0.1"] {
            let err = bad.parse::<IpNet>().unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
        }
    }
}
