//! Cookie-based persistence (`cookie NAME insert|rewrite|prefix ...`), exactly as
//! HAProxy 2.6 does it, sans-I/O.
//!
//! # How the runtime calls it
//!
//! Per HTTP transaction, once the backend is known:
//!
//! 1. **Backend switching** — evaluate `force-persist` / `ignore-persist` with
//!    [`persist_override`] (first matching rule wins) and keep the result.
//! 2. **Request, before any server is chosen** (after the backend's `http-request`
//!    rules, before `use-server`, `stick match` and balancing) — call [`on_request`] with
//!    the backend's [`PersistCfg`], the request head (a `Cookie` header may be rewritten:
//!    `prefix` strips `SRV~`, `insert indirect` removes the cookie), the backend's
//!    run-time servers and the override. The returned [`CookieTxn`] says which server to
//!    use ([`CookieTxn::server`], an index into `BackendState::servers`) and is kept for
//!    the response and the log. When it gives a server the connection goes there
//!    directly (no balancing, no queue bypass: `maxconn` still applies); when that
//!    server is down and `option persist`/`force-persist` sent the request there anyway,
//!    `option redispatch` decides what happens if connecting fails. When it gives none,
//!    the usual `use-server` / stick / balancing order applies.
//! 3. **Response headers received** (after `http-response` rules, before
//!    `http-after-response`) — call [`on_response`] with the same `CookieTxn`, the
//!    server that answered (`None` for a locally generated response), the request method
//!    and the response head: it rewrites, prefixes, deletes or inserts `Set-Cookie` and
//!    adds `Cache-control: private` for `nocache`.
//! 4. **Log** — [`CookieTxn::log_chars`] gives the 3rd and 4th characters of `%tsc`.
//!
//! `capture cookie` (the `%CC` / `%CS` log fields) is independent of persistence: call
//! [`capture_request`] on the request head as received and [`capture_response`] on the
//! response head as received (any backend).
//!
//! Servers marked `non-stick` only matter for stick tables: the runtime must not call
//! `StickDecision::store` for them.

use std::sync::Arc;

use http::HeaderValue;
use http::header::{CACHE_CONTROL, COOKIE, SET_COOKIE};

use super::cookie_parse::{Span, delete_value, scan, strip_equal_spaces};
use crate::acl::Condition;
use crate::backend::state::ServerState;
use crate::config::cookie::{
    CaptureCookie, CookieCfg, CookieMode, PersistCfg, PersistRule, PersistRuleKind,
};
use crate::config::model::Server;
use crate::sample::StreamCtx;

/// Separates the server id from the application's value in `prefix` mode.
pub const PREFIX_DELIM: u8 = b'~';
/// Separates the dates from the server id in `insert` mode with `maxidle`/`maxlife`.
pub const DATE_DELIM: u8 = b'|';
/// Beyond this many seconds in the future, a cookie date is ignored (HAProxy: one day).
const FUTURE_TOLERANCE: i64 = 86_400;

/// What the request's persistence cookie said: the 3rd character of `%tsc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CookieStatus {
    /// `N`: no persistence cookie in the request.
    #[default]
    None,
    /// `I`: a cookie naming no known server (or an empty one).
    Invalid,
    /// `D`: a cookie naming a server that is down (redispatched, or sent there anyway
    /// with `option persist` / `force-persist`).
    Down,
    /// `V`: a valid cookie; the request went to its server.
    Valid,
    /// `E`: the cookie's last-seen date is older than `maxidle`.
    Expired,
    /// `O`: the cookie's first-seen date is older than `maxlife`.
    Old,
    /// `U`: a cookie was present but not used (`ignore-persist`, or a server was already
    /// assigned).
    Unused,
}

impl CookieStatus {
    /// The log character.
    pub fn as_char(self) -> char {
        match self {
            Self::None => 'N',
            Self::Invalid => 'I',
            Self::Down => 'D',
            Self::Valid => 'V',
            Self::Expired => 'E',
            Self::Old => 'O',
            Self::Unused => 'U',
        }
    }
}

