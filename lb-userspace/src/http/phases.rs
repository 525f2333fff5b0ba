//! Glue between the HTTP runtime and the rule engine ([`crate::http_rules`]): the rule host,
//! request rules with `wait-for-body`, `tarpit`, response and after-response rules, and
//! the responses built from rule replies.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};

use crate::http::HttpTxn;
use crate::http::body::{ReqBody, ResBody};
use crate::http::session::ConnState;
use crate::http::txn::base_ctx;
use crate::http_rules::engine::{Phase, eval_list};
use crate::http_rules::reply::ErrorPage;
use crate::http_rules::{HttpRuleHost, HttpRules, HttpVerdict, Reply};
use crate::log::syslog::Level;
use crate::proxy::inspect::Host;
use crate::rules::{Gpc, RuleHost};
use crate::sample::Sample;

/// Side effects of HTTP rules: stick counters (through the TCP host) and the log level.
pub struct HttpHost<'a> {
    inner: Host<'a>,
    /// `set-log-level`: `Some(None)` is `silent`.
    pub log_level: Option<Option<Level>>,
}

impl<'a> HttpHost<'a> {
    /// A host tracking with `tracking`.
    pub fn new(tracking: Option<&'a crate::stick::Tracking>) -> Self {
        Self {
            inner: Host::new(tracking),
            log_level: None,
        }
    }
}

impl RuleHost for HttpHost<'_> {
    fn track(&mut self, sc: u8, table: &str, key: Sample<'_>) {
        if let Some(t) = self.inner.tracking {
            let _ = t.track_http(usize::from(sc), table, key, crate::clock::now_ms());
        }
    }

    fn inc_gpc(&mut self, sc: u8, gpc: Gpc) {
        self.inner.inc_gpc(sc, gpc);
    }

    fn set_gpt0(&mut self, sc: u8, value: i64) {
        self.inner.set_gpt0(sc, value);
    }

    fn set_src(&mut self, addr: SocketAddr) {
        self.inner.set_src(addr);
    }

    fn set_dst(&mut self, addr: SocketAddr) {
        self.inner.set_dst(addr);
    }

    fn expect_proxy(&mut self) {}

    fn xdp_deny(&mut self, src: std::net::IpAddr, action: &crate::rules::XdpDenyAction) {
        self.inner.xdp_deny(src, action);
    }
}

impl HttpRuleHost for HttpHost<'_> {
    fn set_log_level(&mut self, level: Option<Level>) {
        self.log_level = Some(level);
    }
}

/// What a request rule list decided.
pub enum RequestOutcome {
    /// Go on.
    Continue,
    /// Answer this (after waiting, for `tarpit`).
    Respond(Reply),
    /// Close the connection (`reject`; `silent` for `silent-drop`).
    Close {
        /// Without telling the client.
        silent: bool,
    },
}

/// Runs `http-request` (then `redirect`) rules of one proxy, buffering the body for
/// `wait-for-body`. `be_name` is set for a backend's rules.
pub async fn request_rules(
    state: &Rc<ConnState>,
    rules: &HttpRules,
    txn: &mut HttpTxn,
    body: &mut ReqBody,
    be_name: Option<&str>,
    log_level: &mut Option<Option<Level>>,
    tarpit: Option<Duration>,
) -> RequestOutcome {
    if rules.request.is_empty() && rules.redirects.is_empty() {
        return RequestOutcome::Continue;
    }
    let mut cursor = 0;
    loop {
        let verdict = {
            let mut sctx = base_ctx(state);
            sctx.be_name = be_name;
            let mut host = HttpHost::new(state.tracking.as_ref());
            let v = crate::http_rules::eval_request(rules, txn, &sctx, &mut host, &mut cursor);
            if host.log_level.is_some() {
                *log_level = host.log_level;
            }
            v
        };
        log_request_stop(state, rules, cursor, be_name, &verdict);
        match verdict {
            HttpVerdict::Continue | HttpVerdict::Allow => return RequestOutcome::Continue,
            HttpVerdict::Reply(r) => return RequestOutcome::Respond(*r),
            HttpVerdict::Tarpit(r) => {
                if let Some(t) = tarpit {
                    tokio::time::sleep(t).await;
                }
                return RequestOutcome::Respond(*r);
            }
            HttpVerdict::Reject => return RequestOutcome::Close { silent: false },
            HttpVerdict::SilentDrop => return RequestOutcome::Close { silent: true },
            HttpVerdict::WaitForBody { time, at_least } => {
                let limit = at_least
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or(usize::MAX)
                    .min(state.ctx.shared.bufsize);
                let current = std::mem::replace(body, ReqBody::empty());
                let read =
                    tokio::time::timeout(time, crate::http::buffer::read_body(current, limit))
                        .await;
                match read {
                    Ok(Ok((b, whole))) => {
                        txn.req_body = whole.or_else(|| match &b {
                            ReqBody::Prefixed(Some(head), _) => Some(head.clone()),
                            _ => None,
                        });
                        *body = b;
                    }
                    // Timed out: HAProxy goes on with what it has (here: nothing more).
                    Err(_) => {
                        crate::http::reject::log(
                            proxy_name(state, be_name),
                            &state.client,
                            &"body not received within 'wait-for-body time' (answered 408)",
                        );
                        return RequestOutcome::Respond(Reply::error(
                            408,
                            crate::http_rules::ReplyCause::BadRequest,
                        ));
                    }
                    Ok(Err(())) => return RequestOutcome::Close { silent: false },
                }
            }
        }
    }
}

