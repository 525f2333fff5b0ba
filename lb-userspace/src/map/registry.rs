//! Pattern references (a loaded map or ACL file, by name) and the process-wide registry
//! that finds them, with the run-time operations of the CLI (`add`, `del`, `set`,
//! `clear`, `show`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};

use crate::map::MapError;
use crate::map::file::{FileEntry, parse_map, parse_patterns};
use crate::map::index::{Index, IndexSpec, MapValue, Reject};

/// Whether a file holds one pattern per line (ACL `-f`) or `key value` lines (maps,
/// ACL `-M -f`). A file is read one way only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefKind {
    /// One column: patterns.
    Patterns,
    /// Two columns: keys and values.
    Map,
}

/// One entry of a reference, as listed by [`PatRef::entries`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Stable id of the entry (`del map NAME #ID`).
    pub id: u64,
    /// Line in the file, for entries loaded from it.
    pub line: Option<usize>,
    /// The key or pattern.
    pub key: String,
    /// The value (maps).
    pub value: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    entries: BTreeMap<u64, Entry>,
    next_id: u64,
    indexes: Vec<Weak<Index>>,
}

impl State {
    fn live_indexes(&mut self) -> Vec<Arc<Index>> {
        self.indexes.retain(|w| w.strong_count() > 0);
        self.indexes.iter().filter_map(Weak::upgrade).collect()
    }
}

/// A loaded pattern or map file: its entries in file order and the indexes compiled
/// from them. Changes apply to every index at once.
#[derive(Debug)]
pub struct PatRef {
    name: String,
    kind: RefKind,
    state: Mutex<State>,
}

impl PatRef {
    /// A reference holding the given entries (`name` identifies it in the registry).
    pub fn new(name: &str, kind: RefKind, entries: Vec<FileEntry>) -> Arc<Self> {
        let mut state = State::default();
        for e in entries {
            let id = state.next_id;
            state.next_id += 1;
            state.entries.insert(
                id,
                Entry {
                    id,
                    line: Some(e.line),
                    key: e.key,
                    value: e.value,
                },
            );
        }
        Arc::new(Self {
            name: name.to_owned(),
            kind,
            state: Mutex::new(state),
        })
    }