/// What happened to the persistence cookie in the response: the 4th character of `%tsc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SetCookieStatus {
    /// `N`: no persistence cookie set by the server, none inserted.
    #[default]
    None,
    /// `P`: the server set the cookie and it was passed as is.
    Passive,
    /// `D`: the server's cookie was deleted.
    Deleted,
    /// `I`: a cookie was inserted.
    Inserted,
    /// `R`: the server's cookie was rewritten (`rewrite` / `prefix`).
    Rewritten,
    /// `U`: the client's cookie was re-sent with a refreshed date.
    Updated,
}

impl SetCookieStatus {
    /// The log character.
    pub fn as_char(self) -> char {
        match self {
            Self::None => 'N',
            Self::Passive => 'P',
            Self::Deleted => 'D',
            Self::Inserted => 'I',
            Self::Rewritten => 'R',
            Self::Updated => 'U',
        }
    }
}

/// The `force-persist` / `ignore-persist` verdict for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PersistOverride {
    /// No rule matched.
    #[default]
    None,
    /// `force-persist`: the cookie's server is used even if it is down.
    Force,
    /// `ignore-persist`: the cookie is ignored and no cookie is inserted.
    Ignore,
}

/// Evaluates `force-persist` / `ignore-persist` rules: the first one whose condition
/// holds decides.
pub fn persist_override(rules: &[PersistRule], ctx: &StreamCtx<'_>) -> PersistOverride {
    rules
        .iter()
        .find(|r| Condition::eval(&r.cond, ctx))
        .map_or(PersistOverride::None, |r| match r.kind {
            PersistRuleKind::Force => PersistOverride::Force,
            PersistRuleKind::Ignore => PersistOverride::Ignore,
        })
}

/// The persistence state of one transaction, from [`on_request`] to the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CookieTxn {
    /// The server the cookie designates (index in the backend's servers), if it is
    /// to be used.
    pub server: Option<usize>,
    /// The request cookie's status.
    pub status: CookieStatus,
    /// The response cookie's status.
    pub set_status: SetCookieStatus,
    /// The request went to the server its cookie named (HAProxy's `SF_DIRECT`).
    pub direct: bool,
    /// `ignore-persist` matched.
    pub ignore: bool,
    /// First-seen date of the cookie (seconds since the epoch, 0 if none).
    pub first_date: i64,
    /// Last-seen date of the cookie (seconds since the epoch, 0 if none).
    pub last_date: i64,
}

impl CookieTxn {
    /// The 3rd and 4th characters of `%tsc`: `--` when the backend has no persistence
    /// cookie in `insert`, `rewrite` or `prefix` mode, as HAProxy prints.
    pub fn log_chars(&self, cfg: Option<&CookieCfg>) -> [char; 2] {
        match cfg {
            Some(c) if c.mode != CookieMode::Passive => {
                [self.status.as_char(), self.set_status.as_char()]
            }
            _ => ['-', '-'],
        }
    }
}

/// Facts about the request that [`on_request`] needs besides its head.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestFlags {
    /// The `force-persist` / `ignore-persist` verdict.
    pub override_: PersistOverride,
    /// A server was already assigned before cookies were looked at.
    pub assigned: bool,
    /// The current date, seconds since the epoch (for `maxidle` / `maxlife`).
    pub now_secs: i64,
}

/// Processes the request's `Cookie` headers for persistence (see the module docs).
///
/// The server a cookie designates is the first server, in configuration order, whose
/// `cookie` value equals the cookie's and that is up; several servers may share a value.
/// A down server is used only with `option persist` or `force-persist`.
pub fn on_request(
    cfg: &PersistCfg,
    req: &mut http::request::Parts,
    servers: &[Arc<ServerState>],
    flags: RequestFlags,
) -> CookieTxn {
    let mut txn = CookieTxn {
        ignore: flags.override_ == PersistOverride::Ignore,
        ..CookieTxn::default()
    };
    let Some(ck) = cfg.cookie.as_ref() else {
        return txn;
    };
    // Most requests neither mention our cookie nor have spaces around a `=` (which
    // HAProxy removes from every cookie): then there is nothing to copy or parse.
    let name = ck.name.as_bytes();
    let work = req.headers.get_all(COOKIE).iter().any(|v| {
        let v = v.as_bytes();
        let has = |pat: &[u8]| v.windows(pat.len().max(1)).any(|w| w == pat);
        has(name) || has(b" =") || has(b"= ") || has(b"\t=") || has(b"=\t")
    });
    if !work {
        return txn;
    }
    let ctx = ReqCtx {
        ck,
        cfg,
        servers,
        force: flags.override_ == PersistOverride::Force,
        now: flags.now_secs,
    };
    let mut assigned = flags.assigned;
    let mut changed = false;
    let mut values: Vec<Vec<u8>> = Vec::new();
    for v in req.headers.get_all(COOKIE) {
        let mut h = v.as_bytes().to_vec();
        let before = h.len();
        let keep = ctx.process_header(&mut h, &mut txn, &mut assigned);
        changed |= !keep || h.len() != before;
        if keep {
            values.push(h);
        }
    }
    if changed {
        rewrite_header(&mut req.headers, COOKIE, values);
    }
    txn
}

