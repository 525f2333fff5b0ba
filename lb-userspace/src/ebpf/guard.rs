//! Configuring the XDP guard through its pinned maps: malformed-frame and fragment policy,
//! SYN budgets, protected ports; reading the per-port counters.

use std::{io, path::Path};

use aya::maps::{Array, Map, MapData, MapError};
use lb_common::{
    Counter,
    guard::{
        ALLOW4_MAP, ALLOW6_MAP, CIDR_HITS_MAP, CONFIG_MAP, CidrEntry, CidrHitKey, DENY4_MAP,
        DENY6_MAP, GuardConfig, Ipv4Prefix, MALFORMED_DROP, MALFORMED_PASS, PORT_SLOTS_MAP,
        PORT_STATS_MAP, PORTS_MAP, PortPolicy, SYN_GLOBAL_MAP, SYN_SOURCE_MAP, SourceKey,
        TokenBucket,
    },
    stats::{IF_SLOTS_MAP, IF_STATS_MAP, IFINDEX_MAP},
};

use super::EbpfError;

pub use super::ports::{port_stats, protected_ports, set_protected_ports};
pub use lb_common::guard::{PORT_SYN_GUARD, PORT_TCP_SANITY};

/// A token-bucket budget: `rate` per second, bursts of up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Tokens added per second.
    pub rate: u64,
    /// Bucket size (at least 1).
    pub burst: u64,
}

/// The guard's settings, as the config (or a test) gives them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuardSettings {
    /// Drop malformed frames in XDP instead of passing them to the kernel.
    pub drop_malformed: bool,
    /// Drop TCP fragments: first fragments to protected ports, and all later TCP fragments
    /// (they carry no port).
    pub drop_fragments: bool,
    /// SYNs per source (IPv4 /32, IPv6 /64) to protected ports; `None`: unlimited.
    pub syn_per_source: Option<Budget>,
    /// SYNs to protected ports for the whole host; `None`: unlimited.
    ///
    /// Enforced as one bucket per CPU with `1/ncpus` of the rate and burst (rounded up), so
    /// no CPU contends on a shared bucket; with traffic spread by RSS the host accepts about
    /// the configured rate, and at most `ncpus` times less when one CPU gets all SYNs.
    pub syn_global: Option<Budget>,
}

impl GuardSettings {
    /// The map value for a host with `cpus` CPUs.
    pub fn to_config(&self, cpus: usize) -> GuardConfig {
        let cpus = u64::try_from(cpus.max(1)).unwrap_or(1);
        let (src_rate, src_burst) = self
            .syn_per_source
            .map_or((0, 0), |b| (b.rate, b.burst.max(1)));
        let (cpu_rate, cpu_burst) = self.syn_global.map_or((0, 0), |b| {
            (b.rate.div_ceil(cpus), b.burst.max(1).div_ceil(cpus))
        });
        GuardConfig {
            malformed: if self.drop_malformed {
                MALFORMED_DROP
            } else {
                MALFORMED_PASS
            },
            drop_fragments: u32::from(self.drop_fragments),
            syn_source_rate: src_rate,
            syn_source_burst: src_burst,
            syn_cpu_rate: cpu_rate,
            syn_cpu_burst: cpu_burst,
            reserved: [0; 4],
        }
    }
}

/// Writes `settings` into the config map pinned under `pin_dir`; applies to the next packet.
pub fn set_settings(pin_dir: &Path, settings: &GuardSettings) -> Result<(), EbpfError> {
    let cpus = aya::util::nr_cpus().map_err(|(_, e)| EbpfError::PinDir {
        path: "/sys/devices/system/cpu/possible".into(),
        source: e,
    })?;
    let mut array: Array<MapData, GuardConfig> = typed(pin_dir, CONFIG_MAP, Array::try_from)?;
    array
        .set(0, settings.to_config(cpus), 0)
        .map_err(|source| EbpfError::Write {
            map: CONFIG_MAP,
            source,
        })
}

/// The kernel's SYN-cookie mode (`net.ipv4.tcp_syncookies`, which covers IPv6 too).
///
/// The XDP budgets only cap how many SYNs reach the stack; SYN cookies keep a listener
/// answering when its queue still overflows, so `lb` should warn unless this is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynCookies {
    /// 0: never; a flood that gets through fills the SYN queue.
    Off,
    /// 1 (the kernel default): only when a listen queue overflows.
    OnOverflow,
    /// 2: always, even without pressure (disables some TCP options negotiation).
    Always,
}

/// Where the kernel exposes [`SynCookies`].
pub const SYNCOOKIES_SYSCTL: &str = "/proc/sys/net/ipv4/tcp_syncookies";

