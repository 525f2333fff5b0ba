use super::*;
use crate::runtime_api::testutil::TestRt;

const MORE: &str = "\
backend static
    balance static-rr
    server a 127.0.0.1:9001 weight 4 check
    server b 127.0.0.1:9002 disabled
listen both
    bind 127.0.0.1:2
    balance source
    hash-type consistent
    server c 127.0.0.1:9003 id 7
";

fn server<'a>(t: &'a TestRt, be: &str, sv: &str) -> &'a Arc<ServerState> {
    t.rt.backends().by_name(be).unwrap().server(sv).unwrap()
}

#[test]
fn show_backend_lists_backends() {
    let t = TestRt::new(MORE);
    assert_eq!(t.run("show backend", 0), "# name\nbe\nstatic\nboth\n\n");
}

#[test]
fn get_weight_and_lookup_errors() {
    let t = TestRt::new(MORE);
    assert_eq!(t.run("get weight be/s1", 0), "10 (initial 10)\n\n");
    assert_eq!(
        t.run_as(Level::User, "get weight be/s2", 0),
        "1 (initial 1)\n\n"
    );
    // Proxy ids: fe=1, be=2, static=3, both=4; server ids by position or `id`.
    assert_eq!(t.run("get weight #2/#1", 0), "10 (initial 10)\n\n");
    assert_eq!(t.run("get weight #4/#7", 0), "1 (initial 1)\n\n");
    assert_eq!(t.run("get weight be", 0), "Require 'backend/server'.\n\n");
    assert_eq!(t.run("get weight", 0), "Require 'backend/server'.\n\n");
    assert_eq!(t.run("get weight nope/s1", 0), "No such backend.\n\n");
    assert_eq!(t.run("get weight fe/s1", 0), "No such backend.\n\n");
    assert_eq!(t.run("get weight be/nope", 0), "No such server.\n\n");
    assert_eq!(t.run("get weight #9/s1", 0), "No such backend.\n\n");
}

#[test]
fn set_weight_changes_the_weight_and_the_generation() {
    let t = TestRt::new(MORE);
    let be = t.rt.backends().by_name("be").unwrap();
    let g0 = be.generation();
    assert_eq!(t.run("set weight be/s1 50", 0), "\n");
    assert_eq!(server(&t, "be", "s1").weight(), 50);
    assert!(be.generation() > g0);
    assert_eq!(t.run("get weight be/s1", 0), "50 (initial 10)\n\n");
    // Relative to the initial weight, capped at 256.
    assert_eq!(t.run("set weight be/s1 50%", 0), "\n");
    assert_eq!(server(&t, "be", "s1").weight(), 5);
    assert_eq!(t.run("set weight be/s1 10000%", 0), "\n");
    assert_eq!(server(&t, "be", "s1").weight(), 256);
    assert_eq!(t.run("set weight be/s1 0", 0), "\n");
    assert_eq!(server(&t, "be", "s1").weight(), 0);
    // Same weight: nothing to rebuild.
    let g = be.generation();
    assert_eq!(t.run("set server be/s1 weight 0", 0), "\n");
    assert_eq!(be.generation(), g);
    assert_eq!(t.run("set server be/s1 weight 7", 0), "\n");
    assert_eq!(server(&t, "be", "s1").weight(), 7);
}

#[test]
fn set_weight_errors() {
    let t = TestRt::new(MORE);
    let err = |cmd: &str| t.run(cmd, 0);
    assert_eq!(
        err("set weight be/s1"),
        "Require <weight> or <weight%>.\n\n"
    );
    assert_eq!(
        err("set weight be/s1 x"),
        "Empty weight string empty or preceded by garbage\n\n"
    );
    assert_eq!(
        err("set weight be/s1 257"),
        "Absolute weight can only be between 0 and 256 inclusive.\n\n"
    );
    assert_eq!(
        err("set weight be/s1 -1"),
        "Absolute weight can only be between 0 and 256 inclusive.\n\n"
    );
    assert_eq!(
        err("set weight be/s1 -5%"),
        "Relative weight must be positive.\n\n"
    );
    assert_eq!(
        err("set weight be/s1 5x"),
        "Trailing garbage in weight string\n\n"
    );
    assert_eq!(
        err("set weight be/s1 5%x"),
        "Trailing garbage in weight string\n\n"
    );
    assert_eq!(server(&t, "be", "s1").weight(), 10, "errors change nothing");
    // Static algorithms take only 0 and the initial weight.
    assert_eq!(
        err("set weight static/a 2"),
        "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n\n"
    );
    assert_eq!(err("set weight static/a 0%"), "\n");
    assert_eq!(err("set weight static/a 100%"), "\n");
    assert_eq!(server(&t, "static", "a").weight(), 4);
    // Consistent hashing is dynamic.
    assert_eq!(err("set weight both/c 3"), "\n");
    // Permission is checked before anything else.
    assert_eq!(
        t.run_as(Level::Operator, "set weight nope/x 1", 0),
        "Permission denied\n\n"
    );
    assert_eq!(err("set weight nope/x 1"), "No such backend.\n\n");
}

