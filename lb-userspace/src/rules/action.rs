//! What a `tcp-request` / `tcp-response` rule does when its condition matches.

use crate::sample::SampleExpr;
use crate::sample::vars::VarName;

/// Number of sticky counters a stream can track (`sc0`..`sc2`), HAProxy's default.
pub const STICK_COUNTERS: u8 = 3;

/// The action of one rule, with its arguments already parsed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Action {
    /// `accept`: stop evaluating this rule set and let the stream continue.
    Accept,
    /// `reject`: close the connection (the verdict says how).
    Reject,
    /// `close` (`tcp-response content` only): close the server connection at once.
    Close,
    /// `silent-drop`: close without telling the client (no FIN, no RST reaches it).
    SilentDrop,
    /// `expect-proxy layer4` (`tcp-request connection` only): a PROXY protocol header
    /// precedes the data; its addresses replace `src`/`dst`.
    ExpectProxy,
    /// `track-sc<N> <key> [table <T>]`.
    TrackSc {
        /// The counter slot (0..=2).
        sc: u8,
        /// The key expression.
        key: SampleExpr,
        /// The table: the one named by `table`, else the proxy's own table, which has
        /// the proxy's name.
        table: String,
    },
    /// `sc-inc-gpc0(<sc>)` / `sc-inc-gpc1(<sc>)`.
    IncGpc {
        /// Which counter.
        gpc: Gpc,
        /// The tracked entry (0..=2).
        sc: u8,
    },
    /// `sc-set-gpt0(<sc>) <int|expr>`: set `gpt0` of the entry tracked by `sc`.
    SetGpt0 {
        /// The tracked entry (0..=2).
        sc: u8,
        /// The value.
        value: GptValue,
    },
    /// `set-var(<scope>.<name>[,<cond>...]) <expr>`.
    SetVar {
        /// The variable.
        var: VarName,
        /// Conditions that must all hold for the variable to be set.
        conds: Vec<SetVarCond>,
        /// The value.
        expr: SampleExpr,
    },
    /// `unset-var(<scope>.<name>)`.
    UnsetVar(VarName),
    /// `set-src <expr>`: new client address (the port is kept).
    SetSrc(SampleExpr),
    /// `set-src-port <expr>`: new client port.
    SetSrcPort(SampleExpr),
    /// `set-dst <expr>`: new destination address (the port is kept).
    SetDst(SampleExpr),
    /// `set-dst-port <expr>`: new destination port.
    SetDstPort(SampleExpr),
    /// `xdp-deny [for <duration>] [prefix <v4len>[,<v6len>]]` (ours): deny the source's
    /// prefix in the XDP guard for a while; not final.
    XdpDeny(super::xdp_deny::XdpDenyAction),
}

impl Action {
    /// The sample expression the action evaluates, if any (for configuration checks).
    pub fn expr(&self) -> Option<&SampleExpr> {
        match self {
            Self::TrackSc { key, .. } => Some(key),
            Self::SetGpt0 {
                value: GptValue::Expr(e),
                ..
            }
            | Self::SetVar { expr: e, .. }
            | Self::SetSrc(e)
            | Self::SetSrcPort(e)
            | Self::SetDst(e)
            | Self::SetDstPort(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the action ends the evaluation of its rule set.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Accept | Self::Reject | Self::Close | Self::SilentDrop
        )
    }
}

/// A general purpose counter of a stick-table entry (the stick-table module's type).
pub use crate::stick::track::Gpc;

/// The value `sc-set-gpt0` stores: a constant or an expression evaluated per stream.
#[derive(Debug, Clone)]
pub enum GptValue {
    /// An integer written in the rule.
    Int(i64),
    /// An expression; its integer value is stored.
    Expr(SampleExpr),
}

/// A condition of `set-var(name,cond...)` (HAProxy 2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetVarCond {
    /// `ifexists`: the variable already existed.
    IfExists,
    /// `ifnotexists`: the variable did not exist.
    IfNotExists,
    /// `ifempty`: the new value is an empty string or binary block.
    IfEmpty,
    /// `ifnotempty`: the new value is not empty (scalars are never empty).
    IfNotEmpty,
    /// `ifset`: the variable is currently set.
    IfSet,
    /// `ifnotset`: the variable is not set (never set, or unset).
    IfNotSet,
    /// `ifgt`: the current integer value is greater than the new one.
    IfGt,
    /// `iflt`: the current integer value is less than the new one.
    IfLt,
}

impl SetVarCond {
    /// Parses one condition name.
    pub fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "ifexists" => Self::IfExists,
            "ifnotexists" => Self::IfNotExists,
            "ifempty" => Self::IfEmpty,
            "ifnotempty" => Self::IfNotEmpty,
            "ifset" => Self::IfSet,
            "ifnotset" => Self::IfNotSet,
            "ifgt" => Self::IfGt,
            "iflt" => Self::IfLt,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_var_conditions() {
        assert_eq!(SetVarCond::parse("ifnotset"), Some(SetVarCond::IfNotSet));
        assert_eq!(SetVarCond::parse("iflt"), Some(SetVarCond::IfLt));
        assert_eq!(SetVarCond::parse("ifbig"), None);
    }

    #[test]
    fn finality() {
        assert!(Action::Accept.is_final());
        assert!(Action::SilentDrop.is_final());
        assert!(!Action::ExpectProxy.is_final());
        assert!(!Action::UnsetVar(VarName::parse("txn.a").unwrap()).is_final());
    }
}
