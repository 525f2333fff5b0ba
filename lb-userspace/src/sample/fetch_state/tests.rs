//! State fetches against real run-time backend state.

use std::sync::atomic::Ordering;

use super::*;
use crate::backend::state::Backends;
use crate::config::model::Backend;
use crate::sample::SampleExpr;
use crate::sample::vars::Vars;

fn backends(cfg: &str) -> Backends {
    let config = crate::config::parse_str(cfg, std::path::Path::new("test.cfg")).unwrap();
    let cfgs: Vec<Backend> = config.backends.clone();
    Backends::new(&cfgs)
}

const CFG: &str = "
defaults
    mode tcp
    timeout connect 1s
    timeout client 1s
    timeout server 1s
frontend fe
    bind 127.0.0.1:8080
    default_backend app
backend app
    server a 127.0.0.1:1 maxconn 10
    server b 127.0.0.1:2 maxconn 5
    server c 127.0.0.1:3 backup
    server d 127.0.0.1:4 backup
backend spare
    option allbackups
    server x 127.0.0.1:5 backup
    server y 127.0.0.1:6 backup
";

fn eval(expr: &str, ctx: &StreamCtx<'_>) -> Option<Sample<'static>> {
    SampleExpr::parse(expr)
        .unwrap()
        .eval(ctx)
        .map(Sample::into_owned)
}

fn base<'a>(bk: &'a Backends) -> StreamCtx<'a> {
    let mut c = StreamCtx::new(
        "10.0.0.1:1234".parse().unwrap(),
        "10.0.0.2:80".parse().unwrap(),
        "fe",
    );
    c.backends = Some(bk);
    c.fe_conn = 7;
    c
}

#[test]
fn names() {
    let bk = backends(CFG);
    let mut c = base(&bk);
    // Before a backend is chosen, be_name is the frontend's name.
    assert_eq!(eval("be_name", &c), Some(Sample::Str("fe".into())));
    assert_eq!(eval("srv_name", &c), None);
    c.be_name = Some("app");
    c.srv_name = Some("b");
    assert_eq!(eval("be_name", &c), Some(Sample::Str("app".into())));
    assert_eq!(eval("srv_name", &c), Some(Sample::Str("b".into())));
}

#[test]
fn nbsrv_counts_usable_servers_then_backups() {
    let bk = backends(CFG);
    let mut c = base(&bk);
    c.be_name = Some("app");
    assert_eq!(eval("nbsrv", &c), Some(Sample::Int(2)));
    assert_eq!(eval("nbsrv(app)", &c), Some(Sample::Int(2)));
    let app = bk.by_name("app").unwrap();
    app.servers[0].set_up(false);
    assert_eq!(eval("nbsrv", &c), Some(Sample::Int(1)));
    app.servers[1].set_maint(true);
    // Only backups left: one is used (no allbackups).
    assert_eq!(eval("nbsrv(app)", &c), Some(Sample::Int(1)));
    assert_eq!(eval("nbsrv(spare)", &c), Some(Sample::Int(2)));
    app.servers[2].set_up(false);
    app.servers[3].set_up(false);
    assert_eq!(eval("nbsrv(app)", &c), Some(Sample::Int(0)));
    assert_eq!(eval("nbsrv(nope)", &c), None);
    // Without a chosen backend, the frontend's name is looked up (a listen section).
    c.be_name = None;
    assert_eq!(eval("nbsrv", &c), None);
}

#[test]
fn srv_is_up() {
    let bk = backends(CFG);
    let mut c = base(&bk);
    assert_eq!(eval("srv_is_up(app/a)", &c), Some(Sample::Bool(true)));
    bk.by_name("app").unwrap().servers[0].set_maint(true);
    assert_eq!(eval("srv_is_up(app/a)", &c), Some(Sample::Bool(false)));
    assert_eq!(eval("srv_is_up(app/zz)", &c), None);
    assert_eq!(eval("srv_is_up(b)", &c), None);
    c.be_name = Some("app");
    assert_eq!(eval("srv_is_up(b)", &c), Some(Sample::Bool(true)));
}

