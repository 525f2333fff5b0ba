//! The XDP L4 fast path end to end, in network namespaces this test creates:
//!
//! ```text
//! client ns (c0) ── (l0) LB ns: lb, lb_l4 on l0 ── (lN) ── (bN) backend ns N
//! ```
//!
//! DSR: `lb_l4` encapsulates in IPIP; this kernel has no `ipip` device (CONFIG_NET_IPIP is
//! off), so each backend decapsulates with `lb_l4_decap` (XDP on bN, Katran's decap
//! program) and holds the VIP on `lo`; it answers the client directly (routed through the
//! LB namespace's kernel, untouched, which needs rp_filter off there). NAT: the backends
//! answer to the LB namespace, where `lb_l4_nat_reply` (TC) puts the VIP back.
//!
//! Veth details: a veth only accepts XDP-redirected frames in native mode when its peer
//! runs an XDP program (`lb_l4_decap` or `lb_l4_pass` on bN); transmit checksum offload is
//! turned off on the senders so that XDP, which bypasses the skb, forwards complete
//! checksums; the LB-to-backend links get an MTU of 1600 so that a full-size segment fits
//! after the 20-byte IPIP header.
//!
//! Needs root and an `lb` built with eBPF; where it cannot run, it fails.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use lb::config::model::XdpMode;
use lb::ebpf::L4Runtime;
use lb_tests::Lb;
use lb_tests::lb::run_lb;
use serde_json::Value;

#[path = "l4_fastpath/net.rs"]
mod net;
use net::{Backend, Ns, PinDir, Plan};

/// The lab: namespaces, links, backends, `lb` in the LB namespace.
struct Lab {
    // Drop order: lb and the programs first, namespaces last.
    lb: Lb,
    _server_side: Vec<L4Runtime>,
    backends: Vec<Backend>,
    pin: PinDir,
    _server_pins: Vec<PinDir>,
    client: Ns,
    _lb_ns: Ns,
    _backend_ns: Vec<Ns>,
    plan: Plan,
    /// Ring rebuilds seen so far.
    rebuilds: std::sync::atomic::AtomicUsize,
}

fn require_xdp() {
    if let Err(why) = lb::ebpf::probe(Path::new("/sys/fs/bpf")) {
        panic!("the L4 fast-path test cannot run: {why} (run as root after `cargo xtask setup`)");
    }
}

impl Lab {
    /// `servers`: (weight, port checked up at start). `nat`: NAT instead of DSR.
    fn new(tag: &str, nat: bool, weights: &[u32]) -> Self {
        Self::with_family(tag, nat, weights, false)
    }

