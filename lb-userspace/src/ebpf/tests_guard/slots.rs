//! Counters per interface and per protected port (array slots handed out by user space), and
//! the order of the SYN budgets (global first, refunded when the source's refuses).

use std::process::Command;

use lb_common::{Counter, StatIndex};

use super::{fixture::Fx, frames::*};
use crate::ebpf::{
    Budget, GuardSettings, PORT_SYN_GUARD, PORT_TCP_SANITY, XDP_DROP, XDP_PASS, interface_stats,
    port_stats, protected_ports, set_protected_ports,
};

/// One end of a veth pair (this kernel has no dummy driver), removed with its peer on drop.
struct Dummy(String);

impl Dummy {
    fn new(tag: &str) -> Self {
        let id = std::process::id() % 100_000;
        let name = format!("lbd{id}{tag}");
        let peer = format!("lbp{id}{tag}");
        let _ = Command::new("ip").args(["link", "del", &name]).status();
        let ok = Command::new("ip")
            .args(["link", "add", &name, "type", "veth", "peer", "name", &peer])
            .status()
            .unwrap()
            .success();
        assert!(ok, "ip link add {name} type veth");
        Self(name)
    }

    fn index(&self) -> u32 {
        crate::ebpf::interfaces::ifindex(&self.0).unwrap()
    }
}

impl Drop for Dummy {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).status();
    }
}

fn iface_count(fx: &Fx, label: &str, reason: StatIndex) -> Counter {
    interface_stats(&fx.pin)
        .unwrap()
        .into_iter()
        .find(|i| i.label() == label)
        .unwrap_or_else(|| panic!("no interface {label}"))
        .reasons
        .into_iter()
        .find(|(r, _)| *r == reason)
        .map(|(_, c)| c)
        .unwrap()
}

#[test]
fn counters_per_interface_are_exact_and_survive_re_registration() {
    let fx = Fx::new();
    let a = Dummy::new("a");
    let b = Dummy::new("b");
    let slots = crate::ebpf::interfaces::register(&fx.pin, &[&a.0, &b.0, "nonexistent0"]).unwrap();
    assert_eq!(slots.len(), 3);
    assert!(slots[0] != 0 && slots[1] != 0 && slots[0] != slots[1]);
    assert_eq!(slots[2], 0, "an unknown interface counts under other");

    let pass = V4::from("198.51.100.1").frame(&seg(80, ACK));
    let malformed = pass[..20].to_vec();
    assert_eq!(
        fx.rt.test_run_on(&pass, a.index(), 3).unwrap().action,
        XDP_PASS
    );
    fx.rt.test_run_on(&malformed, b.index(), 2).unwrap();
    // A plain test run arrives on the loopback, which has no slot: "other".
    fx.run(&pass, 1);

    let n = pass.len() as u64;
    assert_eq!(
        iface_count(&fx, &a.0, StatIndex::PassIpv4),
        Counter {
            packets: 3,
            bytes: 3 * n
        }
    );
    assert_eq!(iface_count(&fx, &a.0, StatIndex::MalformedIpv4).packets, 0);
    assert_eq!(
        iface_count(&fx, &b.0, StatIndex::MalformedIpv4),
        Counter {
            packets: 2,
            bytes: 40
        }
    );
    assert_eq!(iface_count(&fx, "other", StatIndex::PassIpv4).packets, 1);
    // The totals hold every packet once.
    let stats = fx.stats();
    assert_eq!(stats.get(StatIndex::PassIpv4).packets, 4);
    assert_eq!(stats.get(StatIndex::MalformedIpv4).packets, 2);
    let labels: Vec<String> = stats.interfaces.iter().map(|i| i.label()).collect();
    assert_eq!(labels, ["other".to_owned(), a.0.clone(), b.0.clone()]);

    // A restart registers the same interfaces: same slots, counters kept.
    let again = crate::ebpf::interfaces::register(&fx.pin, &[&b.0, &a.0]).unwrap();
    assert_eq!(again, [slots[1], slots[0]]);
    assert_eq!(iface_count(&fx, &a.0, StatIndex::PassIpv4).packets, 3);

    // An interface that went away leaves its slot to the next one, zeroed.
    let a_slot = slots[0];
    drop(a);
    let c = Dummy::new("c");
    let c_slots = crate::ebpf::interfaces::register(&fx.pin, &[&c.0]).unwrap();
    assert_eq!(c_slots, [a_slot]);
    assert_eq!(iface_count(&fx, &c.0, StatIndex::PassIpv4).packets, 0);
    fx.rt.test_run_on(&pass, c.index(), 1).unwrap();
    assert_eq!(iface_count(&fx, &c.0, StatIndex::PassIpv4).packets, 1);
}

