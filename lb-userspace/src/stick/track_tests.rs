use std::sync::Arc;

use super::*;
use crate::stick::table::tests::cfg;
use crate::stick::types::KeyType;

const ALL_CONN: &[(DataType, u32)] = &[
    (DataType::ConnCnt, 0),
    (DataType::ConnCur, 0),
    (DataType::ConnRate, 10_000),
    (DataType::SessCnt, 0),
    (DataType::SessRate, 10_000),
    (DataType::BytesInCnt, 0),
    (DataType::BytesInRate, 1_000),
    (DataType::BytesOutCnt, 0),
    (DataType::BytesOutRate, 1_000),
    (DataType::HttpReqCnt, 0),
    (DataType::HttpReqRate, 1_000),
    (DataType::HttpErrCnt, 0),
    (DataType::HttpErrRate, 1_000),
    (DataType::HttpFailCnt, 0),
    (DataType::HttpFailRate, 1_000),
    (DataType::Gpt0, 0),
];

fn tables() -> Arc<Tables> {
    let mut a = cfg(100, Some(5_000), ALL_CONN);
    a.name = "a".into();
    a.key = KeyType::Ip;
    let mut b = cfg(100, None, &[(DataType::ConnCnt, 0), (DataType::SessCnt, 0)]);
    b.name = "b".into();
    let mut tiny = cfg(1, None, &[]);
    tiny.name = "tiny".into();
    tiny.nopurge = true;
    Arc::new(Tables::from_cfgs([a, b, tiny]))
}

fn ip(text: &str) -> Sample<'static> {
    Sample::Ip(text.parse().unwrap())
}

fn read(tables: &Tables, table: &str, key: Key, data: DataType, now: u64) -> Option<i64> {
    let t = tables.get(table).unwrap();
    let e = t.lookup(&key, now)?;
    t.read(&e, data, now)
}

fn a_key() -> Key {
    Key::Ipv4([192, 0, 2, 1].into())
}

#[test]
fn tracking_counts_connections_and_sessions() {
    let tables = tables();
    let mut s = Tracking::new(Arc::clone(&tables));
    assert_eq!(
        s.track(0, "a", ip("192.0.2.1"), 1_000),
        TrackOutcome::Tracked
    );
    let r = |d| read(&tables, "a", a_key(), d, 1_000);
    assert_eq!(r(DataType::ConnCnt), Some(1));
    assert_eq!(r(DataType::ConnCur), Some(1));
    assert_eq!(r(DataType::ConnRate), Some(1));
    assert_eq!(r(DataType::SessCnt), Some(0));
    s.accept_session(1_000);
    s.accept_session(1_000);
    assert_eq!(r(DataType::SessCnt), Some(1));
    assert_eq!(r(DataType::SessRate), Some(1));
    // Tracked by a content rule, after the session started: no session counted.
    assert_eq!(
        s.track(1, "b", Sample::Int(9), 1_000),
        TrackOutcome::Tracked
    );
    assert_eq!(
        read(&tables, "b", Key::Int(9), DataType::SessCnt, 1_000),
        Some(0)
    );
    assert_eq!(
        read(&tables, "b", Key::Int(9), DataType::ConnCnt, 1_000),
        Some(1)
    );
    assert_eq!(s.get(0).unwrap().entry().trackers(), 1);
    assert_eq!(s.iter().count(), 2);
    // A second stream from the same address.
    let mut s2 = Tracking::new(Arc::clone(&tables));
    assert_eq!(
        s2.track(2, "a", ip("192.0.2.1"), 2_000),
        TrackOutcome::Tracked
    );
    assert_eq!(
        read(&tables, "a", a_key(), DataType::ConnCur, 2_000),
        Some(2)
    );
    assert_eq!(
        read(&tables, "a", a_key(), DataType::ConnCnt, 2_000),
        Some(2)
    );
    assert_eq!(s.get(0).unwrap().entry().trackers(), 2);
    // Ending releases conn_cur and restarts the expiry from the end.
    s.end(3_000);
    assert_eq!(
        read(&tables, "a", a_key(), DataType::ConnCur, 3_000),
        Some(1)
    );
    assert!(s.get(0).is_none());
    s2.end(3_000);
    drop(s2);
    assert_eq!(
        read(&tables, "a", a_key(), DataType::ConnCur, 3_000),
        Some(0)
    );
    assert_eq!(
        read(&tables, "a", a_key(), DataType::ConnCnt, 7_999),
        Some(2)
    );
    assert_eq!(read(&tables, "a", a_key(), DataType::ConnCnt, 8_000), None);
}

#[test]
fn only_the_first_tracking_of_a_counter_applies() {
    let tables = tables();
    let s = Tracking::new(Arc::clone(&tables));
    assert_eq!(s.track(0, "a", ip("192.0.2.1"), 0), TrackOutcome::Tracked);
    assert_eq!(
        s.track(0, "a", ip("192.0.2.2"), 0),
        TrackOutcome::AlreadyTracked
    );
    assert_eq!(
        s.track(0, "nope", ip("192.0.2.2"), 0),
        TrackOutcome::AlreadyTracked
    );
    assert_eq!(
        s.track(1, "nope", ip("192.0.2.2"), 0),
        TrackOutcome::UnknownTable
    );
    assert_eq!(s.track(1, "a", ip("2001:db8::1"), 0), TrackOutcome::NoKey);
    assert_eq!(
        s.track(3, "a", ip("192.0.2.2"), 0),
        TrackOutcome::NoSuchCounter
    );
    assert!(
        tables
            .get("a")
            .unwrap()
            .lookup(&Key::Ipv4([192, 0, 2, 2].into()), 0)
            .is_none()
    );
    // A full nopurge table refuses; the counter stays free.
    let other = Tracking::new(Arc::clone(&tables));
    assert_eq!(
        other.track(0, "tiny", Sample::Int(1), 0),
        TrackOutcome::Tracked
    );
    assert_eq!(
        s.track(1, "tiny", Sample::Int(2), 0),
        TrackOutcome::TableFull
    );
    assert_eq!(s.track(1, "tiny", Sample::Int(1), 0), TrackOutcome::Tracked);
    assert_eq!(s.get(1).unwrap().entry().trackers(), 2);
}

