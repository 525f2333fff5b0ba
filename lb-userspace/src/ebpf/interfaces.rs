//! Per-interface counters: each interface the program is attached to gets a slot of
//! [`SLOT_REASONS`] per-CPU counters; the program finds the slot through an array indexed by
//! the ingress ifindex. Slot 0 counts every other interface (and test runs).

use std::{ffi::CString, path::Path};

use aya::maps::{Array, MapData, PerCpuArray, PerCpuValues};
use lb_common::{
    Counter, StatIndex,
    stats::{
        IF_SLOTS, IF_SLOTS_MAP, IF_STATS_MAP, IFINDEX_ENTRIES, IFINDEX_MAP, IfSlot, SLOT_REASONS,
    },
};

use super::{EbpfError, guard::typed};

/// The counters of one interface slot, summed over CPUs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceStats {
    /// The interface's index; 0 for slot 0 (interfaces without a slot of their own).
    pub ifindex: u32,
    /// Its name when it was registered (`None` for slot 0).
    pub name: Option<String>,
    /// Counters by reason (every known reason, zeros included).
    pub reasons: Vec<(StatIndex, Counter)>,
}

impl InterfaceStats {
    /// The label of tables and JSON keys: the name, `ifindex N` without one, or `other`.
    pub fn label(&self) -> String {
        match (&self.name, self.ifindex) {
            (Some(name), _) => name.clone(),
            (None, 0) => "other".to_owned(),
            (None, index) => format!("ifindex {index}"),
        }
    }

    /// All packets and bytes counted for this slot.
    pub fn total(&self) -> Counter {
        self.reasons
            .iter()
            .fold(Counter::default(), |mut s, (_, c)| {
                s.merge(c);
                s
            })
    }
}

fn write(map: &'static str) -> impl Fn(aya::maps::MapError) -> EbpfError {
    move |source| EbpfError::Write { map, source }
}

fn read(map: &'static str) -> impl Fn(aya::maps::MapError) -> EbpfError {
    move |source| EbpfError::Read { map, source }
}

/// The index of interface `name`, `None` if there is none.
pub fn ifindex(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    #[allow(unsafe_code, reason = "if_nametoindex has no std equivalent")]
    // SAFETY: `name` is a valid NUL-terminated string for the duration of the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

/// The current name of interface `index`, `None` if there is none.
pub fn ifname(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    #[allow(unsafe_code, reason = "if_indextoname has no std equivalent")]
    // SAFETY: `buf` holds IF_NAMESIZE bytes, as if_indextoname requires.
    let ptr = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if ptr.is_null() {
        return None;
    }
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| c.to_ne_bytes()[0])
        .collect();
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// Gives each of `interfaces` its own counter slot (keeping the slot it already has, so
/// counters survive a restart); returns the slot of each, 0 when none was left or the
/// interface does not exist (it then counts under "other").
///
/// A slot is free when no interface has its ifindex any more; reusing it zeroes it.
pub fn register(pin_dir: &Path, interfaces: &[&str]) -> Result<Vec<u32>, EbpfError> {
    let mut by_index: Array<MapData, u32> = typed(pin_dir, IFINDEX_MAP, Array::try_from)?;
    let mut owners: Array<MapData, IfSlot> = typed(pin_dir, IF_SLOTS_MAP, Array::try_from)?;
    let mut stats: PerCpuArray<MapData, Counter> =
        typed(pin_dir, IF_STATS_MAP, PerCpuArray::try_from)?;
    let mut owner_of: Vec<IfSlot> = owners
        .iter()
        .collect::<Result<_, _>>()
        .map_err(read(IF_SLOTS_MAP))?;
    let mut slots = Vec::with_capacity(interfaces.len());
    for name in interfaces {
        let Some(index) = ifindex(name).filter(|i| *i < IFINDEX_ENTRIES) else {
            slots.push(0);
            continue;
        };
        let owner = IfSlot {
            ifindex: index,
            name: name_bytes(name),
        };
        let current = by_index.get(&index, 0).map_err(read(IFINDEX_MAP))?;
        if current != 0 && owner_of.get(current as usize) == Some(&owner) {
            slots.push(current);
            continue;
        }
        // Free: never used, or its interface is gone (no such index, or another name now).
        let free = (1..IF_SLOTS).find(|s| {
            let o = owner_of[*s as usize];
            o.ifindex == 0 || ifname(o.ifindex).map(|n| name_bytes(&n)) != Some(o.name)
        });
        let Some(slot) = free else {
            slots.push(0);
            continue;
        };
        let stale = owner_of[slot as usize].ifindex;
        if stale != 0 && by_index.get(&stale, 0).map_err(read(IFINDEX_MAP))? == slot {
            by_index.set(stale, 0, 0).map_err(write(IFINDEX_MAP))?;
        }
        zero_slot(&mut stats, slot)?;
        owners.set(slot, owner, 0).map_err(write(IF_SLOTS_MAP))?;
        owner_of[slot as usize] = owner;
        // Last: the program counts under the slot only once it is clean and owned.
        by_index.set(index, slot, 0).map_err(write(IFINDEX_MAP))?;
        slots.push(slot);
    }
    Ok(slots)
}

/// `name` as the NUL-padded bytes of [`IfSlot::name`] (cut at 15 bytes, as the kernel's).
fn name_bytes(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, b) in out.iter_mut().zip(name.bytes().take(15)) {
        *o = b;
    }
    out
}

fn zero_slot(stats: &mut PerCpuArray<MapData, Counter>, slot: u32) -> Result<(), EbpfError> {
    let cpus_error = |source| EbpfError::PinDir {
        path: "/sys/devices/system/cpu/possible".into(),
        source,
    };
    let cpus = aya::util::nr_cpus().map_err(|(_, e)| cpus_error(e))?;
    for reason in 0..SLOT_REASONS {
        let zeros = PerCpuValues::try_from(vec![Counter::default(); cpus]).map_err(cpus_error)?;
        stats
            .set(slot * SLOT_REASONS + reason, zeros, 0)
            .map_err(write(IF_STATS_MAP))?;
    }
    Ok(())
}

/// The counters of slot 0 ("other") and of every owned slot, summed over CPUs.
pub fn interface_stats(pin_dir: &Path) -> Result<Vec<InterfaceStats>, EbpfError> {
    let owners: Array<MapData, IfSlot> = typed(pin_dir, IF_SLOTS_MAP, Array::try_from)?;
    let stats: PerCpuArray<MapData, Counter> = typed(pin_dir, IF_STATS_MAP, PerCpuArray::try_from)?;
    let mut out = Vec::new();
    for (slot, owner) in (0u32..).zip(owners.iter()) {
        let owner = owner.map_err(read(IF_SLOTS_MAP))?;
        if slot != 0 && owner.ifindex == 0 {
            continue;
        }
        let mut reasons = Vec::with_capacity(StatIndex::ALL.len());
        for reason in StatIndex::ALL {
            let per_cpu = stats
                .get(&(slot * SLOT_REASONS + reason.index()), 0)
                .map_err(read(IF_STATS_MAP))?;
            let sum = per_cpu.iter().fold(Counter::default(), |mut s, c| {
                s.merge(c);
                s
            });
            reasons.push((reason, sum));
        }
        let ifindex = if slot == 0 { 0 } else { owner.ifindex };
        let len = owner.name.iter().position(|b| *b == 0).unwrap_or(16);
        let name = String::from_utf8_lossy(&owner.name[..len]).into_owned();
        out.push(InterfaceStats {
            ifindex,
            name: (ifindex != 0 && !name.is_empty()).then_some(name),
            reasons,
        });
    }
    Ok(out)
}
