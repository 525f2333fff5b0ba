//! The per-packet cost benchmark: typical frames through `lb_xdp`, each against the drop-all
//! baseline program measured right before it, in alternating rounds.
//!
//! `BPF_PROG_TEST_RUN` with `repeat` times a loop that also holds the kernel's own per-run
//! work (context setup, timer and preemption checks); the baseline pays the same, so the
//! ratio of both medians and their difference (our program's own cost) are the figures.

use std::{net::Ipv4Addr, time::Duration};

use lb_common::guard::{PORT_SYN_GUARD, PORT_TCP_SANITY};

use super::{XDP_DROP, XDP_PASS};
use crate::ebpf::{
    Budget, CidrLists, EbpfError, GuardSettings, ListKind, XdpRuntime, set_protected_ports,
    set_settings,
};

/// The protected port of the benchmark.
pub const COST_PORT: u16 = 443;
/// The denied prefix whose source the deny-list case uses.
pub const COST_DENIED: &str = "203.0.113.0/24";
/// Extra /32 entries in the deny list, so lookups walk a trie of realistic depth.
pub const COST_DENY_FILLER: u32 = 1_000;

/// One kind of frame the benchmark runs, and the verdict it must get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostCase {
    /// Short name (`pass`, `deny_hit`, ...).
    pub name: &'static str,
    /// What the frame is.
    pub what: &'static str,
    /// The frame, from the Ethernet header.
    pub frame: Vec<u8>,
    /// The XDP action `lb_xdp` must return.
    pub action: u32,
}

/// Why the benchmark stopped.
#[derive(Debug, thiserror::Error)]
pub enum CostError {
    /// Loading, configuring or running the program failed.
    #[error(transparent)]
    Ebpf(#[from] EbpfError),
    /// The program returned another verdict than the case expects: the figures would
    /// measure the wrong path.
    #[error("case {case}: XDP action {found}, expected {expected}")]
    UnexpectedVerdict {
        /// The case.
        case: &'static str,
        /// The action the case expects.
        expected: u32,
        /// The action returned.
        found: u32,
    },
}

/// The measured cost of one case: one value per round, in nanoseconds per packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseCost {
    /// The case's name.
    pub name: &'static str,
    /// The case's description.
    pub what: &'static str,
    /// `lb_xdp`, per round.
    pub ours_ns: Vec<u64>,
    /// The drop-all baseline on the same frame, per round, measured just before.
    pub baseline_ns: Vec<u64>,
}

impl CaseCost {
    /// Median of [`Self::ours_ns`].
    pub fn ours_median(&self) -> u64 {
        median(&self.ours_ns)
    }

    /// Median of [`Self::baseline_ns`].
    pub fn baseline_median(&self) -> u64 {
        median(&self.baseline_ns)
    }

    /// Median over rounds of ours / baseline (each round's pair measured back to back).
    pub fn ratio(&self) -> f64 {
        let mut ratios: Vec<f64> = self
            .ours_ns
            .iter()
            .zip(&self.baseline_ns)
            .map(|(o, b)| *o as f64 / (*b).max(1) as f64)
            .collect();
        ratios.sort_by(f64::total_cmp);
        ratios.get(ratios.len() / 2).copied().unwrap_or(0.0)
    }
}

/// The median of `values` (the upper one of an even count); 0 when empty.
pub fn median(values: &[u64]) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied().unwrap_or(0)
}

/// The settings the benchmark loads: malformed frames dropped, one SYN per source and
/// none refilled (so every further SYN is over budget), a global budget large enough to
/// never bind.
pub fn cost_settings() -> GuardSettings {
    GuardSettings {
        drop_malformed: true,
        drop_fragments: true,
        syn_per_source: Some(Budget { rate: 0, burst: 1 }),
        syn_global: Some(Budget {
            rate: 1_000_000,
            burst: 1_000_000,
        }),
    }
}

/// The frames of the benchmark.
pub fn cost_cases() -> Vec<CostCase> {
    let client = Ipv4Addr::new(198, 51, 100, 1);
    let flooder = Ipv4Addr::new(198, 51, 100, 2);
    let denied = Ipv4Addr::new(203, 0, 113, 7);
    let mut truncated = ipv4_tcp(client, COST_PORT, ACK | PSH, 64);
    truncated.truncate(14 + 12);
    vec![
        CostCase {
            name: "pass",
            what: "TCP ACK+PSH with 64 payload bytes to the protected port",
            frame: ipv4_tcp(client, COST_PORT, ACK | PSH, 64),
            action: XDP_PASS,
        },
        CostCase {
            name: "deny_hit",
            what: "SYN from a deny-listed /24 (deny list of 1001 entries)",
            frame: ipv4_tcp(denied, COST_PORT, SYN, 0),
            action: XDP_DROP,
        },
        CostCase {
            name: "syn_over_budget",
            what: "SYN from a source whose per-source bucket is empty",
            frame: ipv4_tcp(flooder, COST_PORT, SYN, 0),
            action: XDP_DROP,
        },
        CostCase {
            name: "bad_flags",
            what: "XMAS segment (FIN+PSH+URG) to the protected port",
            frame: ipv4_tcp(client, COST_PORT, FIN | PSH | URG, 0),
            action: XDP_DROP,
        },
        CostCase {
            name: "malformed",
            what: "IPv4 header cut short (malformed frames dropped)",
            frame: truncated,
            action: XDP_DROP,
        },
    ]
}

