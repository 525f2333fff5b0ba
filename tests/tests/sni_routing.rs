//! SNI routing of TLS without terminating it: the balancer peeks at the ClientHello
//! (`req.ssl_sni`, `req.ssl_hello_type`) under `tcp-request inspect-delay`, picks a backend
//! by name (static `use_backend ... if` rules, or a dynamic `%[...]` name through a map
//! file), and forwards the untouched bytes. Real TLS servers with their own certificates
//! and real TLS clients that verify them: a finished handshake proves the end-to-end path.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use lb_tests::tls::{TestCa, TlsVersion, tls_echo, tls_hello};
use lb_tests::{Backend, Lb, TempDir, free_port, header, server_line};
use rustls::ClientConfig;

/// The three TLS backends and their CA.
struct Servers {
    ca: TestCa,
    a: Backend,
    b: Backend,
    default: Backend,
}

fn servers() -> Servers {
    let ca = TestCa::new();
    let a = ca.backend("a", &["a.example"]);
    let b = ca.backend("b", &["b.example"]);
    let default = ca.backend("default", &["default.example", "c.example", "d.example"]);
    Servers { ca, a, b, default }
}

fn backends_cfg(s: &Servers) -> String {
    format!(
        "backend bk_a\n{}\nbackend bk_b\n{}\nbackend bk_default\n{}\n",
        server_line(&s.a, ""),
        server_line(&s.b, ""),
        server_line(&s.default, "")
    )
}

/// Handshakes through `port` with SNI `sni` (or none), verifying the certificate for
/// `verify`; returns the backend's greeting line, and checks an echo round trip and that
/// the routing did not sit out the 5 s inspect delay.
fn hello(port: u16, cfg: &Arc<ClientConfig>, verify: &str) -> String {
    let t = Instant::now();
    let (mut tls, line) =
        tls_hello(port, cfg, verify).unwrap_or_else(|e| panic!("TLS through lb for {verify}: {e}"));
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "TLS handshake for {verify} took {took:?}: the ClientHello should decide at once, \
         not after the 5 s inspect delay"
    );
    let msg = format!("ping for {verify}\n");
    let back = tls_echo(&mut tls, msg.as_bytes()).expect("echo over TLS");
    assert_eq!(back, msg.as_bytes());
    line
}

#[test]
fn static_rules_route_tls_by_sni_without_terminating_it() {
    let s = servers();
    let port = free_port();
    let cfg = format!(
        "{}frontend fe\n\
         \x20   bind 127.0.0.1:{port}\n\
         \x20   tcp-request inspect-delay 5s\n\
         \x20   tcp-request content accept if {{ req.ssl_hello_type 1 }}\n\
         \x20   use_backend bk_a if {{ req.ssl_sni -i a.example }}\n\
         \x20   use_backend bk_b if {{ req.ssl_sni -i b.example }}\n\
         \x20   default_backend bk_default\n\n{}",
        header(1),
        backends_cfg(&s)
    );
    let _lb = Lb::start(&cfg);
    let sni = s.ca.client_config(true, TlsVersion::Any);
    let no_sni = s.ca.client_config(false, TlsVersion::Any);
    let sni12 = s.ca.client_config(true, TlsVersion::Tls12);

    assert_eq!(hello(port, &sni, "a.example"), "a sni=a.example");
    assert_eq!(hello(port, &sni, "b.example"), "b sni=b.example");
    assert_eq!(hello(port, &sni, "c.example"), "default sni=c.example");
    assert_eq!(hello(port, &no_sni, "default.example"), "default sni=-");
    // A TLS 1.2 ClientHello (no supported_versions extension) is routed the same way.
    assert_eq!(hello(port, &sni12, "b.example"), "b sni=b.example");
    assert_eq!(hello(port, &sni12, "a.example"), "a sni=a.example");
    // `-i`: the SNI goes on the wire as the client wrote it (the server lowercases it).
    assert_eq!(hello(port, &sni, "A.Example"), "a sni=a.example");
    assert_eq!(
        (s.a.accepted(), s.b.accepted(), s.default.accepted()),
        (3, 2, 2),
        "backend accept counts (a, b, default)"
    );
}

#[test]
fn a_client_for_one_name_cannot_reach_another_backend() {
    // The routing is real: a client asking for a.example that would be sent to bk_b
    // fails its certificate check. Here the rules are swapped on purpose.
    let s = servers();
    let port = free_port();
    let cfg = format!(
        "{}frontend fe\n\
         \x20   bind 127.0.0.1:{port}\n\
         \x20   tcp-request inspect-delay 5s\n\
         \x20   tcp-request content accept if {{ req.ssl_hello_type 1 }}\n\
         \x20   use_backend bk_b if {{ req.ssl_sni -i a.example }}\n\
         \x20   default_backend bk_default\n\n{}",
        header(1),
        backends_cfg(&s)
    );
    let _lb = Lb::start(&cfg);
    let sni = s.ca.client_config(true, TlsVersion::Any);
    let err = tls_hello(port, &sni, "a.example").map(|(_, l)| l);
    assert!(
        err.is_err(),
        "a.example was routed to bk_b, whose certificate is for b.example: the handshake \
         must fail, got {err:?}"
    );
    assert_eq!(s.b.accepted(), 1, "the connection reached bk_b");
    assert_eq!(s.a.accepted(), 0);
}

