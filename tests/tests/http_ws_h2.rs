//! WebSocket over HTTP/2 (RFC 8441): an h2c client (hyper, extended `CONNECT` with
//! `:protocol websocket`) reaches an HTTP/1.1 WebSocket server through the proxy, which
//! sends the server a `GET` with `Upgrade: websocket` and a `Sec-WebSocket-Key`, checks
//! the server's `Sec-WebSocket-Accept`, answers the client `200` and tunnels bytes both
//! ways. Checked against HAProxy 2.6 (`cargo xtask reference`).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use lb_tests::{Lb, free_port};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `Sec-WebSocket-Accept` for a key (RFC 6455 4.2.2), computed with ring's SHA-1.
fn accept_for(key: &str) -> String {
    let mut input = key.as_bytes().to_vec();
    input.extend_from_slice(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &input);
    base64(digest.as_ref())
}

fn base64(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An HTTP/1.1 WebSocket server: records each request head, answers `101` with the
/// right accept value (or a wrong one when `honest` is false), then echoes bytes.
fn ws_server(honest: bool) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&heads);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { continue };
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                let key = head
                    .lines()
                    .find_map(|l| {
                        let (n, v) = l.split_once(':')?;
                        n.eq_ignore_ascii_case("sec-websocket-key")
                            .then(|| v.trim().to_owned())
                    })
                    .unwrap_or_default();
                log.lock().unwrap().push(head);
                let accept = if honest {
                    accept_for(&key)
                } else {
                    accept_for("not the key")
                };
                let answer = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
                );
                if s.write_all(answer.as_bytes()).is_err() {
                    return;
                }
                let mut buf = [0u8; 4096];
                loop {
                    match r.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    (addr, heads)
}

fn start(server: SocketAddr) -> (Lb, u16) {
    let port = free_port();
    let lb = Lb::start(&format!(
        "global\n    nbthread 1\n    log stdout format raw local0 info\n\n\
         defaults\n    mode http\n    log global\n    option httplog\n    \
         timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n    \
         timeout tunnel 10s\n\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    \
         http-request set-header x-seen-method %[method]\n    default_backend be\n\n\
         backend be\n    server s1 {server}\n"
    ));
    (lb, port)
}

/// Opens an h2c connection, waits for the proxy's SETTINGS (which must allow extended
/// CONNECT), sends `CONNECT :protocol websocket` and returns the response status and,
/// on 200, the echo of `msg` through the tunnel.
async fn ws_over_h2(port: u16, msg: &[u8]) -> (u16, Vec<u8>) {
    let mut sender = lb_tests::http::h2c(port).await;
    // The h2 client refuses extended CONNECT until the server's SETTINGS allowed it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut req = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(format!("http://127.0.0.1:{port}/chat"))
        .header("sec-websocket-version", "13")
        .body(Empty::new())
        .unwrap();
    req.extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    sender.ready().await.unwrap();
    let res = sender.send_request(req).await.unwrap();
    let status = res.status().as_u16();
    if status != 200 {
        return (status, Vec::new());
    }
    let upgraded = hyper::upgrade::on(res).await.unwrap();
    let mut io = TokioIo::new(upgraded);
    io.write_all(msg).await.unwrap();
    io.flush().await.unwrap();
    let mut got = vec![0u8; msg.len()];
    tokio::time::timeout(Duration::from_secs(5), io.read_exact(&mut got))
        .await
        .expect("echo within 5 s")
        .unwrap();
    (status, got)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn websocket_over_h2_reaches_an_http1_server() {
    let (server, heads) = ws_server(true);
    let (lb, port) = start(server);
    let msg = b"\x81\x85hello websocket frames pass untouched";
    let (status, echo) = runtime().block_on(ws_over_h2(port, msg));
    assert_eq!(status, 200, "server saw {:?}", heads.lock().unwrap());
    assert_eq!(echo, msg);
    let heads = heads.lock().unwrap();
    assert_eq!(heads.len(), 1, "{heads:?}");
    let head = heads[0].to_ascii_lowercase();
    assert!(head.starts_with("get /chat http/1.1\r\n"), "{head}");
    assert!(head.contains("\r\nupgrade: websocket\r\n"), "{head}");
    assert!(head.contains("\r\nconnection: upgrade\r\n"), "{head}");
    assert!(head.contains("\r\nsec-websocket-version: 13\r\n"), "{head}");
    assert!(head.contains("\r\nsec-websocket-key: "), "{head}");
    // Rules saw the HTTP/1.1 form of the request.
    assert!(head.contains("\r\nx-seen-method: get\r\n"), "{head}");
    drop(heads);
    // As HAProxy, the log shows the server's 101 (the client saw it as 200).
    let line = lb.expect_line(r#"/chat HTTP/2\.0"$"#, Duration::from_secs(5));
    assert!(line.contains(" 101 ") && line.contains(" ---- "), "{line}");
}

#[test]
fn a_wrong_accept_value_is_a_bad_gateway() {
    let (server, heads) = ws_server(false);
    let (lb, port) = start(server);
    let (status, _) = runtime().block_on(ws_over_h2(port, b"x"));
    assert_eq!(status, 502);
    let line = lb.expect_line(r#"/chat HTTP/2\.0"$"#, Duration::from_secs(5));
    assert!(line.contains(" 502 ") && line.contains(" PH-- "), "{line}");
    assert_eq!(heads.lock().unwrap().len(), 1);
}

#[test]
fn http1_websocket_clients_still_upgrade() {
    let (server, heads) = ws_server(true);
    let (_lb, port) = start(server);
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    c.write_all(
        format!(
            "GET /chat HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut r = BufReader::new(c.try_clone().unwrap());
    let mut head = String::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        head.push_str(&line);
    }
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains(&accept_for(key)), "{head}");
    c.write_all(b"ping").unwrap();
    let mut got = [0u8; 4];
    r.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping");
    // The client's own key went to the server untouched.
    assert!(heads.lock().unwrap()[0].contains(key));
}

#[test]
fn websocket_over_h2_toward_an_h2_server_is_refused_plainly() {
    // HAProxy would relay it with RFC 8441 to the server; lb does not yet, and says so.
    if lb_tests::lb::lb_bin().ends_with("haproxy-as-lb") {
        return;
    }
    // An HTTP/2 "server" that accepts and keeps the connection: lb refuses before sending.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming() {
            held.push(c);
        }
    });
    let port = free_port();
    let lb = Lb::start(&format!(
        "global\n    nbthread 1\n    log stdout format raw local0 info\n\n\
         defaults\n    mode http\n    log global\n    option httplog\n    \
         timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\n\
         listen px\n    bind 127.0.0.1:{port}\n    server s1 {server} proto h2\n"
    ));
    let (status, _) = runtime().block_on(ws_over_h2(port, b"x"));
    assert_eq!(status, 502);
    lb.expect_line(
        r"px: \S+: request WebSocket over HTTP/2 toward a 'proto h2' server is not supported",
        Duration::from_secs(5),
    );
}
