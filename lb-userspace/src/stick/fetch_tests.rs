use std::sync::Arc;

use super::*;
use crate::sample::SampleExpr;
use crate::sample::parse::split_chain;
use crate::stick::table::tests::cfg;
use crate::stick::types::KeyType;
use crate::stick::{Key, Tables, TrackOutcome, Tracking};

fn fetch(text: &str) -> Result<Option<StickFetch>, SampleError> {
    StickFetch::parse(&split_chain(text).unwrap()[0])
}

fn parsed(text: &str) -> StickFetch {
    fetch(text)
        .unwrap()
        .unwrap_or_else(|| panic!("{text} is a stick fetch"))
}

/// Tables "fe" (every data type but gpc1), "other" (gpc0 only) and "bare" (nothing).
fn tables() -> Arc<Tables> {
    let all: Vec<(DataType, u32)> = DataType::ALL
        .into_iter()
        .filter(|d| !matches!(d, DataType::Gpc1 | DataType::Gpc1Rate))
        .map(|d| (d, if d.is_rate() { 1000 } else { 0 }))
        .collect();
    let mut fe = cfg(100, None, &all);
    fe.name = "fe".into();
    fe.key = KeyType::Ip;
    let mut other = cfg(100, None, &[(DataType::Gpc0, 0)]);
    other.name = "other".into();
    other.key = KeyType::Ip;
    let mut bare = cfg(100, None, &[]);
    bare.name = "bare".into();
    bare.key = KeyType::Ip;
    Arc::new(Tables::from_cfgs([fe, other, bare]))
}

fn client() -> Key {
    Key::Ipv4([192, 0, 2, 7].into())
}

fn ctx<'a>(tracking: &'a Tracking) -> StreamCtx<'a> {
    let mut ctx = StreamCtx::new(
        "192.0.2.7:40000".parse().unwrap(),
        "127.0.0.1:80".parse().unwrap(),
        "fe",
    );
    ctx.stick = Some(tracking);
    ctx
}

fn run(text: &str, tracking: &Tracking, now: u64) -> Option<Sample<'static>> {
    parsed(text).eval_at(&ctx(tracking), now)
}

#[test]
fn parsing_names_and_arguments() {
    let f = parsed("sc0_conn_cnt");
    assert_eq!(
        (f.source, f.op, f.table),
        (Source::Counter(0), Op::Read(DataType::ConnCnt), None)
    );
    let f = parsed("sc1_get_gpc0(t)");
    assert_eq!(
        (f.source, f.op, f.table.as_deref()),
        (Source::Counter(1), Op::Read(DataType::Gpc0), Some("t"))
    );
    let f = parsed("sc_conn_rate(2,p/t)");
    assert_eq!(
        (f.source, f.op, f.table.as_deref()),
        (
            Source::Counter(2),
            Op::Read(DataType::ConnRate),
            Some("p/t")
        )
    );
    assert_eq!(parsed("sc_http_req_rate(0)").source, Source::Counter(0));
    assert_eq!(parsed("src_conn_rate").source, Source::Src);
    assert_eq!(
        parsed("src_kbytes_in(t)").op,
        Op::KBytes(DataType::BytesInCnt)
    );
    assert_eq!(parsed("src_updt_conn_cnt").op, Op::UpdtConnCnt);
    assert_eq!(parsed("sc2_clr_gpc1").op, Op::Clr(Gpc::Gpc1));
    assert_eq!(parsed("sc_tracked(1)").out_type(), SampleType::Bool);
    assert_eq!(parsed("sc0_trackers").out_type(), SampleType::Int);
    // Not stick fetches: the sample layer reports them as unknown.
    for name in [
        "sc3_conn_cnt",
        "sc0_nope",
        "sc0_bytes_in_cnt",
        "src_port",
        "src_is_local",
        "src_tracked",
        "src_trackers",
        "sc0_updt_conn_cnt",
        "scheme",
        "sc",
        "src",
    ] {
        assert_eq!(fetch(name).unwrap(), None, "{name}");
    }
    for bad in [
        "sc_conn_cnt",
        "sc_conn_cnt(3)",
        "sc_conn_cnt(x)",
        "sc0_conn_cnt(a,b)",
        "sc_conn_cnt(0,a,b)",
        "src_conn_cnt(a,b)",
        "src_conn_cnt('')",
    ] {
        assert!(
            matches!(fetch(bad), Err(SampleError::BadArgs { .. })),
            "{bad}"
        );
    }
}

