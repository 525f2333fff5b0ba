//! The arguments of `deny`, `tarpit` and `return`: status, content type, payload and
//! extra headers, checked as HAProxy's `http_parse_http_reply` does.

use bytes::Bytes;

use super::super::error::ConfigError;
use super::super::line::Line;
use super::action::{List, log_format};
use crate::http_rules::reply::{BodySpec, ERROR_CODES, ReplySpec, parse_raw_response};

/// Parses the reply arguments from word 2 (`next` is left on the first word after).
pub(super) fn parse_reply(
    list: List,
    line: &Line,
    kw: &str,
    family: &str,
    next: &mut usize,
) -> Result<ReplySpec, ConfigError> {
    let default_status = match (family, list) {
        ("return", _) => 200,
        ("tarpit", _) => 500,
        (_, List::Request) => 403,
        _ => 502,
    };
    let mut status: Option<u16> = None;
    let mut content_type: Option<String> = None;
    let mut body: Option<BodySpec> = None;
    let mut headers = Vec::new();
    let mut i = 2;
    let errorfile_based = |b: &Option<BodySpec>| {
        matches!(
            b,
            None | Some(BodySpec::DefaultErrorfile | BodySpec::Errorfiles(_) | BodySpec::Raw(_))
        )
    };
    while let Some(w) = line.arg(i) {
        let arg = |what: &str| line.required(i + 1, &format!("{kw} {w}"), what);
        match w {
            "if" | "unless" => break,
            "status" | "deny_status" => {
                if w == "deny_status" && family == "return" {
                    return Err(line.invalid(kw, "'deny_status' is not allowed here, use 'status'"));
                }
                let code = arg("a status code")?;
                let n = line.u32_in(&format!("{kw} {w}"), code, 200, 599)?;
                status = Some(u16::try_from(n).unwrap_or(500));
                i += 2;
            }
            "content-type" => {
                content_type = Some(arg("a content type")?.to_owned());
                i += 2;
            }
            "default-errorfiles" => {
                set_body(line, kw, &mut body, BodySpec::DefaultErrorfile)?;
                i += 1;
            }
            "errorfiles" => {
                let name = arg("an http-errors section name")?.to_owned();
                set_body(line, kw, &mut body, BodySpec::Errorfiles(name))?;
                i += 2;
            }
            "errorfile" | "file" | "lf-file" => {
                let path = arg("a file name")?;
                let data = std::fs::read(path)
                    .map_err(|e| line.invalid(kw, format!("failed to open file '{path}' : {e}")))?;
                let spec = match w {
                    "errorfile" => {
                        BodySpec::Raw(Box::new(parse_raw_response(&data).map_err(|e| {
                            line.invalid(
                                kw,
                                format!("unable to parse error message from file '{path}' : {e}"),
                            )
                        })?))
                    }
                    "file" => BodySpec::Fixed(Bytes::from(data)),
                    _ => BodySpec::Format(log_format(line, kw, &String::from_utf8_lossy(&data))?),
                };
                set_body(line, kw, &mut body, spec)?;
                i += 2;
            }
            "string" | "lf-string" => {
                let text = arg("a string")?;
                let spec = if w == "string" {
                    BodySpec::Fixed(Bytes::copy_from_slice(text.as_bytes()))
                } else {
                    BodySpec::Format(log_format(line, kw, text)?)
                };
                set_body(line, kw, &mut body, spec)?;
                i += 2;
            }
            "hdr" => {
                let name = arg("a header name and a value")?;
                let name = http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| line.bad_value(kw, name, "invalid header name"))?;
                if matches!(
                    name.as_str(),
                    "content-length" | "transfer-encoding" | "content-type"
                ) {
                    return Err(line.invalid(
                        kw,
                        format!("'{name}' header is not allowed with 'hdr' (it is set by the reply itself)"),
                    ));
                }
                let value = line.required(i + 2, &format!("{kw} hdr"), "a header value")?;
                headers.push((name, log_format(line, kw, value)?));
                i += 3;
            }
            other => {
                let reason = format!(
                    "expects 'status', 'content-type', 'default-errorfiles', 'errorfile', 'errorfiles', \
                     'file', 'lf-file', 'string', 'lf-string', 'hdr' or a condition (got '{other}')"
                );
                return Err(line.invalid(kw, reason));
            }
        }
    }
    *next = i;
    let status = status.unwrap_or(default_status);
    // deny/tarpit without payload use the proxy's error page; return sends an empty one.
    let body = body.unwrap_or(if family == "return" {
        BodySpec::Empty
    } else {
        BodySpec::DefaultErrorfile
    });
    let uses_errorfile = errorfile_based(&Some(body.clone())) && !matches!(body, BodySpec::Raw(_));
    if uses_errorfile && !ERROR_CODES.contains(&status) {
        let reason = format!("status code '{status}' not handled by the error pages");
        return Err(line.invalid(kw, reason));
    }
    let payload =
        matches!(&body, BodySpec::Fixed(b) if !b.is_empty()) || matches!(body, BodySpec::Format(_));
    if payload && content_type.is_none() {
        return Err(line.invalid(
            kw,
            "a content type must be defined when non-empty payload is configured",
        ));
    }
    if payload && matches!(status, 204 | 304) {
        return Err(line.invalid(
            kw,
            format!("HTTP status code {status} cannot have a payload"),
        ));
    }
    if uses_errorfile || matches!(body, BodySpec::Raw(_)) {
        // HAProxy ignores `content-type` and `hdr` on errorfile-based replies.
        content_type = None;
        headers.clear();
    }
    Ok(ReplySpec {
        status,
        content_type,
        body,
        headers,
    })
}

fn set_body(
    line: &Line,
    kw: &str,
    slot: &mut Option<BodySpec>,
    spec: BodySpec,
) -> Result<(), ConfigError> {
    if slot.is_some() {
        return Err(line.invalid(
            kw,
            "only one payload (errorfile, file, string...) may be given",
        ));
    }
    *slot = Some(spec);
    Ok(())
}
