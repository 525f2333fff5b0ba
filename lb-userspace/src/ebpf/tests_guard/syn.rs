//! The SYN-flood guard: per-source (/32, /64) and global budgets on protected ports.

use lb_common::StatIndex;

use super::{
    fixture::{Act, Fx},
    frames::*,
};
use crate::ebpf::{Budget, GuardSettings, PORT_SYN_GUARD, PORT_TCP_SANITY, XDP_DROP};

fn per_source(burst: u64) -> GuardSettings {
    GuardSettings {
        // One token per hour: nothing refills during the test.
        syn_per_source: Some(Budget { rate: 0, burst }),
        ..GuardSettings::default()
    }
}

#[test]
fn per_source_budget_ipv4() {
    let fx = Fx::with(&[(443, PORT_SYN_GUARD | PORT_TCP_SANITY)], &per_source(3));
    let a = V4::from("198.51.100.1").frame(&seg(443, SYN));
    for _ in 0..3 {
        fx.expect(&a, Act::Pass, StatIndex::PassIpv4);
    }
    fx.expect(&a, Act::Drop, StatIndex::SynOverSource);
    fx.expect(&a, Act::Drop, StatIndex::SynOverSource);
    // Only SYNs spend tokens, only to protected ports; other sources have their own bucket.
    fx.expect(
        &V4::from("198.51.100.1").frame(&seg(443, ACK)),
        Act::Pass,
        StatIndex::PassIpv4,
    );
    fx.expect(
        &V4::from("198.51.100.1").frame(&seg(444, SYN)),
        Act::Pass,
        StatIndex::PassIpv4,
    );
    fx.expect(
        &V4::from("198.51.100.1").frame(&seg(443, SYN | ACK)),
        Act::Pass,
        StatIndex::PassIpv4,
    );
    fx.expect(
        &V4::from("198.51.100.2").frame(&seg(443, SYN)),
        Act::Pass,
        StatIndex::PassIpv4,
    );
    assert_eq!(fx.port_count(443, StatIndex::SynOverSource), 2);
    assert_eq!(fx.port_count(443, StatIndex::PassIpv4), 6);
}

#[test]
fn per_source_budget_ipv6_is_per_64() {
    let fx = Fx::with(&[(443, PORT_SYN_GUARD)], &per_source(2));
    let a = V6::from("2001:db8:1:2::1").frame(&seg(443, SYN));
    let same64 = V6::from("2001:db8:1:2:ffff::9").frame(&seg(443, SYN));
    let other64 = V6::from("2001:db8:1:3::1").frame(&seg(443, SYN));
    fx.expect(&a, Act::Pass, StatIndex::PassIpv6);
    fx.expect(&same64, Act::Pass, StatIndex::PassIpv6);
    fx.expect(&a, Act::Drop, StatIndex::SynOverSource);
    fx.expect(&same64, Act::Drop, StatIndex::SynOverSource);
    fx.expect(&other64, Act::Pass, StatIndex::PassIpv6);
    // Behind extension headers too.
    let ext = V6::from("2001:db8:1:2::5")
        .ext(60, 0, 0)
        .frame(&seg(443, SYN));
    fx.expect(&ext, Act::Drop, StatIndex::SynOverSource);
}

#[test]
fn per_source_budget_refills_at_rate() {
    let settings = GuardSettings {
        syn_per_source: Some(Budget { rate: 20, burst: 1 }),
        ..GuardSettings::default()
    };
    let fx = Fx::with(&[(443, PORT_SYN_GUARD)], &settings);
    let a = V4::from("198.51.100.1").frame(&seg(443, SYN));
    fx.expect(&a, Act::Pass, StatIndex::PassIpv4);
    fx.expect(&a, Act::Drop, StatIndex::SynOverSource);
    std::thread::sleep(std::time::Duration::from_millis(120));
    fx.expect(&a, Act::Pass, StatIndex::PassIpv4);
}

