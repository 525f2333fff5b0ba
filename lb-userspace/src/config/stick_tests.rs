use std::time::Duration;

use crate::config::tests::{error, errors, parse};
use crate::stick::{DataCfg, DataType, KeyType, StickKind, Tables};

fn data(store: &[DataCfg]) -> Vec<(DataType, u32)> {
    store.iter().map(|d| (d.data, d.period_ms)).collect()
}

#[test]
fn stick_table_settings() {
    let c = parse(&[
        "backend be",
        "    stick-table type string len 16 size 200k expire 30m nopurge store conn_cnt,conn_rate(10s) store gpc0,http_req_rate(1m),conn_cnt",
        "    server s1 127.0.0.1:13080",
        "frontend fe",
        "    bind 127.0.0.1:13000",
        "    stick-table type ip size 1m",
        "    default_backend be",
    ]);
    let t = c.backends[0].stick_table.as_ref().unwrap();
    assert_eq!(t.name, "be");
    assert_eq!(t.key, KeyType::String { len: 16 });
    assert_eq!(t.size, 200 * 1024);
    assert_eq!(t.expire, Some(Duration::from_secs(1800)));
    assert!(t.nopurge);
    assert_eq!(t.location.line, 2);
    // Data types come in HAProxy's order, once each.
    assert_eq!(
        data(&t.store),
        [
            (DataType::Gpc0, 0),
            (DataType::ConnCnt, 0),
            (DataType::ConnRate, 10_000),
            (DataType::HttpReqRate, 60_000)
        ]
    );
    let t = c.frontends[0].stick_table.as_ref().unwrap();
    assert_eq!(
        (t.name.as_str(), t.key, t.size),
        ("fe", KeyType::Ip, 1 << 20)
    );
    assert_eq!(t.expire, None);
    assert!(!t.nopurge && t.store.is_empty());
    let c = parse(&[
        "backend a",
        "    stick-table type binary size 10 type ipv6",
        "backend b",
        "    stick-table size 10 type binary len 4 expire 0",
        "backend c",
        "    stick-table type integer size 10 store server_id,gpt0,gpc1,gpc1_rate(1s),sess_cnt,sess_rate(1s),http_err_cnt,http_err_rate(1s),http_fail_cnt,http_fail_rate(1s),bytes_in_cnt,bytes_in_rate(1s),bytes_out_cnt,bytes_out_rate(1s),conn_cur,gpc0_rate(1s),http_req_cnt",
    ]);
    let key = |i: usize| c.backends[i].stick_table.as_ref().unwrap().key;
    assert_eq!(key(0), KeyType::Ipv6);
    assert_eq!(key(1), KeyType::Binary { len: 4 });
    assert_eq!(c.backends[1].stick_table.as_ref().unwrap().expire, None);
    assert_eq!(c.backends[2].stick_table.as_ref().unwrap().store.len(), 17);
}

#[test]
fn stick_rules_and_implicit_server_id() {
    let c = parse(&[
        "peers p",
        "    table sticky type ip size 1k",
        "    disabled",
        "backend other",
        "    stick-table type ip size 10",
        "backend be",
        "    acl local src 127.0.0.1",
        "    stick-table type ip size 20k expire 30m store conn_cnt",
        "    stick on src",
        "    stick match src table other if local",
        "    stick store-request src,ipmask(24) table p/sticky unless local",
        "    server s1 127.0.0.1:13080",
    ]);
    let be = c.backend("be").unwrap();
    let kinds: Vec<(StickKind, &str, usize)> = be
        .stick_rules
        .iter()
        .map(|r| (r.kind, r.table.as_str(), r.location.line))
        .collect();
    assert_eq!(
        kinds,
        [
            (StickKind::On, "be", 9),
            (StickKind::Match, "other", 10),
            (StickKind::StoreRequest, "p/sticky", 11)
        ]
    );
    assert!(be.stick_rules[0].cond.is_none());
    assert!(be.stick_rules[1].cond.as_ref().is_some_and(|c| !c.unless));
    assert!(be.stick_rules[2].cond.as_ref().is_some_and(|c| c.unless));
    // Tables used by stick rules store server_id, as in HAProxy.
    let stores = |t: &crate::stick::TableCfg| t.stores(DataType::ServerId);
    assert!(stores(be.stick_table.as_ref().unwrap()));
    assert!(stores(
        c.backend("other").unwrap().stick_table.as_ref().unwrap()
    ));
    assert_eq!(c.tables.len(), 1);
    assert_eq!(c.tables[0].name, "p/sticky");
    assert!(stores(&c.tables[0]));
    assert_eq!(
        data(&be.stick_table.as_ref().unwrap().store),
        [(DataType::ServerId, 0), (DataType::ConnCnt, 0)]
    );
}

