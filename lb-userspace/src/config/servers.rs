//! Resolves a backend's `server` lines into [`Server`]s: built-in defaults, ids, names,
//! check ports, and `track` references across backends.

use std::collections::{HashMap, HashSet};

use super::error::{ConfigError, ConfigErrors, ErrorKind};
use super::model::{
    Backend, CheckKind, ProxyVersion, Server, ServerPort, TcpCheckRule, TrackRef, server_defaults,
};
use super::server::{ServerDraft, ServerOpts};

/// Builds the servers of backend `backend`, whose checks are `check`.
pub(crate) fn build_servers(
    backend: &str,
    drafts: &[ServerDraft],
    check: &CheckKind,
    errors: &mut ConfigErrors,
) -> Vec<Server> {
    check_server_names(drafts, errors);
    let ids = assign_ids(drafts, errors);
    drafts
        .iter()
        .zip(ids)
        .map(|(d, id)| {
            let server = build_server(backend, d, id);
            if let Err(e) = check_server(backend, &server, check) {
                errors.push(e);
            }
            server
        })
        .collect()
}

fn build_server(backend: &str, d: &ServerDraft, id: u32) -> Server {
    let o = &d.opts;
    let inter = o.inter.unwrap_or(server_defaults::INTER);
    let track = d.track.as_ref().map(|(b, s)| TrackRef {
        backend: b.clone().unwrap_or_else(|| backend.to_owned()),
        server: s.clone(),
    });
    Server {
        name: d.name.clone(),
        id,
        addr: d.addr,
        port: d.port,
        check: o.check.unwrap_or(false),
        inter,
        fastinter: o.fastinter.unwrap_or(inter),
        downinter: o.downinter.unwrap_or(inter),
        rise: o.rise.unwrap_or(server_defaults::RISE),
        fall: o.fall.unwrap_or(server_defaults::FALL),
        weight: o.weight.unwrap_or(server_defaults::WEIGHT),
        backup: o.backup.unwrap_or(false),
        maxconn: o.maxconn.unwrap_or(0),
        disabled: o.disabled.unwrap_or(false),
        slowstart: o.slowstart.filter(|t| !t.is_zero()),
        check_addr: o.check_addr,
        check_port: o.check_port,
        track,
        send_proxy: send_proxy(o),
        cookie: o.cookie.clone(),
        non_stick: o.non_stick.unwrap_or(false),
        proto_h2: o.proto_h2.unwrap_or(false),
        pool_max_conn: o.pool_max_conn.and_then(|n| u32::try_from(n).ok()),
        pool_purge_delay: o
            .pool_purge_delay
            .unwrap_or(server_defaults::POOL_PURGE_DELAY),
        location: d.location.clone(),
    }
}

/// HAProxy keeps v1 and v2 as two flags and sends v2 when both are set.
fn send_proxy(o: &ServerOpts) -> Option<ProxyVersion> {
    match (o.send_proxy_v1, o.send_proxy_v2) {
        (_, Some(true)) => Some(ProxyVersion::V2),
        (Some(true), _) => Some(ProxyVersion::V1),
        _ => None,
    }
}

fn check_server_names(drafts: &[ServerDraft], errors: &mut ConfigErrors) {
    let mut seen: HashMap<&str, &ServerDraft> = HashMap::new();
    for d in drafts {
        if let Some(first) = seen.get(d.name.as_str()) {
            let kind = ErrorKind::Duplicate {
                what: "server",
                name: d.name.clone(),
                other: "server",
                first: first.location.clone(),
            };
            errors.push(ConfigError::new(d.location.clone(), kind));
        } else {
            seen.insert(&d.name, d);
        }
    }
}

/// `id N` where given, otherwise the next id not taken, in order (HAProxy's rule: without
/// any `id`, servers are numbered 1, 2, 3...).
fn assign_ids(drafts: &[ServerDraft], errors: &mut ConfigErrors) -> Vec<u32> {
    let mut forced: HashMap<u32, &ServerDraft> = HashMap::new();
    for d in drafts {
        let Some(id) = d.id else { continue };
        if let Some(first) = forced.get(&id) {
            let reason = format!(
                "server '{}' : custom id {id} already used at {} ('server {}')",
                d.name, first.location, first.name
            );
            errors.push(ConfigError::new(
                d.location.clone(),
                ErrorKind::Consistency(reason),
            ));
        } else {
            forced.insert(id, d);
        }
    }
    let mut used: HashSet<u32> = forced.keys().copied().collect();
    let mut next = 1;
    drafts
        .iter()
        .map(|d| {
            d.id.unwrap_or_else(|| {
                while used.contains(&next) {
                    next += 1;
                }
                used.insert(next);
                next
            })
        })
        .collect()
}

