//! The runner of the smuggling corpus: one proxy and one strict backend per case, the
//! client's view, the backend's view, and the judgement of both (see `http_smuggling.rs`).

use std::time::Duration;

use lb_tests::free_port;
use lb_tests::h2raw::{self, H2Outcome, H2Request};
use lb_tests::http::{Exchange, HttpBackend, Request, exchange};
use lb_tests::lb::Lb;

pub mod h2;

/// A check of the requests the backend received for a forwarded case.
pub type Check = fn(&[Request]) -> Result<(), String>;

/// What must happen to a case.
#[derive(Clone, Copy)]
pub enum Expect {
    /// Refused with one of these statuses (0: closed without a response); nothing complete
    /// reaches the backend.
    Reject(&'static [u16]),
    /// Forwarded: every request the client meant gets a 200 and reaches the backend, which
    /// sees exactly what the check wants.
    Forward(Check),
    /// Refused as by `Reject`, or forwarded as by `Forward`.
    Either(&'static [u16], Check),
    /// Refused as by `Reject` by lb, where HAProxy 2.6 forwards the request as it came (a
    /// weakness of the reference fixed by later HAProxy versions): when the file runs against
    /// the reference, the outcome is printed, not asserted.
    Stricter(&'static [u16]),
}

/// One HTTP/1.x case.
pub struct Case {
    pub name: &'static str,
    pub raw: Vec<u8>,
    /// How many requests the client meant to send (the backend may never see more).
    pub meant: usize,
    pub expect: Expect,
}

/// One h2c case (one request on stream 1).
pub struct H2Case {
    pub name: &'static str,
    pub req: H2Request,
    pub expect: Expect,
}

pub const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: test\r\n\r\n";
pub const BAD: &[u16] = &[400];
pub const BAD_OR_CLOSED: &[u16] = &[400, 0];
/// HAProxy 2.6 answers 422 to codings other than `chunked`; 501 is RFC 9112's answer.
pub const BAD_OR_NOT_IMPL: &[u16] = &[400, 422, 501, 0];
pub const TOO_LONG: &[u16] = &[400, 414, 431];

/// One proxy in front of one server. `http-reuse always`: the probe after a case goes over
/// the server connection the case left idle, if any, so a desynchronized (poisoned) server
/// connection shows up as a damaged probe.
pub fn config(port: u16, be: &HttpBackend) -> String {
    format!(
        "global\n\
         \x20   nbthread 1\n\
         \x20   log stdout format raw local0 info\n\
         \n\
         defaults\n\
         \x20   mode http\n\
         \x20   log global\n\
         \x20   option httplog\n\
         \x20   timeout connect 2s\n\
         \x20   timeout client 10s\n\
         \x20   timeout server 10s\n\
         \x20   timeout http-request 5s\n\
         \n\
         frontend fe\n\
         \x20   bind 127.0.0.1:{port}\n\
         \x20   default_backend be\n\
         \n\
         backend be\n\
         \x20   http-reuse always\n\
         \x20   server s1 {}\n",
        be.addr()
    )
}

pub fn report() -> bool {
    std::env::var_os("SMUGGLE_REPORT").is_some()
}

/// Whether the proxy under test is HAProxy itself (`LB_BIN=tests/reference/haproxy-as-lb`).
pub fn reference() -> bool {
    lb_tests::lb::lb_bin().to_string_lossy().contains("haproxy")
}

pub fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// `POST /` with `Host: test`, the header lines `headers` (each ending in CRLF), then `body`.
pub fn post(headers: &str, body: &str) -> Vec<u8> {
    format!("POST / HTTP/1.1\r\nHost: test\r\n{headers}\r\n{body}").into_bytes()
}

/// `GET /` with `Host: test` and the header lines `headers`.
pub fn get(headers: &str) -> Vec<u8> {
    format!("GET / HTTP/1.1\r\nHost: test\r\n{headers}\r\n").into_bytes()
}

/// A chunked body whose terminating chunk is followed by [`SMUGGLED`]: by `Transfer-Encoding`
/// two requests, by a `Content-Length` covering it all one.
pub fn zero_chunk_then_smuggled() -> String {
    format!("0\r\n\r\n{SMUGGLED}")
}

pub fn cl_of(body: &str) -> String {
    format!("Content-Length: {}\r\n", body.len())
}

// ----- checks ----------------------------------------------------------------------------

pub fn nth(r: &[Request], i: usize) -> Result<&Request, String> {
    r.get(i)
        .ok_or_else(|| format!("backend saw {} request(s), wanted #{i}", r.len()))
}

pub fn body_is(q: &Request, want: &[u8]) -> Result<(), String> {
    if q.body == want {
        Ok(())
    } else {
        Err(format!(
            "{} {}: body {:?}, wanted {:?}",
            q.method,
            q.target,
            String::from_utf8_lossy(&q.body),
            String::from_utf8_lossy(want)
        ))
    }
}

pub fn count_is(r: &[Request], n: usize) -> Result<(), String> {
    if r.len() == n {
        Ok(())
    } else {
        Err(format!("backend saw {} request(s), wanted {n}", r.len()))
    }
}

/// A single request whose body is `hello`.
pub fn one_hello(r: &[Request]) -> Result<(), String> {
    count_is(r, 1)?;
    body_is(nth(r, 0)?, b"hello")
}

/// A single request with an empty body.
pub fn one_empty(r: &[Request]) -> Result<(), String> {
    count_is(r, 1)?;
    body_is(nth(r, 0)?, b"")
}

/// A single request, whatever its body.
pub fn one(r: &[Request]) -> Result<(), String> {
    count_is(r, 1)
}

/// `Transfer-Encoding` won over `Content-Length` (RFC 9112 6.3): an empty chunked POST, then
/// `/smuggled` as the client's second request (its own request, framed on its own).
pub fn te_wins(r: &[Request]) -> Result<(), String> {
    let p = nth(r, 0)?;
    body_is(p, b"")?;
    if p.method != "POST" {
        return Err(format!("first request is {} {}", p.method, p.target));
    }
    if r.len() > 1 && nth(r, 1)?.target != "/smuggled" {
        return Err(format!("second request is {}", nth(r, 1)?.target));
    }
    Ok(())
}

/// The chunked body `abc` arrived, whatever `Content-Length` said.
pub fn body_abc(r: &[Request]) -> Result<(), String> {
    count_is(r, 1)?;
    body_is(nth(r, 0)?, b"abc")
}

pub fn targets(r: &[Request]) -> Vec<String> {
    r.iter()
        .map(|q| format!("{} {}", q.method, q.target))
        .collect()
}

// ----- the runner ------------------------------------------------------------------------

/// The backend's view once a case is over: the case's requests (the probe excluded).
pub struct Seen {
    pub attack: Vec<Request>,
    pub violations: Vec<String>,
    pub truncated: usize,
    pub raw: String,
}

/// Starts a proxy and a backend, lets `send` attack, then probes; returns what `send`
/// returned and what the backend saw, or a failure of the common invariants.
pub fn rig<T>(send: impl FnOnce(u16) -> T) -> Result<(T, Seen), String> {
    let be = HttpBackend::echo("s1");
    let port = free_port();
    let _lb = Lb::start(&config(port, &be));
    let out = send(port);
    let probe = exchange(
        port,
        b"GET /probe HTTP/1.1\r\nHost: test\r\n\r\n",
        1,
        Duration::from_millis(20),
    )
    .map_err(|e| format!("probe: {e}"))?;
    // Aborted forwards end on the backend a moment after the client saw the refusal.
    std::thread::sleep(Duration::from_millis(100));
    let all = be.requests();
    let seen = Seen {
        attack: all
            .iter()
            .filter(|q| q.target != "/probe")
            .cloned()
            .collect(),
        violations: be.violations(),
        truncated: be.truncated(),
        raw: be.raw_text(),
    };
    if probe.statuses() != [200] {
        return Err(format!(
            "probe after the case answered {:?} (backend got {:?})",
            probe.statuses(),
            targets(&all)
        ));
    }
    let probes: Vec<&Request> = all.iter().filter(|q| q.target == "/probe").collect();
    if report() {
        eprintln!(
            "  probe on server connection {:?}, case on {:?}",
            probes.first().map(|q| q.conn),
            seen.attack.iter().map(|q| q.conn).collect::<Vec<_>>()
        );
    }
    if probes.len() != 1 || probes[0].method != "GET" || !probes[0].body.is_empty() {
        return Err(format!("probe arrived damaged: {probes:?}"));
    }
    Ok((out, seen))
}

/// Checks `expect` given the statuses the client got (`refused`: the proxy refused, as the
/// client sees it) and the backend's requests.
fn judge(
    expect: Expect,
    refused: Result<(), String>,
    forwarded: Result<(), String>,
    seen: &Seen,
    meant: usize,
) -> Result<(), String> {
    let attack = &seen.attack[..];
    if let Expect::Stricter(_) = expect
        && reference()
    {
        eprintln!("  (HAProxy 2.6 weakness, not asserted on the reference: {refused:?})");
        return Ok(());
    }
    if !seen.violations.is_empty() {
        return Err(format!(
            "the backend's strict parser refused what the proxy sent: {:?}\nraw: {}",
            seen.violations, seen.raw
        ));
    }
    if attack.len() > meant {
        return Err(format!(
            "backend saw {} requests, the client meant {meant}: {:?}",
            attack.len(),
            targets(attack)
        ));
    }
    let rejected = || -> Result<(), String> {
        refused?;
        if attack.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "refused, yet the backend got {:?}",
                targets(attack)
            ))
        }
    };
    match expect {
        Expect::Reject(_) | Expect::Stricter(_) => rejected(),
        Expect::Forward(check) => forwarded.and_then(|()| check(attack)),
        Expect::Either(_, check) => rejected().or_else(|why_not_refused| {
            forwarded
                .and_then(|()| check(attack))
                .map_err(|why_not_fwd| {
                    format!(
                        "neither refused ({why_not_refused}) nor forwarded safely ({why_not_fwd})"
                    )
                })
        }),
    }
}

