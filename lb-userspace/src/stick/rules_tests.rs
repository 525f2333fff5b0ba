use super::*;
use crate::acl::AclSet;
use crate::stick::table::tests::cfg;
use crate::stick::types::KeyType;

fn rule(kind: StickKind, expr: &str, table: &str, cond: Option<&str>) -> StickRule {
    let cond = cond.map(|c| {
        let words: Vec<String> = c.split_whitespace().map(str::to_owned).collect();
        Condition::parse(&words, &AclSet::default()).unwrap()
    });
    StickRule {
        kind,
        expr: SampleExpr::parse(expr).unwrap(),
        table: table.into(),
        cond,
        location: Location::default(),
    }
}

fn tables(names: &[&str]) -> Tables {
    Tables::from_cfgs(names.iter().map(|name| {
        let mut c = cfg(100, Some(1_000), &[(DataType::ServerId, 0)]);
        c.name = (*name).into();
        c.key = KeyType::Ip;
        c
    }))
}

fn ctx(src: &str) -> StreamCtx<'static> {
    StreamCtx::new(
        format!("{src}:5000").parse().unwrap(),
        "127.0.0.1:80".parse().unwrap(),
        "fe",
    )
}

fn server_of(tables: &Tables, table: &str, ip: &str, now: u64) -> Option<i64> {
    let t = tables.get(table).unwrap();
    let key = t.key_of(crate::sample::Sample::Ip(ip.parse().unwrap()))?;
    let e = t.lookup(&key, now)?;
    t.read(&e, DataType::ServerId, now)
}

#[test]
fn stick_on_learns_then_sticks() {
    let tables = tables(&["be"]);
    let rules = [rule(StickKind::On, "src", "be", None)];
    let c = ctx("10.0.0.1");
    let first = evaluate(&rules, &tables, &c, 0, |_| true);
    assert_eq!(first.server(), None);
    assert!(first.has_stores());
    assert_eq!(first.store(2, 10), 1);
    assert_eq!(server_of(&tables, "be", "10.0.0.1", 10), Some(2));
    // The next connection from that client goes to server 2 while it is usable.
    let next = evaluate(&rules, &tables, &c, 20, |id| id == 2);
    assert_eq!(next.server(), Some(2));
    assert_eq!(evaluate(&rules, &tables, &c, 20, |_| false).server(), None);
    // Another client is unknown.
    assert_eq!(
        lookup_server(&rules, &tables, &ctx("10.0.0.2"), 20, |_| true),
        None
    );
    // Storing again overwrites with the server actually used.
    assert_eq!(next.store(3, 30), 1);
    assert_eq!(server_of(&tables, "be", "10.0.0.1", 30), Some(3));
}

#[test]
fn match_and_store_request_do_one_half_each() {
    let tables = tables(&["be"]);
    let c = ctx("10.0.0.1");
    let store_only = [rule(StickKind::StoreRequest, "src", "be", None)];
    let match_only = [rule(StickKind::Match, "src", "be", None)];
    assert_eq!(store(&match_only, &tables, &c, 4, 0), 0);
    assert_eq!(server_of(&tables, "be", "10.0.0.1", 0), None);
    assert_eq!(store(&store_only, &tables, &c, 4, 0), 1);
    assert_eq!(lookup_server(&store_only, &tables, &c, 0, |_| true), None);
    assert_eq!(
        lookup_server(&match_only, &tables, &c, 0, |_| true),
        Some(4)
    );
}

#[test]
fn only_the_first_store_of_a_table_applies() {
    let tables = tables(&["be"]);
    let fixed = "ipv4(10.9.9.9)";
    // Learn server 3 for the fixed key.
    assert_eq!(
        store(
            &[rule(StickKind::On, fixed, "be", None)],
            &tables,
            &ctx("1.1.1.1"),
            3,
            0
        ),
        1
    );
    let rules = [
        rule(StickKind::StoreRequest, "src", "be", None),
        rule(StickKind::On, fixed, "be", None),
    ];
    // The `stick on` rule is skipped entirely: no match, no store.
    let d = evaluate(&rules, &tables, &ctx("10.0.0.1"), 0, |_| true);
    assert_eq!(d.server(), None);
    assert_eq!(d.store(5, 0), 1);
    assert_eq!(server_of(&tables, "be", "10.0.0.1", 0), Some(5));
    assert_eq!(server_of(&tables, "be", "10.9.9.9", 0), Some(3));
    // A rule whose condition fails, or whose key is missing, does not count.
    let rules = [
        rule(StickKind::StoreRequest, "src", "be", Some("if FALSE")),
        rule(StickKind::StoreRequest, "str(not-an-ip)", "be", None),
        rule(StickKind::On, fixed, "be", Some("unless FALSE")),
    ];
    let d = evaluate(&rules, &tables, &ctx("10.0.0.2"), 0, |_| true);
    assert_eq!(d.server(), Some(3));
    assert_eq!(d.store(6, 0), 1);
    assert_eq!(server_of(&tables, "be", "10.9.9.9", 0), Some(6));
    assert_eq!(server_of(&tables, "be", "10.0.0.2", 0), None);
}

