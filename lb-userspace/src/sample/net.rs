//! Address helpers shared by converters (`ipmask`) and ACL `ip` patterns.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Extracts the IPv4 address carried by an IPv6 one, as HAProxy's `v6tov4`: the
/// IPv4-mapped range `::ffff:0:0/96` and the 6to4 range `2002::/16`.
pub fn v6_to_v4(v6: &Ipv6Addr) -> Option<Ipv4Addr> {
    let o = v6.octets();
    if o[..10].iter().all(|&b| b == 0) && o[10] == 0xff && o[11] == 0xff {
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if o[0] == 0x20 && o[1] == 0x02 {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

/// Parses an IPv4 mask given as a number of bits (`24`) or in dotted form
/// (`255.255.255.0`).
pub fn parse_mask4(text: &str) -> Option<u32> {
    if let Ok(bits) = text.parse::<u32>() {
        return prefix_mask4(bits);
    }
    text.parse::<Ipv4Addr>().ok().map(u32::from)
}

/// Parses an IPv6 mask given as a number of bits (`64`) or as an address (`ffff:ffff::`).
pub fn parse_mask6(text: &str) -> Option<u128> {
    if let Ok(bits) = text.parse::<u32>() {
        return prefix_mask6(bits);
    }
    text.parse::<Ipv6Addr>().ok().map(u128::from)
}

/// The IPv4 mask with `bits` leading ones.
pub fn prefix_mask4(bits: u32) -> Option<u32> {
    match bits {
        0 => Some(0),
        1..=32 => Some(u32::MAX << (32 - bits)),
        _ => None,
    }
}

/// The IPv6 mask with `bits` leading ones.
pub fn prefix_mask6(bits: u32) -> Option<u128> {
    match bits {
        0 => Some(0),
        1..=128 => Some(u128::MAX << (128 - bits)),
        _ => None,
    }
}

/// An address with a mask (`10.0.0.0/8`, `2001:db8::/32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpNet {
    /// An IPv4 network; `addr` is already masked.
    V4 {
        /// Network address.
        addr: u32,
        /// Mask.
        mask: u32,
    },
    /// An IPv6 network; `addr` is already masked.
    V6 {
        /// Network address.
        addr: u128,
        /// Mask.
        mask: u128,
    },
}

impl IpNet {
    /// Parses `ADDR[/MASK]`: IPv4 with a bit count or a dotted mask, IPv6 with a bit
    /// count or an address-form mask. Without a mask the network is the single address.
    pub fn parse(text: &str) -> Option<Self> {
        let (addr, mask) = match text.split_once('/') {
            Some((a, m)) => (a, Some(m)),
            None => (text, None),
        };
        match addr.parse::<IpAddr>().ok()? {
            IpAddr::V4(v4) => {
                let mask = match mask {
                    Some(m) => parse_mask4(m)?,
                    None => u32::MAX,
                };
                Some(Self::V4 {
                    addr: u32::from(v4) & mask,
                    mask,
                })
            }
            IpAddr::V6(v6) => {
                let mask = match mask {
                    Some(m) => parse_mask6(m)?,
                    None => u128::MAX,
                };
                Some(Self::V6 {
                    addr: u128::from(v6) & mask,
                    mask,
                })
            }
        }
    }

    /// Whether `ip` is in this network, with HAProxy's cross-family rules: an IPv4
    /// address also matches IPv6 networks as `::ffff:a.b.c.d`, and an IPv6 address that
    /// carries an IPv4 one (mapped or 6to4) also matches IPv4 networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self, ip) {
            (Self::V4 { addr, mask }, IpAddr::V4(v4)) => u32::from(v4) & mask == *addr,
            (Self::V6 { addr, mask }, IpAddr::V6(v6)) => u128::from(v6) & mask == *addr,
            (Self::V6 { addr, mask }, IpAddr::V4(v4)) => {
                u128::from(v4.to_ipv6_mapped()) & mask == *addr
            }
            (Self::V4 { addr, mask }, IpAddr::V6(v6)) => {
                v6_to_v4(&v6).is_some_and(|v4| u32::from(v4) & mask == *addr)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn masks() {
        assert_eq!(parse_mask4("24"), Some(0xffff_ff00));
        assert_eq!(parse_mask4("255.255.0.0"), Some(0xffff_0000));
        assert_eq!(parse_mask4("0"), Some(0));
        assert_eq!(parse_mask4("33"), None);
        assert_eq!(parse_mask4("x"), None);
        assert_eq!(parse_mask6("64"), Some(u128::MAX << 64));
        assert_eq!(parse_mask6("ffff::"), Some(0xffff << 112));
        assert_eq!(parse_mask6("129"), None);
    }

    #[test]
    fn v4_networks() {
        let net = IpNet::parse("10.0.0.0/8").unwrap();
        assert!(net.contains(ip("10.200.1.1")));
        assert!(!net.contains(ip("11.0.0.1")));
        let dotted = IpNet::parse("192.168.1.77/255.255.255.0").unwrap();
        assert!(dotted.contains(ip("192.168.1.1")));
        let host = IpNet::parse("1.2.3.4").unwrap();
        assert!(host.contains(ip("1.2.3.4")));
        assert!(!host.contains(ip("1.2.3.5")));
        // Mapped and 6to4 IPv6 addresses match IPv4 networks.
        assert!(net.contains(ip("::ffff:10.1.1.1")));
        assert!(net.contains(ip("2002:0a01:0101::1")));
        assert!(!net.contains(ip("2001:db8::1")));
    }

    #[test]
    fn v6_networks() {
        let net = IpNet::parse("2001:db8::/32").unwrap();
        assert!(net.contains(ip("2001:db8:1::5")));
        assert!(!net.contains(ip("2001:db9::5")));
        let lo = IpNet::parse("::1").unwrap();
        assert!(lo.contains(ip("::1")));
        // IPv4 addresses match IPv6 networks through their mapped form.
        let mapped = IpNet::parse("::ffff:10.0.0.0/104").unwrap();
        assert!(mapped.contains(ip("10.9.9.9")));
        assert!(!mapped.contains(ip("11.9.9.9")));
    }

    #[test]
    fn bad_networks() {
        assert_eq!(IpNet::parse("10.0.0/8"), None);
        assert_eq!(IpNet::parse("10.0.0.0/40"), None);
        assert_eq!(IpNet::parse("example.com"), None);
        assert_eq!(IpNet::parse("::1/200"), None);
    }
}
