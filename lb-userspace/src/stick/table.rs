//! One stick table, shared by every worker.
//!
//! Entries live in shards (a mutex each) chosen by the key's hash, so that workers
//! creating or looking up different keys rarely meet. An entry is an `Arc` whose stored
//! data are atomics: once a stream holds it (tracking), updating it takes no lock.
//!
//! Least-recently-used order and expiry are kept lazily, as HAProxy's expiry tree is:
//! touching an entry only raises its atomic "last touched" date; each shard indexes its
//! entries by the date they had when last indexed, and the index is fixed up when eviction
//! or purging meets an entry touched since. Entries referenced outside the table (tracked
//! by a stream) are never evicted or expired, like HAProxy's `ref_cnt`.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::ops::Bound;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::sample::Sample;
use crate::stick::freq::{self, FreqCtr};
use crate::stick::key::Key;
use crate::stick::types::{DataCfg, DataType, KeyType, TableCfg, ValueKind};

/// Tables below this size use a single shard, so that eviction is exactly LRU.
const ENTRIES_PER_SHARD: u32 = 512;
/// Upper bound on the number of shards of a table.
const MAX_SHARDS: u32 = 16;
/// Marks a data type the table does not store.
const ABSENT: u16 = u16::MAX;

/// One key of a table and its stored data.
#[derive(Debug)]
pub struct Entry {
    key: Key,
    /// Tie-breaker of the shard's order index; unique within the shard.
    seq: u64,
    /// The date under which the shard's order index holds the entry (shard lock only).
    stamp: AtomicU64,
    /// Last update or touch (ms); never below `stamp`.
    touched: AtomicU64,
    /// Streams currently tracking the entry (`sc_trackers`, `table_trackers`).
    trackers: AtomicU32,
    data: Box<[AtomicU64]>,
}

impl Entry {
    /// The entry's key.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// How many streams track the entry.
    pub fn trackers(&self) -> u32 {
        self.trackers.load(Ordering::Acquire)
    }

    /// Date (ms) of the last update or touch.
    pub fn touched(&self) -> u64 {
        self.touched.load(Ordering::Acquire)
    }

    pub(crate) fn add_tracker(&self) {
        self.trackers.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn drop_tracker(&self) {
        let _ = self
            .trackers
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }
}

/// Hashes and compares as its entry's key, so the shard's set needs no copy of the key.
#[derive(Debug)]
struct Slot(Arc<Entry>);

impl Hash for Slot {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.key.hash(state);
    }
}

impl PartialEq for Slot {
    fn eq(&self, other: &Self) -> bool {
        self.0.key == other.0.key
    }
}

impl Eq for Slot {}

impl Borrow<Key> for Slot {
    fn borrow(&self) -> &Key {
        &self.0.key
    }
}

/// The entries of one shard.
#[derive(Debug, Default)]
struct Shard {
    set: HashSet<Slot>,
    /// `(stamp, seq)` → entry: the LRU and expiry order (lazily exact, see the module doc).
    order: BTreeMap<(u64, u64), Arc<Entry>>,
    next_seq: u64,
}

/// Whether something besides the shard (a stream, a fetch in progress) holds the entry.
fn referenced(e: &Arc<Entry>) -> bool {
    // The shard holds two references: its set and its order index.
    Arc::strong_count(e) > 2
}

impl Shard {
    fn remove(&mut self, e: &Arc<Entry>) {
        self.order.remove(&(e.stamp.load(Ordering::Relaxed), e.seq));
        self.set.remove(&e.key);
    }

    /// Moves an entry touched since it was indexed to its touch date.
    fn reindex(&mut self, at: (u64, u64), touched: u64) {
        if let Some(e) = self.order.remove(&at) {
            e.stamp.store(touched, Ordering::Relaxed);
            self.order.insert((touched, at.1), e);
        }
    }

    /// Visits entries from the least recently touched; `stop(stamp)` ends the walk, and
    /// the first unreferenced entry not touched since indexed is removed if `evict`, or
    /// every such entry if not. Returns how many were removed.
    fn sweep(&mut self, stop: impl Fn(u64) -> bool, evict: bool) -> usize {
        let mut removed = 0;
        let mut cursor: Option<(u64, u64)> = None;
        loop {
            let next = match cursor {
                None => self.order.iter().next(),
                Some(c) => self
                    .order
                    .range((Bound::Excluded(c), Bound::Unbounded))
                    .next(),
            };
            let Some((&at, e)) = next else {
                return removed;
            };
            if stop(at.0) {
                return removed;
            }
            let touched = e.touched();
            if touched > at.0 {
                // Visited again later at its real date, unless `stop` comes first.
                self.reindex(at, touched);
                cursor = Some(at);
                continue;
            }
            if referenced(e) {
                cursor = Some(at);
                continue;
            }
            let e = Arc::clone(e);
            self.remove(&e);
            removed += 1;
            if evict {
                return removed;
            }
        }
    }
}