struct ReqCtx<'a> {
    ck: &'a CookieCfg,
    cfg: &'a PersistCfg,
    servers: &'a [Arc<ServerState>],
    force: bool,
    now: i64,
}

impl ReqCtx<'_> {
    /// One `Cookie` header; returns `false` when the whole header must go.
    fn process_header(&self, h: &mut Vec<u8>, txn: &mut CookieTxn, assigned: &mut bool) -> bool {
        let mut end = h.len();
        let mut prev = 0;
        let mut first = true;
        let mut del_from: Option<usize> = None;
        let mut preserve = false;
        while prev < end {
            let mut sp = scan(h, prev, first, end, false);
            first = false;
            if sp.att_beg < end && h[sp.att_beg] == b'$' {
                prev = sp.next;
                continue;
            }
            if sp.equal == sp.next {
                // Not a name=value cookie: kept, and flushes a pending deletion.
                preserve = true;
                if let Some(df) = del_from.take() {
                    let removed = delete_value(h, &mut end, df, prev);
                    sp.next -= removed;
                }
                prev = sp.next;
                continue;
            }
            sp = strip_equal_spaces(h, sp, &mut end);
            if &h[sp.att_beg..sp.att_end] == self.ck.name.as_bytes() {
                let deleted_prefix = self.own_cookie(h, &mut sp, &mut end, txn, assigned);
                if self.ck.mode == CookieMode::Prefix && deleted_prefix {
                    del_from = None;
                    preserve = true;
                } else if del_from.is_none()
                    && self.ck.mode == CookieMode::Insert
                    && self.ck.indirect
                {
                    del_from = Some(prev);
                }
            } else {
                preserve = true;
                if let Some(df) = del_from.take() {
                    let removed = delete_value(h, &mut end, df, prev);
                    sp.next -= removed;
                }
            }
            prev = sp.next;
        }
        if let Some(df) = del_from {
            end = if preserve { df } else { 0 };
        }
        h.truncate(end);
        end != 0
    }

    /// Our cookie: decodes dates, checks expiry, finds the server, and in prefix mode
    /// strips `SRV~`. Returns whether a prefix was stripped.
    fn own_cookie(
        &self,
        h: &mut Vec<u8>,
        sp: &mut Span,
        end: &mut usize,
        txn: &mut CookieTxn,
        assigned: &mut bool,
    ) -> bool {
        let ck = self.ck;
        let mut delim;
        if ck.mode == CookieMode::Prefix {
            delim = h[sp.val_beg..sp.val_end]
                .iter()
                .position(|&c| c == super::cookie::PREFIX_DELIM)
                .map_or(sp.val_end, |p| sp.val_beg + p);
        } else {
            delim = sp.val_end;
            if let Some(p) = h[sp.val_beg..sp.val_end]
                .iter()
                .position(|&c| c == DATE_DELIM)
            {
                let bar = sp.val_beg + p;
                delim = bar;
                let after = bar + 1;
                if sp.val_end - after >= 5
                    && let Some(v) = b64_to_s30(&h[after..after + 5])
                    && v > 0
                {
                    txn.last_date = i64::from(v) << 2;
                }
                if let Some(p2) = h[after..sp.val_end].iter().position(|&c| c == DATE_DELIM) {
                    let bar2 = after + p2;
                    if sp.val_end - bar2 > 5
                        && let Some(v) = b64_to_s30(&h[bar2 + 1..bar2 + 6])
                        && v > 0
                    {
                        txn.first_date = i64::from(v) << 2;
                    }
                }
            }
        }
        let now = self.now;
        let maxlife = i64::from(ck.maxlife);
        let maxidle = i64::from(ck.maxidle);
        let mut dated_out = false;
        if txn.first_date != 0
            && maxlife != 0
            && (now - txn.first_date > maxlife || txn.first_date - now > FUTURE_TOLERANCE)
        {
            txn.status = CookieStatus::Old;
            dated_out = true;
        } else if txn.last_date != 0
            && maxidle != 0
            && (now - txn.last_date > maxidle || txn.last_date - now > FUTURE_TOLERANCE)
        {
            txn.status = CookieStatus::Expired;
            dated_out = true;
        }
        if dated_out {
            delim = sp.val_beg;
            txn.first_date = 0;
            txn.last_date = 0;
        }
        let skip = delim == sp.val_beg || txn.ignore || *assigned;
        let mut found = None;
        if !skip {
            let id = &h[sp.val_beg..delim];
            for (i, s) in self.servers.iter().enumerate() {
                if s.cfg.cookie.as_deref().map(str::as_bytes) != Some(id) {
                    continue;
                }
                let up = s.is_usable();
                if up || self.cfg.option_persist || self.force {
                    txn.status = if up {
                        CookieStatus::Valid
                    } else {
                        CookieStatus::Down
                    };
                    found = Some(i);
                    break;
                }
                txn.status = CookieStatus::Down;
            }
        }
        if let Some(i) = found {
            txn.server = Some(i);
            txn.direct = true;
            *assigned = true;
        } else if !matches!(
            txn.status,
            CookieStatus::Down | CookieStatus::Expired | CookieStatus::Old
        ) {
            txn.status = if txn.ignore || *assigned {
                CookieStatus::Unused
            } else {
                CookieStatus::Invalid
            };
        }
        if ck.mode == CookieMode::Prefix && delim != sp.val_end {
            // Keep only the application's value: NAME=VALUE.
            let removed = delim + 1 - sp.val_beg;
            h.drain(sp.val_beg..=delim);
            sp.val_end -= removed;
            sp.next -= removed;
            *end -= removed;
            return true;
        }
        false
    }
}

