//! A runtime state built from configuration text, and helpers to run commands on it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;

use super::{Level, ProcessInfo, RuntimeState, Session, Step};
use crate::backend::state::Backends;
use crate::config::parse_str;
use crate::proxy::frontend::FrontendState;
use crate::stick::Tables;
use crate::worker::Shared;
use crate::worker::gate::ConnGate;

/// The proxies every test state starts with; tests append theirs.
const BASE: &str = "\
global
    maxconn 500
frontend fe
    bind 127.0.0.1:1
    default_backend be
backend be
    server s1 127.0.0.1:8001 weight 10
    server s2 127.0.0.1:8002
";

/// A runtime state for tests.
pub(crate) struct TestRt {
    pub rt: RuntimeState,
}

impl TestRt {
    /// `BASE` followed by `extra` (more proxies).
    pub fn new(extra: &str) -> Self {
        let text = format!("{BASE}{extra}");
        let config = parse_str(&text, Path::new("t.cfg")).unwrap();
        let backends = Arc::new(Backends::new(&config.backends));
        let frontends = config
            .frontends
            .iter()
            .map(|f| FrontendState::new(f.clone(), &backends).unwrap())
            .collect();
        let shared = Shared {
            tables: Arc::new(Tables::from_config(&config)),
            rules_active: false,
            http_maxhdr: crate::http::session::DEFAULT_MAXHDR,
            comp_level: 1,
            frontends,
            backends,
            global: ConnGate::new(config.global.maxconn.unwrap_or(100)),
            actconn: AtomicU32::new(0),
            bufsize: 16384,
            splice: false,
            pipesize: None,
        };
        let info = ProcessInfo {
            pid: std::process::id(),
            nbthread: 2,
            ulimit_n: 4096,
            start_ms: 1000,
            start_unix_sec: 1_700_000_000,
        };
        Self {
            rt: RuntimeState::new(Arc::new(shared), info),
        }
    }

    /// The whole response to `input` (one connection at level admin, input then EOF).
    pub fn run(&self, input: &str, now_ms: u64) -> String {
        self.run_as(Level::Admin, input, now_ms)
    }

    /// The whole response to `input` on a connection of `level`.
    pub fn run_as(&self, level: Level, input: &str, now_ms: u64) -> String {
        let mut s = Session::new(level, 16384);
        let mut input = input.to_owned();
        if !input.ends_with('\n') {
            input.push('\n');
        }
        s.receive(input.as_bytes());
        s.end_of_input();
        drain(&mut s, &self.rt, now_ms)
    }
}

/// Steps `s` until it closes (or wants input); returns all it wrote.
pub(crate) fn drain(s: &mut Session, rt: &RuntimeState, now_ms: u64) -> String {
    let mut out = String::new();
    for _ in 0..10_000 {
        match s.step(rt, now_ms) {
            Step::Write(t) => out.push_str(&t),
            Step::Close(t) => {
                out.push_str(&t);
                return out;
            }
            Step::Read => return out,
        }
    }
    panic!("session never stopped: {out}")
}

/// `Name: value` lines as a map.
pub(crate) fn fields(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}
