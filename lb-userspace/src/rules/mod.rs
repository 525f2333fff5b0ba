//! Layer-4 rules: `tcp-request connection`, `tcp-request session`, `tcp-request content`
//! (with `tcp-request inspect-delay`) and `tcp-response content`, sans-I/O.
//!
//! The runtime drives evaluation (see [`engine`]): connection rules once at accept, session
//! rules once the session is set up (after a PROXY header), content rules each time more
//! client bytes are peeked until a rule decides or the inspect delay expires, and response
//! rules likewise on the server's bytes. Side effects go through a [`RuleHost`].

pub mod action;
pub mod engine;
pub(crate) mod vars;
pub mod xdp_deny;

#[cfg(test)]
mod tests;

use std::time::Duration;

use crate::acl::Condition;
use crate::config::model::Location;

pub use crate::sample::vars::{Scope as VarScope, VarName};
pub use action::{Action, Gpc, GptValue, STICK_COUNTERS, SetVarCond};
pub use engine::{ContentVerdict, Cursor, ResponseVerdict, RuleHost, Verdict, reads_payload};
pub use xdp_deny::{XdpDenyAction, parse_xdp_deny};

/// The layer-4 rules of one proxy side (the frontend or the backend half of a proxy).
///
/// Rules inherited from a named `defaults` section come first in each list, as HAProxy
/// evaluates them before the proxy's own.
#[derive(Debug, Clone, Default)]
pub struct ProxyRules {
    /// `tcp-request inspect-delay`: how long content rules may wait for data.
    pub inspect_delay: Option<Duration>,
    /// `tcp-response inspect-delay`: how long response rules may wait for data.
    pub response_inspect_delay: Option<Duration>,
    /// `tcp-request connection ...`, in order (frontend side only).
    pub connection: Vec<TcpRule>,
    /// `tcp-request session ...`, in order (frontend side only).
    pub session: Vec<TcpRule>,
    /// `tcp-request content ...`, in order.
    pub content: Vec<TcpRule>,
    /// `tcp-response content ...`, in order (backend side only).
    pub response: Vec<TcpRule>,
}

impl ProxyRules {
    /// True when there is no rule at all (the runtime can skip rule processing).
    pub fn is_empty(&self) -> bool {
        self.connection.is_empty()
            && self.session.is_empty()
            && self.content.is_empty()
            && self.response.is_empty()
    }
}

/// One `tcp-request`/`tcp-response` rule: an action and an optional condition.
#[derive(Debug, Clone)]
pub struct TcpRule {
    /// What the rule does.
    pub action: Action,
    /// `if`/`unless` condition; `None` means always.
    pub cond: Option<Condition>,
    /// Where the rule is written.
    pub location: Location,
}
