//! Invalid configurations: the exact message and line of each error.

use super::{error, errors};

fn one(lines: &[&str]) -> (usize, String) {
    error(lines)
}

#[test]
fn unknown_keywords_get_suggestions() {
    let e = one(&["frontend fe", "    bind :10000", "    defualt_backend be"]);
    assert_eq!(e, (3, "unknown keyword 'defualt_backend' in 'frontend' section; did you mean 'default_backend' maybe ?".into()));
    let e = one(&["backend be", "    frobnicate"]);
    assert_eq!(
        e,
        (
            2,
            "unknown keyword 'frobnicate' in 'backend' section".into()
        )
    );
    let e = one(&["global", "    nbtreads 2"]);
    assert_eq!(
        e,
        (
            2,
            "unknown keyword 'nbtreads' in 'global' section; did you mean 'nbthread' maybe ?"
                .into()
        )
    );
}

#[test]
fn keywords_out_of_section() {
    assert_eq!(
        one(&["", "bind :80"]),
        (2, "unknown keyword 'bind' out of section".into())
    );
}

#[test]
fn unsupported_real_keywords_say_so() {
    let e = one(&["backend be", "    persist rdp-cookie"]);
    assert_eq!(
        e,
        (
            2,
            "keyword 'persist' is not supported yet (comes with stick tables and persistence)"
                .into()
        )
    );
    let e = one(&["defaults", "    option logasap"]);
    assert_eq!(
        e,
        (
            2,
            "keyword 'option logasap' is not supported yet (comes with logging options)".into()
        )
    );
    let e = one(&["global", "    chroot /var/empty"]);
    assert_eq!(
        e,
        (
            2,
            "keyword 'chroot' is not supported yet (comes with privilege dropping)".into()
        )
    );
}

#[test]
fn unsupported_sections_are_reported_once() {
    let e = one(&[
        "mailers alerts",
        "    mailer m1 127.0.0.1:25",
        "    timeout mail 5s",
        "backend be",
    ]);
    assert_eq!(
        e,
        (
            1,
            "keyword 'mailers (section)' is not supported yet (comes with email alerts)".into()
        )
    );
}

#[test]
fn legacy_keywords_point_to_their_replacement() {
    let e = one(&["defaults", "    contimeout 5s"]);
    assert_eq!(
        e,
        (
            2,
            "keyword 'contimeout' is not supported anymore; use 'timeout connect' instead".into()
        )
    );
    let e = one(&["backend b", "    srvtimeout 5s"]);
    assert_eq!(
        e.1,
        "keyword 'srvtimeout' is not supported anymore; use 'timeout server' instead"
    );
    let e = one(&["backend b", "    reqrep ^a b"]);
    assert_eq!(e.1, "keyword 'reqrep' is not supported anymore");
}

#[test]
fn keywords_in_the_wrong_section() {
    let e = one(&[
        "frontend fe",
        "    bind :10000",
        "    server s 127.0.0.1:80",
    ]);
    assert_eq!(e, (3, "'server' not allowed in 'frontend' section; it only applies to backends and listen sections".into()));
    let e = one(&["backend be", "    bind :10000"]);
    assert_eq!(e, (2, "'bind' not allowed in 'backend' section; it only applies to frontends and listen sections".into()));
    let e = one(&["defaults", "    bind :10000"]);
    assert_eq!(e, (2, "'bind' not allowed in 'defaults' section".into()));
    let e = one(&["defaults", "    server s 127.0.0.1:80"]);
    assert_eq!(e, (2, "'server' not allowed in 'defaults' section".into()));
    let e = one(&["defaults", "    use_backend b"]);
    assert_eq!(
        e,
        (2, "'use_backend' not allowed in 'defaults' section".into())
    );
    let e = one(&["backend be", "    maxconn 10"]);
    assert_eq!(
        e,
        (2, "'maxconn' not allowed in 'backend' section; use 'maxconn' on 'server' or 'default-server' lines to limit a backend".into())
    );
    let e = one(&["frontend fe", "    bind :10000", "    timeout server 5s"]);
    assert_eq!(
        e.1,
        "'timeout server' not allowed in 'frontend' section; it only applies to backends and listen sections"
    );
    let e = one(&["frontend fe", "    bind :10000", "    option redispatch"]);
    assert_eq!(
        e.1,
        "'option redispatch' not allowed in 'frontend' section; it only applies to backends and listen sections"
    );
    let e = one(&["defaults", "    acl a src 127.0.0.1"]);
    assert_eq!(
        e.1,
        "'acl' not allowed in 'defaults' section; anonymous defaults sections cannot hold ACLs"
    );
}

