//! Real HAProxy 2.6 keywords that `lb` does not implement yet, with the feature that will
//! bring them: such a keyword is reported as "not supported yet", never ignored, and an
//! unknown word gets a did-you-mean suggestion drawn from these tables too.

/// One group of keywords and the feature they belong to. A name ending in `*` is a prefix.
pub(crate) type Table = &'static [(&'static [&'static str], &'static str)];

/// HTTP-mode keywords HTTP mode did not bring: no feature is promised for them (the
/// message says "not supported yet" and nothing more).
const HTTP: &str = "";
const SSL: &str = "SSL/TLS";
const LOG_FMT: &str = "custom log formats";
const TCP_TUNING: &str = "TCP socket tuning";
const OTHER_CHECKS: &str = "more health check protocols";
const PROXY_PROTO: &str = "the PROXY protocol";

/// `global` section keywords.
#[rustfmt::skip]
pub(crate) const GLOBAL: Table = &[
    (&["user", "group", "uid", "gid", "chroot", "setcap", "insecure-setuid-wanted"], "privilege dropping"),
    (&["ca-base", "crt-base", "issuers-chain-path", "ssl-*", "tune.ssl.*"], SSL),
    (&["lua-load", "lua-load-per-thread", "lua-prepend-path", "tune.lua.*"], "Lua scripting"),
    (&["cpu-map", "numa-cpu-mapping", "thread-group", "thread-groups"], "CPU pinning"),
    (&["master-worker", "mworker-max-reloads"], "master-worker mode"),
    (&["ulimit-n", "fd-hard-limit"], "file descriptor limits"),
    (&["log-send-hostname", "log-tag", "node", "description"], "log tags and node names"),
    (&["maxconnrate", "maxsessrate", "maxsslrate", "maxpipes", "maxsslconn"], "global rate limits"),
    (&["maxcomprate", "maxcompcpuusage", "maxzlibmem"], HTTP),
    (&["spread-checks", "max-spread-checks"], "check spreading"),
    (&["noepoll", "nopoll", "nokqueue", "noevports", "busy-polling", "noreuseport", "nogetaddrinfo"], "poller tuning"),
    (&["setenv", "presetenv", "resetenv", "unsetenv"], "environment directives"),
    (&["h1-case-adjust", "h1-case-adjust-file", "h1-accept-payload-with-any-method"], HTTP),
    (&["h2-workaround-bogus-websocket-clients", "httpclient.*", "tune.http.*", "tune.h2.*"], HTTP),
    (&["debug", "quiet", "zero-warning", "anonkey"], "diagnostic flags"),
    (&["unix-bind"], "unix socket permissions"),
    (&["localpeer"], "peers"),
    (&["external-check", "insecure-fork-wanted"], "external checks"),
    (&["server-state-file", "server-state-base"], "server state files"),
    (&["profiling.*"], "profiling"),
    (&["set-dumpable", "strict-limits", "expose-experimental-directives", "default-path"], "process settings"),
    (&["pp2-never-send-local"], PROXY_PROTO),
    (&["grace", "cluster-secret", "set-var", "set-var-fmt", "trace", "quick-exit"], "process settings"),
    (&["close-spread-time", "no-memory-trimming", "prealloc-fd"], "process settings"),
    (&["51degrees-*", "deviceatlas-*", "wurfl-*"], "device detection"),
    (&["tune.*"], "more tuning parameters"),
];

