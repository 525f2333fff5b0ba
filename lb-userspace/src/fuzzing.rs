//! Entry points shared by the cargo-fuzz targets (`fuzz/`) and the test that replays their
//! seed corpus, so both exercise exactly the same code.

use std::sync::Arc;

use crate::acl::{AclSet, Condition};
use crate::backend::state::Backends;
use crate::logformat::{LogFormat, NoAliases, ParseOptions};
use crate::sample::vars::{ProcVars, Vars};
use crate::sample::{SampleExpr, StreamCtx};

/// Splits a fuzz input into text (before the first NUL byte) and payload (after it).
fn split_input(data: &[u8]) -> (String, &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(nul) => (
            String::from_utf8_lossy(&data[..nul]).into_owned(),
            &data[nul + 1..],
        ),
        None => (String::from_utf8_lossy(data).into_owned(), &[]),
    }
}

/// Runs the first-bytes readers (TLS ClientHello, SSL version, HTTP request, RDP cookie)
/// on `data`, whole and truncated in the middle.
pub fn client_hello(data: &[u8]) {
    use crate::sample::{http_detect, rdp, tls_hello};
    for part in [data, &data[..data.len() / 2]] {
        let _ = tls_hello::parse_client_hello(part);
        let _ = tls_hello::ssl_version(part);
        let _ = tls_hello::hello_type(part);
        let _ = http_detect::probe_request(part);
        let _ = rdp::rdp_cookie(part, None);
        let _ = rdp::rdp_cookie(part, Some("mstshash"));
    }
}

/// Parses the text before the first NUL byte of `data` as a sample expression, a
/// condition (after `if`), an ACL line and a log-format string, and evaluates whatever
/// parses on a stream whose payload is the bytes after the NUL, both while data may
/// still come and as final.
pub fn sample_expr(data: &[u8]) {
    let (text, payload) = split_input(data);
    let backends = Backends::default();
    let vars = Vars::new(Arc::new(ProcVars::default()));
    let mut ctx = StreamCtx::new(
        std::net::SocketAddr::from(([192, 0, 2, 1], 40000)),
        std::net::SocketAddr::from(([10, 0, 0, 1], 443)),
        "fe",
    );
    ctx.payload = payload;
    ctx.backends = Some(&backends);
    ctx.vars = Some(&vars);
    let done = ctx.finalized();

    if let Ok(expr) = SampleExpr::parse(&text) {
        let _ = expr.eval_partial(&ctx);
        let _ = expr.eval(&done);
    }
    let words: Vec<String> = std::iter::once("if".to_owned())
        .chain(text.split_whitespace().map(str::to_owned))
        .collect();
    let mut acls = AclSet::default();
    let _ = acls.add(&words[1..]);
    if let Ok(cond) = Condition::parse(&words, &acls) {
        let _ = cond.eval_partial(&ctx);
        let _ = cond.eval(&ctx);
    }
    for opts in [ParseOptions::default(), ParseOptions::log_format(true)] {
        if let Ok(lf) = LogFormat::parse(&text, opts) {
            let _ = lf.render(&ctx, &NoAliases);
        }
    }
}

/// Parses `data` as the start of a connection carrying a PROXY protocol header and checks
/// the parser's promises: a header's bytes alone give the same header, one byte less is
/// "need more", and re-encoding a parsed header parses back to the same header.
pub fn proxy_protocol(data: &[u8]) {
    use crate::proxy_protocol::{Parse, parse};
    let Parse::Done { header, consumed } = parse(data) else {
        return;
    };
    assert!(consumed > 0 && consumed <= data.len());
    assert_eq!(
        parse(&data[..consumed]),
        Parse::Done {
            header: header.clone(),
            consumed
        },
        "the bytes after a header do not change it"
    );
    assert_eq!(parse(&data[..consumed - 1]), Parse::NeedMore);
    let bytes = match header.encode() {
        Ok(bytes) => bytes,
        Err(e) => panic!("{header:?} parsed but does not encode: {e}"),
    };
    assert_eq!(
        parse(&bytes),
        Parse::Done {
            header: header.clone(),
            consumed: bytes.len()
        },
        "{header:?} re-encoded as {bytes:02x?}"
    );
}
