//! The I/O edge of a check: connects, sends and reads with tokio as a [`Runner`] asks, under
//! HAProxy's time limits.
//!
//! Time limits, as HAProxy's `timeout check` documentation: without `timeout check`, `inter`
//! bounds the whole check (connect + exchange). With `timeout check`, the connection has
//! `min(inter, timeout connect)` to establish (just `inter` when `timeout connect` is
//! unset), then the rest of the check has `timeout check`.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::checks::result::{CheckResult, CheckStatus};
use crate::checks::tcpcheck::{Action, Program, Runner};
use crate::config::model::{ProxyVersion, Server, ServerPort, Timeouts};
use crate::proxy_protocol::check_header;

/// Where a server's checks connect by default: `addr`/`port` overrides, else the server's
/// address and fixed port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckTarget {
    /// `addr` if set, else the server address.
    pub addr: IpAddr,
    /// `port` if set, else the server's fixed port; `None` for a server whose port follows
    /// the client (`:+N` or no port) without a check port.
    pub port: Option<u16>,
    /// The PROXY protocol header the default connection starts with: the server's
    /// `send-proxy[-v2]`, unless the check has its own `addr` or `port` (HAProxy then
    /// checks something else than the traffic port, which may not expect a header).
    pub send_proxy: Option<ProxyVersion>,
    /// The header version a `tcp-check connect send-proxy` line sends: the server's, else v1.
    pub forced_proxy: ProxyVersion,
}

impl CheckTarget {
    /// The default check target of `server`.
    pub fn of(server: &Server) -> Self {
        let port = server.check_port.or(match server.port {
            ServerPort::Fixed(p) => Some(p),
            ServerPort::Offset(_) | ServerPort::SameAsClient => None,
        });
        let own_target = server.check_addr.is_some() || server.check_port.is_some();
        Self {
            addr: server.check_addr.unwrap_or(server.addr),
            port,
            send_proxy: server.send_proxy.filter(|_| !own_target),
            forced_proxy: server.send_proxy.unwrap_or(ProxyVersion::V1),
        }
    }

    /// The address a connect step with these overrides goes to (`None` without any port).
    pub fn resolve(&self, addr: Option<IpAddr>, port: Option<u16>) -> Option<SocketAddr> {
        let port = port.or(self.port)?;
        Some(SocketAddr::new(addr.unwrap_or(self.addr), port))
    }
}

/// The time limits of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckTimeouts {
    /// The server's `inter`.
    pub inter: Duration,
    /// `timeout connect` of the backend.
    pub connect: Option<Duration>,
    /// `timeout check` of the backend.
    pub check: Option<Duration>,
}

impl CheckTimeouts {
    /// The limits for `server` in a backend with `timeouts`.
    pub fn new(server: &Server, timeouts: &Timeouts) -> Self {
        Self {
            inter: server.inter,
            connect: timeouts.connect,
            check: timeouts.check,
        }
    }

    /// Deadline of a connection attempt started at `now`: `inter`, lowered to `timeout
    /// connect` only when `timeout check` is also set.
    pub fn connect_deadline(&self, now: Instant) -> Instant {
        let mut limit = self.inter;
        if let (Some(_), Some(connect)) = (self.check, self.connect) {
            limit = limit.min(connect);
        }
        now + limit
    }

    /// Deadline once connected at `now`: `timeout check` from now if set, else unchanged.
    pub fn established_deadline(&self, now: Instant, current: Instant) -> Instant {
        self.check.map_or(current, |check| now + check)
    }
}

