//! Differential testing against HAProxy: the same configuration runs in Debian's `haproxy`
//! (the reference) and in `lb` (under test), each on its own frontend port, in front of the
//! same recording backends ([`HttpBackend::echo`]). Every step of a [`Scenario`] is sent to
//! the reference and then to lb, and the two [`Observed`] views must be equal:
//!
//! * the status code;
//! * the response headers, except those HAProxy and hyper legitimately frame differently
//!   ([`IGNORED_RESPONSE`]: `date`, `connection`, `keep-alive`, `content-length`,
//!   `transfer-encoding`), names lowercased, sorted by name (stable: the values of a
//!   repeated field keep their order, which is meaningful; the order of different fields
//!   is not, and hyper's header map groups fields by name);
//! * the response body when the step asks for it (proxy-generated answers: `return`);
//! * which server got the request (`None` if none did), and the request as that server
//!   parsed it: method, target, body, and headers with names lowercased, sorted by name
//!   (stable, so repeated fields keep their order: HAProxy keeps the client's order, hyper
//!   groups fields by name), without [`IGNORED_REQUEST`] (`connection`, `keep-alive`:
//!   connection management between proxy and server is each proxy's business).
//!
//! A step may send the cookies collected from earlier `Set-Cookie` answers of the same side
//! (stickiness). `LB_DIFF_SHOW=1` prints the reference's views. Setting `LB_DIFF_SELF=1` runs HAProxy on both sides: the harness checking
//! itself (every scenario must pass); so does `LB_BIN=tests/reference/haproxy-as-lb`, as in
//! `cargo xtask reference`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::free_port;
use crate::http::{HttpBackend, Request, Response, exchange};
use crate::lb::{lb_bin, listening_ports, process_alive};
use crate::util::TempDir;

/// Response headers left out of the comparison (framing and connection management).
pub const IGNORED_RESPONSE: &[&str] = &[
    "date",
    "connection",
    "keep-alive",
    "content-length",
    "transfer-encoding",
];

/// Request headers (as received by the server) left out of the comparison.
pub const IGNORED_REQUEST: &[&str] = &["connection", "keep-alive"];

/// The `global` and `defaults` sections both sides run with.
pub const HEADER: &str = "global\n\
    \x20   nbthread 1\n\
    \n\
    defaults\n\
    \x20   mode http\n\
    \x20   timeout connect 2s\n\
    \x20   timeout client 10s\n\
    \x20   timeout server 10s\n\
    \n";

/// Which program runs a configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Debian's `haproxy` (`haproxy -db -f CONFIG`).
    Haproxy,
    /// The binary under test (`lb -d -f CONFIG`, from [`lb_bin`]).
    Lb,
}

/// A proxy process started on a configuration; killed on drop.
pub struct Proxy {
    child: Child,
    _dir: TempDir,
    log: PathBuf,
}