impl SynCookies {
    /// Parses the sysctl's content.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim() {
            "0" => Some(Self::Off),
            "1" => Some(Self::OnOverflow),
            "2" => Some(Self::Always),
            _ => None,
        }
    }

    /// The current mode of this host's network namespace.
    pub fn current() -> io::Result<Self> {
        let value = std::fs::read_to_string(SYNCOOKIES_SYSCTL)?;
        Self::parse(&value).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{SYNCOOKIES_SYSCTL}: unexpected value {:?}", value.trim()),
            )
        })
    }
}

/// `bpf_ktime_get_ns`'s clock (CLOCK_MONOTONIC) in nanoseconds.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    #[allow(
        unsafe_code,
        reason = "clock_gettime has no std equivalent exposing the value"
    )]
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut ts) };
    if rc != 0 {
        return 0;
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

/// Opens the map pinned at `pin`.
pub(super) fn open_pinned(pin: &Path) -> Result<MapData, EbpfError> {
    MapData::from_pin(pin).map_err(|source| EbpfError::Pinned {
        path: pin.to_path_buf(),
        source,
    })
}

pub(super) fn typed<T>(
    pin_dir: &Path,
    name: &'static str,
    convert: impl FnOnce(Map) -> Result<T, MapError>,
) -> Result<T, EbpfError> {
    let pin = pin_dir.join(name);
    let data = open_pinned(&pin)?;
    convert(
        Map::from_map_data(data).map_err(|source| EbpfError::Pinned {
            path: pin.clone(),
            source,
        })?,
    )
    .map_err(|source| EbpfError::Pinned { path: pin, source })
}

/// Key and value sizes this build uses for each guard map.
fn layout(name: &str) -> Option<(usize, usize)> {
    let lpm4 = (4 + size_of::<Ipv4Prefix>(), size_of::<CidrEntry>());
    let lpm6 = (4 + 16, size_of::<CidrEntry>());
    Some(match name {
        CONFIG_MAP => (4, size_of::<GuardConfig>()),
        DENY4_MAP | ALLOW4_MAP => lpm4,
        DENY6_MAP | ALLOW6_MAP => lpm6,
        PORTS_MAP => (4, size_of::<PortPolicy>()),
        PORT_SLOTS_MAP | IFINDEX_MAP => (4, 4),
        IF_SLOTS_MAP => (4, size_of::<lb_common::stats::IfSlot>()),
        IF_STATS_MAP => (4, size_of::<Counter>()),
        SYN_SOURCE_MAP => (size_of::<SourceKey>(), size_of::<TokenBucket>()),
        SYN_GLOBAL_MAP => (4, size_of::<TokenBucket>()),
        PORT_STATS_MAP => (4, size_of::<Counter>()),
        CIDR_HITS_MAP => (size_of::<CidrHitKey>(), 8),
        _ => return None,
    })
}

/// Whether the map pinned at `pin` has the key and value sizes this build expects for `name`.
pub(super) fn check_pinned_layout(name: &str, pin: &Path) -> Result<(), String> {
    let info = open_pinned(pin)
        .and_then(|data| {
            data.info().map_err(|source| EbpfError::Pinned {
                path: pin.to_path_buf(),
                source,
            })
        })
        .map_err(|e| e.to_string())?;
    let found = (info.key_size() as usize, info.value_size() as usize);
    match layout(name) {
        Some(expected) if expected == found => Ok(()),
        Some(expected) => Err(format!(
            "key/value sizes {found:?}, this build uses {expected:?}"
        )),
        None => Err(io::Error::other("unknown map").to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syncookie_modes() {
        assert_eq!(SynCookies::parse("0\n"), Some(SynCookies::Off));
        assert_eq!(SynCookies::parse("1"), Some(SynCookies::OnOverflow));
        assert_eq!(SynCookies::parse("2\n"), Some(SynCookies::Always));
        assert_eq!(SynCookies::parse("3"), None);
        // The host's value is one of them.
        let raw = std::fs::read_to_string(SYNCOOKIES_SYSCTL).unwrap();
        assert_eq!(SynCookies::current().ok(), SynCookies::parse(&raw));
        assert!(SynCookies::current().is_ok());
    }

    #[test]
    fn global_budget_is_split_across_cpus() {
        let settings = GuardSettings {
            drop_malformed: true,
            drop_fragments: false,
            syn_per_source: Some(Budget { rate: 10, burst: 0 }),
            syn_global: Some(Budget {
                rate: 1000,
                burst: 10,
            }),
        };
        let c = settings.to_config(3);
        assert_eq!(c.malformed, MALFORMED_DROP);
        assert_eq!(c.drop_fragments, 0);
        assert_eq!((c.syn_source_rate, c.syn_source_burst), (10, 1));
        assert_eq!((c.syn_cpu_rate, c.syn_cpu_burst), (334, 4));
        assert_eq!(
            GuardSettings::default().to_config(4),
            GuardConfig::default()
        );
    }
}