/// Runs one check of `program` against `target` and returns its result, duration included.
pub async fn run_check(
    program: &Program,
    target: &CheckTarget,
    timeouts: &CheckTimeouts,
) -> CheckResult {
    let start = Instant::now();
    let mut runner = Runner::new(program);
    let mut stream: Option<TcpStream> = None;
    let mut deadline = timeouts.connect_deadline(start);
    let mut buf = Vec::new();
    let result = loop {
        match runner.next_action() {
            Action::Done(result) => break result,
            Action::Connect {
                addr,
                port,
                default,
                send_proxy,
            } => {
                close(stream.take());
                let Some(sa) = target.resolve(addr, port) else {
                    break CheckResult::new(CheckStatus::SockErr, "no port to check");
                };
                deadline = timeouts.connect_deadline(Instant::now());
                match within(deadline, TcpStream::connect(sa)).await {
                    None => runner.timed_out(),
                    Some(Err(e)) => runner.failed(&e),
                    Some(Ok(mut s)) => {
                        // Checks don't wait for the server's ACKs of small writes.
                        let _ = s.set_nodelay(true);
                        // The header is part of establishing the connection: the server
                        // reads it before anything the check sends.
                        let version = if send_proxy {
                            Some(target.forced_proxy)
                        } else {
                            target.send_proxy.filter(|_| default)
                        };
                        if let Some(version) = version {
                            match within(deadline, send_proxy_header(&mut s, version)).await {
                                None => {
                                    runner.timed_out();
                                    continue;
                                }
                                Some(Err(e)) => {
                                    runner.failed(&e);
                                    continue;
                                }
                                Some(Ok(())) => {}
                            }
                        }
                        stream = Some(s);
                        deadline = timeouts.established_deadline(Instant::now(), deadline);
                        runner.connected();
                    }
                }
            }
            Action::Send(data) => {
                let Some(s) = stream.as_mut() else {
                    break CheckResult::new(CheckStatus::SockErr, "");
                };
                match within(deadline, s.write_all(data)).await {
                    None => runner.timed_out(),
                    Some(Err(e)) => runner.failed(&e),
                    Some(Ok(())) => runner.sent(),
                }
            }
            Action::Recv { max } => {
                let Some(s) = stream.as_mut() else {
                    break CheckResult::new(CheckStatus::SockErr, "");
                };
                buf.resize(max.max(1), 0);
                match within(deadline, s.read(&mut buf)).await {
                    None => runner.timed_out(),
                    Some(Err(e)) => runner.failed(&e),
                    Some(Ok(n)) => runner.received(&buf[..n]),
                }
            }
        }
    };
    close(stream);
    result.with_duration(start.elapsed())
}

/// Writes the PROXY header of a check connection (its own endpoints, or LOCAL for v2).
async fn send_proxy_header(s: &mut TcpStream, version: ProxyVersion) -> std::io::Result<()> {
    let header = check_header(version, s.local_addr()?, s.peer_addr()?);
    s.write_all(&header).await
}

async fn within<F: std::future::Future>(deadline: Instant, fut: F) -> Option<F::Output> {
    tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), fut)
        .await
        .ok()
}

