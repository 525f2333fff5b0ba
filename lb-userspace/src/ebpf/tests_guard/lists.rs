//! Deny and allow lists: matches by prefix, per-entry hits, expiry, deletion, precedence.

use std::time::Duration;

use lb_common::StatIndex;

use super::{
    fixture::{Act, Fx},
    frames::*,
};
use crate::ebpf::{Cidr, CidrLists, GuardSettings, ListKind, PORT_SYN_GUARD, PORT_TCP_SANITY};

fn cidr(s: &str) -> Cidr {
    s.parse().unwrap()
}

fn hits(lists: &CidrLists, kind: ListKind, c: &str) -> u64 {
    lists
        .list(kind)
        .unwrap()
        .into_iter()
        .find(|s| s.cidr == cidr(c))
        .unwrap_or_else(|| panic!("{c} not listed"))
        .hits
}

#[test]
fn deny_list_drops_matching_sources_ipv4_and_ipv6() {
    let fx = Fx::new();
    let mut lists = CidrLists::open(&fx.pin).unwrap();
    lists
        .add(ListKind::Deny, cidr("198.51.100.0/24"), None)
        .unwrap();
    lists
        .add(ListKind::Deny, cidr("2001:db8:bad::/48"), None)
        .unwrap();

    let denied4 = V4::from("198.51.100.77").frame(&seg(80, ACK));
    let denied6 = V6::from("2001:db8:bad:1::9").frame(&seg(80, ACK));
    fx.expect(&denied4, Act::Drop, StatIndex::DenyList);
    fx.expect(&denied4, Act::Drop, StatIndex::DenyList);
    fx.expect(&denied6, Act::Drop, StatIndex::DenyList);
    // UDP and VLAN-tagged traffic from the same sources too.
    let udp4 = V4::from("198.51.100.1")
        .proto(UDP)
        .vlans(&[5])
        .frame(&udp(53, b"x", None));
    fx.expect(&udp4, Act::Drop, StatIndex::DenyList);
    fx.expect(
        &V4::from("198.51.101.1").frame(&seg(80, ACK)),
        Act::Pass,
        StatIndex::PassIpv4,
    );
    fx.expect(
        &V6::from("2001:db8:bae::1").frame(&seg(80, ACK)),
        Act::Pass,
        StatIndex::PassIpv6,
    );

    assert_eq!(hits(&lists, ListKind::Deny, "198.51.100.0/24"), 3);
    assert_eq!(hits(&lists, ListKind::Deny, "2001:db8:bad::/48"), 1);
    let listed = lists.list(ListKind::Deny).unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|s| s.expires_in.is_none()));
    assert!(lists.list(ListKind::Allow).unwrap().is_empty());

    // Deleting lets the sources through again.
    assert!(
        lists
            .delete(ListKind::Deny, cidr("198.51.100.0/24"))
            .unwrap()
    );
    assert!(
        !lists
            .delete(ListKind::Deny, cidr("198.51.100.0/24"))
            .unwrap()
    );
    fx.expect(&denied4, Act::Pass, StatIndex::PassIpv4);
    fx.expect(&denied6, Act::Drop, StatIndex::DenyList);
}

#[test]
fn longest_prefix_and_host_entries_match() {
    let fx = Fx::new();
    let mut lists = CidrLists::open(&fx.pin).unwrap();
    lists
        .add(ListKind::Deny, cidr("203.0.113.9"), None)
        .unwrap();
    lists.add(ListKind::Deny, cidr("0.0.0.0/1"), None).unwrap();
    fx.expect(
        &V4::from("203.0.113.9").frame(&seg(1, ACK)),
        Act::Drop,
        StatIndex::DenyList,
    );
    fx.expect(
        &V4::from("203.0.113.8").frame(&seg(1, ACK)),
        Act::Pass,
        StatIndex::PassIpv4,
    );
    fx.expect(
        &V4::from("10.0.0.1").frame(&seg(1, ACK)),
        Act::Drop,
        StatIndex::DenyList,
    );
    // The most specific entry gets the hit.
    assert_eq!(hits(&lists, ListKind::Deny, "203.0.113.9/32"), 1);
    assert_eq!(hits(&lists, ListKind::Deny, "0.0.0.0/1"), 1);
}