/// Replaces every value of `name` by `values` in order, keeping the header's position.
fn rewrite_header(headers: &mut http::HeaderMap, name: http::HeaderName, values: Vec<Vec<u8>>) {
    let mut values = values
        .into_iter()
        .filter_map(|v| HeaderValue::from_bytes(&v).ok());
    match values.next() {
        None => {
            headers.remove(&name);
        }
        Some(first) => {
            headers.insert(name.clone(), first);
            for v in values {
                headers.append(name.clone(), v);
            }
        }
    }
}

/// HAProxy's base64 alphabet for cookie dates.
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encodes the low 30 bits of `v` as 5 base64 characters (HAProxy's `s30tob64`).
pub fn s30_to_b64(mut v: u32, out: &mut [u8; 5]) {
    for i in (0..5).rev() {
        out[i] = B64[(v & 0x3f) as usize];
        v >>= 6;
    }
}

/// Decodes 5 base64 characters into a 30-bit value (HAProxy's `b64tos30`).
pub fn b64_to_s30(s: &[u8]) -> Option<u32> {
    let mut out = 0u32;
    for &c in s.get(..5)? {
        let b = B64.iter().position(|&x| x == c)?;
        out = (out << 6) | u32::try_from(b).ok()?;
    }
    Some(out)
}

/// The facts [`on_response`] needs besides the response head.
#[derive(Debug, Clone, Copy)]
pub struct ResponseFlags<'a> {
    /// The server that produced the response (`None`: generated by the proxy).
    pub server: Option<&'a Server>,
    /// The request method was POST (`postonly`).
    pub post: bool,
    /// The request method was GET, HEAD, OPTIONS or TRACE (cacheable by default).
    pub safe_method: bool,
    /// The current date, seconds since the epoch.
    pub now_secs: i64,
}

