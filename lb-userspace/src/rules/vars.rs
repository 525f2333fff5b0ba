//! `set-var(<var>[,<cond>...])` and `unset-var(<var>)` on a stream's variables, with
//! HAProxy's conditions and scope availability.

use super::action::SetVarCond;
use crate::sample::Sample;
use crate::sample::vars::{Scope, VarName, Vars};

/// The rule set an action runs in: it decides which variable scopes exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// `tcp-request connection` / `tcp-request session`: no stream exists yet.
    Session,
    /// `tcp-request content`.
    Request,
    /// `tcp-response content`.
    Response,
}

/// Whether `scope` can hold variables during `phase`. As in HAProxy, a stream's scopes do
/// not exist before the stream does, `req` and `res` share one store that only accepts
/// the current direction, and `check` belongs to health checks: writing elsewhere is a
/// silent no-op.
pub(crate) fn available(scope: Scope, phase: Phase) -> bool {
    match scope {
        Scope::Proc | Scope::Sess => true,
        Scope::Txn => phase != Phase::Session,
        Scope::Req => phase == Phase::Request,
        Scope::Res => phase == Phase::Response,
        Scope::Check => false,
    }
}

/// `set-var`: stores `value` unless a condition fails; returns whether it stored.
pub(crate) fn set(
    vars: &Vars,
    phase: Phase,
    var: &VarName,
    conds: &[SetVarCond],
    value: Sample<'_>,
) -> bool {
    if !available(var.scope, phase) {
        return false;
    }
    let current = vars.get(var);
    // HAProxy declares every `proc` variable named in the configuration at start-up, so
    // those always exist, possibly unset.
    let exists = var.scope == Scope::Proc || current.is_some();
    let empty = match &value {
        Sample::Str(s) => Some(s.is_empty()),
        Sample::Bin(b) => Some(b.is_empty()),
        _ => None,
    };
    let holds = |cond: &SetVarCond| match cond {
        SetVarCond::IfExists => exists,
        SetVarCond::IfNotExists => !exists,
        SetVarCond::IfSet => current.is_some(),
        SetVarCond::IfNotSet => current.is_none(),
        // Scalars are never empty.
        SetVarCond::IfEmpty => empty == Some(true),
        SetVarCond::IfNotEmpty => empty != Some(true),
        // Only compared when both are integers; otherwise the condition holds.
        SetVarCond::IfGt => match (&current, &value) {
            (Some(Sample::Int(old)), Sample::Int(new)) => old > new,
            _ => true,
        },
        SetVarCond::IfLt => match (&current, &value) {
            (Some(Sample::Int(old)), Sample::Int(new)) => old < new,
            _ => true,
        },
    };
    if !conds.iter().all(holds) {
        return false;
    }
    vars.set(var, value);
    true
}

/// `unset-var`.
pub(crate) fn unset(vars: &Vars, phase: Phase, var: &VarName) {
    if available(var.scope, phase) {
        vars.unset(var);
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::sync::Arc;

    use super::*;
    use crate::sample::vars::ProcVars;

    fn name(text: &str) -> VarName {
        VarName::parse(text).unwrap()
    }

    fn int(n: i64) -> Sample<'static> {
        Sample::Int(n)
    }

    fn text(s: &'static str) -> Sample<'static> {
        Sample::Str(Cow::Borrowed(s))
    }

    fn vars() -> Vars {
        Vars::new(Arc::new(ProcVars::default()))
    }

    #[test]
    fn scopes_follow_the_phase() {
        let v = vars();
        let set = |phase, n: &str| set(&v, phase, &name(n), &[], int(1));
        assert!(set(Phase::Session, "sess.a"));
        assert!(set(Phase::Session, "proc.a"));
        assert!(!set(Phase::Session, "txn.a"));
        assert!(!set(Phase::Session, "req.a"));
        assert!(set(Phase::Request, "txn.a"));
        assert!(set(Phase::Request, "req.a"));
        assert!(!set(Phase::Request, "res.a"));
        assert!(set(Phase::Response, "res.a"));
        assert!(!set(Phase::Response, "req.b"));
        assert!(!set(Phase::Request, "check.a"));
        assert_eq!(v.get(&name("txn.a")), Some(int(1)));
        unset(&v, Phase::Session, &name("txn.a"));
        assert_eq!(v.get(&name("txn.a")), Some(int(1)));
        unset(&v, Phase::Request, &name("txn.a"));
        assert_eq!(v.get(&name("txn.a")), None);
    }

    #[test]
    fn existence_and_set_conditions() {
        let v = vars();
        let x = name("sess.x");
        assert!(!set(
            &v,
            Phase::Session,
            &x,
            &[SetVarCond::IfExists],
            int(1)
        ));
        assert!(!set(&v, Phase::Session, &x, &[SetVarCond::IfSet], int(1)));
        assert!(set(
            &v,
            Phase::Session,
            &x,
            &[SetVarCond::IfNotExists],
            int(1)
        ));
        assert!(!set(
            &v,
            Phase::Session,
            &x,
            &[SetVarCond::IfNotExists],
            int(2)
        ));
        assert!(!set(
            &v,
            Phase::Session,
            &x,
            &[SetVarCond::IfNotSet],
            int(2)
        ));
        assert!(set(&v, Phase::Session, &x, &[SetVarCond::IfSet], int(3)));
        assert_eq!(v.get(&x), Some(int(3)));
        // proc variables always exist.
        let p = name("proc.p");
        assert!(!set(
            &v,
            Phase::Session,
            &p,
            &[SetVarCond::IfNotExists],
            int(1)
        ));
        assert!(set(
            &v,
            Phase::Session,
            &p,
            &[SetVarCond::IfExists, SetVarCond::IfNotSet],
            int(1)
        ));
    }

    #[test]
    fn emptiness_conditions() {
        let v = vars();
        let x = name("txn.x");
        let set = |cond, value| set(&v, Phase::Request, &x, &[cond], value);
        assert!(!set(SetVarCond::IfEmpty, int(0)));
        assert!(!set(SetVarCond::IfEmpty, text("a")));
        assert!(set(SetVarCond::IfEmpty, text("")));
        assert!(!set(SetVarCond::IfNotEmpty, text("")));
        assert!(!set(
            SetVarCond::IfNotEmpty,
            Sample::Bin(Cow::Borrowed(b""))
        ));
        assert!(set(SetVarCond::IfNotEmpty, int(0)));
        assert!(set(SetVarCond::IfNotEmpty, text("b")));
        assert_eq!(v.get(&x), Some(text("b")));
    }

    #[test]
    fn ordering_conditions_compare_integers_only() {
        let v = vars();
        let x = name("txn.n");
        // Nothing to compare with: the condition holds.
        assert!(set(&v, Phase::Request, &x, &[SetVarCond::IfGt], int(10)));
        // ifgt: the current value must be greater than the new one.
        assert!(!set(&v, Phase::Request, &x, &[SetVarCond::IfGt], int(20)));
        assert!(set(&v, Phase::Request, &x, &[SetVarCond::IfGt], int(5)));
        assert!(!set(&v, Phase::Request, &x, &[SetVarCond::IfLt], int(1)));
        assert!(set(&v, Phase::Request, &x, &[SetVarCond::IfLt], int(7)));
        assert_eq!(v.get(&x), Some(int(7)));
        // A string is never compared.
        assert!(set(&v, Phase::Request, &x, &[SetVarCond::IfGt], text("99")));
    }
}
