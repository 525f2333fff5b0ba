//! The runtime API (`stats socket`) of a real `lb`: commands over a unix socket change the
//! running process (weights, maintenance, stick tables) and report it (`show info`).
//!
//! Tests run one worker (`nbthread 1`) where they count distributions, so that the expected
//! sequences are exact, as in the balancing tests.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lb_tests::client::ask_name_from;
use lb_tests::lb::run_lb;
use lb_tests::{Backend, Lb, TempDir, fe_be, free_port, header, server_line, tally, wait_until};

/// `header(nbthread)` with `stats` lines added to its global section.
fn header_with_stats(nbthread: usize, stats: &str) -> String {
    header(nbthread).replacen("global\n", &format!("global\n{stats}"), 1)
}

/// An lb with an admin socket in `dir`, in front of `servers` balanced round-robin.
fn start(dir: &TempDir, nbthread: usize, body: &str) -> (Lb, u16, PathBuf) {
    let sock = dir.path().join("admin.sock");
    let port = free_port();
    let stats = format!(
        "    stats socket {} mode 600 level admin\n    stats timeout 5s\n",
        sock.display()
    );
    let lb = Lb::start(&(header_with_stats(nbthread, &stats) + &fe_be(port, body)));
    assert!(
        wait_until(Duration::from_secs(5), || sock.exists()),
        "no socket file"
    );
    (lb, port, sock)
}

/// Sends one line and returns everything until the server closes.
fn cli(sock: &Path, command: &str) -> String {
    let mut c = UnixStream::connect(sock).expect("connect to the stats socket");
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(format!("{command}\n").as_bytes()).unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).expect("read the response");
    out
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect()
}

fn info(sock: &Path) -> BTreeMap<String, String> {
    let out = cli(sock, "show info");
    assert!(out.ends_with("\n\n"), "{out:?}");
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l
                .split_once(": ")
                .unwrap_or_else(|| panic!("bad line {l:?}"));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

#[test]
fn show_info_reports_the_process() {
    let dir = TempDir::new();
    let s1 = Backend::identity("s1");
    let (lb, port, sock) = start(&dir, 2, &server_line(&s1, ""));
    let meta = std::fs::metadata(&sock).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "mode 600");
    let before = info(&sock);
    assert_eq!(before["Name"], "lb");
    assert_eq!(before["Pid"], lb.pid().to_string());
    assert_eq!(before["Nbthread"], "2");
    assert_eq!(before["CurrConns"], "0");
    assert!(before["Uptime"].starts_with("0d 0h00m"), "{before:?}");
    let _ = tally(port, 3);
    let after = info(&sock);
    let cum = |m: &BTreeMap<String, String>| m["CumConns"].parse::<u64>().unwrap();
    assert_eq!(cum(&after), cum(&before) + 3);
}

#[test]
fn set_weight_changes_the_distribution_of_new_connections() {
    let dir = TempDir::new();
    let (s1, s2) = (Backend::identity("s1"), Backend::identity("s2"));
    let body = format!(
        "    balance roundrobin\n{}{}",
        server_line(&s1, ""),
        server_line(&s2, "")
    );
    let (_lb, port, sock) = start(&dir, 1, &body);
    assert_eq!(tally(port, 20), counts(&[("s1", 10), ("s2", 10)]));
    assert_eq!(cli(&sock, "set weight be/s1 3"), "\n");
    assert_eq!(cli(&sock, "get weight be/s1"), "3 (initial 1)\n\n");
    assert_eq!(tally(port, 40), counts(&[("s1", 30), ("s2", 10)]));
    // Relative to the initial weight, through `set server`.
    assert_eq!(cli(&sock, "set server be/s1 weight 100%"), "\n");
    assert_eq!(tally(port, 20), counts(&[("s1", 10), ("s2", 10)]));
    // Weight 0: no new connection.
    assert_eq!(cli(&sock, "set weight be/s2 0"), "\n");
    assert_eq!(tally(port, 10), counts(&[("s1", 10)]));
    let state = cli(&sock, "show servers state be");
    let s2_line = state.lines().find(|l| l.contains(" s2 ")).unwrap();
    let cols: Vec<&str> = s2_line.split(' ').collect();
    assert_eq!(cols[7..9], ["0", "1"], "uweight, iweight: {s2_line}");
}

