//! TCP sanity and fragments on protected ports, and the per-port counters.

use lb_common::StatIndex;

use super::{
    fixture::{Act, Fx},
    frames::*,
};
use crate::ebpf::{
    GuardSettings, PORT_SYN_GUARD, PORT_TCP_SANITY, protected_ports, set_protected_ports,
};

const BAD_FLAGS: [u8; 6] = [
    SYN | FIN,
    SYN | RST,
    FIN,
    0,
    FIN | PSH | URG,
    FIN | PSH | URG | ACK,
];
const GOOD_FLAGS: [u8; 6] = [SYN, SYN | ACK, ACK, ACK | PSH, FIN | ACK, RST];

#[test]
fn invalid_flags_to_protected_ports_are_dropped_ipv4_and_ipv6() {
    let fx = Fx::with(&[(443, PORT_TCP_SANITY)], &GuardSettings::default());
    for (family, builder) in [
        (StatIndex::PassIpv4, V4::from("198.51.100.1").frame(&[])),
        (StatIndex::PassIpv6, V6::from("2001:db8::1").frame(&[])),
    ] {
        let frame = |seg: Vec<u8>| {
            if family == StatIndex::PassIpv4 {
                V4::from("198.51.100.1").frame(&seg)
            } else {
                V6::from("2001:db8::1").ext(0, 0, 0).frame(&seg)
            }
        };
        let _ = builder;
        for flags in BAD_FLAGS {
            fx.expect(&frame(seg(443, flags)), Act::Drop, StatIndex::TcpBadFlags);
            // The same segment to an unprotected port is not our business.
            fx.expect(&frame(seg(444, flags)), Act::Pass, family);
        }
        for flags in GOOD_FLAGS {
            fx.expect(&frame(seg(443, flags)), Act::Pass, family);
        }
    }
    assert_eq!(fx.port_count(443, StatIndex::TcpBadFlags), 12);
    assert_eq!(fx.port_count(443, StatIndex::PassIpv4), 6);
    assert_eq!(fx.port_count(443, StatIndex::PassIpv6), 6);
    assert_eq!(
        fx.port_count(444, StatIndex::PassIpv4),
        0,
        "unprotected ports are not counted"
    );
}

#[test]
fn bad_data_offsets_to_protected_ports_are_dropped() {
    let fx = Fx::with(&[(22, PORT_TCP_SANITY)], &GuardSettings::default());
    let v4 = V4::from("198.51.100.1");
    let v6 = V6::from("2001:db8::1");
    for words in [0, 4] {
        fx.expect(
            &v4.frame(&tcp(22, ACK, words, &[])),
            Act::Drop,
            StatIndex::TcpBadOffset,
        );
        fx.expect(
            &v6.frame(&tcp(22, ACK, words, &[])),
            Act::Drop,
            StatIndex::TcpBadOffset,
        );
    }
    // Options announced but beyond the packet.
    fx.expect(
        &v4.frame(&tcp(22, SYN, 8, &[1, 1, 1, 1])),
        Act::Drop,
        StatIndex::TcpBadOffset,
    );
    fx.expect(
        &v6.frame(&tcp(22, SYN, 15, &[])),
        Act::Drop,
        StatIndex::TcpBadOffset,
    );
    // Options that are there.
    fx.expect(
        &v4.frame(&tcp(22, SYN, 6, &[1, 1, 1, 1])),
        Act::Pass,
        StatIndex::PassIpv4,
    );
    // Behind IPv4 options and a VLAN tag, the TCP header is still found.
    let opts = V4::from("198.51.100.1")
        .options(&[148, 4, 0, 0])
        .vlans(&[3]);
    fx.expect(
        &opts.frame(&tcp(22, ACK, 4, &[])),
        Act::Drop,
        StatIndex::TcpBadOffset,
    );
    fx.expect(
        &opts.frame(&seg(22, SYN | RST)),
        Act::Drop,
        StatIndex::TcpBadFlags,
    );
    fx.expect(&opts.frame(&seg(22, SYN)), Act::Pass, StatIndex::PassIpv4);
    assert_eq!(fx.port_count(22, StatIndex::TcpBadOffset), 7);
}

#[test]
fn sanity_is_per_port_flag() {
    // A port protected by the SYN guard only keeps odd flags (RFC-wise they are the peer's
    // problem), but a bad data offset is still malformed TCP.
    let fx = Fx::with(&[(80, PORT_SYN_GUARD)], &GuardSettings::default());
    let v4 = V4::from("198.51.100.1");
    fx.expect(
        &v4.frame(&seg(80, SYN | FIN)),
        Act::Pass,
        StatIndex::PassIpv4,
    );
    fx.expect(
        &v4.frame(&tcp(80, ACK, 4, &[])),
        Act::Pass,
        StatIndex::MalformedTcp,
    );
    assert_eq!(fx.port_count(80, StatIndex::MalformedTcp), 1);
}

