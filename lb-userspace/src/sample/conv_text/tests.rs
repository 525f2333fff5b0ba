//! `word`, `field`, `regsub`, `bytes`, `concat`: HAProxy's documented examples and edges.

use std::sync::Arc;

use super::*;
use crate::sample::SampleExpr;
use crate::sample::vars::Vars;

fn ctx() -> StreamCtx<'static> {
    StreamCtx::new(
        "10.0.0.1:1".parse().unwrap(),
        "10.0.0.2:2".parse().unwrap(),
        "fe",
    )
}

fn run(expr: &str) -> Option<String> {
    let e = SampleExpr::parse(expr).unwrap();
    let c = ctx();
    match e.eval(&c)? {
        Sample::Str(s) => Some(s.into_owned()),
        Sample::Bin(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        other => Some(other.to_string()),
    }
}

fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

#[test]
fn word_examples() {
    // From HAProxy's documentation.
    assert_eq!(run("str(f1_f2_f3__f5),word(4,_)"), some("f5"));
    assert_eq!(run("str(f1_f2_f3__f5),word(2,_,0)"), some("f2_f3__f5"));
    assert_eq!(run("str(f1_f2_f3__f5),word(3,_,2)"), some("f3__f5"));
    assert_eq!(run("str(f1_f2_f3__f5),word(-2,_,3)"), some("f1_f2_f3"));
    assert_eq!(run("str(f1_f2_f3__f5),word(-3,_,0)"), some("f1_f2"));
    assert_eq!(run("str(/f1/f2/f3/f4),word(1,/)"), some("f1"));
    assert_eq!(run("str(/f1////f2/f3/f4),word(1,/,2)"), some("f1////f2"));
    // Missing words give an empty string, not a failure.
    assert_eq!(run("str(a_b),word(3,_)"), some(""));
    assert_eq!(run("str(a_b),word(-3,_)"), some(""));
    assert_eq!(run("str(''),word(1,_)"), some(""));
    assert_eq!(run("str(__a__),word(1,_)"), some("a"));
    assert_eq!(run("str(a;b c),word(2,; )"), some("b"));
}

#[test]
fn field_examples() {
    assert_eq!(run("str(f1_f2_f3__f5),field(4,_)"), some(""));
    assert_eq!(run("str(f1_f2_f3__f5),field(5,_)"), some("f5"));
    assert_eq!(run("str(f1_f2_f3__f5),field(2,_,0)"), some("f2_f3__f5"));
    assert_eq!(run("str(f1_f2_f3__f5),field(2,_,2)"), some("f2_f3"));
    assert_eq!(run("str(f1_f2_f3__f5),field(-2,_,3)"), some("f2_f3_"));
    assert_eq!(run("str(f1_f2_f3__f5),field(-3,_,0)"), some("f1_f2_f3"));
    assert_eq!(run("str('a,b'),field(-1,',')"), some("b"));
    // Missing fields fail.
    assert_eq!(run("str(a_b),field(3,_)"), None);
    assert_eq!(run("str(a_b),field(-3,_)"), None);
    assert_eq!(run("str(abc),field(1,_)"), some("abc"));
}

#[test]
fn regsub_examples() {
    assert_eq!(run("str(a.b.c),regsub(\\.,_)"), some("a_b.c"));
    assert_eq!(run("str(a.b.c),regsub(\\.,_,g)"), some("a_b_c"));
    assert_eq!(run("str(AbAb),regsub(a,x,gi)"), some("xbxb"));
    assert_eq!(run("str(AbAb),regsub(a,x,g)"), some("AbAb"));
    assert_eq!(
        run("str(user=bob),regsub('^user=(.*)',name:\\1)"),
        some("name:bob")
    );
    assert_eq!(run("str(ab),regsub(b,\\x41)"), some("aA"));
    assert_eq!(run("str(ab),regsub('(x)?b','[\\1]')"), some("a[]"));
    // `^` only matches at the very start, even when replacing globally.
    assert_eq!(run("str(aaa),regsub(^a,b,g)"), some("baa"));
    // Empty matches step over one character, as in HAProxy.
    assert_eq!(run("str(baaac),regsub(a*,-,g)"), some("-b--c-"));
    assert_eq!(run("str(''),regsub(x*,-,g)"), some("-"));
    assert_eq!(run("str(héllo),regsub(l*,.,g)"), some(".h.é..o."));
}

#[test]
fn bytes_slices() {
    assert_eq!(run("str(0123456789),bytes(3)"), some("3456789"));
    assert_eq!(run("str(0123456789),bytes(3,2)"), some("34"));
    assert_eq!(run("str(0123456789),bytes(8,5)"), some("89"));
    assert_eq!(run("str(0123),bytes(4)"), some(""));
    assert_eq!(run("str(0123),bytes(9,1)"), some(""));
}

#[test]
fn concat_with_variables() {
    let vars = Vars::new(Arc::default());
    vars.set(
        &VarName::parse("txn.host").unwrap(),
        Sample::Str("example".into()),
    );
    vars.set(&VarName::parse("txn.port").unwrap(), Sample::Int(8080));
    let mut c = ctx();
    c.vars = Some(&vars);
    let run_vars = |expr: &str| {
        SampleExpr::parse(expr)
            .unwrap()
            .eval(&c)
            .map(|s| s.to_string())
    };
    assert_eq!(
        run_vars("str(www.),concat(,txn.host,.com)"),
        some("www.example.com")
    );
    assert_eq!(run_vars("str(h),concat(:,txn.port)"), some("h:8080"));
    assert_eq!(run_vars("str(h),concat(:,txn.none,!)"), some("h:!"));
    assert_eq!(run_vars("str(h),concat"), some("h"));
    assert_eq!(run_vars("int(1),add(txn.port)"), some("8081"));
    assert_eq!(run_vars("int(1),add(txn.none)"), None);
    assert_eq!(run_vars("int(1),add(txn.host)"), some("1"));
    // Without a context, variables read as unset.
    assert_eq!(run("str(h),concat(a,txn.host,b)"), some("hab"));
}

#[test]
fn argument_checks() {
    for bad in [
        "str(a),word(0,_)",
        "str(a),word(1,)",
        "str(a),word(1)",
        "str(a),word(x,_)",
        "str(a),field(1,_,x)",
        "str(a),regsub(a)",
        "str(a),regsub('(',b)",
        "str(a),regsub(a,b,x)",
        "str(a),bytes",
        "str(a),bytes(-1)",
        "str(a),bytes(1,2,3)",
        "str(a),concat(a,b,c,d)",
        "str(a),concat(a,novar)",
        "str(a),add(x)",
    ] {
        let err = SampleExpr::parse(bad).unwrap_err();
        assert!(matches!(err, SampleError::BadArgs { .. }), "{bad}: {err}");
    }
    let a = SampleExpr::parse("str(a),regsub(a,b,g)").unwrap();
    let b = SampleExpr::parse("str(a),regsub(a,b,g)").unwrap();
    assert_eq!(a, b);
    assert_ne!(a, SampleExpr::parse("str(a),regsub(a,b)").unwrap());
}
