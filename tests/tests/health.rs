//! Health checks seen from the outside: a dead server is marked DOWN within fall x inter and
//! gets no more traffic, backups take over and give back, slowstart ramps a returning server.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::time::{Duration, Instant};

use lb_tests::client::ask_name;
use lb_tests::{Backend, Lb, fe_be, free_port, header, server_line, tally};

const CHECK: &str = "check inter 300ms fall 3 rise 2";

#[test]
fn dead_server_is_marked_down_then_gets_nothing_then_comes_back() {
    let mut s1 = Backend::identity("s1");
    let s2 = Backend::identity("s2");
    let port = free_port();
    let body = format!(
        "    balance roundrobin\n{}{}",
        server_line(&s1, CHECK),
        server_line(&s2, CHECK)
    );
    let lb = Lb::start(&(header(1) + &fe_be(port, &body)));
    let t = tally(port, 10);
    assert_eq!(
        t.get("s1"),
        Some(&5),
        "both servers serve while healthy: {t:?}"
    );

    let s1_port = s1.port();
    let killed = Instant::now();
    s1.kill();
    lb.expect_line(
        r"Server be/s1 is DOWN, reason: Layer4 connection problem",
        Duration::from_secs(10),
    );
    let took = killed.elapsed();
    // fall 3 x inter 300ms: the third failed check comes 600-900 ms after the kill. Less than
    // two intervals means `fall` was not honoured; the upper bound leaves room for a loaded
    // machine but not for the defaults (inter 2s x fall 3).
    assert!(
        took >= Duration::from_millis(450),
        "marked DOWN after only {took:?}"
    );
    assert!(
        took <= Duration::from_secs(5),
        "marked DOWN only after {took:?}"
    );
    assert!(
        !lb.output().stdout().contains("Server be/s2 is DOWN")
            && !lb.output().stderr().contains("Server be/s2 is DOWN"),
        "the healthy server was marked DOWN"
    );
    // Every connection now lands on s2 (a connection sent to s1 would fail).
    let t = tally(port, 20);
    assert_eq!(t.get("s2"), Some(&20), "traffic after DOWN: {t:?}");

    // Back on the same address: UP after `rise` good checks, then shares the traffic again.
    let _s1 = Backend::identity_on("s1", s1_port);
    lb.expect_line(r"Server be/s1 is UP", Duration::from_secs(10));
    let t = tally(port, 20);
    assert_eq!(t.get("s1"), Some(&10), "traffic after UP: {t:?}");
}

#[test]
fn backup_takes_over_when_all_active_servers_are_down_and_gives_back() {
    let mut s1 = Backend::identity("s1");
    let b1 = Backend::identity("b1");
    let port = free_port();
    let body = format!(
        "    balance roundrobin\n{}{}",
        server_line(&s1, CHECK),
        server_line(&b1, &format!("{CHECK} backup"))
    );
    let lb = Lb::start(&(header(1) + &fe_be(port, &body)));
    let t = tally(port, 10);
    assert_eq!(
        t.get("s1"),
        Some(&10),
        "a backup served while an active server was up: {t:?}"
    );

    let s1_port = s1.port();
    s1.kill();
    lb.expect_line(r"Server be/s1 is DOWN", Duration::from_secs(10));
    let t = tally(port, 10);
    assert_eq!(
        t.get("b1"),
        Some(&10),
        "the backup did not take over: {t:?}"
    );

    let _s1 = Backend::identity_on("s1", s1_port);
    lb.expect_line(r"Server be/s1 is UP", Duration::from_secs(10));
    let t = tally(port, 10);
    assert_eq!(
        t.get("s1"),
        Some(&10),
        "the active server did not get its traffic back: {t:?}"
    );
}

#[test]
fn slowstart_ramps_up_a_returning_server() {
    let s1 = Backend::identity("s1");
    let mut s2 = Backend::identity("s2");
    let port = free_port();
    // Large weights so that the ramp has room to be visible (weights scale by elapsed time).
    let body = format!(
        "    balance roundrobin\n{}{}",
        server_line(&s1, &format!("{CHECK} weight 100")),
        server_line(&s2, &format!("{CHECK} weight 100 slowstart 6s"))
    );
    let lb = Lb::start(&(header(1) + &fe_be(port, &body)));
    let s2_port = s2.port();
    s2.kill();
    lb.expect_line(r"Server be/s2 is DOWN", Duration::from_secs(10));
    let _s2 = Backend::identity_on("s2", s2_port);
    lb.expect_line(r"Server be/s2 is UP", Duration::from_secs(10));
    let up = Instant::now();

    let share = |n: usize| -> f64 {
        let t = tally(port, n);
        assert_eq!(t.values().sum::<usize>(), n, "failed connections: {t:?}");
        t.get("s2").copied().unwrap_or(0) as f64 / n as f64
    };
    let early = share(30);
    let early_took = up.elapsed();
    if let Some(rest) = Duration::from_millis(6500).checked_sub(up.elapsed()) {
        std::thread::sleep(rest);
    }
    let late = share(30);
    // Right after UP the weight is a few percent of 100 (the whole early batch runs in the
    // first part of the 6 s ramp); after the ramp it is equal to s1's.
    if early_took < Duration::from_secs(2) {
        assert!(
            early <= 0.35,
            "s2 got {early:.2} of the traffic right after coming up"
        );
    }
    assert!(
        late >= 0.4,
        "s2 got only {late:.2} of the traffic after its slowstart"
    );
    assert!(late > early, "no ramp: early {early:.2}, late {late:.2}");
}

#[test]
fn all_servers_down_closes_clients() {
    let mut s1 = Backend::identity("s1");
    let port = free_port();
    let body = format!("    balance roundrobin\n{}", server_line(&s1, CHECK));
    let lb = Lb::start(&(header(1) + &fe_be(port, &body)));
    assert_eq!(ask_name(port).expect("name"), "s1");
    s1.kill();
    lb.expect_line(r"Server be/s1 is DOWN", Duration::from_secs(10));
    // HAProxy's alert when a backend loses its last server.
    lb.expect_line(
        r"backend be has no server available",
        Duration::from_secs(5),
    );
    let start = Instant::now();
    assert!(
        ask_name(port).is_err(),
        "a client was served with no server up"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the client waited {:?}",
        start.elapsed()
    );
}
