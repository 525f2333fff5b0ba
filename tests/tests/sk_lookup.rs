//! Address prefixes and port ranges on `bind`: with eBPF, one listening socket per worker
//! serves a whole range through `sk_lookup`, and the address and port the client really
//! reached are what `dst`/`dst_port` report (checked through the PROXY header the server
//! receives with `send-proxy`). Without eBPF, small ranges are expanded into one socket per
//! port and large ones are refused with the limit in the message.
//!
//! Ranges use 127.1.0.0/16 and up, which no other test connects to (`sk_lookup` takes every
//! connection to the range's ports there, whatever else listens on them), and each test its
//! own /24 or /16 so that tests running in parallel never share a range.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lb_tests::client::read_line;
use lb_tests::proxy_proto::read_header;
use lb_tests::{Backend, Lb};

/// A server that reads the PROXY header and answers `DST_IP DST_PORT`.
fn dst_reporter() -> Backend {
    Backend::custom("dst", |mut s: TcpStream, _| {
        let Ok(h) = read_header(&mut s) else {
            return;
        };
        let line = match h.addrs {
            Some((_, d)) => format!("{} {}\n", d.ip(), d.port()),
            None => "none\n".to_owned(),
        };
        let _ = s.write_all(line.as_bytes());
    })
}

fn config(bind: &str, nbthread: usize, server: &Backend) -> String {
    format!(
        "global\n    nbthread {nbthread}\n\ndefaults\n    mode tcp\n    timeout connect 2s\n    \
         timeout client 10s\n    timeout server 10s\n\nfrontend fe\n    bind {bind}\n    \
         default_backend be\n\nbackend be\n    server s {} send-proxy\n",
        server.addr()
    )
}

/// A first port such that nothing listens on `first..first + n` at any address.
fn free_range(n: u16) -> u16 {
    let listening = lb_tests::lb::listening_ports();
    let mut first = 20_000;
    while (first..first + n).any(|p| listening.contains(&p)) {
        first += n;
    }
    first
}

fn ask_dst(ip: Ipv4Addr, port: u16) -> std::io::Result<String> {
    let addr = SocketAddr::from((ip, port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    read_line(&mut s)
}

/// Listening sockets bound to `ip` (any port), from /proc/net/tcp.
fn listening_on(ip: Ipv4Addr) -> usize {
    let hex = format!("{:08X}", u32::from_ne_bytes(ip.octets()));
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.get(3) == Some(&"0A") && cols.get(1).is_some_and(|a| a.starts_with(&hex))
        })
        .count()
}

#[test]
fn a_thousand_ports_on_one_socket_per_worker_report_the_real_destination() {
    let server = dst_reporter();
    let first = free_range(1000);
    let last = first + 999;
    let lb = Lb::spawn(
        &config(&format!("127.1.0.0/24:{first}-{last}"), 2, &server),
        &["-d"],
    );
    lb.expect_line(
        "eBPF steering: .* 1 range\\(s\\) through sk_lookup",
        Duration::from_secs(5),
    );
    lb.expect_line("started", Duration::from_secs(5));
    // One socket per worker, bound to the range's first address and port.
    assert_eq!(listening_on(Ipv4Addr::new(127, 1, 0, 0)), 2);
    for (i, port) in (first..=last).enumerate() {
        let ip = Ipv4Addr::new(127, 1, 0, u8::try_from(i % 250).unwrap() + 1);
        let got = ask_dst(ip, port).unwrap_or_else(|e| panic!("{ip}:{port}: {e}"));
        assert_eq!(got, format!("{ip} {port}"));
    }
    // Outside the prefix or the ports: nothing there.
    assert!(ask_dst(Ipv4Addr::new(127, 1, 1, 1), first).is_err());
    assert!(ask_dst(Ipv4Addr::new(127, 1, 0, 1), last + 1).is_err());
    drop(lb);
    // The program went with the process: the ports are plain closed ports again.
    assert!(ask_dst(Ipv4Addr::new(127, 1, 0, 1), first + 1).is_err());
}