#[test]
fn counters_read_the_tracked_entry() {
    let tables = tables();
    let s = Tracking::new(Arc::clone(&tables));
    assert_eq!(run("sc0_conn_cnt", &s, 0), None);
    assert_eq!(run("sc_tracked(0)", &s, 0), Some(Sample::Bool(false)));
    assert_eq!(
        s.track(0, "fe", Sample::Ip("192.0.2.7".parse().unwrap()), 1_000),
        TrackOutcome::Tracked
    );
    s.accept_session(1_000);
    s.add_bytes_in(5_000, 1_000);
    s.add_bytes_out(2_048, 1_000);
    s.inc_http_req(1_000);
    s.inc_http_err(1_000);
    s.inc_http_fail(1_000);
    assert!(s.set_gpt0(0, 9, 1_000));
    let expected: &[(&str, i64)] = &[
        ("conn_cnt", 1),
        ("conn_cur", 1),
        ("conn_rate", 1),
        ("sess_cnt", 1),
        ("sess_rate", 1),
        ("http_req_cnt", 1),
        ("http_req_rate", 1),
        ("http_err_cnt", 1),
        ("http_err_rate", 1),
        ("http_fail_cnt", 1),
        ("http_fail_rate", 1),
        ("bytes_in_rate", 5_000),
        ("bytes_out_rate", 2_048),
        ("kbytes_in", 4),
        ("kbytes_out", 2),
        ("get_gpt0", 9),
        ("get_gpc0", 0),
        ("gpc0_rate", 0),
        ("trackers", 1),
    ];
    for (suffix, value) in expected {
        for name in [format!("sc0_{suffix}"), format!("sc_{suffix}(0)")] {
            assert_eq!(run(&name, &s, 1_500), Some(Sample::Int(*value)), "{name}");
        }
    }
    assert_eq!(run("sc0_tracked", &s, 0), Some(Sample::Bool(true)));
    // Not stored: no sample.
    assert_eq!(run("sc0_get_gpc1", &s, 1_500), None);
    assert_eq!(run("sc0_gpc1_rate", &s, 1_500), None);
    // Other counters track nothing.
    assert_eq!(run("sc1_conn_cnt", &s, 1_500), None);
    assert_eq!(run("sc_trackers(2)", &s, 1_500), None);
    // Rates slide with time: at 2_500, remain = 1_000 + 1_000 - 2_500 < 0 -> 500,
    // past = 5_000: 5_000 * 500 / 1_000 = 2_500.
    assert_eq!(
        run("sc0_bytes_in_rate", &s, 2_500),
        Some(Sample::Int(2_500))
    );
}

#[test]
fn counters_can_look_their_key_up_in_another_table() {
    let tables = tables();
    let s = Tracking::new(Arc::clone(&tables));
    let _ = s.track(1, "fe", Sample::Ip("192.0.2.7".parse().unwrap()), 0);
    assert_eq!(run("sc1_get_gpc0(other)", &s, 0), Some(Sample::Int(0)));
    assert_eq!(run("sc1_inc_gpc0(other)", &s, 0), Some(Sample::Int(0)));
    // sc_inc_gpc0 with a table never creates the entry.
    assert!(tables.get("other").unwrap().lookup(&client(), 0).is_none());
    let other = tables.get("other").unwrap();
    let e = other.get_or_create(client(), 0).unwrap();
    other.add(&e, DataType::Gpc0, 5, 0);
    assert_eq!(run("sc1_get_gpc0(other)", &s, 0), Some(Sample::Int(5)));
    assert_eq!(run("sc_inc_gpc0(1,other)", &s, 0), Some(Sample::Int(6)));
    assert_eq!(run("sc_get_gpc0(1)", &s, 0), Some(Sample::Int(0)));
    assert_eq!(run("sc1_conn_cnt(other)", &s, 0), None);
    assert_eq!(run("sc1_conn_cnt(nope)", &s, 0), None);
    assert_eq!(run("sc1_tracked(nope)", &s, 0), Some(Sample::Bool(true)));
}

#[test]
fn gpc_increments_and_clears() {
    let tables = tables();
    let s = Tracking::new(Arc::clone(&tables));
    let _ = s.track(0, "fe", Sample::Ip("192.0.2.7".parse().unwrap()), 0);
    assert_eq!(run("sc0_inc_gpc0", &s, 0), Some(Sample::Int(1)));
    assert_eq!(run("sc0_inc_gpc0", &s, 10), Some(Sample::Int(2)));
    assert_eq!(run("sc0_gpc0_rate", &s, 10), Some(Sample::Int(2)));
    assert_eq!(run("sc0_clr_gpc0", &s, 10), Some(Sample::Int(2)));
    assert_eq!(run("sc0_get_gpc0", &s, 10), Some(Sample::Int(0)));
    // gpc1 is not stored: incrementing reports 0, clearing gives no sample.
    assert_eq!(run("sc0_inc_gpc1", &s, 10), Some(Sample::Int(0)));
    assert_eq!(run("sc0_clr_gpc1", &s, 10), None);
}

