use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::config::model::Location;

pub(crate) fn cfg(size: u32, expire_ms: Option<u64>, store: &[(DataType, u32)]) -> TableCfg {
    let mut store: Vec<DataCfg> = store
        .iter()
        .map(|&(data, period_ms)| DataCfg { data, period_ms })
        .collect();
    store.sort_by_key(|d| d.data);
    TableCfg {
        name: "t".into(),
        key: KeyType::Integer,
        size,
        expire: expire_ms.map(Duration::from_millis),
        nopurge: false,
        store,
        location: Location::default(),
    }
}

fn k(i: u32) -> Key {
    Key::Int(i)
}

fn keys(t: &Table, now: u64) -> Vec<u32> {
    let mut out: Vec<u32> = t
        .entries(now)
        .into_iter()
        .map(|v| match v.key {
            Key::Int(i) => i,
            other => panic!("unexpected key {other}"),
        })
        .collect();
    out.sort_unstable();
    out
}

#[test]
fn counters_and_values() {
    let t = Table::new(cfg(
        10,
        None,
        &[
            (DataType::ServerId, 0),
            (DataType::ConnCnt, 0),
            (DataType::BytesInCnt, 0),
            (DataType::ConnRate, 1000),
        ],
    ));
    let e = t.get_or_create(k(1), 0).unwrap();
    assert_eq!(t.read(&e, DataType::ConnCnt, 0), Some(0));
    assert_eq!(t.add(&e, DataType::ConnCnt, 1, 0), Some(1));
    assert_eq!(t.add(&e, DataType::ConnCnt, 2, 0), Some(3));
    assert_eq!(t.read(&e, DataType::Gpc0, 0), None);
    assert_eq!(t.add(&e, DataType::Gpc0, 1, 0), None);
    // 32-bit counters wrap; byte counters are 64-bit.
    assert!(t.put(&e, DataType::ConnCnt, i64::from(u32::MAX), 0));
    assert_eq!(t.add(&e, DataType::ConnCnt, 1, 0), Some(0));
    assert_eq!(t.add(&e, DataType::BytesInCnt, 1 << 33, 0), Some(1 << 33));
    // server_id is signed.
    assert!(t.put(&e, DataType::ServerId, -3, 0));
    assert_eq!(t.read(&e, DataType::ServerId, 0), Some(-3));
    assert_eq!(t.add(&e, DataType::ConnRate, 1, 100), Some(1));
    assert_eq!(t.add(&e, DataType::ConnRate, 1, 200), Some(2));
    assert_eq!(t.read(&e, DataType::ConnRate, 500), Some(2));
    assert_eq!(t.take(&e, DataType::ConnCnt, 0), Some(0));
    assert_eq!(t.len(), 1);
    // The same key gives the same entry.
    assert!(Arc::ptr_eq(&e, &t.get_or_create(k(1), 0).unwrap()));
    assert!(Arc::ptr_eq(&e, &t.lookup(&k(1), 0).unwrap()));
    assert!(t.lookup(&k(2), 0).is_none());
}

#[test]
fn entries_expire_after_their_last_touch() {
    let t = Table::new(cfg(10, Some(1000), &[(DataType::Gpc0, 0)]));
    let e = t.get_or_create(k(1), 0).unwrap();
    t.get_or_create(k(2), 0).unwrap();
    drop(e);
    assert!(t.lookup(&k(1), 999).is_some());
    // An update is a touch: key 1 now expires at 1_500.
    let e = t.lookup(&k(1), 500).unwrap();
    t.add(&e, DataType::Gpc0, 1, 500);
    drop(e);
    assert!(t.lookup(&k(2), 1000).is_none());
    assert!(t.lookup(&k(1), 1499).is_some());
    assert!(t.lookup(&k(1), 1500).is_none());
    assert!(t.is_empty());
    // A key that expired comes back fresh.
    let e = t.get_or_create(k(1), 2000).unwrap();
    assert_eq!(t.read(&e, DataType::Gpc0, 2000), Some(0));
}

