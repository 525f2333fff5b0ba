//! Map-based routing: `use_backend %[src,map_ip(FILE,bk_default)]` (longest prefix wins),
//! `use_backend %[dst_port,map_int(FILE)]`, pattern files in ACLs (`-f`), and run-time map
//! updates through the runtime API (`add map`, `set map`, `del map`, `show map`) that
//! change the routing of new connections.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::net::Ipv4Addr;
use std::path::Path;

use lb_tests::client::ask_name_from;
use lb_tests::runtime::{runtime_cmd, runtime_ok, stats_socket_line};
use lb_tests::{Backend, Lb, TempDir, ask_name, free_port, header, header_with, server_line};

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, last)
}

struct Servers {
    a: Backend,
    b: Backend,
    c: Backend,
    default: Backend,
}

fn servers() -> Servers {
    Servers {
        a: Backend::identity("a"),
        b: Backend::identity("b"),
        c: Backend::identity("c"),
        default: Backend::identity("default"),
    }
}

fn backends(s: &Servers) -> String {
    format!(
        "backend bk_a\n{}\nbackend bk_b\n{}\nbackend bk_c\n{}\nbackend bk_default\n{}",
        server_line(&s.a, ""),
        server_line(&s.b, ""),
        server_line(&s.c, ""),
        server_line(&s.default, "")
    )
}

const SRC_MAP: &str = "# client networks\n\
                       127.0.0.2       bk_a\n\
                       127.0.0.16/28   bk_b\n\
                       \n\
                       127.0.0.0/25    bk_c\n";

fn src_map_config(global_extra: &str, port: u16, map: &Path, s: &Servers) -> String {
    format!(
        "{}frontend fe\n\
         \x20   bind 127.0.0.1:{port}\n\
         \x20   use_backend %[src,map_ip({},bk_default)]\n\
         \x20   default_backend bk_a\n\n{}",
        header_with(1, global_extra),
        map.display(),
        backends(s)
    )
}

fn route(src: u8, port: u16) -> String {
    ask_name_from(ip(src), port).unwrap_or_else(|e| panic!("from 127.0.0.{src}: {e}"))
}

#[test]
fn map_ip_routes_by_client_network_longest_prefix_first() {
    let s = servers();
    let dir = TempDir::new();
    let map = dir.path().join("src.map");
    std::fs::write(&map, SRC_MAP).unwrap();
    let port = free_port();
    let _lb = Lb::start(&src_map_config("", port, &map, &s));
    assert_eq!(route(2, port), "a", "exact address");
    assert_eq!(route(20, port), "b", "/28 is longer than /25");
    assert_eq!(route(31, port), "b");
    assert_eq!(route(1, port), "c", "in /25 only");
    assert_eq!(route(32, port), "c", "just past the /28");
    assert_eq!(route(200, port), "default", "no entry: the map's default");
    assert_eq!(
        (
            s.a.accepted(),
            s.b.accepted(),
            s.c.accepted(),
            s.default.accepted()
        ),
        (1, 2, 2, 1)
    );
}

#[test]
fn map_int_routes_by_destination_port() {
    let s = servers();
    let dir = TempDir::new();
    let (p1, p2, p3) = (free_port(), free_port(), free_port());
    let map = dir.path().join("ports.map");
    std::fs::write(&map, format!("{p1} bk_a\n{p2} bk_b\n")).unwrap();
    let cfg = format!(
        "{}frontend fe\n\
         \x20   bind 127.0.0.1:{p1},127.0.0.1:{p2},127.0.0.1:{p3}\n\
         \x20   use_backend %[dst_port,map_int({})]\n\
         \x20   default_backend bk_default\n\n{}",
        header(1),
        map.display(),
        backends(&s)
    );
    let _lb = Lb::start(&cfg);
    assert_eq!(ask_name(p1).unwrap(), "a");
    assert_eq!(ask_name(p2).unwrap(), "b");
    // No entry and no map default: the name cannot be built, default_backend.
    assert_eq!(ask_name(p3).unwrap(), "default");
}

#[test]
fn acl_patterns_from_files() {
    let s = servers();
    let dir = TempDir::new();
    let nets = dir.path().join("nets.lst");
    std::fs::write(&nets, "# trusted\n127.0.0.8/29\n\n127.0.0.100\n").unwrap();
    let map = dir.path().join("src.map");
    std::fs::write(&map, SRC_MAP).unwrap();
    let port = free_port();
    let cfg = format!(
        "{}frontend fe\n\
         \x20   bind 127.0.0.1:{port}\n\
         \x20   acl trusted src -f {}\n\
         \x20   use_backend bk_a if trusted\n\
         \x20   use_backend bk_b if {{ src -M -f {} }}\n\
         \x20   default_backend bk_default\n\n{}",
        header(1),
        nets.display(),
        map.display(),
        backends(&s)
    );
    let _lb = Lb::start(&cfg);
    assert_eq!(route(9, port), "a");
    assert_eq!(route(100, port), "a");
    // -M: the keys of a map file are the patterns.
    assert_eq!(route(20, port), "b");
    assert_eq!(route(1, port), "b");
    assert_eq!(route(200, port), "default");
}

#[test]
fn runtime_map_updates_change_the_routing_of_new_connections() {
    let s = servers();
    let dir = TempDir::new();
    let map = dir.path().join("src.map");
    std::fs::write(&map, SRC_MAP).unwrap();
    let sock = dir.path().join("admin.sock");
    let port = free_port();
    let _lb = Lb::start(&src_map_config(&stats_socket_line(&sock), port, &map, &s));
    let m = map.display().to_string();
    assert_eq!(route(5, port), "c");
    assert_eq!(route(2, port), "a");
    assert_eq!(route(20, port), "b");

    // A more specific entry for 127.0.0.5.
    runtime_ok(&sock, &format!("add map {m} 127.0.0.5 bk_a"));
    assert_eq!(route(5, port), "a", "after add map");
    // An existing entry changes its value.
    runtime_ok(&sock, &format!("set map {m} 127.0.0.2 bk_b"));
    assert_eq!(route(2, port), "b", "after set map");
    // An entry goes: the /25 applies again.
    runtime_ok(&sock, &format!("del map {m} 127.0.0.16/28"));
    assert_eq!(route(20, port), "c", "after del map");

    let shown = runtime_cmd(&sock, &format!("show map {m}"));
    for (key, value) in [
        ("127.0.0.2", "bk_b"),
        ("127.0.0.0/25", "bk_c"),
        ("127.0.0.5", "bk_a"),
    ] {
        assert!(
            shown
                .lines()
                .any(|l| l.ends_with(&format!(" {key} {value}"))),
            "show map lacks {key} {value}:\n{shown}"
        );
    }
    assert!(
        !shown.contains("127.0.0.16/28"),
        "deleted entry still shown:\n{shown}"
    );
    // The file on disk is not rewritten by run-time changes.
    assert_eq!(std::fs::read_to_string(&map).unwrap(), SRC_MAP);
}
