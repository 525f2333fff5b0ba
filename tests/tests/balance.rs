//! Distribution of connections across servers for each `balance` algorithm and weights.
//!
//! Most tests run one worker (`nbthread 1`) so that the expected sequences are exact, as they
//! are in HAProxy whatever the thread count; one test checks the balance with two workers.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

use lb_tests::client::{ask_name, ask_name_from, connect, read_line};
use lb_tests::{Backend, Lb, fe_be, free_port, header, server_line, tally, wait_until};

/// Starts an lb with `nbthread` workers in front of `servers` (each with its extra server
/// options) balanced by `balance`; returns it with its frontend port.
fn start(nbthread: usize, balance: &str, servers: &[(&Backend, &str)]) -> (Lb, u16) {
    let port = free_port();
    let mut body = format!("    balance {balance}\n");
    for (b, extra) in servers {
        body.push_str(&server_line(b, extra));
    }
    let lb = Lb::start(&(header(nbthread) + &fe_be(port, &body)));
    (lb, port)
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect()
}

/// Opens a connection and returns it with the name of the server that got it.
fn open(port: u16) -> (TcpStream, String) {
    let mut s = connect(port).expect("connect through lb");
    let name = read_line(&mut s).expect("server name");
    (s, name)
}

#[test]
fn roundrobin_alternates_between_equal_servers() {
    let (s1, s2) = (Backend::identity("s1"), Backend::identity("s2"));
    let (_lb, port) = start(1, "roundrobin", &[(&s1, ""), (&s2, "")]);
    let seq: Vec<String> = (0..20).map(|_| ask_name(port).expect("name")).collect();
    for w in seq.windows(2) {
        assert_ne!(
            w[0], w[1],
            "roundrobin sent two connections in a row to one server: {seq:?}"
        );
    }
    let tally: BTreeMap<String, usize> = seq.iter().fold(BTreeMap::new(), |mut m, n| {
        *m.entry(n.clone()).or_insert(0) += 1;
        m
    });
    assert_eq!(tally, counts(&[("s1", 10), ("s2", 10)]));
}

#[test]
fn roundrobin_follows_weights() {
    let (s1, s2) = (Backend::identity("s1"), Backend::identity("s2"));
    let (_lb, port) = start(1, "roundrobin", &[(&s1, "weight 1"), (&s2, "weight 3")]);
    assert_eq!(tally(port, 40), counts(&[("s1", 10), ("s2", 30)]));
}

#[test]
fn static_rr_follows_weights() {
    let (s1, s2, s3) = (
        Backend::identity("s1"),
        Backend::identity("s2"),
        Backend::identity("s3"),
    );
    let (_lb, port) = start(
        1,
        "static-rr",
        &[(&s1, "weight 1"), (&s2, "weight 2"), (&s3, "weight 3")],
    );
    assert_eq!(
        tally(port, 60),
        counts(&[("s1", 10), ("s2", 20), ("s3", 30)])
    );
}

#[test]
fn roundrobin_with_two_workers_stays_balanced() {
    let (s1, s2) = (Backend::identity("s1"), Backend::identity("s2"));
    let (_lb, port) = start(2, "roundrobin", &[(&s1, ""), (&s2, "")]);
    let t = tally(port, 60);
    let (a, b) = (
        t.get("s1").copied().unwrap_or(0),
        t.get("s2").copied().unwrap_or(0),
    );
    assert_eq!(a + b, 60, "some connections failed: {t:?}");
    assert!(
        a.abs_diff(b) <= 8,
        "two workers unbalanced the servers: {t:?}"
    );
}

#[test]
fn leastconn_picks_the_server_with_fewest_connections() {
    let (s1, s2) = (Backend::identity("s1"), Backend::identity("s2"));
    let (_lb, port) = start(1, "leastconn", &[(&s1, ""), (&s2, "")]);
    // Four long connections spread two and two.
    let held: Vec<(TcpStream, String)> = (0..4).map(|_| open(port)).collect();
    assert_ne!(
        held[0].1, held[1].1,
        "the second connection went to the busy server"
    );
    let on_s1 = held.iter().filter(|(_, n)| n == "s1").count();
    assert_eq!(
        on_s1,
        2,
        "leastconn did not spread 4 connections 2/2: {:?}",
        names(&held)
    );
    // Close both connections of s1: it becomes the least loaded server.
    let (to_close, keep): (Vec<_>, Vec<_>) = held.into_iter().partition(|(_, n)| n == "s1");
    drop(to_close);
    assert!(
        wait_until(Duration::from_secs(5), || s1.active() == 0),
        "s1 connections not closed"
    );
    for i in 0..6 {
        assert_eq!(
            ask_name(port).expect("name"),
            "s1",
            "connection {i} did not go to idle s1"
        );
    }
    drop(keep);
}

