//! The typed configuration model: what the parser produces and the runtime consumes.
//!
//! Every value here is already resolved: `defaults` sections are applied, `default-server`
//! settings are merged into each server, units are converted. A value of these types is a
//! valid configuration (parse, don't validate); cross-references (backend names, `track`)
//! are checked by the parser before a `Config` is returned.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::acl::Condition;
use crate::sample::SampleExpr;

/// Where a config item came from, for error messages and logs (`file:line`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// The config file.
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// A whole parsed configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The `global` section.
    pub global: Global,
    /// Frontends, including the frontend half of each `listen` section, in file order.
    pub frontends: Vec<Frontend>,
    /// Backends, including the backend half of each `listen` section, in file order.
    pub backends: Vec<Backend>,
    /// The `xdp` section (our own keyword): where to attach the XDP program.
    pub xdp: Option<XdpSection>,
    /// Backends balanced by the XDP L4 fast path (`option xdp-forward`, our own keyword).
    pub xdp_forward: Vec<crate::config::l4::XdpForward>,
    /// Stick tables declared outside proxies (`table` lines of `peers` sections).
    pub tables: Vec<crate::stick::TableCfg>,
    /// Warnings: the configuration is valid, but something in it is likely not what was
    /// meant (HAProxy prints these as `[WARNING]` and starts anyway).
    pub warnings: Vec<crate::config::ConfigError>,
}

impl Config {
    /// The backend called `name`, if any.
    pub fn backend(&self, name: &str) -> Option<&Backend> {
        self.backends.iter().find(|b| b.name == name)
    }

    /// Every stick-table declaration: frontends', backends' (a `listen` section's shows in
    /// both halves), then the `peers` sections'.
    pub fn stick_tables(&self) -> impl Iterator<Item = &crate::stick::TableCfg> {
        let frontends = self.frontends.iter().filter_map(|f| f.stick_table.as_ref());
        let backends = self.backends.iter().filter_map(|b| b.stick_table.as_ref());
        frontends.chain(backends).chain(&self.tables)
    }

    /// [`Config::stick_tables`], mutably.
    pub fn stick_tables_mut(&mut self) -> impl Iterator<Item = &mut crate::stick::TableCfg> {
        let frontends = self
            .frontends
            .iter_mut()
            .filter_map(|f| f.stick_table.as_mut());
        let backends = self
            .backends
            .iter_mut()
            .filter_map(|b| b.stick_table.as_mut());
        frontends.chain(backends).chain(&mut self.tables)
    }
}

/// Settings of the `global` section.
#[derive(Debug, Clone, Default)]
pub struct Global {
    /// `nbthread N`: number of workers; `None` means one per core.
    pub nbthread: Option<usize>,
    /// `maxconn N`: process-wide limit on concurrent client connections.
    pub maxconn: Option<u32>,
    /// `daemon`: fork into the background (same as `-D`).
    pub daemon: bool,
    /// `pidfile FILE` (same as `-p`).
    pub pidfile: Option<PathBuf>,
    /// `log ...` lines of the global section (used by proxies with `log global`).
    pub logs: Vec<LogTarget>,
    /// `tune.bufsize N`: per-direction buffer size of a connection, in bytes.
    pub bufsize: usize,
    /// `tune.pipesize N`: size of the pipes used for splice forwarding, if set.
    pub pipesize: Option<usize>,
    /// `nosplice`: disable splice(2) forwarding (`-dS` also does).
    pub nosplice: bool,
    /// `hard-stop-after T`: limit on how long a soft-stop may wait for connections.
    pub hard_stop_after: Option<Duration>,
    /// `stats socket ...` lines: where the runtime API listens.
    pub stats_sockets: Vec<StatsSocket>,
    /// `stats timeout T`: inactivity timeout of runtime API connections (default 10s).
    pub stats_timeout: Option<Duration>,
    /// `stats maxconn N`: concurrent runtime API connections (default 10).
    pub stats_maxconn: Option<u32>,
    /// `tune.http.maxhdr N`: most header fields in a request or response (default 101).
    pub http_maxhdr: Option<usize>,
    /// `tune.comp.maxlevel N` (1 to 9): the compression level (default 1).
    pub comp_maxlevel: Option<u32>,
}

/// Privilege level of a runtime API connection (`level user|operator|admin`), ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum CliLevel {
    /// Read-only commands that show nothing sensitive.
    User,
    /// Also commands that show sensitive data or change non-critical settings (the default).
    #[default]
    Operator,
    /// Every command.
    Admin,
}