#[test]
fn fragments_to_protected_ports_are_dropped_when_configured() {
    let settings = GuardSettings {
        drop_fragments: true,
        ..GuardSettings::default()
    };
    let fx = Fx::with(&[(443, PORT_TCP_SANITY)], &settings);
    let first4 = V4::from("198.51.100.1").frag(0x2000);
    let later4 = V4::from("198.51.100.1").frag(0x0010);
    let last4 = V4::from("198.51.100.1").frag(0x0011);
    fx.expect(
        &first4.frame(&seg(443, SYN)),
        Act::Drop,
        StatIndex::Fragment,
    );
    // A tiny first fragment that holds only the ports.
    fx.expect(
        &first4.frame(&seg(443, SYN)[..4]),
        Act::Drop,
        StatIndex::Fragment,
    );
    fx.expect(
        &first4.frame(&seg(8080, SYN)),
        Act::Pass,
        StatIndex::PassIpv4,
    );
    // Later fragments carry no port: every TCP one goes.
    fx.expect(&later4.frame(&[0; 16]), Act::Drop, StatIndex::Fragment);
    fx.expect(&last4.frame(&[0; 16]), Act::Drop, StatIndex::Fragment);
    // UDP fragments are left alone.
    let udp_frag = V4::from("198.51.100.1").proto(UDP).frag(0x0010);
    fx.expect(&udp_frag.frame(&[0; 16]), Act::Pass, StatIndex::PassIpv4);

    let first6 = V6::from("2001:db8::1").ext(44, 0, 0x0001);
    let later6 = V6::from("2001:db8::1").ext(44, 0, 0x0010);
    fx.expect(
        &first6.frame(&seg(443, SYN)),
        Act::Drop,
        StatIndex::Fragment,
    );
    fx.expect(
        &first6.frame(&seg(8080, SYN)),
        Act::Pass,
        StatIndex::PassIpv6,
    );
    fx.expect(&later6.frame(&[0; 16]), Act::Drop, StatIndex::Fragment);
    // An atomic fragment (offset 0, no M) is a whole datagram.
    let atomic6 = V6::from("2001:db8::1").ext(44, 0, 0);
    fx.expect(
        &atomic6.frame(&seg(443, SYN)),
        Act::Pass,
        StatIndex::PassIpv6,
    );
    assert_eq!(fx.port_count(443, StatIndex::Fragment), 3);
}

#[test]
fn fragments_pass_when_not_configured() {
    let fx = Fx::with(&[(443, PORT_TCP_SANITY)], &GuardSettings::default());
    let first4 = V4::from("198.51.100.1").frag(0x2000);
    fx.expect(
        &first4.frame(&seg(443, SYN)),
        Act::Pass,
        StatIndex::PassIpv4,
    );
    fx.expect(
        &V4::from("198.51.100.1").frag(0x0010).frame(&[0; 8]),
        Act::Pass,
        StatIndex::PassIpv4,
    );
    let later6 = V6::from("2001:db8::1").ext(44, 0, 0x0010);
    fx.expect(&later6.frame(&[0; 16]), Act::Pass, StatIndex::PassIpv6);
    assert_eq!(fx.port_count(443, StatIndex::PassIpv4), 1);
}

#[test]
fn protected_ports_are_replaced_as_a_set() {
    let fx = Fx::with(
        &[(22, PORT_TCP_SANITY), (443, PORT_TCP_SANITY)],
        &GuardSettings::default(),
    );
    assert_eq!(
        protected_ports(&fx.pin).unwrap(),
        [(22, PORT_TCP_SANITY), (443, PORT_TCP_SANITY)]
    );
    set_protected_ports(&fx.pin, &[(443, PORT_SYN_GUARD), (8443, PORT_TCP_SANITY)]).unwrap();
    assert_eq!(
        protected_ports(&fx.pin).unwrap(),
        [(443, PORT_SYN_GUARD), (8443, PORT_TCP_SANITY)]
    );
    let v4 = V4::from("198.51.100.1");
    fx.expect(&v4.frame(&seg(22, 0)), Act::Pass, StatIndex::PassIpv4);
    fx.expect(&v4.frame(&seg(8443, 0)), Act::Drop, StatIndex::TcpBadFlags);
}
