//! Valid configurations and the model they produce.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::parse;
use crate::config::model::*;

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn tcp(port: u16) -> BindAddr {
    BindAddr::Tcp(SocketAddr::new(LO, port))
}

#[test]
fn basic_tcp_proxy() {
    let c = parse(&[
        "global",
        "    maxconn 1000",
        "frontend fe",
        "    bind 127.0.0.1:10000 name main",
        "    default_backend be",
        "backend be",
        "    server s1 127.0.0.1:10080",
        "    server s2 127.0.0.1:10081 check",
    ]);
    assert_eq!(c.global.maxconn, Some(1000));
    assert_eq!(c.global.bufsize, DEFAULT_BUFSIZE);
    let fe = &c.frontends[0];
    assert_eq!(
        (fe.name.as_str(), fe.location.line, fe.mode),
        ("fe", 3, Mode::Tcp)
    );
    assert_eq!(fe.binds[0].addrs, [tcp(10000)]);
    assert_eq!(
        (fe.binds[0].name.as_deref(), fe.binds[0].location.line),
        (Some("main"), 4)
    );
    assert_eq!(fe.default_backend.as_deref(), Some("be"));
    assert_eq!(fe.maxconn, None);
    let be = c.backend("be").unwrap();
    assert_eq!(
        (be.balance.clone(), be.retries, be.check.clone()),
        (Balance::RoundRobin, DEFAULT_RETRIES, CheckKind::Tcp)
    );
    let s = &be.servers[1];
    assert_eq!(
        (s.name.as_str(), s.id, s.addr, s.port, s.check),
        ("s2", 2, LO, ServerPort::Fixed(10081), true)
    );
    assert_eq!(
        (s.inter, s.fastinter, s.downinter),
        (
            Duration::from_secs(2),
            Duration::from_secs(2),
            Duration::from_secs(2)
        )
    );
    assert_eq!((s.rise, s.fall, s.weight, s.maxconn), (2, 3, 1, 0));
    assert_eq!(
        (s.backup, s.disabled, s.slowstart, s.track.clone()),
        (false, false, None, None)
    );
    assert_eq!(s.location.line, 8);
    assert!(!be.servers[0].check);
    assert!(c.xdp.is_none());
}

#[test]
fn defaults_are_inherited() {
    let c = parse(&[
        "defaults",
        "    mode tcp",
        "    timeout connect 5s",
        "    timeout client 30s",
        "    timeout server 30s",
        "    timeout queue 10s",
        "    maxconn 500",
        "    retries 5",
        "    balance leastconn",
        "    hash-type consistent djb2",
        "    option redispatch",
        "    option tcplog",
        "    default-server inter 1s fall 2",
        "    default_backend be",
        "frontend fe",
        "    bind :10000",
        "    timeout client 1m",
        "backend be",
        "    option allbackups",
        "    default-server rise 7",
        "    server s1 127.0.0.1:10080 check",
        "    server s2 127.0.0.1:10081 check inter 3s",
    ]);
    let fe = &c.frontends[0];
    assert_eq!(fe.timeouts.client, Some(Duration::from_secs(60)));
    assert_eq!(fe.timeouts.connect, Some(Duration::from_secs(5)));
    assert_eq!((fe.maxconn, fe.tcplog), (Some(500), true));
    assert_eq!(fe.default_backend.as_deref(), Some("be"));
    let be = &c.backends[0];
    assert_eq!(be.timeouts.server, Some(Duration::from_secs(30)));
    assert_eq!(be.timeouts.queue, Some(Duration::from_secs(10)));
    assert_eq!(
        (be.retries, be.balance.clone(), be.redispatch, be.allbackups),
        (5, Balance::LeastConn, true, true)
    );
    assert_eq!(
        be.hash_type,
        HashType {
            method: HashMethod::Consistent,
            function: HashFunction::Djb2,
            avalanche: false
        }
    );
    let (s1, s2) = (&be.servers[0], &be.servers[1]);
    assert_eq!((s1.inter, s1.fall, s1.rise), (Duration::from_secs(1), 2, 7));
    assert_eq!(
        (s2.inter, s2.fastinter, s2.downinter),
        (
            Duration::from_secs(3),
            Duration::from_secs(3),
            Duration::from_secs(3)
        )
    );
}

#[test]
fn a_new_defaults_section_resets_everything() {
    let c = parse(&[
        "defaults",
        "    retries 9",
        "    timeout connect 1s",
        "backend a",
        "defaults",
        "    timeout server 2s",
        "backend b",
    ]);
    let (a, b) = (&c.backends[0], &c.backends[1]);
    assert_eq!(
        (a.retries, a.timeouts.connect),
        (9, Some(Duration::from_secs(1)))
    );
    assert_eq!(
        (b.retries, b.timeouts.connect, b.timeouts.server),
        (3, None, Some(Duration::from_secs(2)))
    );
}