/// Closes a check connection with a reset, as HAProxy does (no lingering, no TIME_WAIT
/// left behind on our side for every check).
fn close(stream: Option<TcpStream>) {
    if let Some(s) = stream {
        let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
        drop(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{CheckKind, TcpCheckRule};

    fn server(port: ServerPort) -> Server {
        Server {
            name: "s".into(),
            id: 1,
            addr: "10.0.0.1".parse().unwrap(),
            port,
            check: true,
            inter: Duration::from_secs(2),
            fastinter: Duration::from_secs(2),
            downinter: Duration::from_secs(2),
            rise: 2,
            fall: 3,
            weight: 1,
            backup: false,
            maxconn: 0,
            disabled: false,
            slowstart: None,
            check_addr: None,
            check_port: None,
            track: None,
            send_proxy: None,
            cookie: None,
            non_stick: false,
            proto_h2: false,
            pool_max_conn: None,
            pool_purge_delay: std::time::Duration::from_secs(5),
            location: crate::config::model::Location::default(),
        }
    }

    /// A server on 127.0.0.1 that records what one check sends until the end of an HTTP
    /// request, answers `200` and closes.
    fn recording_server() -> (u16, std::thread::JoinHandle<(Vec<u8>, SocketAddr)>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (mut conn, peer) = listener.accept().unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut got = Vec::new();
            let mut chunk = [0u8; 512];
            let request_done = |b: &[u8]| {
                b.windows(7)
                    .position(|w| w == b"OPTIONS")
                    .is_some_and(|at| b[at..].windows(4).any(|w| w == b"\r\n\r\n"))
            };
            while !request_done(&got) {
                let n = conn.read(&mut chunk).unwrap();
                assert!(n > 0, "closed early: {got:?}");
                got.extend_from_slice(&chunk[..n]);
            }
            conn.write_all(b"HTTP/1.0 200 OK\r\n\r\n").unwrap();
            (got, peer)
        });
        (port, handle)
    }

    /// Runs one `option httpchk` check of `server` and returns what the server received.
    fn check_bytes(s: Server, own_check_port: bool) -> (CheckResult, Vec<u8>, SocketAddr) {
        let kind = CheckKind::Http(crate::config::model::HttpCheck::default());
        run_recorded(s, own_check_port, &kind)
    }

    /// Runs one check of `kind` against a recording server.
    fn run_recorded(
        mut s: Server,
        own_check_port: bool,
        kind: &CheckKind,
    ) -> (CheckResult, Vec<u8>, SocketAddr) {
        s.addr = "127.0.0.1".parse().unwrap();
        let program = Program::compile(kind).unwrap();
        let timeouts = CheckTimeouts {
            inter: Duration::from_secs(5),
            connect: None,
            check: None,
        };
        let (port, server) = recording_server();
        if !own_check_port {
            s.port = ServerPort::Fixed(port);
        } else {
            // The check goes to `port`, the traffic port is elsewhere.
            s.port = ServerPort::Fixed(1);
            s.check_port = Some(port);
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = rt.block_on(run_check(&program, &CheckTarget::of(&s), &timeouts));
        let (got, peer) = server.join().unwrap();
        (result, got, peer)
    }

    #[test]
    fn send_proxy_servers_get_the_header_before_the_check() {
        let mut s = server(ServerPort::Fixed(0));
        s.send_proxy = Some(ProxyVersion::V1);
        let (result, got, peer) = check_bytes(s.clone(), false);
        assert_eq!(result.status, CheckStatus::L7Ok, "{result:?}");
        let text = String::from_utf8(got).unwrap();
        let server_port = text
            .split(' ')
            .nth(5)
            .and_then(|p| p.split('\r').next())
            .unwrap()
            .to_owned();
        let expected = format!(
            "PROXY TCP4 127.0.0.1 127.0.0.1 {} {server_port}\r\nOPTIONS / HTTP/1.0\r\n",
            peer.port()
        );
        assert!(text.starts_with(&expected), "{text:?} vs {expected:?}");

        s.send_proxy = Some(ProxyVersion::V2);
        let (result, got, _) = check_bytes(s.clone(), false);
        assert_eq!(result.status, CheckStatus::L7Ok, "{result:?}");
        let local = crate::proxy_protocol::encode_v2_local();
        assert!(got.starts_with(&local), "{got:?}");
        assert!(got[local.len()..].starts_with(b"OPTIONS / HTTP/1.0\r\n"));

        // A check port of its own: no header, as HAProxy (`check-send-proxy` would force it).
        let (result, got, _) = check_bytes(s, true);
        assert_eq!(result.status, CheckStatus::L7Ok, "{result:?}");
        assert!(got.starts_with(b"OPTIONS / HTTP/1.0\r\n"), "{got:?}");
    }

    #[test]
    fn tcp_check_connect_options_choose_the_header() {
        let script = |default, send_proxy| {
            CheckKind::TcpScript(vec![
                TcpCheckRule::Connect {
                    port: None,
                    addr: None,
                    default,
                    send_proxy,
                },
                TcpCheckRule::Send(b"OPTIONS / HTTP/1.0\r\n\r\n".to_vec()),
                TcpCheckRule::Expect {
                    inverted: false,
                    pattern: crate::config::model::TcpExpectPattern::String(b"200".to_vec()),
                },
            ])
        };
        let plain = server(ServerPort::Fixed(0));
        let mut v2 = plain.clone();
        v2.send_proxy = Some(ProxyVersion::V2);
        let local = crate::proxy_protocol::encode_v2_local();
        // `send-proxy` forces a header: v1 unless the server uses v2.
        let (result, got, _) = run_recorded(plain.clone(), false, &script(false, true));
        assert_eq!(result.status, CheckStatus::L7Ok, "{result:?}");
        assert!(
            got.starts_with(b"PROXY TCP4 127.0.0.1 127.0.0.1 "),
            "{got:?}"
        );
        let (_, got, _) = run_recorded(v2.clone(), false, &script(false, true));
        assert!(got.starts_with(&local), "{got:?}");
        // `default` takes the server's; a bare explicit connect sends none.
        let (_, got, _) = run_recorded(v2.clone(), false, &script(true, false));
        assert!(got.starts_with(&local), "{got:?}");
        let (_, got, _) = run_recorded(v2, false, &script(false, false));
        assert!(got.starts_with(b"OPTIONS"), "{got:?}");
        let (_, got, _) = run_recorded(plain, false, &script(true, false));
        assert!(got.starts_with(b"OPTIONS"), "{got:?}");
    }

    #[test]
    fn only_the_default_connect_carries_the_header() {
        let mut s = server(ServerPort::Fixed(80));
        s.send_proxy = Some(ProxyVersion::V2);
        assert_eq!(CheckTarget::of(&s).send_proxy, Some(ProxyVersion::V2));
        s.check_addr = Some("10.0.0.2".parse().unwrap());
        assert_eq!(CheckTarget::of(&s).send_proxy, None);
        // Explicit `tcp-check connect` lines are not the default connection.
        let rules = vec![TcpCheckRule::Connect {
            port: Some(25),
            addr: None,
            default: false,
            send_proxy: false,
        }];
        let program = Program::compile(&CheckKind::TcpScript(rules)).unwrap();
        let mut runner = Runner::new(&program);
        assert!(matches!(
            runner.next_action(),
            Action::Connect { default: false, .. }
        ));
        let program = Program::compile(&CheckKind::Tcp).unwrap();
        let mut runner = Runner::new(&program);
        assert!(matches!(
            runner.next_action(),
            Action::Connect { default: true, .. }
        ));
    }

    #[test]
    fn target_prefers_check_overrides() {
        let mut s = server(ServerPort::Fixed(80));
        let t = CheckTarget::of(&s);
        assert_eq!(t.resolve(None, None), Some("10.0.0.1:80".parse().unwrap()));
        s.check_addr = Some("10.0.0.9".parse().unwrap());
        s.check_port = Some(8080);
        let t = CheckTarget::of(&s);
        assert_eq!(
            t.resolve(None, None),
            Some("10.0.0.9:8080".parse().unwrap())
        );
        // tcp-check connect overrides win.
        let addr: IpAddr = "::1".parse().unwrap();
        assert_eq!(
            t.resolve(Some(addr), Some(9)),
            Some("[::1]:9".parse().unwrap())
        );
    }

    #[test]
    fn client_relative_port_needs_a_check_port() {
        let mut s = server(ServerPort::Offset(1000));
        assert_eq!(CheckTarget::of(&s).resolve(None, None), None);
        assert!(CheckTarget::of(&s).resolve(None, Some(25)).is_some());
        s.port = ServerPort::SameAsClient;
        s.check_port = Some(8000);
        assert_eq!(
            CheckTarget::of(&s).resolve(None, None),
            Some("10.0.0.1:8000".parse().unwrap())
        );
    }

    #[test]
    fn without_timeout_check_inter_bounds_everything() {
        let t = CheckTimeouts {
            inter: Duration::from_secs(2),
            connect: Some(Duration::from_millis(500)),
            check: None,
        };
        let now = Instant::now();
        let d = t.connect_deadline(now);
        assert_eq!(d, now + Duration::from_secs(2));
        let later = now + Duration::from_millis(100);
        assert_eq!(t.established_deadline(later, d), d);
    }

    #[test]
    fn with_timeout_check_connect_then_check() {
        let t = CheckTimeouts {
            inter: Duration::from_secs(2),
            connect: Some(Duration::from_millis(500)),
            check: Some(Duration::from_secs(5)),
        };
        let now = Instant::now();
        assert_eq!(t.connect_deadline(now), now + Duration::from_millis(500));
        let later = now + Duration::from_millis(100);
        assert_eq!(
            t.established_deadline(later, now),
            later + Duration::from_secs(5)
        );
        // A long `timeout connect` is capped by inter.
        let long = CheckTimeouts {
            connect: Some(Duration::from_secs(30)),
            ..t
        };
        assert_eq!(long.connect_deadline(now), now + Duration::from_secs(2));
        // `timeout check` without `timeout connect`: inter for the connect.
        let no_connect = CheckTimeouts { connect: None, ..t };
        assert_eq!(
            no_connect.connect_deadline(now),
            now + Duration::from_secs(2)
        );
    }
}
