//! The deny and allow lists: CIDR entries with an optional time to live and a hit counter.
//!
//! Entries live in pinned LPM tries, so any `lb` process (the running one, `lb xdp deny`)
//! edits them through the pin directory. Expired entries are ignored by the program at once
//! and removed by [`CidrLists::purge_expired`].

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::Path,
    str::FromStr,
    time::Duration,
};

use aya::maps::{
    Map, MapData, MapError, PerCpuHashMap,
    lpm_trie::{Key, LpmTrie},
};
use lb_common::guard::{CIDR_HITS_MAP, CidrEntry, CidrHitKey, CidrList, Ipv4Prefix};

use super::{EbpfError, guard::monotonic_ns, guard::open_pinned};

/// An address prefix, host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix_len: u8,
}

impl Cidr {
    /// The prefix `addr/prefix_len` (host bits cleared), `None` if the length is too long.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Option<Self> {
        let addr = match addr {
            IpAddr::V4(a) if prefix_len <= 32 => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(prefix_len))
                    .unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) if prefix_len <= 128 => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(prefix_len))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
            _ => return None,
        };
        Some(Self { addr, prefix_len })
    }

    /// The network address.
    pub const fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub const fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    fn list(&self, kind: ListKind) -> CidrList {
        match (kind, self.addr) {
            (ListKind::Deny, IpAddr::V4(_)) => CidrList::Deny4,
            (ListKind::Deny, IpAddr::V6(_)) => CidrList::Deny6,
            (ListKind::Allow, IpAddr::V4(_)) => CidrList::Allow4,
            (ListKind::Allow, IpAddr::V6(_)) => CidrList::Allow6,
        }
    }

    fn hit_key(&self, kind: ListKind) -> CidrHitKey {
        let mut addr = [0; 16];
        match self.addr {
            IpAddr::V4(a) => addr[..4].copy_from_slice(&a.octets()),
            IpAddr::V6(a) => addr = a.octets(),
        }
        CidrHitKey {
            list: self.list(kind) as u32,
            prefix_len: u32::from(self.prefix_len),
            addr,
        }
    }
}

impl FromStr for Cidr {
    type Err = EbpfError;

    /// `ADDRESS` (a host: /32 or /128) or `ADDRESS/PREFIX`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || EbpfError::InvalidCidr(s.to_owned());
        let (addr, len) = match s.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| invalid())?;
        let len = match len {
            Some(len) if !len.is_empty() && len.bytes().all(|b| b.is_ascii_digit()) => {
                len.parse().map_err(|_| invalid())?
            }
            Some(_) => return Err(invalid()),
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        Self::new(addr, len).ok_or_else(invalid)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// Which list an entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// Sources dropped in XDP.
    Deny,
    /// Sources passed without further checks.
    Allow,
}

impl ListKind {
    /// `deny` or `allow`, as in the config and the commands.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Deny => "deny",
            Self::Allow => "allow",
        }
    }
}

/// One entry of a list, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrStatus {
    /// The prefix.
    pub cidr: Cidr,
    /// Time left before the entry expires; `None`: never. Zero: expired, not yet purged.
    pub expires_in: Option<Duration>,
    /// Packets the entry matched, summed over CPUs.
    pub hits: u64,
}

/// The deny and allow lists pinned under one directory.
pub struct CidrLists {
    deny4: LpmTrie<MapData, Ipv4Prefix, CidrEntry>,
    deny6: LpmTrie<MapData, [u8; 16], CidrEntry>,
    allow4: LpmTrie<MapData, Ipv4Prefix, CidrEntry>,
    allow6: LpmTrie<MapData, [u8; 16], CidrEntry>,
    hits: PerCpuHashMap<MapData, CidrHitKey, u64>,
}

impl fmt::Debug for CidrLists {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CidrLists").finish_non_exhaustive()
    }
}

fn trie<K: aya::Pod>(
    pin_dir: &Path,
    list: CidrList,
) -> Result<LpmTrie<MapData, K, CidrEntry>, EbpfError> {
    let pin = pin_dir.join(list.map());
    let data = open_pinned(&pin)?;
    Map::from_map_data(data)
        .and_then(LpmTrie::try_from)
        .map_err(|source| EbpfError::Pinned { path: pin, source })
}

