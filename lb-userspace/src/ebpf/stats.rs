//! Reading the XDP counters (from the live program or its pinned map) and rendering them.

use std::{
    borrow::Borrow,
    fmt::Write as _,
    path::{Path, PathBuf},
};

use aya::maps::{Map, MapData, PerCpuArray};
use lb_common::{
    Counter, StatIndex, Verdict,
    guard::PORT_SLOTS_MAP,
    stats::{IF_SLOTS_MAP, XDP_STATS_ENTRIES, XDP_STATS_MAP},
};
use serde_json::{Value, json};

use super::{EbpfError, InterfaceStats};

/// Counters of one slot of the stats map, summed over CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotStats {
    /// Slot index.
    pub index: u32,
    /// The reason this build knows for the slot (`None`: written by a newer program).
    pub reason: Option<StatIndex>,
    /// Packets and bytes.
    pub counter: Counter,
}

impl SlotStats {
    fn name(&self) -> String {
        self.reason
            .map_or_else(|| format!("slot_{}", self.index), |r| r.name().to_owned())
    }
}

/// A snapshot of the XDP counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XdpStats {
    /// The pinned map the counters come from.
    pub source: PathBuf,
    /// Number of per-CPU copies summed.
    pub cpus: usize,
    /// Every known reason, then unknown slots that counted something.
    pub slots: Vec<SlotStats>,
    /// Counters per protected port and reason (only pairs that counted something), sorted.
    pub ports: Vec<(u16, StatIndex, Counter)>,
    /// Counters per interface the program is attached to, then "other" (slot 0).
    pub interfaces: Vec<InterfaceStats>,
}

impl XdpStats {
    /// Sums per-CPU counters: `per_slot[i]` holds the copies of slot `i`, one per CPU.
    pub fn from_per_cpu(source: PathBuf, per_slot: &[Vec<Counter>]) -> Self {
        let cpus = per_slot.first().map_or(0, Vec::len);
        let slots = (0u32..)
            .zip(per_slot)
            .map(|(index, copies)| SlotStats {
                index,
                reason: StatIndex::from_index(index),
                counter: copies.iter().fold(Counter::default(), |mut sum, c| {
                    sum.merge(c);
                    sum
                }),
            })
            .filter(|s| s.reason.is_some() || s.counter != Counter::default())
            .collect();
        Self {
            source,
            cpus,
            slots,
            ports: Vec::new(),
            interfaces: Vec::new(),
        }
    }

    /// The counter of `reason` (zero if the map had no such slot).
    pub fn get(&self, reason: StatIndex) -> Counter {
        self.slots
            .iter()
            .find(|s| s.reason == Some(reason))
            .map_or_else(Counter::default, |s| s.counter)
    }

    /// All packets and bytes seen.
    pub fn total(&self) -> Counter {
        self.sum(|_| true)
    }

    /// Packets and bytes that got `verdict`.
    pub fn verdict(&self, verdict: Verdict) -> Counter {
        self.sum(|s| s.reason.map(StatIndex::verdict) == Some(verdict))
    }

    fn sum(&self, keep: impl Fn(&SlotStats) -> bool) -> Counter {
        let mut total = Counter::default();
        self.slots
            .iter()
            .filter(|s| keep(s))
            .for_each(|s| total.merge(&s.counter));
        total
    }

    /// A human-readable table, one line per reason.
    pub fn to_table(&self) -> String {
        let mut out = format!(
            "XDP counters from {} ({} CPUs)\n",
            self.source.display(),
            self.cpus
        );
        let _ = writeln!(
            out,
            "{:<20} {:<8} {:>14} {:>16}",
            "reason", "verdict", "packets", "bytes"
        );
        let mut line = |name: &str, verdict: &str, c: Counter| {
            let _ = writeln!(
                out,
                "{name:<20} {verdict:<8} {:>14} {:>16}",
                c.packets, c.bytes
            );
        };
        for slot in &self.slots {
            let verdict = slot.reason.map_or("?", |r| r.verdict().name());
            line(&slot.name(), verdict, slot.counter);
        }
        line("total", "", self.total());
        self.interface_table(&mut out);
        if !self.ports.is_empty() {
            let _ = writeln!(
                out,
                "\n{:<6} {:<20} {:<8} {:>14} {:>16}",
                "port", "reason", "verdict", "packets", "bytes"
            );
            for (port, reason, c) in &self.ports {
                let _ = writeln!(
                    out,
                    "{port:<6} {:<20} {:<8} {:>14} {:>16}",
                    reason.name(),
                    reason.verdict().name(),
                    c.packets,
                    c.bytes
                );
            }
        }
        out
    }

