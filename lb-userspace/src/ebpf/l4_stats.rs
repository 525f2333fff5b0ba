//! Counters of the L4 fast path per service and per server, read from the pinned maps (so
//! `lb xdp stats` in another process sees them too), as a table or JSON.

use std::{fmt::Write as _, path::Path};

use aya::maps::{Array, Map, MapData, PerCpuArray};
use lb_common::l4::{
    L4_MAX_REALS, L4_MAX_SERVICES, L4_NAMES_MAP, L4_REAL_STATS_MAP, L4_SERVICE_STATS_MAP,
    L4Counter, L4Name,
};
use serde_json::{Value, json};

use super::EbpfError;

/// Counters of one service and its servers, summed over CPUs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L4ServiceStats {
    /// The proxy's name.
    pub name: String,
    /// The service's counter (dropped: no server up, or rewrite failed).
    pub counter: L4Counter,
    /// `(server name, counter)`, in config order.
    pub servers: Vec<(String, L4Counter)>,
}

/// A snapshot of the fast path's counters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct L4Stats {
    /// Services, in config order.
    pub services: Vec<L4ServiceStats>,
}

impl L4Stats {
    /// The service called `name`.
    pub fn service(&self, name: &str) -> Option<&L4ServiceStats> {
        self.services.iter().find(|s| s.name == name)
    }

    /// A table: one line per service, then one per server.
    pub fn to_table(&self) -> String {
        let mut out = String::from("\nXDP L4 fast path\n");
        let _ = writeln!(
            out,
            "{:<32} {:>12} {:>14} {:>10} {:>10}",
            "service/server", "packets", "bytes", "new_flows", "dropped"
        );
        let mut line = |name: &str, c: &L4Counter| {
            let _ = writeln!(
                out,
                "{name:<32} {:>12} {:>14} {:>10} {:>10}",
                c.packets, c.bytes, c.new_flows, c.dropped
            );
        };
        for s in &self.services {
            line(&s.name, &s.counter);
            for (name, c) in &s.servers {
                line(&format!("  {}/{name}", s.name), c);
            }
        }
        out
    }

    /// JSON: `{service: {packets, bytes, new_flows, dropped, servers: {name: {...}}}}`.
    pub fn to_json(&self) -> Value {
        let counter = |c: &L4Counter| json!({ "packets": c.packets, "bytes": c.bytes, "new_flows": c.new_flows, "dropped": c.dropped });
        let services: serde_json::Map<String, Value> = self
            .services
            .iter()
            .map(|s| {
                let mut v = counter(&s.counter);
                let servers: serde_json::Map<String, Value> = s
                    .servers
                    .iter()
                    .map(|(n, c)| (n.clone(), counter(c)))
                    .collect();
                v["servers"] = Value::Object(servers);
                (s.name.clone(), v)
            })
            .collect();
        Value::Object(services)
    }
}

/// Reads the counters pinned under `pin_dir`.
pub fn read_l4_stats(pin_dir: &Path) -> Result<L4Stats, EbpfError> {
    let names: Array<MapData, L4Name> = open(pin_dir, L4_NAMES_MAP, Array::try_from)?;
    let services: PerCpuArray<MapData, L4Counter> =
        open(pin_dir, L4_SERVICE_STATS_MAP, PerCpuArray::try_from)?;
    let reals: PerCpuArray<MapData, L4Counter> =
        open(pin_dir, L4_REAL_STATS_MAP, PerCpuArray::try_from)?;
    let sum = |array: &PerCpuArray<MapData, L4Counter>, map, i: u32| {
        array
            .get(&i, 0)
            .map(|values| {
                values.iter().fold(L4Counter::default(), |mut s, c| {
                    s.merge(c);
                    s
                })
            })
            .map_err(|source| EbpfError::Read { map, source })
    };
    let name_at = |i: u32| -> Result<Option<(u32, String)>, EbpfError> {
        let n = names.get(&i, 0).map_err(|source| EbpfError::Read {
            map: L4_NAMES_MAP,
            source,
        })?;
        let len = (n.len as usize).min(n.name.len());
        Ok((n.len > 0).then(|| {
            (
                n.service,
                String::from_utf8_lossy(&n.name[..len]).into_owned(),
            )
        }))
    };
    let mut stats = L4Stats::default();
    for i in 0..L4_MAX_SERVICES {
        if let Some((_, name)) = name_at(i)? {
            stats.services.push(L4ServiceStats {
                name,
                counter: sum(&services, L4_SERVICE_STATS_MAP, i)?,
                servers: Vec::new(),
            });
        }
    }
    for r in 0..L4_MAX_REALS {
        let Some((service, name)) = name_at(L4_MAX_SERVICES + r)? else {
            break;
        };
        let counter = sum(&reals, L4_REAL_STATS_MAP, r)?;
        if let Some(s) = stats.services.get_mut(service.wrapping_sub(1) as usize) {
            s.servers.push((name, counter));
        }
    }
    Ok(stats)
}

/// The L4 section of `lb xdp stats`: empty when no fast path pinned its maps there.
pub fn stats_section(pin_dir: &Path, json: Option<&mut Value>) -> String {
    if !pin_dir.join(L4_NAMES_MAP).exists() {
        return String::new();
    }
    match read_l4_stats(pin_dir) {
        Ok(stats) => match json {
            Some(v) => {
                v["l4"] = stats.to_json();
                String::new()
            }
            None => stats.to_table(),
        },
        Err(e) => format!("XDP L4 fast path: {e}\n"),
    }
}

fn open<T>(
    pin_dir: &Path,
    name: &'static str,
    convert: impl FnOnce(Map) -> Result<T, aya::maps::MapError>,
) -> Result<T, EbpfError> {
    let pin = pin_dir.join(name);
    let pinned = |source| EbpfError::Pinned {
        path: pin.clone(),
        source,
    };
    let data = MapData::from_pin(&pin).map_err(pinned)?;
    let map = Map::from_map_data(data).map_err(pinned)?;
    convert(map).map_err(pinned)
}

/// Empties the connection table pinned under `pin_dir`: every flow picks its server from
/// the current ring on its next packet. Returns how many flows were removed.
pub fn flush_flows(pin_dir: &Path) -> Result<usize, EbpfError> {
    use aya::maps::HashMap;
    use lb_common::l4::{FlowKey, FlowValue, L4_FLOWS_MAP};
    let mut flows: HashMap<MapData, FlowKey, FlowValue> =
        open(pin_dir, L4_FLOWS_MAP, HashMap::try_from)?;
    let keys: Vec<FlowKey> = flows.keys().filter_map(Result::ok).collect();
    let mut removed = 0;
    for key in &keys {
        if flows.remove(key).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}