#[test]
fn listen_sections_have_one_table() {
    let c = parse(&[
        "listen app",
        "    bind 127.0.0.1:13000",
        "    stick-table type ip size 1k",
        "    stick on src",
        "    server s1 127.0.0.1:13080",
    ]);
    assert!(c.frontends[0].stick_table.is_some());
    let t = c.backends[0].stick_table.as_ref().unwrap();
    assert!(t.stores(DataType::ServerId));
    let tables = Tables::from_config(&c);
    assert_eq!(tables.iter().count(), 1);
    assert!(tables.get("app").unwrap().stores(DataType::ServerId));
}

#[test]
fn stick_table_errors() {
    let cases: &[(&str, &str)] = &[
        ("stick-table type ip", "'stick-table' : missing size"),
        ("stick-table type ip size 0", "'stick-table' : missing size"),
        ("stick-table size 10", "'stick-table' : missing type"),
        (
            "stick-table type ip size",
            "'stick-table' expects a size after 'size'",
        ),
        (
            "stick-table type mac size 1",
            "'stick-table type' : invalid value 'mac' : expects 'ip', 'ipv6', 'integer', 'string' or 'binary'",
        ),
        (
            "stick-table type ip len 4 size 1",
            "'stick-table' : unknown argument 'len'",
        ),
        (
            "stick-table type string len 0 size 1",
            "'stick-table len' : invalid value '0' : must be between 1 and 65535",
        ),
        (
            "stick-table type ip size 1x",
            "'stick-table size' : invalid value '1x'",
        ),
        (
            "stick-table type ip size 1 expire soon",
            "'stick-table expire' : invalid value 'soon'",
        ),
        (
            "stick-table type ip size 1 expire 30d",
            "'stick-table expire' : invalid value '30d' : timer overflow",
        ),
        (
            "stick-table type ip size 1 store conn_cnt,nope",
            "'stick-table store' : invalid value 'nope' : unknown data type",
        ),
        (
            "stick-table type ip size 1 store conn_rate",
            "'stick-table store' : data type 'conn_rate' needs a period, e.g. 'conn_rate(10s)'",
        ),
        (
            "stick-table type ip size 1 store conn_cnt(10s)",
            "'stick-table store' : data type 'conn_cnt' takes no argument",
        ),
        (
            "stick-table type ip size 1 store conn_rate(0)",
            "'stick-table store conn_rate' : invalid value '0' : period must be between 1ms and 24d",
        ),
        (
            "stick-table type ip size 1 store conn_rate(10s",
            "'stick-table store' : invalid value 'conn_rate(10s' : missing ')'",
        ),
        (
            "stick-table type ip size 1 store",
            "'stick-table' expects a list of data types after 'store'",
        ),
        (
            "stick-table type ip size 1 store gpc(3)",
            "keyword 'stick-table store gpc' is not supported yet",
        ),
        (
            "stick-table type ip size 1 peers mypeers",
            "keyword 'stick-table peers' is not supported yet (comes with multi-node (peers))",
        ),
        (
            "stick-table type ip size 1 whatever",
            "'stick-table' : unknown argument 'whatever'",
        ),
    ];
    for (line, expected) in cases {
        let (n, msg) = error(&["backend be", &format!("    {line}")]);
        assert_eq!(n, 2, "{line}");
        assert!(
            msg.starts_with(expected),
            "{line}: got '{msg}', expected '{expected}'"
        );
    }
    assert_eq!(
        error(&["defaults", "    stick-table type ip size 1"]),
        (2, "'stick-table' not allowed in 'defaults' section".into())
    );
    assert_eq!(
        error(&[
            "backend be",
            "    stick-table type ip size 1",
            "    stick-table type ip size 2",
        ]),
        (
            3,
            "'stick-table' : only one stick-table per proxy is allowed (the first one is at t.cfg:2)"
                .into()
        )
    );
    assert_eq!(
        error(&[
            "frontend x",
            "    bind 127.0.0.1:13000",
            "    stick-table type ip size 1",
            "    default_backend x",
            "backend x",
            "    stick-table type ip size 1",
        ]),
        (
            6,
            "stick-table name 'x' conflicts with the table declared at t.cfg:3".into()
        )
    );
}