#[test]
fn dynamic_backend_name_from_sni_through_a_map_file() {
    let s = servers();
    let dir = TempDir::new();
    let map = dir.path().join("hosts.map");
    std::fs::write(
        &map,
        "# SNI -> backend\n\
         a.example    bk_a\n\
         \n\
         b.example\tbk_b\n\
         d.example bk_does_not_exist\n",
    )
    .unwrap();
    let port = free_port();
    let cfg = format!(
        "{}frontend fe\n\
         \x20   bind 127.0.0.1:{port}\n\
         \x20   tcp-request inspect-delay 5s\n\
         \x20   tcp-request content accept if {{ req.ssl_hello_type 1 }}\n\
         \x20   use_backend %[req.ssl_sni,lower,map({},bk_default)]\n\
         \x20   default_backend bk_b\n\n{}",
        header(1),
        map.display(),
        backends_cfg(&s)
    );
    let _lb = Lb::start(&cfg);
    let sni = s.ca.client_config(true, TlsVersion::Any);
    let no_sni = s.ca.client_config(false, TlsVersion::Any);

    assert_eq!(hello(port, &sni, "a.example"), "a sni=a.example");
    assert_eq!(hello(port, &sni, "b.example"), "b sni=b.example");
    // `lower` before the map lookup: the SNI is sent upper-case on the wire.
    assert_eq!(hello(port, &sni, "B.EXAMPLE"), "b sni=b.example");
    // Not in the map: the map's default names bk_default.
    assert_eq!(hello(port, &sni, "c.example"), "default sni=c.example");
    // No SNI: the fetch fails, the name is empty/unknown: default_backend (bk_b here).
    let line = tls_hello(port, &no_sni, "b.example")
        .map(|(_, l)| l)
        .expect("TLS without SNI");
    assert_eq!(
        line, "b sni=-",
        "without SNI the dynamic name is not a backend: default_backend"
    );
    // In the map, but naming no backend: default_backend too.
    let line = tls_hello(port, &sni, "b.example").map(|(_, l)| l).unwrap();
    assert_eq!(line, "b sni=b.example");
    let d = tls_hello(port, &sni, "d.example").map(|(_, l)| l);
    assert!(
        d.is_err(),
        "d.example maps to a missing backend: default_backend bk_b, whose certificate \
         does not cover d.example; got {d:?}"
    );
    assert_eq!(
        (s.a.accepted(), s.b.accepted(), s.default.accepted()),
        (1, 5, 1),
        "backend accept counts (a, b, default)"
    );
}

#[test]
fn a_client_hello_split_across_segments_is_waited_for() {
    use lb_tests::tls::tls_hello_split;
    let s = servers();
    let port = free_port();
    let cfg = format!(
        "{}frontend fe\n\
         \x20   bind 127.0.0.1:{port}\n\
         \x20   tcp-request inspect-delay 5s\n\
         \x20   tcp-request content accept if {{ req.ssl_hello_type 1 }}\n\
         \x20   use_backend bk_a if {{ req.ssl_sni -i a.example }}\n\
         \x20   use_backend bk_b if {{ req.ssl_sni -i b.example }}\n\
         \x20   default_backend bk_default\n\n{}",
        header(1),
        backends_cfg(&s)
    );
    let _lb = Lb::start(&cfg);
    let sni = s.ca.client_config(true, TlsVersion::Any);
    // Cut inside the record header, before the SNI extension, and near the very end.
    for (cut, name) in [(3, "a"), (40, "b"), (150, "a")] {
        let verify = format!("{name}.example");
        let t = Instant::now();
        let line = tls_hello_split(port, &sni, &verify, cut, Duration::from_millis(300))
            .unwrap_or_else(|e| panic!("ClientHello cut after {cut} bytes: {e}"));
        assert_eq!(
            line,
            format!("{name} sni={verify}"),
            "ClientHello cut after {cut} bytes"
        );
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "decided when the rest came, not at the 5 s delay ({:?})",
            t.elapsed()
        );
    }
    assert_eq!(s.default.accepted(), 0);
}

#[test]
fn map_dom_routes_subdomains_by_sni() {
    let ca = TestCa::new();
    let a = ca.backend("a", &["a.example", "www.a.example"]);
    let b = ca.backend("b", &["b.example", "api.eu.b.example"]);
    let default = ca.backend("default", &["default.example", "ab.example"]);
    let dir = TempDir::new();
    let map = dir.path().join("domains.map");
    std::fs::write(&map, "a.example bk_a\nb.example bk_b\n").unwrap();
    let port = free_port();
    let cfg = format!(
        "{}frontend fe\n\
         \x20   bind 127.0.0.1:{port}\n\
         \x20   tcp-request inspect-delay 5s\n\
         \x20   tcp-request content accept if {{ req.ssl_hello_type 1 }}\n\
         \x20   use_backend %[req.ssl_sni,lower,map_dom({},bk_default)]\n\
         \x20   default_backend bk_default\n\n\
         backend bk_a\n{}\nbackend bk_b\n{}\nbackend bk_default\n{}",
        header(1),
        map.display(),
        server_line(&a, ""),
        server_line(&b, ""),
        server_line(&default, "")
    );
    let _lb = Lb::start(&cfg);
    let sni = ca.client_config(true, TlsVersion::Any);
    assert_eq!(hello(port, &sni, "www.a.example"), "a sni=www.a.example");
    assert_eq!(
        hello(port, &sni, "api.eu.b.example"),
        "b sni=api.eu.b.example"
    );
    assert_eq!(hello(port, &sni, "a.example"), "a sni=a.example");
    // "ab.example" does not contain "a.example" as whole dot-delimited words.
    assert_eq!(hello(port, &sni, "ab.example"), "default sni=ab.example");
}
