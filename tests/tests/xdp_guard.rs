//! The XDP guard operated end to end: `lb` attaches to the host ends of veth pairs whose
//! other ends sit in network namespaces; clients (and `hping3` floods) in the namespaces
//! connect through the guard. Counters are read with `lb xdp stats --json`, lists with
//! `lb xdp deny|allow list --json` and the runtime API.
//!
//! Needs root, `hping3` and an `lb` built with eBPF (`cargo xtask test`): where it cannot
//! run, it fails. Namespaces, links and pinned maps are removed by drop guards.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lb_tests::lb::{lb_bin, run_lb};
use lb_tests::netns::Netns;
use lb_tests::runtime::{runtime_cmd, runtime_ok, stats_socket_line};
use lb_tests::{Backend, Lb, TempDir, header, header_with, read_line, server_line};
use serde_json::Value;

/// A bpffs directory for one test's pinned maps, removed on drop.
struct PinDir(PathBuf);

impl PinDir {
    fn new(tag: &str) -> Self {
        let dir = PathBuf::from(format!(
            "/sys/fs/bpf/lb-e2e-guard-{}-{tag}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }

    fn arg(&self) -> &str {
        self.0.to_str().expect("UTF-8 pin path")
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A bridge on the host, without ports: a link whose driver has no native XDP support.
/// Removed on drop.
struct Bridge(String);

impl Bridge {
    fn new(tag: &str) -> Self {
        let name = format!("lbd{}{tag}", std::process::id() % 100_000);
        let _ = Command::new("ip").args(["link", "del", &name]).output();
        let out = Command::new("ip")
            .args(["link", "add", &name, "type", "bridge"])
            .output()
            .expect("ip link add");
        assert!(out.status.success(), "ip link add {name}: {out:?}");
        let up = Command::new("ip")
            .args(["link", "set", &name, "up"])
            .output()
            .expect("ip link set");
        assert!(up.status.success(), "{up:?}");
        Self(name)
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
    }
}

/// Fails with the reason when this host or this build cannot run XDP.
fn require_xdp() {
    if let Err(why) = lb::ebpf::probe(Path::new("/sys/fs/bpf")) {
        panic!(
            "the XDP guard tests cannot run: {why}. Run `cargo xtask setup`, then the tests as root"
        );
    }
}

/// `lb xdp stats --json --pin-path DIR`, parsed.
fn stats(pin: &PinDir) -> Value {
    let args = ["xdp", "stats", "--json", "--pin-path", pin.arg()];
    let (status, stdout, stderr) = run_lb(&args, Duration::from_secs(10));
    assert!(status.success(), "lb {args:?}: {status}\n{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}"))
}

fn packets(stats: &Value, reason: &str) -> u64 {
    stats["reasons"][reason]["packets"]
        .as_u64()
        .unwrap_or_else(|| panic!("no {reason} in {stats}"))
}

fn port_packets(stats: &Value, port: u16, reason: &str) -> u64 {
    stats["ports"][port.to_string()][reason]["packets"]
        .as_u64()
        .unwrap_or(0)
}

/// `lb xdp LIST list --json -p PIN`, the entries.
fn list(pin: &PinDir, kind: &str) -> Vec<Value> {
    let args = ["xdp", kind, "list", "--json", "-p", pin.arg()];
    let (status, stdout, stderr) = run_lb(&args, Duration::from_secs(10));
    assert!(status.success(), "lb {args:?}: {status}\n{stderr}");
    let v: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}"));
    v["entries"].as_array().cloned().unwrap_or_default()
}

fn entry<'a>(entries: &'a [Value], cidr: &str) -> Option<&'a Value> {
    entries.iter().find(|e| e["cidr"] == cidr)
}

/// `lb xdp ARGS`, asserting success; its stdout.
fn xdp_cli(args: &[&str]) -> String {
    let mut full = vec!["xdp"];
    full.extend_from_slice(args);
    let (status, stdout, stderr) = run_lb(&full, Duration::from_secs(10));
    assert!(status.success(), "lb {full:?}: {status}\n{stdout}{stderr}");
    stdout
}

/// One connection from inside `ns` to `to`: the backend's name line, or the error.
fn ask(ns: &Netns, to: SocketAddr, timeout: Duration) -> Result<String, String> {
    ns.run(|| {
        let mut s = TcpStream::connect_timeout(&to, timeout).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        let line = read_line(&mut s).map_err(|e| e.to_string())?;
        let _ = s.write_all(b"bye\n");
        Ok(line)
    })
}

/// A connection attempt that must not complete: dropped in XDP, the SYN goes unanswered.
fn assert_times_out(ns: &Netns, to: SocketAddr) {
    let started = Instant::now();
    let got = ns.run(|| TcpStream::connect_timeout(&to, Duration::from_secs(1)));
    match got {
        Ok(_) => panic!("connection to {to} succeeded, expected a drop in XDP"),
        Err(e) => assert!(
            e.kind() == std::io::ErrorKind::TimedOut
                && started.elapsed() >= Duration::from_millis(900),
            "expected a timeout (SYN dropped), got {e} after {:?}",
            started.elapsed()
        ),
    }
}

/// A frontend on `addrs` (all on `port`) in front of one identity backend, and an `xdp`
/// section attaching in native mode to `interfaces`, `required`, with `guard` lines.
struct Setup<'a> {
    global_extra: &'a str,
    addrs: &'a [Ipv4Addr],
    port: u16,
    frontend_extra: &'a str,
    backend: &'a Backend,
    interfaces: &'a [&'a str],
    pin: &'a PinDir,
    guard: &'a str,
}

