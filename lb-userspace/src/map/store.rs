//! Compiled patterns and the structure that indexes them, one per match method:
//! a hash map for `str`, hash maps by key length for `beg` (longest prefix wins, as
//! HAProxy's prefix tree) and `end`, per-prefix-length hash maps for `ip` (longest prefix
//! match), and an ordered list for the methods that cannot be indexed (`int`, `len`,
//! `sub`, `dir`, `dom`, `reg`, `regm`, `bin`), where the first pattern in file order wins.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};

use regex::{Regex, RegexBuilder};

use crate::acl::pattern::{IntOp, IntRange, MatchMethod};
use crate::map::index::{Found, MapValue};
use crate::sample::net::{IpNet, prefix_mask4, prefix_mask6, v6_to_v4};
use crate::sample::value::parse_hex;
use crate::sample::{Sample, SampleType};

/// An entry as seen by one index: its id in the reference and its parsed value.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub id: u64,
    pub value: Option<MapValue>,
}

/// A pattern compiled for one match method.
#[derive(Debug, Clone)]
pub(crate) enum Key {
    /// `found` and `bool` ignore their patterns.
    Nothing,
    /// `str`, `beg`, `end` (lower-cased when case is ignored), `sub`, `dir`, `dom`, `bin`.
    Bytes(Box<[u8]>),
    /// `int` and `len`.
    Range(IntRange),
    /// `ip`.
    Net(IpNet),
    /// `reg` and `regm`.
    Regex(Regex),
}

/// Compiles `text` for `method`; `op` applies to integer patterns (`gt 5`).
pub(crate) fn compile(
    method: MatchMethod,
    icase: bool,
    text: &str,
    op: IntOp,
) -> Result<Key, String> {
    Ok(match method {
        MatchMethod::Found | MatchMethod::Bool => Key::Nothing,
        MatchMethod::Int | MatchMethod::Len => {
            Key::Range(IntRange::parse(text, op).map_err(|_| "not a valid integer or range")?)
        }
        MatchMethod::Ip => Key::Net(
            IpNet::parse(text)
                .ok_or_else(|| format!("'{text}' is not a valid IPv4 or IPv6 address"))?,
        ),
        MatchMethod::Bin => {
            Key::Bytes(parse_hex(text).ok_or("not hexadecimal")?.into_boxed_slice())
        }
        MatchMethod::Str | MatchMethod::Beg | MatchMethod::End if icase => {
            Key::Bytes(text.to_ascii_lowercase().into_bytes().into_boxed_slice())
        }
        MatchMethod::Str
        | MatchMethod::Beg
        | MatchMethod::End
        | MatchMethod::Sub
        | MatchMethod::Dir
        | MatchMethod::Dom => Key::Bytes(text.as_bytes().into()),
        MatchMethod::Reg | MatchMethod::Regm => Key::Regex(
            RegexBuilder::new(text)
                .case_insensitive(icase)
                .build()
                .map_err(|e| e.to_string())?,
        ),
    })
}

/// Entries by key, each bucket sorted by id (file order).
type Buckets<K> = HashMap<K, Vec<Slot>>;

fn bucket_insert(bucket: &mut Vec<Slot>, slot: Slot) {
    let pos = bucket.partition_point(|s| s.id < slot.id);
    bucket.insert(pos, slot);
}

/// Removes `id` from the bucket at `key`; drops the bucket when it becomes empty.
fn bucket_remove<K: std::hash::Hash + Eq>(map: &mut Buckets<K>, key: &K, id: u64) -> bool {
    let Some(bucket) = map.get_mut(key) else {
        return false;
    };
    let before = bucket.len();
    bucket.retain(|s| s.id != id);
    let removed = bucket.len() != before;
    if bucket.is_empty() {
        map.remove(key);
    }
    removed
}

fn bucket_slot<'a, K: std::hash::Hash + Eq>(
    map: &'a mut Buckets<K>,
    key: &K,
    id: u64,
) -> Option<&'a mut Slot> {
    map.get_mut(key)?.iter_mut().find(|s| s.id == id)
}

