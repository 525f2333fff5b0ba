//! The XDP guard of a running `lb`: attach, apply the `xdp` section to the pinned maps,
//! purge expired list entries, check the SYN-cookie sysctl; or say once why it is off.
//!
//! What a restart does with the lists: entries without expiry belong to the configuration.
//! At start, every `deny`/`allow` entry of the config is written (never expiring; one that
//! is already there keeps its hit count), and every never-expiring entry that is no longer
//! in the config is removed. Entries with an expiry (`lb xdp deny add CIDR TTL`, the
//! `xdp-deny` action) are left alone: they survive restarts until they expire. A run-time
//! entry added without TTL lasts until the next start, like a runtime-API `add acl`.

use std::{
    collections::BTreeSet, fs, net::SocketAddr, path::Path, sync::mpsc, thread::JoinHandle,
    time::Duration,
};

use super::{
    Budget, Cidr, CidrLists, EbpfError, GuardSettings, ListKind, PORT_SYN_GUARD, PORT_TCP_SANITY,
    SYNCOOKIES_SYSCTL, SynCookies, XdpRuntime, pushdown, set_protected_ports, set_settings, start,
};
use crate::config::model::{BindAddr, Config, SynCookiesPolicy, XdpRate, XdpSection};

/// How often expired deny/allow entries are deleted (the program ignores them at once).
const PURGE_EVERY: Duration = Duration::from_secs(1);

/// The running guard; dropping it stops the purge thread and detaches the program.
#[derive(Debug)]
pub struct XdpService {
    // Dropped first: the purge thread stops before the program goes away.
    _purge: Purge,
    runtime: XdpRuntime,
}

impl XdpService {
    /// The loaded program and its attachments.
    pub fn runtime(&self) -> &XdpRuntime {
        &self.runtime
    }
}

