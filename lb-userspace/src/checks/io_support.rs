//! Test support for the I/O tests: a real tokio TCP server on 127.0.0.1 running on its own
//! thread, model builders, and polling helpers.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Backends, CheckHandle, ServerTransition, http, spawn_with_listener};
use crate::config::model::{Backend, CheckKind, Location, Mode, Server, ServerPort, Timeouts};

/// What the test server does with each connection.
#[derive(Clone)]
pub(super) enum Behavior {
    /// Accept and wait for the peer to close.
    Accept,
    /// Read a request head, answer `(status line tail, body)`, close.
    Http(Arc<Mutex<(String, String)>>),
    /// Read one line; answer `PING` with the current reply, anything else with `-ERR`; close.
    Lines(Arc<Mutex<String>>),
    /// Accept and never answer.
    Silent,
}

/// A tokio TCP server on 127.0.0.1 running on its own thread; dropping it closes the port.
pub(super) struct Responder {
    addr: SocketAddr,
    pub(super) conns: Arc<AtomicUsize>,
    pub(super) requests: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Responder {
    pub(super) fn start(port: u16, behavior: Behavior) -> Self {
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let conns = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (stop, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (c, r) = (Arc::clone(&conns), Arc::clone(&requests));
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                loop {
                    tokio::select! {
                        _ = &mut stop_rx => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            c.fetch_add(1, Ordering::SeqCst);
                            tokio::spawn(serve(stream, behavior.clone(), Arc::clone(&r)));
                        }
                    }
                }
            });
        });
        Self {
            addr,
            conns,
            requests,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub(super) fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

async fn serve(mut s: tokio::net::TcpStream, behavior: Behavior, log: Arc<Mutex<Vec<Vec<u8>>>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let terminator: &[u8] = match &behavior {
        Behavior::Http(_) => b"\r\n\r\n",
        Behavior::Lines(_) => b"\n",
        Behavior::Accept | Behavior::Silent => b"\0never",
    };
    while !http::contains(&buf, terminator) {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    log.lock().unwrap().push(buf.clone());
    let reply = match &behavior {
        Behavior::Http(state) => {
            let (status, body) = state.lock().unwrap().clone();
            format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        }
        Behavior::Lines(reply) if buf.starts_with(b"PING") => reply.lock().unwrap().clone(),
        _ => "-ERR unknown command\r\n".to_owned(),
    };
    let _ = s.write_all(reply.as_bytes()).await;
}

pub(super) fn server(name: &str, port: u16, inter_ms: u64) -> Server {
    let inter = Duration::from_millis(inter_ms);
    Server {
        name: name.into(),
        id: 1,
        addr: "127.0.0.1".parse().unwrap(),
        port: ServerPort::Fixed(port),
        check: true,
        inter,
        fastinter: inter,
        downinter: inter,
        rise: 2,
        fall: 2,
        weight: 1,
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

pub(super) fn backend(name: &str, servers: Vec<Server>, check: CheckKind) -> Backend {
    Backend {
        name: name.into(),
        location: Location::default(),
        mode: Mode::Tcp,
        balance: Default::default(),
        balance_location: None,
        hash_type: Default::default(),
        servers,
        retries: 3,
        redispatch: false,
        allbackups: false,
        timeouts: Timeouts::default(),
        check,
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

pub(super) type Events = Arc<Mutex<Vec<ServerTransition>>>;

pub(super) fn spawn_collecting(backends: &Arc<Backends>) -> (CheckHandle, Events) {
    let events: Events = Arc::default();
    let sink = Arc::clone(&events);
    let handle = spawn_with_listener(Arc::clone(backends), move |t| {
        sink.lock().unwrap().push(t.clone());
    })
    .unwrap();
    (handle, events)
}

/// Polls `cond` every 5ms for up to `limit`; returns how long it took.
pub(super) fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond().then(|| start.elapsed())
}

pub(super) const LIMIT: Duration = Duration::from_secs(5);

pub(super) fn srv(b: &Backends, be: usize, s: usize) -> Arc<crate::backend::state::ServerState> {
    Arc::clone(&b.list[be].servers[s])
}

/// Waits until the latest transition of `server` is `up` (the listener runs just after the
/// state change, so observing the state alone may be too early) and returns it.
pub(super) fn transition(events: &Events, server: &str, up: bool) -> ServerTransition {
    let latest = || {
        events
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|t| t.server == server)
            .cloned()
    };
    wait_for(LIMIT, || latest().is_some_and(|t| t.up == up)).unwrap_or_else(|| {
        panic!(
            "no {} transition for {server}",
            if up { "UP" } else { "DOWN" }
        )
    });
    latest().unwrap()
}
