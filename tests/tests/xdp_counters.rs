//! The kernel fast path end to end: `lb` attaches its XDP program to the host end of a veth
//! pair, a network namespace on the other end pings and connects through it, and
//! `lb xdp stats` (a second `lb` process reading the pinned map) shows the packets.
//!
//! Needs root and an `lb` built with eBPF (`cargo xtask test` does both). Where it cannot
//! run, it fails: a test that must run and does not is a failure, not a skip.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use lb_tests::lb::run_lb;
use lb_tests::netns::Netns;
use lb_tests::{Backend, Lb, header, read_line, server_line};
use serde_json::Value;

/// A bpffs directory for this test's pinned maps, removed on drop.
struct PinDir(PathBuf);

impl PinDir {
    fn new() -> Self {
        Self(PathBuf::from(format!(
            "/sys/fs/bpf/lb-e2e-{}",
            std::process::id()
        )))
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Fails with the reason when this host or this build cannot run XDP.
fn require_xdp() {
    if let Err(why) = lb::ebpf::probe(Path::new("/sys/fs/bpf")) {
        let hint = if std::env::var_os("CI").is_some() {
            "CI must run the suite as root with the eBPF toolchain: `cargo xtask test`"
        } else {
            "run `cargo xtask setup`, then the tests as root (`sudo cargo xtask test`)"
        };
        panic!("the XDP end-to-end test cannot run: {why}. {hint}");
    }
}

/// `lb xdp stats --json --pin-path DIR`, parsed.
fn stats(pin: &Path) -> Value {
    let pin = pin.to_str().expect("UTF-8 pin path");
    let args = ["xdp", "stats", "--json", "--pin-path", pin];
    let (status, stdout, stderr) = run_lb(&args, Duration::from_secs(10));
    assert!(status.success(), "lb {args:?}: {status}\n{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}"))
}

fn packets(stats: &Value, reason: &str) -> u64 {
    stats["reasons"][reason]["packets"]
        .as_u64()
        .unwrap_or_else(|| panic!("no {reason} in {stats}"))
}

#[test]
fn xdp_counts_pings_and_connections_from_a_namespace() {
    require_xdp();
    let ns = Netns::new();
    let pin = PinDir::new();
    let backend = Backend::identity("s1");
    let port = lb_tests::free_port();
    let config = format!(
        "{}frontend fe\n    bind {}:{port}\n    default_backend be\n\n\
         backend be\n{}\n\
         xdp\n    interface {} mode native\n    pin-path {}\n    required\n",
        header(1),
        ns.host_addr(),
        server_line(&backend, ""),
        ns.host_if(),
        pin.0.display()
    );
    let lb = Lb::start(&config);
    let attached = format!("XDP attached to {} in native mode", ns.host_if());
    lb.expect_line(&regex::escape(&attached), Duration::from_secs(5));
    assert!(ns.host_xdp_attached(), "no XDP program on {}", ns.host_if());

    let before = stats(&pin.0);
    const PINGS: u64 = 5;
    const CONNECTIONS: u64 = 10;
    let ping = ns.exec(
        "ping",
        &[
            "-c",
            "5",
            "-i",
            "0.2",
            "-W",
            "2",
            &ns.host_addr().to_string(),
        ],
    );
    assert!(
        ping.status.success(),
        "ping from the namespace failed: {ping:?}"
    );
    let frontend = SocketAddr::from((ns.host_addr(), port));
    ns.run(|| {
        for i in 0..CONNECTIONS {
            let mut s = TcpStream::connect_timeout(&frontend, Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("connection {i} to {frontend}: {e}"));
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            // Through lb to the identity backend and back: the data path works with XDP on.
            assert_eq!(read_line(&mut s).unwrap(), "s1");
            s.write_all(b"bye\n").unwrap();
        }
    });
    let after = stats(&pin.0);

    // Each echo request is one IPv4 packet; each connection sends at least SYN, ACK, data.
    let sent = PINGS + 3 * CONNECTIONS;
    let grew = |reason| packets(&after, reason) - packets(&before, reason);
    assert!(
        grew("pass_ipv4") >= sent,
        "pass_ipv4 grew by {} < {sent}",
        grew("pass_ipv4")
    );
    let total = |s: &Value| s["total"]["packets"].as_u64().expect("total");
    assert!(total(&after) - total(&before) >= sent);
    for malformed in [
        "malformed_ethernet",
        "malformed_vlan",
        "malformed_ipv4",
        "malformed_ipv6",
    ] {
        assert_eq!(
            grew(malformed),
            0,
            "{malformed} counted well-formed traffic"
        );
    }

    // The counters outlive the process (pinned); the program does not (link closed).
    drop(lb);
    assert!(
        !ns.host_xdp_attached(),
        "XDP still attached after lb exited"
    );
    assert!(packets(&stats(&pin.0), "pass_ipv4") >= packets(&after, "pass_ipv4"));
    let pin_str = pin.0.to_str().expect("UTF-8");
    let (status, table, _) = run_lb(
        &["xdp", "stats", "--pin-path", pin_str],
        Duration::from_secs(10),
    );
    assert!(
        status.success() && table.lines().any(|l| l.starts_with("pass_ipv4")),
        "{table}"
    );
}

#[test]
fn stats_of_a_missing_pin_dir_fail_clearly() {
    let (status, stdout, stderr) = run_lb(
        &[
            "xdp",
            "stats",
            "--pin-path",
            "/sys/fs/bpf/lb-e2e-no-such-dir",
        ],
        Duration::from_secs(10),
    );
    assert!(!status.success(), "{stdout}");
    assert!(stderr.contains("LB_XDP_STATS"), "{stderr}");
}
