//! Helpers shared by the end-to-end tests: start real `lb` processes on generated
//! configurations, real backend servers and real clients, all on loopback and all bounded in
//! time (no helper waits without a deadline).
//!
//! * [`lb`]: find/build the binary, run it, capture and search its output, send signals.
//! * [`backend`]: test servers (identity/echo, hold, slow accept, custom) and a black hole.
//! * [`client`]: connections with timeouts, source-address binding, name tallies.
//! * [`netns`]: a network namespace behind a veth pair (root only; XDP tests).
//! * [`ports`]: free ports that parallel tests and test processes do not fight over.
//! * [`util`]: temp dirs, polling, the large-transfer data pattern.
//! * [`tls`]: a throw-away CA, TLS backends and verifying TLS clients (rustls).
//! * [`runtime`]: the runtime API (`stats socket`) client.
//! * [`proxy_proto`]: PROXY protocol v1/v2 headers built and read by the tests.
//! * [`http`]: HTTP/1.1 echo/custom backends that record every request, and a raw client.
//! * [`differential`]: the same config and requests on HAProxy and lb, views compared.
//! * [`h2raw`]: a raw h2c client sending exactly the frames a test writes (downgrade cases).

// A harness failure must stop the test with a message: panicking is its error handling.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod backend;
pub mod client;
pub mod differential;
pub mod h2raw;
pub mod http;
pub mod lb;
pub mod netns;
pub mod ports;
pub mod proxy_proto;
pub mod runtime;
pub mod tls;
pub mod util;

pub use backend::{Backend, Blackhole};
pub use client::{ask_name, connect, connect_from, read_line, tally};
pub use lb::Lb;
pub use ports::free_port;
pub use util::{TempDir, wait_until};

/// The `global` and `defaults` sections most tests share: `nbthread` workers, raw traffic
/// logs on stdout (`option tcplog`), generous timeouts. Tests append their proxies.
pub fn header(nbthread: usize) -> String {
    header_with(nbthread, "")
}

/// [`header`] with more `global` lines (`global_extra`, lines already indented), e.g. a
/// runtime API socket.
pub fn header_with(nbthread: usize, global_extra: &str) -> String {
    format!(
        "global\n\
         \x20   nbthread {nbthread}\n\
         \x20   log stdout format raw local0 info\n\
         {global_extra}\
         \n\
         defaults\n\
         \x20   mode tcp\n\
         \x20   log global\n\
         \x20   option tcplog\n\
         \x20   timeout connect 2s\n\
         \x20   timeout client 30s\n\
         \x20   timeout server 30s\n\
         \n"
    )
}

/// A `frontend fe` on `127.0.0.1:fe_port` sending everything to `backend be`, whose body
/// (balance, servers, options) is `backend_body` (lines already indented).
pub fn fe_be(fe_port: u16, backend_body: &str) -> String {
    format!(
        "frontend fe\n\
         \x20   bind 127.0.0.1:{fe_port}\n\
         \x20   default_backend be\n\
         \n\
         backend be\n\
         {backend_body}\n"
    )
}

/// A `server NAME 127.0.0.1:PORT EXTRA` line for `b` (named after the backend server).
pub fn server_line(b: &Backend, extra: &str) -> String {
    format!("    server {} {} {extra}\n", b.name(), b.addr())
}
