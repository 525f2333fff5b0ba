//! Payload fetches: values, "may change" flags and argument checks.

use super::*;
use crate::sample::SampleExpr;

const TLS13_SNI: &[u8] = include_bytes!("../testdata/openssl_tls13_sni.bin");

fn ctx(payload: &[u8], fin: bool) -> StreamCtx<'_> {
    let mut c = StreamCtx::new(
        "10.0.0.1:1234".parse().unwrap(),
        "10.0.0.2:443".parse().unwrap(),
        "fe",
    );
    c.payload = payload;
    c.payload_final = fin;
    c
}

fn run(expr: &str, payload: &[u8], fin: bool) -> (Option<Sample<'static>>, bool) {
    let e = SampleExpr::parse(expr).unwrap();
    let c = ctx(payload, fin);
    let f = e.eval_partial(&c);
    (f.sample.map(Sample::into_owned), f.may_change)
}

fn bin(b: &[u8]) -> Option<Sample<'static>> {
    Some(Sample::Bin(Cow::Owned(b.to_vec())))
}

#[test]
fn req_len_always_may_change_until_final() {
    assert_eq!(run("req.len", b"", false), (Some(Sample::Int(0)), true));
    assert_eq!(run("req_len", b"abc", false), (Some(Sample::Int(3)), true));
    assert_eq!(run("req.len", b"abc", true), (Some(Sample::Int(3)), false));
}

#[test]
fn payload_blocks() {
    let data = b"0123456789";
    assert_eq!(run("req.payload(2,3)", data, false), (bin(b"234"), false));
    assert_eq!(run("payload(0,10)", data, false), (bin(data), false));
    // Too short: no value yet, may change.
    assert_eq!(run("req.payload(8,3)", data, false), (None, true));
    // Length 0: the rest, which may still grow.
    assert_eq!(run("req.payload(7,0)", data, false), (bin(b"789"), true));
    assert_eq!(run("req.payload(7,0)", data, true), (bin(b"789"), false));
    assert_eq!(run("req.payload(10,0)", data, false), (bin(b""), true));
    assert_eq!(run("req.payload(11,0)", data, false), (None, true));
    // Beyond the buffer size: never.
    assert_eq!(run("req.payload(16380,10)", data, false), (None, false));
    assert_eq!(run("req.payload(0,16385)", data, false), (None, false));
    // Converters keep the flag.
    assert_eq!(
        run("req.payload(0,2),hex", data, false),
        (Some(Sample::Str("3031".into())), false)
    );
    assert_eq!(run("req.payload(0,20),hex", data, false), (None, true));
}

#[test]
fn payload_lv_blocks() {
    // A 2-byte length (3) at offset 1, then the block.
    let data = b"X\x00\x03abcdef";
    assert_eq!(
        run("req.payload_lv(1,2)", data, false),
        (bin(b"abc"), false)
    );
    assert_eq!(
        run("req.payload_lv(1,2,+1)", data, false),
        (bin(b"bcd"), false)
    );
    assert_eq!(
        run("req.payload_lv(1,2,-3)", data, false),
        (bin(b"X\x00\x03"), false)
    );
    assert_eq!(
        run("req.payload_lv(1,2,6)", data, false),
        (bin(b"def"), false)
    );
    assert_eq!(run("req.payload_lv(1,2,7)", data, false), (None, true));
    assert_eq!(run("req.payload_lv(1,2)", b"X\x00", false), (None, true));
    assert_eq!(
        run("req.payload_lv(1,2)", b"X\x00\x00abc", false),
        (None, false)
    );
    assert_eq!(
        run("req.payload_lv(1,2)", b"X\xff\xffabc", false),
        (None, false)
    );
    assert_eq!(run("req.payload_lv(1,2,-9)", data, false), (None, false));
    assert_eq!(
        run("payload_lv(0,1)", b"\x02hi!", false),
        (bin(b"hi"), false)
    );
}