#[test]
fn connection_counters() {
    let bk = backends(CFG);
    let mut c = base(&bk);
    c.be_name = Some("app");
    let app = bk.by_name("app").unwrap();
    app.cur_conns.store(3, Ordering::Relaxed);
    assert_eq!(eval("be_conn", &c), Some(Sample::Int(3)));
    assert_eq!(eval("be_conn(spare)", &c), Some(Sample::Int(0)));
    assert_eq!(eval("fe_conn", &c), Some(Sample::Int(7)));
    assert_eq!(eval("fe_conn(fe)", &c), Some(Sample::Int(7)));
    // Another frontend's count comes from the runtime's lookup, when it gives one.
    assert_eq!(eval("fe_conn(other)", &c), None);
    let lookup = |name: &str| (name == "other").then_some(42);
    c.frontends = Some(crate::sample::FrontendConns(&lookup));
    assert_eq!(eval("fe_conn(other)", &c), Some(Sample::Int(42)));
    assert_eq!(eval("fe_conn(gone)", &c), None);
    assert_eq!(eval("fe_conn(fe)", &c), Some(Sample::Int(7)));
    c.frontends = None;
    // Servers have unlimited queues: connslots is -1 while one is up, as in HAProxy.
    assert_eq!(eval("connslots", &c), Some(Sample::Int(-1)));
    for s in &app.servers {
        s.set_up(false);
    }
    assert_eq!(eval("connslots(app)", &c), Some(Sample::Int(0)));
    assert_eq!(server_slots(10, 3, 4, 1), Some(10));
    assert_eq!(server_slots(0, 3, 4, 1), None);
    assert_eq!(server_slots(10, 3, 0, 1), None);
}

#[test]
fn no_runtime_state_no_value() {
    let c = StreamCtx::new(
        "10.0.0.1:1".parse().unwrap(),
        "10.0.0.2:2".parse().unwrap(),
        "fe",
    );
    assert_eq!(eval("nbsrv(app)", &c), None);
    assert_eq!(eval("be_conn", &c), None);
    assert_eq!(eval("connslots", &c), None);
}

#[test]
fn env_and_var() {
    let none = Backends::default();
    let c = base(&none);
    // PATH is set in any test environment; an absent name gives no value.
    let path = std::env::var("PATH").unwrap();
    assert_eq!(eval("env(PATH)", &c), Some(Sample::Str(path.into())));
    assert_eq!(eval("env(LB_SURELY_UNSET_VARIABLE_42)", &c), None);
    let vars = Vars::new(std::sync::Arc::default());
    let mut c = c;
    c.vars = Some(&vars);
    assert_eq!(eval("var(txn.n)", &c), None);
    assert_eq!(
        eval("var(txn.n,dflt)", &c),
        Some(Sample::Str("dflt".into()))
    );
    vars.set(&VarName::parse("txn.n").unwrap(), Sample::Int(5));
    assert_eq!(eval("var(txn.n,dflt)", &c), Some(Sample::Int(5)));
    assert_eq!(eval("var(txn.n),add(1)", &c), Some(Sample::Int(6)));
    assert_eq!(
        SampleExpr::parse("var(txn.n)").unwrap().out_type(),
        SampleType::Any
    );
}

#[test]
fn argument_checks_and_refs() {
    for bad in [
        "be_name(x)",
        "srv_name(x)",
        "nbsrv(a,b)",
        "srv_is_up",
        "srv_is_up(/s)",
        "srv_is_up(b/)",
        "env",
        "env()",
        "var",
        "var(x)",
        "var(txn.a-b)",
        "var(txn.a,b,c)",
    ] {
        let err = SampleExpr::parse(bad).unwrap_err();
        assert!(matches!(err, SampleError::BadArgs { .. }), "{bad}: {err}");
    }
    let r = |e: &str| match SampleExpr::parse(e).unwrap().fetch {
        crate::sample::Fetch::State(f) => f
            .proxy_ref()
            .map(|r| (r.proxy.to_owned(), r.server.map(str::to_owned), r.frontend)),
        _ => panic!(),
    };
    assert_eq!(r("nbsrv(app)"), Some(("app".into(), None, false)));
    assert_eq!(
        r("srv_is_up(app/a)"),
        Some(("app".into(), Some("a".into()), false))
    );
    assert_eq!(r("srv_is_up(a)"), None);
    assert_eq!(r("fe_conn(f)"), Some(("f".into(), None, true)));
    assert_eq!(r("be_name"), None);
}
