//! The `%xx` aliases of log-format strings (HAProxy's log-format variables).

/// A log-format alias (`%ci`, `%Tw`, `%b`, ...), as HAProxy 2.6 defines them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Alias {
    /// `%B`: bytes from server to client.
    Bytes,
    /// `%CC`: captured request cookie (HTTP).
    CapturedRequestCookie,
    /// `%CS`: captured response cookie (HTTP).
    CapturedResponseCookie,
    /// `%H`: host name of the machine.
    Hostname,
    /// `%HM`: HTTP method.
    HttpMethod,
    /// `%HP`: HTTP path (relative or absolute).
    HttpPath,
    /// `%HPO`: HTTP path only (no host, no query).
    HttpPathOnly,
    /// `%HQ`: HTTP query string.
    HttpQuery,
    /// `%HU`: HTTP URI.
    HttpUri,
    /// `%HV`: HTTP version.
    HttpVersion,
    /// `%ID`: unique id.
    UniqueId,
    /// `%ST`: status code.
    Status,
    /// `%T`: date, GMT.
    DateGmt,
    /// `%Ta`: total active time of the request (HTTP).
    TimeActive,
    /// `%Tc`: time to connect to the server.
    TimeConnect,
    /// `%Td`: data transmission time.
    TimeData,
    /// `%Th`: handshake time.
    TimeHandshake,
    /// `%Ti`: idle time before the request (HTTP).
    TimeIdle,
    /// `%Tl`: date, local time zone.
    DateLocal,
    /// `%Tq`: time to get the request (HTTP).
    TimeRequestQ,
    /// `%TR`: time to receive the full request (HTTP).
    TimeRequest,
    /// `%Tr`: server response time (HTTP).
    TimeResponse,
    /// `%Ts`: timestamp.
    Timestamp,
    /// `%Tt`: total session time.
    TimeTotal,
    /// `%Tu`: total time minus idle time.
    TimeUser,
    /// `%Tw`: time spent in queues.
    TimeWait,
    /// `%U`: bytes from client to server.
    BytesUp,
    /// `%ac`: active connections of the process.
    ActConn,
    /// `%b`: backend name.
    Backend,
    /// `%bc`: backend connections.
    BeConn,
    /// `%bi`: backend source IP (toward the server).
    BackendIp,
    /// `%bp`: backend source port.
    BackendPort,
    /// `%bq`: backend queue.
    BackendQueue,
    /// `%ci`: client IP.
    ClientIp,
    /// `%cp`: client port.
    ClientPort,
    /// `%f`: frontend name.
    Frontend,
    /// `%fc`: frontend connections.
    FeConn,
    /// `%fi`: frontend IP (the address the client reached).
    FrontendIp,
    /// `%fp`: frontend port.
    FrontendPort,
    /// `%ft`: frontend name with transport (`~` for SSL).
    FrontendTransport,
    /// `%hr`: captured request headers (HTTP).
    RequestHeaders,
    /// `%hrl`: captured request headers, as a list (HTTP).
    RequestHeaderList,
    /// `%hs`: captured response headers (HTTP).
    ResponseHeaders,
    /// `%hsl`: captured response headers, as a list (HTTP).
    ResponseHeaderList,
    /// `%lc`: log counter.
    LogCounter,
    /// `%ms`: milliseconds of the accept date.
    AcceptMs,
    /// `%pid`: process id.
    Pid,
    /// `%r`: HTTP request line.
    RequestLine,
    /// `%rc`: retries.
    Retries,
    /// `%rt`: request counter.
    RequestCounter,
    /// `%s`: server name.
    Server,
    /// `%sc`: server connections.
    SrvConn,
    /// `%si`: server IP.
    ServerIp,
    /// `%sp`: server port.
    ServerPort,
    /// `%sq`: server queue.
    ServerQueue,
    /// `%sslc`: SSL cipher.
    SslCipher,
    /// `%sslv`: SSL version.
    SslVersion,
    /// `%t`: accept date.
    Date,
    /// `%tr`: date of the start of the request (HTTP).
    RequestDate,
    /// `%trg`: the same, GMT (HTTP).
    RequestDateGmt,
    /// `%trl`: the same, local time (HTTP).
    RequestDateLocal,
    /// `%ts`: termination state.
    TermState,
    /// `%tsc`: termination state with cookie status.
    TermStateCookie,
}

