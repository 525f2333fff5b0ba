//! HTTP sample fetches (HAProxy configuration manual 7.3.6): they read the transaction
//! in [`StreamCtx::http`] and yield no sample outside HTTP mode.
//!
//! Header fetches follow HAProxy: `hdr()` sees comma-separated values, `fhdr()` whole
//! lines; without an occurrence a fetch returns the last value, except in ACLs, which
//! try every value ([`HttpFetch::for_each`]). Names are case-insensitive.

pub mod hdr;
pub mod uri;

#[cfg(test)]
mod tests;

use std::borrow::Cow;

use crate::http::HttpTxn;
use crate::http_rules::userlist::{self, UserlistRef};
use crate::sample::parse::Call;
use crate::sample::{Sample, SampleError, SampleType, StreamCtx};

/// Which message a fetch reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// The request.
    Req,
    /// The response (no sample before there is one).
    Res,
}

/// How a header value is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HdrAs {
    /// As a string (`hdr`, `fhdr`).
    Str,
    /// As an address (`hdr_ip`).
    Ip,
    /// As an integer (`hdr_val`).
    Int,
}

/// What an HTTP fetch extracts, with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpKind {
    /// `method`.
    Method,
    /// `path`.
    Path,
    /// `pathq`.
    Pathq,
    /// `url`.
    Url,
    /// `query`.
    Query,
    /// `base`: first `Host` value then the path.
    Base,
    /// `base32` / `url32`: hash of the host and the path (`url32`: with the query).
    Hash32 {
        /// Include the query (`url32`).
        whole: bool,
        /// Append the client address (`base32+src`, `url32+src`).
        with_src: bool,
    },
    /// `url_ip`: the address in an absolute URL.
    UrlIp,
    /// `url_port`: the port in an absolute URL (80 by default).
    UrlPort,
    /// `url_param(name[,delim])`, `urlp`, `urlp_val`.
    UrlParam {
        /// The parameter (any when `None`).
        name: Option<String>,
        /// Extra delimiter.
        delim: Option<u8>,
        /// `urlp_val`: as an integer.
        as_int: bool,
    },
    /// `req.hdr`, `req.fhdr`, `hdr_ip`, `hdr_val`, `res.hdr`, ...
    Hdr {
        /// Request or response.
        dir: Dir,
        /// The header (any when `None`).
        name: Option<String>,
        /// Occurrence (0: last, or every one in ACLs).
        occ: i64,
        /// Whole lines (`fhdr`).
        full: bool,
        /// The value's type.
        as_: HdrAs,
    },
    /// `req.hdr_cnt`, `req.fhdr_cnt`, `res.hdr_cnt`, ...
    HdrCnt {
        /// Request or response.
        dir: Dir,
        /// The header (all when `None`).
        name: Option<String>,
        /// Count whole lines (`fhdr_cnt`).
        full: bool,
    },
    /// `req.hdrs` / `res.hdrs`: the header block as text.
    Hdrs(Dir),
    /// `req.hdr_names([delim])` / `res.hdr_names`.
    HdrNames {
        /// Request or response.
        dir: Dir,
        /// Separator (`,` by default).
        delim: String,
    },
    /// `req.cook(name)`, `res.cook`, `req.cook_val`, ...
    Cook {
        /// Request (`Cookie`) or response (`Set-Cookie`).
        dir: Dir,
        /// The cookie (first one when `None`).
        name: Option<String>,
        /// `cook_val`: as an integer.
        as_int: bool,
    },
    /// `req.cook_cnt([name])`, `res.cook_cnt`.
    CookCnt {
        /// Request or response.
        dir: Dir,
        /// The cookie (all when `None`).
        name: Option<String>,
    },
    /// `req.body`: the buffered body.
    Body,
    /// `req.body_param([name])`: a form parameter of the buffered body.
    BodyParam(Option<String>),
    /// `req.body_len`: bytes buffered.
    BodyLen,
    /// `req.body_size`: announced length (`Content-Length`), else bytes buffered.
    BodySize,
    /// `req.ver` / `res.ver`: `1.0`, `1.1`, `2.0`.
    Ver(Dir),
    /// `status`: the response status code.
    Status,
    /// `http_first_req`: the request is the first of its client connection.
    FirstReq,
    /// `http_auth(userlist)`: the `Authorization` credentials are valid.
    Auth(UserlistRef),
    /// `http_auth_group(userlist)`: the authenticated user (groups in ACLs).
    AuthGroup(UserlistRef),
    /// `http_auth_type`: `basic`, `digest`, `bearer` or the scheme as written.
    AuthType,
    /// `http_auth_user`: the user of `Basic` credentials, unchecked.
    AuthUser,
    /// `http_auth_pass`: the password of `Basic` credentials, unchecked.
    AuthPass,
    /// `capture.req.hdr(n)` / `capture.res.hdr(n)`.
    Capture {
        /// Request or response captures.
        dir: Dir,
        /// Slot.
        slot: usize,
    },
    /// `capture.req.method`.
    CaptureMethod,
    /// `capture.req.uri`.
    CaptureUri,
    /// `capture.req.ver` / `capture.res.ver`: `HTTP/1.1`.
    CaptureVer(Dir),
}

