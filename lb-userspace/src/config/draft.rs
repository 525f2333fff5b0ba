//! A proxy section (`defaults`, `frontend`, `backend`, `listen`) while it is being parsed.
//!
//! A new proxy starts as a copy of its `defaults` section ([`ProxyDraft::inherit`]); its own
//! lines then override or extend the copy. Everything is resolved into the model types by
//! `finalize` once all files are read.

use super::check::CheckDraft;
use super::log::LogLine;
use super::model::{
    Balance, Bind, DEFAULT_RETRIES, HashType, Location, Mode, Timeouts, UseBackend,
};
use super::server::{ServerDraft, ServerOpts};
use super::tcp_rules::TcpDraft;
use crate::acl::AclSet;
use crate::stick::{StickRule, TableCfg};

/// The kind of a proxy section, i.e. its capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProxyKind {
    /// `defaults`: settings for the following proxies.
    Defaults,
    /// `frontend`: accepts connections.
    Frontend,
    /// `backend`: connects to servers.
    Backend,
    /// `listen`: both.
    Listen,
}

impl ProxyKind {
    /// The section keyword.
    pub fn name(self) -> &'static str {
        match self {
            Self::Defaults => "defaults",
            Self::Frontend => "frontend",
            Self::Backend => "backend",
            Self::Listen => "listen",
        }
    }

    /// Whether it has the frontend capability (defaults carry every capability).
    pub fn frontend(self) -> bool {
        !matches!(self, Self::Backend)
    }

    /// Whether it has the backend capability.
    pub fn backend(self) -> bool {
        !matches!(self, Self::Frontend)
    }
}

/// A proxy section being parsed.
#[derive(Debug, Clone)]
pub(crate) struct ProxyDraft {
    pub kind: ProxyKind,
    pub name: String,
    pub location: Location,
    /// The header was invalid: keep parsing its lines for errors, but never emit it.
    pub broken: bool,
    pub mode: Mode,
    pub maxconn: Option<u32>,
    pub timeouts: Timeouts,
    pub default_backend: Option<(String, Location)>,
    pub use_backends: Vec<UseBackend>,
    pub acls: AclSet,
    /// The criterion of each `acl` line, where it is (checked once every name is known).
    pub acl_lines: Vec<(Location, crate::sample::SampleExpr)>,
    pub binds: Vec<Bind>,
    pub balance: Balance,
    pub balance_location: Option<Location>,
    pub hash_type: HashType,
    pub default_server: ServerOpts,
    pub servers: Vec<ServerDraft>,
    pub retries: u32,
    pub redispatch: bool,
    pub allbackups: bool,
    pub tcplog: bool,
    pub check: CheckDraft,
    pub logs: Vec<LogLine>,
    pub stick_table: Option<TableCfg>,
    pub stick_rules: Vec<StickRule>,
    /// `tcp-request` / `tcp-response` rules and inspect delays.
    pub tcp: TcpDraft,
    /// `http-request` / `http-response` / `redirect` rules and captures.
    pub http_rules: super::http_rules::HttpDraft,
    /// Cookie persistence (`cookie`, `option persist`, `force-persist`...).
    pub persist: super::cookie::PersistCfg,
    /// `compression ...`.
    pub compression: Option<super::compression::CompressionCfg>,
    /// HTTP log settings (`option httplog`, `log-format`, `unique-id-format`...).
    pub http_log: super::httplog::HttpLogDraft,
    /// HTTP-mode settings.
    pub http: super::http::HttpProxy,
    /// `option xdp-forward` and its settings.
    pub xdp_forward: super::l4::XdpForwardDraft,
}

impl ProxyDraft {
    /// An empty section with HAProxy's built-in defaults.
    pub fn new(kind: ProxyKind, name: &str, location: Location) -> Self {
        Self {
            kind,
            name: name.to_owned(),
            location,
            broken: false,
            mode: Mode::Tcp,
            maxconn: None,
            timeouts: Timeouts::default(),
            default_backend: None,
            use_backends: Vec::new(),
            acls: AclSet::default(),
            acl_lines: Vec::new(),
            binds: Vec::new(),
            balance: Balance::RoundRobin,
            balance_location: None,
            hash_type: HashType::default(),
            default_server: ServerOpts::default(),
            servers: Vec::new(),
            retries: DEFAULT_RETRIES,
            redispatch: false,
            allbackups: false,
            tcplog: false,
            check: CheckDraft::default(),
            logs: Vec::new(),
            stick_table: None,
            stick_rules: Vec::new(),
            tcp: TcpDraft::default(),
            http_rules: super::http_rules::HttpDraft::default(),
            persist: super::cookie::PersistCfg::default(),
            compression: None,
            http_log: super::httplog::HttpLogDraft::default(),
            http: super::http::HttpProxy::default(),
            xdp_forward: super::l4::XdpForwardDraft::default(),
        }
    }

    /// A new section of `kind` starting from the `defaults` section `from`.
    pub fn inherit(from: &Self, kind: ProxyKind, name: &str, location: Location) -> Self {
        Self {
            kind,
            name: name.to_owned(),
            location,
            broken: false,
            // Rules, listeners and servers are not allowed in defaults: start empty.
            use_backends: Vec::new(),
            acls: AclSet::default(),
            acl_lines: Vec::new(),
            binds: Vec::new(),
            servers: Vec::new(),
            check: from.check.inherited(),
            tcp: from.tcp.inherited(),
            http_rules: from.http_rules.inherited(),
            // Rules are not allowed in defaults; `compression offload` is ignored there.
            persist: super::cookie::PersistCfg {
                rules: Vec::new(),
                ..from.persist.clone()
            },
            http_log: from.http_log.inherited(),
            ..from.clone()
        }
    }
}