/// One `stats socket ADDR [mode OCTAL] [level LEVEL]` line of the global section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsSocket {
    /// Where it listens (a unix socket path or a TCP address).
    pub addr: BindAddr,
    /// `mode`: permissions of a unix socket file; `None` keeps the umask's.
    pub mode: Option<u32>,
    /// `level`: what connections on this socket may do.
    pub level: CliLevel,
    /// Where the line is.
    pub location: Location,
}

/// Default for `tune.bufsize`, as in HAProxy.
pub const DEFAULT_BUFSIZE: usize = 16384;

/// Proxy mode (`mode tcp|http`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Layer 4: bytes in both directions.
    #[default]
    Tcp,
    /// Layer 7 HTTP.
    Http,
}

/// All `timeout` settings a proxy can carry. `None` means "not set" (infinite, as in HAProxy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timeouts {
    /// `timeout connect`: time to establish the server connection.
    pub connect: Option<Duration>,
    /// `timeout client`: client-side inactivity.
    pub client: Option<Duration>,
    /// `timeout server`: server-side inactivity.
    pub server: Option<Duration>,
    /// `timeout tunnel`: inactivity once both sides are connected (TCP mode: replaces
    /// client/server once the connection is established).
    pub tunnel: Option<Duration>,
    /// `timeout client-fin`: client-side inactivity once we shut our side toward the client.
    pub client_fin: Option<Duration>,
    /// `timeout server-fin`: server-side inactivity once we shut our side toward the server.
    pub server_fin: Option<Duration>,
    /// `timeout queue`: max time a connection waits in a server/backend queue.
    pub queue: Option<Duration>,
    /// `timeout check`: extra read timeout of a health check once connected.
    pub check: Option<Duration>,
    /// `timeout http-request`: time to receive a complete request head (HTTP mode).
    pub http_request: Option<Duration>,
    /// `timeout http-keep-alive`: time to wait for the next request (HTTP mode).
    pub http_keep_alive: Option<Duration>,
    /// `timeout tarpit`: how long a tarpitted request is held (HTTP mode).
    pub tarpit: Option<Duration>,
}

/// One `log` line: where to send logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTarget {
    /// Destination.
    pub dest: LogDest,
    /// Syslog facility name (e.g. `local0`), default `user`... as HAProxy requires one for
    /// syslog targets.
    pub facility: Option<String>,
    /// Optional max level (`emerg` .. `debug`).
    pub max_level: Option<String>,
    /// Log line framing (`format rfc3164|rfc5424|raw|short`).
    pub format: LogFormat,
}

/// Where one `log` target writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogDest {
    /// `stdout`.
    Stdout,
    /// `stderr`.
    Stderr,
    /// A UDP syslog server.
    Udp(SocketAddr),
    /// A unix datagram socket (e.g. `/dev/log`).
    Unix(PathBuf),
}

/// The framing of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// BSD syslog (HAProxy's default for network targets).
    #[default]
    Rfc3164,
    /// RFC 5424 syslog.
    Rfc5424,
    /// The bare message.
    Raw,
    /// `<PRI>message`.
    Short,
}

/// A `frontend` (or the front half of a `listen`).
#[derive(Debug, Clone)]
pub struct Frontend {
    /// Proxy name.
    pub name: String,
    /// Where the section starts.
    pub location: Location,
    /// `mode`.
    pub mode: Mode,
    /// `bind` lines.
    pub binds: Vec<Bind>,
    /// `maxconn`: concurrent connections this frontend accepts before pausing.
    pub maxconn: Option<u32>,
    /// Timeouts (from `defaults` then the section).
    pub timeouts: Timeouts,
    /// `default_backend`.
    pub default_backend: Option<String>,
    /// `use_backend` rules, evaluated in order.
    pub use_backends: Vec<UseBackend>,
    /// Log targets (`log global` already expanded).
    pub logs: Vec<LogTarget>,
    /// `option tcplog`.
    pub tcplog: bool,
    /// `tcp-request` / `tcp-response` rules.
    pub rules: crate::rules::ProxyRules,
    /// `stick-table` of this proxy, if any.
    pub stick_table: Option<crate::stick::TableCfg>,
    /// `http-request`, `redirect`, `http-response`, `http-after-response` rules.
    pub http_rules: crate::http_rules::HttpRules,
    /// `capture request|response header` and `declare capture` slots.
    pub http_captures: crate::http_rules::HttpCaptures,
    /// `compression ...` of the frontend (a backend's own settings win).
    pub compression: Option<crate::config::compression::CompressionCfg>,
    /// HTTP log settings: `option httplog`, `log-format`, `unique-id-*`, `capture cookie`.
    pub http_log: crate::config::httplog::HttpLogCfg,
    /// HTTP-mode settings (`option forwardfor`, `monitor-uri`, `errorfile`...).
    pub http: crate::config::http::HttpProxy,
}

