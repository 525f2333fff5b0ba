//! Condition parsing and evaluation (two- and three-state).

use super::*;

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

fn ctx(src: &str) -> StreamCtx<'static> {
    StreamCtx::new(src.parse().unwrap(), "127.0.0.1:443".parse().unwrap(), "fe")
}

fn set(lines: &[&str]) -> AclSet {
    let mut acls = AclSet::default();
    for line in lines {
        acls.add(&words(line)).unwrap();
    }
    acls
}

fn cond(acls: &AclSet, text: &str) -> Condition {
    Condition::parse(&words(text), acls).unwrap()
}

fn err(acls: &AclSet, text: &str) -> AclError {
    Condition::parse(&words(text), acls).unwrap_err()
}

/// ACLs used below: `net10` (src in 10/8), `tls` (dst port 443), `low` (src port < 1024).
fn sample_set() -> AclSet {
    set(&[
        "net10 src 10.0.0.0/8",
        "tls dst_port 443",
        "low src_port lt 1024",
    ])
}

#[test]
fn same_name_lines_are_ored() {
    let acls = set(&["nets src 10.0.0.0/8", "nets src 192.168.0.0/16"]);
    let c = cond(&acls, "if nets");
    assert!(c.eval(&ctx("10.1.1.1:5000")));
    assert!(c.eval(&ctx("192.168.3.3:5000")));
    assert!(!c.eval(&ctx("172.16.0.1:5000")));
    assert_eq!(acls.get("nets").unwrap().exprs.len(), 2);
}

#[test]
fn and_or_not() {
    let acls = sample_set();
    let and = cond(&acls, "if net10 tls");
    assert!(and.eval(&ctx("10.0.0.1:5000")));
    assert!(!and.eval(&ctx("11.0.0.1:5000")));
    let or = cond(&acls, "if net10 || low");
    assert!(or.eval(&ctx("11.0.0.1:80")));
    assert!(or.eval(&ctx("10.0.0.1:5000")));
    assert!(!or.eval(&ctx("11.0.0.1:5000")));
    let or_word = cond(&acls, "if net10 OR low");
    assert!(or_word.eval(&ctx("11.0.0.1:80")));
    let not = cond(&acls, "if ! net10");
    assert!(not.eval(&ctx("11.0.0.1:5000")));
    assert!(!not.eval(&ctx("10.0.0.1:5000")));
    let glued = cond(&acls, "if !net10");
    assert!(glued.eval(&ctx("11.0.0.1:5000")));
    let double = cond(&acls, "if !!net10");
    assert!(double.eval(&ctx("10.0.0.1:5000")));
    let alone = cond(&acls, "if ! ! net10");
    assert!(alone.eval(&ctx("10.0.0.1:5000")));
}

#[test]
fn and_binds_tighter_than_or() {
    let acls = sample_set();
    // (net10 AND low) OR (NOT tls): the dst port is always 443 here, so only the
    // first suite can match.
    let c = cond(&acls, "if net10 low || !tls");
    assert!(c.eval(&ctx("10.0.0.1:80")));
    assert!(!c.eval(&ctx("10.0.0.1:5000")));
    assert!(!c.eval(&ctx("11.0.0.1:80")));
    // net10 OR (low AND tls)
    let c = cond(&acls, "if net10 || low tls");
    assert!(c.eval(&ctx("10.0.0.1:5000")));
    assert!(c.eval(&ctx("11.0.0.1:80")));
    assert!(!c.eval(&ctx("11.0.0.1:5000")));
}

#[test]
fn unless_inverts() {
    let acls = sample_set();
    let c = cond(&acls, "unless net10");
    assert!(c.unless);
    assert!(c.eval(&ctx("11.0.0.1:5000")));
    assert!(!c.eval(&ctx("10.0.0.1:5000")));
    let c = cond(&acls, "unless net10 || low");
    assert!(!c.eval(&ctx("11.0.0.1:80")));
    assert!(c.eval(&ctx("11.0.0.1:5000")));
}