#[test]
fn purge_removes_expired_entries_only() {
    let t = Table::new(cfg(100, Some(1000), &[(DataType::Gpc0, 0)]));
    for i in 0..10 {
        t.get_or_create(k(i), u64::from(i) * 100).unwrap();
    }
    assert_eq!(t.purge(999), 0);
    // Keys 0..=4 were created at 0..=400: expired at 1_400.
    assert_eq!(t.purge(1400), 5);
    assert_eq!(t.len(), 5);
    assert_eq!(keys(&t, 1400), [5, 6, 7, 8, 9]);
    // Touching key 5 keeps it; a tracked (referenced) key 6 never expires.
    let e5 = t.lookup(&k(5), 1400).unwrap();
    t.touch(&e5, 1400);
    drop(e5);
    let e6 = t.lookup(&k(6), 1400).unwrap();
    // At 2_000, keys 7..=9 expired; key 5 (touched at 1_400) and key 6 (in use) stay.
    assert_eq!(t.purge(2000), 3);
    assert_eq!(keys(&t, 2000), [5, 6]);
    assert!(t.lookup(&k(6), 5000).is_some());
    // Released, it expires like the others.
    drop(e6);
    assert_eq!(t.purge(5000), 2);
    assert!(t.is_empty());
    // Without expire, nothing is ever purged.
    let t = Table::new(cfg(10, None, &[]));
    t.get_or_create(k(1), 0).unwrap();
    assert_eq!(t.purge(u64::MAX), 0);
    assert!(t.lookup(&k(1), u64::MAX).is_some());
}

#[test]
fn full_tables_evict_the_least_recently_used() {
    let t = Table::new(cfg(3, None, &[(DataType::Gpc0, 0)]));
    for i in 1..=3 {
        t.get_or_create(k(i), u64::from(i)).unwrap();
    }
    // Key 1 is used again (an update), so key 2 is now the least recently used.
    let e1 = t.lookup(&k(1), 4).unwrap();
    t.add(&e1, DataType::Gpc0, 1, 4);
    drop(e1);
    t.get_or_create(k(4), 5).unwrap();
    assert_eq!(keys(&t, 5), [1, 3, 4]);
    t.get_or_create(k(5), 6).unwrap();
    assert_eq!(keys(&t, 6), [1, 4, 5]);
    assert_eq!(t.len(), 3);
    // A looked-up (not updated) entry keeps its age: lookups are not touches.
    t.lookup(&k(1), 7).unwrap();
    t.get_or_create(k(6), 8).unwrap();
    assert_eq!(keys(&t, 8), [4, 5, 6]);
}

#[test]
fn entries_in_use_are_never_evicted() {
    let t = Table::new(cfg(2, None, &[]));
    let a = t.get_or_create(k(1), 0).unwrap();
    let b = t.get_or_create(k(2), 1).unwrap();
    assert!(t.get_or_create(k(3), 2).is_none());
    assert_eq!(t.len(), 2);
    drop(b);
    assert!(t.get_or_create(k(3), 3).is_some());
    assert_eq!(keys(&t, 3), [1, 3]);
    drop(a);
}

#[test]
fn nopurge_refuses_new_entries_when_full() {
    let mut c = cfg(2, Some(1000), &[]);
    c.nopurge = true;
    let t = Table::new(c);
    t.get_or_create(k(1), 0).unwrap();
    t.get_or_create(k(2), 0).unwrap();
    assert!(t.get_or_create(k(3), 10).is_none());
    assert!(t.get_or_create(k(1), 10).is_some());
    // Expiry still makes room.
    assert_eq!(t.purge(1000), 2);
    assert!(t.get_or_create(k(3), 1000).is_some());
}

