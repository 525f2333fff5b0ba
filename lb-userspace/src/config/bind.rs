//! `bind ADDR[,ADDR...] [name NAME] [accept-proxy] [steer POLICY]`: listening addresses;
//! elements with a port range or an address prefix (`127.0.0.0/24:8000-8999`) are kept as
//! ranges, for `sk_lookup` (or expanded into one socket per port when eBPF is unavailable).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use super::addr::{self, Prefix};
use super::error::{ConfigError, did_you_mean};
use super::keywords;
use super::line::Line;
use super::model::{Bind, BindAddr, BindRange, SteerPolicy};

/// Longest unix socket path: `sun_path` holds 108 bytes including the trailing NUL.
pub(crate) const MAX_UNIX_PATH: usize = 107;

/// The bind options we implement.
const SUPPORTED: &[&str] = &["accept-proxy", "name", "steer"];

/// One element of the comma-separated list.
enum Element {
    Addr(BindAddr),
    Range(BindRange),
}

/// Parses a whole `bind` line.
pub(crate) fn parse_bind(line: &Line) -> Result<Bind, ConfigError> {
    let spec = line.required(
        1,
        "bind",
        "{<path>|[addr1]:port1[-end1]}{,[addr]:port[-end]}... as arguments",
    )?;
    let mut addrs = Vec::new();
    let mut ranges = Vec::new();
    for one in spec.split(',') {
        match parse_one(one).map_err(|reason| line.invalid("bind", reason))? {
            Element::Addr(a) => addrs.push(a),
            Element::Range(r) => ranges.push(r),
        }
    }
    let mut bind = Bind {
        addrs,
        name: None,
        accept_proxy: false,
        location: line.loc.clone(),
        ranges,
        steer: SteerPolicy::default(),
    };
    parse_options(line, spec, &mut bind)?;
    Ok(bind)
}

fn parse_options(line: &Line, spec: &str, bind: &mut Bind) -> Result<(), ConfigError> {
    let context = format!("bind {spec}");
    let mut i = 2;
    while let Some(opt) = line.arg(i) {
        i += match opt {
            "name" => {
                bind.name = Some(
                    line.required(i + 1, &format!("{context} name"), "a name")?
                        .to_owned(),
                );
                2
            }
            // Connections must start with a PROXY protocol v1 or v2 header.
            "accept-proxy" => {
                bind.accept_proxy = true;
                1
            }
            "steer" => {
                let ctx = format!("{context} steer");
                let policy = line.required(i + 1, &ctx, "'hash', 'least-loaded' or 'cpu'")?;
                bind.steer = parse_policy(policy).ok_or_else(|| {
                    line.invalid(
                        &ctx,
                        format!(
                            "unknown policy '{policy}' (expects 'hash', 'least-loaded' or 'cpu')"
                        ),
                    )
                })?;
                2
            }
            _ => return Err(unknown_option(line, &context, opt)),
        };
    }
    Ok(())
}

fn unknown_option(line: &Line, context: &str, opt: &str) -> ConfigError {
    if let Some(feature) = keywords::feature(keywords::BIND, opt) {
        return line.unsupported(opt, feature);
    }
    let candidates = SUPPORTED
        .iter()
        .copied()
        .chain(keywords::names(keywords::BIND));
    line.invalid(context, format!("unknown keyword '{opt}'"))
        .with_suggestion(did_you_mean(opt, candidates))
}

fn parse_policy(text: &str) -> Option<SteerPolicy> {
    match text {
        "hash" => Some(SteerPolicy::Hash),
        "least-loaded" => Some(SteerPolicy::LeastLoaded),
        "cpu" => Some(SteerPolicy::Cpu),
        _ => None,
    }
}

