//! Our own keywords for the XDP L4 fast path, in `backend` and `listen` sections:
//!
//! ```text
//! backend be_fast
//!     mode tcp
//!     option xdp-forward                  # balance this service's packets in XDP
//!     xdp-forward-method dsr|nat          # IPIP encapsulation (default) or NAT
//!     xdp-forward-source 192.0.2.1        # outer source of IPIP packets (one per family)
//!     server s1 10.0.0.1:80 weight 2
//!     server s2 10.0.0.2:80 backup
//! ```
//!
//! The VIPs are the `bind` addresses of the frontends that use the backend. The checks
//! here refuse what XDP cannot do the way the configuration says (HTTP mode, unix binds,
//! wildcard binds, rules the fast path would bypass, mixed address families).

use std::net::IpAddr;

use super::draft::ProxyDraft;
use super::error::{ConfigError, ConfigErrors, ErrorKind};
use super::line::{Line, Modifier};
use super::model::{BindAddr, Config, Location, Mode};
use super::proxy::{Cap, require};

/// How the fast path reaches the servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XdpForwardMethod {
    /// IPIP / IPv6-in-IPv6 encapsulation; servers answer clients directly (Katran's model).
    #[default]
    Dsr,
    /// Destination rewritten to the server; replies rewritten back by a TC program.
    Nat,
}

/// The fast-path settings of one backend (`option xdp-forward`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XdpForward {
    /// The backend's name.
    pub backend: String,
    /// `xdp-forward-method`.
    pub method: XdpForwardMethod,
    /// `xdp-forward-source` addresses.
    pub sources: Vec<IpAddr>,
    /// Where `option xdp-forward` is.
    pub location: Location,
}

/// What a proxy section said about the fast path while it is parsed.
#[derive(Debug, Clone, Default)]
pub(crate) struct XdpForwardDraft {
    /// `option xdp-forward`, where.
    pub enabled: Option<Location>,
    /// `xdp-forward-method`.
    pub method: XdpForwardMethod,
    /// `xdp-forward-source`.
    pub sources: Vec<IpAddr>,
}

/// `[no] option xdp-forward`.
pub(crate) fn parse_option(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    require(px, line, "option xdp-forward", Cap::Backend)?;
    line.max_args(1, "option xdp-forward")?;
    px.xdp_forward.enabled = (line.modifier == Modifier::None).then(|| line.loc.clone());
    Ok(())
}

/// `xdp-forward-method` and `xdp-forward-source`; `None` for other keywords.
pub(crate) fn parse_keyword(px: &mut ProxyDraft, line: &Line) -> Option<Result<(), ConfigError>> {
    let kw = line.kw();
    let parse = |px: &mut ProxyDraft| -> Result<(), ConfigError> {
        require(px, line, kw, Cap::Backend)?;
        let value = line.required(1, kw, "an argument")?;
        line.max_args(1, kw)?;
        if kw == "xdp-forward-method" {
            px.xdp_forward.method = match value {
                "dsr" => XdpForwardMethod::Dsr,
                "nat" => XdpForwardMethod::Nat,
                other => return Err(line.bad_value(kw, other, "expects 'dsr' or 'nat'")),
            };
            return Ok(());
        }
        let addr: IpAddr = value
            .parse()
            .map_err(|_| line.bad_value(kw, value, "expects an IPv4 or IPv6 address"))?;
        if addr.is_unspecified() || addr.is_multicast() {
            return Err(line.bad_value(kw, value, "must be a unicast address of this host"));
        }
        if px
            .xdp_forward
            .sources
            .iter()
            .any(|a| a.is_ipv4() == addr.is_ipv4())
        {
            return Err(line.invalid(kw, "one source per address family"));
        }
        px.xdp_forward.sources.push(addr);
        Ok(())
    };
    matches!(kw, "xdp-forward-method" | "xdp-forward-source").then(|| parse(px))
}

/// Builds the fast-path services of the configuration and checks them; problems are
/// appended to `errors`.
pub(crate) fn build(
    proxies: &[ProxyDraft],
    config: &Config,
    errors: &mut ConfigErrors,
) -> Vec<XdpForward> {
    let mut out = Vec::new();
    for px in proxies.iter().filter(|p| p.kind.backend()) {
        let Some(location) = px.xdp_forward.enabled.clone() else {
            continue;
        };
        let fwd = XdpForward {
            backend: px.name.clone(),
            method: px.xdp_forward.method,
            sources: px.xdp_forward.sources.clone(),
            location,
        };
        if let Err(why) = check(&fwd, config) {
            let kind = ErrorKind::Invalid {
                keyword: "option xdp-forward".into(),
                reason: format!("backend '{}': {why}", fwd.backend),
            };
            errors.push(ConfigError::new(fwd.location.clone(), kind));
            continue;
        }
        out.push(fwd);
    }
    out
}

