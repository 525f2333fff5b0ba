use std::sync::Arc;

use super::*;
use crate::backend::balance::testutil;
use crate::backend::queue::Queue;
use crate::config::cookie::{CookieCfg, CookieMode, PersistCfg};

fn servers(cookies: &[Option<&str>]) -> Vec<Arc<ServerState>> {
    cookies
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut s = testutil::server(&format!("s{}", i + 1), 1);
            s.cookie = c.map(str::to_owned);
            Arc::new(ServerState::new(s, "be", Arc::new(Queue::default())))
        })
        .collect()
}

fn persist(mode: CookieMode, f: impl FnOnce(&mut CookieCfg)) -> PersistCfg {
    let mut ck = CookieCfg {
        name: "SRV".into(),
        mode,
        ..CookieCfg::default()
    };
    f(&mut ck);
    PersistCfg {
        cookie: Some(ck),
        ..PersistCfg::default()
    }
}

fn request(method: &str, cookies: &[&str]) -> http::request::Parts {
    let mut b = http::Request::builder().method(method).uri("/");
    for c in cookies {
        b = b.header("cookie", *c);
    }
    b.body(()).unwrap().into_parts().0
}

fn response(status: u16, headers: &[(&str, &str)]) -> http::response::Parts {
    let mut b = http::Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

fn cookies(req: &http::request::Parts) -> Vec<String> {
    req.headers
        .get_all("cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn set_cookies(res: &http::response::Parts) -> Vec<String> {
    res.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

const NOW: i64 = 1_795_000_000;

fn flags() -> RequestFlags {
    RequestFlags {
        now_secs: NOW,
        ..RequestFlags::default()
    }
}

fn resp_flags(server: Option<&Server>) -> ResponseFlags<'_> {
    ResponseFlags {
        server,
        post: false,
        safe_method: true,
        now_secs: NOW,
    }
}

#[test]
fn insert_indirect_nocache_full_cycle() {
    let cfg = persist(CookieMode::Insert, |c| {
        c.indirect = true;
        c.nocache = true;
    });
    let srv = servers(&[Some("s1"), Some("s2")]);
    // First request: no cookie, balancing decides; the response gets one.
    let mut req = request("GET", &["a=1"]);
    let mut txn = on_request(&cfg, &mut req, &srv, flags());
    assert_eq!((txn.server, txn.status), (None, CookieStatus::None));
    assert_eq!(cookies(&req), ["a=1"]);
    let mut res = response(200, &[("etag", "\"v1\"")]);
    on_response(&cfg, &mut txn, &mut res, resp_flags(Some(&srv[1].cfg)));
    assert_eq!(set_cookies(&res), ["SRV=s2; path=/"]);
    assert_eq!(res.headers["cache-control"], "private");
    assert_eq!(txn.log_chars(cfg.cookie.as_ref()), ['N', 'I']);
    // Next request: the cookie picks s2 and is hidden from the server.
    let mut req = request("GET", &["a=1; SRV=s2; b=2"]);
    let mut txn = on_request(&cfg, &mut req, &srv, flags());
    assert_eq!(
        (txn.server, txn.status, txn.direct),
        (Some(1), CookieStatus::Valid, true)
    );
    assert_eq!(cookies(&req), ["a=1; b=2"]);
    let mut res = response(200, &[]);
    on_response(&cfg, &mut txn, &mut res, resp_flags(Some(&srv[1].cfg)));
    assert!(set_cookies(&res).is_empty());
    assert!(res.headers.get("cache-control").is_none());
    assert_eq!(txn.log_chars(cfg.cookie.as_ref()), ['V', 'N']);
}

#[test]
fn indirect_removal_keeps_the_header_well_formed() {
    let cfg = persist(CookieMode::Insert, |c| c.indirect = true);
    let srv = servers(&[Some("s1")]);
    for (input, expected) in [
        ("SRV=s1", None),
        ("SRV=s1; a=1", Some("a=1")),
        ("a=1; SRV=s1", Some("a=1")),
        ("a=1;SRV=s1;b=2", Some("a=1; b=2")),
        ("a=1 ;  SRV = s1 ; $Path=/; b=2", Some("a=1; b=2")),
        ("SRV=s1; $Path=/", None),
        // Checked against haproxy 2.6.12 too:
        ("x; SRV=s1; y", Some("x; y")),
        ("a=1,SRV=s1,b=2", Some("a=1, b=2")),
        ("SRV=s1;SRV=s1", None),
        ("a=\"q;SRV=s1\"; SRV=s1", Some("a=\"q;SRV=s1\"")),
    ] {
        let mut req = request("GET", &[input]);
        let txn = on_request(&cfg, &mut req, &srv, flags());
        assert!(
            matches!(txn.status, CookieStatus::Valid | CookieStatus::Unused),
            "{input}"
        );
        assert_eq!(txn.server, Some(0), "{input}");
        let got = cookies(&req);
        assert_eq!(got.first().map(String::as_str), expected, "{input}");
    }
    // Spaces around `=` go from every cookie, as in haproxy 2.6.12.
    let mut req = request("GET", &["a = 1;  b= 2"]);
    let txn = on_request(&cfg, &mut req, &srv, flags());
    assert_eq!(txn.status, CookieStatus::None);
    assert_eq!(cookies(&req), ["a=1;  b=2"]);
    // Other Cookie headers stay.
    let mut req = request("GET", &["SRV=s1", "x=y"]);
    on_request(&cfg, &mut req, &srv, flags());
    assert_eq!(cookies(&req), ["x=y"]);
}

#[test]
fn insert_without_indirect_leaves_the_request_alone() {
    let cfg = persist(CookieMode::Insert, |_| {});
    let srv = servers(&[Some("s1")]);
    let mut req = request("GET", &["a=1; SRV=s1"]);
    let txn = on_request(&cfg, &mut req, &srv, flags());
    assert_eq!(txn.server, Some(0));
    assert_eq!(cookies(&req), ["a=1; SRV=s1"]);
}

#[test]
fn invalid_empty_down_and_shared_cookies() {
    let cfg = persist(CookieMode::Insert, |_| {});
    let srv = servers(&[Some("x"), Some("x"), Some("s3")]);
    let status = |srv: &[Arc<ServerState>], cfg: &PersistCfg, c: &str| {
        let mut req = request("GET", &[c]);
        let t = on_request(cfg, &mut req, srv, flags());
        (t.server, t.status)
    };
    assert_eq!(
        status(&srv, &cfg, "SRV=nope"),
        (None, CookieStatus::Invalid)
    );
    assert_eq!(status(&srv, &cfg, "SRV="), (None, CookieStatus::Invalid));
    // Shared value: the first usable server in configuration order.
    assert_eq!(status(&srv, &cfg, "SRV=x"), (Some(0), CookieStatus::Valid));
    srv[0].set_up(false);
    assert_eq!(status(&srv, &cfg, "SRV=x"), (Some(1), CookieStatus::Valid));
    srv[1].set_up(false);
    assert_eq!(status(&srv, &cfg, "SRV=x"), (None, CookieStatus::Down));
    // option persist sends it to the first (down) server anyway.
    let mut p = cfg.clone();
    p.option_persist = true;
    assert_eq!(status(&srv, &p, "SRV=x"), (Some(0), CookieStatus::Down));
    // So does force-persist.
    let mut req = request("GET", &["SRV=x"]);
    let f = RequestFlags {
        override_: PersistOverride::Force,
        ..flags()
    };
    let t = on_request(&cfg, &mut req, &srv, f);
    assert_eq!((t.server, t.status), (Some(0), CookieStatus::Down));
    // Maintenance counts as down.
    srv[2].set_maint(true);
    assert_eq!(status(&srv, &cfg, "SRV=s3"), (None, CookieStatus::Down));
}

#[test]
fn ignore_persist_and_already_assigned() {
    let cfg = persist(CookieMode::Insert, |_| {});
    let srv = servers(&[Some("s1")]);
    let mut req = request("GET", &["SRV=s1"]);
    let ign = RequestFlags {
        override_: PersistOverride::Ignore,
        ..flags()
    };
    let mut t = on_request(&cfg, &mut req, &srv, ign);
    assert_eq!((t.server, t.status), (None, CookieStatus::Unused));
    let mut res = response(200, &[]);
    on_response(&cfg, &mut t, &mut res, resp_flags(Some(&srv[0].cfg)));
    assert!(
        set_cookies(&res).is_empty(),
        "ignore-persist inserts nothing"
    );
    // A second cookie with our name after a valid one is unused.
    let mut req = request("GET", &["SRV=s1; SRV=s1"]);
    let t = on_request(&cfg, &mut req, &srv, flags());
    assert_eq!((t.server, t.status), (Some(0), CookieStatus::Unused));
}

#[test]
fn prefix_mode_strips_and_prefixes() {
    let mut cfg = persist(CookieMode::Prefix, |_| {});
    cfg.cookie.as_mut().unwrap().name = "JSESSIONID".into();
    let srv = servers(&[Some("s1"), Some("s2")]);
    let mut req = request("GET", &["JSESSIONID=s2~abc; x=1"]);
    let mut t = on_request(&cfg, &mut req, &srv, flags());
    assert_eq!((t.server, t.status), (Some(1), CookieStatus::Valid));
    assert_eq!(cookies(&req), ["JSESSIONID=abc; x=1"]);
    let mut res = response(200, &[("set-cookie", "JSESSIONID=new; path=/")]);
    on_response(&cfg, &mut t, &mut res, resp_flags(Some(&srv[1].cfg)));
    assert_eq!(set_cookies(&res), ["JSESSIONID=s2~new; path=/"]);
    assert_eq!(t.log_chars(cfg.cookie.as_ref()), ['V', 'R']);
    // Without a delimiter the value is passed unchanged (and names no server).
    let mut req = request("GET", &["JSESSIONID=plain"]);
    let t = on_request(&cfg, &mut req, &srv, flags());
    assert_eq!(t.status, CookieStatus::Invalid);
    assert_eq!(cookies(&req), ["JSESSIONID=plain"]);
}

#[test]
fn rewrite_mode_and_passive_set_cookie() {
    let cfg = persist(CookieMode::Rewrite, |_| {});
    let srv = servers(&[Some("s1"), None]);
    let mut t = CookieTxn::default();
    let mut res = response(
        200,
        &[("set-cookie", "SRV = app ; path=/"), ("set-cookie", "o=1")],
    );
    on_response(&cfg, &mut t, &mut res, resp_flags(Some(&srv[0].cfg)));
    assert_eq!(set_cookies(&res), ["SRV=s1 ; path=/", "o=1"]);
    assert_eq!(t.set_status, SetCookieStatus::Rewritten);
    // A server without a cookie value leaves it as is.
    let mut t = CookieTxn::default();
    let mut res = response(200, &[("set-cookie", "SRV=app")]);
    on_response(&cfg, &mut t, &mut res, resp_flags(Some(&srv[1].cfg)));
    assert_eq!(set_cookies(&res), ["SRV=app"]);
    assert_eq!(t.set_status, SetCookieStatus::Passive);
}

#[test]
fn insert_replaces_the_servers_cookie_unless_preserve() {
    let cfg = persist(CookieMode::Insert, |_| {});
    let srv = servers(&[Some("s1"), None]);
    let mut t = CookieTxn::default();
    let mut res = response(200, &[("set-cookie", "SRV=mine"), ("set-cookie", "k=v")]);
    on_response(&cfg, &mut t, &mut res, resp_flags(Some(&srv[0].cfg)));
    assert_eq!(set_cookies(&res), ["k=v", "SRV=s1; path=/"]);
    assert_eq!(t.set_status, SetCookieStatus::Inserted);
    let cfg = persist(CookieMode::Insert, |c| c.preserve = true);
    let mut t = CookieTxn::default();
    let mut res = response(200, &[("set-cookie", "SRV=; Max-Age=0")]);
    on_response(&cfg, &mut t, &mut res, resp_flags(Some(&srv[0].cfg)));
    assert_eq!(set_cookies(&res), ["SRV=; Max-Age=0"]);
    assert_eq!(t.set_status, SetCookieStatus::Passive);
    // A server without a value gets the cookie removed from the client.
    let mut t = CookieTxn::default();
    let mut res = response(200, &[]);
    let cfg = persist(CookieMode::Insert, |_| {});
    on_response(&cfg, &mut t, &mut res, resp_flags(Some(&srv[1].cfg)));
    assert_eq!(
        set_cookies(&res),
        ["SRV=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/"]
    );
}

#[test]
fn attributes_postonly_and_cacheability() {
    let cfg = persist(CookieMode::Insert, |c| {
        c.domains = vec![".a.com".into(), "b.org".into()];
        c.httponly = true;
        c.secure = true;
        c.attrs = vec!["SameSite=Strict".into(), "Partitioned".into()];
        c.postonly = true;
        c.nocache = true;
    });
    let srv = servers(&[Some("s1")]);
    let mut t = CookieTxn::default();
    let mut res = response(200, &[]);
    on_response(&cfg, &mut t, &mut res, resp_flags(Some(&srv[0].cfg)));
    assert!(set_cookies(&res).is_empty(), "postonly: GET gets no cookie");
    let mut res = response(200, &[]);
    let f = ResponseFlags {
        post: true,
        safe_method: false,
        ..resp_flags(Some(&srv[0].cfg))
    };
    on_response(&cfg, &mut t, &mut res, f);
    assert_eq!(
        set_cookies(&res),
        [
            "SRV=s1; path=/; domain=.a.com; domain=b.org; HttpOnly; Secure; SameSite=Strict; \
          Partitioned"
        ]
    );
    assert!(
        res.headers.get("cache-control").is_none(),
        "POST is not cacheable"
    );
    // nocache: uncacheable statuses and Cache-Control values get no `private`.
    let cfg = persist(CookieMode::Insert, |c| c.nocache = true);
    // What haproxy 2.6.12 answered for the same responses.
    for (status, cc, extra, private) in [
        (200, None, None, false),
        (200, None, Some(("etag", "\"x\"")), true),
        (
            200,
            None,
            Some(("last-modified", "Thu, 01 Dec 2020 16:00:00 GMT")),
            true,
        ),
        (
            200,
            None,
            Some(("expires", "Thu, 01 Dec 2030 16:00:00 GMT")),
            true,
        ),
        (200, Some("max-age=60"), None, true),
        (200, Some("public"), None, false),
        (200, Some("no-cache"), Some(("etag", "\"x\"")), false),
        (200, Some("max-age=60"), Some(("pragma", "no-cache")), false),
        (
            200,
            Some("no-cache=\"set-cookie\""),
            Some(("etag", "\"x\"")),
            true,
        ),
        (200, Some("s-maxage=0"), Some(("etag", "\"x\"")), false),
        (200, Some("no-store"), None, false),
        (200, Some("public, max-age=3600"), None, true),
        (200, Some("max-age=0"), None, false),
        (302, Some("max-age=60"), None, false),
        (404, Some("max-age=60"), None, true),
        (204, Some("max-age=60"), None, true),
        (414, Some("max-age=60"), None, true),
    ] {
        let mut t = CookieTxn::default();
        let mut h = Vec::new();
        if let Some(v) = cc {
            h.push(("cache-control", v));
        }
        h.extend(extra);
        let mut res = response(status, &h);
        on_response(&cfg, &mut t, &mut res, resp_flags(Some(&srv[0].cfg)));
        let got = res
            .headers
            .get_all("cache-control")
            .iter()
            .any(|v| v == "private");
        assert_eq!(got, private, "{status} {cc:?} {extra:?}");
    }
}

#[test]
fn maxidle_and_maxlife_dates() {
    let cfg = persist(CookieMode::Insert, |c| {
        c.maxidle = 1800;
        c.maxlife = 28800;
    });
    let srv = servers(&[Some("s1")]);
    let enc = |secs: i64| {
        let mut b = [0u8; 5];
        s30_to_b64(u32::try_from(secs >> 2).unwrap(), &mut b);
        String::from_utf8(b.to_vec()).unwrap()
    };
    let check = |c: String| {
        let mut req = request("GET", &[&c]);
        on_request(&cfg, &mut req, &srv, flags())
    };
    // Fresh: valid, and the last date is refreshed in the response.
    let t = check(format!("SRV=s1|{}|{}", enc(NOW - 100), enc(NOW - 1000)));
    assert_eq!((t.server, t.status), (Some(0), CookieStatus::Valid));
    let mut t2 = t.clone();
    let mut res = response(200, &[]);
    on_response(&cfg, &mut t2, &mut res, resp_flags(Some(&srv[0].cfg)));
    assert_eq!(
        set_cookies(&res),
        [format!(
            "SRV=s1|{}|{}; path=/",
            enc(NOW + 3),
            enc(NOW - 1000)
        )]
    );
    assert_eq!(t2.set_status, SetCookieStatus::Updated);
    // Idle too long: expired.
    let t = check(format!("SRV=s1|{}|{}", enc(NOW - 4000), enc(NOW - 5000)));
    assert_eq!((t.server, t.status), (None, CookieStatus::Expired));
    // Too old: old (checked before idleness).
    let t = check(format!("SRV=s1|{}|{}", enc(NOW - 4000), enc(NOW - 40000)));
    assert_eq!((t.server, t.status), (None, CookieStatus::Old));
    // More than a day in the future: ignored as old.
    let t = check(format!("SRV=s1|{}|{}", enc(NOW), enc(NOW + 90000)));
    assert_eq!(t.status, CookieStatus::Old);
    // No date: accepted, then dated.
    let mut t = check("SRV=s1".into());
    assert_eq!(t.status, CookieStatus::Valid);
    let mut res = response(200, &[]);
    on_response(&cfg, &mut t, &mut res, resp_flags(Some(&srv[0].cfg)));
    assert_eq!(
        set_cookies(&res),
        [format!("SRV=s1|{}|{}; path=/", enc(NOW + 3), enc(NOW + 3))]
    );
}

#[test]
fn base64_dates_round_trip() {
    for v in [0u32, 1, 63, 64, 0x3fff_ffff, 448_750_000] {
        let mut b = [0u8; 5];
        s30_to_b64(v, &mut b);
        assert_eq!(b64_to_s30(&b), Some(v));
    }
    assert_eq!(b64_to_s30(b"AAAA"), None);
    assert_eq!(b64_to_s30(b"AA!AA"), None);
}

#[test]
fn capture_cookie_prefix_and_length() {
    let cap = CaptureCookie {
        name: "ASPSESSION".into(),
        len: 20,
    };
    let req = request(
        "GET",
        &["a=1; ASPSESSIONXYZ = abcdefghijklmnop; ASPSESSIONB=2"],
    );
    assert_eq!(
        capture_request(&cap, &req).as_deref(),
        Some("ASPSESSIONXYZ=abcdef")
    );
    let res = response(
        200,
        &[
            ("set-cookie", "other=1"),
            ("set-cookie", "ASPSESSIONQ=v; path=/"),
        ],
    );
    assert_eq!(
        capture_response(&cap, &res).as_deref(),
        Some("ASPSESSIONQ=v")
    );
    let exact = CaptureCookie {
        name: "a=".into(),
        len: 63,
    };
    let req = request("GET", &["ab=2; a=1"]);
    assert_eq!(capture_request(&exact, &req).as_deref(), Some("a=1"));
    assert_eq!(capture_request(&exact, &request("GET", &[])), None);
}

#[test]
fn log_chars_only_with_an_active_mode() {
    let t = CookieTxn::default();
    let passive = CookieCfg {
        name: "S".into(),
        ..CookieCfg::default()
    };
    assert_eq!(t.log_chars(None), ['-', '-']);
    assert_eq!(t.log_chars(Some(&passive)), ['-', '-']);
    let insert = CookieCfg {
        mode: CookieMode::Insert,
        ..passive
    };
    assert_eq!(t.log_chars(Some(&insert)), ['N', 'N']);
}