#[test]
fn port_slots_keep_counters_of_kept_ports_and_zero_reused_ones() {
    let fx = Fx::with(
        &[(443, PORT_TCP_SANITY), (8443, PORT_TCP_SANITY)],
        &GuardSettings::default(),
    );
    let to = |port| V4::from("198.51.100.1").frame(&seg(port, ACK));
    let xmas = |port| V4::from("198.51.100.1").frame(&seg(port, FIN | PSH | URG));
    fx.run(&to(443), 4);
    assert_eq!(fx.run(&xmas(443), 1), XDP_DROP);
    fx.run(&to(8443), 2);
    fx.run(&to(80), 5);
    assert_eq!(
        port_stats(&fx.pin).unwrap(),
        [
            (
                443,
                StatIndex::PassIpv4,
                Counter {
                    packets: 4,
                    bytes: 4 * 54
                }
            ),
            (
                443,
                StatIndex::TcpBadFlags,
                Counter {
                    packets: 1,
                    bytes: 54
                }
            ),
            (
                8443,
                StatIndex::PassIpv4,
                Counter {
                    packets: 2,
                    bytes: 108
                }
            ),
        ]
    );
    // 443 stays (new flags), 8443 goes, 9000 comes (into 8443's old slot, zeroed).
    set_protected_ports(&fx.pin, &[(443, PORT_SYN_GUARD), (9000, PORT_TCP_SANITY)]).unwrap();
    assert_eq!(
        protected_ports(&fx.pin).unwrap(),
        [(443, PORT_SYN_GUARD), (9000, PORT_TCP_SANITY)]
    );
    assert_eq!(fx.port_count(443, StatIndex::PassIpv4), 4);
    assert_eq!(fx.port_count(8443, StatIndex::PassIpv4), 0);
    assert_eq!(fx.port_count(9000, StatIndex::PassIpv4), 0);
    fx.run(&to(9000), 3);
    fx.run(&to(8443), 1);
    assert_eq!(fx.port_count(9000, StatIndex::PassIpv4), 3);
    assert_eq!(fx.port_count(8443, StatIndex::PassIpv4), 0);
    // 443 lost TCP sanity: XMAS passes now, counted under 443.
    assert_eq!(fx.run(&xmas(443), 1), XDP_PASS);
    assert_eq!(fx.port_count(443, StatIndex::PassIpv4), 5);
}

/// Pins the calling thread to CPU 0 while alive: the global SYN budget is per CPU.
struct OnCpu0(libc::cpu_set_t);

impl OnCpu0 {
    #[allow(unsafe_code, reason = "sched_{get,set}affinity have no std API")]
    fn new() -> Self {
        // SAFETY: cpu_set_t is plain data; the calls get valid pointers and sizes.
        unsafe {
            let mut old: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(
                libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &raw mut old),
                0
            );
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(0, &mut one);
            assert_eq!(
                libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &raw const one),
                0
            );
            Self(old)
        }
    }
}

impl Drop for OnCpu0 {
    #[allow(unsafe_code, reason = "sched_setaffinity has no std API")]
    fn drop(&mut self) {
        // SAFETY: restores the mask read in new().
        unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &raw const self.0) };
    }
}

#[test]
fn a_source_over_its_budget_gives_the_global_token_back() {
    let _cpu = OnCpu0::new();
    let cpus = aya::util::nr_cpus().unwrap() as u64;
    let settings = GuardSettings {
        syn_per_source: Some(Budget { rate: 0, burst: 1 }),
        // Two tokens on each CPU, never refilled.
        syn_global: Some(Budget {
            rate: 0,
            burst: 2 * cpus,
        }),
        ..GuardSettings::default()
    };
    let fx = Fx::with(&[(443, PORT_SYN_GUARD)], &settings);
    let from = |src| V4::from(src).frame(&seg(443, SYN));
    fx.expect(
        &from("198.51.100.1"),
        super::fixture::Act::Pass,
        StatIndex::PassIpv4,
    );
    for _ in 0..5 {
        fx.expect(
            &from("198.51.100.1"),
            super::fixture::Act::Drop,
            StatIndex::SynOverSource,
        );
    }
    // The refused SYNs spent nothing: one global token is left for another source.
    fx.expect(
        &from("198.51.100.2"),
        super::fixture::Act::Pass,
        StatIndex::PassIpv4,
    );
    // Now the global budget is empty: it refuses first, before the source is looked up.
    fx.expect(
        &from("198.51.100.3"),
        super::fixture::Act::Drop,
        StatIndex::SynOverGlobal,
    );
    fx.expect(
        &from("198.51.100.1"),
        super::fixture::Act::Drop,
        StatIndex::SynOverGlobal,
    );
}