#[test]
fn tls_fetches() {
    let sni = Some(Sample::Str("www.example.com".into()));
    assert_eq!(run("req.ssl_sni", TLS13_SNI, false), (sni.clone(), false));
    assert_eq!(run("req_ssl_sni", TLS13_SNI, false), (sni, false));
    assert_eq!(
        run("req.ssl_sni,lower,upper", TLS13_SNI, false),
        (Some(Sample::Str("WWW.EXAMPLE.COM".into())), false)
    );
    assert_eq!(run("req.ssl_sni", &TLS13_SNI[..50], false), (None, true));
    assert_eq!(
        run("req.ssl_sni", b"GET / HTTP/1.1\r\n", false),
        (None, false)
    );
    assert_eq!(run("req.ssl_sni", b"", false), (None, true));
    assert_eq!(
        run("req.ssl_ver", TLS13_SNI, false),
        (Some(Sample::Int(0x0003_0003)), false)
    );
    assert_eq!(run("req_ssl_ver", &TLS13_SNI[..20], false), (None, true));
    assert_eq!(
        run("req.ssl_hello_type", TLS13_SNI, false),
        (Some(Sample::Int(1)), false)
    );
    // A name with bytes that are not UTF-8 is still a string.
    let mut odd = TLS13_SNI.to_vec();
    let pos = odd.windows(3).position(|w| w == b"www").unwrap();
    odd[pos] = 0xff;
    assert!(
        matches!(run("req.ssl_sni", &odd, false), (Some(Sample::Str(s)), false) if s.ends_with("ww.example.com"))
    );
}

#[test]
fn http_detection() {
    let req = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_eq!(
        run("req.proto_http", req, false),
        (Some(Sample::Bool(true)), false)
    );
    assert_eq!(run("req_proto_http", &req[..10], false), (None, true));
    assert_eq!(
        run("req.proto_http", b"SSH-2.0-x\r\n", false),
        (None, false)
    );
}

#[test]
fn rdp_cookie_fetches() {
    let mut req = vec![3, 0, 0, 0, 0, 0xe0, 0, 0, 0, 0, 0];
    req.extend_from_slice(b"Cookie: mstshash=bob\r\n");
    assert_eq!(
        run("req.rdp_cookie", &req, false),
        (Some(Sample::Str("bob".into())), false)
    );
    assert_eq!(
        run("rdp_cookie(mstshash)", &req, false),
        (Some(Sample::Str("bob".into())), false)
    );
    assert_eq!(run("req.rdp_cookie(other)", &req, false), (None, false));
    assert_eq!(
        run("req.rdp_cookie_cnt", &req, false),
        (Some(Sample::Int(1)), false)
    );
    assert_eq!(
        run("req.rdp_cookie_cnt(other)", &req, false),
        (Some(Sample::Int(0)), false)
    );
    assert_eq!(run("rdp_cookie_cnt", &req[..15], false), (None, true));
}

#[test]
fn wait_end() {
    assert_eq!(run("wait_end", b"x", false), (None, true));
    assert_eq!(
        run("wait_end", b"x", true),
        (Some(Sample::Bool(true)), false)
    );
}

#[test]
fn argument_checks() {
    for bad in [
        "req.len(1)",
        "req.ssl_sni(x)",
        "req.payload(1)",
        "req.payload(-1,2)",
        "req.payload(a,2)",
        "req.payload(1,2,3)",
        "req.payload_lv(1)",
        "req.payload_lv(1,0)",
        "req.payload_lv(1,2,x)",
        "req.payload_lv(1,2,+x)",
        "req.rdp_cookie(a,b)",
        "wait_end(1)",
    ] {
        let err = SampleExpr::parse(bad).unwrap_err();
        assert!(matches!(err, SampleError::BadArgs { .. }), "{bad}: {err}");
    }
    let ty = |e: &str| SampleExpr::parse(e).unwrap().out_type();
    assert_eq!(ty("req.len"), SampleType::Int);
    assert_eq!(ty("req.payload(0,1)"), SampleType::Bin);
    assert_eq!(ty("req.payload_lv(0,1)"), SampleType::Bin);
    assert_eq!(ty("req.ssl_sni"), SampleType::Str);
    assert_eq!(ty("req.ssl_ver"), SampleType::Int);
    assert_eq!(ty("req.proto_http"), SampleType::Bool);
    assert_eq!(ty("req.rdp_cookie"), SampleType::Str);
    assert_eq!(ty("req.rdp_cookie_cnt"), SampleType::Int);
    assert_eq!(ty("wait_end"), SampleType::Bool);
    // Plain eval drops the flag.
    let e = SampleExpr::parse("req.payload(0,1)").unwrap();
    assert_eq!(e.eval(&ctx(b"ab", false)), bin(b"a"));
}