/// Applies persistence to the response head (see the module docs); updates
/// `txn.set_status`.
pub fn on_response(
    cfg: &PersistCfg,
    txn: &mut CookieTxn,
    res: &mut http::response::Parts,
    flags: ResponseFlags<'_>,
) {
    let Some(ck) = cfg.cookie.as_ref() else {
        return;
    };
    let status = res.status.as_u16();
    if status < 200 && status != 101 {
        return;
    }
    let srv = flags.server;
    if res.headers.contains_key(SET_COOKIE) {
        server_side(ck, txn, res, srv);
    }
    // HAProxy 2.6's cacheability check (with `nocache`, a cacheable response is marked
    // `private` so that no shared cache keeps the persistence cookie).
    let cacheable = ck.nocache
        && crate::http::cacheability::of(flags.safe_method, status, &res.headers).response;
    let Some(srv) = srv else { return };
    let found_preserved = txn.set_status != SetCookieStatus::None && ck.preserve;
    let now = flags.now_secs;
    let refresh = !txn.direct
        || ((ck.maxidle != 0 || txn.last_date != 0) && (txn.last_date == 0 || txn.last_date < now))
        || (ck.maxlife != 0 && txn.first_date == 0)
        || (ck.maxlife == 0 && txn.first_date != 0);
    if ck.mode != CookieMode::Insert
        || found_preserved
        || !refresh
        || (ck.postonly && !flags.post)
        || txn.ignore
    {
        return;
    }
    let value = insert_value(ck, srv.cookie.as_deref(), txn.first_date, now);
    if let Ok(v) = HeaderValue::from_str(&value) {
        res.headers.append(SET_COOKIE, v);
    }
    txn.set_status = if srv.cookie.is_some() && txn.direct {
        SetCookieStatus::Updated
    } else {
        SetCookieStatus::Inserted
    };
    if ck.nocache && cacheable {
        res.headers
            .append(CACHE_CONTROL, HeaderValue::from_static("private"));
    }
}

/// The `Set-Cookie` value inserted for a server (`value` is its cookie, if any).
pub fn insert_value(ck: &CookieCfg, value: Option<&str>, first_date: i64, now: i64) -> String {
    let mut out = String::with_capacity(64);
    match value {
        None => {
            out.push_str(&ck.name);
            out.push_str("=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/");
        }
        Some(v) => {
            out.push_str(&ck.name);
            out.push('=');
            out.push_str(v);
            if ck.maxidle != 0 || ck.maxlife != 0 {
                let mut b = [0u8; 5];
                let quarter = |secs: i64| u32::try_from((secs >> 2) & 0x3fff_ffff).unwrap_or(0);
                s30_to_b64(quarter(now + 3), &mut b);
                out.push('|');
                out.push_str(std::str::from_utf8(&b).unwrap_or_default());
                if ck.maxlife != 0 {
                    let first = if first_date != 0 {
                        quarter(first_date)
                    } else {
                        quarter(now + 3)
                    };
                    s30_to_b64(first, &mut b);
                    out.push('|');
                    out.push_str(std::str::from_utf8(&b).unwrap_or_default());
                }
            }
            out.push_str("; path=/");
        }
    }
    for d in &ck.domains {
        out.push_str("; domain=");
        out.push_str(d);
    }
    if ck.httponly {
        out.push_str("; HttpOnly");
    }
    if ck.secure {
        out.push_str("; Secure");
    }
    if !ck.attrs.is_empty() {
        out.push_str("; ");
        out.push_str(&ck.attrs.join("; "));
    }
    out
}