#[test]
fn global_budget_limits_all_sources_together() {
    // One CPU's share: `repeat` runs stay on one CPU, so its bucket alone decides.
    let cpus = aya::util::nr_cpus().unwrap() as u64;
    let settings = GuardSettings {
        syn_global: Some(Budget {
            rate: 0,
            burst: 4 * cpus,
        }),
        ..GuardSettings::default()
    };
    let fx = Fx::with(&[(443, PORT_SYN_GUARD)], &settings);
    for (i, frame) in [
        V4::from("198.51.100.1").frame(&seg(443, SYN)),
        V6::from("2001:db8::1").frame(&seg(443, SYN)),
    ]
    .into_iter()
    .enumerate()
    {
        let before = fx.stats();
        assert_eq!(fx.run(&frame, 10), XDP_DROP);
        let after = fx.stats();
        let d = |r| after.get(r).packets - before.get(r).packets;
        let pass = d(StatIndex::PassIpv4) + d(StatIndex::PassIpv6);
        let over = d(StatIndex::SynOverGlobal);
        // The first frame took 4 tokens from the CPU it ran on; the second may run on the
        // same CPU (0 left) or another (4 left).
        assert_eq!(pass + over, 10);
        if i == 0 {
            assert_eq!(pass, 4, "a fresh CPU bucket holds its burst");
        } else {
            assert!(pass == 4 || pass == 0, "passed {pass}");
        }
        assert_eq!(d(StatIndex::SynOverSource), 0);
    }
    // Non-SYN traffic is not budgeted.
    let ack = V4::from("198.51.100.1").frame(&seg(443, ACK));
    assert_eq!(fx.run(&ack, 10), crate::ebpf::XDP_PASS);
    assert!(fx.port_count(443, StatIndex::SynOverGlobal) >= 6);
}

#[test]
fn source_budget_is_checked_before_the_global_one() {
    let settings = GuardSettings {
        syn_per_source: Some(Budget { rate: 0, burst: 1 }),
        syn_global: Some(Budget {
            rate: 0,
            burst: 1_000_000,
        }),
        ..GuardSettings::default()
    };
    let fx = Fx::with(&[(443, PORT_SYN_GUARD)], &settings);
    let a = V4::from("198.51.100.1").frame(&seg(443, SYN));
    fx.expect(&a, Act::Pass, StatIndex::PassIpv4);
    fx.expect(&a, Act::Drop, StatIndex::SynOverSource);
}

#[test]
fn bench_drop_paths() {
    let settings = GuardSettings {
        syn_per_source: Some(Budget { rate: 0, burst: 1 }),
        ..GuardSettings::default()
    };
    let mut fx = Fx::with(&[(443, PORT_SYN_GUARD | PORT_TCP_SANITY)], &settings);
    let mut lists = crate::ebpf::CidrLists::open(&fx.pin).unwrap();
    lists
        .add(
            crate::ebpf::ListKind::Deny,
            "203.0.113.0/24".parse().unwrap(),
            None,
        )
        .unwrap();
    let denied = V4::from("203.0.113.1").frame(&seg(443, SYN));
    let flood = V4::from("198.51.100.1").frame(&seg(443, SYN));
    let deny_ns = fx.rt.bench_ns_per_packet(&denied, 10_000).unwrap();
    let syn_ns = fx.rt.bench_ns_per_packet(&flood, 10_000).unwrap();
    let base = fx.rt.bench_baseline_ns_per_packet(&flood, 10_000).unwrap();
    let stats = fx.stats();
    assert_eq!(stats.get(StatIndex::DenyList).packets, 10_000);
    assert_eq!(stats.get(StatIndex::SynOverSource).packets, 9_999);
    eprintln!(
        "deny-list hit: {deny_ns} ns/packet, SYN over budget: {syn_ns} ns/packet, drop-all: {base} ns/packet"
    );
}