#[test]
fn stick_rule_errors() {
    let with_table = |rule: &str| -> Vec<(usize, String)> {
        errors(&[
            "backend be",
            "    stick-table type ip size 1",
            &format!("    {rule}"),
        ])
    };
    let one = |rule: &str| {
        let all = with_table(rule);
        assert_eq!(all.len(), 1, "{rule}: {all:?}");
        assert_eq!(all[0].0, 3, "{rule}");
        all[0].1.clone()
    };
    assert_eq!(
        one("stick"),
        "'stick' expects 'on', 'match', 'store-request' or 'store-response'"
    );
    assert_eq!(
        one("stick with src"),
        "'stick' : unknown keyword 'with', expects 'on', 'match', 'store-request' or 'store-response'"
    );
    assert_eq!(one("stick on"), "'stick on' expects a sample expression");
    assert_eq!(
        one("stick match nope"),
        "'stick match' : unknown fetch method 'nope'"
    );
    assert_eq!(
        one("stick on src table"),
        "'stick on' expects a table name after 'table'"
    );
    assert_eq!(
        one("stick on src when x"),
        "'stick on' : unknown keyword 'when'"
    );
    assert!(one("stick on src if nope").starts_with("error detected while parsing sticking rule"));
    assert_eq!(
        one("stick on src table other"),
        "proxy 'be': unable to find stick-table 'other'"
    );
    assert_eq!(
        one("stick on bin(0102) table be"),
        "proxy 'be': type of fetch not usable with type of stick-table 'be'"
    );
    assert_eq!(
        error(&[
            "backend be",
            "    stick on src",
            "    server s 127.0.0.1:13080"
        ]),
        (2, "proxy 'be': unable to find stick-table 'be'".into())
    );
    assert_eq!(
        error(&["frontend fe", "    bind 127.0.0.1:13000", "    stick on src"]),
        (
            3,
            "'stick' not allowed in 'frontend' section; it only applies to backends and listen sections"
                .into()
        )
    );
    assert_eq!(
        error(&["defaults", "    stick on src"]),
        (2, "'stick' not allowed in 'defaults' section".into())
    );
    // An integer table takes integers, not addresses.
    let all = errors(&[
        "backend be",
        "    stick-table type integer size 1",
        "    stick on src",
    ]);
    assert_eq!(
        all,
        [(
            3,
            "proxy 'be': type of fetch not usable with type of stick-table 'be'".into()
        )]
    );
}

#[test]
fn peers_sections() {
    let c = parse(&[
        "peers cluster",
        "    enable",
        "    table t1 type ip size 100 expire 10s store conn_rate(10s)",
        "    table t2 type string size 5",
        "peers other",
        "    table t1 type integer size 1",
    ]);
    let names: Vec<&str> = c.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["cluster/t1", "cluster/t2", "other/t1"]);
    assert_eq!(c.tables[0].location.line, 3);
    assert_eq!(
        error(&["peers p", "    peer lb1 127.0.0.1:10000"]),
        (
            2,
            "keyword 'peer' is not supported yet (comes with multi-node (peers))".into()
        )
    );
    assert_eq!(
        error(&["peers p", "    frobnicate"]),
        (2, "unknown keyword 'frobnicate' in 'peers' section".into())
    );
    assert_eq!(
        error(&["peers"]),
        (1, "'peers' expects an <id> argument".into())
    );
    assert_eq!(
        error(&["peers p", "peers p"]),
        (
            2,
            "peers section 'p' has the same name as peers section 'p' declared at t.cfg:1".into()
        )
    );
    assert_eq!(
        error(&[
            "peers p",
            "    table t type ip size 1",
            "    table t type ip size 2"
        ]),
        (
            3,
            "table 't' has the same name as table 't' declared at t.cfg:2".into()
        )
    );
    assert_eq!(
        error(&["peers p", "    table t type ip"]),
        (2, "'table' : missing size".into())
    );
    assert_eq!(
        error(&["peers p", "    table a/b type ip size 1"]),
        (
            2,
            "'table' : character '/' is not permitted in table name 'a/b'".into()
        )
    );
    // Lines after a broken header are skipped, not reported again.
    assert_eq!(error(&["peers", "    table t type ip"]).0, 1);
    // A table used by a rule in a backend is found under its full name only.
    let all = errors(&[
        "peers p",
        "    table t type ip size 1",
        "backend be",
        "    stick on src table t",
    ]);
    assert_eq!(
        all,
        [(4, "proxy 'be': unable to find stick-table 't'".into())]
    );
}