impl Setup<'_> {
    fn config(&self) -> String {
        let binds: Vec<String> = self
            .addrs
            .iter()
            .map(|a| format!("{a}:{}", self.port))
            .collect();
        let ifaces: String = self
            .interfaces
            .iter()
            .map(|i| format!("    interface {i} mode native\n"))
            .collect();
        format!(
            "{}frontend fe\n    bind {}\n{}    default_backend be\n\n\
             backend be\n{}\n\
             xdp\n{ifaces}    pin-path {}\n    required\n{}",
            header_with(1, self.global_extra),
            binds.join(","),
            self.frontend_extra,
            server_line(self.backend, ""),
            self.pin.arg(),
            self.guard
        )
    }
}

#[test]
fn syn_flood_is_dropped_in_xdp_and_legitimate_clients_get_answers() {
    require_xdp();
    let flood_ns = Netns::new();
    let legit_ns = Netns::new();
    let pin = PinDir::new("flood");
    let backend = Backend::identity("s1");
    let port = lb_tests::free_port();
    let config = Setup {
        global_extra: "",
        addrs: &[flood_ns.host_addr(), legit_ns.host_addr()],
        port,
        frontend_extra: "",
        backend: &backend,
        interfaces: &[flood_ns.host_if(), legit_ns.host_if()],
        pin: &pin,
        guard: "    syn-rate 20 burst 20\n    syn-cookies check\n",
    }
    .config();
    let lb = Lb::start(&config);
    lb.expect_line("XDP guard active: protected ports", Duration::from_secs(5));
    let before = stats(&pin);

    let target = flood_ns.host_addr().to_string();
    let port_text = port.to_string();
    const FLOOD: u64 = 20_000;
    let flooder = std::thread::spawn({
        let ns = flood_ns.name().to_owned();
        move || {
            // 10,000 SYNs per second for two seconds, bounded by count and time.
            Command::new("ip")
                .args(["netns", "exec", &ns, "timeout", "20", "hping3", "-q", "-S"])
                .args(["-p", &port_text, "-i", "u100", "-c", "20000", &target])
                .output()
                .expect("run hping3 (apt install hping3)")
        }
    });
    // Meanwhile, a legitimate client of another source, at 10 connections per second.
    let legit_to = SocketAddr::from((legit_ns.host_addr(), port));
    let mut answered = 0;
    for i in 0..20 {
        match ask(&legit_ns, legit_to, Duration::from_secs(3)) {
            Ok(name) => {
                assert_eq!(name, "s1");
                answered += 1;
            }
            Err(e) => panic!("legitimate connection {i} failed during the flood: {e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let flood = flooder.join().unwrap();
    assert!(
        String::from_utf8_lossy(&flood.stderr).contains("20000 packets transmitted"),
        "hping3 did not run: {flood:?}"
    );
    let after = stats(&pin);
    let grew = |reason| packets(&after, reason) - packets(&before, reason);
    assert_eq!(answered, 20);
    // At most the burst plus 20 per second of the flood passed.
    assert!(
        grew("syn_over_source") >= FLOOD - 200,
        "syn_over_source grew by {} for a flood of {FLOOD}",
        grew("syn_over_source")
    );
    assert!(
        port_packets(&after, port, "syn_over_source") >= FLOOD - 200,
        "per-port counter: {}",
        after["ports"]
    );
    assert_eq!(grew("deny_list"), 0);
}

#[test]
fn the_global_syn_budget_caps_the_whole_host() {
    require_xdp();
    let ns = Netns::new();
    let pin = PinDir::new("global");
    let backend = Backend::identity("s1");
    let port = lb_tests::free_port();
    let config = Setup {
        global_extra: "",
        addrs: &[ns.host_addr()],
        port,
        frontend_extra: "",
        backend: &backend,
        interfaces: &[ns.host_if()],
        pin: &pin,
        guard: "    syn-global-rate 100 burst 100\n",
    }
    .config();
    let lb = Lb::start(&config);
    lb.expect_line("syn-global-rate 100/s burst 100", Duration::from_secs(5));
    let before = stats(&pin);
    // 5,000 SYNs in about a second; the host accepts about 100 per second plus the burst.
    let flood = ns.exec(
        "timeout",
        &[
            "20",
            "hping3",
            "-q",
            "-S",
            "-p",
            &port.to_string(),
            "-i",
            "u200",
            "-c",
            "5000",
            &ns.host_addr().to_string(),
        ],
    );
    assert!(
        String::from_utf8_lossy(&flood.stderr).contains("5000 packets transmitted"),
        "hping3: {flood:?}"
    );
    let after = stats(&pin);
    let grew = |reason| packets(&after, reason) - packets(&before, reason);
    assert!(
        grew("syn_over_global") >= 4500,
        "syn_over_global grew by {}",
        grew("syn_over_global")
    );
    assert_eq!(grew("syn_over_source"), 0);
}

#[test]
fn allow_listed_sources_skip_the_syn_budget() {
    require_xdp();
    let ns = Netns::new();
    let pin = PinDir::new("allow");
    let backend = Backend::identity("s1");
    let port = lb_tests::free_port();
    let config = Setup {
        global_extra: "",
        addrs: &[ns.host_addr()],
        port,
        frontend_extra: "",
        backend: &backend,
        interfaces: &[ns.host_if()],
        pin: &pin,
        guard: &format!("    syn-rate 1 burst 1\n    allow {}\n", ns.ns_addr()),
    }
    .config();
    let lb = Lb::start(&config);
    lb.expect_line("XDP guard active", Duration::from_secs(5));
    let before = stats(&pin);
    let to = SocketAddr::from((ns.host_addr(), port));
    // Ten connections at once from a source allowed one SYN per second.
    for i in 0..10 {
        let name = ask(&ns, to, Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("allowed connection {i}: {e}"));
        assert_eq!(name, "s1");
    }
    let after = stats(&pin);
    assert!(packets(&after, "allow_list") - packets(&before, "allow_list") >= 30);
    assert_eq!(
        packets(&after, "syn_over_source"),
        packets(&before, "syn_over_source")
    );
    let allowed = list(&pin, "allow");
    let e = entry(&allowed, &format!("{}/32", ns.ns_addr())).expect("allow entry");
    assert!(e["hits"].as_u64().unwrap() >= 30, "{e}");
    assert_eq!(e["expires_in_ms"], Value::Null);

    // Without the allow entry, the same burst meets the budget.
    xdp_cli(&["allow", "del", &ns.ns_addr().to_string(), "-p", pin.arg()]);
    // One SYN per second passes; attempts give up after 300 ms (before a retransmission).
    let mut refused = 0;
    for _ in 0..6 {
        if ask(&ns, to, Duration::from_millis(300)).is_err() {
            refused += 1;
        }
    }
    assert!(
        refused >= 3,
        "only {refused} of 6 connections met the 1/s SYN budget"
    );
    assert!(packets(&stats(&pin), "syn_over_source") > packets(&after, "syn_over_source"));
}

#[test]
fn deny_entries_added_at_run_time_drop_then_expire() {
    require_xdp();
    let ns = Netns::new();
    let pin = PinDir::new("deny");
    let backend = Backend::identity("s1");
    let port = lb_tests::free_port();
    let dir = TempDir::new();
    let sock = dir.path().join("stats.sock");
    let config = Setup {
        global_extra: &stats_socket_line(&sock),
        addrs: &[ns.host_addr()],
        port,
        frontend_extra: "",
        backend: &backend,
        interfaces: &[ns.host_if()],
        pin: &pin,
        guard: "",
    }
    .config();
    let lb = Lb::start(&config);
    lb.expect_line("XDP guard active", Duration::from_secs(5));
    let to = SocketAddr::from((ns.host_addr(), port));
    assert_eq!(ask(&ns, to, Duration::from_secs(2)).unwrap(), "s1");

    // From the command line, for 3 seconds.
    let src = ns.ns_addr().to_string();
    let cidr = format!("{src}/32");
    let out = xdp_cli(&["deny", "add", &src, "3s", "-p", pin.arg()]);
    assert_eq!(out, format!("deny {cidr} added for 3s\n"));
    let added = Instant::now();
    let before = stats(&pin);
    assert_times_out(&ns, to);
    let during = stats(&pin);
    assert!(packets(&during, "deny_list") > packets(&before, "deny_list"));
    let listed = list(&pin, "deny");
    let e = entry(&listed, &cidr).expect("deny entry");
    assert!(e["hits"].as_u64().unwrap() >= 1, "{e}");
    let left = e["expires_in_ms"].as_u64().expect("an expiry");
    assert!(left <= 3000, "{e}");
    // The entry stops matching at its expiry (the purge follows within a second).
    let expiry = added + Duration::from_millis(3200);
    std::thread::sleep(expiry.saturating_duration_since(Instant::now()));
    assert_eq!(ask(&ns, to, Duration::from_secs(2)).unwrap(), "s1");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        entry(&list(&pin, "deny"), &cidr).is_none(),
        "expired entry not purged"
    );

    // From the runtime API, without expiry, then deleted.
    runtime_ok(&sock, &format!("xdp deny add {src}"));
    assert_times_out(&ns, to);
    let shown = runtime_cmd(&sock, "xdp deny list");
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with(&cidr) && l.contains("never")),
        "{shown}"
    );
    runtime_ok(&sock, &format!("xdp deny del {src}"));
    assert_eq!(
        runtime_cmd(&sock, &format!("xdp deny del {src}")).trim(),
        format!("{cidr} is not in the deny list")
    );
    assert_eq!(ask(&ns, to, Duration::from_secs(2)).unwrap(), "s1");
    assert_eq!(
        runtime_cmd(&sock, "xdp deny add 10.0.0.0/33").trim(),
        "invalid CIDR '10.0.0.0/33': expects ADDRESS[/PREFIX]"
    );
}

