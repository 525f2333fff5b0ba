//! Responses the proxy makes itself: error pages (`errorfile` or HAProxy's built-in ones)
//! and `monitor-uri` answers.

use std::sync::{Arc, OnceLock};

use http::{HeaderValue, Response, StatusCode, header};

use crate::config::http::HttpProxy;
use crate::http::body::ResBody;
use crate::http::errors::{ErrorMessage, HANDLED_CODES, default_message};

/// The page for `status`: the backend's `errorfile`, else the frontend's, else HAProxy's.
pub fn page(fe: &HttpProxy, be: Option<&HttpProxy>, status: u16) -> Arc<ErrorMessage> {
    be.and_then(|b| b.errorfile(status))
        .or_else(|| fe.errorfile(status))
        .cloned()
        .unwrap_or_else(|| builtin(status))
}

/// HAProxy's built-in page for `status`, built once per process.
pub fn builtin(status: u16) -> Arc<ErrorMessage> {
    static PAGES: OnceLock<Vec<Arc<ErrorMessage>>> = OnceLock::new();
    let pages = PAGES.get_or_init(|| {
        HANDLED_CODES
            .iter()
            .map(|&c| Arc::new(default_message(c)))
            .collect()
    });
    match HANDLED_CODES.iter().position(|&c| c == status) {
        Some(i) => Arc::clone(&pages[i]),
        None => Arc::new(default_message(status)),
    }
}

/// The response for a page; `close` adds `Connection: close` (the client connection ends
/// after it).
pub fn message(m: &ErrorMessage, close: bool) -> Response<ResBody> {
    let mut res = Response::new(ResBody::full(m.body.clone()));
    *res.status_mut() = StatusCode::from_u16(m.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = res.headers_mut();
    for (n, v) in &m.headers {
        headers.append(n.clone(), v.clone());
    }
    if close && !headers.contains_key(header::CONNECTION) {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(m.reason.clone()) {
        res.extensions_mut().insert(reason);
    }
    res
}

/// The status the log line reports when it differs from the one sent: an `errorloc`
/// redirection replaces an error, whose status HAProxy logs (response extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoggedStatus(pub u16);

/// Marks `res` with the error `status` it stands for, when a page of another status (an
/// `errorloc` redirection) answered it.
pub fn mark_replaced_status(res: &mut Response<ResBody>, status: u16) {
    if res.status().as_u16() != status {
        res.extensions_mut().insert(LoggedStatus(status));
    }
}
