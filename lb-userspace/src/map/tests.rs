//! Map lookups per match kind, registry behaviour and run-time updates.

use std::borrow::Cow;
use std::sync::Arc;

use super::*;
use crate::acl::pattern::MatchMethod;
use crate::sample::Sample;

fn map_ref(text: &str) -> Arc<PatRef> {
    PatRef::new("test.map", RefKind::Map, file::parse_map(text))
}

fn spec(method: MatchMethod, output: OutputType) -> IndexSpec {
    IndexSpec {
        method,
        icase: false,
        output: Some(output),
    }
}

fn get(index: &Index, input: Sample<'_>) -> Option<MapValue> {
    index.lookup(input).and_then(|f| f.value)
}

fn s(text: &str) -> Sample<'_> {
    Sample::Str(Cow::Borrowed(text))
}

fn vs(text: &str) -> Option<MapValue> {
    Some(MapValue::Str(text.into()))
}

#[test]
fn str_maps_first_entry_wins() {
    let r = map_ref("a.com be1\nb.com be2\na.com be3\n");
    let idx = r.index(spec(MatchMethod::Str, OutputType::Str)).unwrap();
    assert_eq!(get(&idx, s("a.com")), vs("be1"));
    assert_eq!(get(&idx, s("b.com")), vs("be2"));
    assert_eq!(get(&idx, s("A.com")), None);
    assert_eq!(idx.len(), 3);
}

#[test]
fn beg_is_longest_prefix() {
    let r = map_ref("/ short\n/api api\n/api/v2 v2\n");
    let idx = r.index(spec(MatchMethod::Beg, OutputType::Str)).unwrap();
    assert_eq!(get(&idx, s("/api/v2/x")), vs("v2"));
    assert_eq!(get(&idx, s("/api/v1")), vs("api"));
    assert_eq!(get(&idx, s("/other")), vs("short"));
    assert_eq!(get(&idx, s("x")), None);
}

#[test]
fn end_sub_dom_reg_are_first_in_file_order() {
    let r = map_ref(".com generic\n.example.com specific\n");
    let end = r.index(spec(MatchMethod::End, OutputType::Str)).unwrap();
    assert_eq!(get(&end, s("www.example.com")), vs("generic"));
    assert_eq!(get(&end, s("www.example.org")), None);
    let r = map_ref("example.com ex\nwww x\n");
    let dom = r.index(spec(MatchMethod::Dom, OutputType::Str)).unwrap();
    assert_eq!(get(&dom, s("www.example.com")), vs("ex"));
    assert_eq!(get(&dom, s("www.myexample.com")), vs("x"));
    assert_eq!(get(&dom, s("web.foo.org")), None);
    let r = map_ref("b 1\na 2\n");
    let sub = r.index(spec(MatchMethod::Sub, OutputType::Int)).unwrap();
    assert_eq!(get(&sub, s("xaxbx")), Some(MapValue::Int(1)));
    assert_eq!(get(&sub, s("xax")), Some(MapValue::Int(2)));
    let r = map_ref("^/img img\n\\.png$ png\n");
    let reg = r.index(spec(MatchMethod::Reg, OutputType::Str)).unwrap();
    assert_eq!(get(&reg, s("/img/a.png")), vs("img"));
    assert_eq!(get(&reg, s("/b/a.png")), vs("png"));
    let r = map_ref("/static/ static\n");
    let dir = r.index(spec(MatchMethod::Dir, OutputType::Str)).unwrap();
    assert_eq!(get(&dir, s("/a/static/b")), vs("static"));
}

#[test]
fn regm_expands_captures() {
    let r = map_ref("^/u/([a-z]+)/([0-9]+) user-\\1-\\2\n");
    let idx = r.index(spec(MatchMethod::Regm, OutputType::Str)).unwrap();
    assert_eq!(get(&idx, s("/u/bob/42/x")), vs("user-bob-42"));
    assert_eq!(get(&idx, s("/v/bob/42")), None);
}