#[test]
fn named_defaults_and_from() {
    let c = parse(&[
        "defaults tcp-fast",
        "    timeout connect 1s",
        "    retries 1",
        "defaults slow from tcp-fast",
        "    timeout connect 10s",
        "defaults",
        "    retries 4",
        "backend implicit",
        "backend fast from tcp-fast",
        "backend slow from slow",
        "defaults from slow",
        "backend again",
    ]);
    let get = |n: &str| {
        c.backend(n)
            .map(|b| (b.retries, b.timeouts.connect.map(|t| t.as_secs())))
    };
    assert_eq!(get("implicit"), Some((4, None)));
    assert_eq!(get("fast"), Some((1, Some(1))));
    assert_eq!(get("slow"), Some((1, Some(10))));
    assert_eq!(get("again"), Some((1, Some(10))));
}

#[test]
fn the_last_defaults_section_applies_even_when_named() {
    let c = parse(&["defaults named", "    retries 7", "backend b"]);
    assert_eq!(c.backends[0].retries, 7);
}

#[test]
fn listen_is_a_frontend_and_a_backend() {
    let c = parse(&[
        "defaults",
        "    timeout client 5s",
        "listen app",
        "    bind 127.0.0.1:10000,127.0.0.1:10001",
        "    balance source",
        "    option tcplog",
        "    server s1 127.0.0.1:10080",
        "listen other",
        "    bind 127.0.0.1:10002",
        "    default_backend app",
        "    server s1 127.0.0.1:10080",
    ]);
    assert_eq!(c.frontends.len(), 2);
    assert_eq!(c.backends.len(), 2);
    let fe = &c.frontends[0];
    assert_eq!(
        (fe.name.as_str(), fe.default_backend.as_deref()),
        ("app", Some("app"))
    );
    assert_eq!(fe.binds[0].addrs, [tcp(10000), tcp(10001)]);
    assert_eq!(
        (fe.tcplog, fe.timeouts.client),
        (true, Some(Duration::from_secs(5)))
    );
    let be = c.backend("app").unwrap();
    assert_eq!(
        (be.balance.clone(), be.servers.len(), be.location.line),
        (Balance::Source, 1, 3)
    );
    assert_eq!(c.frontends[1].default_backend.as_deref(), Some("app"));
}

#[test]
fn frontend_and_backend_may_share_a_name() {
    let c = parse(&[
        "frontend app",
        "    bind :10000",
        "    default_backend app",
        "backend app",
    ]);
    assert_eq!((c.frontends.len(), c.backends.len()), (1, 1));
}

#[test]
fn use_backend_without_condition() {
    let c = parse(&[
        "frontend fe",
        "    bind :10000",
        "    use_backend a",
        "    default_backend b",
        "backend a",
        "backend b",
    ]);
    let rule = &c.frontends[0].use_backends[0];
    let BackendRef::Static(name) = &rule.backend else {
        panic!("static name expected");
    };
    assert_eq!(
        (name.as_str(), rule.cond.is_none(), rule.location.line),
        ("a", true, 3)
    );
}

#[test]
fn options_can_be_negated() {
    let c = parse(&[
        "defaults",
        "    option redispatch",
        "    option allbackups",
        "backend a",
        "    no option redispatch",
        "backend b",
        "    default option allbackups",
    ]);
    assert_eq!(
        (c.backends[0].redispatch, c.backends[0].allbackups),
        (false, true)
    );
    assert_eq!(
        (c.backends[1].redispatch, c.backends[1].allbackups),
        (true, false)
    );
}

#[test]
fn server_ids_fill_gaps_around_forced_ones() {
    let c = parse(&[
        "backend b",
        "    server a 127.0.0.1:1 id 2",
        "    server b 127.0.0.1:2",
        "    server c 127.0.0.1:3",
        "    server d 127.0.0.1:4 id 10",
    ]);
    let ids: Vec<u32> = c.backends[0].servers.iter().map(|s| s.id).collect();
    assert_eq!(ids, [2, 1, 3, 10]);
}

#[test]
fn server_settings() {
    let c = parse(&[
        "backend b",
        "    default-server maxconn 50 slowstart 30s",
        "    server main 127.0.0.1:10080 check weight 100 addr 127.0.0.2 port 10090",
        "    server spare 127.0.0.1:+5 backup disabled slowstart 0",
        "    server mirror 127.0.0.1 track main",
    ]);
    let s = &c.backends[0].servers;
    assert_eq!(
        (s[0].weight, s[0].maxconn, s[0].slowstart),
        (100, 50, Some(Duration::from_secs(30)))
    );
    assert_eq!(
        (s[0].check_addr, s[0].check_port),
        (Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))), Some(10090))
    );
    assert_eq!(
        (s[1].port, s[1].backup, s[1].disabled, s[1].slowstart),
        (ServerPort::Offset(5), true, true, None)
    );
    assert_eq!(s[2].port, ServerPort::SameAsClient);
    assert_eq!(
        s[2].track,
        Some(TrackRef {
            backend: "b".into(),
            server: "main".into()
        })
    );
}

#[test]
fn track_across_backends_and_chains() {
    let c = parse(&[
        "backend a",
        "    server s1 127.0.0.1:10080 check",
        "backend b",
        "    server t1 127.0.0.1:10081 track a/s1",
        "    server t2 127.0.0.1:10082 track t1",
    ]);
    assert_eq!(
        c.backends[1].servers[1].track,
        Some(TrackRef {
            backend: "b".into(),
            server: "t1".into()
        })
    );
}