    /// Per interface: a line per reason that counted something, and its total.
    fn interface_table(&self, out: &mut String) {
        // "other" only matters when it counted something.
        let shown: Vec<&InterfaceStats> = self
            .interfaces
            .iter()
            .filter(|i| i.ifindex != 0 || i.total() != Counter::default())
            .collect();
        if shown.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "\n{:<16} {:<20} {:<8} {:>14} {:>16}",
            "interface", "reason", "verdict", "packets", "bytes"
        );
        for iface in shown {
            let label = iface.label();
            for (reason, c) in iface.reasons.iter().filter(|(_, c)| c.packets != 0) {
                let _ = writeln!(
                    out,
                    "{label:<16} {:<20} {:<8} {:>14} {:>16}",
                    reason.name(),
                    reason.verdict().name(),
                    c.packets,
                    c.bytes
                );
            }
            let total = iface.total();
            let _ = writeln!(
                out,
                "{label:<16} {:<20} {:<8} {:>14} {:>16}",
                "total", "", total.packets, total.bytes
            );
        }
    }

    /// JSON: `{"source", "cpus", "reasons": {name: {verdict, packets, bytes}}, "verdicts",
    /// "total", "ports": {port: {reason: counter}}, "interfaces": {label: {"ifindex",
    /// "reasons": {reason: counter}, "total"}}}`; interface reasons list only non-zero ones.
    pub fn to_json(&self) -> Value {
        let counter = |c: Counter| json!({ "packets": c.packets, "bytes": c.bytes });
        let reasons: serde_json::Map<String, Value> = self
            .slots
            .iter()
            .map(|s| {
                let verdict = s.reason.map_or("unknown", |r| r.verdict().name());
                let mut v = counter(s.counter);
                v["verdict"] = json!(verdict);
                (s.name(), v)
            })
            .collect();
        let verdicts: serde_json::Map<String, Value> = [
            Verdict::Pass,
            Verdict::Drop,
            Verdict::Aborted,
            Verdict::Policy,
        ]
        .into_iter()
        .map(|v| (v.name().to_owned(), counter(self.verdict(v))))
        .collect();
        let mut ports = serde_json::Map::new();
        for (port, reason, c) in &self.ports {
            let entry = ports.entry(port.to_string()).or_insert_with(|| json!({}));
            entry[reason.name()] = counter(*c);
        }
        let mut interfaces = serde_json::Map::new();
        for iface in &self.interfaces {
            let reasons: serde_json::Map<String, Value> = iface
                .reasons
                .iter()
                .filter(|(_, c)| c.packets != 0)
                .map(|(r, c)| (r.name().to_owned(), counter(*c)))
                .collect();
            interfaces.insert(
                iface.label(),
                json!({
                    "ifindex": iface.ifindex,
                    "reasons": reasons,
                    "total": counter(iface.total()),
                }),
            );
        }
        json!({
            "source": self.source.display().to_string(),
            "cpus": self.cpus,
            "reasons": reasons,
            "verdicts": verdicts,
            "total": counter(self.total()),
            "ports": ports,
            "interfaces": interfaces,
        })
    }
}

/// Reads the counters pinned under `pin_dir` (works from any process with CAP_BPF).
pub fn read_stats(pin_dir: &Path) -> Result<XdpStats, EbpfError> {
    let pin = pin_dir.join(XDP_STATS_MAP);
    let array = open_pinned(&pin)?;
    let mut stats = collect(&array, pin)?;
    read_slots(&mut stats, pin_dir)?;
    Ok(stats)
}