#[test]
fn disable_server_takes_it_out_and_enable_brings_it_back() {
    let dir = TempDir::new();
    let (s1, s2) = (Backend::identity("s1"), Backend::identity("s2"));
    let body = format!(
        "    balance roundrobin\n{}{}",
        server_line(&s1, ""),
        server_line(&s2, "")
    );
    let (_lb, port, sock) = start(&dir, 1, &body);
    assert_eq!(cli(&sock, "disable server be/s1"), "\n");
    assert_eq!(tally(port, 10), counts(&[("s2", 10)]));
    let state = cli(&sock, "show servers state");
    let s1_line = state.lines().find(|l| l.contains(" s1 ")).unwrap();
    assert_eq!(
        s1_line.split(' ').nth(6),
        Some("1"),
        "forced maintenance: {s1_line}"
    );
    assert_eq!(cli(&sock, "enable server be/s1"), "\n");
    assert_eq!(tally(port, 10), counts(&[("s1", 5), ("s2", 5)]));
    assert_eq!(cli(&sock, "disable server be/nope"), "No such server.\n\n");
}

#[test]
fn show_table_shows_the_sources_stick_on_src_tracks() {
    let dir = TempDir::new();
    let (s1, s2) = (Backend::identity("s1"), Backend::identity("s2"));
    let body = format!(
        "    balance roundrobin\n    stick-table type ip size 100 expire 30s\n    stick on src\n{}{}",
        server_line(&s1, ""),
        server_line(&s2, "")
    );
    let (_lb, port, sock) = start(&dir, 1, &body);
    let a = Ipv4Addr::new(127, 0, 0, 2);
    let b = Ipv4Addr::new(127, 0, 0, 3);
    let first_a = ask_name_from(a, port).unwrap();
    let first_b = ask_name_from(b, port).unwrap();
    assert_ne!(
        first_a, first_b,
        "round robin spreads the first connections"
    );
    assert_eq!(
        cli(&sock, "show table"),
        "# table: be, type: ip, size:100, used:2\n\n"
    );
    let out = cli(&sock, "show table be");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "# table: be, type: ip, size:100, used:2");
    let entry = |key: &str| {
        lines
            .iter()
            .find(|l| l.contains(&format!(": key={key} ")))
            .unwrap_or_else(|| panic!("no entry for {key} in {out}"))
            .to_string()
    };
    let server_id = |name: &str| if name == "s1" { 1 } else { 2 };
    assert!(
        entry("127.0.0.2").ends_with(&format!(" server_id={}", server_id(&first_a))),
        "{out}"
    );
    assert!(entry("127.0.0.3").contains(" use=0 exp="), "{out}");
    // A source sticks to its server, even when weights say otherwise.
    let other_a = if first_a == "s1" { "s2" } else { "s1" };
    assert_eq!(cli(&sock, &format!("set weight be/{other_a} 100")), "\n");
    for _ in 0..4 {
        assert_eq!(ask_name_from(a, port).unwrap(), first_a);
    }
    // Forgetting the entry lets the balancer choose again, and the table learns it anew
    // (a stream that just ended may still hold the entry for a moment).
    assert!(
        wait_until(Duration::from_secs(5), || cli(
            &sock,
            "clear table be key 127.0.0.2"
        ) == "\n"),
        "the entry stays in use"
    );
    let out = cli(&sock, "show table be key 127.0.0.2");
    assert_eq!(out, "\n", "entry gone: {out}");
    let _ = ask_name_from(a, port).unwrap();
    assert!(cli(&sock, "show table be key 127.0.0.2").contains("key=127.0.0.2 "));
    // Setting the entry by hand routes the source.
    let other = if first_b == "s1" { 2 } else { 1 };
    let cmd = format!("set table be key 127.0.0.3 data.server_id {other}");
    assert_eq!(cli(&sock, &cmd), "\n");
    let want = if other == 1 { "s1" } else { "s2" };
    assert_eq!(ask_name_from(b, port).unwrap(), want);
}

#[test]
fn levels_protocol_and_errors() {
    let dir = TempDir::new();
    let s1 = Backend::identity("s1");
    let admin = dir.path().join("admin.sock");
    let user = dir.path().join("user.sock");
    let port = free_port();
    let stats = format!(
        "    stats socket {} level admin\n    stats socket unix@{} level user\n",
        admin.display(),
        user.display()
    );
    let lb = Lb::start(&(header_with_stats(1, &stats) + &fe_be(port, &server_line(&s1, ""))));
    assert!(wait_until(Duration::from_secs(5), || user.exists()));
    assert_eq!(cli(&user, "set weight be/s1 2"), "Permission denied\n\n");
    assert_eq!(cli(&user, "show cli level"), "user\n\n");
    assert_eq!(cli(&user, "get weight be/s1"), "1 (initial 1)\n\n");
    assert_eq!(
        cli(&admin, "show backend;show cli level"),
        "# name\nbe\n\nadmin\n\n"
    );
    let unknown = cli(&admin, "show nothing");
    assert!(
        unknown.starts_with(
            "Unknown command, but maybe one of the following ones is a better match:\n"
        ),
        "{unknown}"
    );
    assert!(unknown.ends_with("  quit                                    : disconnect\n\n"));
    // Interactive mode.
    let mut c = UnixStream::connect(&admin).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"prompt\nget weight be/s1\nquit\n").unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    assert_eq!(out, "\n> 1 (initial 1)\n\n> ");
    // The socket files go away with the process.
    lb.signal(libc::SIGTERM);
    let mut lb = lb;
    lb.wait_exit(Duration::from_secs(10))
        .expect("lb exits on SIGTERM");
    assert!(
        !admin.exists() && !user.exists(),
        "socket files removed at exit"
    );
}

