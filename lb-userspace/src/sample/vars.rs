//! Variables (`set-var`, `unset-var`, `var()`), in HAProxy's scopes: `proc`, `sess`,
//! `txn`, `req`, `res` and `check`.
//!
//! A stream owns one [`Vars`]; rules write through `&Vars` (interior mutability) while
//! conditions read it through the same shared reference in the [`StreamCtx`]. The
//! per-stream scopes sit behind a mutex that is only ever taken by the stream's own
//! thread (uncontended, so cheap) and never held across a call out of this module; it
//! keeps `Vars` (hence `StreamCtx`) `Send + Sync`. The `proc` scope is shared by every
//! worker thread ([`ProcVars`], an `RwLock` held only for one lookup or one store).
//!
//! [`StreamCtx`]: crate::sample::StreamCtx

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock};

use crate::sample::Sample;

/// The lifetime of a variable (the prefix of its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `proc.`: the whole process, shared by all workers.
    Proc,
    /// `sess.`: the session (the client connection).
    Sess,
    /// `txn.`: the transaction (one request/response; the whole stream in TCP mode).
    Txn,
    /// `req.`: the request processing only.
    Req,
    /// `res.`: the response processing only.
    Res,
    /// `check.`: a health check.
    Check,
}

impl Scope {
    /// The prefix as written in names, without the dot.
    pub fn name(self) -> &'static str {
        match self {
            Self::Proc => "proc",
            Self::Sess => "sess",
            Self::Txn => "txn",
            Self::Req => "req",
            Self::Res => "res",
            Self::Check => "check",
        }
    }

    const STREAM: [Scope; 5] = [Self::Sess, Self::Txn, Self::Req, Self::Res, Self::Check];

    /// Slot of a per-stream scope in [`Vars`]; `None` for `proc`.
    fn slot(self) -> Option<usize> {
        Self::STREAM.iter().position(|s| *s == self)
    }
}

/// Why a variable name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VarError {
    /// Nothing at all.
    #[error("empty variable name cannot be accepted")]
    Empty,
    /// No known scope prefix, or nothing after it.
    #[error(
        "invalid variable name '{0}'. A variable name must be start by its scope. The scope \
         can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'"
    )]
    Scope(String),
    /// A character outside `[a-zA-Z0-9._]`.
    #[error(
        "invalid syntax at char '{rest}' in variable name '{name}' (only [a-zA-Z0-9._] are allowed)"
    )]
    Syntax {
        /// The whole name.
        name: String,
        /// The name from the offending character on.
        rest: String,
    },
}

/// A variable name with its scope, e.g. `txn.backend` (scope `txn`, name `backend`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VarName {
    /// The scope.
    pub scope: Scope,
    /// The name after the scope's dot (may itself contain dots).
    pub name: Box<str>,
}

impl VarName {
    /// Parses `scope.name` with HAProxy's rules: a scope prefix is required and the name
    /// is made of `[a-zA-Z0-9._]`, non-empty.
    pub fn parse(text: &str) -> Result<Self, VarError> {
        if text.is_empty() {
            return Err(VarError::Empty);
        }
        let (scope, rest) = [
            Scope::Proc,
            Scope::Sess,
            Scope::Txn,
            Scope::Req,
            Scope::Res,
            Scope::Check,
        ]
        .into_iter()
        .find_map(|scope| {
            text.strip_prefix(scope.name())
                .and_then(|r| r.strip_prefix('.'))
                .map(|r| (scope, r))
        })
        .filter(|(_, rest)| !rest.is_empty())
        .ok_or_else(|| VarError::Scope(text.to_owned()))?;
        if let Some(pos) = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        {
            return Err(VarError::Syntax {
                name: text.to_owned(),
                rest: rest[pos..].to_owned(),
            });
        }
        Ok(Self {
            scope,
            name: rest.into(),
        })
    }
}

impl fmt::Display for VarName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.scope.name(), self.name)
    }
}

/// The `proc` scope: variables shared by every stream of every worker.
#[derive(Debug, Default)]
pub struct ProcVars {
    map: RwLock<HashMap<Box<str>, Sample<'static>>>,
}

impl ProcVars {
    /// The process-wide store, created on first use; what [`Vars::default`] uses.
    pub fn shared() -> Arc<ProcVars> {
        static SHARED: OnceLock<Arc<ProcVars>> = OnceLock::new();
        Arc::clone(SHARED.get_or_init(Arc::default))
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<Sample<'static>> {
        // A panic while holding the lock cannot leave the map half-updated (insert and
        // remove are atomic from our side), so a poisoned lock is still usable.
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        map.get(name).cloned()
    }

    /// Sets `name`.
    pub fn set(&self, name: &str, value: Sample<'_>) {
        let value = value.into_owned();
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        map.insert(name.into(), value);
    }

    /// Removes `name`; returns whether it was set.
    pub fn unset(&self, name: &str) -> bool {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        map.remove(name).is_some()
    }
}

type ScopeMap = HashMap<Box<str>, Sample<'static>>;

/// The variables a stream can see: its own scopes plus the shared `proc` scope.
pub struct Vars {
    proc: Arc<ProcVars>,
    /// `sess`, `txn`, `req`, `res`, `check`, in [`Scope::STREAM`] order.
    scopes: Mutex<[ScopeMap; 5]>,
}

impl Default for Vars {
    /// Empty stream scopes over the process-wide [`ProcVars::shared`] store.
    fn default() -> Self {
        Self::new(ProcVars::shared())
    }
}