/// The server's `Set-Cookie` headers: rewrite, prefix or delete our cookie.
fn server_side(
    ck: &CookieCfg,
    txn: &mut CookieTxn,
    res: &mut http::response::Parts,
    srv: Option<&Server>,
) {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut changed = false;
    for v in res.headers.get_all(SET_COOKIE) {
        let mut h = v.as_bytes().to_vec();
        let mut end = h.len();
        let sp = scan(&h, 0, true, end, true);
        if sp.equal == sp.val_end {
            out.push(h);
            continue;
        }
        let before = h.len();
        let sp = strip_equal_spaces(&mut h, sp, &mut end);
        changed |= h.len() != before;
        if txn.ignore || &h[sp.att_beg..sp.att_end] != ck.name.as_bytes() {
            out.push(h);
            continue;
        }
        txn.set_status = SetCookieStatus::Passive;
        let srv_cookie = srv.and_then(|s| s.cookie.as_deref());
        if ck.preserve {
            out.push(h);
        } else if (srv.is_some() && ck.mode == CookieMode::Insert) || (txn.direct && ck.indirect) {
            changed = true;
            txn.set_status = SetCookieStatus::Deleted;
        } else if let (Some(id), CookieMode::Rewrite) = (srv_cookie, ck.mode) {
            h.splice(sp.val_beg..sp.val_end, id.bytes());
            changed = true;
            txn.set_status = SetCookieStatus::Rewritten;
            out.push(h);
        } else if let (Some(id), CookieMode::Prefix) = (srv_cookie, ck.mode) {
            let mut prefix = id.as_bytes().to_vec();
            prefix.push(PREFIX_DELIM);
            h.splice(sp.val_beg..sp.val_beg, prefix);
            changed = true;
            txn.set_status = SetCookieStatus::Rewritten;
            out.push(h);
        } else {
            out.push(h);
        }
    }
    if changed {
        rewrite_header(&mut res.headers, SET_COOKIE, out);
    }
}

/// `capture cookie` on the request: the first cookie whose name starts with the
/// configured name, as `name=value` cut to the configured length.
pub fn capture_request(cap: &CaptureCookie, req: &http::request::Parts) -> Option<String> {
    for v in req.headers.get_all(COOKIE) {
        let mut h = v.as_bytes().to_vec();
        let mut end = h.len();
        let mut prev = 0;
        let mut first = true;
        while prev < end {
            let sp = scan(&h, prev, first, end, false);
            first = false;
            if (sp.att_beg < end && h[sp.att_beg] == b'$') || sp.equal == sp.next {
                prev = sp.next;
                continue;
            }
            let sp = strip_equal_spaces(&mut h, sp, &mut end);
            if let Some(c) = captured(cap, &h[sp.att_beg..sp.val_end]) {
                return Some(c);
            }
            prev = sp.next;
        }
    }
    None
}

/// `capture cookie` on the response: the first `Set-Cookie` matching.
pub fn capture_response(cap: &CaptureCookie, res: &http::response::Parts) -> Option<String> {
    for v in res.headers.get_all(SET_COOKIE) {
        let mut h = v.as_bytes().to_vec();
        let mut end = h.len();
        let sp = scan(&h, 0, true, end, true);
        if sp.equal == sp.val_end {
            continue;
        }
        let sp = strip_equal_spaces(&mut h, sp, &mut end);
        if let Some(c) = captured(cap, &h[sp.att_beg..sp.val_end]) {
            return Some(c);
        }
    }
    None
}

fn captured(cap: &CaptureCookie, name_value: &[u8]) -> Option<String> {
    let name = cap.name.as_bytes();
    if name_value.len() < name.len() || &name_value[..name.len()] != name {
        return None;
    }
    let kept = &name_value[..name_value.len().min(cap.len)];
    Some(String::from_utf8_lossy(kept).into_owned())
}

/// The cookie HAProxy derives for a server with `cookie ... dynamic`: XXH64 (seed 0) of
/// the key, the server's address bytes and its port as 4 big-endian bytes, in hex.
pub fn dynamic_cookie(key: &str, addr: std::net::IpAddr, port: u16) -> String {
    let mut buf = Vec::with_capacity(key.len() + 20);
    buf.extend_from_slice(key.as_bytes());
    match addr {
        std::net::IpAddr::V4(a) => buf.extend_from_slice(&a.octets()),
        std::net::IpAddr::V6(a) => buf.extend_from_slice(&a.octets()),
    }
    buf.extend_from_slice(&u32::from(port).to_be_bytes());
    format!("{:016x}", xxhash_rust::xxh64::xxh64(&buf, 0))
}

#[cfg(test)]
#[path = "cookie_tests.rs"]
mod tests;