/// Prints why a request rule list stopped, when it refused the request (`cursor` is past
/// the rule that stopped it, over `http-request` then `redirect` rules).
fn log_request_stop(
    state: &ConnState,
    rules: &HttpRules,
    cursor: usize,
    be_name: Option<&str>,
    verdict: &HttpVerdict,
) {
    let Some(i) = cursor.checked_sub(1) else {
        return;
    };
    let rule = rules
        .request
        .get(i)
        .or_else(|| rules.redirects.get(i - rules.request.len()));
    // A closing verdict closes the connection in request rules.
    log_stop(state, be_name, "http-request", rule, verdict, None, false);
}

/// Prints the reason line of a refusal: `rule` ended the `directive` list with `verdict`;
/// `closed` is what a closing verdict (`reject`, `silent-drop`) answers (`None`: the
/// connection is closed).
fn log_stop(
    state: &ConnState,
    be_name: Option<&str>,
    directive: &str,
    rule: Option<&crate::http_rules::HttpRule>,
    verdict: &HttpVerdict,
    closed: Option<u16>,
    response: bool,
) {
    let (cause, status) = match verdict {
        HttpVerdict::Reply(r) | HttpVerdict::Tarpit(r) => (Some(r.cause), Some(r.status.as_u16())),
        HttpVerdict::Reject | HttpVerdict::SilentDrop => (None, closed),
        _ => return,
    };
    let Some(reason) =
        rule.and_then(|r| crate::http::reject::rule_reason(directive, r, cause, status))
    else {
        return;
    };
    let proxy = proxy_name(state, be_name);
    if response {
        crate::http::reject::log_response(proxy, &state.client, &reason);
    } else {
        crate::http::reject::log(proxy, &state.client, &reason);
    }
}

/// The proxy a reason line names: the backend once one is chosen, else the frontend.
fn proxy_name<'a>(state: &'a ConnState, be_name: Option<&'a str>) -> &'a str {
    be_name.unwrap_or(&state.ctx.shared.frontends[state.frontend].cfg.name)
}

/// Runs response rules (`response = true`: `http-response`; else `http-after-response`)
/// of the backend then the frontend on `txn.res`. A reply replaces the response.
pub fn response_rules(
    state: &Rc<ConnState>,
    lists: [Option<&HttpRules>; 2],
    txn: &mut HttpTxn,
    be_name: Option<&str>,
    response: bool,
    log_level: &mut Option<Option<Level>>,
) -> Option<HttpVerdict> {
    for rules in lists.into_iter().flatten() {
        let empty = if response {
            rules.response.is_empty()
        } else {
            rules.after_response.is_empty()
        };
        if empty {
            continue;
        }
        let mut sctx = base_ctx(state);
        sctx.be_name = be_name;
        let mut host = HttpHost::new(state.tracking.as_ref());
        let (phase, list, directive) = if response {
            (Phase::Response, &rules.response, "http-response")
        } else {
            (
                Phase::AfterResponse,
                &rules.after_response,
                "http-after-response",
            )
        };
        let mut cursor = 0;
        let v = eval_list(
            phase,
            list,
            rules.strict,
            txn,
            &sctx,
            &mut host,
            &mut cursor,
        );
        if host.log_level.is_some() {
            *log_level = host.log_level;
        }
        match v {
            HttpVerdict::Continue | HttpVerdict::Allow => {}
            other => {
                let rule = cursor.checked_sub(1).and_then(|i| list.get(i));
                // A closing verdict answers 502 in response rules.
                log_stop(state, be_name, directive, rule, &other, Some(502), true);
                return Some(other);
            }
        }
    }
    None
}

/// The response for a rule's reply, with the proxy's error pages resolved (`be_idx` is
/// the backend, if chosen: its `errorfile` wins).
pub fn reply_response(state: &ConnState, be_idx: Option<usize>, reply: Reply) -> Response<ResBody> {
    let shared = &state.ctx.shared;
    let fe = &shared.frontends[state.frontend].cfg.http;
    let be = be_idx.map(|b| &shared.backends.list[b].cfg.http);
    let status = reply.status.as_u16();
    let mut res = match &reply.error_page {
        ErrorPage::Proxy => {
            crate::http::reply::message(&crate::http::reply::page(fe, be, status), false)
        }
        ErrorPage::Section(name) => {
            let page = be
                .into_iter()
                .chain(std::iter::once(fe))
                .find_map(|h| h.section_page(name, status))
                .unwrap_or_else(|| crate::http::reply::builtin(status));
            crate::http::reply::message(&page, false)
        }
        ErrorPage::None => {
            let mut res = Response::new(ResBody::full(reply.body.clone()));
            *res.status_mut() = reply.status;
            if let Some(reason) = &reply.reason
                && let Ok(r) = hyper::ext::ReasonPhrase::try_from(Bytes::from(reason.clone()))
            {
                res.extensions_mut().insert(r);
            }
            res
        }
    };
    // An `errorloc` page is a redirection that replaces the error, status included.
    let errorloc = reply.error_page != ErrorPage::None
        && matches!(res.status().as_u16(), 302 | 303)
        && res.headers().contains_key(http::header::LOCATION);
    if errorloc {
        crate::http::reply::mark_replaced_status(&mut res, status);
    } else {
        *res.status_mut() =
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let headers = res.headers_mut();
    for (n, v) in reply.headers {
        headers.append(n, v);
    }
    if state.h2.get() {
        headers.remove(http::header::CONNECTION);
    } else if matches!(status, 400 | 408) && !headers.contains_key(http::header::CONNECTION) {
        headers.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}