/// An HTTP fetch: its keyword as written (for messages) and what it extracts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpFetch {
    /// The keyword.
    pub keyword: &'static str,
    /// What it extracts.
    pub kind: HttpKind,
}

/// Every HTTP fetch keyword (aliases included).
const KEYWORDS: &[&str] = &[
    "method",
    "path",
    "pathq",
    "url",
    "query",
    "base",
    "base32",
    "base32+src",
    "url32",
    "url32+src",
    "url_ip",
    "url_port",
    "url_param",
    "urlp",
    "urlp_val",
    "req.hdr",
    "hdr",
    "req.fhdr",
    "req.hdr_ip",
    "hdr_ip",
    "req.hdr_val",
    "hdr_val",
    "req.hdr_cnt",
    "hdr_cnt",
    "req.fhdr_cnt",
    "req.hdrs",
    "req.hdr_names",
    "res.hdr",
    "shdr",
    "res.fhdr",
    "res.hdr_ip",
    "shdr_ip",
    "res.hdr_val",
    "shdr_val",
    "res.hdr_cnt",
    "shdr_cnt",
    "res.fhdr_cnt",
    "res.hdrs",
    "res.hdr_names",
    "req.cook",
    "cook",
    "req.cook_val",
    "cook_val",
    "req.cook_cnt",
    "cook_cnt",
    "res.cook",
    "scook",
    "set-cookie",
    "res.cook_val",
    "scook_val",
    "res.cook_cnt",
    "scook_cnt",
    "req.body",
    "req.body_param",
    "req.body_len",
    "req.body_size",
    "req.ver",
    "req_ver",
    "res.ver",
    "resp_ver",
    "status",
    "http_first_req",
    "http_auth",
    "http_auth_group",
    "http_auth_type",
    "http_auth_user",
    "http_auth_pass",
    "capture.req.hdr",
    "capture.res.hdr",
    "capture.req.method",
    "capture.req.uri",
    "capture.req.ver",
    "capture.res.ver",
];

fn bad(keyword: &str, reason: impl Into<String>) -> SampleError {
    SampleError::BadArgs {
        keyword: keyword.to_owned(),
        reason: reason.into(),
    }
}

fn int_arg(keyword: &str, arg: &str) -> Result<i64, SampleError> {
    arg.trim()
        .parse()
        .map_err(|_| bad(keyword, format!("'{arg}' is not an integer")))
}

fn delim_arg(keyword: &str, arg: Option<&String>) -> Result<Option<u8>, SampleError> {
    match arg.map(String::as_bytes) {
        None | Some([]) => Ok(None),
        Some([c]) => Ok(Some(*c)),
        Some(_) => Err(bad(keyword, "the delimiter must be a single character")),
    }
}

