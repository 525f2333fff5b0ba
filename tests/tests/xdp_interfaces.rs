//! Per-interface XDP counters end to end: `lb` attaches its program to the host ends of two
//! veth pairs, each namespace sends its own traffic, and `lb xdp stats` (a second `lb`
//! process reading the pinned maps) shows each interface's packets under its name.
//!
//! Needs root and an `lb` built with eBPF (`cargo xtask test` does both); fails otherwise.

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

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn require_xdp() {
    if let Err(why) = lb::ebpf::probe(Path::new("/sys/fs/bpf")) {
        panic!(
            "the XDP end-to-end test cannot run: {why}. Run `cargo xtask setup`, then the tests \
             as root (`sudo cargo xtask test`)"
        );
    }
}

fn stats(pin: &Path) -> Value {
    let pin = pin.to_str().expect("UTF-8 pin path");
    let args = ["xdp", "stats", "--json", "--pin-path", pin];
    let (status, stdout, stderr) = run_lb(&args, Duration::from_secs(10));
    assert!(status.success(), "lb {args:?}: {status}\n{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}"))
}

/// Packets of `reason` on interface `label` (0 when it counted none).
fn on(stats: &Value, label: &str, reason: &str) -> u64 {
    let iface = &stats["interfaces"][label];
    assert!(iface.is_object(), "no interface {label} in {stats}");
    iface["reasons"][reason]["packets"].as_u64().unwrap_or(0)
}

fn ping(ns: &Netns, count: u32) {
    let out = ns.exec(
        "ping",
        &[
            "-c",
            &count.to_string(),
            "-i",
            "0.2",
            "-W",
            "2",
            &ns.host_addr().to_string(),
        ],
    );
    assert!(out.status.success(), "ping from {}: {out:?}", ns.name());
}

#[test]
fn each_interface_counts_its_own_packets() {
    require_xdp();
    let a = Netns::new();
    let b = Netns::new();
    // No IPv6 autoconfiguration chatter: the interfaces then see only the test's frames
    // (and ARP, which counts as pass_other).
    for ns in [&a, &b] {
        let knob = format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", ns.host_if());
        let _ = std::fs::write(knob, "1");
        ns.exec("sysctl", &["-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
    }
    let pin = PinDir(PathBuf::from(format!(
        "/sys/fs/bpf/lb-e2e-if-{}",
        std::process::id()
    )));
    let backend = Backend::identity("s1");
    let port = lb_tests::free_port();
    let config = format!(
        "{}frontend fe\n    bind {}:{port}\n    bind {}:{port}\n    default_backend be\n\n\
         backend be\n{}\n\
         xdp\n    interface {} mode native\n    interface {} mode native\n    pin-path {}\n    required\n",
        header(1),
        a.host_addr(),
        b.host_addr(),
        server_line(&backend, ""),
        a.host_if(),
        b.host_if(),
        pin.0.display()
    );
    let lb = Lb::start(&config);
    for ns in [&a, &b] {
        let attached = format!("XDP attached to {} in native mode", ns.host_if());
        lb.expect_line(&regex::escape(&attached), Duration::from_secs(5));
    }

    let before = stats(&pin.0);
    // Both interfaces have a slot from the start, under their names.
    for ns in [&a, &b] {
        assert_eq!(
            before["interfaces"][ns.host_if()]["ifindex"].as_u64(),
            Some(u64::from(ifindex(ns.host_if()))),
            "{before}"
        );
    }
    const A_PINGS: u32 = 3;
    const A_CONNECTIONS: u64 = 4;
    const B_PINGS: u32 = 6;
    ping(&a, A_PINGS);
    let frontend = SocketAddr::from((a.host_addr(), port));
    a.run(|| {
        for i in 0..A_CONNECTIONS {
            let mut s = TcpStream::connect_timeout(&frontend, Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("connection {i} to {frontend}: {e}"));
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            assert_eq!(read_line(&mut s).unwrap(), "s1");
            s.write_all(b"bye\n").unwrap();
        }
    });
    ping(&b, B_PINGS);
    let after = stats(&pin.0);

    let grew = |label: &str, reason: &str| on(&after, label, reason) - on(&before, label, reason);
    // b only pinged: exactly its echo requests are IPv4 packets.
    assert_eq!(
        grew(b.host_if(), "pass_ipv4"),
        u64::from(B_PINGS),
        "{after}"
    );
    // a pinged and connected (SYN, ACK, data, FIN at least per connection).
    let a_ipv4 = grew(a.host_if(), "pass_ipv4");
    assert!(
        a_ipv4 >= u64::from(A_PINGS) + 3 * A_CONNECTIONS,
        "{} counted {a_ipv4} IPv4 packets: {after}",
        a.host_if()
    );
    // The totals are the sum of the interfaces (and "other").
    let total = |s: &Value| s["total"]["packets"].as_u64().expect("total");
    let per_iface: u64 = after["interfaces"]
        .as_object()
        .expect("interfaces")
        .values()
        .map(|i| i["total"]["packets"].as_u64().expect("iface total"))
        .sum();
    assert_eq!(per_iface, total(&after), "{after}");
    assert_eq!(
        after["reasons"]["pass_ipv4"]["packets"].as_u64().unwrap()
            - before["reasons"]["pass_ipv4"]["packets"].as_u64().unwrap(),
        grew(a.host_if(), "pass_ipv4")
            + grew(b.host_if(), "pass_ipv4")
            + grew("other", "pass_ipv4")
    );

    // The table shows both interfaces by name.
    let pin_str = pin.0.to_str().expect("UTF-8");
    let (status, table, _) = run_lb(
        &["xdp", "stats", "--pin-path", pin_str],
        Duration::from_secs(10),
    );
    assert!(status.success(), "{table}");
    for ns in [&a, &b] {
        assert!(
            table
                .lines()
                .any(|l| l.starts_with(ns.host_if()) && l.contains("pass_ipv4")),
            "no pass_ipv4 line for {} in\n{table}",
            ns.host_if()
        );
    }
    drop(lb);
}

fn ifindex(name: &str) -> u32 {
    std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}