#[test]
fn map_updates_at_run_time_route_new_connections() {
    let dir = TempDir::new();
    let (s1, s2) = (Backend::identity("s1"), Backend::identity("s2"));
    let map = dir.path().join("route.map");
    std::fs::write(&map, "# source -> backend\n127.0.0.2 be_b\n").unwrap();
    let sock = dir.path().join("admin.sock");
    let port = free_port();
    let stats = format!("    stats socket {} level admin\n", sock.display());
    let config = header_with_stats(1, &stats)
        + &format!(
            "frontend fe\n    bind 127.0.0.1:{port}\n    use_backend %[src,map_ip({},be_a)]\n\n\
             backend be_a\n{}\nbackend be_b\n{}",
            map.display(),
            server_line(&s1, ""),
            server_line(&s2, "")
        );
    let _lb = Lb::start(&config);
    assert!(wait_until(Duration::from_secs(5), || sock.exists()));
    let (a, b) = (Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3));
    assert_eq!(ask_name_from(a, port).unwrap(), "s2");
    assert_eq!(
        ask_name_from(b, port).unwrap(),
        "s1",
        "not in the map: default"
    );
    let m = map.display();
    assert_eq!(
        cli(&sock, "show map"),
        format!(
            "# id (file) description\n0 ({m}) pattern loaded from file '{m}'. curr_ver=0 next_ver=0 entry_cnt=1\n\n"
        )
    );
    assert_eq!(cli(&sock, &format!("add map {m} 127.0.0.3 be_b")), "\n");
    assert_eq!(
        ask_name_from(b, port).unwrap(),
        "s2",
        "added entry routes at once"
    );
    assert_eq!(
        cli(&sock, &format!("get map {m} 127.0.0.3")),
        "type=ip, case=sensitive, found=yes, idx=tree, key=\"127.0.0.3\", value=\"be_b\", type=\"str\"\n\n"
    );
    assert_eq!(cli(&sock, &format!("set map {m} 127.0.0.2 be_a")), "\n");
    assert_eq!(ask_name_from(a, port).unwrap(), "s1");
    let listing = cli(&sock, "show map #0");
    assert!(
        listing.contains(" 127.0.0.2 be_a\n") && listing.contains(" 127.0.0.3 be_b\n"),
        "{listing}"
    );
    assert_eq!(cli(&sock, &format!("del map {m} 127.0.0.3")), "\n");
    assert_eq!(ask_name_from(b, port).unwrap(), "s1");
    assert_eq!(cli(&sock, "add map #0 <<\n127.0.0.0/8 be_b\n"), "\n");
    assert_eq!(
        ask_name_from(b, port).unwrap(),
        "s2",
        "network added by payload"
    );
    assert_eq!(cli(&sock, "clear map #0"), "\n");
    assert_eq!(ask_name_from(a, port).unwrap(), "s1");
    assert_eq!(ask_name_from(b, port).unwrap(), "s1");
    assert_eq!(
        std::fs::read_to_string(&map).unwrap().lines().count(),
        2,
        "the file is untouched"
    );
}

#[test]
fn a_stats_socket_that_cannot_be_bound_fails_the_start() {
    let dir = TempDir::new();
    let sock = dir.path().join("missing-dir").join("admin.sock");
    let cfg_path = dir.path().join("lb.cfg");
    let port = free_port();
    let stats = format!("    stats socket {}\n", sock.display());
    let s1 = Backend::identity("s1");
    std::fs::write(
        &cfg_path,
        header_with_stats(1, &stats) + &fe_be(port, &server_line(&s1, "")),
    )
    .unwrap();
    let (status, _out, err) = run_lb(&["-f", cfg_path.to_str().unwrap()], Duration::from_secs(20));
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("Starting proxy GLOBAL: cannot bind socket")
            && err.contains(&format!("[unix@{}]", sock.display())),
        "{err}"
    );
    // `expose-fd listeners` is refused with its reason.
    let bad = header_with_stats(1, "    stats socket /tmp/x.sock expose-fd listeners\n")
        + &fe_be(port, &server_line(&s1, ""));
    std::fs::write(&cfg_path, bad).unwrap();
    let (status, _out, err) = run_lb(
        &["-c", "-f", cfg_path.to_str().unwrap()],
        Duration::from_secs(20),
    );
    assert_eq!(status.code(), Some(1));
    assert!(
        err.contains("keyword 'expose-fd listeners' is not supported yet (comes with hot reload)"),
        "{err}"
    );
}