pub fn allowed(expect: Expect) -> &'static [u16] {
    match expect {
        Expect::Reject(s) | Expect::Either(s, _) | Expect::Stricter(s) => s,
        Expect::Forward(_) => &[],
    }
}

pub fn run_case(c: &Case) -> Result<(), String> {
    let (ex, seen) = rig(|port| {
        exchange(port, &c.raw, c.meant, Duration::from_millis(150))
            .map_err(|e| format!("send: {e}"))
    })?;
    let ex: Exchange = ex?;
    if report() {
        eprintln!(
            "[{}] statuses {:?} closed {} | backend {:?} bodies {:?} truncated {}",
            c.name,
            ex.statuses(),
            ex.closed,
            seen.attack
                .iter()
                .map(|q| format!("{} {} {:?}", q.method, q.target, q.headers))
                .collect::<Vec<_>>(),
            seen.attack
                .iter()
                .map(|q| String::from_utf8_lossy(&q.body).into_owned())
                .collect::<Vec<_>>(),
            seen.truncated,
        );
    }
    let statuses = ex.statuses();
    let ok_statuses = allowed(c.expect);
    let refused = match statuses.first() {
        Some(s) if ok_statuses.contains(s) => Ok(()),
        None if ex.closed && ok_statuses.contains(&0) => Ok(()),
        _ => Err(format!("client got {statuses:?}, closed {}", ex.closed)),
    };
    let forwarded = if statuses.len() >= seen.attack.len().max(1)
        && statuses
            .iter()
            .take(seen.attack.len().max(1))
            .all(|&s| s == 200)
    {
        Ok(())
    } else {
        Err(format!(
            "client got {statuses:?}, backend {:?}",
            targets(&seen.attack)
        ))
    };
    judge(c.expect, refused, forwarded, &seen, c.meant)
}