/// Keys of several lengths, looked up by slicing the input at each known length.
#[derive(Debug, Default)]
pub(crate) struct Affix {
    map: Buckets<Box<[u8]>>,
    /// Number of keys of each length.
    lens: BTreeMap<usize, usize>,
}

impl Affix {
    fn insert(&mut self, key: Box<[u8]>, slot: Slot) {
        let len = key.len();
        let bucket = self.map.entry(key).or_default();
        if bucket.is_empty() {
            *self.lens.entry(len).or_default() += 1;
        }
        bucket_insert(bucket, slot);
    }

    fn remove(&mut self, key: &[u8], id: u64) -> bool {
        let key: Box<[u8]> = key.into();
        let removed = bucket_remove(&mut self.map, &key, id);
        if removed
            && !self.map.contains_key(&key)
            && let Some(n) = self.lens.get_mut(&key.len())
        {
            *n -= 1;
            if *n == 0 {
                self.lens.remove(&key.len());
            }
        }
        removed
    }

    /// The longest key that starts `s`.
    fn longest_prefix(&self, s: &[u8]) -> Option<&Slot> {
        self.lens
            .range(..=s.len())
            .rev()
            .find_map(|(&len, _)| self.map.get(&s[..len]).and_then(|b| b.first()))
    }

    /// The first key in file order that ends `s`.
    fn first_suffix(&self, s: &[u8]) -> Option<&Slot> {
        self.lens
            .range(..=s.len())
            .filter_map(|(&len, _)| self.map.get(&s[s.len() - len..]).and_then(|b| b.first()))
            .min_by_key(|slot| slot.id)
    }
}

/// Networks by prefix length for a longest-prefix match; masks that are not a prefix
/// (`255.0.255.0`) go to ordered lists, tried last as in HAProxy.
#[derive(Debug, Default)]
pub(crate) struct IpStore {
    v4: BTreeMap<u32, Buckets<u32>>,
    v6: BTreeMap<u32, Buckets<u128>>,
    v4_list: Vec<(u32, u32, Slot)>,
    v6_list: Vec<(u128, u128, Slot)>,
}

/// Where a network lives in an [`IpStore`].
enum NetPlace {
    V4(u32, u32),
    V6(u32, u128),
    V4List(u32, u32),
    V6List(u128, u128),
}

fn place(net: &IpNet) -> NetPlace {
    match *net {
        IpNet::V4 { addr, mask } => {
            let bits = mask.leading_ones();
            if prefix_mask4(bits) == Some(mask) {
                NetPlace::V4(bits, addr)
            } else {
                NetPlace::V4List(addr, mask)
            }
        }
        IpNet::V6 { addr, mask } => {
            let bits = mask.leading_ones();
            if prefix_mask6(bits) == Some(mask) {
                NetPlace::V6(bits, addr)
            } else {
                NetPlace::V6List(addr, mask)
            }
        }
    }
}

impl IpStore {
    fn insert(&mut self, net: &IpNet, slot: Slot) {
        match place(net) {
            NetPlace::V4(bits, addr) => {
                bucket_insert(
                    self.v4.entry(bits).or_default().entry(addr).or_default(),
                    slot,
                );
            }
            NetPlace::V6(bits, addr) => {
                bucket_insert(
                    self.v6.entry(bits).or_default().entry(addr).or_default(),
                    slot,
                );
            }
            NetPlace::V4List(addr, mask) => self.v4_list.push((addr, mask, slot)),
            NetPlace::V6List(addr, mask) => self.v6_list.push((addr, mask, slot)),
        }
    }

    fn remove(&mut self, net: &IpNet, id: u64) -> bool {
        match place(net) {
            NetPlace::V4(bits, addr) => {
                let Some(map) = self.v4.get_mut(&bits) else {
                    return false;
                };
                let removed = bucket_remove(map, &addr, id);
                if map.is_empty() {
                    self.v4.remove(&bits);
                }
                removed
            }
            NetPlace::V6(bits, addr) => {
                let Some(map) = self.v6.get_mut(&bits) else {
                    return false;
                };
                let removed = bucket_remove(map, &addr, id);
                if map.is_empty() {
                    self.v6.remove(&bits);
                }
                removed
            }
            NetPlace::V4List(..) => retain_len(&mut self.v4_list, |e| e.2.id != id),
            NetPlace::V6List(..) => retain_len(&mut self.v6_list, |e| e.2.id != id),
        }
    }