/// One `use_backend NAME [if|unless COND]` rule.
#[derive(Debug, Clone)]
pub struct UseBackend {
    /// The backend to use.
    pub backend: BackendRef,
    /// The condition; `None` means always.
    pub cond: Option<Condition>,
    /// Where the rule is.
    pub location: Location,
}

/// The backend a `use_backend` rule names.
#[derive(Debug, Clone)]
pub enum BackendRef {
    /// A name, checked when the configuration is loaded.
    Static(String),
    /// A log-format name (`%[req.ssl_sni,lower]`) computed per stream; when no backend
    /// has the resulting name, the frontend's `default_backend` is used, as in HAProxy.
    Dynamic(crate::logformat::LogFormat),
}

/// One address of a `bind` line, expanded (a port range gives several).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindAddr {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A unix stream socket path.
    Unix(PathBuf),
}

/// A `bind` line.
#[derive(Debug, Clone)]
pub struct Bind {
    /// Addresses: comma lists and port ranges expanded.
    pub addrs: Vec<BindAddr>,
    /// `name NAME`.
    pub name: Option<String>,
    /// `accept-proxy`: connections start with a PROXY protocol header.
    pub accept_proxy: bool,
    /// Where the line is.
    pub location: Location,
    /// Elements with an address prefix or a port range (`127.0.0.0/24:8000-8999`), served
    /// through `sk_lookup` when eBPF is available, else expanded (see `worker::listener`).
    pub ranges: Vec<BindRange>,
    /// `steer POLICY`: how the kernel picks the worker of a new connection.
    pub steer: SteerPolicy,
}

/// An address prefix and a port range of a `bind` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindRange {
    /// The prefix's first address (host bits zero).
    pub addr: std::net::IpAddr,
    /// Prefix length (32 or 128: a single address).
    pub prefix_len: u8,
    /// First port.
    pub first_port: u16,
    /// Last port (inclusive).
    pub last_port: u16,
}

/// `steer` policies of a `bind` line (our own keyword; HAProxy has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SteerPolicy {
    /// The flow's 4-tuple hash picks the worker: stable, and the default.
    #[default]
    Hash,
    /// The less loaded (active connections) of two random workers.
    LeastLoaded,
    /// The worker whose number is the CPU that received the connection (modulo workers);
    /// workers are then pinned to their CPU.
    Cpu,
}

/// `balance` algorithms.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Balance {
    /// Smooth weighted round robin with dynamic weights.
    #[default]
    RoundRobin,
    /// Static weighted round robin.
    StaticRr,
    /// Fewest current connections (weighted).
    LeastConn,
    /// First server with free slots, in id order.
    First,
    /// Hash of the source address.
    Source,
    /// Random with `draws` (power of N choices); `random` alone is `draws = 2`.
    Random {
        /// Number of draws.
        draws: u32,
    },
    /// `hash <expr>`.
    Hash(SampleExpr),
    /// `rdp-cookie[(NAME)]`: hash of the RDP cookie's value (round robin without one).
    RdpCookie {
        /// The cookie name (`mstshash` by default).
        name: String,
        /// `req.rdp_cookie(NAME)`: what is hashed.
        key: SampleExpr,
    },
    /// `uri [len N] [depth N] [whole] [path-only]` (HTTP): hash of the request target.
    Uri(crate::backend::balance::http::UriHash),
    /// `url_param NAME [check_post]` (HTTP): hash of a query (or form) parameter.
    UrlParam {
        /// The parameter name.
        name: String,
        /// `check_post`: also look in a buffered `POST` body.
        check_post: bool,
    },
    /// `hdr(NAME) [use_domain_only]` (HTTP): hash of a header's first value.
    Hdr {
        /// The header name (lowercase).
        name: String,
        /// `use_domain_only`: only the main domain name part (`1wt` of `www.1wt.eu`).
        use_domain_only: bool,
    },
}

impl Balance {
    /// Whether the algorithm reads HTTP data (it needs `mode http`).
    pub fn needs_http(&self) -> bool {
        matches!(
            self,
            Self::Uri(_) | Self::UrlParam { .. } | Self::Hdr { .. }
        )
    }
}

