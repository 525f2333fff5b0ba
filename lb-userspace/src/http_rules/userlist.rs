//! `userlist` sections: users, their passwords (plain or crypt(3) hashes) and groups,
//! checked by `http_auth(L)`, `http_auth_group(L)` and `http-request auth`.
//!
//! Fetches may name a userlist before its section appears, so a fetch holds a
//! [`UserlistRef`], a slot shared by name during one configuration parse and filled when
//! the section is complete: no lookup and no lock at run time. The parser brackets a
//! parse with [`begin`] and [`finish`] (which names the lists that were never defined).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// How a user's password is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Password {
    /// `insecure-password TEXT`.
    Insecure(String),
    /// `password HASH`: a crypt(3) hash.
    Crypt(String),
}

/// One `user` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user name.
    pub name: String,
    /// The password.
    pub password: Password,
    /// Groups named on the `user` line.
    pub groups: Vec<String>,
}

/// One `userlist` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Userlist {
    /// The section name.
    pub name: String,
    /// Users, in order.
    pub users: Vec<User>,
    /// Groups with the users their `group ... users` line names.
    pub groups: Vec<(String, Vec<String>)>,
}

impl Userlist {
    /// Whether `user` exists with password `pass`.
    pub fn check(&self, user: &str, pass: &str) -> bool {
        let Some(u) = self.users.iter().find(|u| u.name == user) else {
            return false;
        };
        match &u.password {
            Password::Insecure(p) => {
                crate::sys::crypt::constant_time_eq(p.as_bytes(), pass.as_bytes())
            }
            Password::Crypt(h) => crate::sys::crypt::verify(pass, h),
        }
    }

    /// The groups of `user`: those of its `user` line and those whose `group` line
    /// lists it.
    pub fn groups_of(&self, user: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .users
            .iter()
            .filter(|u| u.name == user)
            .flat_map(|u| u.groups.iter().cloned())
            .collect();
        for (g, users) in &self.groups {
            if users.iter().any(|u| u == user) && !out.contains(g) {
                out.push(g.clone());
            }
        }
        out
    }

    /// Whether group `name` is declared.
    pub fn has_group(&self, name: &str) -> bool {
        self.groups.iter().any(|(g, _)| g == name)
    }
}

/// A userlist named in the configuration, resolved once its section is parsed.
#[derive(Clone)]
pub struct UserlistRef {
    /// The name as written.
    pub name: String,
    slot: Arc<OnceLock<Arc<Userlist>>>,
}

impl std::fmt::Debug for UserlistRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UserlistRef({})", self.name)
    }
}

impl PartialEq for UserlistRef {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for UserlistRef {}

impl UserlistRef {
    /// A reference already bound to `list` (tests, programmatic configs).
    pub fn bound(list: Arc<Userlist>) -> Self {
        let slot = Arc::new(OnceLock::new());
        let name = list.name.clone();
        let _ = slot.set(list);
        Self { name, slot }
    }

    /// The list, once defined.
    pub fn get(&self) -> Option<&Arc<Userlist>> {
        self.slot.get()
    }

    /// Whether `user`/`pass` are valid (false while the list is undefined).
    pub fn check(&self, user: &str, pass: &str) -> bool {
        self.get().is_some_and(|l| l.check(user, pass))
    }

    /// The groups of `user`.
    pub fn groups_of(&self, user: &str) -> Vec<String> {
        self.get().map(|l| l.groups_of(user)).unwrap_or_default()
    }
}

thread_local! {
    /// Slots of the configuration being parsed on this thread, by name.
    static PARSE: RefCell<HashMap<String, Arc<OnceLock<Arc<Userlist>>>>> =
        RefCell::new(HashMap::new());
}

/// Starts a configuration parse: forgets the lists of a previous one.
pub fn begin() {
    PARSE.with(|p| p.borrow_mut().clear());
}

/// A reference to the list called `name` in the configuration being parsed.
pub fn reference(name: &str) -> UserlistRef {
    let slot = PARSE.with(|p| Arc::clone(p.borrow_mut().entry(name.to_owned()).or_default()));
    UserlistRef {
        name: name.to_owned(),
        slot,
    }
}

/// Defines a parsed `userlist` section; `false` if one with that name already exists.
pub fn define(list: Userlist) -> bool {
    reference(&list.name.clone())
        .slot
        .set(Arc::new(list))
        .is_ok()
}

/// Ends a parse: the names referenced but never defined.
pub fn finish() -> Vec<String> {
    PARSE.with(|p| {
        let mut missing: Vec<String> = p
            .borrow()
            .iter()
            .filter(|(_, s)| s.get().is_none())
            .map(|(n, _)| n.clone())
            .collect();
        missing.sort();
        missing
    })
}

/// The list called `name` in the configuration being parsed, if already defined.
pub fn defined(name: &str) -> Option<Arc<Userlist>> {
    PARSE.with(|p| p.borrow().get(name).and_then(|s| s.get().cloned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> Userlist {
        Userlist {
            name: "L".into(),
            users: vec![
                User {
                    name: "alice".into(),
                    password: Password::Insecure("wonder".into()),
                    groups: vec!["admin".into()],
                },
                User {
                    name: "bob".into(),
                    password: Password::Crypt("$1$saltsalt$9xy1btjgzLYfb7hivXtC//".into()),
                    groups: vec![],
                },
            ],
            groups: vec![
                ("admin".into(), vec![]),
                ("dev".into(), vec!["bob".into(), "alice".into()]),
            ],
        }
    }

    #[test]
    fn passwords_and_groups() {
        let l = list();
        assert!(l.check("alice", "wonder"));
        assert!(!l.check("alice", "wonde"));
        assert!(l.check("bob", "secret"));
        assert!(!l.check("bob", "wonder"));
        assert!(!l.check("carol", ""));
        assert_eq!(l.groups_of("alice"), ["admin", "dev"]);
        assert_eq!(l.groups_of("bob"), ["dev"]);
        assert!(l.has_group("dev"));
    }

    #[test]
    fn references_resolve_when_defined() {
        begin();
        let r = reference("L");
        assert!(!r.check("alice", "wonder"));
        assert_eq!(finish(), ["L"]);
        assert!(define(list()));
        assert!(!define(list()));
        assert!(r.check("alice", "wonder"));
        assert!(finish().is_empty());
        begin();
        assert!(defined("L").is_none());
    }
}