#[derive(Debug)]
/// The thread deleting expired deny/allow entries; stopped and joined on drop.
pub struct Purge {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Purge {
    fn drop(&mut self) {
        // Closing the channel wakes the thread at once.
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts the guard as the `xdp` section of `config` says; `Ok(None)` without a section.
///
/// Errors mean nothing stays attached; the caller refuses to start when the section says
/// `required`, and otherwise calls [`log_disabled`].
pub fn start_service(config: &Config) -> Result<Option<XdpService>, EbpfError> {
    let Some(xdp) = config.xdp.as_ref() else {
        return Ok(None);
    };
    // The sysctl matters even when XDP cannot load: it is the kernel's own defence.
    apply_syn_cookies(xdp.syn_cookies, Path::new(SYNCOOKIES_SYSCTL));
    let Some(runtime) = start(Some(xdp))? else {
        return Ok(None);
    };
    let purge = configure_guard(config, xdp, runtime.pin_dir())?;
    Ok(Some(XdpService {
        _purge: purge,
        runtime,
    }))
}

/// Applies the `xdp` section to the guard's pinned maps under `pin_dir` (settings, protected
/// ports, deny/allow lists), starts the expiry purge and enables `xdp-deny` push-downs.
/// Used by [`start_service`] and by the L4 fast path, which loads the guard itself.
pub fn configure_guard(
    config: &Config,
    xdp: &XdpSection,
    pin_dir: &Path,
) -> Result<Purge, EbpfError> {
    let pin_dir = pin_dir.to_path_buf();
    set_settings(&pin_dir, &settings(xdp))?;
    let ports = config_ports(config);
    set_protected_ports(&pin_dir, &ports)?;
    let mut lists = CidrLists::open(&pin_dir)?;
    for kind in [ListKind::Deny, ListKind::Allow] {
        let wanted = match kind {
            ListKind::Deny => &xdp.deny,
            ListKind::Allow => &xdp.allow,
        };
        let wanted: Vec<Cidr> = wanted.iter().map(|e| e.cidr).collect();
        let sync = sync_list(&mut lists, kind, &wanted)?;
        tracing::info!(
            "XDP {} list: {} entries from the configuration, {} run-time entries with an expiry kept, {} stale entries removed",
            kind.name(),
            wanted.len(),
            sync.kept,
            sync.removed
        );
    }
    let port_list = port_ranges(ports.iter().map(|(p, _)| *p));
    tracing::info!(
        "XDP guard active: protected ports [{}], syn-rate {}, syn-global-rate {}, malformed {}, fragments {}, tcp-sanity {}",
        port_list,
        rate_text(xdp.syn_rate),
        rate_text(xdp.syn_global_rate),
        if xdp.malformed_drop { "drop" } else { "pass" },
        if xdp.fragments_drop { "drop" } else { "pass" },
        if xdp.tcp_sanity { "on" } else { "off" },
    );
    let purge = spawn_purge(lists)?;
    pushdown::enable(&pin_dir);
    Ok(purge)
}

/// Logs, once, what the failure of [`start_service`] disables while `lb` serves L7.
pub fn log_disabled(xdp: &XdpSection, error: &EbpfError) {
    let names: Vec<&str> = xdp.interfaces.iter().map(|i| i.name.as_str()).collect();
    tracing::warn!(
        "XDP guard disabled on {} (no deny/allow lists, SYN budgets, TCP sanity or packet counters; 'xdp-deny' rules do nothing), serving L7 only: {error}",
        names.join(", ")
    );
}

/// Sorted ports as `80 443 8000-8010`.
fn port_ranges(ports: impl IntoIterator<Item = u16>) -> String {
    let mut ranges: Vec<(u16, u16)> = Vec::new();
    for p in ports {
        match ranges.last_mut() {
            Some((_, hi)) if hi.checked_add(1) == Some(p) => *hi = p,
            _ => ranges.push((p, p)),
        }
    }
    let texts: Vec<String> = ranges
        .iter()
        .map(|&(lo, hi)| {
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            }
        })
        .collect();
    texts.join(" ")
}

fn rate_text(rate: Option<XdpRate>) -> String {
    rate.map_or_else(
        || "unlimited".to_owned(),
        |r| format!("{}/s burst {}", r.rate, r.burst),
    )
}

/// The guard's settings from the section.
pub fn settings(xdp: &XdpSection) -> GuardSettings {
    let budget = |r: Option<XdpRate>| {
        r.map(|r| Budget {
            rate: r.rate,
            burst: r.burst,
        })
    };
    GuardSettings {
        drop_malformed: xdp.malformed_drop,
        drop_fragments: xdp.fragments_drop,
        syn_per_source: budget(xdp.syn_rate),
        syn_global: budget(xdp.syn_global_rate),
    }
}

/// The protected ports with their flags: `protected-ports`, else every TCP bind's port.
pub fn config_ports(config: &Config) -> Vec<(u16, u32)> {
    let Some(xdp) = config.xdp.as_ref() else {
        return Vec::new();
    };
    let flags = PORT_SYN_GUARD | if xdp.tcp_sanity { PORT_TCP_SANITY } else { 0 };
    let ports: BTreeSet<u16> = match &xdp.protected_ports {
        Some(ranges) => ranges.iter().flat_map(|&(lo, hi)| lo..=hi).collect(),
        None => config
            .frontends
            .iter()
            .flat_map(|f| &f.binds)
            .flat_map(|b| {
                let single = b.addrs.iter().filter_map(|a| match a {
                    BindAddr::Tcp(SocketAddr::V4(s)) => Some(s.port()),
                    BindAddr::Tcp(SocketAddr::V6(s)) => Some(s.port()),
                    BindAddr::Unix(_) => None,
                });
                // Prefixes and port ranges served through sk_lookup are binds too.
                let ranges = b.ranges.iter().flat_map(|r| r.first_port..=r.last_port);
                single.chain(ranges).collect::<Vec<_>>()
            })
            .collect(),
    };
    let limit = lb_common::guard::PORT_ENTRIES as usize;
    if ports.len() > limit {
        tracing::warn!(
            "XDP: the binds use {} ports, the guard protects the first {limit}; list them with 'protected-ports'",
            ports.len()
        );
    }
    ports.into_iter().take(limit).map(|p| (p, flags)).collect()
}

/// What [`sync_list`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ListSync {
    /// Entries with an expiry that stay.
    pub kept: usize,
    /// Never-expiring entries no longer in the config, removed.
    pub removed: usize,
}

/// Makes the never-expiring entries of `kind` exactly `wanted` (see the module doc).
pub fn sync_list(
    lists: &mut CidrLists,
    kind: ListKind,
    wanted: &[Cidr],
) -> Result<ListSync, EbpfError> {
    let mut sync = ListSync::default();
    let current = lists.list(kind)?;
    for entry in &current {
        match entry.expires_in {
            None if !wanted.contains(&entry.cidr) => {
                lists.delete(kind, entry.cidr)?;
                sync.removed += 1;
            }
            Some(_) if !wanted.contains(&entry.cidr) => sync.kept += 1,
            _ => {}
        }
    }
    for cidr in wanted {
        let permanent = current
            .iter()
            .any(|e| e.cidr == *cidr && e.expires_in.is_none());
        if !permanent {
            lists.add(kind, *cidr, None)?;
        }
    }
    Ok(sync)
}

fn spawn_purge(mut lists: CidrLists) -> Result<Purge, EbpfError> {
    let (tx, rx) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("lb-xdp-purge".into())
        .spawn(move || {
            let mut failing = false;
            while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(PURGE_EVERY) {
                match lists.purge_expired() {
                    Ok(0) => failing = false,
                    Ok(n) => {
                        failing = false;
                        tracing::debug!("XDP: purged {n} expired list entries");
                    }
                    // Once per failure streak: a broken map would otherwise log every second.
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!("XDP: cannot purge expired list entries: {e}");
                    }
                    Err(_) => {}
                }
            }
        })
        .map_err(|source| EbpfError::PinDir {
            path: "lb-xdp-purge thread".into(),
            source,
        })?;
    Ok(Purge {
        stop: Some(tx),
        thread: Some(thread),
    })
}