impl XdpRuntime {
    /// Configures the guard for [`cost_cases`]: [`COST_PORT`] protected (TCP sanity and SYN
    /// budgets), [`cost_settings`], [`COST_DENIED`] and [`COST_DENY_FILLER`] host entries in
    /// the deny list (or `filler` of them), the allow list left empty.
    pub fn prepare_cost_bench(&self, filler: Option<u32>) -> Result<(), EbpfError> {
        let pin = self.pin_dir();
        set_protected_ports(pin, &[(COST_PORT, PORT_TCP_SANITY | PORT_SYN_GUARD)])?;
        set_settings(pin, &cost_settings())?;
        let mut lists = CidrLists::open(pin)?;
        let denied = COST_DENIED
            .parse()
            .map_err(|_| EbpfError::InvalidCidr(COST_DENIED.to_owned()))?;
        lists.add(ListKind::Deny, denied, None)?;
        for i in 0..filler.unwrap_or(COST_DENY_FILLER) {
            // 100.64.0.0/10 (shared address space), spread over its /16s.
            let [_, b, c, d] = i.to_be_bytes();
            let addr = Ipv4Addr::new(100, 64 | (d & 0x3f), b.wrapping_add(c), d);
            let cidr = crate::ebpf::Cidr::new(addr.into(), 32)
                .ok_or_else(|| EbpfError::InvalidCidr(addr.to_string()))?;
            lists.add(ListKind::Deny, cidr, Some(Duration::from_secs(3600)))?;
        }
        Ok(())
    }

    /// Runs every case of [`cost_cases`] `rounds` times, each run `repeat` packets, the
    /// baseline right before ours on the same frame. Checks each verdict.
    ///
    /// Call [`Self::prepare_cost_bench`] first (the verdicts depend on it).
    pub fn cost_bench(&mut self, repeat: u32, rounds: usize) -> Result<Vec<CaseCost>, CostError> {
        let cases = cost_cases();
        let mut costs: Vec<CaseCost> = cases
            .iter()
            .map(|c| CaseCost {
                name: c.name,
                what: c.what,
                ours_ns: Vec::with_capacity(rounds),
                baseline_ns: Vec::with_capacity(rounds),
            })
            .collect();
        // The first SYN of the flooder spends its one token; every later one is over budget.
        for case in &cases {
            self.test_run(&case.frame, 1)?;
        }
        for _ in 0..rounds {
            for (case, cost) in cases.iter().zip(&mut costs) {
                let base = self.bench_baseline_ns_per_packet(&case.frame, repeat)?;
                let ours = self.test_run(&case.frame, repeat)?;
                if ours.action != case.action {
                    return Err(CostError::UnexpectedVerdict {
                        case: case.name,
                        expected: case.action,
                        found: ours.action,
                    });
                }
                cost.baseline_ns.push(base);
                cost.ours_ns.push(ours.ns_per_packet);
            }
        }
        Ok(costs)
    }
}

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;
const URG: u8 = 0x20;

/// An Ethernet + IPv4 + TCP frame from `src` to 192.0.2.1:`port`.
fn ipv4_tcp(src: Ipv4Addr, port: u16, flags: u8, payload: usize) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
    let total = u16::try_from(20 + 20 + payload).unwrap_or(u16::MAX);
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&[192, 0, 2, 1]);
    f.extend_from_slice(&ip);
    let mut tcp = [0u8; 20];
    tcp[0..2].copy_from_slice(&40_000u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&port.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&65_535u16.to_be_bytes());
    f.extend_from_slice(&tcp);
    f.resize(f.len() + payload, 0x61);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_ratio() {
        assert_eq!(median(&[30, 10, 20]), 20);
        assert_eq!(median(&[]), 0);
        let c = CaseCost {
            name: "x",
            what: "",
            ours_ns: vec![40, 44, 100],
            baseline_ns: vec![20, 20, 20],
        };
        assert_eq!(c.ours_median(), 44);
        assert_eq!(c.baseline_median(), 20);
        assert!((c.ratio() - 2.2).abs() < 1e-9);
    }

    #[test]
    fn frames_are_what_they_claim() {
        let cases = cost_cases();
        let pass = &cases[0].frame;
        assert_eq!(pass.len(), 14 + 40 + 64);
        assert_eq!(&pass[14 + 12..14 + 16], &[198, 51, 100, 1]);
        assert_eq!(u16::from_be_bytes([pass[36], pass[37]]), COST_PORT);
        assert_eq!(cases[4].frame.len(), 26);
    }
}