/// Proxy section keywords (`defaults`, `frontend`, `backend`, `listen`).
#[rustfmt::skip]
pub(crate) const PROXY: Table = &[
    (&["http-error", "max-keep-alive-queue", "max-session-srv-conns"], HTTP),
    (&["use-fcgi-app"], "FastCGI"),
    (&["stats"], "the HTTP statistics page"),
    (&["persist", "use-server"], "stick tables and persistence"),
    (&["log-format-sd", "error-log-format", "log-tag"], LOG_FMT),
    (&["backlog"], "listen backlog tuning"),
    (&["dispatch"], "dispatch mode"),
    (&["email-alert"], "email alerts"),
    (&["filter"], "filters"),
    (&["fullconn"], "dynamic server limits (minconn/fullconn)"),
    (&["hash-balance-factor"], "bounded-load consistent hashing"),
    (&["id", "description"], "proxy ids and descriptions"),
    (&["disabled", "enabled"], "disabled proxies"),
    (&["load-server-state-from-file", "server-state-file-name"], "server state files"),
    (&["rate-limit"], "rate limiting"),
    (&["server-template"], "server templates and DNS resolvers"),
    (&["source"], "source address selection"),
    (&["clitcpka-cnt", "clitcpka-idle", "clitcpka-intvl"], TCP_TUNING),
    (&["srvtcpka-cnt", "srvtcpka-idle", "srvtcpka-intvl"], TCP_TUNING),
    (&["external-check"], "external checks"),
    (&["grace"], "soft-stop grace periods"),
];

/// `option` names.
#[rustfmt::skip]
pub(crate) const OPTIONS: Table = &[
    (&["httpslog"], SSL),
    (&["http-pretend-keepalive", "http-ignore-probes", "http-no-delay"], HTTP),
    (&["http-use-proxy-header", "http-restrict-req-hdr-names", "originalto"], HTTP),
    (&["accept-invalid-http-request", "accept-invalid-http-response", "disable-h2-upgrade"], HTTP),
    (&["h1-case-adjust-bogus-client", "h1-case-adjust-bogus-server", "idle-close-on-response"], HTTP),
    (&["http_proxy"], HTTP),
    (&["dontlog-normal", "logasap", "log-health-checks"], "logging options"),
    (&["ssl-hello-chk", "smtpchk", "mysql-check", "pgsql-check", "redis-check", "ldap-check"], OTHER_CHECKS),
    (&["spop-check", "external-check"], OTHER_CHECKS),
    (&["tcpka", "clitcpka", "srvtcpka", "nolinger", "tcp-smart-accept", "tcp-smart-connect"], TCP_TUNING),
    (&["splice-auto", "splice-request", "splice-response"], "splice tuning"),
    (&["independent-streams", "abortonclose"], "stream options"),
    (&["socket-stats", "contstats"], "statistics"),
    (&["persist", "prefer-last-server"], "stick tables and persistence"),
    (&["transparent"], "transparent proxying"),
];

/// `bind` line options.
#[rustfmt::skip]
pub(crate) const BIND: Table = &[
    (&["ssl", "crt", "crt-list", "ca-file", "ca-ignore-err", "ca-sign-file", "ca-sign-pass"], SSL),
    (&["ca-verify-file", "ciphers", "ciphersuites", "client-sigalgs", "crl-file"], SSL),
    (&["crt-ignore-err", "curves", "ecdhe", "force-sslv3", "force-tlsv10", "force-tlsv11"], SSL),
    (&["force-tlsv12", "force-tlsv13", "generate-certificates", "no-ca-names", "no-sslv3"], SSL),
    (&["no-tls-tickets", "no-tlsv10", "no-tlsv11", "no-tlsv12", "no-tlsv13", "npn", "alpn"], SSL),
    (&["prefer-client-ciphers", "sigalgs", "ssl-max-ver", "ssl-min-ver", "strict-sni"], SSL),
    (&["tls-ticket-keys", "verify", "allow-0rtt"], SSL),
    (&["accept-netscaler-cip"], "NetScaler client IP insertion"),
    (&["backlog", "defer-accept", "interface", "mss", "tcp-ut", "tfo", "transparent", "namespace"], TCP_TUNING),
    (&["v4v6", "v6only"], TCP_TUNING),
    (&["maxconn", "id", "nice"], "per-listener settings"),
    (&["process", "thread", "shards"], "listener thread binding"),
    (&["mode", "uid", "gid", "user", "group"], "unix socket permissions"),
    (&["level", "severity-output", "expose-fd"], "the runtime API (stats socket)"),
    (&["proto", "quic-cc-algo", "quic-force-retry"], "QUIC and custom protocols"),
];