/// Applies `syn-cookies` to the sysctl at `sysctl` (a parameter for tests).
///
/// `check` warns when SYN cookies are off; `set` writes `1` when the value is `0` (a `2`
/// is left as it is); `off` does nothing. The sysctl belongs to the network namespace of
/// `lb`, and covers IPv6 too.
pub fn apply_syn_cookies(policy: SynCookiesPolicy, sysctl: &Path) -> Option<SynCookies> {
    if policy == SynCookiesPolicy::Off {
        return None;
    }
    let current = match fs::read_to_string(sysctl) {
        Ok(text) => SynCookies::parse(&text),
        Err(e) => {
            tracing::warn!("XDP: cannot read {}: {e}", sysctl.display());
            return None;
        }
    };
    match (policy, current) {
        (SynCookiesPolicy::Set, Some(SynCookies::Off)) => match fs::write(sysctl, "1\n") {
            Ok(()) => {
                tracing::info!(
                    "syn-cookies set: net.ipv4.tcp_syncookies changed from 0 to 1 (SYN cookies when a listen queue overflows)"
                );
                Some(SynCookies::OnOverflow)
            }
            Err(e) => {
                tracing::warn!(
                    "syn-cookies set: cannot write 1 to {}: {e}; SYN cookies stay off",
                    sysctl.display()
                );
                current
            }
        },
        (_, Some(SynCookies::Off)) => {
            tracing::warn!(
                "net.ipv4.tcp_syncookies is 0: SYN floods that pass the XDP budgets fill the listen queues; set it to 1 (sysctl -w net.ipv4.tcp_syncookies=1, or 'syn-cookies set' in the xdp section)"
            );
            current
        }
        (_, None) => {
            tracing::warn!("XDP: unexpected value in {}", sysctl.display());
            None
        }
        (_, cookies) => cookies,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syn_cookies_policies() {
        let dir = std::env::temp_dir().join(format!("lb-syncookies-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("tcp_syncookies");
        let read = || fs::read_to_string(&file).unwrap();
        fs::write(&file, "0\n").unwrap();
        assert_eq!(
            apply_syn_cookies(SynCookiesPolicy::Check, &file),
            Some(SynCookies::Off)
        );
        assert_eq!(read(), "0\n");
        assert_eq!(apply_syn_cookies(SynCookiesPolicy::Off, &file), None);
        assert_eq!(
            apply_syn_cookies(SynCookiesPolicy::Set, &file),
            Some(SynCookies::OnOverflow)
        );
        assert_eq!(read(), "1\n");
        fs::write(&file, "2\n").unwrap();
        assert_eq!(
            apply_syn_cookies(SynCookiesPolicy::Set, &file),
            Some(SynCookies::Always)
        );
        assert_eq!(read(), "2\n");
        assert_eq!(
            apply_syn_cookies(SynCookiesPolicy::Check, &dir.join("missing")),
            None
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn default_protected_ports_are_the_tcp_binds() {
        let text = "frontend a\n bind 127.0.0.1:8080,127.0.0.1:8443\n bind /tmp/x.sock\n default_backend b\n\
                    frontend c\n bind :9000-9002\n default_backend b\n\
                    backend b\n server s 127.0.0.1:1\n\
                    xdp\n interface lo\n tcp-sanity off\n";
        let config = crate::config::parse_str(text, Path::new("t.cfg")).unwrap();
        let ports: Vec<u16> = config_ports(&config).iter().map(|p| p.0).collect();
        assert_eq!(ports, [8080, 8443, 9000, 9001, 9002]);
        assert!(config_ports(&config).iter().all(|p| p.1 == PORT_SYN_GUARD));
        let text = text.replace("tcp-sanity off", "protected-ports 80 90-91");
        let config = crate::config::parse_str(&text, Path::new("t.cfg")).unwrap();
        assert_eq!(
            config_ports(&config),
            [
                (80, PORT_SYN_GUARD | PORT_TCP_SANITY),
                (90, PORT_SYN_GUARD | PORT_TCP_SANITY),
                (91, PORT_SYN_GUARD | PORT_TCP_SANITY)
            ]
        );
    }

    #[test]
    fn port_ranges_are_compact() {
        assert_eq!(
            port_ranges([80, 443, 8000, 8001, 8002, 9000]),
            "80 443 8000-8002 9000"
        );
        assert_eq!(port_ranges([]), "");
        assert_eq!(port_ranges([65534, 65535]), "65534-65535");
    }
}