#[test]
fn expired_entries_are_ignored_then_purged() {
    let fx = Fx::new();
    let mut lists = CidrLists::open(&fx.pin).unwrap();
    lists
        .add(
            ListKind::Deny,
            cidr("198.51.100.0/24"),
            Some(Duration::ZERO),
        )
        .unwrap();
    lists
        .add(ListKind::Deny, cidr("2001:db8::/32"), Some(Duration::ZERO))
        .unwrap();
    lists
        .add(
            ListKind::Deny,
            cidr("192.0.2.0/24"),
            Some(Duration::from_secs(3600)),
        )
        .unwrap();
    fx.expect(
        &V4::from("198.51.100.1").frame(&seg(80, ACK)),
        Act::Pass,
        StatIndex::PassIpv4,
    );
    fx.expect(
        &V6::from("2001:db8::1").frame(&seg(80, ACK)),
        Act::Pass,
        StatIndex::PassIpv6,
    );
    fx.expect(
        &V4::from("192.0.2.1").frame(&seg(80, ACK)),
        Act::Drop,
        StatIndex::DenyList,
    );

    let listed = lists.list(ListKind::Deny).unwrap();
    let live = listed
        .iter()
        .find(|s| s.cidr == cidr("192.0.2.0/24"))
        .unwrap();
    let left = live.expires_in.unwrap();
    assert!(
        left > Duration::from_secs(3590) && left <= Duration::from_secs(3600),
        "{left:?}"
    );
    assert_eq!(lists.purge_expired().unwrap(), 2);
    let listed = lists.list(ListKind::Deny).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].cidr, cidr("192.0.2.0/24"));
    assert_eq!(listed[0].hits, 1);
}

#[test]
fn allow_list_wins_over_deny_list_and_skips_the_guard() {
    let settings = GuardSettings {
        drop_fragments: true,
        syn_per_source: Some(crate::ebpf::Budget { rate: 0, burst: 1 }),
        ..GuardSettings::default()
    };
    let fx = Fx::with(&[(443, PORT_TCP_SANITY | PORT_SYN_GUARD)], &settings);
    let mut lists = CidrLists::open(&fx.pin).unwrap();
    lists
        .add(ListKind::Deny, cidr("198.51.100.0/24"), None)
        .unwrap();
    lists
        .add(ListKind::Allow, cidr("198.51.100.7/32"), None)
        .unwrap();
    lists
        .add(ListKind::Allow, cidr("2001:db8:1::/64"), None)
        .unwrap();

    let ok4 = V4::from("198.51.100.7");
    fx.expect(&ok4.frame(&seg(443, SYN)), Act::Pass, StatIndex::AllowList);
    // Bad flags and SYNs over budget from an allowed source still pass.
    fx.expect(
        &ok4.frame(&seg(443, SYN | FIN)),
        Act::Pass,
        StatIndex::AllowList,
    );
    fx.expect(&ok4.frame(&seg(443, SYN)), Act::Pass, StatIndex::AllowList);
    fx.expect(
        &ok4.clone().frag(0x2000).frame(&seg(443, SYN)),
        Act::Pass,
        StatIndex::AllowList,
    );
    let ok6 = V6::from("2001:db8:1::99");
    fx.expect(&ok6.frame(&seg(443, 0)), Act::Pass, StatIndex::AllowList);
    fx.expect(
        &V4::from("198.51.100.8").frame(&seg(443, SYN)),
        Act::Drop,
        StatIndex::DenyList,
    );
    fx.expect(
        &V6::from("2001:db8:2::1").frame(&seg(443, 0)),
        Act::Drop,
        StatIndex::TcpBadFlags,
    );

    assert_eq!(hits(&lists, ListKind::Allow, "198.51.100.7/32"), 4);
    assert_eq!(hits(&lists, ListKind::Allow, "2001:db8:1::/64"), 1);
    // The deny entry was not consulted for the allowed source.
    assert_eq!(hits(&lists, ListKind::Deny, "198.51.100.0/24"), 1);
}

