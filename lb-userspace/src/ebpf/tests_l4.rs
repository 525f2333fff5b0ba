//! The L4 fast path on fixture packets through `BPF_PROG_TEST_RUN`: encapsulation and NAT
//! rewrites byte for byte, checksums recomputed here. Needs root and the eBPF object.

use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
};

use lb_common::l4::{FlowKey, MAGLEV_RING, flow_hash};

use super::maglev::{self, MaglevServer};
use super::*;

static NEXT: AtomicU32 = AtomicU32::new(0);

const XDP_TX: u32 = 3;
const XDP_REDIRECT: u32 = 4;

fn pin_dir() -> PathBuf {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    PathBuf::from(format!("/sys/fs/bpf/lb-l4-unit-{}-{n}", std::process::id()))
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn server(name: &str, addr: &str, weight: u32) -> L4Server {
    L4Server {
        name: name.into(),
        addr: sa(addr),
        weight,
        backup: false,
        up: true,
    }
}

fn runtime(method: ForwardMethod, vips: &[&str], servers: Vec<L4Server>) -> L4Runtime {
    if let Err(why) = probe(std::path::Path::new("/sys/fs/bpf")) {
        panic!("the L4 fixture tests cannot run: {why} (run as root after `cargo xtask setup`)");
    }
    let mut rt = L4Runtime::load(&pin_dir()).unwrap();
    rt.remove_pins_on_drop();
    let service = L4Service {
        name: "svc".into(),
        vips: vips.iter().map(|v| sa(v)).collect(),
        method,
        allbackups: false,
        servers,
    };
    let sources = L4Sources {
        v4: Some("192.0.2.100".parse().unwrap()),
        v6: Some("2001:db8::100".parse().unwrap()),
    };
    rt.configure(sources, &[service]).unwrap();
    rt
}

/// The one's complement sum of `bytes` folded, complemented: 0 over data that includes a
/// correct checksum.
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum = 0u32;
    for pair in bytes.chunks(2) {
        sum += u32::from(u16::from_be_bytes([
            pair[0],
            pair.get(1).copied().unwrap_or(0),
        ]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn pseudo(src: &[u8], dst: &[u8], proto: u8, len: usize) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(src);
    p.extend_from_slice(dst);
    if src.len() == 4 {
        p.extend_from_slice(&[0, proto]);
        p.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        p.extend_from_slice(&(len as u32).to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, proto]);
    }
    p
}

/// A TCP segment (SYN when `syn`) with a payload, checksummed over the pseudo-header.
fn tcp(src: &[u8], dst: &[u8], sport: u16, dport: u16, syn: bool, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&0x0102_0304u32.to_be_bytes());
    t.extend_from_slice(&(if syn { 0u32 } else { 0x0a0b_0c0d }).to_be_bytes());
    t.extend_from_slice(&[0x50, if syn { 0x02 } else { 0x18 }, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    let mut all = pseudo(src, dst, 6, t.len());
    all.extend_from_slice(&t);
    let c = checksum(&all);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    t
}

fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 0xaa, 0x02, 0, 0, 0, 0, 0xbb];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    let len = (20 + payload.len()) as u16;
    let mut h = vec![0x45, 0x10, 0, 0, 0x12, 0x34, 0x40, 0, 63, proto, 0, 0];
    h[2..4].copy_from_slice(&len.to_be_bytes());
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

fn ipv6(src: [u8; 16], dst: [u8; 16], next: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    h.extend_from_slice(&[next, 64]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(payload);
    h
}

fn v4(s: &str) -> [u8; 4] {
    s.parse::<std::net::Ipv4Addr>().unwrap().octets()
}

fn v6(s: &str) -> [u8; 16] {
    s.parse::<std::net::Ipv6Addr>().unwrap().octets()
}

/// Which of `servers` (equal weights, config order) Maglev gives the flow `key`.
fn expected_server(servers: &[L4Server], key: &FlowKey) -> usize {
    let list: Vec<_> = (0u32..)
        .zip(servers)
        .map(|(i, s)| MaglevServer {
            id: &s.name,
            weight: s.weight,
            value: i,
        })
        .collect();
    let ring = maglev::build(&list, MAGLEV_RING);
    ring[(flow_hash(key) % MAGLEV_RING) as usize] as usize
}

fn key4(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> FlowKey {
    let mut k = FlowKey {
        sport,
        dport,
        proto: 6,
        family: 4,
        ..FlowKey::default()
    };
    k.src[..4].copy_from_slice(&src);
    k.dst[..4].copy_from_slice(&dst);
    k
}

fn key6(src: [u8; 16], sport: u16, dst: [u8; 16], dport: u16) -> FlowKey {
    FlowKey {
        src,
        dst,
        sport,
        dport,
        proto: 6,
        family: 6,
        pad: [0; 2],
    }
}

/// The kernel either forwards (fib lookup found a route: TX/REDIRECT, MACs rewritten) or
/// passes the rewritten packet to its own routing; without a route here, it passes.
fn assert_forwarded(action: u32) {
    assert!(
        [XDP_PASS, XDP_TX, XDP_REDIRECT].contains(&action),
        "action {action}"
    );
}

#[test]
fn ipip_encapsulation_is_exact() {
    let servers = vec![server("a", "10.20.0.1:0", 1), server("b", "10.20.0.2:0", 1)];
    let rt = runtime(ForwardMethod::Dsr, &["10.9.0.1:80"], servers.clone());
    let (client, vip) = (v4("10.1.0.2"), v4("10.9.0.1"));
    let inner = ipv4(client, vip, 6, &tcp(&client, &vip, 40000, 80, true, b""));
    let frame = eth(0x0800, &inner);
    let run = rt.test_run(&frame, 1).unwrap();
    assert_forwarded(run.action);
    let key = key4(client, 40000, vip, 80);
    let chosen = expected_server(&servers, &key);
    let IpAddr::V4(real) = servers[chosen].addr.ip() else {
        unreachable!()
    };
    // The expected outer header, built independently.
    let mut outer = vec![0x45, 0x10, 0, 0, 0, 0, 0, 0, 64, 4, 0, 0];
    outer[2..4].copy_from_slice(&((inner.len() + 20) as u16).to_be_bytes());
    outer.extend_from_slice(&v4("192.0.2.100"));
    outer.extend_from_slice(&real.octets());
    let c = checksum(&outer);
    outer[10..12].copy_from_slice(&c.to_be_bytes());
    let mut expected = frame[..14].to_vec();
    if run.action != XDP_PASS {
        expected[..12].copy_from_slice(&run.frame[..12]);
    }
    expected.extend_from_slice(&outer);
    expected.extend_from_slice(&inner);
    assert_eq!(run.frame, expected);
    assert_eq!(checksum(&run.frame[14..34]), 0, "outer IPv4 checksum");
    assert_eq!(rt.flow(&key).unwrap().unwrap().real, chosen as u32);

    // A second packet of the flow goes to the same server even with the ring changed.
    let mut rt = rt;
    rt.update_servers(0, &[(chosen != 0, 1), (chosen != 1, 1)])
        .unwrap();
    let data = ipv4(
        client,
        vip,
        6,
        &tcp(&client, &vip, 40000, 80, false, b"hello"),
    );
    let run = rt.test_run(&eth(0x0800, &data), 1).unwrap();
    assert_eq!(
        run.frame[30..34],
        real.octets(),
        "established flow kept its server"
    );
    // A new flow avoids the server that went down.
    let other = ipv4(client, vip, 6, &tcp(&client, &vip, 40001, 80, true, b""));
    let run = rt.test_run(&eth(0x0800, &other), 1).unwrap();
    let IpAddr::V4(up) = servers[1 - chosen].addr.ip() else {
        unreachable!()
    };
    assert_eq!(
        run.frame[30..34],
        up.octets(),
        "new flow went to the live server"
    );

    let stats = rt.stats().unwrap();
    let svc = stats.service("svc").unwrap();
    assert_eq!((svc.counter.packets, svc.counter.new_flows), (3, 2));
    assert_eq!(svc.servers.len(), 2);
}

#[test]
fn ip6ip6_encapsulation_is_exact() {
    let servers = vec![
        server("a", "[fd00:20::1]:0", 1),
        server("b", "[fd00:20::2]:0", 1),
    ];
    let rt = runtime(ForwardMethod::Dsr, &["[fd00:9::1]:443"], servers.clone());
    let (client, vip) = (v6("fd00:1::2"), v6("fd00:9::1"));
    let inner = ipv6(client, vip, 6, &tcp(&client, &vip, 50000, 443, true, b"x"));
    let frame = eth(0x86dd, &inner);
    let run = rt.test_run(&frame, 1).unwrap();
    assert_forwarded(run.action);
    let key = key6(client, 50000, vip, 443);
    let chosen = expected_server(&servers, &key);
    let IpAddr::V6(real) = servers[chosen].addr.ip() else {
        unreachable!()
    };
    let hash = flow_hash(&key);
    let mut outer = vec![
        0x60,
        ((hash >> 16) & 0x0f) as u8,
        (hash >> 8) as u8,
        hash as u8,
    ];
    outer.extend_from_slice(&(inner.len() as u16).to_be_bytes());
    outer.extend_from_slice(&[41, 64]);
    outer.extend_from_slice(&v6("2001:db8::100"));
    outer.extend_from_slice(&real.octets());
    let mut expected = frame[..14].to_vec();
    if run.action != XDP_PASS {
        expected[..12].copy_from_slice(&run.frame[..12]);
    }
    expected.extend_from_slice(&outer);
    expected.extend_from_slice(&inner);
    assert_eq!(run.frame, expected);
}

#[test]
fn nat_rewrites_both_directions_with_valid_checksums() {
    let servers = vec![
        server("a", "10.30.0.1:8080", 1),
        server("b", "10.30.0.2:8081", 1),
    ];
    let rt = runtime(ForwardMethod::Nat, &["10.9.0.1:80"], servers.clone());
    let (client, vip) = (v4("10.1.0.2"), v4("10.9.0.1"));
    let segment = tcp(&client, &vip, 40000, 80, false, b"GET / HTTP/1.0\r\n\r\n");
    let packet = ipv4(client, vip, 6, &segment);
    let run = rt.test_run(&eth(0x0800, &packet), 1).unwrap();
    assert_forwarded(run.action);
    let chosen = expected_server(&servers, &key4(client, 40000, vip, 80));
    let target = servers[chosen].addr;
    let IpAddr::V4(real) = target.ip() else {
        unreachable!()
    };
    // Expected: the same packet with the destination and port replaced.
    let expected_segment = {
        let mut s = segment.clone();
        s[2..4].copy_from_slice(&target.port().to_be_bytes());
        s[16..18].copy_from_slice(&[0, 0]);
        let mut all = pseudo(&client, &real.octets(), 6, s.len());
        all.extend_from_slice(&s);
        let c = checksum(&all);
        s[16..18].copy_from_slice(&c.to_be_bytes());
        s
    };
    let expected = ipv4(client, real.octets(), 6, &expected_segment);
    let out = &run.frame[14..];
    assert_eq!(&out[..20], &expected[..20], "IPv4 header");
    assert_eq!(checksum(&out[..20]), 0);
    let mut all = pseudo(&client, &real.octets(), 6, out.len() - 20);
    all.extend_from_slice(&out[20..]);
    assert_eq!(checksum(&all), 0, "TCP checksum after NAT");
    assert_eq!(&out[20..], &expected_segment[..]);

    // The reply from the server, through the TC program: source back to the VIP.
    let reply_seg = tcp(
        &real.octets(),
        &client,
        target.port(),
        40000,
        false,
        b"HTTP/1.0 200 OK\r\n",
    );
    let reply = eth(0x0800, &ipv4(real.octets(), client, 6, &reply_seg));
    let back = rt.test_run_nat_reply(&reply).unwrap();
    assert_eq!(back.action, 0, "TC_ACT_OK");
    let want_seg = tcp(&vip, &client, 80, 40000, false, b"HTTP/1.0 200 OK\r\n");
    let want = eth(0x0800, &ipv4(vip, client, 6, &want_seg));
    assert_eq!(back.frame, want);
    // A packet of no NAT flow passes unchanged.
    let stray = eth(0x0800, &ipv4(v4("10.30.0.9"), client, 6, &reply_seg));
    assert_eq!(rt.test_run_nat_reply(&stray).unwrap().frame, stray);
}

#[test]
fn nat_over_ipv6_both_directions() {
    let servers = vec![
        server("a", "[fd00:30::1]:8080", 1),
        server("b", "[fd00:30::2]:8080", 1),
    ];
    let rt = runtime(ForwardMethod::Nat, &["[fd00:9::1]:80"], servers.clone());
    let (client, vip) = (v6("fd00:1::2"), v6("fd00:9::1"));
    let packet = ipv6(client, vip, 6, &tcp(&client, &vip, 40000, 80, true, b""));
    let run = rt.test_run(&eth(0x86dd, &packet), 1).unwrap();
    assert_forwarded(run.action);
    let chosen = expected_server(&servers, &key6(client, 40000, vip, 80));
    let IpAddr::V6(real) = servers[chosen].addr.ip() else {
        unreachable!()
    };
    let expected = ipv6(
        client,
        real.octets(),
        6,
        &tcp(&client, &real.octets(), 40000, 8080, true, b""),
    );
    assert_eq!(&run.frame[14..], &expected[..]);

    let reply = ipv6(
        real.octets(),
        client,
        6,
        &tcp(&real.octets(), &client, 8080, 40000, false, b"ok"),
    );
    let back = rt.test_run_nat_reply(&eth(0x86dd, &reply)).unwrap();
    let want = ipv6(vip, client, 6, &tcp(&vip, &client, 80, 40000, false, b"ok"));
    assert_eq!(&back.frame[14..], &want[..]);
}

#[test]
fn other_traffic_passes_untouched_and_no_server_drops() {
    let servers = vec![server("a", "10.20.0.1:0", 1)];
    let mut rt = runtime(ForwardMethod::Dsr, &["10.9.0.1:80"], servers);
    let (client, vip) = (v4("10.1.0.2"), v4("10.9.0.1"));
    // Another port of the VIP, and an ARP frame: not ours.
    let other = eth(
        0x0800,
        &ipv4(client, vip, 6, &tcp(&client, &vip, 40000, 81, true, b"")),
    );
    let run = rt.test_run(&other, 1).unwrap();
    assert_eq!((run.action, &run.frame), (XDP_PASS, &other));
    let arp = eth(0x0806, &[0; 28]);
    assert_eq!(rt.test_run(&arp, 1).unwrap().frame, arp);
    // Every server down: new flows are dropped and counted.
    rt.update_servers(0, &[(false, 1)]).unwrap();
    let syn = eth(
        0x0800,
        &ipv4(client, vip, 6, &tcp(&client, &vip, 40002, 80, true, b"")),
    );
    assert_eq!(rt.test_run(&syn, 1).unwrap().action, XDP_DROP);
    assert_eq!(
        rt.stats().unwrap().service("svc").unwrap().counter.dropped,
        1
    );
}