fn opt_name(arg: Option<&String>) -> Option<String> {
    arg.filter(|a| !a.is_empty())
        .map(|a| a.to_ascii_lowercase())
}

impl HttpFetch {
    /// Builds the fetch called `call.name` if it is an HTTP fetch.
    pub fn parse(call: &Call) -> Result<Option<Self>, SampleError> {
        let Some(&keyword) = KEYWORDS.iter().find(|k| **k == call.name) else {
            return Ok(None);
        };
        let args = call.args.as_slice();
        let max = |n: usize| {
            if args.len() > n {
                Err(bad(keyword, "too many arguments"))
            } else {
                Ok(())
            }
        };
        let dir = if keyword.starts_with("res.")
            || keyword.starts_with("shdr")
            || keyword.starts_with("scook")
            || keyword == "set-cookie"
            || keyword == "resp_ver"
            || keyword == "capture.res.ver"
            || keyword == "capture.res.hdr"
        {
            Dir::Res
        } else {
            Dir::Req
        };
        use HttpKind as K;
        let kind = match keyword {
            "method" => K::Method,
            "path" => K::Path,
            "pathq" => K::Pathq,
            "url" => K::Url,
            "query" => K::Query,
            "base" => K::Base,
            "base32" | "base32+src" | "url32" | "url32+src" => K::Hash32 {
                whole: keyword.starts_with("url"),
                with_src: keyword.ends_with("+src"),
            },
            "url_ip" => K::UrlIp,
            "url_port" => K::UrlPort,
            "url_param" | "urlp" | "urlp_val" => {
                max(2)?;
                K::UrlParam {
                    name: args.first().filter(|a| !a.is_empty()).cloned(),
                    delim: delim_arg(keyword, args.get(1))?,
                    as_int: keyword == "urlp_val",
                }
            }
            "req.hdr" | "hdr" | "req.fhdr" | "req.hdr_ip" | "hdr_ip" | "req.hdr_val"
            | "hdr_val" | "res.hdr" | "shdr" | "res.fhdr" | "res.hdr_ip" | "shdr_ip"
            | "res.hdr_val" | "shdr_val" => {
                max(2)?;
                let occ = match args.get(1) {
                    Some(o) if !o.is_empty() => int_arg(keyword, o)?,
                    _ => 0,
                };
                let as_ = if keyword.ends_with("_ip") {
                    HdrAs::Ip
                } else if keyword.ends_with("_val") {
                    HdrAs::Int
                } else {
                    HdrAs::Str
                };
                K::Hdr {
                    dir,
                    name: opt_name(args.first()),
                    occ,
                    full: keyword.contains("fhdr"),
                    as_,
                }
            }
            "req.hdr_cnt" | "hdr_cnt" | "req.fhdr_cnt" | "res.hdr_cnt" | "shdr_cnt"
            | "res.fhdr_cnt" => {
                max(1)?;
                K::HdrCnt {
                    dir,
                    name: opt_name(args.first()),
                    full: keyword.contains("fhdr"),
                }
            }
            "req.hdrs" | "res.hdrs" => K::Hdrs(dir),
            "req.hdr_names" | "res.hdr_names" => {
                max(1)?;
                K::HdrNames {
                    dir,
                    delim: args.first().cloned().unwrap_or_else(|| ",".to_owned()),
                }
            }
            "req.cook" | "cook" | "req.cook_val" | "cook_val" | "res.cook" | "scook"
            | "set-cookie" | "res.cook_val" | "scook_val" => {
                max(1)?;
                K::Cook {
                    dir,
                    name: args.first().filter(|a| !a.is_empty()).cloned(),
                    as_int: keyword.ends_with("_val"),
                }
            }
            "req.cook_cnt" | "cook_cnt" | "res.cook_cnt" | "scook_cnt" => {
                max(1)?;
                K::CookCnt {
                    dir,
                    name: args.first().filter(|a| !a.is_empty()).cloned(),
                }
            }
            "req.body" => K::Body,
            "req.body_param" => {
                max(1)?;
                K::BodyParam(args.first().filter(|a| !a.is_empty()).cloned())
            }
            "req.body_len" => K::BodyLen,
            "req.body_size" => K::BodySize,
            "req.ver" | "req_ver" => K::Ver(Dir::Req),
            "res.ver" | "resp_ver" => K::Ver(Dir::Res),
            "status" => K::Status,
            "http_first_req" => K::FirstReq,
            "http_auth" | "http_auth_group" => {
                let [list] = args else {
                    return Err(bad(keyword, "expects a userlist name"));
                };
                let r = userlist::reference(list);
                if keyword == "http_auth" {
                    K::Auth(r)
                } else {
                    K::AuthGroup(r)
                }
            }
            "http_auth_type" => K::AuthType,
            "http_auth_user" => K::AuthUser,
            "http_auth_pass" => K::AuthPass,
            "capture.req.hdr" | "capture.res.hdr" => {
                let [slot] = args else {
                    return Err(bad(keyword, "expects a capture slot number"));
                };
                let slot = usize::try_from(int_arg(keyword, slot)?)
                    .map_err(|_| bad(keyword, "the slot must not be negative"))?;
                K::Capture { dir, slot }
            }
            "capture.req.method" => K::CaptureMethod,
            "capture.req.uri" => K::CaptureUri,
            "capture.req.ver" | "capture.res.ver" => K::CaptureVer(dir),
            _ => return Ok(None),
        };
        let takes_args = matches!(
            kind,
            K::UrlParam { .. }
                | K::Hdr { .. }
                | K::HdrCnt { .. }
                | K::HdrNames { .. }
                | K::Cook { .. }
                | K::CookCnt { .. }
                | K::BodyParam(_)
                | K::Auth(_)
                | K::AuthGroup(_)
                | K::Capture { .. }
        );
        if !takes_args && !args.is_empty() {
            return Err(bad(keyword, "this fetch takes no argument"));
        }
        Ok(Some(Self { keyword, kind }))
    }

