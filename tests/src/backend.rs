//! Real backend servers for the tests, on 127.0.0.1, one thread per connection.
//!
//! * [`Backend::identity`]: writes `NAME\n` on accept, then echoes until the client closes.
//! * [`Backend::hold`]: accepts and reads, never writes, keeps the connection until EOF.
//! * [`Backend::slow_accept`]: an identity server that waits before each `accept`.
//! * [`Backend::custom`]: runs a test-provided handler per connection.
//! * [`Blackhole`]: a listener whose accept queue is full: connects to it never complete.
//!
//! Every server counts accepted, active and peak connections, and [`Backend::kill`] closes the
//! listener and shuts every open connection down, as a crashed server would look.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::ports::free_port;

/// A per-connection handler: gets the stream and the server's name.
pub type Handler = Arc<dyn Fn(TcpStream, &str) + Send + Sync>;

#[derive(Default)]
struct Counters {
    accepted: AtomicUsize,
    active: AtomicUsize,
    peak: AtomicUsize,
}

/// A running test server. Killed on drop.
pub struct Backend {
    name: String,
    port: u16,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    conns: Arc<Mutex<HashMap<usize, TcpStream>>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Backend({} on {})", self.name, self.port)
    }
}

/// Writes the name, then echoes.
fn identity_handler() -> Handler {
    Arc::new(|mut s: TcpStream, name: &str| {
        if s.write_all(format!("{name}\n").as_bytes()).is_err() {
            return;
        }
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
    })
}

/// Reads and discards until EOF; never writes.
fn hold_handler() -> Handler {
    Arc::new(|mut s: TcpStream, _: &str| {
        let mut buf = [0u8; 4096];
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
    })
}

impl Backend {
    /// An identity/echo server on a fresh port.
    pub fn identity(name: &str) -> Self {
        Self::start(name, free_port(), identity_handler(), Duration::ZERO)
    }

    /// An identity/echo server on `port` (e.g. to restart a killed server at its address).
    pub fn identity_on(name: &str, port: u16) -> Self {
        Self::start(name, port, identity_handler(), Duration::ZERO)
    }

    /// A server that accepts, reads and never answers.
    pub fn hold(name: &str) -> Self {
        Self::start(name, free_port(), hold_handler(), Duration::ZERO)
    }

    /// An identity server that sleeps `delay` before each accept.
    pub fn slow_accept(name: &str, delay: Duration) -> Self {
        Self::start(name, free_port(), identity_handler(), delay)
    }

    /// A server running `handler` for every connection.
    pub fn custom(name: &str, handler: impl Fn(TcpStream, &str) + Send + Sync + 'static) -> Self {
        Self::start(name, free_port(), Arc::new(handler), Duration::ZERO)
    }

    /// Starts a server on `port` (retrying the bind for a few seconds: a restarted server may
    /// find its port still held by connections in the kernel).
    pub fn start(name: &str, port: u16, handler: Handler, accept_delay: Duration) -> Self {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut listener = None;
        for _ in 0..300 {
            match TcpListener::bind(addr) {
                Ok(l) => {
                    listener = Some(l);
                    break;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        let listener = listener.unwrap_or_else(|| panic!("backend {name}: cannot bind {addr}"));
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let conns = Arc::new(Mutex::new(HashMap::new()));
        let thread = {
            let (stop, counters, conns, name) = (
                Arc::clone(&stop),
                Arc::clone(&counters),
                Arc::clone(&conns),
                name.to_owned(),
            );
            std::thread::Builder::new()
                .name(format!("backend-{name}"))
                .spawn(move || {
                    accept_loop(
                        &listener,
                        &stop,
                        &counters,
                        &conns,
                        &name,
                        &handler,
                        accept_delay,
                    )
                })
                .expect("spawn backend thread")
        };
        Self {
            name: name.to_owned(),
            port,
            stop,
            counters,
            conns,
            thread: Some(thread),
        }
    }

    /// The server's name (what identity servers write).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, for `server` lines.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Connections accepted so far (health checks included).
    pub fn accepted(&self) -> usize {
        self.counters.accepted.load(Ordering::SeqCst)
    }

    /// Connections open right now.
    pub fn active(&self) -> usize {
        self.counters.active.load(Ordering::SeqCst)
    }

    /// The most connections that were open at the same time.
    pub fn peak(&self) -> usize {
        self.counters.peak.load(Ordering::SeqCst)
    }

    /// Stops accepting, closes the listening socket and shuts down every open connection.
    pub fn kill(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for (_, c) in self.conns.lock().expect("conns lock").drain() {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Counts a connection as active for as long as it lives.
struct ActiveGuard(Arc<Counters>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

fn accept_loop(
    listener: &TcpListener,
    stop: &AtomicBool,
    counters: &Arc<Counters>,
    conns: &Arc<Mutex<HashMap<usize, TcpStream>>>,
    name: &str,
    handler: &Handler,
    accept_delay: Duration,
) {
    while !stop.load(Ordering::SeqCst) {
        if !accept_delay.is_zero() {
            std::thread::sleep(accept_delay);
        }
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            Err(_) => continue,
        };
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_nodelay(true);
        let id = counters.accepted.fetch_add(1, Ordering::SeqCst);
        let now = counters.active.fetch_add(1, Ordering::SeqCst) + 1;
        counters.peak.fetch_max(now, Ordering::SeqCst);
        // Keep a clone so `kill` can reset the connection; the handler's end removes it.
        if let Ok(c) = stream.try_clone() {
            conns.lock().expect("conns lock").insert(id, c);
        }
        let guard = ActiveGuard(Arc::clone(counters));
        let (handler, name, conns) = (Arc::clone(handler), name.to_owned(), Arc::clone(conns));
        let spawned = std::thread::Builder::new()
            .name(format!("conn-{name}"))
            .spawn(move || {
                handler(stream, &name);
                // Stop counting the connection before its last descriptor (the clone kept
                // for `kill`) closes: once the peer sees the close it may open the next one,
                // and `peak` must not count both.
                drop(guard);
                conns.lock().expect("conns lock").remove(&id);
            });
        drop(spawned);
    }
}

/// A port where TCP connects hang: a listener with a backlog of 0 whose single accept-queue
/// slot is taken by a connection nobody accepts, so the kernel drops further SYNs.
pub struct Blackhole {
    _listener: socket2::Socket,
    _filler: TcpStream,
    port: u16,
}

impl std::fmt::Debug for Blackhole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blackhole({})", self.port)
    }
}

impl Blackhole {
    /// Creates the black hole and checks that a second connect really hangs.
    pub fn new() -> Self {
        use socket2::{Domain, Socket, Type};
        let port = free_port();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let sock = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        sock.set_reuse_address(true).expect("reuseaddr");
        sock.bind(&addr.into()).expect("bind blackhole");
        sock.listen(0).expect("listen");
        let filler =
            TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("filler connect");
        let probe = TcpStream::connect_timeout(&addr, Duration::from_millis(300));
        assert!(
            probe.is_err(),
            "the black hole at {addr} accepted a second connection"
        );
        Self {
            _listener: sock,
            _filler: filler,
            port,
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Default for Blackhole {
    fn default() -> Self {
        Self::new()
    }
}