/// Why `fwd` cannot run in XDP.
fn check(fwd: &XdpForward, config: &Config) -> Result<(), String> {
    let Some(backend) = config.backend(&fwd.backend) else {
        return Err("no such backend".into());
    };
    if backend.mode != Mode::Tcp {
        return Err("requires 'mode tcp' (XDP forwards packets, it cannot do HTTP)".into());
    }
    if config.xdp.as_ref().is_none_or(|x| x.interfaces.is_empty()) {
        return Err(
            "needs an 'xdp' section naming the interface that receives the VIP traffic".into(),
        );
    }
    let frontends: Vec<_> = config
        .frontends
        .iter()
        .filter(|f| f.default_backend.as_deref() == Some(fwd.backend.as_str()))
        .collect();
    if frontends.is_empty() {
        return Err("no frontend uses this backend as its default_backend (the VIPs are its bind addresses)".into());
    }
    let mut families = Vec::new();
    for fe in &frontends {
        if fe.mode != Mode::Tcp {
            return Err(format!("frontend '{}' is not in 'mode tcp'", fe.name));
        }
        if !fe.use_backends.is_empty() || !fe.rules.is_empty() {
            return Err(format!(
                "frontend '{}' has use_backend or tcp-request rules, which the XDP fast path would bypass",
                fe.name
            ));
        }
        for addr in fe.binds.iter().flat_map(|b| &b.addrs) {
            match addr {
                BindAddr::Unix(path) => {
                    return Err(format!(
                        "frontend '{}' binds the unix socket {} (XDP only sees IP packets)",
                        fe.name,
                        path.display()
                    ));
                }
                BindAddr::Tcp(sa) if sa.ip().is_unspecified() => {
                    return Err(format!(
                        "frontend '{}' binds a wildcard address ({sa}); the fast path needs the VIP itself",
                        fe.name
                    ));
                }
                BindAddr::Tcp(sa) => families.push(sa.is_ipv4()),
            }
        }
    }
    for server in &backend.servers {
        if !families.contains(&server.addr.is_ipv4()) {
            return Err(format!(
                "server '{}' ({}) has no VIP of its address family (no IPv4-in-IPv6 or NAT between families)",
                server.name, server.addr
            ));
        }
    }
    if fwd.method == XdpForwardMethod::Dsr {
        for v4 in [true, false] {
            if families.contains(&v4) && !fwd.sources.iter().any(|a| a.is_ipv4() == v4) {
                let family = if v4 { "IPv4" } else { "IPv6" };
                return Err(format!(
                    "DSR needs 'xdp-forward-source' with an {family} address (the outer source of encapsulated packets)"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::parse_str;

    const HEAD: &str = "xdp\n    interface eth0\n\ndefaults\n    mode tcp\n    timeout connect 1s\n    \
                        timeout client 1s\n    timeout server 1s\n\n";

    fn parse(body: &str) -> Result<Config, String> {
        parse_str(&format!("{HEAD}{body}"), Path::new("t.cfg")).map_err(|e| {
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    #[test]
    fn a_listen_section_with_nat_and_a_frontend_with_dsr() {
        let c = parse(
            "listen v6\n    bind [2001:db8::1]:443\n    option xdp-forward\n    xdp-forward-method nat\n    \
             server a [2001:db8::10]:8443 weight 3\n    server b [2001:db8::11]:8443 backup\n\n\
             frontend fe\n    bind 10.0.0.1:80,10.0.0.1:81\n    default_backend be\n\n\
             backend be\n    option xdp-forward\n    xdp-forward-source 10.0.0.2\n    server s 10.0.1.1:80\n",
        )
        .unwrap();
        assert_eq!(c.xdp_forward.len(), 2);
        assert_eq!(c.xdp_forward[0].backend, "v6");
        assert_eq!(c.xdp_forward[0].method, XdpForwardMethod::Nat);
        assert_eq!(c.xdp_forward[1].method, XdpForwardMethod::Dsr);
        assert_eq!(
            c.xdp_forward[1].sources,
            ["10.0.0.2".parse::<IpAddr>().unwrap()]
        );
    }

    #[test]
    fn refusals_name_the_reason() {
        let cases = [
            (
                "frontend fe\n    bind :80\n    default_backend be\n\nbackend be\n    option xdp-forward\n    xdp-forward-method nat\n    server s 10.0.1.1:80\n",
                "wildcard",
            ),
            (
                "backend be\n    option xdp-forward\n    xdp-forward-method nat\n    server s 10.0.1.1:80\n",
                "no frontend uses this backend",
            ),
            (
                "frontend fe\n    bind 10.0.0.1:80\n    default_backend be\n\nbackend be\n    option xdp-forward\n    xdp-forward-method nat\n    server s [2001:db8::1]:80\n",
                "address family",
            ),
            (
                "frontend fe\n    bind 10.0.0.1:80\n    default_backend be\n\nbackend be\n    option xdp-forward\n    server s 10.0.1.1:80\n",
                "xdp-forward-source",
            ),
            (
                "frontend fe\n    bind 10.0.0.1:80\n    option xdp-forward\n",
                "not allowed in 'frontend'",
            ),
            (
                "backend be\n    xdp-forward-method maybe\n",
                "expects 'dsr' or 'nat'",
            ),
            ("backend be\n    xdp-forward-source 0.0.0.0\n", "unicast"),
            (
                "backend be\n    xdp-forward-source 10.0.0.1\n    xdp-forward-source 10.0.0.2\n",
                "one source per address family",
            ),
        ];
        for (body, want) in cases {
            let err = parse(body).err().unwrap_or_default();
            assert!(err.contains(want), "{body}\n=> {err}");
        }
        // `no option xdp-forward` turns it off again.
        let c = parse(
            "frontend fe\n    bind :80\n    default_backend be\n\nbackend be\n    option xdp-forward\n    \
             no option xdp-forward\n    server s 10.0.1.1:80\n",
        )
        .unwrap();
        assert!(c.xdp_forward.is_empty());
        // Without an xdp section.
        let err = parse_str(
            "frontend fe\n    mode tcp\n    bind 10.0.0.1:80\n    default_backend be\n\nbackend be\n    mode tcp\n    \
             option xdp-forward\n    xdp-forward-method nat\n    server s 10.0.1.1:80\n",
            Path::new("t.cfg"),
        )
        .err()
        .map(|e| e.iter().map(ToString::to_string).collect::<String>())
        .unwrap_or_default();
        assert!(err.contains("needs an 'xdp' section"), "{err}");
    }
}