#[test]
fn anonymous_acls() {
    let acls = sample_set();
    let c = cond(
        &acls,
        "if { src 10.0.0.0/8 192.168.0.0/16 } !{ src_port lt 1024 }",
    );
    assert!(c.eval(&ctx("192.168.1.1:5000")));
    assert!(!c.eval(&ctx("192.168.1.1:80")));
    assert!(!c.eval(&ctx("11.1.1.1:5000")));
    let c = cond(&acls, "if { fe_name -i FE } || net10");
    assert!(c.eval(&ctx("11.1.1.1:5000")));
    let c = cond(&acls, "if tls { src_port -m int 1:100 }");
    assert!(c.eval(&ctx("11.1.1.1:50")));
    assert!(!c.eval(&ctx("11.1.1.1:500")));
}

#[test]
fn predefined_and_overrides() {
    let acls = AclSet::default();
    assert!(cond(&acls, "if TRUE").eval(&ctx("1.1.1.1:1")));
    assert!(!cond(&acls, "if FALSE").eval(&ctx("1.1.1.1:1")));
    assert!(cond(&acls, "if LOCALHOST").eval(&ctx("127.0.0.1:1")));
    assert!(cond(&acls, "unless LOCALHOST").eval(&ctx("10.0.0.1:1")));
    // A section ACL with a predefined name takes precedence.
    let acls = set(&["LOCALHOST src 10.0.0.1"]);
    assert!(cond(&acls, "if LOCALHOST").eval(&ctx("10.0.0.1:1")));
    assert!(!cond(&acls, "if LOCALHOST").eval(&ctx("127.0.0.1:1")));
    // HTTP ones parse, and never match outside HTTP mode.
    assert!(!cond(&AclSet::default(), "if METH_GET").eval(&ctx("1.1.1.1:1")));
}

#[test]
fn condition_errors() {
    let acls = sample_set();
    assert_eq!(err(&acls, "if nope"), AclError::UnknownAcl("nope".into()));
    assert_eq!(
        err(&acls, "if net10 nope"),
        AclError::UnknownAcl("nope".into())
    );
    assert_eq!(
        err(&acls, "when net10"),
        AclError::ExpectedIfUnless("when".into())
    );
    assert_eq!(err(&acls, "if"), AclError::MissingCondition);
    assert_eq!(err(&acls, "if { src 1.1.1.1"), AclError::UnclosedBrace);
    assert_eq!(err(&acls, "if || net10"), AclError::EmptyTerm);
    assert_eq!(err(&acls, "if net10 ||"), AclError::EmptyTerm);
    assert_eq!(err(&acls, "if net10 !"), AclError::DanglingNegation);
    assert_eq!(err(&acls, "if ! || net10"), AclError::DanglingNegation);
    assert!(matches!(
        err(&acls, "if { nope 1 }"),
        AclError::Sample { .. }
    ));
    assert!(matches!(err(&acls, "if { }"), AclError::MissingCriterion));
    assert_eq!(err(&acls, "if nope").to_string(), "no such ACL: 'nope'");
}

#[test]
fn acl_line_errors() {
    let mut acls = AclSet::default();
    assert_eq!(acls.add(&[]), Err(AclError::MissingName));
    assert_eq!(
        acls.add(&words("bad/name src 1.1.1.1")),
        Err(AclError::InvalidName {
            name: "bad/name".into(),
            ch: '/'
        })
    );
    assert_eq!(
        acls.add(&words("OR src 1.1.1.1")),
        Err(AclError::ReservedName("OR".into()))
    );
    assert_eq!(acls.add(&words("x")), Err(AclError::MissingCriterion));
    assert!(acls.add(&words("ok.name:1_a-b src 1.1.1.1")).is_ok());
}

#[test]
fn conditions_snapshot_acls() {
    let mut acls = set(&["a src 10.0.0.1"]);
    let c = cond(&acls, "if a");
    acls.add(&words("a src 10.0.0.2")).unwrap();
    assert!(!c.eval(&ctx("10.0.0.2:1")));
    assert!(cond(&acls, "if a").eval(&ctx("10.0.0.2:1")));
}

fn with_payload(payload: &[u8], fin: bool) -> StreamCtx<'_> {
    let mut c = ctx("10.0.0.1:5000");
    c.payload = payload;
    c.payload_final = fin;
    c
}

fn partial(acls: &AclSet, text: &str, payload: &[u8], fin: bool) -> Tristate {
    cond(acls, text).eval_partial(&with_payload(payload, fin))
}

