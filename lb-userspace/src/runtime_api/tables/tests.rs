use super::*;
use crate::runtime_api::testutil::TestRt;

const TABLES: &str = "\
backend st
    stick-table type ip size 100 expire 10s store gpc0,conn_cnt,conn_rate(10s)
    server x 127.0.0.1:9100
backend names
    stick-table type string len 8 size 2 nopurge store server_id
    server y 127.0.0.1:9101
";

/// Entry lines without their address.
fn entries(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (addr, rest) = l.split_once(": ").unwrap();
            assert!(addr.starts_with("0x"), "{l}");
            rest.to_owned()
        })
        .collect()
}

#[test]
fn show_table_lists_tables_then_entries() {
    let t = TestRt::new(TABLES);
    assert_eq!(
        t.run("show table", 0),
        "# table: st, type: ip, size:100, used:0\n\
         # table: names, type: string, size:2, used:0\n\n"
    );
    assert_eq!(
        t.run("set table st key 10.0.0.1 data.gpc0 5 data.conn_cnt 2", 0),
        "\n"
    );
    assert_eq!(t.run("set table st key 10.0.0.2", 0), "\n");
    let out = t.run("show table st", 0);
    assert!(
        out.starts_with("# table: st, type: ip, size:100, used:2\n"),
        "{out}"
    );
    let mut e = entries(&out);
    e.sort();
    assert_eq!(
        e,
        [
            "key=10.0.0.1 use=0 exp=10000 gpc0=5 conn_cnt=2 conn_rate(10000)=0",
            "key=10.0.0.2 use=0 exp=10000 gpc0=0 conn_cnt=0 conn_rate(10000)=0",
        ]
    );
    assert_eq!(
        entries(&t.run("show table st data.gpc0 gt 3", 0)),
        ["key=10.0.0.1 use=0 exp=10000 gpc0=5 conn_cnt=2 conn_rate(10000)=0"]
    );
    assert_eq!(
        entries(&t.run("show table st data.gpc0 eq 0 data.conn_cnt le 0", 0)),
        ["key=10.0.0.2 use=0 exp=10000 gpc0=0 conn_cnt=0 conn_rate(10000)=0"]
    );
    assert!(entries(&t.run("show table st data.gpc0 lt 0", 0)).is_empty());
    // Time passes: the expiry counts down.
    assert_eq!(
        entries(&t.run("show table st key 10.0.0.1", 4000)),
        ["key=10.0.0.1 use=0 exp=6000 gpc0=5 conn_cnt=2 conn_rate(10000)=0"]
    );
    assert_eq!(
        t.run("show table st key 10.9.9.9", 0),
        "\n",
        "no such key: nothing"
    );
}

#[test]
fn clear_table_by_key_by_data_or_all() {
    let t = TestRt::new(TABLES);
    for k in 1..=4 {
        let cmd = format!("set table st key 10.0.0.{k} data.gpc0 {k}");
        assert_eq!(t.run(&cmd, 0), "\n");
    }
    assert_eq!(t.run("clear table st key 10.0.0.1", 0), "\n");
    assert_eq!(
        t.run("clear table st key 10.0.0.1", 0),
        "\n",
        "already gone"
    );
    assert_eq!(t.run("clear table st data.gpc0 ge 3", 0), "\n");
    let left = entries(&t.run("show table st", 0));
    assert_eq!(left.len(), 1);
    assert!(left[0].starts_with("key=10.0.0.2 "));
    // An entry a stream tracks stays.
    let table = t.rt.tables().get("st").unwrap();
    let held = table
        .lookup(&Key::Ipv4("10.0.0.2".parse().unwrap()), 0)
        .unwrap();
    assert_eq!(
        t.run("clear table st key 10.0.0.2", 0),
        "Entry currently in use, cannot remove\n\n"
    );
    assert_eq!(t.run("clear table st", 0), "\n");
    assert_eq!(table.len(), 1);
    drop(held);
    assert_eq!(t.run("clear table st", 0), "\n");
    assert_eq!(table.len(), 0);
}

