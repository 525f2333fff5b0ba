//! HTTP log timers as HAProxy 2.6 defines them (manual 8.4): `%Th` handshake, `%Ti` idle
//! time before the request's first byte, `%TR` from that byte to the end of the head,
//! `%Tq = Th + Ti + TR`, `%Ta = Tt - Th - Ti`, with a slow client that sends its heads in
//! two parts, on a fresh and on a kept-alive connection, and HTTP/2 streams. Checked
//! against HAProxy 2.6 (`cargo xtask reference`).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use lb_tests::http::{HttpBackend, Response};
use lb_tests::{Lb, free_port};

const WAIT: Duration = Duration::from_secs(5);

/// `%Th %Ti %TR %Tq %Ta %Tt` of the log line of `path`.
fn timers(lb: &Lb, path: &str) -> [i64; 6] {
    let line = lb.expect_line(&format!(r"^T .* {path}$"), WAIT);
    let v: Vec<i64> = line
        .split(' ')
        .skip(1)
        .take(6)
        .map(|f| f.parse().unwrap())
        .collect();
    v.try_into().unwrap()
}

fn near(value: i64, expected: i64, line: &[i64; 6]) {
    assert!(
        (expected - 10..=expected + 150).contains(&value),
        "{value} is not about {expected} in Th Ti TR Tq Ta Tt = {line:?}"
    );
}

#[test]
fn idle_and_request_times_of_a_slow_client() {
    let s1 = HttpBackend::echo("s1");
    let port = free_port();
    let lb = Lb::start(&format!(
        "global\n    nbthread 1\n    log stdout format raw local0 info\n\n\
         defaults\n    mode http\n    log global\n    timeout connect 2s\n    \
         timeout client 10s\n    timeout server 10s\n\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    \
         log-format \"T %Th %Ti %TR %Tq %Ta %Tt %HP\"\n    default_backend be\n\n\
         backend be\n    server s1 {}\n",
        s1.addr()
    ));
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_nodelay(true).unwrap();
    let mut r = BufReader::new(c.try_clone().unwrap());
    // First request: idle 300 ms after the accept, then a head in two parts 400 ms apart.
    std::thread::sleep(Duration::from_millis(300));
    c.write_all(b"GET /first HTTP/1.1\r\nhost: t\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(400));
    c.write_all(b"x-late: 1\r\n\r\n").unwrap();
    assert_eq!(Response::read(&mut r, false).unwrap().status, 200);
    // Second request on the kept-alive connection: idle 200 ms, head split 150 ms apart.
    std::thread::sleep(Duration::from_millis(200));
    c.write_all(b"GET /second HTTP/1.1\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(150));
    c.write_all(b"host: t\r\n\r\n").unwrap();
    assert_eq!(Response::read(&mut r, false).unwrap().status, 200);

    let t = timers(&lb, "/first");
    let [th, ti, tr, tq, ta, tt] = t;
    assert!((0..50).contains(&th), "{t:?}");
    near(ti, 300, &t);
    near(tr, 400, &t);
    assert_eq!(tq, th + ti + tr, "{t:?}");
    assert_eq!(ta, tt - th - ti, "{t:?}");
    assert!(ta >= tr, "{t:?}");

    let t = timers(&lb, "/second");
    let [th, ti, tr, tq, ta, tt] = t;
    assert_eq!(th, 0, "{t:?}");
    near(ti, 200, &t);
    near(tr, 150, &t);
    assert_eq!(tq, th + ti + tr, "{t:?}");
    assert_eq!(ta, tt - th - ti, "{t:?}");
}

#[test]
fn http2_streams_count_idle_time_from_the_last_stream() {
    let s1 = HttpBackend::echo("s1");
    let port = free_port();
    let lb = Lb::start(&format!(
        "global\n    nbthread 1\n    log stdout format raw local0 info\n\n\
         defaults\n    mode http\n    log global\n    timeout connect 2s\n    \
         timeout client 10s\n    timeout server 10s\n\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    \
         log-format \"T %Th %Ti %TR %Tq %Ta %Tt %HP\"\n    default_backend be\n\n\
         backend be\n    server s1 {}\n",
        s1.addr()
    ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut sender = lb_tests::http::h2c(port).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        for path in ["/h2a", "/h2b"] {
            let req = http::Request::builder()
                .uri(format!("http://127.0.0.1:{port}{path}"))
                .body(http_body_util::Empty::new())
                .unwrap();
            sender.ready().await.unwrap();
            let res = sender.send_request(req).await.unwrap();
            assert_eq!(res.status(), 200);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    // The first stream waited 300 ms after the preface, the second 200 ms after the first
    // ended; a stream's head comes in one block (TR 0).
    let t = timers(&lb, r"\S*/h2a");
    let [th, ti, tr, tq, ta, tt] = t;
    assert!((0..50).contains(&th), "{t:?}");
    near(ti, 300, &t);
    assert_eq!(tr, 0, "{t:?}");
    assert_eq!(tq, th + ti, "{t:?}");
    assert_eq!(ta, tt - th - ti, "{t:?}");
    let t = timers(&lb, r"\S*/h2b");
    let [th, ti, tr, _, ta, tt] = t;
    assert_eq!((th, tr), (0, 0), "{t:?}");
    near(ti, 200, &t);
    assert_eq!(ta, tt - ti, "{t:?}");
}