#[test]
fn tristate_logic() {
    use Tristate::{False, True, Undecided};
    for (a, b, and, or) in [
        (True, True, True, True),
        (True, False, False, True),
        (True, Undecided, Undecided, True),
        (False, Undecided, False, Undecided),
        (Undecided, Undecided, Undecided, Undecided),
        (False, False, False, False),
    ] {
        assert_eq!(a.and(b), and, "{a:?} and {b:?}");
        assert_eq!(b.and(a), and, "{b:?} and {a:?}");
        assert_eq!(a.or(b), or, "{a:?} or {b:?}");
        assert_eq!(b.or(a), or, "{b:?} or {a:?}");
    }
    assert_eq!(Undecided.not(), Undecided);
    assert_eq!(True.not(), False);
    assert_eq!(Tristate::from_bool(true).decided(), Some(true));
    assert_eq!(Undecided.decided(), None);
}

#[test]
fn conditions_wait_for_data() {
    use Tristate::{False, True, Undecided};
    let acls = set(&[
        "tls req.ssl_sni -m found",
        "short req.len lt 4",
        "sni_a req.ssl_sni -i a.test",
        "net10 src 10.0.0.0/8",
    ]);
    // Nothing yet: the SNI may still come.
    assert_eq!(partial(&acls, "if tls", b"", false), Undecided);
    assert_eq!(partial(&acls, "if tls", b"", true), False);
    assert_eq!(partial(&acls, "if !tls", b"", false), Undecided);
    assert_eq!(partial(&acls, "unless tls", b"", false), Undecided);
    assert_eq!(partial(&acls, "unless tls", b"", true), True);
    // Not TLS at all: decided at once.
    assert_eq!(partial(&acls, "if tls", b"SSH-2.0-x\r\n", false), False);
    assert_eq!(partial(&acls, "if !tls", b"SSH-2.0-x\r\n", false), True);
    // A true term in another suite wins over an undecided one.
    assert_eq!(partial(&acls, "if tls || net10", b"", false), True);
    assert_eq!(partial(&acls, "if tls || !net10", b"", false), Undecided);
    // AND stops at the first term that is not true, as HAProxy does.
    assert_eq!(partial(&acls, "if !net10 tls", b"", false), False);
    assert_eq!(partial(&acls, "if net10 tls", b"", false), Undecided);
    assert_eq!(partial(&acls, "if tls !net10", b"", false), Undecided);
    // req.len may always grow: a match is taken at once (as HAProxy does), a miss waits.
    assert_eq!(partial(&acls, "if short", b"ab", false), True);
    assert_eq!(partial(&acls, "if !short", b"ab", false), False);
    assert_eq!(partial(&acls, "if !short", b"abcdef", false), Undecided);
    assert_eq!(partial(&acls, "if short", b"abcdef", false), Undecided);
    assert_eq!(partial(&acls, "if !short", b"abcdef", true), True);
    // A real ClientHello decides.
    let hello = include_bytes!("../sample/testdata/openssl_tls13_sni.bin");
    assert_eq!(partial(&acls, "if tls", hello, false), True);
    assert_eq!(partial(&acls, "if sni_a", hello, false), False);
    assert_eq!(partial(&acls, "if tls", &hello[..100], false), Undecided);
    // Final evaluation never says undecided.
    assert!(!cond(&acls, "if tls").eval(&with_payload(&hello[..100], false)));
    assert!(cond(&acls, "unless tls").eval(&with_payload(&hello[..100], false)));
}

#[test]
fn anonymous_acls_wait_too() {
    let acls = AclSet::default();
    assert_eq!(
        partial(&acls, "if { req.payload(0,3) -m bin 474554 }", b"GE", false),
        Tristate::Undecided
    );
    assert_eq!(
        partial(
            &acls,
            "if { req.payload(0,3) -m bin 474554 }",
            b"GET",
            false
        ),
        Tristate::True
    );
    assert_eq!(
        partial(
            &acls,
            "if { req.payload(0,3) -m bin 474554 }",
            b"PUT",
            false
        ),
        Tristate::False
    );
    assert_eq!(
        partial(&acls, "if WAIT_END", b"x", false),
        Tristate::Undecided
    );
}
