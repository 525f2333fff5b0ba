//! `redirect location|prefix|scheme ...` (the `redirect` keyword and the
//! `http-request redirect` / `http-response redirect` actions).

use bytes::Bytes;
use http::{HeaderValue, StatusCode};

use super::reply::{ErrorPage, Reply, ReplyCause};
use crate::http::HttpTxn;
use crate::logformat::{AliasSource, LogFormat};
use crate::sample::StreamCtx;
use crate::sample::fetch_http::{hdr, uri};

/// What the `Location` is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectKind {
    /// `location FMT`: the exact value.
    Location,
    /// `prefix FMT`: the value then the request's path (and query).
    Prefix,
    /// `scheme FMT`: `FMT://` then the `Host` header, the path (and query).
    Scheme,
}

/// A parsed redirect.
#[derive(Debug, Clone)]
pub struct Redirect {
    /// Location, prefix or scheme.
    pub kind: RedirectKind,
    /// The location, prefix or scheme (a log-format string).
    pub value: LogFormat,
    /// `code` (301, 302 (default), 303, 307 or 308).
    pub code: u16,
    /// `drop-query`.
    pub drop_query: bool,
    /// `append-slash`.
    pub append_slash: bool,
    /// `set-cookie NAME[=VALUE]` / `clear-cookie NAME[=]`: the `Set-Cookie` value.
    pub cookie: Option<String>,
}

/// Redirect codes HAProxy accepts.
pub const CODES: &[u16] = &[301, 302, 303, 307, 308];

impl Redirect {
    /// The `Set-Cookie` value for `set-cookie NAME[=VALUE]` (`clear`: `clear-cookie`).
    pub fn cookie_header(arg: &str, clear: bool) -> String {
        if clear {
            format!("{arg}; path=/; Max-Age=0;")
        } else {
            format!("{arg}; path=/;")
        }
    }

    /// The `Location` value for this transaction; `None` when the rule does not apply
    /// (an empty location, or no path to prefix).
    pub fn location(
        &self,
        txn: &HttpTxn,
        ctx: &StreamCtx<'_>,
        aliases: &dyn AliasSource,
    ) -> Option<String> {
        let value = self.value.render(ctx, aliases);
        match self.kind {
            RedirectKind::Location => (!value.is_empty()).then_some(value),
            RedirectKind::Prefix => {
                let mut out = value;
                // A prefix of "/" means "just the path": no double slash.
                if out == "/" {
                    out.clear();
                }
                self.push_path(&mut out, txn)?;
                Some(out)
            }
            RedirectKind::Scheme => {
                let mut out = value;
                out.push_str("://");
                if let Some(host) = hdr::values(&txn.req.headers, Some("host")).next() {
                    out.push_str(&String::from_utf8_lossy(host));
                }
                self.push_path(&mut out, txn)?;
                Some(out)
            }
        }
    }

    fn push_path(&self, out: &mut String, txn: &HttpTxn) -> Option<()> {
        let path = uri::path(&txn.req.uri)?;
        out.push_str(path);
        if self.append_slash && !path.ends_with('/') {
            out.push('/');
        }
        if !self.drop_query
            && let Some(q) = uri::query(&txn.req.uri)
        {
            out.push('?');
            out.push_str(q);
        }
        Some(())
    }

    /// The reply for this transaction, or `None` when the rule does not apply.
    pub fn reply(
        &self,
        txn: &HttpTxn,
        ctx: &StreamCtx<'_>,
        aliases: &dyn AliasSource,
    ) -> Option<Reply> {
        let location = HeaderValue::from_str(&self.location(txn, ctx, aliases)?).ok()?;
        let mut headers = vec![(http::header::LOCATION, location)];
        if matches!(self.code, 302 | 303 | 307) {
            headers.push((
                http::header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache"),
            ));
        }
        if let Some(c) = self
            .cookie
            .as_deref()
            .and_then(|c| HeaderValue::from_str(c).ok())
        {
            headers.push((http::header::SET_COOKIE, c));
        }
        Some(Reply {
            status: StatusCode::from_u16(self.code).unwrap_or(StatusCode::FOUND),
            reason: None,
            headers,
            body: Bytes::new(),
            error_page: ErrorPage::None,
            cause: ReplyCause::Redirect,
        })
    }
}