#[test]
fn src_fetches_use_the_client_address() {
    let tables = tables();
    let s = Tracking::new(Arc::clone(&tables));
    // No entry yet: reads give 0 and create nothing.
    assert_eq!(run("src_conn_cnt", &s, 0), Some(Sample::Int(0)));
    assert_eq!(run("src_get_gpc1", &s, 0), Some(Sample::Int(0)));
    assert!(tables.get("fe").unwrap().is_empty());
    // Incrementing creates the entry, in the current proxy's table by default.
    assert_eq!(run("src_inc_gpc0", &s, 0), Some(Sample::Int(1)));
    assert_eq!(run("src_inc_gpc0(fe)", &s, 0), Some(Sample::Int(2)));
    assert_eq!(run("src_get_gpc0", &s, 0), Some(Sample::Int(2)));
    assert_eq!(run("src_clr_gpc0", &s, 0), Some(Sample::Int(2)));
    assert_eq!(run("src_get_gpc0", &s, 0), Some(Sample::Int(0)));
    assert_eq!(run("src_updt_conn_cnt", &s, 0), Some(Sample::Int(1)));
    assert_eq!(run("src_updt_conn_cnt", &s, 0), Some(Sample::Int(2)));
    assert_eq!(run("src_conn_cnt", &s, 0), Some(Sample::Int(2)));
    assert_eq!(run("src_get_gpc1", &s, 0), None);
    // Another table, explicitly; one that stores nothing.
    assert_eq!(run("src_inc_gpc0(other)", &s, 0), Some(Sample::Int(1)));
    assert_eq!(run("src_get_gpc0(other)", &s, 0), Some(Sample::Int(1)));
    assert_eq!(run("src_updt_conn_cnt(bare)", &s, 0), None);
    assert_eq!(run("src_clr_gpc0(bare)", &s, 0), None);
    assert_eq!(run("src_conn_cnt(nope)", &s, 0), None);
    // The backend's table once a backend with one is chosen.
    let mut c = ctx(&s);
    c.be_name = Some("other");
    assert_eq!(parsed("src_get_gpc0").eval_at(&c, 0), Some(Sample::Int(1)));
    // An IPv6 client has no key in an `ip` table.
    c.src = "[2001:db8::7]:1".parse().unwrap();
    assert_eq!(parsed("src_get_gpc0").eval_at(&c, 0), None);
    // Without tracking there is nothing to read.
    let plain = StreamCtx::new(c.src, c.dst, "fe");
    assert_eq!(parsed("src_conn_cnt").eval_at(&plain, 0), None);
    assert_eq!(parsed("sc_tracked(0)").eval_at(&plain, 0), None);
}

#[test]
fn sample_expressions_reach_stick_fetches() {
    let tables = tables();
    let s = Tracking::new(Arc::clone(&tables));
    let _ = s.track(
        0,
        "fe",
        Sample::Ip("192.0.2.7".parse().unwrap()),
        crate::clock::now_ms(),
    );
    let c = ctx(&s);
    let eval = |text: &str| {
        SampleExpr::parse(text)
            .unwrap()
            .eval(&c)
            .map(Sample::into_owned)
    };
    assert_eq!(eval("sc0_conn_cnt"), Some(Sample::Int(1)));
    assert_eq!(eval("sc_conn_cur(0),add(10)"), Some(Sample::Int(11)));
    assert_eq!(eval("src_conn_cnt"), Some(Sample::Int(1)));
    assert_eq!(eval("sc0_tracked"), Some(Sample::Bool(true)));
    assert_eq!(
        SampleExpr::parse("sc0_tracked").unwrap().out_type(),
        SampleType::Bool
    );
    assert!(matches!(
        SampleExpr::parse("sc_conn_cnt(7)"),
        Err(SampleError::BadArgs { .. })
    ));
    assert!(matches!(
        SampleExpr::parse("sc0_nothing"),
        Err(SampleError::UnknownFetch(_))
    ));
}

#[test]
fn a_rate_limit_condition_sees_every_worker() {
    use crate::acl::{AclSet, Condition};
    let words: Vec<String> = "if { sc0_conn_rate gt 8 }"
        .split(' ')
        .map(str::to_owned)
        .collect();
    let over = Condition::parse(&words, &AclSet::default()).unwrap();
    // Conditions read the process clock: a one-minute period keeps the test exact.
    let mut t = cfg(100, None, &[(DataType::ConnRate, 60_000)]);
    t.name = "fe".into();
    t.key = KeyType::Ip;
    let tables = Arc::new(Tables::from_cfgs([t]));
    let connect = |tables: &Arc<Tables>| {
        let s = Tracking::new(Arc::clone(tables));
        let key = Sample::Ip("192.0.2.7".parse().unwrap());
        assert_eq!(
            s.track(0, "fe", key, crate::clock::now_ms()),
            TrackOutcome::Tracked
        );
        s
    };
    // Four workers accept two connections each from one client.
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..2 {
                    let s = connect(&tables);
                    assert!(!over.eval(&ctx(&s)));
                }
            });
        }
    });
    // The ninth connection is over the limit, whichever worker accepts it.
    let s = connect(&tables);
    assert_eq!(parsed("sc0_conn_rate").eval(&ctx(&s)), Some(Sample::Int(9)));
    assert!(over.eval(&ctx(&s)));
}
