//! Check programs and their sans-I/O runner, after HAProxy's `tcpcheck_main()`.
//!
//! Every check is a list of steps: a plain check is one implicit `connect`; `option
//! httpchk` is `connect`, `send` the request, `expect` an HTTP response; `option tcp-check`
//! runs the configured `tcp-check` rules, with an implicit `connect` first when they do not
//! start with one. [`Runner`] walks the steps and tells the I/O driver what to do next
//! ([`Action`]); the driver reports back (connected, sent, bytes received, error, timeout).
//! All of HAProxy's wording (step numbers, `(tcp-check)`, ...) is produced here.

use std::net::IpAddr;

use regex::bytes::Regex as BytesRegex;

use crate::checks::http::{self, HttpExpectRule, HttpVerdict};
use crate::checks::result::{CheckResult, CheckStatus, strerror};
use crate::config::model::{CheckKind, DEFAULT_BUFSIZE, TcpCheckRule, TcpExpectPattern};

/// How much of a response a check keeps (HAProxy's `tune.bufsize` default).
pub const CHECK_BUFSIZE: usize = DEFAULT_BUFSIZE;

/// Which family of check a program is; it decides HAProxy's wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// A TCP connect only (`check` without `option httpchk|tcp-check`).
    Plain,
    /// `option httpchk`.
    Http,
    /// `option tcp-check`.
    TcpCheck,
}

/// A check that cannot be built from the configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProgramError {
    /// A `rstatus`/`rstring` pattern is not a valid regex.
    #[error("invalid regex in health check expect rule: {0}")]
    Regex(#[from] regex::Error),
}

/// A compiled `tcp-check expect [!] string|rstring|binary PATTERN`.
#[derive(Debug, Clone)]
pub struct TcpExpectRule {
    inverted: bool,
    pattern: Pattern,
}

#[derive(Debug, Clone)]
enum Pattern {
    String(Vec<u8>),
    Binary(Vec<u8>),
    Regex(BytesRegex),
}

/// The outcome of evaluating an expect rule on the bytes received so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The rule is satisfied; `code` is the HTTP status for HTTP rules, else 0.
    Pass {
        /// Response code.
        code: u16,
    },
    /// More bytes are needed to decide.
    NeedMore,
    /// The rule failed: the check is over.
    Fail(CheckResult),
}

impl TcpExpectRule {
    /// Compiles a rule.
    pub fn compile(inverted: bool, pattern: &TcpExpectPattern) -> Result<Self, regex::Error> {
        let pattern = match pattern {
            TcpExpectPattern::String(s) => Pattern::String(s.clone()),
            TcpExpectPattern::Binary(b) => Pattern::Binary(b.clone()),
            TcpExpectPattern::RString(re) => Pattern::Regex(BytesRegex::new(re)?),
        };
        Ok(Self { inverted, pattern })
    }

    /// Judges `buf` as HAProxy's `tcpcheck_eval_expect()`: a missing pattern makes it wait
    /// for more data until `last_read` (even when inverted), then fail.
    pub fn evaluate(&self, buf: &[u8], last_read: bool, step: usize) -> Verdict {
        let last_read = last_read || buf.len() >= CHECK_BUFSIZE;
        let matched = match &self.pattern {
            Pattern::String(p) | Pattern::Binary(p) => {
                if !last_read && buf.len() < p.len() {
                    return Verdict::NeedMore;
                }
                http::contains(buf, p)
            }
            Pattern::Regex(re) => re.is_match(buf),
        };
        if !matched && !last_read {
            return Verdict::NeedMore;
        }
        if matched != self.inverted {
            return Verdict::Pass { code: 0 };
        }
        let mut info = String::from(if matched {
            "TCPCHK matched unwanted content"
        } else {
            "TCPCHK did not match content"
        });
        match &self.pattern {
            Pattern::String(p) => {
                info.push_str(&format!(" '{}' at step {step}", String::from_utf8_lossy(p)));
            }
            Pattern::Binary(_) => info.push_str(&format!(" (binary) at step {step}")),
            Pattern::Regex(_) => info.push_str(&format!(" (regex) at step {step}")),
        }
        Verdict::Fail(CheckResult::new(CheckStatus::L7Rsp, info))
    }