/// Parses one comma-separated element: an address, or a prefix and/or port range.
fn parse_one(text: &str) -> Result<Element, String> {
    if text.is_empty() {
        return Err("empty address in the list".into());
    }
    let (prefix, rest) = addr::split_prefix(text)
        .map_err(|p| format!("address family '{p}@' is not supported yet"))?;
    match prefix {
        Prefix::Unix => unix_path(rest).map(Element::Addr),
        Prefix::Ip(_) if rest.starts_with('/') => unix_path(rest).map(Element::Addr),
        Prefix::Ip(family) => {
            let (host, port) = addr::split_host_port(rest)?;
            let port = port
                .filter(|p| !p.is_empty())
                .ok_or_else(|| format!("missing port number: '{text}'"))?;
            let (host, prefix_len) = match host.split_once('/') {
                Some((h, len)) => (h, Some(len)),
                None => (host, None),
            };
            let ip = addr::resolve_host(host, family)?;
            let (first, last) = port_range(port)?;
            let full = if ip.is_ipv4() { 32 } else { 128 };
            let prefix_len = match prefix_len {
                None => full,
                Some(len) => match len.parse::<u8>() {
                    Ok(n) if n <= full => n,
                    _ => return Err(format!("invalid prefix length '/{len}' in '{text}'")),
                },
            };
            if prefix_len == full && first == last {
                return Ok(Element::Addr(BindAddr::Tcp(SocketAddr::new(ip, first))));
            }
            Ok(Element::Range(BindRange {
                addr: mask(ip, prefix_len),
                prefix_len,
                first_port: first,
                last_port: last,
            }))
        }
        Prefix::Udp(_) => Err(format!(
            "'{text}' : UDP addresses cannot be used by a TCP listener"
        )),
    }
}

/// `ip` with the bits past `len` cleared.
fn mask(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let m = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(v4.to_bits() & m))
        }
        IpAddr::V6(v6) => {
            let m = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(v6.to_bits() & m))
        }
    }
}

impl BindRange {
    /// Whether the range covers every local address (`:8000-8010`, `0.0.0.0/0`, `::/0`): a
    /// single wildcard socket per port then stands for all of them.
    pub fn is_wildcard(&self) -> bool {
        self.prefix_len == 0 || (self.addr.is_unspecified() && self.is_single_address())
    }

    /// Whether the prefix is one address.
    pub fn is_single_address(&self) -> bool {
        u32::from(self.prefix_len) == if self.addr.is_ipv4() { 32 } else { 128 }
    }

    /// How many addresses one socket per address needs (a wildcard counts as one).
    pub fn address_count(&self) -> u128 {
        if self.is_wildcard() {
            return 1;
        }
        let host_bits = if self.addr.is_ipv4() { 32 } else { 128 } - u32::from(self.prefix_len);
        1u128.checked_shl(host_bits).unwrap_or(u128::MAX)
    }

    /// How many sockets (per worker) it takes without `sk_lookup`.
    pub fn socket_count(&self) -> u128 {
        self.address_count()
            .saturating_mul(u128::from(self.last_port - self.first_port) + 1)
    }

    /// Every address:port, when [`Self::socket_count`] is small enough to bind them all.
    pub fn expand(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        let count = self.address_count();
        let wildcard = self.is_wildcard();
        (0..count).flat_map(move |i| {
            let ip = if wildcard {
                self.addr
            } else {
                nth(self.addr, i)
            };
            (self.first_port..=self.last_port).map(move |p| SocketAddr::new(ip, p))
        })
    }

    /// The address the range's own socket binds: the first address (the wildcard for a
    /// wildcard range) and the first port.
    pub fn first(&self) -> SocketAddr {
        SocketAddr::new(self.addr, self.first_port)
    }
}

impl std::fmt::Display for BindRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ports = if self.first_port == self.last_port {
            self.first_port.to_string()
        } else {
            format!("{}-{}", self.first_port, self.last_port)
        };
        match (self.addr, self.is_single_address()) {
            (IpAddr::V4(a), true) => write!(f, "{a}:{ports}"),
            (IpAddr::V6(a), true) => write!(f, "[{a}]:{ports}"),
            (IpAddr::V4(a), false) => write!(f, "{a}/{}:{ports}", self.prefix_len),
            (IpAddr::V6(a), false) => write!(f, "[{a}/{}]:{ports}", self.prefix_len),
        }
    }
}

/// The `i`-th address from `base`.
fn nth(base: IpAddr, i: u128) -> IpAddr {
    match base {
        IpAddr::V4(v4) => {
            let off = u32::try_from(i).unwrap_or(u32::MAX);
            IpAddr::V4(Ipv4Addr::from(v4.to_bits().wrapping_add(off)))
        }
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(v6.to_bits().wrapping_add(i))),
    }
}

fn unix_path(path: &str) -> Result<BindAddr, String> {
    if path.is_empty() {
        return Err("empty unix socket path".into());
    }
    if path.len() > MAX_UNIX_PATH {
        return Err(format!(
            "socket path '{path}' too long (max {MAX_UNIX_PATH})"
        ));
    }
    Ok(BindAddr::Unix(PathBuf::from(path)))
}