    fn slot_mut(&mut self, net: &IpNet, id: u64) -> Option<&mut Slot> {
        match place(net) {
            NetPlace::V4(bits, addr) => bucket_slot(self.v4.get_mut(&bits)?, &addr, id),
            NetPlace::V6(bits, addr) => bucket_slot(self.v6.get_mut(&bits)?, &addr, id),
            NetPlace::V4List(..) => self
                .v4_list
                .iter_mut()
                .map(|e| &mut e.2)
                .find(|s| s.id == id),
            NetPlace::V6List(..) => self
                .v6_list
                .iter_mut()
                .map(|e| &mut e.2)
                .find(|s| s.id == id),
        }
    }

    fn tree4(&self, a: Ipv4Addr) -> Option<&Slot> {
        let a = u32::from(a);
        self.v4.iter().rev().find_map(|(&bits, map)| {
            let key = a & prefix_mask4(bits).unwrap_or(0);
            map.get(&key).and_then(|b| b.first())
        })
    }

    fn tree6(&self, a: u128) -> Option<&Slot> {
        self.v6
            .iter()
            .rev()
            .find_map(|(&bits, map)| {
                let key = a & prefix_mask6(bits).unwrap_or(0);
                map.get(&key).and_then(|b| b.first())
            })
            .or_else(|| {
                self.v6_list
                    .iter()
                    .find(|(addr, mask, _)| a & mask == *addr)
                    .map(|e| &e.2)
            })
    }

    fn list4(&self, a: Ipv4Addr) -> Option<&Slot> {
        let a = u32::from(a);
        self.v4_list
            .iter()
            .find(|(addr, mask, _)| a & mask == *addr)
            .map(|e| &e.2)
    }

    /// HAProxy's order: the address's own family first, then the other family's form
    /// of it (IPv4-mapped, or the IPv4 address an IPv6 one carries), then the
    /// non-prefix IPv4 masks.
    fn find(&self, ip: IpAddr) -> Option<&Slot> {
        match ip {
            IpAddr::V4(v4) => self
                .tree4(v4)
                .or_else(|| self.tree6(u128::from(v4.to_ipv6_mapped())))
                .or_else(|| self.list4(v4)),
            IpAddr::V6(v6) => self.tree6(u128::from(v6)).or_else(|| {
                let v4 = v6_to_v4(&v6)?;
                self.tree4(v4).or_else(|| self.list4(v4))
            }),
        }
    }
}

fn retain_len<T>(list: &mut Vec<T>, keep: impl FnMut(&T) -> bool) -> bool {
    let before = list.len();
    list.retain(keep);
    list.len() != before
}

/// The patterns of one index.
#[derive(Debug)]
pub(crate) enum Store {
    /// `found`, `bool`: entries are only counted.
    Nothing(usize),
    /// `str`.
    Exact(Buckets<Box<[u8]>>),
    /// `beg` (`suffix: false`) or `end` (`suffix: true`).
    Affix {
        /// Match the end of the input rather than its start.
        suffix: bool,
        /// The keys.
        keys: Affix,
    },
    /// `ip`.
    Ip(IpStore),
    /// Everything else, in file order.
    List(Vec<(Key, Slot)>),
}