#[test]
fn a_connection_rate_limit_pushes_the_source_down_to_xdp() {
    require_xdp();
    let ns = Netns::new();
    let pin = PinDir::new("push");
    let backend = Backend::identity("s1");
    let port = lb_tests::free_port();
    let dir = TempDir::new();
    let sock = dir.path().join("stats.sock");
    let rules = "    stick-table type ip size 1k expire 30s store conn_rate(10s)\n\
                 \x20   tcp-request connection track-sc0 src\n\
                 \x20   tcp-request connection xdp-deny for 10s if { sc0_conn_rate gt 5 }\n\
                 \x20   tcp-request connection reject if { sc0_conn_rate gt 5 }\n";
    let config = Setup {
        global_extra: &stats_socket_line(&sock),
        addrs: &[ns.host_addr()],
        port,
        frontend_extra: rules,
        backend: &backend,
        interfaces: &[ns.host_if()],
        pin: &pin,
        guard: "",
    }
    .config();
    let lb = Lb::start(&config);
    lb.expect_line("XDP guard active", Duration::from_secs(5));
    let to = SocketAddr::from((ns.host_addr(), port));
    for i in 0..5 {
        assert_eq!(
            ask(&ns, to, Duration::from_secs(2)).unwrap_or_else(|e| panic!("connection {i}: {e}")),
            "s1"
        );
    }
    // The sixth goes over the rate: rejected, and its source denied in XDP.
    assert!(ask(&ns, to, Duration::from_secs(2)).is_err());
    let cidr = format!("{}/32", ns.ns_addr());
    lb.expect_line(
        &regex::escape(&format!("xdp-deny: {cidr} denied in XDP for 10s")),
        Duration::from_secs(5),
    );
    let listed = list(&pin, "deny");
    let e = entry(&listed, &cidr).expect("pushed-down entry");
    let left = e["expires_in_ms"].as_u64().expect("an expiry");
    assert!((5000..=10_000).contains(&left), "{e}");

    let cum = |s: &str| -> u64 {
        s.lines()
            .find_map(|l| l.strip_prefix("CumConns: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no CumConns in {s}"))
    };
    let conns_before = cum(&runtime_cmd(&sock, "show info"));
    let before = stats(&pin);
    for _ in 0..3 {
        assert_times_out(&ns, to);
    }
    let after = stats(&pin);
    // The SYNs (and their retransmissions) died in XDP: lb accepted nothing more.
    assert!(packets(&after, "deny_list") - packets(&before, "deny_list") >= 3);
    assert_eq!(cum(&runtime_cmd(&sock, "show info")), conns_before);
    let hits = entry(&list(&pin, "deny"), &cidr).expect("entry")["hits"]
        .as_u64()
        .unwrap();
    assert!(hits >= 3, "hits {hits}");
}

