//! Starting the L4 fast path from the configuration, and keeping it in step with health.
//!
//! One XDP program per interface: `lb_l4` is attached to the interfaces of the `xdp`
//! section, and packets that are not for a VIP continue into the guard (`lb_xdp`, loaded
//! but not attached) by tail call, so the guard still sees all other traffic. NAT services
//! also get `lb_l4_nat_reply` on the ingress of the same interfaces.
//!
//! A thread follows each fast-path backend's generation counter (bumped by health checks,
//! maintenance and weight changes) and swaps the backend's Maglev ring when the usable set
//! changes.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use super::{
    EbpfError, ForwardMethod, L4Runtime, L4Server, L4Service, L4Sources, XdpRuntime, load,
};
use crate::{
    backend::state::{BackendState, Backends},
    config::{
        Config,
        l4::XdpForwardMethod,
        model::{BindAddr, ServerPort},
    },
};

/// How often the health follower looks at the generation counters.
const FOLLOW_EVERY: Duration = Duration::from_millis(50);

/// The running fast path; dropping it stops the follower and detaches the programs.
pub struct FastPath {
    // Field order is drop order: the follower stops before the runtime goes.
    stop: Arc<AtomicBool>,
    follower: Option<JoinHandle<()>>,
    _purge: super::service::Purge,
    _guard: XdpRuntime,
}

impl std::fmt::Debug for FastPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastPath").finish_non_exhaustive()
    }
}

impl Drop for FastPath {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.follower.take() {
            let _ = t.join();
        }
    }
}

/// The fast-path services of `config`, with the servers' current state from `backends`.
pub fn services(config: &Config, backends: &Backends) -> Vec<L4Service> {
    config
        .xdp_forward
        .iter()
        .filter_map(|fwd| {
            let backend = config.backend(&fwd.backend)?;
            let state = backends.by_name(&fwd.backend);
            let vips = config
                .frontends
                .iter()
                .filter(|f| f.default_backend.as_deref() == Some(fwd.backend.as_str()))
                .flat_map(|f| f.binds.iter().flat_map(|b| &b.addrs))
                .filter_map(|a| match a {
                    BindAddr::Tcp(sa) => Some(*sa),
                    BindAddr::Unix(_) => None,
                })
                .collect();
            let servers = backend
                .servers
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let live = state.and_then(|b| b.servers.get(i));
                    let port = match s.port {
                        ServerPort::Fixed(p) => p,
                        // NAT keeps the client's destination port (offsets are not supported
                        // in XDP; `lb -c` accepts them for the user-space path).
                        ServerPort::Offset(_) | ServerPort::SameAsClient => 0,
                    };
                    L4Server {
                        name: s.name.clone(),
                        addr: SocketAddr::new(s.addr, port),
                        weight: live.map_or(s.weight, |l| l.weight()),
                        backup: s.backup,
                        up: live.map_or(!s.disabled, |l| l.is_usable()),
                    }
                })
                .collect();
            Some(L4Service {
                name: fwd.backend.clone(),
                vips,
                method: match fwd.method {
                    XdpForwardMethod::Dsr => ForwardMethod::Dsr,
                    XdpForwardMethod::Nat => ForwardMethod::Nat,
                },
                allbackups: backend.allbackups,
                servers,
            })
        })
        .collect()
}

/// Starts the fast path for the `option xdp-forward` backends; `Ok(None)` without any.
pub fn start_l4(config: &Config, backends: &Arc<Backends>) -> Result<Option<FastPath>, EbpfError> {
    let Some(xdp) = config
        .xdp
        .as_ref()
        .filter(|_| !config.xdp_forward.is_empty())
    else {
        return Ok(None);
    };
    if xdp.interfaces.is_empty() {
        return Err(EbpfError::NoInterface);
    }
    let guard = load(&xdp.pin_path)?;
    let mut l4 = L4Runtime::load(&xdp.pin_path)?;
    let mut sources = L4Sources::default();
    for addr in config.xdp_forward.iter().flat_map(|f| &f.sources) {
        match addr {
            IpAddr::V4(v4) => sources.v4 = sources.v4.or(Some(*v4)),
            IpAddr::V6(v6) => sources.v6 = sources.v6.or(Some(*v6)),
        }
    }
    let services = services(config, backends);
    l4.configure(sources, &services)?;
    l4.chain_guard(&guard)?;
    // The guard runs behind the fast path: same settings, lists and push-downs as alone.
    super::service::apply_syn_cookies(
        xdp.syn_cookies,
        std::path::Path::new(super::SYNCOOKIES_SYSCTL),
    );
    let purge = super::service::configure_guard(config, xdp, guard.pin_dir())?;
    let nat = services.iter().any(|s| s.method == ForwardMethod::Nat);
    for iface in &xdp.interfaces {
        let mode = l4.attach_xdp(&iface.name, iface.mode)?;
        tracing::info!(
            "XDP L4 fast path attached to {} in {} mode",
            iface.name,
            mode.name()
        );
        if nat {
            l4.attach_nat_reply(&iface.name)?;
        }
    }
    for s in &services {
        tracing::info!(
            "XDP L4 fast path: backend {} ({:?}) on {} VIP(s), {} server(s)",
            s.name,
            s.method,
            s.vips.len(),
            s.servers.len()
        );
    }
    let followed: Vec<Arc<BackendState>> = services
        .iter()
        .filter_map(|s| backends.by_name(&s.name).cloned())
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_follower = Arc::clone(&stop);
    let follower = std::thread::Builder::new()
        .name("lb-l4-health".into())
        .spawn(move || follow(l4, &followed, &stop_follower))
        .map_err(|e| EbpfError::L4(format!("cannot start the health follower: {e}")))?;
    Ok(Some(FastPath {
        stop,
        follower: Some(follower),
        _purge: purge,
        _guard: guard,
    }))
}

/// Rebuilds a backend's ring whenever its generation moves; owns the runtime until stopped.
fn follow(mut l4: L4Runtime, backends: &[Arc<BackendState>], stop: &AtomicBool) {
    let mut seen: Vec<u64> = backends.iter().map(|b| b.generation()).collect();
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(FOLLOW_EVERY);
        for (i, backend) in backends.iter().enumerate() {
            let generation = backend.generation();
            if generation == seen[i] {
                continue;
            }
            seen[i] = generation;
            let states: Vec<(bool, u32)> = backend
                .servers
                .iter()
                .map(|s| (s.is_usable(), s.weight()))
                .collect();
            match l4.update_servers(i, &states) {
                Ok(true) => tracing::info!(
                    "XDP L4 fast path: backend {} ring rebuilt ({} of {} servers usable)",
                    backend.cfg.name,
                    states.iter().filter(|s| s.0).count(),
                    states.len()
                ),
                Ok(false) => {}
                Err(e) => tracing::warn!("XDP L4 fast path: backend {}: {e}", backend.cfg.name),
            }
        }
    }
}