#[test]
fn section_headers() {
    assert_eq!(
        one(&["frontend"]),
        (1, "'frontend' expects an <id> argument".into())
    );
    let e = one(&["listen app 0.0.0.0:80", "    server s 127.0.0.1:80"]);
    assert_eq!(
        e,
        (1, "'listen' cannot handle unexpected argument '0.0.0.0:80'; please use the 'bind' keyword for listening addresses".into())
    );
    let e = one(&["backend b/c"]);
    assert_eq!(
        e,
        (
            1,
            "'backend' : character '/' is not permitted in 'backend' name 'b/c'".into()
        )
    );
    let e = one(&["backend b from nowhere"]);
    assert_eq!(
        e,
        (
            1,
            "'from' : defaults section 'nowhere' not found for backend 'b'".into()
        )
    );
    let e = one(&["defaults x", "defaults x", "backend b from x"]);
    assert_eq!(e.0, 3);
    assert!(
        e.1.contains("ambiguous defaults section name 'x'"),
        "{}",
        e.1
    );
    assert_eq!(
        one(&["global extra"]),
        (
            1,
            "'global' cannot handle unexpected argument 'extra'".into()
        )
    );
}

#[test]
fn lexer_errors_carry_the_line() {
    let e = one(&["backend b", "    server s \"127.0.0.1:80"]);
    assert_eq!(e, (2, "unmatched quote at position 14".into()));
    let e = one(&["backend b", "    server s \"${X\""]);
    assert_eq!(
        e,
        (
            2,
            "unmatched brace in environment variable name at position 16".into()
        )
    );
}

#[test]
fn unknown_backends() {
    let all = errors(&[
        "frontend fe",
        "    bind :10000",
        "    use_backend missing",
        "    default_backend nope",
        "frontend other",
        "    bind :10001",
        "    default_backend fe",
    ]);
    assert_eq!(
        all,
        [
            (3, "frontend 'fe' : unable to find required use_backend 'missing'".into()),
            (4, "frontend 'fe' : unable to find required default_backend 'nope'".into()),
            (7, "frontend 'other' : unable to find required default_backend 'fe'; 'fe' is a frontend, not a backend".into()),
        ]
    );
}

#[test]
fn use_backend_rule_syntax() {
    let e = one(&[
        "frontend fe",
        "    bind :10000",
        "    use_backend b when x",
        "backend b",
    ]);
    assert_eq!(e, (3, "'use_backend' : unexpected keyword 'when' after switching rule, only 'if' and 'unless' are allowed".into()));
    let e = one(&[
        "frontend fe",
        "    bind :10000",
        "    use_backend bk_%[src",
        "backend b",
    ]);
    assert_eq!(
        e,
        (
            3,
            "'use_backend' : failed to parse use_backend rule 'bk_%[src' : missing ']' after 'src'"
                .into()
        )
    );
    // The condition itself belongs to the ACL module: only check that its verdict is
    // reported on the right line when it rejects one.
    let all = errors(&[
        "frontend fe",
        "    bind :10000",
        "    use_backend b if",
        "backend b",
    ]);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].0, 3);
    assert!(
        all[0]
            .1
            .starts_with("error detected while parsing switching rule : "),
        "{}",
        all[0].1
    );
}