/// Where each stored data type lives in an entry's atomics.
#[derive(Debug)]
struct Layout {
    offsets: [u16; DataType::ALL.len()],
    periods: [u32; DataType::ALL.len()],
    slots: usize,
}

impl Layout {
    fn new(store: &[DataCfg]) -> Self {
        let mut layout = Self {
            offsets: [ABSENT; DataType::ALL.len()],
            periods: [0; DataType::ALL.len()],
            slots: 0,
        };
        for d in store {
            let i = d.data.index();
            if layout.offsets[i] != ABSENT {
                continue;
            }
            layout.offsets[i] = u16::try_from(layout.slots).unwrap_or(ABSENT);
            layout.periods[i] = d.period_ms;
            layout.slots += if d.data.is_rate() { freq::SLOTS } else { 1 };
        }
        layout
    }
}

/// A snapshot of one entry, for listings (`show table`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryView {
    /// The key.
    pub key: Key,
    /// Streams tracking the entry (HAProxy's `use=`).
    pub trackers: u32,
    /// Milliseconds until the entry expires, if the table has `expire`.
    pub expire_in: Option<u64>,
    /// Every stored value, in [`DataType`] order.
    pub data: Vec<(DataCfg, i64)>,
}

/// Why [`Table::set`] did not apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetError {
    /// The table does not store this data type.
    #[error("data type '{}' not stored in this table", .0.name())]
    NotStored(DataType),
    /// The key is new and the table has no room for it.
    #[error("table is full")]
    Full,
}

