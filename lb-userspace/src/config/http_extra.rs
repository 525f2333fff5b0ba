//! Smaller HTTP proxy keywords: `errorloc`/`errorloc302`/`errorloc303` (redirections that
//! replace error pages) and `http-send-name-header`.

use std::sync::Arc;

use super::draft::ProxyDraft;
use super::error::{ConfigError, ErrorKind};
use super::line::Line;
use super::proxy::{Cap, require};
use crate::http::errors::{ErrorMessage, HANDLED_CODES};

/// `errorloc[302|303] CODE URL`: the error `CODE` becomes a redirection to `URL` (302
/// for `errorloc` and `errorloc302`, 303 for `errorloc303`), HAProxy's message:
/// `Cache-Control: no-cache`, `Location: URL`, no body.
pub(crate) fn errorloc(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    let kw = line.kw();
    let consistency = |m: String| line.err(ErrorKind::Consistency(m));
    let (Some(code), Some(url)) = (line.arg(1), line.arg(2)) else {
        return Err(consistency(format!(
            "{kw} : expects <status_code> and <url> as arguments."
        )));
    };
    line.max_args(2, kw)?;
    let status = code
        .parse::<u16>()
        .ok()
        .filter(|c| HANDLED_CODES.contains(c))
        .ok_or_else(|| consistency(format!("{kw} : status code '{code}' not handled.")))?;
    let location = http::HeaderValue::from_str(url)
        .map_err(|_| consistency(format!("{kw} : invalid URL '{url}'.")))?;
    let (redirect, reason) = if kw == "errorloc303" {
        (303, "See Other")
    } else {
        (302, "Found")
    };
    let message = ErrorMessage {
        status: redirect,
        reason: bytes::Bytes::from_static(reason.as_bytes()),
        headers: vec![
            (
                http::header::CACHE_CONTROL,
                http::HeaderValue::from_static("no-cache"),
            ),
            (http::header::LOCATION, location),
        ],
        body: bytes::Bytes::new(),
    };
    px.http.errorfiles.push((status, Arc::new(message)));
    Ok(())
}

/// `http-send-name-header NAME`: the request to a server carries the server's name in
/// header `NAME` (replacing any such header; updated when the request is redispatched).
pub(crate) fn send_name_header(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    require(px, line, "http-send-name-header", Cap::Backend)?;
    let Some(name) = line.arg(1) else {
        return Err(line.err(ErrorKind::Consistency(
            "'http-send-name-header' requires a header string.".into(),
        )));
    };
    line.max_args(1, "http-send-name-header")?;
    let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        line.err(ErrorKind::Consistency(format!(
            "'http-send-name-header' : invalid header name '{name}'."
        )))
    })?;
    px.http.send_name_header = Some(name);
    Ok(())
}