#[test]
fn duplicate_names() {
    let e = one(&[
        "backend a",
        "frontend x",
        "    bind :1",
        "    default_backend a",
        "backend a",
    ]);
    assert_eq!(
        e,
        (
            5,
            "backend 'a' has the same name as backend 'a' declared at t.cfg:1".into()
        )
    );
    let e = one(&["frontend x", "    bind :1", "listen x", "    bind :2"]);
    assert_eq!(
        e,
        (
            3,
            "listen 'x' has the same name as frontend 'x' declared at t.cfg:1".into()
        )
    );
    let e = one(&[
        "backend b",
        "    server s 127.0.0.1:1",
        "    server s 127.0.0.1:2",
    ]);
    assert_eq!(
        e,
        (
            3,
            "server 's' has the same name as server 's' declared at t.cfg:2".into()
        )
    );
    let e = one(&[
        "backend b",
        "    server s 127.0.0.1:1 id 4",
        "    server t 127.0.0.1:2 id 4",
    ]);
    assert_eq!(
        e,
        (
            3,
            "server 't' : custom id 4 already used at t.cfg:2 ('server s')".into()
        )
    );
}

#[test]
fn frontend_without_bind() {
    let e = one(&["frontend fe", "    default_backend b", "backend b"]);
    assert_eq!(
        e,
        (
            1,
            "frontend 'fe' has no 'bind' directive; declare it as a backend if this was intended"
                .into()
        )
    );
}

#[test]
fn server_value_errors() {
    let e = one(&["backend b", "    server s 127.0.0.1:80 weight 300"]);
    assert_eq!(
        e,
        (
            2,
            "'weight' : invalid value '300' : must be between 0 and 256".into()
        )
    );
    let e = one(&["backend b", "    default-server rise 0"]);
    assert_eq!(
        e,
        (
            2,
            "'rise' : invalid value '0' : must be between 1 and 2147483647".into()
        )
    );
    let e = one(&["backend b", "    server s 127.0.0.1:80 fall 0"]);
    assert_eq!(
        e.1,
        "'fall' : invalid value '0' : must be between 1 and 2147483647"
    );
}

#[test]
fn checks_need_a_port() {
    let e = one(&["backend b", "    server s 127.0.0.1 check"]);
    assert_eq!(
        e,
        (2, "server 'b/s' has neither service port nor check port, so it cannot be checked; add 'port <N>' to the server line".into())
    );
    let e = one(&["backend b", "    server s 127.0.0.1:+1 check"]);
    assert_eq!(e.0, 2);
    let e = one(&[
        "backend b",
        "    option tcp-check",
        "    tcp-check connect",
        "    server s 127.0.0.1 check",
    ]);
    assert_eq!(e.0, 4);
    // A port, a check port or a script giving one is enough.
    super::parse(&["backend b", "    server s 127.0.0.1 check port 10080"]);
    super::parse(&["backend b", "    server s 127.0.0.1"]);
}

#[test]
fn track_errors() {
    let base = [
        "backend a",
        "    server s1 127.0.0.1:1 check",
        "    server s2 127.0.0.1:2",
    ];
    let with = |line: &str| {
        let mut v = base.to_vec();
        v.push(line);
        one(&v)
    };
    assert_eq!(
        with("    server t 127.0.0.1:3 track zz"),
        (
            4,
            "server 'a/t' : unable to find required server 'zz' for tracking".into()
        )
    );
    assert_eq!(
        with("    server t 127.0.0.1:3 track b/s1"),
        (
            4,
            "server 'a/t' : unable to find required proxy 'b' for tracking".into()
        )
    );
    assert_eq!(
        with("    server t 127.0.0.1:3 track s2"),
        (
            4,
            "server 'a/t' : unable to use a/s2 for tracking as it does not have any check enabled"
                .into()
        )
    );
    assert_eq!(
        with("    server t 127.0.0.1:3 check track s1"),
        (
            4,
            "server 'a/t' : unable to enable checks and tracking at the same time".into()
        )
    );
    let all = errors(&[
        "backend a",
        "    server x 127.0.0.1:1 track y",
        "    server y 127.0.0.1:2 track x",
    ]);
    assert_eq!(
        all,
        [
            (2, "server 'a/x' : unable to track a/y as it belongs to a tracking chain looping back to a/x".into()),
            (3, "server 'a/y' : unable to track a/x as it belongs to a tracking chain looping back to a/y".into()),
        ]
    );
}