    /// The type of the value.
    pub fn out_type(&self) -> SampleType {
        use HttpKind as K;
        match &self.kind {
            K::Hash32 { with_src: true, .. } | K::Body => SampleType::Bin,
            K::Hash32 { .. }
            | K::UrlPort
            | K::HdrCnt { .. }
            | K::CookCnt { .. }
            | K::BodyLen
            | K::BodySize
            | K::Status
            | K::UrlParam { as_int: true, .. }
            | K::Cook { as_int: true, .. } => SampleType::Int,
            K::Hdr {
                as_: HdrAs::Int, ..
            } => SampleType::Int,
            K::Hdr { as_: HdrAs::Ip, .. } | K::UrlIp => SampleType::Addr,
            K::Auth(_) | K::FirstReq => SampleType::Bool,
            _ => SampleType::Str,
        }
    }

    /// Whether an ACL should try every value of this fetch rather than the last one
    /// (HAProxy's `SMP_OPT_ITERATE`): header and cookie fetches without an occurrence,
    /// and `http_auth_group`, whose ACL patterns are group names.
    pub fn iterates(&self) -> bool {
        matches!(
            self.kind,
            HttpKind::Hdr { occ: 0, .. } | HttpKind::Cook { .. } | HttpKind::AuthGroup(_)
        )
    }