impl Store {
    /// An empty store for `method`.
    pub(crate) fn new(method: MatchMethod) -> Self {
        match method {
            MatchMethod::Found | MatchMethod::Bool => Self::Nothing(0),
            MatchMethod::Str => Self::Exact(HashMap::new()),
            MatchMethod::Beg | MatchMethod::End => Self::Affix {
                suffix: method == MatchMethod::End,
                keys: Affix::default(),
            },
            MatchMethod::Ip => Self::Ip(IpStore::default()),
            _ => Self::List(Vec::new()),
        }
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Nothing(n) => *n,
            Self::Exact(map)
            | Self::Affix {
                keys: Affix { map, .. },
                ..
            } => map.values().map(Vec::len).sum(),
            Self::Ip(ip) => {
                ip.v4
                    .values()
                    .flat_map(|m| m.values())
                    .map(Vec::len)
                    .sum::<usize>()
                    + ip.v6
                        .values()
                        .flat_map(|m| m.values())
                        .map(Vec::len)
                        .sum::<usize>()
                    + ip.v4_list.len()
                    + ip.v6_list.len()
            }
            Self::List(list) => list.len(),
        }
    }

    /// Adds an entry (ids grow with file order, so appending keeps lists ordered).
    pub(crate) fn insert(&mut self, key: Key, slot: Slot) {
        match (self, key) {
            (Self::Nothing(n), _) => *n += 1,
            (Self::Exact(map), Key::Bytes(k)) => bucket_insert(map.entry(k).or_default(), slot),
            (Self::Affix { keys, .. }, Key::Bytes(k)) => keys.insert(k, slot),
            (Self::Ip(ip), Key::Net(net)) => ip.insert(&net, slot),
            (Self::List(list), key) => {
                let pos = list.partition_point(|(_, s)| s.id < slot.id);
                list.insert(pos, (key, slot));
            }
            // `compile` builds the key for the same method as the store.
            _ => {}
        }
    }

    /// Removes the entry `id` whose key is `key`.
    pub(crate) fn remove(&mut self, key: &Key, id: u64) -> bool {
        match (self, key) {
            (Self::Nothing(n), _) => {
                *n = n.saturating_sub(1);
                true
            }
            (Self::Exact(map), Key::Bytes(k)) => bucket_remove(map, k, id),
            (Self::Affix { keys, .. }, Key::Bytes(k)) => keys.remove(k, id),
            (Self::Ip(ip), Key::Net(net)) => ip.remove(net, id),
            (Self::List(list), _) => retain_len(list, |(_, s)| s.id != id),
            _ => false,
        }
    }

    /// Replaces the value of entry `id` whose key is `key`.
    pub(crate) fn set_value(&mut self, key: &Key, id: u64, value: Option<MapValue>) -> bool {
        let slot = match (self, key) {
            (Self::Exact(map), Key::Bytes(k)) => bucket_slot(map, k, id),
            (Self::Affix { keys, .. }, Key::Bytes(k)) => bucket_slot(&mut keys.map, k, id),
            (Self::Ip(ip), Key::Net(net)) => ip.slot_mut(net, id),
            (Self::List(list), _) => list.iter_mut().map(|(_, s)| s).find(|s| s.id == id),
            _ => None,
        };
        slot.map(|s| s.value = value).is_some()
    }

    /// Finds the entry matching `sample` (already known to exist): the value it maps to,
    /// with `\N` references expanded for `regm`.
    pub(crate) fn find(
        &self,
        method: MatchMethod,
        icase: bool,
        sample: Sample<'_>,
    ) -> Option<Found> {
        let slot = match self {
            Self::Nothing(_) => {
                return Some(Found {
                    value: None,
                    id: None,
                });
            }
            Self::Exact(map) => {
                let s = as_str(sample)?;
                let key = folded(s.as_bytes(), icase);
                map.get(&*key).and_then(|b| b.first())
            }
            Self::Affix { suffix, keys } => {
                let s = as_str(sample)?;
                let s = folded(s.as_bytes(), icase);
                if *suffix {
                    keys.first_suffix(&s)
                } else {
                    keys.longest_prefix(&s)
                }
            }
            Self::Ip(ip) => match sample.cast(SampleType::Addr)? {
                Sample::Ip(addr) => ip.find(addr),
                _ => None,
            },
            Self::List(list) => return find_in_list(list, method, icase, sample),
        }?;
        Some(Found {
            value: slot.value.clone(),
            id: Some(slot.id),
        })
    }
}