#[test]
fn negation_rules() {
    let e = one(&["defaults", "    no option tcplog"]);
    assert_eq!(
        e,
        (
            2,
            "'option' : negation/default is not supported for option 'tcplog'".into()
        )
    );
    let e = one(&["defaults", "    no retries"]);
    assert_eq!(
        e,
        (
            2,
            "negation/default currently supported only for options and log".into()
        )
    );
    let e = one(&["defaults", "    option"]);
    assert_eq!(e, (2, "'option' expects an option name".into()));
    let e = one(&["defaults", "    option redispach"]);
    assert_eq!(
        e,
        (
            2,
            "'option' : unknown option 'redispach'; did you mean 'redispatch' maybe ?".into()
        )
    );
}

#[test]
fn http_check_rules_without_option() {
    let e = one(&[
        "backend b",
        "    http-check expect status 200",
        "    server s 127.0.0.1:1 check",
    ]);
    assert_eq!(
        e,
        (
            2,
            "'http-check' rules require 'option httpchk' in the same backend or its defaults"
                .into()
        )
    );
}

#[test]
fn global_errors() {
    assert_eq!(
        one(&["global", "    nbthread 0"]),
        (
            2,
            "'nbthread' : invalid value '0' : must be between 1 and 1024".into()
        )
    );
    assert_eq!(one(&["global", "    log global"]).0, 2);
}

#[test]
fn xdp_errors() {
    assert_eq!(
        one(&["xdp", "    pin-path /sys/fs/bpf/x"]),
        (1, "'xdp' section declares no 'interface'".into())
    );
    let e = one(&["xdp", "    interface lo", "xdp"]);
    assert_eq!(
        e,
        (
            3,
            "'xdp' : only one 'xdp' section is allowed (the first one is at t.cfg:1)".into()
        )
    );
}

#[test]
fn directives_are_rejected() {
    let all = errors(&[".if defined(X)", "global", ".endif", ".frob"]);
    assert_eq!(
        all,
        [
            (1, "keyword '.if' is not supported yet (comes with conditional blocks and directives)".into()),
            (3, "keyword '.endif' is not supported yet (comes with conditional blocks and directives)".into()),
            (4, "'.frob' : unknown directive '.frob'".into()),
        ]
    );
}

#[test]
fn every_line_error_is_reported() {
    let all = errors(&[
        "global",
        "    nbthread 0",
        "    bogus",
        "frontend fe",
        "    bind :0",
        "    default_backend none",
        "backend be",
        "    server s 127.0.0.1:1 weight 999",
        "    balance nope",
    ]);
    let lines: Vec<usize> = all.iter().map(|(l, _)| *l).collect();
    // Configuration-wide checks (the missing backend, the frontend left without a valid
    // bind) only run once the lines themselves are valid, as in HAProxy.
    assert_eq!(lines, [2, 3, 5, 8, 9], "{all:#?}");
}

#[test]
fn every_consistency_error_is_reported() {
    let all = errors(&[
        "frontend fe",
        "    default_backend none",
        "backend be",
        "    server s 127.0.0.1 check",
        "    server t 127.0.0.1:1 track nope",
        "backend be",
    ]);
    let lines: Vec<usize> = all.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [1, 2, 4, 5, 6], "{all:#?}");
}

#[test]
fn a_distribution_default_config_lists_what_is_missing() {
    let all = errors(&[
        "global",
        "    log /dev/log local0",
        "    chroot /var/lib/haproxy",
        "    stats socket /run/haproxy/admin.sock mode 660 level admin",
        "    user haproxy",
        "    daemon",
        "defaults",
        "    log global",
        "    mode http",
        "    option httplog",
        "    option dontlognull",
        "    timeout connect 5000",
    ]);
    let want = [
        (
            3,
            "keyword 'chroot' is not supported yet (comes with privilege dropping)",
        ),
        (
            5,
            "keyword 'user' is not supported yet (comes with privilege dropping)",
        ),
    ];
    let want: Vec<(usize, String)> = want.iter().map(|(l, m)| (*l, (*m).to_owned())).collect();
    assert_eq!(all, want);
}