#[test]
fn without_ebpf_small_ranges_are_expanded() {
    let server = dst_reporter();
    let first = free_range(4);
    let lb = Lb::spawn_with_env(
        &config(&format!("127.3.0.2/31:{first}-{}", first + 3), 2, &server),
        &["-d"],
        &[("LB_NO_EBPF", "1")],
    );
    lb.expect_line("eBPF steering unavailable", Duration::from_secs(5));
    lb.expect_line("started", Duration::from_secs(5));
    // 2 addresses x 4 ports x 2 workers.
    let sockets =
        listening_on(Ipv4Addr::new(127, 3, 0, 2)) + listening_on(Ipv4Addr::new(127, 3, 0, 3));
    assert_eq!(sockets, 16);
    for ip in [Ipv4Addr::new(127, 3, 0, 2), Ipv4Addr::new(127, 3, 0, 3)] {
        for port in first..first + 4 {
            assert_eq!(ask_dst(ip, port).unwrap(), format!("{ip} {port}"));
        }
    }
}

#[test]
fn without_ebpf_large_ranges_are_refused_naming_the_limit() {
    let server = dst_reporter();
    let mut lb = Lb::spawn_with_env(
        &config("127.1.0.0/24:20000-20999", 1, &server),
        &["-d"],
        &[("LB_NO_EBPF", "1")],
    );
    let status = lb.wait_exit(Duration::from_secs(10)).expect("lb exits");
    assert!(!status.success());
    let err = lb.output().stderr();
    assert!(err.contains("[127.1.0.0/24:20000-20999]"), "{err}");
    assert!(
        err.contains(
            "needs 256000 sockets per worker without eBPF sk_lookup, more than the limit of 1024"
        ),
        "{err}"
    );
}

#[test]
fn ipv6_ranges_report_the_real_destination() {
    let server = dst_reporter();
    let first = free_range(20);
    let lb = Lb::spawn(
        &config(&format!("[::1]:{first}-{}", first + 19), 2, &server),
        &["-d"],
    );
    lb.expect_line("1 range\\(s\\) through sk_lookup", Duration::from_secs(5));
    lb.expect_line("started", Duration::from_secs(5));
    for port in first..first + 20 {
        let addr = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("{addr}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(read_line(&mut s).unwrap(), format!("::1 {port}"));
    }
}

#[test]
fn a_reload_hands_the_range_over_without_failures() {
    let server = dst_reporter();
    let first = free_range(100);
    let cfg = config(&format!("127.2.0.0/24:{first}-{}", first + 99), 2, &server);
    let mut old = Lb::spawn(&cfg, &["-d"]);
    old.expect_line("started", Duration::from_secs(5));
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4u16)
        .map(|c| {
            let (stop, failures, done) =
                (Arc::clone(&stop), Arc::clone(&failures), Arc::clone(&done));
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(20);
                let mut i = c;
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let ip = Ipv4Addr::new(127, 2, 0, 1 + u8::try_from(i % 200).unwrap());
                    let port = first + i % 100;
                    match ask_dst(ip, port) {
                        Ok(got) if got == format!("{ip} {port}") => {}
                        other => failures
                            .lock()
                            .unwrap()
                            .push(format!("{ip}:{port}: {other:?}")),
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                    i = i.wrapping_add(4);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let new = Lb::spawn(&cfg, &["-d"]);
    new.expect_line("started", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(200));
    old.signal(libc::SIGUSR1);
    assert!(old.wait_exit(Duration::from_secs(10)).is_some());
    let before = done.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let after = done.load(Ordering::Relaxed);
    assert!(
        after > before + 20,
        "the new process serves: {before} then {after}"
    );
    assert_eq!(*failures.lock().unwrap(), Vec::<String>::new());
}
