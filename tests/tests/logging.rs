//! Traffic logs: the `option tcplog` line on stdout field by field, HAProxy's default
//! connect line without `option tcplog`, and RFC 3164 syslog over UDP.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::io::Write;
use std::net::{Ipv4Addr, UdpSocket};
use std::time::Duration;

use lb_tests::client::{connect, read_line};
use lb_tests::{Backend, Lb, fe_be, free_port, server_line};

fn cfg(logs: &str, tcplog: bool, fe_port: u16, s1: &Backend) -> String {
    format!(
        "global\n    nbthread 1\n    {logs}\n\n\
         defaults\n    mode tcp\n    log global\n{}    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n\n{}",
        if tcplog { "    option tcplog\n" } else { "" },
        fe_be(fe_port, &server_line(s1, ""))
    )
}

#[test]
fn tcplog_line_on_stdout_has_haproxy_fields() {
    let s1 = Backend::identity("s1");
    let port = free_port();
    let lb = Lb::start(&cfg("log stdout format raw local0", true, port, &s1));
    let mut c = connect(port).expect("connect");
    let c_port = c.local_addr().expect("addr").port();
    assert_eq!(read_line(&mut c).expect("name"), "s1");
    c.write_all(b"hello\n").expect("write");
    assert_eq!(read_line(&mut c).expect("echo"), "hello");
    std::thread::sleep(Duration::from_millis(300));
    drop(c);

    let line = lb.expect_line(&format!(r"^127\.0\.0\.1:{c_port} "), Duration::from_secs(5));
    // %ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq
    let re = regex::Regex::new(
        r"^127\.0\.0\.1:(\d+) \[(\d{2})/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/(\d{4}):(\d{2}):(\d{2}):(\d{2})\.(\d{3})\] fe be/s1 (\d+)/(\d+)/(\d+) (\d+) -- (\d+)/(\d+)/(\d+)/(\d+)/0 0/0$",
    )
    .expect("re");
    let caps = re
        .captures(&line)
        .unwrap_or_else(|| panic!("not a tcplog line: {line:?}"));
    let num = |i: usize| -> u64 { caps[i].parse().expect("number") };
    assert_eq!(num(1), u64::from(c_port));
    let (tw, tc, tt, bytes) = (num(9), num(10), num(11), num(12));
    assert!(tw < 1000, "Tw {tw}: nothing was queued");
    assert!(tc < 1000, "Tc {tc}: loopback connect");
    assert!(
        (300..10_000).contains(&tt),
        "Tt {tt}: the client stayed 300 ms"
    );
    assert!(tc <= tt && tw <= tt);
    assert_eq!(
        bytes, 9,
        "bytes from server to client: 's1\\n' + 'hello\\n'"
    );
    let (ac, fc) = (num(13), num(14));
    assert!(
        ac >= 1 && fc >= 1,
        "the logged connection counts itself: {line}"
    );
    // Exactly one line for the connection, and no syslog header in raw format.
    assert_eq!(
        lb.output()
            .lines_matching(&regex::Regex::new(&format!(r":{c_port} \[")).expect("re"))
            .len(),
        1
    );
}

#[test]
fn without_tcplog_each_connection_logs_a_connect_line() {
    let s1 = Backend::identity("s1");
    let port = free_port();
    let lb = Lb::start(&cfg("log stdout format raw local0", false, port, &s1));
    let mut c = connect(port).expect("connect");
    let c_port = c.local_addr().expect("addr").port();
    assert_eq!(read_line(&mut c).expect("name"), "s1");
    lb.expect_line(
        &format!(r"^Connect from 127\.0\.0\.1:{c_port} to 127\.0\.0\.1:{port} \(fe/TCP\)$"),
        Duration::from_secs(5),
    );
    drop(c);
}

#[test]
fn tcplog_to_udp_syslog_in_rfc3164() {
    let syslog = UdpSocket::bind((Ipv4Addr::LOCALHOST, free_port())).expect("syslog socket");
    syslog
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let sys_port = syslog.local_addr().expect("addr").port();
    let s1 = Backend::identity("s1");
    let port = free_port();
    let lb = Lb::start(&cfg(
        &format!("log 127.0.0.1:{sys_port} local0"),
        true,
        port,
        &s1,
    ));
    let mut c = connect(port).expect("connect");
    let c_port = c.local_addr().expect("addr").port();
    assert_eq!(read_line(&mut c).expect("name"), "s1");
    drop(c);
    let needle = format!("127.0.0.1:{c_port} [");
    let mut buf = [0u8; 2048];
    let msg = loop {
        let n = syslog
            .recv(&mut buf)
            .expect("no syslog datagram within 10 s");
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if msg.contains(&needle) {
            break msg;
        }
    };
    // <local0*8+info>Mmm dd hh:mm:ss TAG[PID]: message
    let re = regex::Regex::new(&format!(
        r"^<134>[A-Z][a-z]{{2}} [ \d]\d \d{{2}}:\d{{2}}:\d{{2}} (\S+ )?\S+\[{}\]: 127\.0\.0\.1:{c_port} \[.*\] fe be/s1 ",
        lb.pid()
    ))
    .expect("re");
    assert!(
        re.is_match(&msg),
        "not an RFC 3164 tcplog datagram: {msg:?}"
    );
}