#[test]
fn traffic_counters_go_to_every_tracked_entry() {
    let tables = tables();
    let s = Tracking::new(Arc::clone(&tables));
    assert_eq!(s.track(0, "a", ip("192.0.2.1"), 0), TrackOutcome::Tracked);
    assert_eq!(s.track(1, "a", ip("192.0.2.9"), 0), TrackOutcome::Tracked);
    s.add_bytes_in(1500, 100);
    s.add_bytes_in(0, 100);
    s.add_bytes_out(700, 100);
    s.inc_http_req(100);
    s.inc_http_req(200);
    s.inc_http_err(200);
    s.inc_http_fail(200);
    for key in [a_key(), Key::Ipv4([192, 0, 2, 9].into())] {
        let r = |d| read(&tables, "a", key.clone(), d, 500);
        assert_eq!(r(DataType::BytesInCnt), Some(1500));
        assert_eq!(r(DataType::BytesInRate), Some(1500));
        assert_eq!(r(DataType::BytesOutCnt), Some(700));
        assert_eq!(r(DataType::BytesOutRate), Some(700));
        assert_eq!(r(DataType::HttpReqCnt), Some(2));
        assert_eq!(r(DataType::HttpReqRate), Some(2));
        assert_eq!(r(DataType::HttpErrCnt), Some(1));
        assert_eq!(r(DataType::HttpErrRate), Some(1));
        assert_eq!(r(DataType::HttpFailCnt), Some(1));
        assert_eq!(r(DataType::HttpFailRate), Some(1));
    }
    assert!(s.set_gpt0(0, 42, 100));
    assert!(!s.set_gpt0(2, 42, 100));
    assert_eq!(read(&tables, "a", a_key(), DataType::Gpt0, 100), Some(42));
    // Nothing stores gpc0 in "a": incrementing reports 0.
    assert_eq!(s.inc_gpc(0, Gpc::Gpc0, 100), Some(0));
    assert_eq!(s.inc_gpc(2, Gpc::Gpc0, 100), None);
}

#[test]
fn inc_gpc_reports_like_haproxy() {
    let both = Table::new(cfg(
        10,
        None,
        &[(DataType::Gpc0, 0), (DataType::Gpc0Rate, 1000)],
    ));
    let rate_only = Table::new(cfg(10, None, &[(DataType::Gpc1Rate, 1000)]));
    let e = both.get_or_create(Key::Int(1), 0).unwrap();
    assert_eq!(inc_gpc(&both, &e, Gpc::Gpc0, 0), 1);
    assert_eq!(inc_gpc(&both, &e, Gpc::Gpc0, 10), 2);
    assert_eq!(both.read(&e, DataType::Gpc0Rate, 10), Some(2));
    assert_eq!(inc_gpc(&both, &e, Gpc::Gpc1, 10), 0);
    let e = rate_only.get_or_create(Key::Int(1), 0).unwrap();
    assert_eq!(inc_gpc(&rate_only, &e, Gpc::Gpc1, 0), 1);
    assert_eq!(inc_gpc(&rate_only, &e, Gpc::Gpc1, 0), 2);
}

#[test]
fn concurrent_streams_count_exactly() {
    let tables = tables();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let tables = Arc::clone(&tables);
            std::thread::spawn(move || {
                for i in 0..2_000u64 {
                    let mut s = Tracking::new(Arc::clone(&tables));
                    assert_eq!(s.track(0, "a", ip("192.0.2.1"), i), TrackOutcome::Tracked);
                    s.accept_session(i);
                    s.add_bytes_in(10, i);
                    s.end(i);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let r = |d| read(&tables, "a", a_key(), d, 2_000);
    assert_eq!(r(DataType::ConnCnt), Some(8_000));
    assert_eq!(r(DataType::SessCnt), Some(8_000));
    assert_eq!(r(DataType::ConnCur), Some(0));
    assert_eq!(r(DataType::BytesInCnt), Some(80_000));
    // Every event falls in the first 10 s period: the rate is the count.
    assert_eq!(r(DataType::ConnRate), Some(8_000));
    let t = tables.get("a").unwrap();
    assert_eq!(t.lookup(&a_key(), 2_000).unwrap().trackers(), 0);
}

#[test]
fn dropping_a_stream_ends_its_tracking() {
    let tables = tables();
    let s = Tracking::new(Arc::clone(&tables));
    assert_eq!(s.track(0, "a", ip("192.0.2.1"), 0), TrackOutcome::Tracked);
    let entry = Arc::clone(s.get(0).unwrap().entry());
    drop(s);
    assert_eq!(entry.trackers(), 0);
    let t = tables.get("a").unwrap();
    assert_eq!(t.read(&entry, DataType::ConnCur, 0), Some(0));
    // The end touched the entry with the current time.
    assert!(entry.touched() <= crate::clock::now_ms());
    // A default tracking has no table at all.
    let empty = Tracking::default();
    assert_eq!(
        empty.track(0, "a", ip("192.0.2.1"), 0),
        TrackOutcome::UnknownTable
    );
    assert!(empty.tables().is_empty());
}