    /// Whether the fetch reads the request itself (its URI, headers or body), which
    /// HAProxy no longer has once the request left for the server (response rules see no
    /// `path` or `req.hdr`; `method` and `capture.req.*` stay).
    pub fn reads_request(&self) -> bool {
        use HttpKind as K;
        match &self.kind {
            K::Path
            | K::Pathq
            | K::Url
            | K::Query
            | K::Base
            | K::Hash32 { .. }
            | K::UrlIp
            | K::UrlPort
            | K::UrlParam { .. }
            | K::Body
            | K::BodyParam(_)
            | K::BodyLen
            | K::BodySize => true,
            K::Hdr { dir, .. }
            | K::HdrCnt { dir, .. }
            | K::HdrNames { dir, .. }
            | K::Cook { dir, .. }
            | K::CookCnt { dir, .. } => *dir == Dir::Req,
            K::Hdrs(dir) => *dir == Dir::Req,
            _ => false,
        }
    }

    /// Calls `f` with each value an ACL compares (see [`HttpFetch::iterates`]) until it
    /// returns true; returns whether one did.
    pub fn for_each<'a>(
        &'a self,
        ctx: &StreamCtx<'a>,
        f: &mut dyn FnMut(Sample<'a>) -> bool,
    ) -> bool {
        let Some(txn) = ctx.http else {
            return false;
        };
        if txn.req_released && self.reads_request() {
            return false;
        }
        match &self.kind {
            HttpKind::Hdr {
                dir,
                name,
                occ: 0,
                full,
                as_,
            } => {
                let Some(h) = headers(txn, *dir) else {
                    return false;
                };
                let mut each = |v: &'a [u8]| convert_hdr(v, *as_).is_some_and(&mut *f);
                if *full {
                    hdr::lines(h, name.as_deref()).any(&mut each)
                } else {
                    hdr::values(h, name.as_deref()).any(&mut each)
                }
            }
            HttpKind::Cook { dir, name, as_int } => {
                let Some(h) = headers(txn, *dir) else {
                    return false;
                };
                let mut vals = hdr::cookie_values(h, *dir == Dir::Res, name.as_deref());
                vals.any(|v| f(cookie_sample(v, *as_int)))
            }
            HttpKind::AuthGroup(list) => {
                let Some(user) = authenticated(txn, list) else {
                    return false;
                };
                list.groups_of(&user)
                    .into_iter()
                    .any(|g| f(Sample::Str(Cow::Owned(g))))
            }
            _ => self.eval(ctx).is_some_and(f),
        }
    }