#[test]
fn health_check_settings_reach_the_backend() {
    let c = parse(&[
        "defaults",
        "    option httpchk GET /health",
        "    timeout check 2s",
        "backend web",
        "    http-check expect status 200",
        "    server s1 127.0.0.1:10080 check",
        "backend redis",
        "    option tcp-check",
        "    tcp-check send \"PING\\r\\n\"",
        "    tcp-check expect string +PONG",
        "    server r1 127.0.0.1:10079 check",
    ]);
    let CheckKind::Http(h) = &c.backends[0].check else {
        panic!("{:?}", c.backends[0].check)
    };
    assert_eq!((h.method.as_str(), h.uri.as_str()), ("GET", "/health"));
    assert!(h.expect.is_some());
    assert_eq!(c.backends[0].timeouts.check, Some(Duration::from_secs(2)));
    let CheckKind::TcpScript(rules) = &c.backends[1].check else {
        panic!()
    };
    assert_eq!(rules[0], TcpCheckRule::Send(b"PING\r\n".to_vec()));
}

#[test]
fn tcp_check_connect_port_allows_portless_servers() {
    let c = parse(&[
        "backend b",
        "    option tcp-check",
        "    tcp-check connect port 10079",
        "    server s 127.0.0.1 check",
    ]);
    assert!(c.backends[0].servers[0].check);
}

#[test]
fn logs_and_log_global() {
    let c = parse(&[
        "global",
        "    log 127.0.0.1:10514 local0 info",
        "defaults",
        "    log global",
        "frontend fe",
        "    bind :10000",
        "    log stdout format raw daemon",
        "frontend quiet",
        "    bind :10001",
        "    no log",
    ]);
    let fe = &c.frontends[0];
    assert_eq!(fe.logs.len(), 2);
    assert_eq!(
        fe.logs[0].dest,
        LogDest::Udp("127.0.0.1:10514".parse().unwrap())
    );
    assert_eq!(
        (fe.logs[1].dest.clone(), fe.logs[1].format),
        (LogDest::Stdout, LogFormat::Raw)
    );
    assert!(c.frontends[1].logs.is_empty());
}

#[test]
fn global_settings() {
    let c = parse(&[
        "global",
        "    nbthread 2",
        "    daemon",
        "    pidfile /tmp/lb.pid",
        "    tune.bufsize 32768",
        "    tune.pipesize 64k",
        "    nosplice",
        "    hard-stop-after 1m",
        "global",
        "    maxconn 77",
    ]);
    let g = &c.global;
    assert_eq!(
        (g.nbthread, g.daemon, g.nosplice, g.maxconn),
        (Some(2), true, true, Some(77))
    );
    assert_eq!((g.bufsize, g.pipesize), (32768, Some(65536)));
    assert_eq!(g.pidfile, Some(PathBuf::from("/tmp/lb.pid")));
    assert_eq!(g.hard_stop_after, Some(Duration::from_secs(60)));
}

#[test]
fn environment_variables() {
    let c = parse(&[
        "frontend fe",
        "    bind \"${PORTS}\" name \"port-${.LINE}\"",
        "    default_backend be",
        "backend be",
        "    option httpchk \"${CHECK[*]}\"",
        "    server s \"$BACKEND_ADDR\"",
        "    server t \"${MISSING-127.0.0.1:10081}\"",
    ]);
    let fe = &c.frontends[0];
    assert_eq!(fe.binds[0].addrs.len(), 2);
    assert_eq!(fe.binds[0].name.as_deref(), Some("port-2"));
    let s = &c.backends[0].servers;
    assert_eq!(
        (s[0].port, s[1].port),
        (ServerPort::Fixed(10080), ServerPort::Fixed(10081))
    );
    let CheckKind::Http(h) = &c.backends[0].check else {
        panic!()
    };
    assert_eq!(
        (h.method.as_str(), h.uri.as_str(), h.version.as_str()),
        ("GET", "/ready", "HTTP/1.1")
    );
}

#[test]
fn xdp_section() {
    let c = parse(&[
        "xdp",
        "    interface lo mode generic",
        "    pin-path /sys/fs/bpf/test",
        "    required",
    ]);
    let x = c.xdp.unwrap();
    assert_eq!(
        x.interfaces,
        [XdpInterface {
            name: "lo".into(),
            mode: XdpMode::Generic
        }]
    );
    assert_eq!(
        (x.pin_path, x.required, x.location.line),
        (PathBuf::from("/sys/fs/bpf/test"), true, 1)
    );
}

#[test]
fn zero_timeouts_mean_none_and_comments_are_ignored() {
    let c = parse(&[
        "# leading comment",
        "",
        "defaults   # trailing comment",
        "\ttimeout connect 0",
        "  timeout server 0s # none",
        "backend b",
    ]);
    assert_eq!(
        (
            c.backends[0].timeouts.connect,
            c.backends[0].timeouts.server
        ),
        (None, None)
    );
}