/// `hash-type` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HashType {
    /// `map-based` or `consistent`.
    pub method: HashMethod,
    /// The hash function (`sdbm`, the default, `djb2`, `wt6`, `crc32`, `none`).
    pub function: HashFunction,
    /// `avalanche` modifier.
    pub avalanche: bool,
}

/// How a hash maps to servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashMethod {
    /// Modulo over the weighted server list (remaps everything on change).
    #[default]
    MapBased,
    /// A consistent-hash ring (remaps about 1/N of the keys on change).
    Consistent,
}

/// Hash functions for `hash-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashFunction {
    /// SDBM (HAProxy's default).
    #[default]
    Sdbm,
    /// DJB2.
    Djb2,
    /// WT6.
    Wt6,
    /// CRC32.
    Crc32,
    /// Use the key as the hash (integer keys).
    None,
}

/// How a server's port is derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerPort {
    /// A fixed port.
    Fixed(u16),
    /// `:+N` / `:-N`: the client's destination port plus an offset.
    Offset(i32),
    /// No port: the client's destination port.
    SameAsClient,
}

/// One `server` line with `default-server` settings merged in.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    /// Server name, unique within the backend.
    pub name: String,
    /// Numeric id (1-based order in the backend, or `id N`).
    pub id: u32,
    /// Address (IP; the port part of this value is ignored, see `port`).
    pub addr: std::net::IpAddr,
    /// Port rule.
    pub port: ServerPort,
    /// `check`: health checks enabled.
    pub check: bool,
    /// `inter`: check interval while up.
    pub inter: Duration,
    /// `fastinter`: interval while transitioning (defaults to `inter`).
    pub fastinter: Duration,
    /// `downinter`: interval while down (defaults to `inter`).
    pub downinter: Duration,
    /// `rise`: consecutive successes to be considered up.
    pub rise: u32,
    /// `fall`: consecutive failures to be considered down.
    pub fall: u32,
    /// `weight` (0..=256).
    pub weight: u32,
    /// `backup`.
    pub backup: bool,
    /// `maxconn`: concurrent connections to this server (0 = unlimited).
    pub maxconn: u32,
    /// `disabled`: start in maintenance.
    pub disabled: bool,
    /// `slowstart`: ramp-up time of the weight after coming up.
    pub slowstart: Option<Duration>,
    /// `addr`: address to check instead of the server address.
    pub check_addr: Option<std::net::IpAddr>,
    /// `port`: port to check instead of the server port.
    pub check_port: Option<u16>,
    /// `track [BACKEND/]SERVER`: follow another server's check state.
    pub track: Option<TrackRef>,
    /// `send-proxy` / `send-proxy-v2`: announce the client with a PROXY protocol header.
    pub send_proxy: Option<ProxyVersion>,
    /// `cookie VALUE`: the persistence cookie value of this server (several servers may
    /// share one); with `cookie ... dynamic`, a derived value when unset.
    pub cookie: Option<String>,
    /// `non-stick`: connections to this server are never stored in stick tables.
    pub non_stick: bool,
    /// `proto h2`: HTTP/2 to this server (HTTP mode; `proto h1` or nothing is HTTP/1.1).
    pub proto_h2: bool,
    /// `pool-max-conn`: idle connections each worker may keep (`None`: no fixed limit,
    /// only the estimated need; HAProxy's -1).
    pub pool_max_conn: Option<u32>,
    /// `pool-purge-delay`: period of the idle pool's need estimate and purge (5s).
    pub pool_purge_delay: Duration,
    /// Where the line is.
    pub location: Location,
}

/// PROXY protocol versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyVersion {
    /// Text header (`send-proxy`).
    V1,
    /// Binary header (`send-proxy-v2`).
    V2,
}

/// A `track` reference, resolved to names that exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackRef {
    /// The backend holding the tracked server.
    pub backend: String,
    /// The tracked server.
    pub server: String,
}

/// Default values for servers, as in HAProxy.
pub mod server_defaults {
    use std::time::Duration;
    /// `inter` default.
    pub const INTER: Duration = Duration::from_secs(2);
    /// `rise` default.
    pub const RISE: u32 = 2;
    /// `pool-purge-delay` default.
    pub const POOL_PURGE_DELAY: Duration = Duration::from_secs(5);
    /// `fall` default.
    pub const FALL: u32 = 3;
    /// `weight` default.
    pub const WEIGHT: u32 = 1;
}