#[test]
fn re_adding_an_entry_restarts_its_hits_and_ttl() {
    let fx = Fx::new();
    let mut lists = CidrLists::open(&fx.pin).unwrap();
    lists
        .add(ListKind::Deny, cidr("198.51.100.0/24"), None)
        .unwrap();
    fx.expect(
        &V4::from("198.51.100.1").frame(&seg(80, ACK)),
        Act::Drop,
        StatIndex::DenyList,
    );
    assert_eq!(hits(&lists, ListKind::Deny, "198.51.100.0/24"), 1);
    lists
        .add(
            ListKind::Deny,
            cidr("198.51.100.0/24"),
            Some(Duration::from_secs(60)),
        )
        .unwrap();
    let s = &lists.list(ListKind::Deny).unwrap()[0];
    assert_eq!(s.hits, 0);
    assert!(s.expires_in.is_some());
}

#[test]
fn deny_entries_and_settings_survive_a_reload() {
    let pin = {
        let mut fx = Fx::with(
            &[(443, PORT_TCP_SANITY)],
            &GuardSettings {
                drop_malformed: true,
                ..GuardSettings::default()
            },
        );
        let mut lists = CidrLists::open(&fx.pin).unwrap();
        lists
            .add(ListKind::Deny, cidr("2001:db8:bad::/48"), None)
            .unwrap();
        fx.expect(
            &V6::from("2001:db8:bad::1").frame(&seg(443, ACK)),
            Act::Drop,
            StatIndex::DenyList,
        );
        fx.rt.keep_pins_on_drop();
        fx.pin.clone()
    };
    // A new `lb` process loading the program again reuses the pinned maps.
    let fx = Fx::at(pin);
    fx.expect(
        &V6::from("2001:db8:bad::1").frame(&seg(443, ACK)),
        Act::Drop,
        StatIndex::DenyList,
    );
    fx.expect(
        &V4::from("198.51.100.1").frame(&seg(443, 0)),
        Act::Drop,
        StatIndex::TcpBadFlags,
    );
    assert_eq!(fx.stats().get(StatIndex::DenyList).packets, 2);
    let lists = CidrLists::open(&fx.pin).unwrap();
    assert_eq!(hits(&lists, ListKind::Deny, "2001:db8:bad::/48"), 2);
}

#[test]
fn a_pinned_list_of_another_layout_is_replaced_at_load() {
    let pin =
        std::path::PathBuf::from(format!("/sys/fs/bpf/lb-guard-stale-{}", std::process::id()));
    std::fs::create_dir_all(&pin).unwrap();
    let stale = pin.join(lb_common::guard::DENY4_MAP);
    // An older layout: a plain hash with 4-byte keys and values.
    let status = std::process::Command::new("bpftool")
        .args(["map", "create"])
        .arg(&stale)
        .args([
            "type",
            "hash",
            "key",
            "4",
            "value",
            "4",
            "entries",
            "4",
            "name",
            "LB_XDP_DENY4",
        ])
        .status()
        .unwrap();
    assert!(status.success(), "bpftool map create");
    let fx = Fx::at(pin);
    let mut lists = CidrLists::open(&fx.pin).unwrap();
    lists
        .add(ListKind::Deny, cidr("198.51.100.0/24"), None)
        .unwrap();
    fx.expect(
        &V4::from("198.51.100.1").frame(&seg(80, ACK)),
        Act::Drop,
        StatIndex::DenyList,
    );
}

#[test]
fn lists_apply_to_frames_with_a_malformed_transport_header() {
    let fx = Fx::new();
    let mut lists = CidrLists::open(&fx.pin).unwrap();
    lists
        .add(ListKind::Deny, cidr("198.51.100.0/24"), None)
        .unwrap();
    lists
        .add(ListKind::Allow, cidr("2001:db8:1::/48"), None)
        .unwrap();
    let cut_tcp = V4::from("198.51.100.1").frame(&seg(80, SYN)[..10]);
    fx.expect(&cut_tcp, Act::Drop, StatIndex::DenyList);
    let cut_udp = V6::from("2001:db8:1::1")
        .proto(UDP)
        .frame(&udp(53, b"", Some(3)));
    fx.expect(&cut_udp, Act::Pass, StatIndex::AllowList);
    let other = V4::from("192.0.2.1").frame(&seg(80, SYN)[..10]);
    fx.expect(&other, Act::Pass, StatIndex::MalformedTcp);
}