/// One `GET /` over a fresh connection from the namespace: the status code.
fn http_get_status(ns: &Netns, to: SocketAddr) -> Result<u16, String> {
    ns.run(|| {
        let mut s =
            TcpStream::connect_timeout(&to, Duration::from_secs(2)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        s.write_all(b"GET / HTTP/1.1\r\nhost: guard\r\nconnection: close\r\n\r\n")
            .map_err(|e| e.to_string())?;
        let line = read_line(&mut s).map_err(|e| e.to_string())?;
        line.split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("bad status line {line:?}"))
    })
}

#[test]
fn an_http_request_rate_limit_pushes_the_source_down_to_xdp() {
    require_xdp();
    let ns = Netns::new();
    let pin = PinDir::new("httppush");
    let backend = lb_tests::http::HttpBackend::echo("s1");
    let port = lb_tests::free_port();
    let config = format!(
        "{}frontend fe\n    mode http\n    bind {}:{port}\n\
         \x20   stick-table type ip size 1k expire 30s store http_req_rate(10s)\n\
         \x20   http-request track-sc0 src\n\
         \x20   http-request xdp-deny for 10s if {{ sc0_http_req_rate gt 5 }}\n\
         \x20   http-request deny if {{ sc0_http_req_rate gt 5 }}\n\
         \x20   default_backend be\n\n\
         backend be\n    mode http\n    server s1 {}\n\n\
         xdp\n    interface {} mode native\n    pin-path {}\n    required\n",
        header(1),
        ns.host_addr(),
        backend.addr(),
        ns.host_if(),
        pin.arg(),
    );
    let lb = Lb::start(&config);
    lb.expect_line("XDP guard active", Duration::from_secs(5));
    let to = SocketAddr::from((ns.host_addr(), port));
    for i in 0..5 {
        assert_eq!(http_get_status(&ns, to), Ok(200), "request {i}");
    }
    // The sixth request goes over the rate: denied by HTTP, and its source pushed to XDP.
    assert_eq!(http_get_status(&ns, to), Ok(403));
    let cidr = format!("{}/32", ns.ns_addr());
    lb.expect_line(
        &regex::escape(&format!("xdp-deny: {cidr} denied in XDP for 10s")),
        Duration::from_secs(5),
    );
    let before = stats(&pin);
    let served = backend.requests().len();
    for _ in 0..3 {
        assert_times_out(&ns, to);
    }
    let after = stats(&pin);
    // The SYNs died in XDP: nothing more reached lb, nor the server.
    assert!(packets(&after, "deny_list") - packets(&before, "deny_list") >= 3);
    assert_eq!(backend.requests().len(), served);
    assert_eq!(served, 5);
    let hits = entry(&list(&pin, "deny"), &cidr).expect("entry")["hits"]
        .as_u64()
        .unwrap();
    assert!(hits >= 3, "hits {hits}");
}