fn names(held: &[(TcpStream, String)]) -> Vec<&str> {
    held.iter().map(|(_, n)| n.as_str()).collect()
}

#[test]
fn first_fills_servers_in_order() {
    let (s1, s2, s3) = (
        Backend::identity("s1"),
        Backend::identity("s2"),
        Backend::identity("s3"),
    );
    let (_lb, port) = start(
        1,
        "first",
        &[(&s1, "maxconn 2"), (&s2, "maxconn 2"), (&s3, "maxconn 2")],
    );
    let held: Vec<(TcpStream, String)> = (0..5).map(|_| open(port)).collect();
    assert_eq!(names(&held), ["s1", "s1", "s2", "s2", "s3"]);
    drop(held);
    assert!(wait_until(Duration::from_secs(5), || s1.active()
        + s2.active()
        + s3.active()
        == 0));
    // Short connections one at a time all fit on the first server. Each one is fully closed
    // (slot released) before the next starts, so a lagging close cannot fill s1.
    for i in 0..6 {
        assert_eq!(ask_name(port).expect("name"), "s1", "short connection {i}");
        assert!(wait_until(Duration::from_secs(5), || s1.active() == 0));
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn source_sends_each_client_address_to_one_server() {
    let (s1, s2, s3) = (
        Backend::identity("s1"),
        Backend::identity("s2"),
        Backend::identity("s3"),
    );
    let (_lb, port) = start(1, "source", &[(&s1, ""), (&s2, ""), (&s3, "")]);
    let mut seen = BTreeMap::new();
    for i in 10..22u8 {
        let src = Ipv4Addr::new(127, 0, 0, i);
        let names: Vec<String> = (0..3)
            .map(|_| ask_name_from(src, port).expect("name"))
            .collect();
        assert!(
            names.iter().all(|n| *n == names[0]),
            "{src} moved between servers: {names:?}"
        );
        *seen.entry(names[0].clone()).or_insert(0) += 1;
    }
    assert!(
        seen.len() >= 2,
        "12 source addresses all hashed to one server: {seen:?}"
    );
}

#[test]
fn random_follows_weights() {
    let (s1, s2) = (Backend::identity("s1"), Backend::identity("s2"));
    let (_lb, port) = start(1, "random", &[(&s1, "weight 1"), (&s2, "weight 3")]);
    let t = tally(port, 80);
    let (a, b) = (
        t.get("s1").copied().unwrap_or(0),
        t.get("s2").copied().unwrap_or(0),
    );
    assert_eq!(a + b, 80, "some connections failed: {t:?}");
    // Expected 20/60; the bounds are more than 3 standard deviations away.
    assert!(
        (5..=35).contains(&a),
        "weight-1 server got {a} of 80: {t:?}"
    );
}

#[test]
fn consistent_hash_on_source_only_moves_the_dead_servers_clients() {
    let (s1, s2) = (Backend::identity("s1"), Backend::identity("s2"));
    let mut s3 = Backend::identity("s3");
    let chk = "check inter 200ms fall 2 rise 2";
    let port = free_port();
    let body = format!(
        "    balance hash src\n    hash-type consistent\n{}{}{}",
        server_line(&s1, chk),
        server_line(&s2, chk),
        server_line(&s3, chk)
    );
    let lb = Lb::start(&(header(1) + &fe_be(port, &body)));
    let clients: Vec<Ipv4Addr> = (10..40u8).map(|i| Ipv4Addr::new(127, 0, 1, i)).collect();
    let map = |clients: &[Ipv4Addr]| -> Vec<String> {
        clients
            .iter()
            .map(|c| ask_name_from(*c, port).unwrap_or_else(|e| format!("<{e}>")))
            .collect()
    };
    let before = map(&clients);
    assert_eq!(before, map(&clients), "hash src is not stable");
    assert!(
        before.iter().any(|n| n == "s3"),
        "no client hashed to s3: {before:?}"
    );
    s3.kill();
    lb.expect_line(r"Server be/s3 is DOWN", Duration::from_secs(10));
    let after = map(&clients);
    for ((c, b), a) in clients.iter().zip(&before).zip(&after) {
        if b == "s3" {
            assert!(
                a == "s1" || a == "s2",
                "{c} of dead s3 was not re-hashed: got {a}"
            );
        } else {
            assert_eq!(a, b, "{c} moved from live server {b} to {a}");
        }
    }
}