impl CidrLists {
    /// Opens the lists pinned under `pin_dir` by a loaded program.
    pub fn open(pin_dir: &Path) -> Result<Self, EbpfError> {
        let hits_pin = pin_dir.join(CIDR_HITS_MAP);
        let hits = Map::from_map_data(open_pinned(&hits_pin)?)
            .and_then(PerCpuHashMap::try_from)
            .map_err(|source| EbpfError::Pinned {
                path: hits_pin,
                source,
            })?;
        Ok(Self {
            deny4: trie(pin_dir, CidrList::Deny4)?,
            deny6: trie(pin_dir, CidrList::Deny6)?,
            allow4: trie(pin_dir, CidrList::Allow4)?,
            allow6: trie(pin_dir, CidrList::Allow6)?,
            hits,
        })
    }

    /// Adds (or replaces) `cidr` in `kind`, for `ttl` or forever; its hit count restarts at 0.
    pub fn add(
        &mut self,
        kind: ListKind,
        cidr: Cidr,
        ttl: Option<Duration>,
    ) -> Result<(), EbpfError> {
        let expires_ns = match ttl {
            // Zero would mean "never": an immediate expiry is one nanosecond from now.
            Some(ttl) => monotonic_ns()
                .saturating_add(u64::try_from(ttl.as_nanos()).unwrap_or(u64::MAX))
                .max(1),
            None => 0,
        };
        let hit_key = cidr.hit_key(kind);
        let entry = CidrEntry {
            expires_ns,
            hit_key,
        };
        let map = cidr.list(kind).map();
        let write = |source| EbpfError::Write { map, source };
        match self.hits.remove(&hit_key) {
            Err(e) if !not_found(&e) => return Err(write(e)),
            _ => {}
        }
        let len = u32::from(cidr.prefix_len);
        match (kind, cidr.addr) {
            (ListKind::Deny, IpAddr::V4(a)) => self.deny4.insert(&key4(len, a), entry, 0),
            (ListKind::Allow, IpAddr::V4(a)) => self.allow4.insert(&key4(len, a), entry, 0),
            (ListKind::Deny, IpAddr::V6(a)) => {
                self.deny6.insert(&Key::new(len, a.octets()), entry, 0)
            }
            (ListKind::Allow, IpAddr::V6(a)) => {
                self.allow6.insert(&Key::new(len, a.octets()), entry, 0)
            }
        }
        .map_err(write)
    }

    /// The expiry of the entry `cidr` of `kind` if that exact prefix is listed: `Some(None)`
    /// for a never-expiring entry, `Some(Some(ns))` for one expiring at `ns`
    /// ([`monotonic_ns`] clock).
    pub fn expiry(&self, kind: ListKind, cidr: Cidr) -> Result<Option<Option<u64>>, EbpfError> {
        let len = u32::from(cidr.prefix_len);
        // An LPM lookup returns the longest listed prefix covering the key, maybe a
        // shorter one: the entry's own key in its value tells whether it is this one.
        let found = match (kind, cidr.addr) {
            (ListKind::Deny, IpAddr::V4(a)) => self.deny4.get(&key4(len, a), 0),
            (ListKind::Allow, IpAddr::V4(a)) => self.allow4.get(&key4(len, a), 0),
            (ListKind::Deny, IpAddr::V6(a)) => self.deny6.get(&Key::new(len, a.octets()), 0),
            (ListKind::Allow, IpAddr::V6(a)) => self.allow6.get(&Key::new(len, a.octets()), 0),
        };
        match found {
            Ok(entry) if entry.hit_key == cidr.hit_key(kind) => {
                Ok(Some((entry.expires_ns != 0).then_some(entry.expires_ns)))
            }
            Ok(_) => Ok(None),
            Err(e) if not_found(&e) => Ok(None),
            Err(source) => Err(EbpfError::Read {
                map: cidr.list(kind).map(),
                source,
            }),
        }
    }

    /// Removes `cidr` from `kind`; `false` if it was not there.
    pub fn delete(&mut self, kind: ListKind, cidr: Cidr) -> Result<bool, EbpfError> {
        let len = u32::from(cidr.prefix_len);
        let removed = match (kind, cidr.addr) {
            (ListKind::Deny, IpAddr::V4(a)) => self.deny4.remove(&key4(len, a)),
            (ListKind::Allow, IpAddr::V4(a)) => self.allow4.remove(&key4(len, a)),
            (ListKind::Deny, IpAddr::V6(a)) => self.deny6.remove(&Key::new(len, a.octets())),
            (ListKind::Allow, IpAddr::V6(a)) => self.allow6.remove(&Key::new(len, a.octets())),
        };
        let map = cidr.list(kind).map();
        let found = match removed {
            Ok(()) => true,
            Err(e) if not_found(&e) => false,
            Err(source) => return Err(EbpfError::Write { map, source }),
        };
        match self.hits.remove(&cidr.hit_key(kind)) {
            Err(source) if !not_found(&source) => Err(EbpfError::Write {
                map: CIDR_HITS_MAP,
                source,
            }),
            _ => Ok(found),
        }
    }