#[test]
fn config_lists_from_files_are_applied_and_restarts_keep_timed_entries() {
    require_xdp();
    let ns = Netns::new();
    let pin = PinDir::new("files");
    let backend = Backend::identity("s1");
    let port = lb_tests::free_port();
    let dir = TempDir::new();
    let deny_file = dir.path().join("deny.lst");
    std::fs::write(
        &deny_file,
        format!(
            "# test\n{}   # the namespace\n2001:db8::/32\n",
            ns.ns_addr()
        ),
    )
    .unwrap();
    let allow_file = dir.path().join("allow.lst");
    std::fs::write(&allow_file, "198.51.100.0/24\n").unwrap();
    let guard = format!(
        "    deny -f {}\n    allow -f {}\n",
        deny_file.display(),
        allow_file.display()
    );
    let config = Setup {
        global_extra: "",
        addrs: &[ns.host_addr()],
        port,
        frontend_extra: "",
        backend: &backend,
        interfaces: &[ns.host_if()],
        pin: &pin,
        guard: &guard,
    }
    .config();
    let lb = Lb::start(&config);
    lb.expect_line(
        "XDP deny list: 2 entries from the configuration",
        Duration::from_secs(5),
    );
    let to = SocketAddr::from((ns.host_addr(), port));
    assert_times_out(&ns, to);
    let denied = list(&pin, "deny");
    let cidr = format!("{}/32", ns.ns_addr());
    assert_eq!(
        entry(&denied, &cidr).expect("config entry")["expires_in_ms"],
        Value::Null
    );
    assert!(entry(&denied, "2001:db8::/32").is_some());
    assert!(entry(&list(&pin, "allow"), "198.51.100.0/24").is_some());
    // A timed run-time entry, and one without expiry.
    xdp_cli(&["deny", "add", "203.0.113.0/24", "10m", "-p", pin.arg()]);
    xdp_cli(&["deny", "add", "203.0.114.0/24", "-p", pin.arg()]);
    drop(lb);

    // Restart without the namespace in the deny file.
    std::fs::write(&deny_file, "2001:db8::/32\n").unwrap();
    let lb = Lb::start(&config);
    lb.expect_line(
        "XDP deny list: 1 entries from the configuration, 1 run-time entries with an expiry kept, 2 stale entries removed",
        Duration::from_secs(5),
    );
    assert_eq!(ask(&ns, to, Duration::from_secs(2)).unwrap(), "s1");
    let denied = list(&pin, "deny");
    assert!(entry(&denied, &cidr).is_none());
    assert!(entry(&denied, "203.0.114.0/24").is_none());
    assert!(entry(&denied, "203.0.113.0/24").is_some());
}