/// Per-server consistency: `check` with `track`, and a port to check.
fn check_server(backend: &str, s: &Server, check: &CheckKind) -> Result<(), ConfigError> {
    let fail =
        |reason: String| ConfigError::new(s.location.clone(), ErrorKind::Consistency(reason));
    if s.check && s.track.is_some() {
        return Err(fail(format!(
            "server '{backend}/{}' : unable to enable checks and tracking at the same time",
            s.name
        )));
    }
    let has_port = matches!(s.port, ServerPort::Fixed(_)) || s.check_port.is_some();
    if s.check && !has_port && !script_sets_ports(check) {
        let reason = format!(
            "server '{backend}/{}' has neither service port nor check port, so it cannot be checked",
            s.name
        );
        return Err(fail(reason).with_hint("add 'port <N>' to the server line"));
    }
    Ok(())
}

/// A `tcp-check` script that starts with a `connect port N` and gives a port to every
/// other `connect` does not need the server's port.
fn script_sets_ports(check: &CheckKind) -> bool {
    let CheckKind::TcpScript(rules) = check else {
        return false;
    };
    let has_port = |r: &TcpCheckRule| matches!(r, TcpCheckRule::Connect { port: Some(_), .. });
    let is_connect = |r: &&TcpCheckRule| matches!(r, TcpCheckRule::Connect { .. });
    rules.first().is_some_and(has_port) && rules.iter().filter(is_connect).all(has_port)
}

/// Every `track` must lead, without loops, to an existing server that has checks enabled.
pub(crate) fn check_tracks(backends: &[Backend], errors: &mut ConfigErrors) {
    for b in backends {
        for s in &b.servers {
            let Some(t) = &s.track else { continue };
            if let Err(reason) = check_track(backends, &b.name, &s.name, t) {
                errors.push(ConfigError::new(
                    s.location.clone(),
                    ErrorKind::Consistency(reason),
                ));
            }
        }
    }
}

fn find<'a>(backends: &'a [Backend], t: &TrackRef) -> Result<&'a Server, String> {
    let b = backends
        .iter()
        .find(|b| b.name == t.backend)
        .ok_or_else(|| format!("unable to find required proxy '{}' for tracking", t.backend))?;
    b.servers
        .iter()
        .find(|s| s.name == t.server)
        .ok_or_else(|| format!("unable to find required server '{}' for tracking", t.server))
}

fn check_track(
    backends: &[Backend],
    backend: &str,
    server: &str,
    first: &TrackRef,
) -> Result<(), String> {
    let context = format!("server '{backend}/{server}'");
    let target = find(backends, first).map_err(|e| format!("{context} : {e}"))?;
    if !target.check && target.track.is_none() {
        return Err(format!(
            "{context} : unable to use {}/{} for tracking as it does not have any check enabled",
            first.backend, first.server
        ));
    }
    let mut visited = HashSet::from([(backend.to_owned(), server.to_owned())]);
    let mut cur = first.clone();
    loop {
        if !visited.insert((cur.backend.clone(), cur.server.clone())) {
            return Err(format!(
                "{context} : unable to track {}/{} as it belongs to a tracking chain looping back to {}/{}",
                first.backend, first.server, cur.backend, cur.server
            ));
        }
        // A missing link is reported on its own server line.
        let Ok(next) = find(backends, &cur) else {
            return Ok(());
        };
        match &next.track {
            Some(t) => cur = t.clone(),
            None => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::model::ProxyVersion;
    use crate::config::tests::parse;

    #[test]
    fn send_proxy_through_defaults() {
        let c = parse(&[
            "defaults",
            "    default-server send-proxy",
            "frontend fe",
            "    bind 127.0.0.1:10000 accept-proxy",
            "    default_backend be",
            "backend be",
            "    default-server send-proxy-v2",
            "    server plain 127.0.0.1:1 no-send-proxy-v2 no-send-proxy",
            "    server v1 127.0.0.1:2 no-send-proxy-v2",
            "    server v2 127.0.0.1:3",
            "    server v2b 127.0.0.1:4 no-send-proxy",
        ]);
        assert!(c.frontends[0].binds[0].accept_proxy);
        let be = c.backend("be").unwrap();
        let got: Vec<_> = be.servers.iter().map(|s| s.send_proxy).collect();
        let want = [
            None,
            Some(ProxyVersion::V1),
            Some(ProxyVersion::V2),
            Some(ProxyVersion::V2),
        ];
        assert_eq!(got, want);
    }
}