/// What a health check does.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum CheckKind {
    /// Plain TCP connect.
    #[default]
    Tcp,
    /// `option httpchk` with its `http-check` rules.
    Http(HttpCheck),
    /// `option tcp-check` with its `tcp-check` rules.
    TcpScript(Vec<TcpCheckRule>),
}

/// `option httpchk [METH] [URI] [VER]` plus `http-check send` / `http-check expect`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpCheck {
    /// Request method.
    pub method: String,
    /// Request URI.
    pub uri: String,
    /// HTTP version string (e.g. `HTTP/1.1`).
    pub version: String,
    /// Extra headers from `http-check send hdr NAME VALUE`.
    pub headers: Vec<(String, String)>,
    /// Request body from `http-check send body STR`.
    pub body: Option<String>,
    /// `http-check expect`; `None` means "2xx or 3xx", as in HAProxy.
    pub expect: Option<HttpExpect>,
}

impl Default for HttpCheck {
    fn default() -> Self {
        Self {
            method: "OPTIONS".into(),
            uri: "/".into(),
            version: "HTTP/1.0".into(),
            headers: Vec::new(),
            body: None,
            expect: None,
        }
    }
}

/// `http-check expect [!] status|rstatus|string|rstring PATTERN`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpExpect {
    /// `!` inverts the match.
    pub inverted: bool,
    /// What is matched.
    pub matcher: HttpExpectMatch,
}

/// What `http-check expect` matches.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpExpectMatch {
    /// `status CODES`: one code, a comma list, or ranges like `200-399`.
    Status(Vec<(u16, u16)>),
    /// `rstatus REGEX` on the status code text.
    RStatus(String),
    /// `string STR` in the body.
    String(String),
    /// `rstring REGEX` on the body.
    RString(String),
}

/// One `tcp-check` rule.
#[derive(Debug, Clone, PartialEq)]
pub enum TcpCheckRule {
    /// `tcp-check connect [port N] [addr IP] [send-proxy]`.
    Connect {
        /// Port override.
        port: Option<u16>,
        /// Address override.
        addr: Option<std::net::IpAddr>,
        /// `default`: the server's check settings apply (its PROXY header included).
        default: bool,
        /// `send-proxy`: start the connection with a PROXY header in any case.
        send_proxy: bool,
    },
    /// `tcp-check send STRING` / `send-binary HEX` (already decoded).
    Send(Vec<u8>),
    /// `tcp-check expect [!] string|rstring|binary PATTERN`.
    Expect {
        /// `!` inverts.
        inverted: bool,
        /// The pattern.
        pattern: TcpExpectPattern,
    },
}

/// What a `tcp-check expect` looks for in the received bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum TcpExpectPattern {
    /// Substring.
    String(Vec<u8>),
    /// Regex over the received bytes (lossy UTF-8).
    RString(String),
    /// Binary substring (from hex).
    Binary(Vec<u8>),
}

/// A `backend` (or the back half of a `listen`).
#[derive(Debug, Clone)]
pub struct Backend {
    /// Proxy name.
    pub name: String,
    /// Where the section starts.
    pub location: Location,
    /// `mode`.
    pub mode: Mode,
    /// `balance`.
    pub balance: Balance,
    /// Where the `balance` line is (in a `defaults` section when inherited); `None`
    /// when the default algorithm applies.
    pub balance_location: Option<Location>,
    /// `hash-type`.
    pub hash_type: HashType,
    /// Servers, in file order.
    pub servers: Vec<Server>,
    /// `retries N` (default 3).
    pub retries: u32,
    /// `option redispatch`.
    pub redispatch: bool,
    /// `option allbackups`.
    pub allbackups: bool,
    /// Timeouts (from `defaults` then the section).
    pub timeouts: Timeouts,
    /// Health check protocol.
    pub check: CheckKind,
    /// Log targets (`log global` already expanded).
    pub logs: Vec<LogTarget>,
    /// `option tcplog` (used for the backend half of a `listen`).
    pub tcplog: bool,
    /// `tcp-request content` / `tcp-response content` rules of the backend.
    pub rules: crate::rules::ProxyRules,
    /// `http-request`, `redirect`, `http-response`, `http-after-response` rules (the
    /// same lists as the frontend half's in a `listen` section: run them once).
    pub http_rules: crate::http_rules::HttpRules,
    /// `stick-table` of this proxy, if any.
    pub stick_table: Option<crate::stick::TableCfg>,
    /// `stick on|match|store-request` rules (at most 8... as HAProxy allows).
    pub stick_rules: Vec<crate::stick::StickRule>,
    /// Cookie persistence: `cookie`, `dynamic-cookie-key`, `option persist`,
    /// `force-persist` / `ignore-persist`.
    pub persist: crate::config::cookie::PersistCfg,
    /// `compression ...` of the backend.
    pub compression: Option<crate::config::compression::CompressionCfg>,
    /// HTTP-mode settings (`http-reuse`, `retry-on`, `option forwardfor`, `errorfile`...).
    pub http: crate::config::http::HttpProxy,
}