/// A stick table: a bounded, expiring map from keys to counters, shared by all workers.
pub struct Table {
    cfg: TableCfg,
    layout: Layout,
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    len: AtomicUsize,
    expire_ms: Option<u64>,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("name", &self.cfg.name)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl Table {
    /// An empty table as declared.
    pub fn new(cfg: TableCfg) -> Self {
        let shards = (cfg.size / ENTRIES_PER_SHARD).clamp(1, MAX_SHARDS);
        let expire_ms = cfg
            .expire
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Self {
            layout: Layout::new(&cfg.store),
            shards: (0..shards).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            len: AtomicUsize::new(0),
            expire_ms,
            cfg,
        }
    }

    /// The declaration.
    pub fn cfg(&self) -> &TableCfg {
        &self.cfg
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        self.cfg.key
    }

    /// Converts a sample to a key of this table (see [`KeyType::key_of`]).
    pub fn key_of(&self, sample: Sample<'_>) -> Option<Key> {
        self.cfg.key.key_of(sample)
    }

    /// Number of entries (expired ones not yet purged included).
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Whether the table has no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, key: &Key) -> MutexGuard<'_, Shard> {
        let n = self.shards.len() as u64;
        let i = usize::try_from(self.hasher.hash_one(key) % n).unwrap_or(0);
        lock(&self.shards[i])
    }

    /// Whether the entry's `expire` delay elapsed since its last touch.
    pub fn is_expired(&self, e: &Entry, now: u64) -> bool {
        self.expire_ms
            .is_some_and(|x| now >= e.touched().saturating_add(x))
    }

    /// The live entry for `key`, without creating it.
    pub fn lookup(&self, key: &Key, now: u64) -> Option<Arc<Entry>> {
        let mut shard = self.shard(key);
        let e = Arc::clone(&shard.set.get(key)?.0);
        if !self.is_expired(&e, now) || Arc::strong_count(&e) > 3 {
            return Some(e);
        }
        shard.remove(&e);
        self.len.fetch_sub(1, Ordering::AcqRel);
        None
    }

    /// The entry for `key`, created if needed; `None` when the table is full and nothing
    /// can be evicted (`nopurge`, or every candidate is in use).
    pub fn get_or_create(&self, key: Key, now: u64) -> Option<Arc<Entry>> {
        let mut shard = self.shard(&key);
        if let Some(slot) = shard.set.get(&key) {
            let e = Arc::clone(&slot.0);
            if !self.is_expired(&e, now) || Arc::strong_count(&e) > 3 {
                return Some(e);
            }
            shard.remove(&e);
            self.len.fetch_sub(1, Ordering::AcqRel);
        }
        let size = usize::try_from(self.cfg.size).unwrap_or(usize::MAX);
        // Count the new entry only while there is room, so that `len` never reads above
        // `size`, even for a moment, when several workers insert at once.
        let counted = self
            .len
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < size).then_some(n + 1)
            })
            .is_ok();
        // Full: make room in this shard by dropping its least recently used entry (the
        // count stays the same: one out, one in).
        if !counted && (self.cfg.nopurge || shard.sweep(|_| false, true) == 0) {
            return None;
        }
        let seq = shard.next_seq;
        shard.next_seq += 1;
        let e = Arc::new(Entry {
            key,
            seq,
            stamp: AtomicU64::new(now),
            touched: AtomicU64::new(now),
            trackers: AtomicU32::new(0),
            data: (0..self.layout.slots).map(|_| AtomicU64::new(0)).collect(),
        });
        shard.order.insert((now, seq), Arc::clone(&e));
        shard.set.insert(Slot(Arc::clone(&e)));
        Some(e)
    }

    /// Removes the entry for `key` unless a stream uses it (CLI `clear table T key K`);
    /// returns whether it was removed.
    pub fn remove(&self, key: &Key) -> bool {
        let mut shard = self.shard(key);
        let Some(slot) = shard.set.get(key) else {
            return false;
        };
        if referenced(&slot.0) {
            return false;
        }
        let e = Arc::clone(&slot.0);
        shard.remove(&e);
        self.len.fetch_sub(1, Ordering::AcqRel);
        true
    }

    /// Removes every entry no stream uses (CLI `clear table T`); returns how many.
    pub fn clear(&self) -> usize {
        self.drain(|shard| shard.sweep(|_| false, false))
    }

    /// Removes expired entries; returns how many. Cheap when nothing expired: the runtime
    /// calls it periodically (lookups already ignore expired entries).
    pub fn purge(&self, now: u64) -> usize {
        let Some(expire) = self.expire_ms else {
            return 0;
        };
        self.drain(|shard| shard.sweep(|stamp| stamp.saturating_add(expire) > now, false))
    }

    fn drain(&self, mut f: impl FnMut(&mut Shard) -> usize) -> usize {
        let removed: usize = self.shards.iter().map(|s| f(&mut lock(s))).sum();
        self.len.fetch_sub(removed, Ordering::AcqRel);
        removed
    }

    /// A snapshot of every live entry, shard by shard (for `show table`).
    pub fn entries(&self, now: u64) -> Vec<EntryView> {
        let mut out = Vec::with_capacity(self.len());
        for shard in self.shards.iter() {
            let live: Vec<Arc<Entry>> = lock(shard).set.iter().map(|s| Arc::clone(&s.0)).collect();
            // Expired entries still in use stay: they expire once released.
            let shown = |e: &&Arc<Entry>| !self.is_expired(e, now) || Arc::strong_count(e) > 3;
            for e in live.iter().filter(shown) {
                out.push(self.view(e, now));
            }
        }
        out
    }

    /// A snapshot of one entry.
    pub fn view(&self, e: &Entry, now: u64) -> EntryView {
        let data = self
            .cfg
            .store
            .iter()
            .filter_map(|d| Some((*d, self.read(e, d.data, now)?)))
            .collect();
        EntryView {
            key: e.key.clone(),
            trackers: e.trackers(),
            expire_in: self
                .expire_ms
                .map(|x| e.touched().saturating_add(x).saturating_sub(now)),
            data,
        }
    }

    /// The `show table` header: `# table: NAME, type: TYPE, size:N, used:N`.
    pub fn header(&self) -> String {
        format!(
            "# table: {}, type: {}, size:{}, used:{}",
            self.cfg.name,
            self.cfg.key.name(),
            self.cfg.size,
            self.len()
        )
    }

    /// One entry as `show table` prints it after the entry's address:
    /// `key=K use=N exp=MS data=V rate(PERIOD)=V...`.
    pub fn show_line(&self, view: &EntryView) -> String {
        use std::fmt::Write as _;
        let mut line = format!(
            "key={} use={} exp={}",
            self.cfg.key.display(&view.key),
            view.trackers,
            view.expire_in.unwrap_or(0)
        );
        for (d, v) in &view.data {
            let _ = match d.period_ms {
                0 => write!(line, " {}={v}", d.data.name()),
                p => write!(line, " {}({p})={v}", d.data.name()),
            };
        }
        line
    }

    /// Creates or updates the entry for `key` with the given values (CLI `set table`).
    pub fn set(&self, key: Key, values: &[(DataType, i64)], now: u64) -> Result<(), SetError> {
        if let Some((d, _)) = values.iter().find(|(d, _)| !self.stores(*d)) {
            return Err(SetError::NotStored(*d));
        }
        let e = self.get_or_create(key, now).ok_or(SetError::Full)?;
        for (d, v) in values {
            self.put(&e, *d, *v, now);
        }
        self.touch(&e, now);
        Ok(())
    }

    /// Whether the table stores `data`.
    pub fn stores(&self, data: DataType) -> bool {
        self.layout.offsets[data.index()] != ABSENT
    }

    fn slots<'e>(&self, e: &'e Entry, data: DataType) -> Option<&'e [AtomicU64]> {
        let off = self.layout.offsets[data.index()];
        if off == ABSENT {
            return None;
        }
        e.data.get(usize::from(off)..)
    }

    fn freq<'e>(&self, e: &'e Entry, data: DataType) -> Option<(FreqCtr<'e>, u64)> {
        let ctr = FreqCtr::new(self.slots(e, data)?)?;
        Some((ctr, u64::from(self.layout.periods[data.index()])))
    }

    /// The value of `data` for the entry (a rate reads as events over its period); `None`
    /// when the table does not store it.
    pub fn read(&self, e: &Entry, data: DataType, now: u64) -> Option<i64> {
        if data.is_rate() {
            let (ctr, period) = self.freq(e, data)?;
            return Some(i64::from(ctr.read(period, now)));
        }
        let raw = self.slots(e, data)?.first()?.load(Ordering::Acquire);
        Some(decode(data.kind(), raw))
    }

    /// Adds `n` to a counter or counts `n` events in a rate, and touches the entry.
    /// Returns the counter's new value, or the rate's count in its current period.
    pub fn add(&self, e: &Entry, data: DataType, n: u64, now: u64) -> Option<i64> {
        let value = if data.is_rate() {
            let (ctr, period) = self.freq(e, data)?;
            i64::from(ctr.update(period, u32::try_from(n).unwrap_or(u32::MAX), now))
        } else {
            let slot = self.slots(e, data)?.first()?;
            let old = slot.fetch_add(n, Ordering::AcqRel);
            decode(data.kind(), old.wrapping_add(n))
        };
        self.touch(e, now);
        Some(value)
    }

    /// Sets `data` to `value` (a rate gets `value` events in a period starting now) and
    /// touches the entry; `false` when the table does not store it.
    pub fn put(&self, e: &Entry, data: DataType, value: i64, now: u64) -> bool {
        if data.is_rate() {
            let Some((ctr, _)) = self.freq(e, data) else {
                return false;
            };
            ctr.set(value.clamp(0, i64::from(u32::MAX)) as u32, now);
        } else {
            let Some(slot) = self.slots(e, data).and_then(<[AtomicU64]>::first) else {
                return false;
            };
            let raw = match data.kind() {
                ValueKind::Ull => value.max(0) as u64,
                // Sint and Uint keep 32 bits (two's complement for the signed one).
                _ => u64::from(value as u32),
            };
            slot.store(raw, Ordering::Release);
        }
        self.touch(e, now);
        true
    }

    /// Resets a counter to zero and returns its previous value (`sc_clr_gpc0`).
    pub fn take(&self, e: &Entry, data: DataType, now: u64) -> Option<i64> {
        let old = self.slots(e, data)?.first()?.swap(0, Ordering::AcqRel);
        self.touch(e, now);
        Some(decode(data.kind(), old))
    }

    /// Decrements `conn_cur` without going below zero (end of a tracked connection).
    pub(crate) fn dec_conn_cur(&self, e: &Entry) {
        if let Some(slot) = self
            .slots(e, DataType::ConnCur)
            .and_then(<[AtomicU64]>::first)
        {
            let _ = slot.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                (v as u32 != 0).then(|| v.wrapping_sub(1))
            });
        }
    }

    /// Marks the entry as used now: it expires `expire` after its last touch, and is the
    /// last candidate for eviction.
    pub fn touch(&self, e: &Entry, now: u64) {
        e.touched.fetch_max(now, Ordering::AcqRel);
    }
}

/// A stored word read as its data type's value.
fn decode(kind: ValueKind, raw: u64) -> i64 {
    match kind {
        ValueKind::Sint => i64::from(raw as u32 as i32),
        ValueKind::Ull => i64::try_from(raw).unwrap_or(i64::MAX),
        ValueKind::Uint | ValueKind::Rate => i64::from(raw as u32),
    }
}

/// Locks a shard; a panic while holding it leaves consistent data (every mutation is one
/// map operation), so poisoning is ignored.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
#[path = "table_tests.rs"]
pub(crate) mod tests;