    /// Every entry of `kind`, IPv4 first, with its time left and hits.
    pub fn list(&self, kind: ListKind) -> Result<Vec<CidrStatus>, EbpfError> {
        let now = monotonic_ns();
        let (v4, v6) = match kind {
            ListKind::Deny => (&self.deny4, &self.deny6),
            ListKind::Allow => (&self.allow4, &self.allow6),
        };
        let mut out = Vec::new();
        let read = |map: CidrList| {
            move |source| EbpfError::Read {
                map: map.map(),
                source,
            }
        };
        let list4 = if kind == ListKind::Deny {
            CidrList::Deny4
        } else {
            CidrList::Allow4
        };
        let list6 = if kind == ListKind::Deny {
            CidrList::Deny6
        } else {
            CidrList::Allow6
        };
        for item in v4.iter() {
            let (key, entry) = item.map_err(read(list4))?;
            let addr = IpAddr::V4(Ipv4Addr::from(key.data().addr));
            out.push(self.status(addr, key.prefix_len(), &entry, now)?);
        }
        for item in v6.iter() {
            let (key, entry) = item.map_err(read(list6))?;
            let addr = IpAddr::V6(Ipv6Addr::from(key.data()));
            out.push(self.status(addr, key.prefix_len(), &entry, now)?);
        }
        Ok(out)
    }

    fn status(
        &self,
        addr: IpAddr,
        prefix_len: u32,
        entry: &CidrEntry,
        now: u64,
    ) -> Result<CidrStatus, EbpfError> {
        let cidr = u8::try_from(prefix_len)
            .ok()
            .and_then(|len| Cidr::new(addr, len))
            .ok_or_else(|| EbpfError::InvalidCidr(format!("{addr}/{prefix_len}")))?;
        let expires_in = (entry.expires_ns != 0)
            .then(|| Duration::from_nanos(entry.expires_ns.saturating_sub(now)));
        let hits = match self.hits.get(&entry.hit_key, 0) {
            Ok(per_cpu) => per_cpu.iter().fold(0u64, |sum, h| sum.wrapping_add(*h)),
            Err(e) if not_found(&e) => 0,
            Err(source) => {
                return Err(EbpfError::Read {
                    map: CIDR_HITS_MAP,
                    source,
                });
            }
        };
        Ok(CidrStatus {
            cidr,
            expires_in,
            hits,
        })
    }

    /// Deletes the expired entries of both lists; returns how many went.
    pub fn purge_expired(&mut self) -> Result<usize, EbpfError> {
        let mut purged = 0;
        for kind in [ListKind::Deny, ListKind::Allow] {
            for status in self.list(kind)? {
                if status.expires_in == Some(Duration::ZERO) && self.delete(kind, status.cidr)? {
                    purged += 1;
                }
            }
        }
        Ok(purged)
    }
}

/// aya reports a missing key as `KeyNotFound` on lookups but as ENOENT from the syscall on
/// deletes.
pub(super) fn not_found(e: &MapError) -> bool {
    match e {
        MapError::KeyNotFound => true,
        MapError::SyscallError(s) => s.io_error.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    }
}

fn key4(prefix_len: u32, addr: Ipv4Addr) -> Key<Ipv4Prefix> {
    Key::new(
        prefix_len,
        Ipv4Prefix {
            addr: addr.octets(),
            pad: [0; 4],
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parsing_clears_host_bits() {
        let c: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/8");
        let c: Cidr = "2001:db8::1/32".parse().unwrap();
        assert_eq!(c.to_string(), "2001:db8::/32");
        assert_eq!(
            "192.0.2.7".parse::<Cidr>().unwrap().to_string(),
            "192.0.2.7/32"
        );
        assert_eq!("::1".parse::<Cidr>().unwrap().prefix_len(), 128);
        assert_eq!(
            "0.0.0.0/0".parse::<Cidr>().unwrap().to_string(),
            "0.0.0.0/0"
        );
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "nope",
            "10.0.0/8",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }
}