    /// Fetches the value; `None` outside HTTP mode or when the data is missing.
    pub fn eval<'a>(&'a self, ctx: &StreamCtx<'a>) -> Option<Sample<'a>> {
        let txn: &'a HttpTxn = ctx.http?;
        if txn.req_released && self.reads_request() {
            return None;
        }
        let req = &txn.req;
        use HttpKind as K;
        Some(match &self.kind {
            K::Method => Sample::Str(Cow::Borrowed(req.method.as_str())),
            K::Path => Sample::Str(Cow::Borrowed(uri::path(&req.uri)?)),
            K::Pathq => Sample::Str(Cow::Borrowed(uri::pathq(&req.uri)?)),
            K::Url => Sample::Str(uri::url(&req.uri)),
            K::Query => Sample::Str(Cow::Borrowed(uri::query(&req.uri)?)),
            K::Base => {
                let path = uri::path(&req.uri)?;
                match hdr::values(&req.headers, Some("host")).next() {
                    Some(host) if !host.is_empty() => {
                        let mut s = String::from_utf8_lossy(host).into_owned();
                        s.push_str(path);
                        Sample::Str(Cow::Owned(s))
                    }
                    _ => Sample::Str(Cow::Borrowed(path)),
                }
            }
            K::Hash32 { whole, with_src } => {
                let host = hdr::values(&req.headers, Some("host")).next();
                let h = uri::host_path_hash(host, &req.uri, *whole);
                if !with_src {
                    return Some(Sample::Int(i64::from(h)));
                }
                let mut out = h.to_be_bytes().to_vec();
                match ctx.src.ip() {
                    std::net::IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
                    std::net::IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
                }
                Sample::Bin(Cow::Owned(out))
            }
            K::UrlIp => {
                let host = req.uri.host()?;
                let host = host.trim_start_matches('[').trim_end_matches(']');
                Sample::Ip(host.parse().ok()?)
            }
            K::UrlPort => {
                req.uri.authority()?;
                Sample::Int(i64::from(req.uri.port_u16().unwrap_or(80)))
            }
            K::UrlParam {
                name,
                delim,
                as_int,
            } => {
                let target = uri::url(&req.uri);
                let v = match target {
                    Cow::Borrowed(t) => Cow::Borrowed(uri::url_param(t, name.as_deref(), *delim)?),
                    Cow::Owned(t) => {
                        Cow::Owned(uri::url_param(&t, name.as_deref(), *delim)?.to_owned())
                    }
                };
                if *as_int {
                    Sample::Int(hdr::leading_int(v.as_bytes()))
                } else {
                    Sample::Str(v)
                }
            }
            K::Hdr {
                dir,
                name,
                occ,
                full,
                as_,
            } => {
                let h = headers(txn, *dir)?;
                let v = if *full {
                    hdr::occurrence(hdr::lines(h, name.as_deref()), *occ)?
                } else {
                    hdr::occurrence(hdr::values(h, name.as_deref()), *occ)?
                };
                convert_hdr(v, *as_)?
            }
            K::HdrCnt { dir, name, full } => {
                let h = headers(txn, *dir)?;
                let n = if *full {
                    hdr::lines(h, name.as_deref()).count()
                } else {
                    hdr::values(h, name.as_deref()).count()
                };
                Sample::Int(i64::try_from(n).unwrap_or(i64::MAX))
            }
            K::Hdrs(dir) => {
                let h = headers(txn, *dir)?;
                let mut out = String::new();
                for (n, v) in h {
                    out.push_str(n.as_str());
                    out.push_str(": ");
                    out.push_str(&String::from_utf8_lossy(v.as_bytes()));
                    out.push_str("\r\n");
                }
                out.push_str("\r\n");
                Sample::Str(Cow::Owned(out))
            }
            K::HdrNames { dir, delim } => {
                let h = headers(txn, *dir)?;
                let mut out = String::new();
                for (i, (n, _)) in h.iter().enumerate() {
                    if i > 0 {
                        out.push_str(delim);
                    }
                    out.push_str(n.as_str());
                }
                Sample::Str(Cow::Owned(out))
            }
            K::Cook { dir, name, as_int } => {
                let h = headers(txn, *dir)?;
                let vals = hdr::cookie_values(h, *dir == Dir::Res, name.as_deref());
                // Named: the last occurrence; unnamed: the first cookie (HAProxy).
                let v = if name.is_some() {
                    vals.last()?
                } else {
                    hdr::cookie_values(h, *dir == Dir::Res, None).next()?
                };
                cookie_sample(v, *as_int)
            }
            K::CookCnt { dir, name } => {
                let h = headers(txn, *dir)?;
                let n = hdr::cookie_values(h, *dir == Dir::Res, name.as_deref()).count();
                Sample::Int(i64::try_from(n).unwrap_or(i64::MAX))
            }
            K::Body => Sample::Bin(Cow::Borrowed(txn.req_body.as_deref()?)),
            K::BodyParam(name) => {
                let body = std::str::from_utf8(txn.req_body.as_deref()?).ok()?;
                Sample::Str(Cow::Borrowed(uri::find_param(body, name.as_deref(), b'&')?))
            }
            K::BodyLen => Sample::Int(i64::try_from(txn.req_body.as_ref()?.len()).ok()?),
            K::BodySize => {
                let announced = req
                    .headers
                    .get(http::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<i64>().ok());
                match announced {
                    Some(n) => Sample::Int(n),
                    None => Sample::Int(i64::try_from(txn.req_body.as_ref()?.len()).ok()?),
                }
            }
            K::Ver(dir) => {
                let v = match dir {
                    Dir::Req => req.version,
                    Dir::Res => txn.res.as_ref()?.version,
                };
                Sample::Str(Cow::Borrowed(version_number(v)?))
            }
            K::Status => Sample::Int(i64::from(txn.res.as_ref()?.status.as_u16())),
            K::FirstReq => Sample::Bool(txn.first_req),
            K::Auth(list) => Sample::Bool(authenticated(txn, list).is_some()),
            K::AuthGroup(list) => Sample::Str(Cow::Owned(authenticated(txn, list)?)),
            K::AuthType => {
                let (scheme, _) = auth_header(txn)?;
                let t = match scheme.to_ascii_lowercase().as_str() {
                    "basic" => "Basic",
                    "digest" => "Digest",
                    "bearer" => "Bearer",
                    _ => return None,
                };
                Sample::Str(Cow::Borrowed(t))
            }
            K::AuthUser => Sample::Str(Cow::Owned(basic_credentials(txn)?.0)),
            K::AuthPass => Sample::Str(Cow::Owned(basic_credentials(txn)?.1)),
            K::Capture { dir, slot } => {
                let list = match dir {
                    Dir::Req => &txn.req_captures,
                    Dir::Res => &txn.res_captures,
                };
                Sample::Str(Cow::Borrowed(list.get(*slot)?.as_deref()?))
            }
            K::CaptureMethod => Sample::Str(Cow::Borrowed(req.method.as_str())),
            K::CaptureUri => Sample::Str(Cow::Borrowed(uri::pathq(&req.uri)?)),
            K::CaptureVer(dir) => {
                let v = match dir {
                    Dir::Req => req.version,
                    Dir::Res => txn.res.as_ref()?.version,
                };
                Sample::Str(Cow::Borrowed(version_text(v)?))
            }
        })
    }
}