pub fn run_h2_case(c: &H2Case) -> Result<(), String> {
    let (out, seen) = rig(|port| h2raw::send(port, &c.req).map_err(|e| format!("send: {e}")))?;
    let out = out?;
    if report() {
        eprintln!(
            "[h2 {}] {out:?} | backend {:?} bodies {:?} truncated {}",
            c.name,
            seen.attack
                .iter()
                .map(|q| format!("{} {} {:?}", q.method, q.target, q.headers))
                .collect::<Vec<_>>(),
            seen.attack
                .iter()
                .map(|q| String::from_utf8_lossy(&q.body).into_owned())
                .collect::<Vec<_>>(),
            seen.truncated,
        );
    }
    let refused = if out.refused() {
        Ok(())
    } else {
        Err(format!("answered {out:?}"))
    };
    let forwarded = if out == H2Outcome::Status(200) {
        Ok(())
    } else {
        Err(format!("answered {out:?}"))
    };
    judge(c.expect, refused, forwarded, &seen, 1)
}

pub fn run_all(cases: &[Case]) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| run_case(c).err().map(|e| format!("{}: {e}", c.name)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

pub fn run_all_h2(cases: &[H2Case]) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| run_h2_case(c).err().map(|e| format!("{}: {e}", c.name)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} h2 cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

pub fn case(name: &'static str, raw: Vec<u8>, meant: usize, expect: Expect) -> Case {
    Case {
        name,
        raw,
        meant,
        expect,
    }
}

/// `POST` with a `Content-Length` covering [`zero_chunk_then_smuggled`] and the given
/// (possibly obfuscated) `Transfer-Encoding` header lines.
pub fn cl_and_te(te_lines: &str) -> Vec<u8> {
    let body = zero_chunk_then_smuggled();
    post(&format!("{}{te_lines}", cl_of(&body)), &body)
}