#[test]
fn auto_mode_falls_back_to_generic_and_says_why() {
    require_xdp();
    let bridge = Bridge::new("a");
    let pin = PinDir::new("generic");
    let backend = Backend::identity("s1");
    let port = lb_tests::free_port();
    let fe = format!(
        "{}frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\nbackend be\n{}\n",
        header(1),
        server_line(&backend, "")
    );
    let auto = format!(
        "{fe}xdp\n    interface {} mode auto\n    pin-path {}\n",
        bridge.0,
        pin.arg()
    );
    let lb = Lb::start(&auto);
    lb.expect_line(
        &format!(
            r"XDP attached to {} in generic mode \(native mode failed: .+\)",
            bridge.0
        ),
        Duration::from_secs(5),
    );
    drop(lb);

    let generic = auto.replace("mode auto", "mode generic");
    let lb = Lb::start(&generic);
    lb.expect_line(
        &format!("XDP attached to {} in generic mode", bridge.0),
        Duration::from_secs(5),
    );
    drop(lb);

    // Native only, on an interface without driver support: refused with `required`,
    // disabled (and L7 served) without.
    let native = auto.replace("mode auto", "mode native");
    let mut lb = Lb::spawn(&format!("{native}    required\n"), &["-d"]);
    let status = lb
        .wait_exit(Duration::from_secs(10))
        .expect("lb should exit");
    assert_eq!(status.code(), Some(1));
    assert!(
        lb.output()
            .stderr()
            .contains("[ALERT] xdp is 'required' but could not start: cannot attach XDP to"),
        "{}",
        lb.output().stderr()
    );
    let lb = Lb::start(&native);
    lb.expect_line(
        &format!(
            r"XDP guard disabled on {} \(.+\), serving L7 only",
            bridge.0
        ),
        Duration::from_secs(5),
    );
    assert_eq!(lb_tests::ask_name(port).unwrap(), "s1");
}

/// A process started by the test, its output captured, killed on drop.
struct Proc {
    child: Child,
    out: Arc<Mutex<String>>,
}

