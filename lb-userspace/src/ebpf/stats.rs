//! Reading the XDP counters (from the live program or its pinned map) and rendering them.

use std::{
    borrow::Borrow,
    fmt::Write as _,
    path::{Path, PathBuf},
};

use aya::maps::{Map, MapData, PerCpuArray};
use lb_common::{
    Counter, StatIndex, Verdict,
    stats::{XDP_STATS_ENTRIES, XDP_STATS_MAP},
};
use serde_json::{Value, json};

use super::EbpfError;

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
        out
    }

    /// JSON: `{"source", "cpus", "reasons": {name: {verdict, packets, bytes}}, "verdicts": {...}, "total"}`.
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
        let verdicts: serde_json::Map<String, Value> =
            [Verdict::Pass, Verdict::Drop, Verdict::Aborted]
                .into_iter()
                .map(|v| (v.name().to_owned(), counter(self.verdict(v))))
                .collect();
        json!({
            "source": self.source.display().to_string(),
            "cpus": self.cpus,
            "reasons": reasons,
            "verdicts": verdicts,
            "total": counter(self.total()),
        })
    }
}

/// Reads the counters pinned under `pin_dir` (works from any process with CAP_BPF).
pub fn read_stats(pin_dir: &Path) -> Result<XdpStats, EbpfError> {
    let pin = pin_dir.join(XDP_STATS_MAP);
    let array = open_pinned(&pin)?;
    collect(&array, pin)
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
