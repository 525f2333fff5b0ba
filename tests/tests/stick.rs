//! Sticky routing with `stick on src` over `balance roundrobin`: a client address keeps its
//! server across connections and workers, whatever the weights say, as long as the server
//! is usable; when it is not (down, or disabled through the runtime API) the client is
//! balanced again and the table remembers its new server.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use lb_tests::client::ask_name_from;
use lb_tests::runtime::{runtime_cmd, runtime_ok, stats_socket_line};
use lb_tests::{Backend, Lb, TempDir, free_port, header_with, server_line};

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, last)
}

/// The server every one of `n` connections from `src` reached; panics if they differ.
fn sticky_server(src: Ipv4Addr, port: u16, n: usize) -> String {
    let names: Vec<String> = (0..n)
        .map(|_| ask_name_from(src, port).expect("connection through lb"))
        .collect();
    let set: BTreeSet<&String> = names.iter().collect();
    assert_eq!(
        set.len(),
        1,
        "connections from {src} did not all reach one server: {names:?}"
    );
    names[0].clone()
}

fn servers() -> Vec<Backend> {
    vec![
        Backend::identity("s1"),
        Backend::identity("s2"),
        Backend::identity("s3"),
    ]
}

fn config(port: u16, global_extra: &str, servers: &[Backend], server_extra: &str) -> String {
    let mut cfg = header_with(2, global_extra);
    cfg.push_str(&format!(
        "frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\n\
         backend be\n    balance roundrobin\n    stick-table type ip size 1k expire 30m\n    stick on src\n"
    ));
    for s in servers {
        cfg.push_str(&server_line(s, server_extra));
    }
    cfg
}

#[test]
fn stick_on_src_keeps_each_client_on_one_server_across_workers() {
    let srv = servers();
    let port = free_port();
    let _lb = Lb::start(&config(port, "", &srv, ""));
    // Without stickiness, roundrobin would spread these 12 connections over 3 servers.
    let a = sticky_server(ip(1), port, 12);
    let b = sticky_server(ip(3), port, 12);
    let c = sticky_server(ip(4), port, 12);
    // Interleaved: each client still goes to its own server.
    for _ in 0..4 {
        assert_eq!(ask_name_from(ip(1), port).unwrap(), a);
        assert_eq!(ask_name_from(ip(3), port).unwrap(), b);
        assert_eq!(ask_name_from(ip(4), port).unwrap(), c);
    }
    let used: usize = srv.iter().map(Backend::accepted).sum();
    assert_eq!(used, 48);
}

#[test]
fn a_client_whose_server_goes_down_moves_and_stays_on_its_new_server() {
    let mut srv = servers();
    let port = free_port();
    let lb = Lb::start(&config(port, "", &srv, "check inter 200ms fall 1 rise 1"));
    let first = sticky_server(ip(1), port, 6);
    let idx = srv.iter().position(|b| b.name() == first).unwrap();
    let dead_port = srv[idx].port();
    srv[idx].kill();
    lb.expect_line(
        &format!("Server be/{first} is DOWN"),
        Duration::from_secs(10),
    );
    let second = sticky_server(ip(1), port, 6);
    assert_ne!(
        second, first,
        "the sticky server is down: the client must move"
    );
    // The old server comes back: the table now says `second`, so the client stays there.
    srv[idx] = Backend::identity_on(&first, dead_port);
    lb.expect_line(&format!("Server be/{first} is UP"), Duration::from_secs(10));
    assert_eq!(
        sticky_server(ip(1), port, 6),
        second,
        "the entry was updated with the new server when the client moved"
    );
}

/// Starts three servers behind a sticky backend with a runtime API socket in `dir`.
fn with_runtime_api(dir: &Path) -> (Vec<Backend>, Lb, u16, std::path::PathBuf) {
    let srv = servers();
    let port = free_port();
    let sock = dir.join("admin.sock");
    let lb = Lb::start(&config(port, &stats_socket_line(&sock), &srv, ""));
    (srv, lb, port, sock)
}

/// The `server_id` stored for `key` in `show table be`.
fn stored_server_id(sock: &Path, key: &str) -> Option<u32> {
    let out = runtime_cmd(sock, "show table be");
    let re = regex::Regex::new(&format!(r"key={} .*server_id=(\d+)", regex::escape(key))).unwrap();
    out.lines()
        .find_map(|l| re.captures(l))
        .map(|c| c[1].parse().unwrap())
}

#[test]
fn stickiness_survives_weight_changes_but_not_a_disabled_server() {
    let dir = TempDir::new();
    let (srv, _lb, port, sock) = with_runtime_api(dir.path());
    let first = sticky_server(ip(1), port, 6);
    let id = |name: &str| -> u32 {
        // `server` lines without `id` are numbered 1, 2, 3 in order.
        u32::try_from(srv.iter().position(|b| b.name() == name).unwrap() + 1).unwrap()
    };
    assert_eq!(stored_server_id(&sock, "127.0.0.1"), Some(id(&first)));

    // Other servers' weights change: the client stays.
    for s in srv.iter().filter(|s| s.name() != first) {
        runtime_ok(&sock, &format!("set weight be/{} 100", s.name()));
    }
    assert_eq!(sticky_server(ip(1), port, 6), first);
    // Its own server drops to weight 0: no new clients, but sticky ones keep it
    // (HAProxy: a weight of 0 only stops load balancing to the server).
    runtime_ok(&sock, &format!("set weight be/{first} 0"));
    assert_eq!(sticky_server(ip(1), port, 6), first);
    for last in 10..16 {
        let other = sticky_server(ip(last), port, 2);
        assert_ne!(
            other, first,
            "a new client went to {first}, whose weight is 0"
        );
    }

    // Disabled (maintenance): the client moves, and the table follows.
    runtime_ok(&sock, &format!("disable server be/{first}"));
    let second = sticky_server(ip(1), port, 6);
    assert_ne!(second, first, "{first} is disabled: the client must move");
    assert_eq!(
        stored_server_id(&sock, "127.0.0.1"),
        Some(id(&second)),
        "show table be after the move"
    );
    // Back in service with its weight: the client stays on its new server.
    runtime_ok(&sock, &format!("enable server be/{first}"));
    runtime_ok(&sock, &format!("set weight be/{first} 1"));
    assert_eq!(sticky_server(ip(1), port, 6), second);
}

#[test]
fn stick_match_with_a_condition_and_a_separate_store_rule() {
    let srv = servers();
    let port = free_port();
    let mut cfg = header_with(1, "");
    cfg.push_str(&format!(
        "frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\n\
         backend be\n    balance roundrobin\n    stick-table type ip size 1k expire 30m\n\
         \x20   stick match src if {{ src 127.0.0.1 }}\n    stick store-request src\n"
    ));
    for s in &srv {
        cfg.push_str(&server_line(s, ""));
    }
    let _lb = Lb::start(&cfg);
    let sticky = sticky_server(ip(1), port, 6);
    // 127.0.0.3 is stored but never matched: plain roundrobin over the three servers.
    let names: Vec<String> = (0..6)
        .map(|_| ask_name_from(ip(3), port).unwrap())
        .collect();
    let distinct: BTreeSet<&String> = names.iter().collect();
    assert_eq!(
        distinct.len(),
        3,
        "127.0.0.3 does not match the condition: balanced, got {names:?}"
    );
    assert_eq!(sticky_server(ip(1), port, 3), sticky);
}