#[test]
fn remove_clear_set_and_view() {
    let t = Table::new(cfg(
        10,
        Some(10_000),
        &[(DataType::Gpc0, 0), (DataType::Gpc0Rate, 1000)],
    ));
    t.set(k(7), &[(DataType::Gpc0, 5), (DataType::Gpc0Rate, 9)], 100)
        .unwrap();
    assert_eq!(
        t.set(k(7), &[(DataType::ConnCnt, 1)], 100),
        Err(SetError::NotStored(DataType::ConnCnt))
    );
    let view = t.entries(600);
    assert_eq!(view.len(), 1);
    assert_eq!(view[0].key, k(7));
    assert_eq!(view[0].trackers, 0);
    assert_eq!(view[0].expire_in, Some(9_500));
    let values: Vec<(DataType, u32, i64)> = view[0]
        .data
        .iter()
        .map(|(d, v)| (d.data, d.period_ms, *v))
        .collect();
    assert_eq!(
        values,
        [(DataType::Gpc0, 0, 5), (DataType::Gpc0Rate, 1000, 9)]
    );
    assert_eq!(t.header(), "# table: t, type: integer, size:10, used:1");
    assert_eq!(
        t.show_line(&view[0]),
        "key=7 use=0 exp=9500 gpc0=5 gpc0_rate(1000)=9"
    );
    t.get_or_create(k(8), 0).unwrap();
    let held = t.lookup(&k(8), 0).unwrap();
    held.add_tracker();
    assert_eq!(t.view(&held, 0).trackers, 1);
    assert!(!t.remove(&k(8)));
    assert!(t.remove(&k(7)));
    assert!(!t.remove(&k(7)));
    t.get_or_create(k(9), 0).unwrap();
    assert_eq!(t.clear(), 1);
    assert_eq!(keys(&t, 0), [8]);
    held.drop_tracker();
    held.drop_tracker();
    assert_eq!(held.trackers(), 0);
}

#[test]
fn sharded_tables_hold_exactly_size_entries() {
    let t = Table::new(cfg(4096, None, &[]));
    assert!(t.shards.len() > 1);
    for i in 0..10_000 {
        assert!(t.get_or_create(k(i), u64::from(i)).is_some());
        assert!(t.len() <= 4096);
    }
    assert_eq!(t.len(), 4096);
    assert_eq!(t.entries(0).len(), 4096);
    // The most recent key is there; the oldest ones were evicted.
    assert!(t.lookup(&k(9_999), 0).is_some());
    assert!(t.lookup(&k(0), 0).is_none());
}

#[test]
fn concurrent_updates_are_exact() {
    let t = Arc::new(Table::new(cfg(
        100_000,
        Some(60_000),
        &[(DataType::ConnCnt, 0), (DataType::ConnRate, 10_000)],
    )));
    let threads: Vec<_> = (0..4u32)
        .map(|n| {
            let t = Arc::clone(&t);
            std::thread::spawn(move || {
                for i in 0..20_000u32 {
                    // Everyone hits key 0; each thread also has its own keys.
                    for key in [0, 1 + n * 100_000 + i % 1000] {
                        let e = t.get_or_create(k(key), 1_000).unwrap();
                        t.add(&e, DataType::ConnCnt, 1, 1_000);
                        t.add(&e, DataType::ConnRate, 1, 1_000);
                    }
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    let e = t.lookup(&k(0), 1_000).unwrap();
    assert_eq!(t.read(&e, DataType::ConnCnt, 1_000), Some(80_000));
    assert_eq!(t.read(&e, DataType::ConnRate, 1_000), Some(80_000));
    assert_eq!(t.len(), 1 + 4 * 1000);
    let e = t.lookup(&k(1 + 100_000 + 7), 1_000).unwrap();
    assert_eq!(t.read(&e, DataType::ConnCnt, 1_000), Some(20));
}

#[test]
fn concurrent_inserts_respect_the_size() {
    let t = Arc::new(Table::new(cfg(1000, None, &[])));
    let threads: Vec<_> = (0..4u32)
        .map(|n| {
            let t = Arc::clone(&t);
            std::thread::spawn(move || {
                for i in 0..5_000u32 {
                    t.get_or_create(k(n * 10_000 + i), u64::from(i)).unwrap();
                    assert!(t.len() <= 1000);
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    assert_eq!(t.len(), 1000);
    assert_eq!(t.entries(0).len(), 1000);
}