    /// What HAProxy appends to a timeout or error message at this step.
    fn describe(&self) -> String {
        match &self.pattern {
            Pattern::String(p) => format!(" (expect string '{}')", String::from_utf8_lossy(p)),
            Pattern::Binary(p) => {
                let hex: String = p.iter().map(|b| format!("{b:02X}")).collect();
                format!(" (expect binary '{hex}')")
            }
            Pattern::Regex(_) => " (expect regex)".to_owned(),
        }
    }
}

/// One step of a check program.
#[derive(Debug, Clone)]
pub struct Step {
    /// HAProxy's step number in messages (0 for the implicit connect).
    pub id: usize,
    /// What the step does.
    pub kind: StepKind,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum StepKind {
    /// Open a new connection (closing the previous one).
    Connect {
        /// Address override (`tcp-check connect addr`).
        addr: Option<IpAddr>,
        /// Port override (`tcp-check connect port`).
        port: Option<u16>,
        /// Inserted because the rules did not start with a connect.
        implicit: bool,
        /// Uses the server's check settings (implicit, or `tcp-check connect default`).
        default: bool,
        /// `send-proxy`: a PROXY header whatever the server's settings.
        send_proxy: bool,
    },
    /// Send bytes.
    Send(Vec<u8>),
    /// Expect bytes (`tcp-check expect`).
    Expect(TcpExpectRule),
    /// Expect an HTTP response (`http-check expect`).
    ExpectHttp {
        /// The rule.
        rule: HttpExpectRule,
        /// The request was `HEAD`: the response has no body.
        head_request: bool,
    },
}

/// A compiled check: what a check of a backend's servers does.
#[derive(Debug, Clone)]
pub struct Program {
    /// Wording family.
    pub flavor: Flavor,
    /// Steps, starting with a connect.
    pub steps: Vec<Step>,
}

fn implicit_connect() -> Step {
    Step {
        id: 0,
        kind: StepKind::Connect {
            addr: None,
            port: None,
            implicit: true,
            default: true,
            send_proxy: false,
        },
    }
}

impl Program {
    /// Compiles a backend's check configuration.
    pub fn compile(kind: &CheckKind) -> Result<Self, ProgramError> {
        Ok(match kind {
            CheckKind::Tcp => Self {
                flavor: Flavor::Plain,
                steps: vec![implicit_connect()],
            },
            CheckKind::Http(hc) => Self {
                flavor: Flavor::Http,
                steps: vec![
                    implicit_connect(),
                    // HAProxy numbers the request and the expect rule of httpchk as step 1.
                    Step {
                        id: 1,
                        kind: StepKind::Send(http::build_request(hc)),
                    },
                    Step {
                        id: 1,
                        kind: StepKind::ExpectHttp {
                            rule: HttpExpectRule::compile(hc.expect.as_ref())?,
                            head_request: hc.method.eq_ignore_ascii_case("HEAD"),
                        },
                    },
                ],
            },
            CheckKind::TcpScript(rules) => {
                let mut steps = Vec::with_capacity(rules.len() + 1);
                if !matches!(rules.first(), Some(TcpCheckRule::Connect { .. })) {
                    steps.push(implicit_connect());
                }
                for (i, rule) in rules.iter().enumerate() {
                    let kind = match rule {
                        TcpCheckRule::Connect {
                            port,
                            addr,
                            default,
                            send_proxy,
                        } => StepKind::Connect {
                            addr: *addr,
                            port: *port,
                            implicit: false,
                            default: *default,
                            send_proxy: *send_proxy,
                        },
                        TcpCheckRule::Send(data) => StepKind::Send(data.clone()),
                        TcpCheckRule::Expect { inverted, pattern } => {
                            StepKind::Expect(TcpExpectRule::compile(*inverted, pattern)?)
                        }
                    };
                    steps.push(Step { id: i + 1, kind });
                }
                Self {
                    flavor: Flavor::TcpCheck,
                    steps,
                }
            }
        })
    }

