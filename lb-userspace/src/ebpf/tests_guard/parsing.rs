//! Parsing: well-formed frames pass under their family, malformed ones are counted by reason
//! and follow the malformed policy.

use lb_common::StatIndex;

use super::{
    fixture::{Act, Fx},
    frames::*,
};
use crate::ebpf::GuardSettings;

#[test]
fn well_formed_frames_pass_by_family() {
    let fx = Fx::new();
    fx.expect(
        &V4::from("198.51.100.1").frame(&seg(80, SYN)),
        Act::Pass,
        StatIndex::PassIpv4,
    );
    fx.expect(
        &V6::from("2001:db8::1").frame(&seg(80, SYN)),
        Act::Pass,
        StatIndex::PassIpv6,
    );
    let mut arp = eth(0x0806, &[]);
    arp.extend_from_slice(&[0; 28]);
    fx.expect(&arp, Act::Pass, StatIndex::PassOther);
    // VLAN and QinQ, IPv4 options, TCP options.
    let v = V4::from("198.51.100.1").vlans(&[7]);
    fx.expect(&v.frame(&seg(80, ACK)), Act::Pass, StatIndex::PassIpv4);
    let v = V6::from("2001:db8::1").proto(UDP).vlans(&[7, 8]);
    fx.expect(
        &v.frame(&udp(53, b"q", None)),
        Act::Pass,
        StatIndex::PassIpv6,
    );
    let v = V4::from("198.51.100.1").options(&[1, 1, 1, 0, 7, 7, 4, 0]);
    fx.expect(
        &v.frame(&tcp(80, SYN, 7, &[2, 4, 5, 0xb4, 1, 1, 1, 0])),
        Act::Pass,
        StatIndex::PassIpv4,
    );
    // Every IPv6 extension header we walk, then TCP.
    let v = V6::from("2001:db8::1")
        .ext(0, 0, 0)
        .ext(43, 1, 0)
        .ext(60, 0, 0);
    fx.expect(&v.frame(&seg(80, SYN)), Act::Pass, StatIndex::PassIpv6);
    // Ethernet padding after a short datagram.
    let mut padded = V4::from("198.51.100.1")
        .proto(UDP)
        .frame(&udp(53, b"", None));
    padded.resize(60, 0);
    fx.expect(&padded, Act::Pass, StatIndex::PassIpv4);
}

/// One malformed frame per reason, IPv4 and IPv6.
fn malformed() -> Vec<(Vec<u8>, StatIndex)> {
    let v4 = V4::from("198.51.100.1");
    let v6 = V6::from("2001:db8::1");
    let mut out = Vec::new();
    // Frames shorter than an Ethernet header (MalformedEthernet) cannot be test-run: the
    // kernel refuses them with EINVAL. The parser's unit tests cover them.
    let mut vlan = eth(0x8100, &[]);
    vlan.extend_from_slice(&[0, 1]);
    out.push((vlan, StatIndex::MalformedVlan));
    let three = V4::from("198.51.100.1")
        .vlans(&[1, 2, 3])
        .frame(&seg(80, SYN));
    out.push((three, StatIndex::MalformedVlan));
    let full = v4.frame(&seg(80, SYN));
    out.push((full[..14 + 19].to_vec(), StatIndex::MalformedIpv4));
    let mut bad_ihl = full.clone();
    bad_ihl[14] = 0x44;
    out.push((bad_ihl, StatIndex::MalformedIpv4));
    let mut long_total = full.clone();
    long_total[16..18].copy_from_slice(&100u16.to_be_bytes());
    out.push((long_total, StatIndex::MalformedIpv4));
    let opts = v4.clone().options(&[1, 1, 1, 0]).frame(&[]);
    // IHL says 6 words, but the datagram is only the 20-byte header long.
    let mut opts_cut = opts.clone();
    opts_cut[16..18].copy_from_slice(&20u16.to_be_bytes());
    out.push((opts_cut, StatIndex::MalformedIpv4));
    let full6 = v6.frame(&seg(80, SYN));
    out.push((full6[..14 + 39].to_vec(), StatIndex::MalformedIpv6));
    out.push((full6[..full6.len() - 1].to_vec(), StatIndex::MalformedIpv6));
    let chain = v6
        .clone()
        .ext(60, 0, 0)
        .ext(60, 0, 0)
        .ext(60, 0, 0)
        .ext(60, 0, 0)
        .ext(60, 0, 0);
    out.push((chain.frame(&seg(80, SYN)), StatIndex::MalformedIpv6Ext));
    let mut cut_ext = v6.clone().ext(0, 2, 0).frame(&[]);
    // Payload length covers 8 bytes of a 24-byte header.
    cut_ext.truncate(14 + 40 + 8);
    cut_ext[14 + 4..14 + 6].copy_from_slice(&8u16.to_be_bytes());
    out.push((cut_ext, StatIndex::MalformedIpv6Ext));
    out.push((v4.frame(&seg(80, SYN)[..19]), StatIndex::MalformedTcp));
    out.push((v6.frame(&seg(80, SYN)[..12]), StatIndex::MalformedTcp));
    // Data offset below 5 on an unprotected port: malformed TCP, not a guard drop.
    out.push((v4.frame(&tcp(80, ACK, 4, &[])), StatIndex::MalformedTcp));
    out.push((v6.frame(&tcp(80, ACK, 9, &[])), StatIndex::MalformedTcp));
    let v4u = v4.clone().proto(UDP);
    let v6u = v6.clone().proto(UDP);
    out.push((
        v4u.frame(&udp(53, b"abc", Some(20))),
        StatIndex::MalformedUdp,
    ));
    out.push((
        v6u.frame(&udp(53, b"abc", Some(7))),
        StatIndex::MalformedUdp,
    ));
    out.push((v6u.frame(&udp(53, b"", None)[..5]), StatIndex::MalformedUdp));
    out
}

#[test]
fn malformed_frames_are_counted_and_passed_by_default() {
    let fx = Fx::new();
    for (frame, reason) in malformed() {
        fx.expect(&frame, Act::Pass, reason);
    }
}

#[test]
fn malformed_frames_are_dropped_when_configured() {
    let settings = GuardSettings {
        drop_malformed: true,
        ..GuardSettings::default()
    };
    let fx = Fx::with(&[], &settings);
    for (frame, reason) in malformed() {
        fx.expect(&frame, Act::Drop, reason);
    }
    // Well-formed frames are unaffected.
    fx.expect(
        &V4::from("198.51.100.1").frame(&seg(80, SYN)),
        Act::Pass,
        StatIndex::PassIpv4,
    );
}

#[test]
fn bench_helper_reports_a_cost_per_packet() {
    let mut fx = Fx::new();
    let frame = V4::from("198.51.100.1").frame(&seg(80, SYN));
    let ns = fx.rt.bench_ns_per_packet(&frame, 1000).unwrap();
    assert!(ns > 0 && ns < 1_000_000, "{ns} ns per packet");
    assert_eq!(fx.stats().get(StatIndex::PassIpv4).packets, 1000);
    // The baseline drops and counts nothing.
    let base = fx.rt.bench_baseline_ns_per_packet(&frame, 1000).unwrap();
    assert!(base < 1_000_000, "{base} ns per packet");
    eprintln!("lb_xdp pass path: {ns} ns/packet, drop-all baseline: {base} ns/packet");
    assert_eq!(fx.stats().total().packets, 1000);
}
