//! Operating the guard: config lists synced at start, the list commands, push-downs.

use std::time::Duration;

use lb_common::StatIndex;

use super::{
    fixture::{Act, Fx},
    frames::*,
};
use crate::ebpf::{
    Cidr, CidrLists, ListKind,
    list_command::{execute, parse_request},
    pushdown, sync_list,
};

fn cidr(s: &str) -> Cidr {
    s.parse().unwrap()
}

fn entries(lists: &CidrLists, kind: ListKind) -> Vec<(String, bool)> {
    let mut v: Vec<(String, bool)> = lists
        .list(kind)
        .unwrap()
        .into_iter()
        .map(|s| (s.cidr.to_string(), s.expires_in.is_none()))
        .collect();
    v.sort();
    v
}

#[test]
fn restart_keeps_timed_entries_and_replaces_config_entries() {
    let fx = Fx::new();
    let mut lists = CidrLists::open(&fx.pin).unwrap();
    // The previous run: config entries A and B, a run-time entry with TTL, one without.
    sync_list(
        &mut lists,
        ListKind::Deny,
        &[cidr("192.0.2.0/24"), cidr("198.51.100.1")],
    )
    .unwrap();
    lists
        .add(
            ListKind::Deny,
            cidr("203.0.113.9"),
            Some(Duration::from_secs(600)),
        )
        .unwrap();
    lists
        .add(ListKind::Deny, cidr("203.0.113.10"), None)
        .unwrap();
    let frame = V4::from("192.0.2.5").frame(&seg(80, ACK));
    fx.expect(&frame, Act::Drop, StatIndex::DenyList);

    // The next start: B left the config, C came in.
    let sync = sync_list(
        &mut lists,
        ListKind::Deny,
        &[cidr("192.0.2.0/24"), cidr("2001:db8::/32")],
    )
    .unwrap();
    assert_eq!(sync.kept, 1);
    assert_eq!(sync.removed, 2);
    assert_eq!(
        entries(&lists, ListKind::Deny),
        [
            ("192.0.2.0/24".to_owned(), true),
            ("2001:db8::/32".to_owned(), true),
            ("203.0.113.9/32".to_owned(), false),
        ]
    );
    // An entry kept from the previous run keeps its hits.
    let hits = lists
        .list(ListKind::Deny)
        .unwrap()
        .into_iter()
        .find(|s| s.cidr == cidr("192.0.2.0/24"))
        .unwrap()
        .hits;
    assert_eq!(hits, 1);
    fx.expect(
        &V4::from("198.51.100.1").frame(&seg(80, ACK)),
        Act::Pass,
        StatIndex::PassIpv4,
    );
}

#[test]
fn list_commands_edit_and_show_the_pinned_lists() {
    let fx = Fx::new();
    let run = |text: &str| {
        let words: Vec<&str> = text.split_whitespace().collect();
        execute(&fx.pin, &parse_request(&words).unwrap())
    };
    assert_eq!(
        run("deny add 192.0.2.7 1m").unwrap(),
        "deny 192.0.2.7/32 added for 1m\n"
    );
    assert_eq!(
        run("allow add 10.0.0.0/8").unwrap(),
        "allow 10.0.0.0/8 added\n"
    );
    fx.expect(
        &V4::from("192.0.2.7").frame(&seg(80, ACK)),
        Act::Drop,
        StatIndex::DenyList,
    );
    let table = run("deny list").unwrap();
    let line: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(line[0], "192.0.2.7/32");
    assert!(line[1].ends_with('s'), "{table}");
    assert_eq!(line[2], "1");
    let json: serde_json::Value = serde_json::from_str(&run("allow list json").unwrap()).unwrap();
    assert_eq!(json["entries"][0]["cidr"], "10.0.0.0/8");
    assert_eq!(json["entries"][0]["expires_in_ms"], serde_json::Value::Null);
    assert_eq!(
        run("deny del 192.0.2.7").unwrap(),
        "deny 192.0.2.7/32 deleted\n"
    );
    assert_eq!(
        run("deny del 192.0.2.7").unwrap_err(),
        "192.0.2.7/32 is not in the deny list"
    );
    fx.expect(
        &V4::from("192.0.2.7").frame(&seg(80, ACK)),
        Act::Pass,
        StatIndex::PassIpv4,
    );
}

#[test]
fn push_down_adds_timed_entries_and_never_shortens_longer_ones() {
    let fx = Fx::new();
    let mut lists = CidrLists::open(&fx.pin).unwrap();
    lists
        .add(ListKind::Deny, cidr("198.51.100.0/24"), None)
        .unwrap();
    pushdown::deny_in(&fx.pin, cidr("198.51.100.0/24"), Duration::from_secs(5));
    pushdown::deny_in(&fx.pin, cidr("192.0.2.1"), Duration::from_secs(30));
    let listed = lists.list(ListKind::Deny).unwrap();
    let of = |c: &str| {
        listed
            .iter()
            .find(|s| s.cidr == cidr(c))
            .unwrap()
            .expires_in
    };
    assert_eq!(of("198.51.100.0/24"), None, "a permanent entry got a TTL");
    let left = of("192.0.2.1").unwrap();
    assert!(left > Duration::from_secs(25) && left <= Duration::from_secs(30));
    fx.expect(
        &V4::from("192.0.2.1").frame(&seg(80, SYN)),
        Act::Drop,
        StatIndex::DenyList,
    );
    // A shorter push-down of a listed source leaves the entry (and its hits) alone.
    pushdown::deny_in(&fx.pin, cidr("192.0.2.1"), Duration::from_secs(1));
    let s = lists
        .list(ListKind::Deny)
        .unwrap()
        .into_iter()
        .find(|s| s.cidr == cidr("192.0.2.1"))
        .unwrap();
    assert!(s.expires_in.unwrap() > Duration::from_secs(20));
    assert_eq!(s.hits, 1);
}