impl Proc {
    fn spawn(cmd: &mut Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let out = Arc::new(Mutex::new(String::new()));
        let pipes: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        for pipe in pipes {
            let out = Arc::clone(&out);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut o = out.lock().unwrap();
                    o.push_str(&line);
                    o.push('\n');
                }
            });
        }
        Self { child, out }
    }

    fn text(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    fn wait_for(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.text().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} within {timeout:?}:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100));
                return st;
            }
            assert!(Instant::now() < deadline, "still running:\n{}", self.text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `lb` binary and a config, where user `nobody` can read them.
fn world_readable(dir: &TempDir, config: &str) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let world = |p: &Path, mode| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    world(dir.path(), 0o755);
    let bin = dir.path().join("lb");
    std::fs::copy(lb_bin(), &bin).unwrap();
    world(&bin, 0o755);
    let cfg = dir.path().join("lb.cfg");
    std::fs::write(&cfg, config).unwrap();
    world(&cfg, 0o644);
    (bin, cfg)
}

fn as_nobody(bin: &Path, cfg: &Path) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
    ])
    .arg(bin)
    .args(["-d", "-f"])
    .arg(cfg);
    cmd
}

#[test]
fn without_privileges_lb_serves_l7_or_refuses_when_required() {
    let backend = Backend::identity("s1");
    let port = lb_tests::free_port();
    let config = format!(
        "{}frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\nbackend be\n{}\n\
         xdp\n    interface lo mode generic\n    pin-path /sys/fs/bpf/lb-e2e-nobody\n    syn-rate 10\n",
        header(1),
        server_line(&backend, "")
    );
    let dir = TempDir::new();
    let (bin, cfg) = world_readable(&dir, &config);
    let lb = Proc::spawn(&mut as_nobody(&bin, &cfg));
    lb.wait_for("XDP guard disabled on lo", Duration::from_secs(10));
    assert!(
        lb.text()
            .contains("not privileged: loading XDP needs root, or CAP_BPF and CAP_NET_ADMIN"),
        "{}",
        lb.text()
    );
    lb_tests::wait_until(Duration::from_secs(10), || lb_tests::ask_name(port).is_ok());
    assert_eq!(lb_tests::ask_name(port).unwrap(), "s1");
    // Logged once, not per connection.
    assert_eq!(lb.text().matches("XDP guard disabled").count(), 1);
    drop(lb);

    let required = config.replace("    syn-rate 10\n", "    syn-rate 10\n    required\n");
    let (bin, cfg) = world_readable(&dir, &required);
    let mut lb = Proc::spawn(&mut as_nobody(&bin, &cfg));
    let status = lb.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(1), "{}", lb.text());
    assert!(
        lb.text().contains(
            "[ALERT] xdp is 'required' but could not start: eBPF unavailable: not privileged"
        ),
        "{}",
        lb.text()
    );
}

#[test]
fn syn_cookies_set_enables_them_in_lb_network_namespace() {
    let ns = Netns::new();
    let read = |ns: &Netns| {
        let out = ns.exec("cat", &["/proc/sys/net/ipv4/tcp_syncookies"]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let host_before = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_syncookies").unwrap();
    let off = ns.exec("sysctl", &["-qw", "net.ipv4.tcp_syncookies=0"]);
    assert!(off.status.success(), "{off:?}");
    assert_eq!(read(&ns), "0");
    let backend = Backend::identity("s1");
    let port = lb_tests::free_port();
    let config = |policy: &str| {
        format!(
            "{}frontend fe\n    bind {}:{port}\n    default_backend be\n\nbackend be\n{}\n\
             xdp\n    interface lo mode generic\n    pin-path /sys/fs/bpf/lb-e2e-cookies\n    syn-cookies {policy}\n",
            header(1),
            ns.ns_addr(),
            server_line(&backend, "")
        )
    };
    let dir = TempDir::new();
    let run_in_ns = |policy: &str| {
        let cfg = dir.path().join(format!("{policy}.cfg"));
        std::fs::write(&cfg, config(policy)).unwrap();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns.name()])
            .arg(lb_bin())
            .args(["-d", "-f"])
            .arg(&cfg);
        Proc::spawn(&mut cmd)
    };

    // check: only a warning, the value stays.
    let lb = run_in_ns("check");
    lb.wait_for("net.ipv4.tcp_syncookies is 0", Duration::from_secs(10));
    lb.wait_for("started", Duration::from_secs(10));
    drop(lb);
    assert_eq!(read(&ns), "0");

    // set: written in lb's own namespace only.
    let lb = run_in_ns("set");
    lb.wait_for(
        "syn-cookies set: net.ipv4.tcp_syncookies changed from 0 to 1",
        Duration::from_secs(10),
    );
    drop(lb);
    assert_eq!(read(&ns), "1");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/tcp_syncookies").unwrap(),
        host_before
    );
}
