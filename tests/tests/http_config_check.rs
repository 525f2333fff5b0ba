//! `lb -c` on HTTP configurations: warnings for actions that cannot work as configured, and
//! honest messages for HTTP keywords `lb` lacks. lb-specific (`xdp-deny` is an lb action).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::time::Duration;

use lb_tests::TempDir;
use lb_tests::lb::run_lb;

fn check(config: &str) -> (bool, String) {
    let dir = TempDir::new();
    let path = dir.path().join("lb.cfg");
    std::fs::write(&path, config).unwrap();
    let (status, out, err) = run_lb(
        &["-c", "-f", path.to_str().unwrap()],
        Duration::from_secs(20),
    );
    (status.success(), format!("{out}{err}"))
}

const HEAD: &str = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    \
                    timeout server 1s\n\n";

#[test]
fn http_request_xdp_deny_without_an_xdp_section_warns() {
    let cfg = format!(
        "{HEAD}frontend fe\n    bind 127.0.0.1:1\n    \
         http-request xdp-deny for 1m if {{ path /ban }}\n    default_backend be\n\n\
         backend be\n    server s 127.0.0.1:2\n"
    );
    let (ok, out) = check(&cfg);
    assert!(ok, "a warning only: {out}");
    assert!(
        out.contains("[WARNING]")
            && out.contains("lb.cfg:9]")
            && out.contains("'xdp-deny' has no effect: no 'xdp' section loads the XDP guard"),
        "{out}"
    );
    let with_guard = format!("{cfg}\nxdp\n    interface lo\n");
    let (ok, out) = check(&with_guard);
    assert!(ok, "{out}");
    assert!(!out.contains("xdp-deny"), "{out}");
}

#[test]
fn missing_http_keywords_promise_nothing() {
    for (line, keyword) in [
        ("http-error status 503", "http-error"),
        ("option http-no-delay", "option http-no-delay"),
        ("max-keep-alive-queue 10", "max-keep-alive-queue"),
    ] {
        let cfg = format!(
            "{HEAD}listen px\n    bind 127.0.0.1:1\n    {line}\n    server s 127.0.0.1:2\n"
        );
        let (ok, out) = check(&cfg);
        assert!(!ok, "{line}: {out}");
        let expected = format!("keyword '{keyword}' is not supported yet\n");
        assert!(out.contains(&expected), "{line}: {out}");
        assert!(!out.contains("comes with HTTP mode"), "{out}");
    }
    // Implemented HTTP keywords are accepted.
    let cfg = format!(
        "{HEAD}listen px\n    bind 127.0.0.1:1\n    errorloc 503 /sorry\n    \
         errorloc303 403 /denied\n    http-send-name-header X-Srv\n    option checkcache\n    \
         server s 127.0.0.1:2\n"
    );
    let (ok, out) = check(&cfg);
    assert!(ok, "{out}");
}