impl Proxy {
    /// Starts `engine` on `config` and waits until `port` listens; `Err` with the proxy's
    /// output if it exits or does not listen within 10 s.
    pub fn start(engine: Engine, config: &str, port: u16) -> Result<Self, String> {
        let dir = TempDir::new();
        let cfg = dir.path().join("proxy.cfg");
        let log = dir.path().join("output.txt");
        std::fs::write(&cfg, config).map_err(|e| format!("write config: {e}"))?;
        let out = std::fs::File::create(&log).map_err(|e| format!("create log: {e}"))?;
        let err = out.try_clone().map_err(|e| format!("dup log: {e}"))?;
        let mut cmd = match engine {
            Engine::Haproxy => {
                let mut c = Command::new("haproxy");
                c.arg("-db");
                c
            }
            Engine::Lb => {
                let mut c = Command::new(lb_bin());
                c.arg("-d");
                c
            }
        };
        let child = cmd
            .arg("-f")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {engine:?}: {e}"))?;
        let me = Self {
            child,
            _dir: dir,
            log,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !listening_ports().contains(&port) {
            if !process_alive(me.child.id()) || std::time::Instant::now() >= deadline {
                return Err(format!(
                    "{engine:?} did not listen on {port}:\n{}",
                    me.output()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(me)
    }

    /// Everything the proxy printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request of a scenario.
#[derive(Debug, Clone, Default)]
pub struct Step {
    /// Method.
    pub method: String,
    /// Request target.
    pub target: String,
    /// Extra header lines (a `Host: test` comes first unless one is given here).
    pub headers: Vec<(String, String)>,
    /// Request body (sent with a `Content-Length`).
    pub body: String,
    /// Send the cookies this side collected so far.
    pub cookies: bool,
    /// Compare the response bodies too.
    pub compare_body: bool,
}

impl Step {
    /// `GET target`.
    pub fn get(target: &str) -> Self {
        Self {
            method: "GET".into(),
            target: target.into(),
            ..Self::default()
        }
    }

    /// Adds a header line.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sends the cookies collected so far on this side.
    pub fn with_cookies(mut self) -> Self {
        self.cookies = true;
        self
    }

    /// Compares the response bodies too.
    pub fn compare_body(mut self) -> Self {
        self.compare_body = true;
        self
    }

    fn raw(&self, jar: &BTreeMap<String, String>) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.target);
        if !self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("host"))
        {
            out.push_str("Host: test\r\n");
        }
        for (n, v) in &self.headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        if self.cookies && !jar.is_empty() {
            let c: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("Cookie: {}\r\n", c.join("; ")));
        }
        if !self.body.is_empty() {
            out.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        out.push_str("\r\n");
        out.push_str(&self.body);
        out.into_bytes()
    }
}

/// A configuration and the requests to compare.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Name in failure messages.
    pub name: &'static str,
    /// The proxies (after [`HEADER`]): `{fe}` stands for the frontend port and `{NAME}` for
    /// the address of server `NAME`.
    pub proxies: String,
    /// Server names; each is an echo backend.
    pub servers: Vec<&'static str>,
    /// The requests, in order.
    pub steps: Vec<Step>,
}

/// What one side showed for one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Status code (0: no response).
    pub status: u16,
    /// Response headers, names lowercased, sorted by name (stable), [`IGNORED_RESPONSE`]
    /// left out.
    pub headers: Vec<(String, String)>,
    /// Response body, if compared.
    pub body: Option<String>,
    /// The server that got the request, if any.
    pub server: Option<String>,
    /// The request as that server parsed it (headers normalized).
    pub request: Option<Received>,
}

/// A request as the server parsed it, normalized for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Method.
    pub method: String,
    /// Request target.
    pub target: String,
    /// Headers: names lowercased, sorted by name (stable), [`IGNORED_REQUEST`] left out.
    pub headers: Vec<(String, String)>,
    /// Body (lossy text).
    pub body: String,
}

/// The backends of a scenario, shared by both sides.
struct Servers {
    list: Vec<HttpBackend>,
}

impl Servers {
    fn start(names: &[&str]) -> Self {
        Self {
            list: names.iter().map(|n| echo_with_session(n)).collect(),
        }
    }

    fn counts(&self) -> Vec<usize> {
        self.list.iter().map(|b| b.requests().len()).collect()
    }
}

/// An echo backend that also sets `JSESSIONID=abc123` on `/login` (for `cookie ... prefix`
/// and `stick store-response`).
fn echo_with_session(name: &str) -> HttpBackend {
    let echo = HttpBackend::echo_handler(name);
    HttpBackend::with(
        name,
        std::sync::Arc::new(move |req: &Request| {
            let resp = echo(req);
            if req.target.starts_with("/login") {
                resp.header("set-cookie", "JSESSIONID=abc123; path=/")
            } else {
                resp
            }
        }),
    )
}