/// `server` / `default-server` options.
#[rustfmt::skip]
pub(crate) const SERVER: Table = &[
    (&["ssl", "no-ssl", "ca-file", "ciphers", "ciphersuites", "client-sigalgs", "crl-file", "crt"], SSL),
    (&["curves", "sigalgs", "sni", "verify", "verifyhost", "no-verifyhost", "ssl-reuse", "no-ssl-reuse"], SSL),
    (&["ssl-max-ver", "ssl-min-ver", "no-sslv3", "no-tls-tickets", "tls-tickets", "force-sslv3"], SSL),
    (&["force-tlsv10", "force-tlsv11", "force-tlsv12", "force-tlsv13", "no-tlsv10", "no-tlsv11"], SSL),
    (&["no-tlsv12", "no-tlsv13", "alpn", "npn", "allow-0rtt", "check-ssl", "no-check-ssl"], SSL),
    (&["check-sni", "check-alpn"], SSL),
    (&["send-proxy-v2-ssl", "send-proxy-v2-ssl-cn", "no-send-proxy-v2-ssl", "no-send-proxy-v2-ssl-cn"], SSL),
    (&["proxy-v2-options", "check-send-proxy"], PROXY_PROTO),
    (&["agent-check", "no-agent-check", "agent-addr", "agent-inter", "agent-port", "agent-send"], "agent checks"),
    (&["error-limit", "observe", "on-error", "on-marked-down", "on-marked-up"], "observe/on-error reactions"),
    (&["init-addr", "resolvers", "resolve-net", "resolve-opts", "resolve-prefer"], "server templates and DNS resolvers"),
    (&["maxqueue", "minconn"], "dynamic server limits (minconn/fullconn)"),
    (&["max-reuse", "pool-low-conn", "redir", "ws"], HTTP),
    (&["check-proto", "proto", "log-proto"], "QUIC and custom protocols"),
    (&["check-via-socks4", "socks4"], "SOCKS4 servers"),
    (&["namespace", "source", "usesrc", "interface", "tcp-ut", "tfo", "no-tfo"], TCP_TUNING),
    (&["shard"], "peers"),
    (&["hash-key"], "consistent hash keys"),
];

/// The feature bringing `keyword`, when `table` lists it.
pub(crate) fn feature(table: Table, keyword: &str) -> Option<&'static str> {
    table.iter().find_map(|(names, feature)| {
        let hit = names.iter().any(|n| match n.strip_suffix('*') {
            Some(prefix) => keyword.starts_with(prefix),
            None => *n == keyword,
        });
        hit.then_some(*feature)
    })
}

/// The exact (non-prefix) names of `table`, for suggestions.
pub(crate) fn names(table: Table) -> impl Iterator<Item = &'static str> {
    table
        .iter()
        .flat_map(|(names, _)| names.iter().copied())
        .filter(|n| !n.ends_with('*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(feature(GLOBAL, "user"), Some("privilege dropping"));
        assert_eq!(feature(GLOBAL, "tune.ssl.default-dh-param"), Some(SSL));
        assert_eq!(
            feature(GLOBAL, "tune.maxaccept"),
            Some("more tuning parameters")
        );
        assert_eq!(feature(GLOBAL, "bogus"), None);
        assert_eq!(feature(OPTIONS, "httplog"), None);
        assert_eq!(feature(OPTIONS, "http-no-delay"), Some(HTTP));
        assert_eq!(feature(SERVER, "proxy-v2-options"), Some(PROXY_PROTO));
        assert_eq!(feature(SERVER, "send-proxy"), None);
        assert_eq!(feature(BIND, "accept-proxy"), None);
        assert!(names(GLOBAL).all(|n| !n.ends_with('*')));
        assert!(names(GLOBAL).any(|n| n == "chroot"));
    }
}