fn headers(txn: &HttpTxn, dir: Dir) -> Option<&http::HeaderMap> {
    match dir {
        Dir::Req => Some(&txn.req.headers),
        Dir::Res => txn.res.as_ref().map(|r| &r.headers),
    }
}

fn convert_hdr(v: &[u8], as_: HdrAs) -> Option<Sample<'_>> {
    Some(match as_ {
        HdrAs::Str => Sample::Str(String::from_utf8_lossy(v)),
        HdrAs::Int => Sample::Int(hdr::leading_int(v)),
        HdrAs::Ip => Sample::Ip(hdr::header_ip(v)?),
    })
}

fn cookie_sample(v: &[u8], as_int: bool) -> Sample<'_> {
    if as_int {
        Sample::Int(hdr::leading_int(v))
    } else {
        Sample::Str(String::from_utf8_lossy(v))
    }
}

/// `1.0`, `1.1`, `2.0`, `3.0` as `req.ver` prints them.
pub fn version_number(v: http::Version) -> Option<&'static str> {
    Some(match v {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_11 => "1.1",
        http::Version::HTTP_2 => "2.0",
        http::Version::HTTP_3 => "3.0",
        _ => return None,
    })
}

/// `HTTP/1.1` as the request line spells it.
pub fn version_text(v: http::Version) -> Option<&'static str> {
    Some(match v {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_11 => "HTTP/1.1",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => return None,
    })
}

/// The scheme and the credentials of the `Authorization` header.
fn auth_header(txn: &HttpTxn) -> Option<(&str, &str)> {
    let v = txn
        .req
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let v = v.trim();
    let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
    Some((scheme, rest.trim()))
}

/// The user and password of `Authorization: Basic ...`.
pub fn basic_credentials(txn: &HttpTxn) -> Option<(String, String)> {
    let (scheme, b64) = auth_header(txn)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = crate::sample::conv_codec::b64dec(b64.as_bytes())?;
    let text = String::from_utf8(raw).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

/// The user name when the credentials are valid for `list`.
fn authenticated(txn: &HttpTxn, list: &UserlistRef) -> Option<String> {
    let (user, pass) = basic_credentials(txn)?;
    list.check(&user, &pass).then_some(user)
}