/// `80` or `8000-8010`.
fn port_range(text: &str) -> Result<(u16, u16), String> {
    let (first, last) = match text.split_once('-') {
        Some((a, b)) => (addr::parse_port(a)?, addr::parse_port(b)?),
        None => {
            let p = addr::parse_port(text)?;
            (p, p)
        }
    };
    if last < first {
        return Err(format!("invalid port range '{text}'"));
    }
    Ok((first, last))
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::config::model::Location;

    fn bind(text: &str) -> Result<Bind, String> {
        let words = text.split_whitespace().map(str::to_owned).collect();
        parse_bind(&Line::new(Location::default(), words)).map_err(|e| e.message())
    }

    fn tcp(ip: IpAddr, port: u16) -> BindAddr {
        BindAddr::Tcp(SocketAddr::new(ip, port))
    }

    const ANY4: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    const LO4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    const LO6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
    const ANY6: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

    #[test]
    fn address_forms() {
        let addrs = |t: &str| bind(t).map(|b| b.addrs);
        assert_eq!(addrs("bind 127.0.0.1:80"), Ok(vec![tcp(LO4, 80)]));
        assert_eq!(addrs("bind :80"), Ok(vec![tcp(ANY4, 80)]));
        assert_eq!(addrs("bind *:80"), Ok(vec![tcp(ANY4, 80)]));
        assert_eq!(addrs("bind [::1]:80"), Ok(vec![tcp(LO6, 80)]));
        assert_eq!(addrs("bind :::80"), Ok(vec![tcp(ANY6, 80)]));
        assert_eq!(addrs("bind ipv6@:80"), Ok(vec![tcp(ANY6, 80)]));
        assert_eq!(addrs("bind ipv4@127.0.0.1:80"), Ok(vec![tcp(LO4, 80)]));
        assert_eq!(addrs("bind ipv4@localhost:80"), Ok(vec![tcp(LO4, 80)]));
    }

    fn range(addr: IpAddr, prefix_len: u8, first_port: u16, last_port: u16) -> BindRange {
        BindRange {
            addr,
            prefix_len,
            first_port,
            last_port,
        }
    }

    #[test]
    fn lists_and_ranges() {
        let b = bind("bind 127.0.0.1:80,[::1]:81,:8000-8002").unwrap();
        assert_eq!(b.addrs, vec![tcp(LO4, 80), tcp(LO6, 81)]);
        assert_eq!(b.ranges, vec![range(ANY4, 32, 8000, 8002)]);
        let r = b.ranges[0];
        assert!(r.is_wildcard());
        assert_eq!(r.socket_count(), 3);
        let all: Vec<_> = r.expand().collect();
        assert_eq!(
            all,
            vec![
                SocketAddr::new(ANY4, 8000),
                SocketAddr::new(ANY4, 8001),
                SocketAddr::new(ANY4, 8002)
            ]
        );
        assert_eq!(r.first(), SocketAddr::new(ANY4, 8000));
        let v6 = bind("bind :::9000-9001").unwrap().ranges;
        assert_eq!(v6, vec![range(ANY6, 128, 9000, 9001)]);
        assert_eq!(v6[0].socket_count(), 2);
        // A one-port "range" is a plain address.
        assert_eq!(
            bind("bind :80-80").map(|b| b.addrs),
            Ok(vec![tcp(ANY4, 80)])
        );
    }

    #[test]
    fn prefixes() {
        let b = bind("bind 127.0.0.9/24:8000-8999").unwrap();
        let net = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0));
        assert_eq!(b.ranges, vec![range(net, 24, 8000, 8999)]);
        let r = b.ranges[0];
        assert!(!r.is_wildcard());
        assert_eq!(r.address_count(), 256);
        assert_eq!(r.socket_count(), 256_000);
        assert_eq!(r.to_string(), "127.0.0.0/24:8000-8999");
        let small = bind("bind 127.0.0.4/31:80").unwrap().ranges[0];
        let all: Vec<_> = small.expand().map(|a| a.to_string()).collect();
        assert_eq!(all, ["127.0.0.4:80", "127.0.0.5:80"]);
        // A full-length prefix with one port is one address.
        assert_eq!(
            bind("bind 127.0.0.1/32:80").map(|b| b.addrs),
            Ok(vec![tcp(LO4, 80)])
        );
        let v6 = bind("bind [2001:db8::1/64]:443").unwrap().ranges[0];
        assert_eq!(v6.to_string(), "[2001:db8::/64]:443");
        assert_eq!(v6.address_count(), 1 << 64);
        assert_eq!(
            bind("bind 127.0.0.1/33:80").unwrap_err(),
            "'bind' : invalid prefix length '/33' in '127.0.0.1/33:80'"
        );
        assert_eq!(
            bind("bind 0.0.0.0/0:80").map(|b| b.ranges[0].is_wildcard()),
            Ok(true)
        );
    }

    #[test]
    fn steer_option() {
        let steer = |t: &str| bind(t).map(|b| b.steer);
        assert_eq!(steer("bind :80"), Ok(SteerPolicy::Hash));
        assert_eq!(steer("bind :80 steer hash"), Ok(SteerPolicy::Hash));
        assert_eq!(
            steer("bind :80 steer least-loaded name x"),
            Ok(SteerPolicy::LeastLoaded)
        );
        assert_eq!(
            steer("bind :80 accept-proxy steer cpu"),
            Ok(SteerPolicy::Cpu)
        );
        assert_eq!(
            bind("bind :80 steer").unwrap_err(),
            "'bind :80 steer' expects 'hash', 'least-loaded' or 'cpu'"
        );
        assert_eq!(
            bind("bind :80 steer random").unwrap_err(),
            "'bind :80 steer' : unknown policy 'random' (expects 'hash', 'least-loaded' or 'cpu')"
        );
    }

    #[test]
    fn unix_sockets() {
        let want = Ok(vec![BindAddr::Unix(PathBuf::from("/run/lb.sock"))]);
        assert_eq!(bind("bind /run/lb.sock").map(|b| b.addrs), want);
        assert_eq!(bind("bind unix@/run/lb.sock").map(|b| b.addrs), want);
        let long = format!("bind /{}", "x".repeat(107));
        assert_eq!(
            bind(&long).unwrap_err(),
            format!(
                "'bind' : socket path '/{}' too long (max 107)",
                "x".repeat(107)
            )
        );
        assert!(bind(&format!("bind /{}", "x".repeat(106))).is_ok());
    }

    #[test]
    fn name_option() {
        let b = bind("bind :80 name web");
        assert_eq!(b.map(|b| b.name), Ok(Some("web".to_owned())));
        assert_eq!(
            bind("bind :80 name").unwrap_err(),
            "'bind :80 name' expects a name"
        );
    }

    #[test]
    fn accept_proxy_option() {
        let flag = |t: &str| bind(t).map(|b| (b.accept_proxy, b.name));
        assert_eq!(flag("bind :80"), Ok((false, None)));
        assert_eq!(flag("bind :80 accept-proxy"), Ok((true, None)));
        assert_eq!(
            flag("bind :80 accept-proxy name web"),
            Ok((true, Some("web".to_owned())))
        );
        assert_eq!(
            flag("bind :80 name web accept-proxy"),
            Ok((true, Some("web".to_owned())))
        );
        assert_eq!(
            bind("bind :80 accept-prxy").unwrap_err(),
            "'bind :80' : unknown keyword 'accept-prxy'; did you mean 'accept-proxy' maybe ?"
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            bind("bind").unwrap_err(),
            "'bind' expects {<path>|[addr1]:port1[-end1]}{,[addr]:port[-end]}... as arguments"
        );
        assert_eq!(
            bind("bind 127.0.0.1").unwrap_err(),
            "'bind' : missing port number: '127.0.0.1'"
        );
        assert_eq!(bind("bind :0").unwrap_err(), "'bind' : invalid port '0'");
        assert_eq!(
            bind("bind :90-80").unwrap_err(),
            "'bind' : invalid port range '90-80'"
        );
        assert_eq!(
            bind("bind :80,").unwrap_err(),
            "'bind' : empty address in the list"
        );
        assert_eq!(
            bind("bind abns@x").unwrap_err(),
            "'bind' : address family 'abns@' is not supported yet"
        );
        assert_eq!(
            bind("bind :443 ssl crt /x.pem").unwrap_err(),
            "keyword 'ssl' is not supported yet (comes with SSL/TLS)"
        );
        assert_eq!(
            bind("bind :80 nmae x").unwrap_err(),
            "'bind :80' : unknown keyword 'nmae'; did you mean 'name' maybe ?"
        );
    }
}