/// Adds the per-port and per-interface counters under `pin_dir`; none when an older
/// program pinned no such maps.
pub(super) fn read_slots(stats: &mut XdpStats, pin_dir: &Path) -> Result<(), EbpfError> {
    if pin_dir.join(PORT_SLOTS_MAP).exists() {
        stats.ports = super::port_stats(pin_dir)?;
    }
    if pin_dir.join(IF_SLOTS_MAP).exists() {
        stats.interfaces = super::interface_stats(pin_dir)?;
    }
    Ok(())
}

/// Opens the pinned stats map, checking that its layout is this build's.
pub(super) fn open_pinned(pin: &Path) -> Result<PerCpuArray<MapData, Counter>, EbpfError> {
    let pinned = |source| EbpfError::Pinned {
        path: pin.to_path_buf(),
        source,
    };
    let data = MapData::from_pin(pin).map_err(pinned)?;
    let array: PerCpuArray<MapData, Counter> = Map::from_map_data(data)
        .and_then(PerCpuArray::try_from)
        .map_err(pinned)?;
    if array.len() != XDP_STATS_ENTRIES {
        return Err(EbpfError::PinnedSize {
            path: pin.to_path_buf(),
            found: array.len(),
            expected: XDP_STATS_ENTRIES,
        });
    }
    Ok(array)
}

/// The stats map of a loaded object, typed.
pub(super) fn as_stats_array(map: &Map) -> Result<PerCpuArray<&MapData, Counter>, EbpfError> {
    PerCpuArray::try_from(map).map_err(|source| EbpfError::Read {
        map: XDP_STATS_MAP,
        source,
    })
}

