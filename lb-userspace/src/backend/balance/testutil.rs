//! Helpers to build model backends and servers in balancer tests.

use std::sync::Arc;
use std::time::Duration;

use crate::backend::balance::{Balancer, Pick};
use crate::backend::state::BackendState;
use crate::config::model::{
    Backend, Balance, CheckKind, HashType, Location, Mode, Server, ServerPort, Timeouts,
};
use crate::sample::StreamCtx;

/// A server with default settings and the given weight (its id is set by [`backend`]).
pub fn server(name: &str, weight: u32) -> Server {
    Server {
        name: name.to_owned(),
        id: 0,
        addr: "127.0.0.1".parse().unwrap(),
        port: ServerPort::Fixed(8080),
        check: false,
        inter: Duration::from_secs(2),
        fastinter: Duration::from_secs(2),
        downinter: Duration::from_secs(2),
        rise: 2,
        fall: 3,
        weight,
        backup: false,
        maxconn: 0,
        disabled: false,
        slowstart: None,
        check_addr: None,
        check_port: None,
        track: None,
        send_proxy: None,
        cookie: None,
        non_stick: false,
        proto_h2: false,
        pool_max_conn: None,
        pool_purge_delay: std::time::Duration::from_secs(5),
        location: Location::default(),
    }
}

/// A backend holding `servers`, numbered 1.. in order unless an id is already set.
pub fn backend(balance: Balance, mut servers: Vec<Server>) -> Backend {
    for (i, s) in servers.iter_mut().enumerate() {
        if s.id == 0 {
            s.id = u32::try_from(i + 1).unwrap();
        }
    }
    Backend {
        name: "be".to_owned(),
        location: Location::default(),
        mode: Mode::Tcp,
        balance,
        balance_location: None,
        hash_type: HashType::default(),
        servers,
        retries: 3,
        redispatch: false,
        allbackups: false,
        timeouts: Timeouts::default(),
        check: CheckKind::default(),
        logs: Vec::new(),
        tcplog: false,
        rules: crate::rules::ProxyRules::default(),
        stick_table: None,
        stick_rules: Vec::new(),
        http_rules: crate::http_rules::HttpRules::new(),
        persist: Default::default(),
        compression: None,
        http: Default::default(),
    }
}

/// A balancer over a fresh state for `cfg`.
pub fn balancer(cfg: Backend) -> (Arc<BackendState>, Balancer) {
    let state = Arc::new(BackendState::new(cfg));
    let b = Balancer::new(Arc::clone(&state));
    (state, b)
}

/// A stream from `src` (`ip:port`).
pub fn ctx(src: &str) -> StreamCtx<'static> {
    StreamCtx::new(src.parse().unwrap(), "127.0.0.1:80".parse().unwrap(), "fe")
}

/// The chosen server's name, or `AllFull` / `NoServer`.
pub fn name(pick: &Pick) -> String {
    match pick {
        Pick::Server(s) => s.cfg.name.clone(),
        Pick::AllFull => "AllFull".to_owned(),
        Pick::NoServer => "NoServer".to_owned(),
    }
}

/// How many of `n` picks (same stream) went to each server, by server index.
pub fn counts(state: &BackendState, b: &mut Balancer, now: u64, n: usize) -> Vec<usize> {
    let c = ctx("10.0.0.1:1000");
    let mut out = vec![0; state.servers.len()];
    for _ in 0..n {
        match b.pick_at(now, &c, None) {
            Pick::Server(s) => {
                let i = state
                    .servers
                    .iter()
                    .position(|x| Arc::ptr_eq(x, &s))
                    .unwrap();
                out[i] += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    out
}