#[test]
fn set_table_stores_values() {
    let t = TestRt::new(TABLES);
    assert_eq!(t.run("set table names key alice data.server_id 2", 0), "\n");
    assert_eq!(
        entries(&t.run("show table names", 0)),
        ["key=alice use=0 exp=0 server_id=2"]
    );
    // Keys are truncated to the table's length, as in HAProxy.
    assert_eq!(
        t.run("set table names key alice_and_more data.server_id 3", 0),
        "\n"
    );
    assert_eq!(
        entries(&t.run("show table names key alice_an", 0)),
        ["key=alice_an use=0 exp=0 server_id=3"]
    );
    // Updating keeps the other values.
    assert_eq!(
        t.run("set table st key 10.0.0.1 data.gpc0 1 data.conn_cnt 9", 0),
        "\n"
    );
    assert_eq!(t.run("set table st key 10.0.0.1 data.gpc0 4", 0), "\n");
    assert_eq!(
        entries(&t.run("show table st key 10.0.0.1", 0)),
        ["key=10.0.0.1 use=0 exp=10000 gpc0=4 conn_cnt=9 conn_rate(10000)=0"]
    );
}

#[test]
fn full_table_without_purge() {
    let t = TestRt::new(TABLES);
    assert_eq!(t.run("set table names key a", 0), "\n");
    assert_eq!(t.run("set table names key b", 0), "\n");
    assert_eq!(
        t.run("set table names key c data.server_id 1", 0),
        "Unable to allocate a new entry\n\n"
    );
}

#[test]
fn errors_as_haproxy() {
    let t = TestRt::new(TABLES);
    let err = |cmd: &str| t.run(cmd, 0);
    assert_eq!(err("show table nope"), "No such table\n\n");
    assert_eq!(err("show table st key"), "Key value expected\n\n");
    assert_eq!(err("show table st key not-an-ip"), "Invalid key\n\n");
    assert_eq!(err("show table st data.gpc9 eq 1"), "Unknown data type\n\n");
    assert_eq!(
        err("show table st data.gpc1 eq 1"),
        "Data type not stored in this table\n\n"
    );
    assert_eq!(
        err("show table st data.gpc0 is 1"),
        "Require and operator among \"eq\", \"ne\", \"le\", \"ge\", \"lt\", \"gt\"\n\n"
    );
    assert_eq!(
        err("show table st data.gpc0 eq x"),
        "Require a valid integer value to compare against\n\n"
    );
    assert_eq!(
        err("show table st frob"),
        "Optional argument only supports \"data.<store_data_type>\" <operator> <value> and key <key>\n\n"
    );
    let five =
        "show table st data.gpc0 eq 1 data.gpc0 eq 1 data.gpc0 eq 1 data.gpc0 eq 1 data.gpc0 eq 1";
    assert!(err(five).starts_with("Optional argument only supports"));
    assert_eq!(
        err("clear table"),
        "Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key <key>\n\n"
    );
    assert_eq!(
        err("set table st"),
        "Required arguments: <table> key <key> [data.<store_data_type> <value>]*\n\n"
    );
    assert_eq!(
        err("set table st data.gpc0 1"),
        "content-based lookup is only supported with the \"show\" and \"clear\" actions\n\n"
    );
    assert_eq!(
        err("set table st key 10.0.0.1 gpc0 1"),
        "\"data.<type>\" followed by a value expected\n\n"
    );
    assert_eq!(
        err("set table st key 10.0.0.1 data.nope 1"),
        "Unknown data type\n\n"
    );
    assert_eq!(
        err("set table st key 10.0.0.1 data.gpc1 1"),
        "Data type not stored in this table\n\n"
    );
    assert_eq!(
        err("set table st key 10.0.0.1 data.gpc0"),
        "Require a valid integer value to store\n\n"
    );
    assert_eq!(
        t.rt.tables().get("st").unwrap().len(),
        0,
        "errors create nothing"
    );
}

#[test]
fn levels() {
    let t = TestRt::new(TABLES);
    assert_eq!(t.run("set table st key 10.0.0.1", 0), "\n");
    let user = |cmd: &str| t.run_as(Level::User, cmd, 0);
    assert_eq!(
        user("show table st"),
        "# table: st, type: ip, size:100, used:1\n\n",
        "header only"
    );
    assert_eq!(user("show table st key 10.0.0.1"), "Permission denied\n\n");
    assert_eq!(user("set table st key 10.0.0.2"), "Permission denied\n\n");
    assert_eq!(user("clear table st"), "Permission denied\n\n");
    assert_eq!(user("clear table st key 10.0.0.1"), "Permission denied\n\n");
    assert_eq!(
        entries(&t.run_as(Level::Operator, "show table st", 0)).len(),
        1
    );
    assert_eq!(t.run_as(Level::Operator, "clear table st", 0), "\n");
}