    fn with_family(tag: &str, nat: bool, weights: &[u32], v6: bool) -> Self {
        require_xdp();
        let plan = Plan { v6 };
        let client = Ns::new(&format!("{tag}c"));
        let lb_ns = Ns::new(&format!("{tag}l"));
        let backend_ns: Vec<Ns> = (1..=weights.len())
            .map(|i| Ns::new(&format!("{tag}b{i}")))
            .collect();
        // Client <-> LB.
        lb_ns.ip(&[
            "link",
            "add",
            "l0",
            "type",
            "veth",
            "peer",
            "name",
            "c0",
            "netns",
            &client.name,
        ]);
        plan.add_addr(&lb_ns, &plan.lb_front(), plan.prefix(), "l0");
        lb_ns.ip(&["link", "set", "l0", "up"]);
        plan.add_addr(&client, &plan.client(), plan.prefix(), "c0");
        client.ip(&["link", "set", "c0", "up"]);
        client.ip(&["route", "add", "default", "via", &plan.lb_front()]);
        client.tx_checksum_off("c0");
        for key in ["all", "default", "l0"] {
            lb_ns.sysctl(&format!("net.ipv4.conf.{key}.rp_filter"), "0");
        }
        lb_ns.sysctl("net.ipv4.ip_forward", "1");
        // lb binds the VIP for its user-space fallback without holding it.
        lb_ns.sysctl("net.ipv4.ip_nonlocal_bind", "1");
        lb_ns.sysctl("net.ipv6.conf.all.forwarding", "1");
        lb_ns.sysctl("net.ipv6.ip_nonlocal_bind", "1");
        let pin = PinDir::new();
        let mut server_pins = Vec::new();
        let mut server_side = Vec::new();
        let mut backends = Vec::new();
        let mut servers = String::new();
        let mut interfaces = String::from("    interface l0 mode native\n");
        for (i, ns) in backend_ns.iter().enumerate() {
            let n = i + 1;
            let (l, b) = (format!("l{n}"), format!("b{n}"));
            lb_ns.ip(&[
                "link", "add", &l, "mtu", "1600", "type", "veth", "peer", "name", &b, "mtu",
                "1600", "netns", &ns.name,
            ]);
            plan.add_addr(&lb_ns, &plan.lb_back(n), plan.prefix(), &l);
            lb_ns.ip(&["link", "set", &l, "up"]);
            lb_ns.sysctl(&format!("net.ipv4.conf.{l}.rp_filter"), "0");
            plan.add_addr(ns, &plan.server(n), plan.prefix(), &b);
            ns.ip(&["link", "set", &b, "up"]);
            ns.ip(&["route", "add", "default", "via", &plan.lb_back(n)]);
            ns.tx_checksum_off(&b);
            let sp = PinDir::new();
            let dir = sp.0.clone();
            let runtime = ns.run(move || {
                let mut rt = L4Runtime::load(&dir).unwrap();
                rt.remove_pins_on_drop();
                if nat {
                    rt.attach_pass(&b, XdpMode::Native).unwrap();
                } else {
                    rt.attach_decap(&b, XdpMode::Native).unwrap();
                }
                rt
            });
            server_side.push(runtime);
            server_pins.push(sp);
            let port = if nat { 8080 } else { 80 };
            if !nat {
                plan.add_addr(ns, &plan.vip_host(), plan.host_prefix(), "lo");
                for key in ["all", "default", "lo"] {
                    ns.sysctl(&format!("net.ipv4.conf.{key}.rp_filter"), "0");
                }
            }
            backends.push(Backend::start(ns, &format!("s{n}"), port));
            servers.push_str(&format!(
                "    server s{n} {} weight {} check port 81 inter 100 fall 2 rise 1\n",
                plan.socket_addr(&plan.server(n), port),
                weights[i]
            ));
            if nat {
                interfaces.push_str(&format!("    interface {l} mode native\n"));
            }
        }
        let method = if nat {
            "nat".to_owned()
        } else {
            format!("dsr\n    xdp-forward-source {}", plan.lb_front())
        };
        let vip = plan.vip();
        let config = format!(
            "global\n    nbthread 1\n\ndefaults\n    mode tcp\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n\n\
             frontend fe\n    bind {vip}\n    default_backend be\n\n\
             backend be\n    option xdp-forward\n    xdp-forward-method {method}\n{servers}\n\
             xdp\n{interfaces}    pin-path {}\n    required\n",
            pin.0.display()
        );
        let lb = lb_ns.run(|| Lb::spawn(&config, &[]));
        lb.expect_line(
            "XDP L4 fast path attached to l0 in native mode",
            Duration::from_secs(20),
        );
        Self {
            lb,
            _server_side: server_side,
            backends,
            pin,
            _server_pins: server_pins,
            client,
            _lb_ns: lb_ns,
            _backend_ns: backend_ns,
            plan,
            rebuilds: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Connects from the client to the VIP (from `sport` if given); returns the greeting
    /// server's name and the open stream.
    fn connect(&self, sport: Option<u16>) -> (String, TcpStream) {
        self.client.run(|| {
            let vip: SocketAddr = self.plan.vip().parse().unwrap();
            let domain = if self.plan.v6 {
                socket2::Domain::IPV6
            } else {
                socket2::Domain::IPV4
            };
            let socket = socket2::Socket::new(domain, socket2::Type::STREAM, None).unwrap();
            socket.set_reuse_address(true).unwrap();
            if let Some(port) = sport {
                let local: SocketAddr = self
                    .plan
                    .socket_addr(&self.plan.client(), port)
                    .parse()
                    .unwrap();
                socket.bind(&local.into()).unwrap();
            }
            socket
                .connect_timeout(&vip.into(), Duration::from_secs(3))
                .unwrap_or_else(|e| panic!("connect to {vip} from port {sport:?}: {e}"));
            let mut s: TcpStream = socket.into();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut name = Vec::new();
            let mut byte = [0u8; 1];
            while s.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
                name.push(byte[0]);
            }
            (String::from_utf8(name).unwrap(), s)
        })
    }

    /// The server of a new connection from each of `ports` (the connection closes at once).
    fn placements(&self, ports: std::ops::Range<u16>) -> Vec<String> {
        ports.map(|p| self.connect(Some(p)).0).collect()
    }

    /// Waits until `lb` logs that server `name` changed state to `state` (its `n`th such
    /// line), then that the fast path rebuilt the ring for it.
    fn wait_state(&self, name: &str, state: &str, n: usize) {
        let timeout = Duration::from_secs(10);
        self.lb
            .expect_lines(&format!("Server be/{name} is {state}"), n, timeout);
        let rebuilds = self.rebuilds.fetch_add(1, Ordering::Relaxed) + 1;
        self.lb.expect_lines("ring rebuilt", rebuilds, timeout);
    }

    fn stats(&self) -> Value {
        let pin = self.pin.0.to_str().unwrap();
        let args = ["xdp", "stats", "--json", "--pin-path", pin];
        let (status, stdout, stderr) = run_lb(&args, Duration::from_secs(10));
        assert!(status.success(), "lb {args:?}: {status}\n{stderr}");
        serde_json::from_str(&stdout).unwrap()
    }
}

/// Echoes `len` bytes through `s` and checks them.
fn echo(s: &mut TcpStream, len: usize) {
    let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    let mut writer = s.try_clone().unwrap();
    let to_send = data.clone();
    let t = std::thread::spawn(move || writer.write_all(&to_send).unwrap());
    let mut back = vec![0u8; len];
    s.read_exact(&mut back).unwrap();
    t.join().unwrap();
    assert!(back == data, "echoed data differs");
}

fn counts(names: &[String]) -> HashMap<&str, usize> {
    let mut m = HashMap::new();
    for n in names {
        *m.entry(n.as_str()).or_default() += 1;
    }
    m
}

#[test]
fn dsr_balances_remaps_one_nth_and_follows_health() {
    let lab = Lab::new("d", false, &[1, 1, 1]);
    // Real connections through IPIP carry data both ways (replies come straight back).
    let (first, mut s) = lab.connect(None);
    assert!(first.starts_with('s'), "{first}");
    echo(&mut s, 300_000);
    drop(s);

    // Server 3 fails its health check: new flows avoid it.
    lab.backends[2].healthy.store(false, Ordering::Release);
    lab.wait_state("s3", "DOWN", 1);
    let flush = || lb::ebpf::flush_flows(&lab.pin.0).unwrap();
    flush();
    let before = lab.placements(20000..20240);
    assert!(!before.iter().any(|n| n == "s3"), "{:?}", counts(&before));
    let c = counts(&before);
    assert!(
        c.get("s1").copied().unwrap_or(0) > 80 && c.get("s2").copied().unwrap_or(0) > 80,
        "{c:?}"
    );

    // An established flow, opened before the change.
    flush();
    let (kept_on, mut kept) = lab.connect(None);

    // Server 3 comes back: about a third of the same flows move, all of them to s3.
    lab.backends[2].healthy.store(true, Ordering::Release);
    lab.wait_state("s3", "UP", 1);
    let after = lab.placements(20000..20240);
    let moved: Vec<_> = before.iter().zip(&after).filter(|(a, b)| a != b).collect();
    let frac = moved.len() as f64 / before.len() as f64;
    assert!((0.2..0.47).contains(&frac), "moved {frac}");
    assert!(
        moved.iter().all(|(_, b)| *b == "s3"),
        "moved elsewhere than s3: {moved:?}"
    );
    // The established flow still reaches its server (another one would reset it).
    echo(&mut kept, 10_000);
    assert_eq!(lab.backends.iter().filter(|b| b.name == kept_on).count(), 1);

    // Server 3 removed again (health fails): the same flows go back where they were.
    lab.backends[2].healthy.store(false, Ordering::Release);
    lab.wait_state("s3", "DOWN", 2);
    flush();
    let again = lab.placements(20000..20240);
    assert_eq!(
        again, before,
        "removing s3 restored the previous placement exactly"
    );
    echo(&mut kept, 10_000);

    // Counters per service and server, from another lb process.
    let stats = lab.stats();
    let be = &stats["l4"]["be"];
    assert!(be["new_flows"].as_u64().unwrap() >= 720, "{be}");
    let per_server: u64 = ["s1", "s2", "s3"]
        .iter()
        .map(|s| be["servers"][s]["packets"].as_u64().unwrap())
        .sum();
    assert_eq!(per_server, be["packets"].as_u64().unwrap(), "{be}");
    assert!(
        be["servers"]["s3"]["new_flows"].as_u64().unwrap() >= 50,
        "{be}"
    );
}

#[test]
fn nat_carries_data_spreads_per_weight_and_drops_failed_servers() {
    let lab = Lab::new("n", true, &[1, 3]);
    // A real connection: SYN rewritten to server:8080 by XDP, replies rewritten back by TC.
    let (_, mut s) = lab.connect(None);
    echo(&mut s, 300_000);
    drop(s);

    let started = Instant::now();
    let names = lab.placements(30000..30400);
    let c = counts(&names);
    let share = c.get("s2").copied().unwrap_or(0) as f64 / names.len() as f64;
    assert!(
        (0.65..0.85).contains(&share),
        "weight 3 of 4 got {share}: {c:?}"
    );
    eprintln!("400 NAT connections in {:?}", started.elapsed());

    // A failed health check: new flows all go to the other server.
    lab.backends[1].healthy.store(false, Ordering::Release);
    lab.wait_state("s2", "DOWN", 1);
    let names = lab.placements(31000..31100);
    assert!(names.iter().all(|n| n == "s1"), "{:?}", counts(&names));

    let stats = lab.stats();
    let be = &stats["l4"]["be"];
    assert!(
        be["servers"]["s2"]["new_flows"].as_u64().unwrap() > 200,
        "{be}"
    );
    assert!(
        be["servers"]["s1"]["new_flows"].as_u64().unwrap() > 150,
        "{be}"
    );
    // The servers' replies reach `lb_l4` on the backend links too; they are not for a VIP, so
    // they go on into the guard by tail call, which counts them.
    let guard = stats["reasons"]["pass_ipv4"]["packets"].as_u64().unwrap();
    assert!(guard > 500, "guard saw {guard} IPv4 packets: {stats}");
}

#[test]
fn dsr_over_ipv6_carries_data_and_balances() {
    let lab = Lab::with_family("6", false, &[1, 1], true);
    // IPv6-in-IPv6 to the servers, decapsulated there; replies straight to the client.
    let (_, mut s) = lab.connect(None);
    echo(&mut s, 300_000);
    drop(s);
    let names = lab.placements(40000..40100);
    let c = counts(&names);
    assert!(
        c.get("s1").copied().unwrap_or(0) > 25 && c.get("s2").copied().unwrap_or(0) > 25,
        "{c:?}"
    );
    lab.backends[0].healthy.store(false, Ordering::Release);
    lab.wait_state("s1", "DOWN", 1);
    // On a loaded machine late packets of the closed flows may still be in flight when the
    // table is flushed; the ring itself must converge: retry (bounded) until it has.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let names = loop {
        lb::ebpf::flush_flows(&lab.pin.0).unwrap();
        let names = lab.placements(40000..40050);
        if names.iter().all(|n| n == "s2") || std::time::Instant::now() > deadline {
            break names;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(names.iter().all(|n| n == "s2"), "{:?}", counts(&names));
    let stats = lab.stats();
    assert!(
        stats["l4"]["be"]["new_flows"].as_u64().unwrap() >= 151,
        "{stats}"
    );
    // The table form shows the service and each server.
    let pin = lab.pin.0.to_str().unwrap();
    let (status, table, _) = run_lb(
        &["xdp", "stats", "--pin-path", pin],
        Duration::from_secs(10),
    );
    assert!(status.success());
    assert!(table.contains("XDP L4 fast path"), "{table}");
    assert!(
        table.lines().any(|l| l.trim_start().starts_with("be/s2 ")),
        "{table}"
    );
}