#[test]
fn ip_maps_longest_prefix() {
    let r = map_ref("10.0.0.0/8 net8\n10.1.0.0/16 net16\n2001:db8::/32 v6\n0.0.0.0/0 any4\n");
    let idx = r.index(spec(MatchMethod::Ip, OutputType::Str)).unwrap();
    let ip = |t: &str| Sample::Ip(t.parse().unwrap());
    assert_eq!(get(&idx, ip("10.1.2.3")), vs("net16"));
    assert_eq!(get(&idx, ip("10.2.2.3")), vs("net8"));
    assert_eq!(get(&idx, ip("192.0.2.1")), vs("any4"));
    assert_eq!(get(&idx, ip("2001:db8::9")), vs("v6"));
    assert_eq!(get(&idx, ip("::ffff:10.1.0.1")), vs("net16"));
    assert_eq!(get(&idx, ip("2001:db9::9")), None);
    assert_eq!(get(&idx, s("10.1.0.1")), vs("net16"));
}

#[test]
fn int_maps_and_typed_outputs() {
    let r = map_ref("1 10.0.0.1\n2:5 ::1\n");
    let idx = r.index(spec(MatchMethod::Int, OutputType::Ip)).unwrap();
    assert_eq!(
        get(&idx, Sample::Int(1)),
        Some(MapValue::Ip("10.0.0.1".parse().unwrap()))
    );
    assert_eq!(
        get(&idx, Sample::Int(4)),
        Some(MapValue::Ip("::1".parse().unwrap()))
    );
    assert_eq!(get(&idx, Sample::Int(6)), None);
    // The same reference cannot be compiled with integer values.
    let err = r
        .index(spec(MatchMethod::Int, OutputType::Int))
        .unwrap_err();
    assert!(
        matches!(&err, MapError::BadValue { line: Some(1), .. }),
        "{err}"
    );
    assert!(err.to_string().contains("line 1"), "{err}");
    let err = map_ref("x 1\n")
        .index(spec(MatchMethod::Int, OutputType::Str))
        .unwrap_err();
    assert!(matches!(err, MapError::BadKey { .. }), "{err}");
}

#[test]
fn indexes_are_shared_per_spec() {
    let r = map_ref("a 1\n");
    let a = r.index(spec(MatchMethod::Str, OutputType::Str)).unwrap();
    let b = r.index(spec(MatchMethod::Str, OutputType::Str)).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    let c = r.index(spec(MatchMethod::Beg, OutputType::Str)).unwrap();
    assert!(!Arc::ptr_eq(&a, &c));
    assert!(Arc::ptr_eq(a.pat_ref().unwrap(), &r));
}

#[test]
fn runtime_updates_reach_every_index() {
    let r = map_ref("a.com be1\nb.com be2\n");
    let exact = r.index(spec(MatchMethod::Str, OutputType::Str)).unwrap();
    let ends = r.index(spec(MatchMethod::End, OutputType::Str)).unwrap();
    let id = r.add("c.com", Some("be3")).unwrap();
    assert_eq!(get(&exact, s("c.com")), vs("be3"));
    assert_eq!(get(&ends, s("www.c.com")), vs("be3"));
    assert_eq!(r.len(), 3);
    // A duplicate key added later does not shadow the first one.
    r.add("a.com", Some("late")).unwrap();
    assert_eq!(get(&exact, s("a.com")), vs("be1"));
    assert_eq!(r.set("a.com", "new").unwrap(), 2);
    assert_eq!(get(&exact, s("a.com")), vs("new"));
    assert_eq!(r.del("a.com"), 2);
    assert_eq!(get(&exact, s("a.com")), None);
    assert_eq!(get(&ends, s("a.com")), None);
    assert_eq!(r.del("a.com"), 0);
    assert!(r.set_id(id, "be33").unwrap());
    assert_eq!(get(&ends, s("x.c.com")), vs("be33"));
    assert!(r.del_id(id));
    assert!(!r.del_id(id));
    assert!(!r.set_id(id, "x").unwrap());
    let listed: Vec<(String, Option<String>)> =
        r.entries().into_iter().map(|e| (e.key, e.value)).collect();
    assert_eq!(listed, vec![("b.com".into(), Some("be2".into()))]);
    r.clear();
    assert!(r.is_empty());
    assert_eq!(get(&exact, s("b.com")), None);
    assert_eq!(exact.len(), 0);
    r.add("z", Some("1")).unwrap();
    assert_eq!(get(&exact, s("z")), vs("1"));
}

