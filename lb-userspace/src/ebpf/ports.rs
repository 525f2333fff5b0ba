//! Protected ports: their policy in a port-indexed array, and their counters in per-CPU
//! slots that user space hands out (the program reads the slot from the port's policy).

use std::collections::BTreeMap;

use aya::maps::{Array, MapData, PerCpuArray, PerCpuValues};
use lb_common::{
    Counter, StatIndex,
    guard::{PORT_ENTRIES, PORT_SLOTS_MAP, PORT_STAT_SLOTS, PORT_STATS_MAP, PORTS_MAP, PortPolicy},
    stats::SLOT_REASONS,
};

use super::{EbpfError, guard::typed};

fn write(map: &'static str) -> impl Fn(aya::maps::MapError) -> EbpfError {
    move |source| EbpfError::Write { map, source }
}

fn read(map: &'static str) -> impl Fn(aya::maps::MapError) -> EbpfError {
    move |source| EbpfError::Read { map, source }
}

/// Every port whose policy is set (non-zero flags), with its policy.
fn current(ports: &Array<MapData, PortPolicy>) -> Result<BTreeMap<u16, PortPolicy>, EbpfError> {
    let mut out = BTreeMap::new();
    for (port, policy) in (0..=u16::MAX).zip(ports.iter()) {
        let policy = policy.map_err(read(PORTS_MAP))?;
        if policy.flags != 0 {
            out.insert(port, policy);
        }
    }
    Ok(out)
}

/// Replaces the set of protected ports with `ports` (port, [`super::PORT_TCP_SANITY`] |
/// [`super::PORT_SYN_GUARD`]; flags 0 leave a port unprotected).
///
/// A port that stays protected keeps its counters; a new one gets a free counter slot
/// (zeroed), or none when all [`PORT_STAT_SLOTS`] are taken (then it counts in the totals
/// only).
pub fn set_protected_ports(
    pin_dir: &std::path::Path,
    ports: &[(u16, u32)],
) -> Result<(), EbpfError> {
    let mut policies: Array<MapData, PortPolicy> = typed(pin_dir, PORTS_MAP, Array::try_from)?;
    let mut owners: Array<MapData, u32> = typed(pin_dir, PORT_SLOTS_MAP, Array::try_from)?;
    let mut stats: PerCpuArray<MapData, Counter> =
        typed(pin_dir, PORT_STATS_MAP, PerCpuArray::try_from)?;
    let wanted: BTreeMap<u16, u32> = ports.iter().copied().filter(|(_, f)| *f != 0).collect();
    let before = current(&policies)?;
    let mut owner_of: Vec<u32> = owners
        .iter()
        .collect::<Result<_, _>>()
        .map_err(read(PORT_SLOTS_MAP))?;
    // Ports leaving the set: unprotected first, then their slots freed.
    for (port, policy) in &before {
        if wanted.contains_key(port) {
            continue;
        }
        policies
            .set(u32::from(*port), PortPolicy::default(), 0)
            .map_err(write(PORTS_MAP))?;
        let slot = policy.slot as usize;
        if owner_of.get(slot) == Some(&(u32::from(*port) + 1)) {
            owners
                .set(policy.slot, 0, 0)
                .map_err(write(PORT_SLOTS_MAP))?;
            owner_of[slot] = 0;
        }
    }
    for (port, flags) in wanted {
        let owner = u32::from(port) + 1;
        let kept = before
            .get(&port)
            .map(|p| p.slot)
            .filter(|s| *s != 0 && owner_of.get(*s as usize) == Some(&owner));
        let slot = match kept {
            Some(slot) => slot,
            None => match (1..PORT_STAT_SLOTS).find(|s| owner_of[*s as usize] == 0) {
                Some(slot) => {
                    zero_slot(&mut stats, slot)?;
                    owners.set(slot, owner, 0).map_err(write(PORT_SLOTS_MAP))?;
                    owner_of[slot as usize] = owner;
                    slot
                }
                None => 0,
            },
        };
        policies
            .set(u32::from(port), PortPolicy { flags, slot }, 0)
            .map_err(write(PORTS_MAP))?;
    }
    Ok(())
}

/// Zeroes the counters of a slot about to belong to another port.
fn zero_slot(stats: &mut PerCpuArray<MapData, Counter>, slot: u32) -> Result<(), EbpfError> {
    let cpus = aya::util::nr_cpus().map_err(|(_, e)| EbpfError::PinDir {
        path: "/sys/devices/system/cpu/possible".into(),
        source: e,
    })?;
    for reason in 0..SLOT_REASONS {
        let zeros = PerCpuValues::try_from(vec![Counter::default(); cpus]).map_err(|e| {
            EbpfError::PinDir {
                path: "/sys/devices/system/cpu/possible".into(),
                source: e,
            }
        })?;
        stats
            .set(slot * SLOT_REASONS + reason, zeros, 0)
            .map_err(write(PORT_STATS_MAP))?;
    }
    Ok(())
}

/// The protected ports and their flags, by port.
pub fn protected_ports(pin_dir: &std::path::Path) -> Result<Vec<(u16, u32)>, EbpfError> {
    let policies: Array<MapData, PortPolicy> = typed(pin_dir, PORTS_MAP, Array::try_from)?;
    Ok(current(&policies)?
        .into_iter()
        .map(|(port, p)| (port, p.flags))
        .collect())
}

/// Counters per protected port and reason (only those that counted something), summed
/// over CPUs, sorted by port then reason.
pub fn port_stats(pin_dir: &std::path::Path) -> Result<Vec<(u16, StatIndex, Counter)>, EbpfError> {
    let owners: Array<MapData, u32> = typed(pin_dir, PORT_SLOTS_MAP, Array::try_from)?;
    let stats: PerCpuArray<MapData, Counter> =
        typed(pin_dir, PORT_STATS_MAP, PerCpuArray::try_from)?;
    let mut out = Vec::new();
    for (slot, owner) in (0u32..).zip(owners.iter()) {
        let owner = owner.map_err(read(PORT_SLOTS_MAP))?;
        let Some(port) = owner.checked_sub(1).and_then(|p| u16::try_from(p).ok()) else {
            continue;
        };
        for reason in StatIndex::ALL {
            let per_cpu = stats
                .get(&(slot * SLOT_REASONS + reason.index()), 0)
                .map_err(read(PORT_STATS_MAP))?;
            let sum = per_cpu.iter().fold(Counter::default(), |mut s, c| {
                s.merge(c);
                s
            });
            if sum != Counter::default() {
                out.push((port, reason, sum));
            }
        }
    }
    out.sort_unstable_by_key(|(port, reason, _)| (*port, reason.index()));
    Ok(out)
}

// The policy array covers every port.
const _: () = assert!(PORT_ENTRIES == 1 << 16);
