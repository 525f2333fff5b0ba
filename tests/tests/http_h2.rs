//! HTTP/2 in HTTP mode: cleartext HTTP/2 clients with prior knowledge (curl, h2load, the
//! hyper client), and `server ... proto h2` toward an HTTP/2 server, with the translation
//! between HTTP/1.1 and HTTP/2 in both directions (`Host` <-> `:authority`, no
//! connection-specific headers on HTTP/2).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use lb_tests::http::{HttpBackend, get};
use lb_tests::{Lb, free_port};

fn http_header() -> String {
    "global\n    nbthread 1\n    log stdout format raw local0 info\n\n\
     defaults\n    mode http\n    log global\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n\n"
        .to_owned()
}

/// What an HTTP/2 test server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    version: http::Version,
    uri: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A cleartext HTTP/2 (prior knowledge) server answering `h2 METHOD PATH` and recording
/// every request. Runs until the test process ends.
fn h2_server() -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            loop {
                let Ok((s, _)) = listener.accept().await else {
                    continue;
                };
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                        let log = Arc::clone(&log);
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body.collect().await.map(|b| b.to_bytes().to_vec());
                            let text = format!("h2 {} {}", parts.method, parts.uri.path());
                            log.lock().unwrap().push(Seen {
                                version: parts.version,
                                uri: parts.uri.to_string(),
                                headers: parts
                                    .headers
                                    .iter()
                                    .map(|(k, v)| {
                                        (k.to_string(), v.to_str().unwrap_or("").to_owned())
                                    })
                                    .collect(),
                                body: body.unwrap_or_default(),
                            });
                            let res = http::Response::builder()
                                .header("x-server", "h2")
                                .body(Full::new(Bytes::from(text)))
                                .unwrap();
                            Ok::<_, Infallible>(res)
                        }
                    });
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(s), svc)
                        .await;
                });
            }
        });
    });
    (addr, seen)
}

fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn h2c_prior_knowledge_clients_reach_http1_servers() {
    let b = HttpBackend::echo("s1");
    let port = free_port();
    let cfg = http_header()
        + &format!(
            "listen px\n    bind 127.0.0.1:{port}\n    option forwardfor\n    server s1 {}\n",
            b.addr()
        );
    let _lb = Lb::start(&cfg);
    let url = format!("http://127.0.0.1:{port}/h2/path?q=1");
    let (out, err) = curl(&[
        "--http2-prior-knowledge",
        "-H",
        "x-test: yes",
        "-d",
        "payload",
        "-w",
        "\n%{http_code} %{http_version}",
        &url,
    ]);
    assert!(out.ends_with("\n200 2"), "{out:?} {err}");
    let reqs = b.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.version, "HTTP/1.1");
    assert_eq!(
        (r.method.as_str(), r.target.as_str()),
        ("POST", "/h2/path?q=1")
    );
    // :authority became Host for the HTTP/1.1 server.
    assert_eq!(r.header("host"), Some(format!("127.0.0.1:{port}").as_str()));
    assert_eq!(r.header("x-test"), Some("yes"));
    assert_eq!(r.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(r.body, b"payload");
}

#[test]
fn h2load_runs_many_streams_over_few_connections() {
    let b = HttpBackend::echo("s1");
    let port = free_port();
    let cfg = http_header()
        + &format!(
            "listen px\n    bind 127.0.0.1:{port}\n    server s1 {}\n",
            b.addr()
        );
    let _lb = Lb::start(&cfg);
    let out = Command::new("h2load")
        .args(["-n", "200", "-c", "4", "-m", "10"])
        .arg(format!("http://127.0.0.1:{port}/load"))
        .output()
        .expect("h2load");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("200 succeeded, 0 failed, 0 errored"),
        "{text}"
    );
    assert!(text.contains("status codes: 200 2xx"), "{text}");
    assert_eq!(b.requests().len(), 200);
}

#[test]
fn proto_h2_servers_get_http2_from_http1_clients() {
    let (addr, seen) = h2_server();
    let port = free_port();
    let cfg = http_header()
        + &format!("listen px\n    bind 127.0.0.1:{port}\n    server s1 {addr} proto h2\n");
    let _lb = Lb::start(&cfg);
    for i in 0..3 {
        let r = get(
            port,
            &format!("/n/{i}?a=b"),
            "x-extra: 1\r\nkeep-alive: 5\r\n",
        )
        .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), format!("h2 GET /n/{i}"));
        assert_eq!(r.get("x-server"), Some("h2"));
    }
    let first = seen.lock().unwrap().clone();
    assert_eq!(first.len(), 3);
    let s = &first[0];
    assert_eq!(s.version, http::Version::HTTP_2);
    // The authority crossed as :authority (hyper shows it in the URI) or as a host field
    // (HAProxy's choice for an origin-form request).
    assert!(s.uri.ends_with("/n/0?a=b"), "{}", s.uri);
    let host_field = s.headers.iter().any(|(k, v)| k == "host" && v == "test");
    assert!(s.uri.starts_with("http://test/") || host_field, "{s:?}");
    assert!(s.headers.iter().any(|(k, v)| k == "x-extra" && v == "1"));
    // No connection-specific header crossed into HTTP/2.
    for forbidden in ["connection", "keep-alive", "transfer-encoding"] {
        assert!(
            !s.headers.iter().any(|(k, _)| k == forbidden),
            "{forbidden} in {:?}",
            s.headers
        );
    }
    // A POST body crosses too.
    let r = lb_tests::http::request(
        port,
        b"POST /post HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody",
    )
    .unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "h2 POST /post"));
    let last = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.body, b"body");
}

#[test]
fn h2_client_to_h2_server_end_to_end() {
    let (addr, seen) = h2_server();
    let port = free_port();
    let cfg = http_header()
        + &format!("listen px\n    bind 127.0.0.1:{port}\n    server s1 {addr} proto h2\n");
    let _lb = Lb::start(&cfg);
    let url = format!("http://127.0.0.1:{port}/both");
    let (out, err) = curl(&["--http2-prior-knowledge", "-w", " %{http_version}", &url]);
    assert_eq!(out, "h2 GET /both 2", "{err}");
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(seen.lock().unwrap().len(), 1);
}