fn as_str(sample: Sample<'_>) -> Option<std::borrow::Cow<'_, str>> {
    match sample.cast(SampleType::Str)? {
        Sample::Str(s) => Some(s),
        _ => None,
    }
}

/// The input lower-cased (ASCII) when case is ignored, borrowed otherwise.
fn folded(s: &[u8], icase: bool) -> std::borrow::Cow<'_, [u8]> {
    if icase && s.iter().any(u8::is_ascii_uppercase) {
        std::borrow::Cow::Owned(s.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

fn find_in_list(
    list: &[(Key, Slot)],
    method: MatchMethod,
    icase: bool,
    sample: Sample<'_>,
) -> Option<Found> {
    let found = |slot: &Slot| {
        Some(Found {
            value: slot.value.clone(),
            id: Some(slot.id),
        })
    };
    match method {
        MatchMethod::Int => {
            let Sample::Int(v) = sample.cast(SampleType::Int)? else {
                return None;
            };
            list.iter()
                .find(|(k, _)| matches!(k, Key::Range(r) if r.contains(v)))
                .and_then(|(_, s)| found(s))
        }
        MatchMethod::Len => {
            let len = i64::try_from(as_str(sample)?.len()).unwrap_or(i64::MAX);
            list.iter()
                .find(|(k, _)| matches!(k, Key::Range(r) if r.contains(len)))
                .and_then(|(_, s)| found(s))
        }
        MatchMethod::Bin => {
            let Sample::Bin(b) = sample.cast(SampleType::Bin)? else {
                return None;
            };
            list.iter()
                .find(|(k, _)| matches!(k, Key::Bytes(p) if **p == *b))
                .and_then(|(_, s)| found(s))
        }
        MatchMethod::Reg => {
            let s = as_str(sample)?;
            list.iter()
                .find(|(k, _)| matches!(k, Key::Regex(r) if r.is_match(&s)))
                .and_then(|(_, s)| found(s))
        }
        MatchMethod::Regm => {
            let s = as_str(sample)?;
            list.iter().find_map(|(k, slot)| {
                let Key::Regex(r) = k else { return None };
                let caps = r.captures(&s)?;
                let value = match &slot.value {
                    Some(MapValue::Str(template)) => {
                        let mut out = Vec::new();
                        crate::sample::conv_text::expand_replacement(template, &caps, &mut out);
                        Some(MapValue::Str(String::from_utf8_lossy(&out).into()))
                    }
                    other => other.clone(),
                };
                Some(Found {
                    value,
                    id: Some(slot.id),
                })
            })
        }
        _ => {
            let s = as_str(sample)?;
            list.iter()
                .find(|(k, _)| {
                    matches!(k, Key::Bytes(p) if text_match(method, s.as_bytes(), p, icase))
                })
                .and_then(|(_, s)| found(s))
        }
    }
}

fn eq_bytes(a: &[u8], b: &[u8], icase: bool) -> bool {
    if icase {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

/// `sub`, `dir` and `dom` comparisons.
fn text_match(method: MatchMethod, s: &[u8], p: &[u8], icase: bool) -> bool {
    match method {
        MatchMethod::Sub => p.is_empty() || s.windows(p.len()).any(|w| eq_bytes(w, p, icase)),
        MatchMethod::Dir => match_word(s, p, icase, b"/?"),
        MatchMethod::Dom => match_word(s, p, icase, b"/?.:"),
        _ => false,
    }
}

/// Looks for `p` in `s` as a whole word between delimiters (or the string's ends), as
/// HAProxy's `match_word`; delimiters at the ends of the pattern are ignored.
fn match_word(s: &[u8], p: &[u8], icase: bool, delims: &[u8]) -> bool {
    let is_delim = |c: &u8| delims.contains(c);
    let start = p.iter().position(|c| !is_delim(c)).unwrap_or(p.len());
    let end = p
        .iter()
        .rposition(|c| !is_delim(c))
        .map_or(start, |i| i + 1);
    let p = &p[start..end];
    if p.is_empty() || p.len() > s.len() {
        return false;
    }
    let mut may_match = true;
    for i in 0..=s.len() - p.len() {
        if is_delim(&s[i]) {
            may_match = true;
            continue;
        }
        if !may_match {
            continue;
        }
        if eq_bytes(&s[i..i + p.len()], p, icase) && s.get(i + p.len()).is_none_or(is_delim) {
            return true;
        }
        may_match = false;
    }
    false
}