/// Default `retries`, as in HAProxy.
pub const DEFAULT_RETRIES: u32 = 3;

/// The `xdp` section: our own keywords for the kernel fast path.
///
/// ```text
/// xdp
///     interface eth0 [mode native|generic|auto]
///     pin-path /sys/fs/bpf/lb
///     required
///     protected-ports 80 443 8000-8010
///     syn-rate 100 burst 200
///     syn-global-rate 50000
///     deny 192.0.2.0/24 | deny -f /etc/lb/deny.lst
///     allow 10.0.0.0/8 | allow -f /etc/lb/allow.lst
///     malformed drop|pass
///     fragments drop|pass
///     tcp-sanity on|off
///     syn-cookies check|set|off
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XdpSection {
    /// Interfaces to attach to, with the attach mode.
    pub interfaces: Vec<XdpInterface>,
    /// Directory under bpffs where maps are pinned (default `/sys/fs/bpf/lb`).
    pub pin_path: PathBuf,
    /// `required`: refuse to start if the XDP program cannot be loaded or attached.
    pub required: bool,
    /// Where the section starts.
    pub location: Location,
    /// `protected-ports`: TCP destination ports guarded by the SYN budgets and the TCP
    /// sanity checks, as inclusive ranges; `None`: the ports of every TCP `bind`.
    pub protected_ports: Option<Vec<(u16, u16)>>,
    /// `syn-rate`: SYNs per second (and burst) per source, IPv4 /32 or IPv6 /64.
    pub syn_rate: Option<XdpRate>,
    /// `syn-global-rate`: SYNs per second (and burst) for the whole host.
    pub syn_global_rate: Option<XdpRate>,
    /// `deny`: sources dropped in XDP (never expiring), in config order.
    pub deny: Vec<XdpCidr>,
    /// `allow`: sources passed without further checks (never expiring).
    pub allow: Vec<XdpCidr>,
    /// `malformed drop`: drop malformed frames in XDP (default `pass`).
    pub malformed_drop: bool,
    /// `fragments drop`: drop TCP fragments aimed at protected ports (default `pass`).
    pub fragments_drop: bool,
    /// `tcp-sanity on|off`: drop invalid TCP flags and offsets to protected ports (default on).
    pub tcp_sanity: bool,
    /// `syn-cookies check|set|off`: what `lb` does with `net.ipv4.tcp_syncookies`.
    pub syn_cookies: SynCookiesPolicy,
}

/// A SYN budget of the `xdp` section: `rate` per second, bursts of `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XdpRate {
    /// SYNs per second.
    pub rate: u64,
    /// Bucket size (`burst N`; default: one second of `rate`).
    pub burst: u64,
}

/// One `deny`/`allow` entry of the `xdp` section, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XdpCidr {
    /// The prefix.
    pub cidr: crate::ebpf::Cidr,
    /// The config line, or the line of the `-f` file.
    pub location: Location,
}

/// `syn-cookies`: how `lb` treats the kernel's SYN-cookie sysctl at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SynCookiesPolicy {
    /// Warn when `net.ipv4.tcp_syncookies` is 0 (the default).
    #[default]
    Check,
    /// Write 1 to `net.ipv4.tcp_syncookies` when it is 0 (2 is left alone).
    Set,
    /// Neither read nor write it.
    Off,
}

/// One `interface NAME [mode ...]` line of the `xdp` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XdpInterface {
    /// Interface name.
    pub name: String,
    /// Attach mode.
    pub mode: XdpMode,
}

/// How the XDP program is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XdpMode {
    /// Native (driver) mode, falling back to generic with a log line.
    #[default]
    Auto,
    /// Native (driver) mode only.
    Native,
    /// Generic (skb) mode.
    Generic,
}

/// Default pin directory of the eBPF maps.
pub const DEFAULT_PIN_PATH: &str = "/sys/fs/bpf/lb";