    /// The `(addr, port)` overrides of every connect step, to validate targets up front.
    pub fn connects(&self) -> impl Iterator<Item = (Option<IpAddr>, Option<u16>)> + '_ {
        self.steps.iter().filter_map(|s| match s.kind {
            StepKind::Connect { addr, port, .. } => Some((addr, port)),
            _ => None,
        })
    }
}

/// What the I/O driver must do next.
#[derive(Debug)]
pub enum Action<'p> {
    /// Close any current connection and open a new one (overrides to resolve against the
    /// server's check address and port).
    Connect {
        /// Address override.
        addr: Option<IpAddr>,
        /// Port override.
        port: Option<u16>,
        /// The check's default connection (implicit or `tcp-check connect default`): it
        /// carries the server's PROXY protocol header, as HAProxy's default connect does.
        default: bool,
        /// `tcp-check connect send-proxy`: a PROXY header in any case.
        send_proxy: bool,
    },
    /// Write all these bytes, then call [`Runner::sent`].
    Send(&'p [u8]),
    /// Read at most `max` bytes, then call [`Runner::received`] (an empty slice is EOF).
    Recv {
        /// Room left in the check buffer.
        max: usize,
    },
    /// The check is over (the driver adds the duration).
    Done(CheckResult),
}

/// Runs one check of a [`Program`] (one per check; cheap to create).
#[derive(Debug)]
pub struct Runner<'p> {
    program: &'p Program,
    /// Index of the step being run (HAProxy's `current_step`).
    pc: usize,
    buf: Vec<u8>,
    must_read: bool,
    eof: bool,
    connecting: bool,
    /// Code of the last passed HTTP expect.
    code: u16,
    outcome: Option<CheckResult>,
}

impl<'p> Runner<'p> {
    /// Starts a check.
    pub fn new(program: &'p Program) -> Self {
        Self {
            program,
            pc: 0,
            buf: Vec::new(),
            must_read: true,
            eof: false,
            connecting: false,
            code: 0,
            outcome: None,
        }
    }