impl fmt::Debug for Vars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scopes.try_lock() {
            Ok(scopes) => f.debug_struct("Vars").field("scopes", &*scopes).finish(),
            Err(_) => f.write_str("Vars { <in use> }"),
        }
    }
}

impl Vars {
    /// Empty stream scopes over the given `proc` store.
    pub fn new(proc: Arc<ProcVars>) -> Self {
        Self {
            proc,
            scopes: Mutex::default(),
        }
    }

    fn scopes(&self) -> MutexGuard<'_, [ScopeMap; 5]> {
        // Every operation is a single map call: a panic cannot leave a scope half-done.
        self.scopes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value of a variable, if set (a copy: the stream may change it afterwards).
    pub fn get(&self, var: &VarName) -> Option<Sample<'static>> {
        match var.scope.slot() {
            None => self.proc.get(&var.name),
            Some(slot) => self.scopes()[slot].get(&*var.name).cloned(),
        }
    }

    /// Sets a variable, keeping the value's type.
    pub fn set(&self, var: &VarName, value: Sample<'_>) {
        match var.scope.slot() {
            None => self.proc.set(&var.name, value),
            Some(slot) => {
                let value = value.into_owned();
                self.scopes()[slot].insert(var.name.clone(), value);
            }
        }
    }

    /// Removes a variable; returns whether it was set.
    pub fn unset(&self, var: &VarName) -> bool {
        match var.scope.slot() {
            None => self.proc.unset(&var.name),
            Some(slot) => self.scopes()[slot].remove(&*var.name).is_some(),
        }
    }

    /// Forgets every variable of a per-stream scope (end of a transaction, of a request
    /// or of a response). `proc` is never cleared this way.
    pub fn clear(&self, scope: Scope) {
        if let Some(slot) = scope.slot() {
            self.scopes()[slot].clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn name(text: &str) -> VarName {
        VarName::parse(text).unwrap()
    }

    #[test]
    fn names_need_a_scope_and_valid_characters() {
        assert_eq!(
            name("txn.my_var.2"),
            VarName {
                scope: Scope::Txn,
                name: "my_var.2".into()
            }
        );
        assert_eq!(name("proc.x").scope, Scope::Proc);
        assert_eq!(name("sess.x").scope, Scope::Sess);
        assert_eq!(name("req.x").scope, Scope::Req);
        assert_eq!(name("res.x").scope, Scope::Res);
        assert_eq!(name("check.x").scope, Scope::Check);
        assert_eq!(name("txn.a").to_string(), "txn.a");
        assert_eq!(VarName::parse(""), Err(VarError::Empty));
        for bad in ["x", "txn", "txn.", "tx.a", "TXN.a", "procx.a"] {
            assert!(
                matches!(VarName::parse(bad), Err(VarError::Scope(_))),
                "{bad}"
            );
        }
        let err = VarName::parse("txn.a-b").unwrap_err();
        assert_eq!(
            err,
            VarError::Syntax {
                name: "txn.a-b".into(),
                rest: "-b".into()
            }
        );
        assert!(VarName::parse("txn.é").is_err());
    }

    #[test]
    fn stream_scopes_are_separate_and_typed() {
        let vars = Vars::new(Arc::default());
        let (t, s) = (name("txn.x"), name("sess.x"));
        assert_eq!(vars.get(&t), None);
        vars.set(&t, Sample::Int(42));
        vars.set(&s, Sample::Str(Cow::Borrowed("hello")));
        assert_eq!(vars.get(&t), Some(Sample::Int(42)));
        assert_eq!(vars.get(&s), Some(Sample::Str("hello".into())));
        assert_eq!(vars.get(&name("req.x")), None);
        // Overwriting changes the type too.
        vars.set(&t, Sample::Ip("10.0.0.1".parse().unwrap()));
        assert_eq!(vars.get(&t), Some(Sample::Ip("10.0.0.1".parse().unwrap())));
        assert!(vars.unset(&t));
        assert!(!vars.unset(&t));
        assert_eq!(vars.get(&t), None);
        vars.set(&name("req.a"), Sample::Bool(true));
        vars.clear(Scope::Req);
        assert_eq!(vars.get(&name("req.a")), None);
        assert_eq!(vars.get(&s), Some(Sample::Str("hello".into())));
    }

    #[test]
    fn proc_scope_is_shared_between_streams_and_threads() {
        let proc = Arc::new(ProcVars::default());
        let a = Vars::new(Arc::clone(&proc));
        let b = Vars::new(Arc::clone(&proc));
        let p = name("proc.count");
        a.set(&p, Sample::Int(1));
        assert_eq!(b.get(&p), Some(Sample::Int(1)));
        let p2 = Arc::clone(&proc);
        std::thread::spawn(move || p2.set("count", Sample::Int(2)))
            .join()
            .unwrap();
        assert_eq!(a.get(&p), Some(Sample::Int(2)));
        // Clearing a stream scope never touches proc.
        a.clear(Scope::Proc);
        assert_eq!(b.get(&p), Some(Sample::Int(2)));
        assert!(b.unset(&p));
        assert_eq!(a.get(&p), None);
        // The default store is process-wide.
        let key = name("proc.lb_vars_test_shared");
        Vars::default().set(&key, Sample::Int(7));
        assert_eq!(Vars::default().get(&key), Some(Sample::Int(7)));
        assert!(ProcVars::shared().unset("lb_vars_test_shared"));
    }

    #[test]
    fn debug_does_not_panic() {
        let vars = Vars::new(Arc::default());
        vars.set(&name("txn.a"), Sample::Int(1));
        assert!(format!("{vars:?}").contains("Int(1)"));
    }
}
