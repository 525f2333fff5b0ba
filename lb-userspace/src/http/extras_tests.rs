use std::io::Read;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::config::httplog::HTTPLOG_FORMAT;
use crate::logformat::{LogFormat, ParseOptions};

const CFG: &str = "
defaults
    mode http
frontend fe
    bind 127.0.0.1:1
    option httplog
    capture cookie SID len 20
    unique-id-format %{+X}o\\ %ci:%cp_%Ts_%rt
    unique-id-header X-ID
    default_backend be
backend be
    cookie SRV insert indirect
    compression algo gzip
    compression type text/
    server s1 127.0.0.1:2 cookie one
    server s2 127.0.0.1:3 cookie two
";

#[test]
fn a_transaction_through_every_phase() {
    let cfg = crate::config::parse_str(CFG, Path::new("t.cfg")).unwrap();
    let fe = &cfg.frontends[0];
    let be = BackendState::new(cfg.backends[0].clone());
    let (mut req, ()) = http::Request::builder()
        .uri("/a?b")
        .header("cookie", "SID=abc; SRV=two")
        .header("accept-encoding", "gzip")
        .body(())
        .unwrap()
        .into_parts();
    let mut ctx = StreamCtx::new(
        "127.0.0.1:4660".parse().unwrap(),
        "127.0.0.1:1".parse().unwrap(),
        "fe",
    );
    ctx.be_name = Some("be");
    let accept = UNIX_EPOCH + Duration::from_secs(1_795_500_669);
    let mut facts = HttpLogFacts::new(accept);
    facts.request_counter = 7;
    let mut x = Extras::default();
    x.on_request_head(fe, &mut req, &ctx, &facts);
    assert_eq!(x.unique_id.as_deref(), Some("7F000001:1234_6B052A7D_0007"));
    assert_eq!(req.headers["x-id"], "7F000001:1234_6B052A7D_0007");
    assert_eq!(x.req_cookie.as_deref(), Some("SID=abc"));
    // The cookie names s2 and disappears from the request.
    assert_eq!(x.on_backend(fe, &be, &mut req, &ctx), Some(1));
    assert_eq!(req.headers["cookie"], "SID=abc");
    assert_eq!(x.comp, Some(CompAlgo::Gzip));
    // The response: compressible, valid cookie so nothing inserted.
    let (mut res, ()) = http::Response::builder()
        .header("content-type", "text/html")
        .header("content-length", "5")
        .header("set-cookie", "SID=new")
        .body(())
        .unwrap()
        .into_parts();
    let algo = x.on_response_head(fe, &be, Some(&be.servers[1].cfg), &mut res);
    assert_eq!(algo, Some(CompAlgo::Gzip));
    assert_eq!(res.headers["content-encoding"], "gzip");
    assert_eq!(x.res_cookie.as_deref(), Some("SID=new"));
    // The body is compressed by the encoder the runtime creates.
    let mut enc = compress::Encoder::new(CompAlgo::Gzip, 1).unwrap();
    let mut out = bytes::BytesMut::new();
    enc.push(b"hello", &mut out).unwrap();
    enc.finish(&mut out).unwrap();
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&out[..])
        .read_to_string(&mut plain)
        .unwrap();
    assert_eq!(plain, "hello");
    // The log line.
    facts.status = Some(200);
    facts.treq_ms = 0;
    facts.tw_ms = 0;
    facts.tc_ms = 0;
    facts.tr_ms = 1;
    facts.ta_ms = 2;
    facts.tt_ms = 2;
    facts.bytes_out = 100;
    x.fill_facts(&mut facts, Some(&be));
    ctx.srv_name = Some("s2");
    let line = LogFormat::parse(HTTPLOG_FORMAT, ParseOptions::log_format(true))
        .unwrap()
        .render(&ctx, &facts);
    assert_eq!(
        line,
        "127.0.0.1:4660 [24/Nov/2026:06:11:09.000] fe be/s2 0/0/0/1/2 200 100 SID=abc SID=new \
         --VN 0/0/0/0/0 0/0 \"GET /a?b HTTP/1.1\""
    );
}

#[test]
fn ignore_persist_without_a_cookie_and_no_compression_without_algos() {
    let cfg = crate::config::parse_str(
        "backend be\n    mode http\n    server s1 127.0.0.1:2\nfrontend fe\n    mode http\n    bind 127.0.0.1:1\n    default_backend be\n",
        Path::new("t.cfg"),
    )
    .unwrap();
    let fe = &cfg.frontends[0];
    let be = BackendState::new(cfg.backends[0].clone());
    let (mut req, ()) = http::Request::builder()
        .header("accept-encoding", "gzip")
        .body(())
        .unwrap()
        .into_parts();
    let ctx = StreamCtx::new(
        "127.0.0.1:4660".parse().unwrap(),
        "127.0.0.1:1".parse().unwrap(),
        "fe",
    );
    let mut x = Extras::default();
    x.on_request_head(fe, &mut req, &ctx, &HttpLogFacts::new(UNIX_EPOCH));
    assert_eq!(x.request_line, None, "no log format: nothing kept");
    assert_eq!(x.on_backend(fe, &be, &mut req, &ctx), None);
    assert_eq!(x.comp, None);
    let (mut res, ()) = http::Response::builder().body(()).unwrap().into_parts();
    assert_eq!(x.on_response_head(fe, &be, None, &mut res), None);
    let mut facts = HttpLogFacts::new(UNIX_EPOCH);
    x.fill_facts(&mut facts, Some(&be));
    assert_eq!(facts.cookie_chars, ['-', '-']);
}

#[test]
fn a_redispatched_request_gets_the_new_servers_cookie() {
    let cfg = crate::config::parse_str(CFG, Path::new("t.cfg")).unwrap();
    let fe = &cfg.frontends[0];
    let be = BackendState::new(cfg.backends[0].clone());
    let (mut req, ()) = http::Request::builder()
        .header("cookie", "SRV=two")
        .body(())
        .unwrap()
        .into_parts();
    let ctx = StreamCtx::new(
        "127.0.0.1:4660".parse().unwrap(),
        "127.0.0.1:1".parse().unwrap(),
        "fe",
    );
    let mut x = Extras::default();
    x.on_request_head(fe, &mut req, &ctx, &HttpLogFacts::new(UNIX_EPOCH));
    assert_eq!(x.on_backend(fe, &be, &mut req, &ctx), Some(1));
    // s2 failed, s1 answered.
    let (mut res, ()) = http::Response::builder().body(()).unwrap().into_parts();
    x.on_response_head(fe, &be, Some(&be.servers[0].cfg), &mut res);
    assert_eq!(res.headers["set-cookie"], "SRV=one; path=/");
    assert_eq!(x.cookie.set_status, cookie::SetCookieStatus::Inserted);
}
