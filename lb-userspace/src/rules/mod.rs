//! Layer-4 rules: `tcp-request connection`, `tcp-request content` (with
//! `tcp-request inspect-delay`) and `tcp-response content`, sans-I/O.
//!
//! The runtime drives evaluation: connection rules once at accept, content rules each time
//! more client bytes are peeked, until a rule decides or the inspect delay expires.

use std::time::Duration;

/// The layer-4 rules of one proxy (frontend or backend side).
#[derive(Debug, Clone, Default)]
pub struct ProxyRules {
    /// `tcp-request inspect-delay`.
    pub inspect_delay: Option<Duration>,
    /// `tcp-request connection ...`, in order.
    pub connection: Vec<TcpRule>,
    /// `tcp-request content ...`, in order.
    pub content: Vec<TcpRule>,
    /// `tcp-response content ...`, in order.
    pub response: Vec<TcpRule>,
}

/// One `tcp-request`/`tcp-response` rule (action and optional condition).
#[derive(Debug, Clone)]
pub struct TcpRule {}