    /// The name it was loaded with (the file path as written).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// One or two columns.
    pub fn kind(&self) -> RefKind {
        self.kind
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every operation validates before it mutates, so a panic cannot leave the
        // entries and the indexes disagreeing.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The index compiled for `spec`, shared with other users of the same spec; built
    /// now if there is none. Fails on the first entry that does not parse.
    pub fn index(self: &Arc<Self>, spec: IndexSpec) -> Result<Arc<Index>, MapError> {
        let mut state = self.lock();
        if let Some(index) = state.live_indexes().into_iter().find(|i| i.spec() == spec) {
            return Ok(index);
        }
        let index = Arc::new(Index::shared(spec, Arc::clone(self)));
        let mut prepared = Vec::with_capacity(state.entries.len());
        for e in state.entries.values() {
            let (key, value) = index
                .prepare(&e.key, e.value.as_deref())
                .map_err(|r| self.reject(r, e))?;
            prepared.push((e.id, key, value));
        }
        index.write(|store| {
            for (id, key, value) in prepared {
                store.insert(key, crate::map::store::Slot { id, value });
            }
        });
        state.indexes.push(Arc::downgrade(&index));
        Ok(index)
    }

    fn reject(&self, r: Reject, e: &Entry) -> MapError {
        match r {
            Reject::Key(reason) => MapError::BadKey {
                name: self.name.clone(),
                line: e.line,
                key: e.key.clone(),
                reason,
            },
            Reject::Value(ty) => MapError::BadValue {
                name: self.name.clone(),
                line: e.line,
                value: e.value.clone().unwrap_or_default(),
                ty: ty.name(),
            },
        }
    }

    /// The indexes compiled from this reference and still in use (`get map` looks the
    /// sample up in each).
    pub fn indexes(&self) -> Vec<Arc<Index>> {
        self.lock().live_indexes()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries in file order, then in the order they were added (`show map`).
    pub fn entries(&self) -> Vec<Entry> {
        self.lock().entries.values().cloned().collect()
    }

    /// Adds an entry after the others (`add map` / `add acl`); every index must accept
    /// it, or nothing changes. Maps need a value, pattern files take none.
    pub fn add(&self, key: &str, value: Option<&str>) -> Result<u64, MapError> {
        match (self.kind, value) {
            (RefKind::Map, None) => return Err(MapError::MissingValue(self.name.clone())),
            (RefKind::Patterns, Some(_)) => {
                return Err(MapError::UnexpectedValue(self.name.clone()));
            }
            _ => {}
        }
        let mut state = self.lock();
        let id = state.next_id;
        let entry = Entry {
            id,
            line: None,
            key: key.to_owned(),
            value: value.map(str::to_owned),
        };
        let indexes = state.live_indexes();
        let mut prepared = Vec::with_capacity(indexes.len());
        for index in &indexes {
            let p = index
                .prepare(key, value)
                .map_err(|r| self.reject(r, &entry))?;
            prepared.push(p);
        }
        for (index, (key, value)) in indexes.iter().zip(prepared) {
            index.write(|s| s.insert(key, crate::map::store::Slot { id, value }));
        }
        state.next_id += 1;
        state.entries.insert(id, entry);
        Ok(id)
    }

    /// Removes every entry whose key is `key` (`del map NAME KEY`); returns how many.
    pub fn del(&self, key: &str) -> usize {
        let mut state = self.lock();
        let ids: Vec<u64> = state
            .entries
            .values()
            .filter(|e| e.key == key)
            .map(|e| e.id)
            .collect();
        for id in &ids {
            Self::remove_id(&mut state, *id);
        }
        ids.len()
    }

    /// Removes the entry `id` (`del map NAME #ID`); returns whether it existed.
    pub fn del_id(&self, id: u64) -> bool {
        Self::remove_id(&mut self.lock(), id)
    }

    fn remove_id(state: &mut State, id: u64) -> bool {
        let Some(entry) = state.entries.remove(&id) else {
            return false;
        };
        for index in state.live_indexes() {
            // The key was accepted by this index when the entry went in.
            if let Ok(key) = index.key(&entry.key) {
                index.write(|s| s.remove(&key, id));
            }
        }
        true
    }

    /// Sets the value of every entry whose key is `key` (`set map NAME KEY VALUE`);
    /// returns how many changed. Every index must accept the value, or nothing changes.
    pub fn set(&self, key: &str, value: &str) -> Result<usize, MapError> {
        let mut state = self.lock();
        let ids: Vec<u64> = state
            .entries
            .values()
            .filter(|e| e.key == key)
            .map(|e| e.id)
            .collect();
        Self::set_ids(self, &mut state, &ids, value)?;
        Ok(ids.len())
    }

    /// Sets the value of entry `id` (`set map NAME #ID VALUE`); returns whether it
    /// existed.
    pub fn set_id(&self, id: u64, value: &str) -> Result<bool, MapError> {
        let mut state = self.lock();
        if !state.entries.contains_key(&id) {
            return Ok(false);
        }
        Self::set_ids(self, &mut state, &[id], value)?;
        Ok(true)
    }

    fn set_ids(&self, state: &mut State, ids: &[u64], value: &str) -> Result<(), MapError> {
        if self.kind == RefKind::Patterns {
            return Err(MapError::UnexpectedValue(self.name.clone()));
        }
        let Some(first) = ids.first().and_then(|id| state.entries.get(id)) else {
            return Ok(());
        };
        let probe = Entry {
            value: Some(value.to_owned()),
            ..first.clone()
        };
        let first_key = probe.key.clone();
        let indexes = state.live_indexes();
        let mut values = Vec::with_capacity(indexes.len());
        for index in &indexes {
            let (_, v) = index
                .prepare(&first_key, Some(value))
                .map_err(|r| self.reject(r, &probe))?;
            values.push(v);
        }
        for id in ids {
            let Some(entry) = state.entries.get_mut(id) else {
                continue;
            };
            entry.value = Some(value.to_owned());
            for (index, v) in indexes.iter().zip(&values) {
                if let Ok(key) = index.key(&entry.key) {
                    index.write(|s| s.set_value(&key, *id, v.clone()));
                }
            }
        }
        Ok(())
    }

    /// Removes every entry (`clear map NAME`).
    pub fn clear(&self) {
        let mut state = self.lock();
        state.entries.clear();
        for index in state.live_indexes() {
            let method = index.spec().method;
            index.write(|s| *s = crate::map::store::Store::new(method));
        }
    }

    /// The value `MapValue` of the first entry matching `sample` in the index for
    /// `spec` if one is in use (`get map`); `None` when nothing matches or no such
    /// index exists.
    pub fn lookup_with(
        &self,
        spec: IndexSpec,
        sample: crate::sample::Sample<'_>,
    ) -> Option<Option<MapValue>> {
        let index = self
            .lock()
            .live_indexes()
            .into_iter()
            .find(|i| i.spec() == spec)?;
        index.lookup(sample).map(|f| f.value)
    }
}

/// The loaded references of the process, by name. Entries live as long as some index
/// (hence some parsed configuration) uses them.
#[derive(Debug, Default)]
pub struct Registry {
    refs: Mutex<HashMap<String, Weak<PatRef>>>,
}

impl Registry {
    /// The registry of the process: what the config parser loads files into and what
    /// the CLI updates.
    pub fn global() -> &'static Registry {
        static GLOBAL: OnceLock<Registry> = OnceLock::new();
        GLOBAL.get_or_init(Registry::default)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Weak<PatRef>>> {
        self.refs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The reference called `name`, reading the file of that path if it is not loaded
    /// yet. A file is read as one or two columns, never both.
    pub fn load(&self, name: &str, kind: RefKind) -> Result<Arc<PatRef>, MapError> {
        if let Some(existing) = self.get(name) {
            return Self::check_kind(existing, kind);
        }
        let io = |reason: String| MapError::Io {
            name: name.to_owned(),
            reason,
        };
        // Devices and pipes could block the configuration load forever.
        let meta = std::fs::metadata(Path::new(name)).map_err(|e| io(e.to_string()))?;
        if !meta.is_file() {
            return Err(io("not a regular file".into()));
        }
        let bytes = std::fs::read(Path::new(name)).map_err(|e| io(e.to_string()))?;
        self.load_text(name, kind, &String::from_utf8_lossy(&bytes))
    }

    /// The reference called `name`, built from `text` (the file's contents) unless one
    /// by that name is already loaded.
    pub fn load_text(
        &self,
        name: &str,
        kind: RefKind,
        text: &str,
    ) -> Result<Arc<PatRef>, MapError> {
        let mut refs = self.lock();
        if let Some(existing) = refs.get(name).and_then(Weak::upgrade) {
            return Self::check_kind(existing, kind);
        }
        let entries = match kind {
            RefKind::Map => parse_map(text),
            RefKind::Patterns => parse_patterns(text),
        };
        let r = PatRef::new(name, kind, entries);
        refs.retain(|_, w| w.strong_count() > 0);
        refs.insert(name.to_owned(), Arc::downgrade(&r));
        Ok(r)
    }

    fn check_kind(existing: Arc<PatRef>, kind: RefKind) -> Result<Arc<PatRef>, MapError> {
        if existing.kind == kind {
            Ok(existing)
        } else {
            Err(MapError::KindConflict {
                name: existing.name.clone(),
                used_as_map: existing.kind == RefKind::Map,
            })
        }
    }

    /// The loaded reference called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<PatRef>> {
        self.lock().get(name).and_then(Weak::upgrade)
    }

    /// Every loaded reference, sorted by name (`show map`, `show acl`).
    pub fn list(&self) -> Vec<Arc<PatRef>> {
        let mut refs: Vec<Arc<PatRef>> = self.lock().values().filter_map(Weak::upgrade).collect();
        refs.sort_by(|a, b| a.name.cmp(&b.name));
        refs
    }
}