/// Name, alias, reserved for HTTP mode.
const TABLE: &[(&str, Alias, bool)] = &[
    ("B", Alias::Bytes, false),
    ("CC", Alias::CapturedRequestCookie, true),
    ("CS", Alias::CapturedResponseCookie, true),
    ("H", Alias::Hostname, false),
    ("HM", Alias::HttpMethod, true),
    ("HP", Alias::HttpPath, true),
    ("HPO", Alias::HttpPathOnly, true),
    ("HQ", Alias::HttpQuery, true),
    ("HU", Alias::HttpUri, true),
    ("HV", Alias::HttpVersion, true),
    ("ID", Alias::UniqueId, false),
    ("ST", Alias::Status, false),
    ("T", Alias::DateGmt, false),
    ("Ta", Alias::TimeActive, true),
    ("Tc", Alias::TimeConnect, false),
    ("Td", Alias::TimeData, false),
    ("Th", Alias::TimeHandshake, false),
    ("Ti", Alias::TimeIdle, true),
    ("Tl", Alias::DateLocal, false),
    ("Tq", Alias::TimeRequestQ, true),
    ("TR", Alias::TimeRequest, true),
    ("Tr", Alias::TimeResponse, true),
    ("Ts", Alias::Timestamp, false),
    ("Tt", Alias::TimeTotal, false),
    ("Tu", Alias::TimeUser, false),
    ("Tw", Alias::TimeWait, false),
    ("U", Alias::BytesUp, false),
    ("ac", Alias::ActConn, false),
    ("b", Alias::Backend, false),
    ("bc", Alias::BeConn, false),
    ("bi", Alias::BackendIp, false),
    ("bp", Alias::BackendPort, false),
    ("bq", Alias::BackendQueue, false),
    ("ci", Alias::ClientIp, false),
    ("cp", Alias::ClientPort, false),
    ("f", Alias::Frontend, false),
    ("fc", Alias::FeConn, false),
    ("fi", Alias::FrontendIp, false),
    ("fp", Alias::FrontendPort, false),
    ("ft", Alias::FrontendTransport, false),
    ("hr", Alias::RequestHeaders, false),
    ("hrl", Alias::RequestHeaderList, false),
    ("hs", Alias::ResponseHeaders, false),
    ("hsl", Alias::ResponseHeaderList, false),
    ("lc", Alias::LogCounter, false),
    ("ms", Alias::AcceptMs, false),
    ("pid", Alias::Pid, false),
    ("r", Alias::RequestLine, true),
    ("rc", Alias::Retries, false),
    ("rt", Alias::RequestCounter, false),
    ("s", Alias::Server, false),
    ("sc", Alias::SrvConn, false),
    ("si", Alias::ServerIp, false),
    ("sp", Alias::ServerPort, false),
    ("sq", Alias::ServerQueue, false),
    ("sslc", Alias::SslCipher, false),
    ("sslv", Alias::SslVersion, false),
    ("t", Alias::Date, false),
    ("tr", Alias::RequestDate, true),
    ("trg", Alias::RequestDateGmt, true),
    ("trl", Alias::RequestDateLocal, true),
    ("ts", Alias::TermState, false),
    ("tsc", Alias::TermStateCookie, false),
];

impl Alias {
    /// The alias called `name` (case matters: `%Tr` and `%TR` differ).
    pub fn from_name(name: &str) -> Option<Self> {
        TABLE.iter().find(|(n, ..)| *n == name).map(|(_, a, _)| *a)
    }

    /// The name as written after `%`.
    pub fn name(self) -> &'static str {
        TABLE
            .iter()
            .find(|(_, a, _)| *a == self)
            .map_or("?", |(n, ..)| n)
    }

    /// Whether HAProxy reserves the alias for HTTP mode.
    pub fn http_only(self) -> bool {
        TABLE.iter().any(|(_, a, http)| *a == self && *http)
    }

    /// Whether the value is a number (printed without quotes, in hexadecimal with
    /// `+X`).
    pub fn is_numeric(self) -> bool {
        !matches!(
            self,
            Self::CapturedRequestCookie
                | Self::CapturedResponseCookie
                | Self::Hostname
                | Self::HttpMethod
                | Self::HttpPath
                | Self::HttpPathOnly
                | Self::HttpQuery
                | Self::HttpUri
                | Self::HttpVersion
                | Self::UniqueId
                | Self::DateGmt
                | Self::DateLocal
                | Self::Backend
                | Self::BackendIp
                | Self::ClientIp
                | Self::Frontend
                | Self::FrontendIp
                | Self::FrontendTransport
                | Self::RequestHeaders
                | Self::RequestHeaderList
                | Self::ResponseHeaders
                | Self::ResponseHeaderList
                | Self::RequestLine
                | Self::Server
                | Self::ServerIp
                | Self::SslCipher
                | Self::SslVersion
                | Self::Date
                | Self::RequestDate
                | Self::RequestDateGmt
                | Self::RequestDateLocal
                | Self::TermState
                | Self::TermStateCookie
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (name, alias, _) in TABLE {
            assert_eq!(Alias::from_name(name), Some(*alias));
            assert_eq!(alias.name(), *name);
        }
        assert_eq!(Alias::from_name("Tr"), Some(Alias::TimeResponse));
        assert_eq!(Alias::from_name("TR"), Some(Alias::TimeRequest));
        assert_eq!(Alias::from_name("nope"), None);
        assert!(Alias::RequestLine.http_only());
        assert!(!Alias::ClientIp.http_only());
        assert!(Alias::ClientPort.is_numeric());
        assert!(!Alias::ClientIp.is_numeric());
    }
}