/// Reads every slot of `array`.
pub(super) fn collect<T: Borrow<MapData>>(
    array: &PerCpuArray<T, Counter>,
    source: PathBuf,
) -> Result<XdpStats, EbpfError> {
    let per_slot = array
        .iter()
        .map(|values| values.map(|v| v.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| EbpfError::Read {
            map: XDP_STATS_MAP,
            source,
        })?;
    Ok(XdpStats::from_per_cpu(source, &per_slot))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(packets: u64, bytes: u64) -> Counter {
        Counter { packets, bytes }
    }

    fn sample() -> XdpStats {
        let mut per_slot = vec![vec![Counter::default(); 2]; XDP_STATS_ENTRIES as usize];
        per_slot[StatIndex::PassIpv4 as usize] = vec![c(3, 300), c(4, 400)];
        per_slot[StatIndex::MalformedIpv6 as usize] = vec![c(0, 0), c(1, 54)];
        per_slot[StatIndex::Aborted as usize] = vec![c(2, 120), c(0, 0)];
        per_slot[40] = vec![c(1, 60), c(0, 0)];
        let mut stats =
            XdpStats::from_per_cpu(PathBuf::from("/sys/fs/bpf/lb/LB_XDP_STATS"), &per_slot);
        stats.ports = vec![
            (443, StatIndex::PassIpv4, c(5, 500)),
            (443, StatIndex::SynOverSource, c(2, 108)),
        ];
        let reasons = |pass: u64, deny: u64| {
            StatIndex::ALL
                .into_iter()
                .map(|r| match r {
                    StatIndex::PassIpv4 => (r, c(pass, pass * 100)),
                    StatIndex::DenyList => (r, c(deny, deny * 60)),
                    _ => (r, Counter::default()),
                })
                .collect()
        };
        stats.interfaces = vec![
            InterfaceStats {
                ifindex: 0,
                name: None,
                reasons: reasons(0, 0),
            },
            InterfaceStats {
                ifindex: 7,
                name: Some("eth0".into()),
                reasons: reasons(4, 3),
            },
            InterfaceStats {
                ifindex: 9,
                name: None,
                reasons: reasons(3, 0),
            },
        ];
        stats
    }

    #[test]
    fn per_cpu_copies_are_summed() {
        let stats = sample();
        assert_eq!(stats.cpus, 2);
        assert_eq!(stats.get(StatIndex::PassIpv4), c(7, 700));
        assert_eq!(stats.get(StatIndex::MalformedIpv6), c(1, 54));
        assert_eq!(stats.get(StatIndex::PassIpv6), Counter::default());
        // Known reasons always listed, unknown slots only when they counted something.
        assert_eq!(stats.slots.len(), StatIndex::ALL.len() + 1);
        assert_eq!(stats.total(), c(11, 934));
        assert_eq!(stats.verdict(Verdict::Pass), c(7, 700));
        assert_eq!(stats.verdict(Verdict::Policy), c(1, 54));
        assert_eq!(stats.verdict(Verdict::Aborted), c(2, 120));
        assert_eq!(stats.verdict(Verdict::Drop), Counter::default());
    }

    #[test]
    fn json_is_keyed_by_reason_and_verdict() {
        let json = sample().to_json();
        assert_eq!(json["cpus"], 2);
        assert_eq!(json["reasons"]["pass_ipv4"]["packets"], 7);
        assert_eq!(json["reasons"]["pass_ipv4"]["verdict"], "pass");
        assert_eq!(json["reasons"]["slot_40"]["verdict"], "unknown");
        assert_eq!(json["verdicts"]["aborted"]["bytes"], 120);
        assert_eq!(json["total"]["packets"], 11);
        assert_eq!(json["ports"]["443"]["syn_over_source"]["packets"], 2);
        assert_eq!(json["ports"]["443"]["pass_ipv4"]["bytes"], 500);
        let eth0 = &json["interfaces"]["eth0"];
        assert_eq!(eth0["ifindex"], 7);
        assert_eq!(eth0["reasons"]["deny_list"]["packets"], 3);
        assert_eq!(eth0["reasons"]["pass_ipv4"]["bytes"], 400);
        assert_eq!(eth0["total"]["packets"], 7);
        // Only reasons that counted; a gone interface by index; "other" always.
        assert!(eth0["reasons"].get("malformed_ipv4").is_none());
        assert_eq!(json["interfaces"]["ifindex 9"]["total"]["packets"], 3);
        assert_eq!(json["interfaces"]["other"]["total"]["packets"], 0);
    }

    #[test]
    fn table_has_a_line_per_reason_and_a_total() {
        let table = sample().to_table();
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].contains("/sys/fs/bpf/lb/LB_XDP_STATS (2 CPUs)"));
        assert!(lines[1].starts_with("reason") && lines[1].ends_with("bytes"));
        let ipv4 = lines.iter().find(|l| l.starts_with("pass_ipv4")).unwrap();
        assert_eq!(
            ipv4.split_whitespace().collect::<Vec<_>>(),
            ["pass_ipv4", "pass", "7", "700"]
        );
        let total = lines.iter().find(|l| l.starts_with("total")).unwrap();
        let total = total.split_whitespace().collect::<Vec<_>>();
        assert_eq!(total, ["total", "11", "934"]);
        let syn = lines
            .iter()
            .find(|l| l.starts_with("443 ") && l.contains("syn_over_source"))
            .unwrap();
        assert_eq!(
            syn.split_whitespace().collect::<Vec<_>>(),
            ["443", "syn_over_source", "drop", "2", "108"]
        );
        let eth0: Vec<Vec<&str>> = lines
            .iter()
            .filter(|l| l.starts_with("eth0 "))
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            eth0,
            [
                vec!["eth0", "pass_ipv4", "pass", "4", "400"],
                vec!["eth0", "deny_list", "drop", "3", "180"],
                vec!["eth0", "total", "7", "580"],
            ]
        );
        assert!(lines.iter().any(|l| l.starts_with("ifindex 9 ")));
        // "other" counted nothing: no line.
        assert!(!lines.iter().any(|l| l.starts_with("other ")));
    }
}