/// Fills `{fe}` and the `{NAME}` server addresses in.
fn render(s: &Scenario, fe: u16, servers: &Servers) -> String {
    let mut text = s.proxies.replace("{fe}", &fe.to_string());
    for b in &servers.list {
        text = text.replace(&format!("{{{}}}", b.name()), &b.addr().to_string());
    }
    format!("{HEADER}{text}")
}

fn normalize_request(q: &Request) -> Received {
    let mut h: Vec<(String, String)> = q
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .filter(|(n, _)| !IGNORED_REQUEST.contains(&n.as_str()))
        .collect();
    h.sort_by(|a, b| a.0.cmp(&b.0));
    Received {
        method: q.method.clone(),
        target: q.target.clone(),
        headers: h,
        body: String::from_utf8_lossy(&q.body).into_owned(),
    }
}

fn observe(
    port: u16,
    step: &Step,
    jar: &mut BTreeMap<String, String>,
    servers: &Servers,
) -> Observed {
    let before = servers.counts();
    let resp = exchange(port, &step.raw(jar), 1, Duration::from_millis(1))
        .ok()
        .and_then(|e| e.responses.into_iter().next())
        .unwrap_or_default();
    for (n, v) in &resp.headers {
        if n.eq_ignore_ascii_case("set-cookie")
            && let Some((k, val)) = v.split(';').next().and_then(|c| c.split_once('='))
        {
            jar.insert(k.trim().to_owned(), val.trim().to_owned());
        }
    }
    let after = servers.counts();
    let got = servers
        .list
        .iter()
        .zip(before.iter().zip(&after))
        .find(|(_, (b, a))| a > b);
    Observed {
        status: resp.status,
        headers: response_headers(&resp),
        body: step.compare_body.then(|| resp.text()),
        server: got.map(|(b, _)| b.name().to_owned()),
        request: got.and_then(|(b, (n, _))| b.requests().get(*n).map(normalize_request)),
    }
}

fn response_headers(r: &Response) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .filter(|(n, _)| !IGNORED_RESPONSE.contains(&n.as_str()))
        .collect();
    h.sort_by(|a, b| a.0.cmp(&b.0));
    h
}

/// Whether the harness runs HAProxy on both sides (`LB_DIFF_SELF=1`).
pub fn self_check() -> bool {
    std::env::var_os("LB_DIFF_SELF").is_some_and(|v| v != "0")
}

/// Runs `s` on HAProxy and on lb (HAProxy twice in self-check mode); `Err` lists every step
/// whose views differ, or says which side failed to start.
pub fn compare(s: &Scenario) -> Result<(), String> {
    let test = if self_check() {
        Engine::Haproxy
    } else {
        Engine::Lb
    };
    compare_with(s, s, test)
}

/// Runs `reference` on HAProxy and `test` (same servers and steps) on `engine`.
pub fn compare_with(reference: &Scenario, test: &Scenario, engine: Engine) -> Result<(), String> {
    let servers = Servers::start(&reference.servers);
    let (p1, p2) = (free_port(), free_port());
    let _r = Proxy::start(Engine::Haproxy, &render(reference, p1, &servers), p1)?;
    let t = Proxy::start(engine, &render(test, p2, &servers), p2)?;
    let (mut jar1, mut jar2) = (BTreeMap::new(), BTreeMap::new());
    let mut diffs = Vec::new();
    for (i, step) in reference.steps.iter().enumerate() {
        let a = observe(p1, step, &mut jar1, &servers);
        let b = observe(p2, step, &mut jar2, &servers);
        if std::env::var_os("LB_DIFF_SHOW").is_some() {
            eprintln!(
                "[{}] {} {}: {a:?}",
                reference.name, step.method, step.target
            );
        }
        if a != b {
            diffs.push(format!(
                "step {i} ({} {}):\n  haproxy: {a:?}\n  {engine:?}: {b:?}",
                step.method, step.target
            ));
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}: {} step(s) differ\n{}\n--- {engine:?} output:\n{}",
            reference.name,
            diffs.len(),
            diffs.join("\n"),
            t.output()
        ))
    }
}