    /// The next thing to do.
    pub fn next_action(&mut self) -> Action<'p> {
        if let Some(result) = self.outcome.take() {
            return Action::Done(result);
        }
        loop {
            let program = self.program;
            let Some(step) = program.steps.get(self.pc) else {
                return Action::Done(self.success());
            };
            match &step.kind {
                StepKind::Connect {
                    addr,
                    port,
                    default,
                    send_proxy,
                    ..
                } => {
                    self.connecting = true;
                    self.buf.clear();
                    return Action::Connect {
                        addr: *addr,
                        port: *port,
                        default: *default,
                        send_proxy: *send_proxy,
                    };
                }
                StepKind::Send(data) => {
                    self.buf.clear();
                    return Action::Send(data);
                }
                StepKind::Expect(_) | StepKind::ExpectHttp { .. } => {
                    let full = self.buf.len() >= CHECK_BUFSIZE;
                    if self.must_read && !self.eof && !full {
                        return Action::Recv {
                            max: CHECK_BUFSIZE - self.buf.len(),
                        };
                    }
                    self.must_read = false;
                    let last_read = self.eof || full;
                    let verdict = match &step.kind {
                        StepKind::Expect(rule) => rule.evaluate(&self.buf, last_read, step.id),
                        StepKind::ExpectHttp { rule, head_request } => {
                            match rule.evaluate(&self.buf, last_read, *head_request) {
                                HttpVerdict::NeedMore => Verdict::NeedMore,
                                HttpVerdict::Done(r) if r.passed() => {
                                    Verdict::Pass { code: r.code }
                                }
                                HttpVerdict::Done(r) => Verdict::Fail(r),
                            }
                        }
                        _ => Verdict::NeedMore,
                    };
                    match verdict {
                        Verdict::Pass { code } => {
                            self.code = code;
                            self.pc += 1;
                        }
                        // Evaluations always conclude on the last read; guard anyway.
                        Verdict::NeedMore if last_read => {
                            return Action::Done(CheckResult::new(CheckStatus::L7Rsp, ""));
                        }
                        Verdict::NeedMore => {
                            self.must_read = true;
                        }
                        Verdict::Fail(result) => return Action::Done(result),
                    }
                }
            }
        }
    }

    /// The connection of the current connect step is established.
    pub fn connected(&mut self) {
        self.connecting = false;
        self.eof = false;
        self.must_read = true;
        self.pc += 1;
    }

    /// The bytes of the current send step were written.
    pub fn sent(&mut self) {
        self.must_read = true;
        self.pc += 1;
    }

    /// Bytes were read for the current expect step; an empty slice means the peer closed.
    pub fn received(&mut self, data: &[u8]) {
        self.must_read = false;
        if data.is_empty() {
            self.eof = true;
            if self.buf.is_empty() {
                let step = self.current_id();
                self.outcome = Some(CheckResult::new(
                    CheckStatus::L7Rsp,
                    format!("TCPCHK got an empty response at step {step}"),
                ));
            }
            return;
        }
        let room = CHECK_BUFSIZE.saturating_sub(self.buf.len());
        self.buf.extend_from_slice(&data[..data.len().min(room)]);
    }

    /// An I/O error happened at the current step.
    pub fn failed(&mut self, err: &std::io::Error) {
        let receiving = matches!(
            self.current_kind(),
            Some(StepKind::Expect(_) | StepKind::ExpectHttp { .. })
        );
        if receiving && !self.buf.is_empty() {
            // As HAProxy: an error after some data (often a reset right after the last
            // chunk) lets the expect rule judge what arrived.
            self.must_read = false;
            self.eof = true;
            return;
        }
        let status = if self.connecting {
            CheckStatus::L4Con
        } else {
            CheckStatus::SockErr
        };
        let info = format!("{}{}", strerror(err), self.step_suffix());
        self.outcome = Some(CheckResult::new(status, info));
    }

    /// The check's deadline passed during the current step.
    pub fn timed_out(&mut self) {
        let status = if self.connecting {
            CheckStatus::L4Tout
        } else {
            CheckStatus::L7Tout
        };
        self.outcome = Some(CheckResult::new(status, self.step_suffix()));
    }

    /// `true` while the current step waits for a connection to establish.
    pub fn is_connecting(&self) -> bool {
        self.connecting
    }

    fn current_kind(&self) -> Option<&'p StepKind> {
        let program = self.program;
        program.steps.get(self.pc).map(|s| &s.kind)
    }

    fn current_id(&self) -> usize {
        self.program.steps.get(self.pc).map_or(1, |s| s.id)
    }

    /// HAProxy's `chk_report_conn_err()` context, only for `option tcp-check`.
    fn step_suffix(&self) -> String {
        if self.program.flavor != Flavor::TcpCheck {
            return String::new();
        }
        let step = self.current_id();
        if step == 0 {
            return " at initial connection step of tcp-check".to_owned();
        }
        let detail = match self.current_kind() {
            Some(StepKind::Connect { port: Some(p), .. }) => format!(" (connect port {p})"),
            Some(StepKind::Connect { .. }) => " (connect)".to_owned(),
            Some(StepKind::Send(_)) => " (send)".to_owned(),
            Some(StepKind::Expect(rule)) => rule.describe(),
            Some(StepKind::ExpectHttp { .. }) => " (expect HTTP status codes)".to_owned(),
            None => String::new(),
        };
        format!(" at step {step} of tcp-check{detail}")
    }

    /// The result when every step passed, worded after the last one.
    fn success(&self) -> CheckResult {
        let last = self
            .pc
            .checked_sub(1)
            .and_then(|i| self.program.steps.get(i));
        match (self.program.flavor, last.map(|s| &s.kind)) {
            (Flavor::Plain, _) => CheckResult::new(CheckStatus::L4Ok, ""),
            (Flavor::Http, _) => CheckResult::new(CheckStatus::L7Ok, "").with_code(self.code),
            (Flavor::TcpCheck, Some(StepKind::Connect { implicit: true, .. })) => {
                CheckResult::new(CheckStatus::L4Ok, "")
            }
            (Flavor::TcpCheck, Some(StepKind::Connect { .. })) => {
                CheckResult::new(CheckStatus::L4Ok, "(tcp-check)")
            }
            (Flavor::TcpCheck, _) => CheckResult::new(CheckStatus::L7Ok, "(tcp-check)"),
        }
    }
}

#[cfg(test)]
#[path = "tcpcheck_tests.rs"]
mod tests;