#[test]
fn disable_and_enable_server_toggle_maintenance() {
    let t = TestRt::new(MORE);
    let be = t.rt.backends().by_name("be").unwrap();
    let s1 = server(&t, "be", "s1");
    let g0 = be.generation();
    assert_eq!(t.run("disable server be/s1", 0), "\n");
    assert!(s1.is_maint() && !s1.is_usable());
    assert!(be.generation() > g0);
    assert_eq!(t.run("disable server be/s1", 0), "\n", "idempotent");
    assert_eq!(t.run("enable server be/s1", 0), "\n");
    assert!(s1.is_usable());
    assert_eq!(t.run("set server be/s1 state maint", 0), "\n");
    assert!(s1.is_maint());
    assert_eq!(t.run("set server be/s1 state ready", 0), "\n");
    assert!(!s1.is_maint());
    // Configured `disabled` leaves maintenance too.
    assert_eq!(t.run("enable server static/b", 0), "\n");
    assert!(server(&t, "static", "b").is_usable());
    assert_eq!(
        t.run_as(Level::Operator, "disable server be/s1", 0),
        "Permission denied\n\n"
    );
    assert!(!s1.is_maint());
    assert_eq!(
        t.run("disable server be", 0),
        "Require 'backend/server'.\n\n"
    );
    assert_eq!(
        t.run("set server be/s1 state drain", 0),
        "'set server <srv> state drain' is not supported yet.\n\n"
    );
    assert_eq!(
        t.run("set server be/s1 addr 10.0.0.1", 0),
        "'set server <srv> addr' is not supported yet.\n\n"
    );
    assert!(
        t.run("set server be/s1 frob", 0)
            .starts_with("usage: set server")
    );
}

#[test]
fn enabling_a_server_serves_the_queue() {
    let t = TestRt::new("backend q\n    server only 127.0.0.1:9009 maxconn 1\n");
    let be = t.rt.backends().by_name("q").unwrap();
    let only = be.server("only").unwrap();
    assert_eq!(t.run("disable server q/only", 0), "\n");
    let mut waiter = be.queue.join();
    assert_eq!(t.run("enable server q/only", 0), "\n");
    let slot = waiter
        .try_recv()
        .expect("the queued connection got the free slot");
    assert_eq!(only.cur_conns(), 1);
    drop(slot);
    assert_eq!(only.cur_conns(), 0);
}

#[test]
fn show_servers_state_in_format_1() {
    let t = TestRt::new(MORE);
    assert_eq!(t.run("disable server be/s2", 0), "\n");
    assert_eq!(t.run("set weight be/s1 20", 0), "\n");
    let now = crate::clock::now_ms() + 5_000;
    let out = t.run("show servers state", now);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1");
    assert_eq!(lines[1], STATE_HEADER.lines().nth(1).unwrap());
    let cols = |l: &str| l.split(' ').map(str::to_owned).collect::<Vec<_>>();
    let header = cols(lines[1]);
    assert_eq!(header.len(), 26, "'#' and 25 columns");
    let rows: Vec<Vec<String>> = lines[2..]
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| cols(l))
        .collect();
    assert_eq!(rows.len(), 5);
    for r in &rows {
        assert_eq!(r.len(), 25, "{r:?}");
    }
    let s1 = &rows[0];
    assert_eq!(
        s1[..9],
        ["2", "be", "1", "s1", "127.0.0.1", "2", "0", "20", "10"]
    );
    assert_eq!(s1[9], "5", "seconds since the last change");
    assert_eq!(s1[10..14], ["1", "0", "0", "0"], "unchecked server");
    assert_eq!(s1[18], "8001", "port");
    assert_eq!(rows[1][6], "1", "s2 forced into maintenance");
    let a = &rows[2];
    assert_eq!(a[..3], ["3", "static", "1"]);
    assert_eq!(
        a[10..14],
        ["6", "3", "4", "6"],
        "checked and up: L4OK, passed, rise+fall-1"
    );
    assert_eq!(rows[3][6], "5", "disabled in the configuration");
    assert_eq!(rows[4][..4], ["4", "both", "7", "c"]);
    assert_eq!(rows[4][16], "1", "forced server id");
    assert!(out.ends_with("\n\n"));
    // One backend, by name or id.
    let out = t.run("show servers state static", now);
    assert_eq!(out.lines().count(), 2 + 2 + 1);
    assert_eq!(t.run("show servers state #3", now), out);
    assert_eq!(
        t.run("show servers state nope", now),
        "Can't find backend.\n\n"
    );
}