#[test]
fn an_unusable_server_lets_later_rules_decide() {
    let tables = tables(&["a", "b"]);
    let c = ctx("10.0.0.1");
    store(
        &[rule(StickKind::StoreRequest, "src", "a", None)],
        &tables,
        &c,
        1,
        0,
    );
    store(
        &[rule(StickKind::StoreRequest, "src", "b", None)],
        &tables,
        &c,
        2,
        0,
    );
    let rules = [
        rule(StickKind::Match, "src", "a", None),
        rule(StickKind::Match, "src", "b", None),
    ];
    assert_eq!(lookup_server(&rules, &tables, &c, 0, |_| true), Some(1));
    assert_eq!(lookup_server(&rules, &tables, &c, 0, |id| id != 1), Some(2));
    assert_eq!(lookup_server(&rules, &tables, &c, 0, |_| false), None);
    // Rules naming a table that does not exist are ignored.
    let rules = [rule(StickKind::On, "src", "nope", None)];
    let d = evaluate(&rules, &tables, &c, 0, |_| true);
    assert!(!d.has_stores());
}

#[test]
fn matching_refreshes_the_expiry() {
    let tables = tables(&["be"]);
    let rules = [rule(StickKind::Match, "src", "be", None)];
    let c = ctx("10.0.0.1");
    store(
        &[rule(StickKind::StoreRequest, "src", "be", None)],
        &tables,
        &c,
        7,
        0,
    );
    assert_eq!(lookup_server(&rules, &tables, &c, 900, |_| true), Some(7));
    assert_eq!(lookup_server(&rules, &tables, &c, 1_800, |_| true), Some(7));
    assert_eq!(lookup_server(&rules, &tables, &c, 2_800, |_| true), None);
}

#[test]
fn at_most_eight_keys_are_stored() {
    let names: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let tables = tables(&refs);
    let rules: Vec<StickRule> = refs
        .iter()
        .map(|t| rule(StickKind::StoreRequest, "src", t, None))
        .collect();
    assert_eq!(store(&rules, &tables, &ctx("10.0.0.1"), 1, 0), MAX_STORES);
    assert_eq!(server_of(&tables, "t7", "10.0.0.1", 0), Some(1));
    assert_eq!(server_of(&tables, "t8", "10.0.0.1", 0), None);
}

#[test]
fn full_nopurge_tables_store_nothing_new() {
    let mut c = cfg(1, None, &[(DataType::ServerId, 0)]);
    c.name = "be".into();
    c.key = KeyType::Ip;
    c.nopurge = true;
    let tables = Tables::from_cfgs([c]);
    let rules = [rule(StickKind::On, "src", "be", None)];
    assert_eq!(store(&rules, &tables, &ctx("10.0.0.1"), 1, 0), 1);
    assert_eq!(store(&rules, &tables, &ctx("10.0.0.2"), 1, 0), 0);
    assert_eq!(store(&rules, &tables, &ctx("10.0.0.1"), 2, 0), 1);
    assert_eq!(server_of(&tables, "be", "10.0.0.1", 0), Some(2));
}

#[test]
fn store_response_rules_store_after_the_response_only() {
    let tables = tables(&["be", "other"]);
    let rules = [
        rule(StickKind::StoreResponse, "src", "be", None),
        // Only the first storing rule of a table applies.
        rule(
            StickKind::StoreResponse,
            "str(10.9.9.9),ipmask(32)",
            "be",
            None,
        ),
        rule(StickKind::StoreResponse, "src", "other", Some("if FALSE")),
        rule(StickKind::Match, "src", "be", None),
    ];
    let c = ctx("10.0.0.7");
    // The request side neither stores nor matches a response rule.
    let d = evaluate(&rules, &tables, &c, 0, |_| true);
    assert!(!d.has_stores());
    assert_eq!(d.server(), None);
    assert_eq!(store_response(&rules, &tables, &c, 3, 10), 1);
    assert_eq!(server_of(&tables, "be", "10.0.0.7", 10), Some(3));
    assert_eq!(server_of(&tables, "be", "10.9.9.9", 10), None);
    assert_eq!(server_of(&tables, "other", "10.0.0.7", 10), None);
    // The stored server is now found by the match rule.
    assert_eq!(
        evaluate(&rules, &tables, &c, 20, |_| true).server(),
        Some(3)
    );
}