#[test]
fn invalid_updates_change_nothing() {
    let r = map_ref("10.0.0.0/8 1\n");
    let ints = r.index(spec(MatchMethod::Ip, OutputType::Int)).unwrap();
    assert!(matches!(
        r.add("10.1.0.0/16", Some("x")),
        Err(MapError::BadValue { line: None, .. })
    ));
    assert!(matches!(
        r.add("nope", Some("2")),
        Err(MapError::BadKey { .. })
    ));
    assert!(r.add("10.1.0.0/16", None).is_err());
    assert_eq!(r.len(), 1);
    assert!(r.set("10.0.0.0/8", "abc").is_err());
    let ip = Sample::Ip("10.1.1.1".parse().unwrap());
    assert_eq!(get(&ints, ip), Some(MapValue::Int(1)));
    let pats = PatRef::new("p", RefKind::Patterns, file::parse_patterns("a\n"));
    assert!(matches!(
        pats.add("b", Some("v")),
        Err(MapError::UnexpectedValue(_))
    ));
    assert!(pats.set("a", "v").is_err());
    assert!(pats.add("b", None).is_ok());
}

#[test]
fn updates_are_seen_by_other_threads() {
    let r = map_ref("");
    let idx = r.index(spec(MatchMethod::Str, OutputType::Str)).unwrap();
    let reader = {
        let idx = Arc::clone(&idx);
        std::thread::spawn(move || {
            for _ in 0..100_000 {
                if get(&idx, s("k")).is_some() {
                    return true;
                }
                std::thread::yield_now();
            }
            false
        })
    };
    r.add("k", Some("v")).unwrap();
    assert!(reader.join().unwrap());
}

#[test]
fn registry_loads_files_once_and_checks_columns() {
    let dir = std::env::temp_dir().join(format!("lb-map-reg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("hosts.map");
    std::fs::write(&path, "a.com be1\n").unwrap();
    let name = path.display().to_string();
    let reg = Registry::default();
    let r1 = reg.load(&name, RefKind::Map).unwrap();
    let idx = r1.index(spec(MatchMethod::Str, OutputType::Str)).unwrap();
    drop(r1);
    // Still loaded (the index keeps it alive): the file is not read again.
    std::fs::write(&path, "a.com changed\n").unwrap();
    let r2 = reg.load(&name, RefKind::Map).unwrap();
    assert_eq!(get(&idx, s("a.com")), vs("be1"));
    assert!(Arc::ptr_eq(&r2, idx.pat_ref().unwrap()));
    assert!(matches!(
        reg.load(&name, RefKind::Patterns),
        Err(MapError::KindConflict {
            used_as_map: true,
            ..
        })
    ));
    assert_eq!(reg.list().len(), 1);
    assert_eq!(reg.get(&name).unwrap().name(), name);
    // Once nothing uses it, it goes away and the next load reads the file again.
    drop((idx, r2));
    assert!(reg.get(&name).is_none());
    assert!(reg.list().is_empty());
    let r3 = reg.load(&name, RefKind::Map).unwrap();
    assert_eq!(r3.entries()[0].value.as_deref(), Some("changed"));
    assert!(matches!(
        reg.load("/dev/zero", RefKind::Map),
        Err(MapError::Io { .. })
    ));
    let missing = dir.join("missing.map").display().to_string();
    assert!(matches!(
        reg.load(&missing, RefKind::Map),
        Err(MapError::Io { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn registry_from_text() {
    let reg = Registry::default();
    let r = reg
        .load_text("virtual", RefKind::Patterns, "a\nb\n")
        .unwrap();
    let again = reg.load_text("virtual", RefKind::Patterns, "zzz").unwrap();
    assert!(Arc::ptr_eq(&r, &again));
    assert_eq!(r.len(), 2);
    assert!(
        reg.load_text("virtual", RefKind::Map, "")
            .unwrap_err()
            .to_string()
            .contains("one column")
    );
}
