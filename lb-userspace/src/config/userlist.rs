//! `userlist NAME` sections: `user NAME password HASH|insecure-password PASS [groups
//! G,...]` and `group NAME [users U,...]` lines (HAProxy manual section 3.4, "Userlists").

use super::error::{ConfigError, ErrorKind};
use super::line::Line;
use super::model::Location;
use crate::http_rules::userlist::{Password, User, Userlist};

/// A `userlist` section being parsed.
#[derive(Debug, Clone)]
pub(crate) struct UserlistDraft {
    pub list: Userlist,
    pub location: Location,
}

/// Starts a `userlist NAME` section.
pub(crate) fn start(line: &Line, existing: &[UserlistDraft]) -> Result<UserlistDraft, ConfigError> {
    let name = line.required(1, "userlist", "a name")?;
    line.max_args(1, "userlist")?;
    if let Some(first) = existing.iter().find(|u| u.list.name == name) {
        let kind = ErrorKind::Duplicate {
            what: "userlist",
            name: name.to_owned(),
            other: "userlist",
            first: first.location.clone(),
        };
        return Err(line.err(kind));
    }
    Ok(UserlistDraft {
        list: Userlist {
            name: name.to_owned(),
            ..Userlist::default()
        },
        location: line.loc.clone(),
    })
}

fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// One line of a `userlist` section.
pub(crate) fn parse_keyword(draft: &mut UserlistDraft, line: &Line) -> Result<(), ConfigError> {
    line.no_modifier()?;
    let list = &mut draft.list;
    match line.kw() {
        "group" => {
            let name = line.required(1, "group", "a group name")?;
            if list.groups.iter().any(|(g, _)| g == name) {
                return Err(line.invalid(
                    "group",
                    format!("duplicate group '{name}' in userlist '{}'", list.name),
                ));
            }
            let users = match line.arg(2) {
                None => Vec::new(),
                Some("users") => {
                    let u = line.required(3, "group users", "a comma-separated list of users")?;
                    line.max_args(3, "group")?;
                    split_list(u)
                }
                Some(other) => {
                    let reason = format!("expects 'users' (got '{other}')");
                    return Err(line.invalid("group", reason));
                }
            };
            list.groups.push((name.to_owned(), users));
            Ok(())
        }
        "user" => {
            let name = line.required(1, "user", "a user name")?;
            if list.users.iter().any(|u| u.name == name) {
                return Err(line.invalid(
                    "user",
                    format!("duplicate user '{name}' in userlist '{}'", list.name),
                ));
            }
            let mut password = None;
            let mut groups = Vec::new();
            let mut i = 2;
            while let Some(w) = line.arg(i) {
                let v = line.required(i + 1, &format!("user {w}"), "a value")?;
                match w {
                    "password" => password = Some(Password::Crypt(v.to_owned())),
                    "insecure-password" => password = Some(Password::Insecure(v.to_owned())),
                    "groups" => groups = split_list(v),
                    other => {
                        let reason = format!(
                            "expects 'password', 'insecure-password' or 'groups' (got '{other}')"
                        );
                        return Err(line.invalid("user", reason));
                    }
                }
                i += 2;
            }
            let Some(password) = password else {
                return Err(line.missing("user", "'password' or 'insecure-password'"));
            };
            if let Password::Crypt(h) = &password
                && crate::sys::crypt::crypt("", h).is_none()
            {
                let reason = format!(
                    "the encrypted password of user '{name}' uses an algorithm crypt(3) does not support"
                );
                return Err(line.invalid("user", reason));
            }
            list.users.push(User {
                name: name.to_owned(),
                password,
                groups,
            });
            Ok(())
        }
        other => Err(line.err(ErrorKind::UnknownKeyword {
            keyword: other.into(),
            section: "userlist".into(),
        })),
    }
}

/// Checks a finished section (groups named on `user` lines must exist, users named on
/// `group` lines too) and publishes it to the rules and fetches that reference it.
pub(crate) fn finish(draft: UserlistDraft, errors: &mut Vec<ConfigError>) {
    let list = draft.list;
    for u in &list.users {
        for g in &u.groups {
            if !list.has_group(g) {
                let reason = format!(
                    "userlist '{}': no such group '{g}' specified in user '{}'",
                    list.name, u.name
                );
                errors.push(ConfigError::new(
                    draft.location.clone(),
                    ErrorKind::Consistency(reason),
                ));
            }
        }
    }
    for (g, users) in &list.groups {
        for u in users {
            if !list.users.iter().any(|x| &x.name == u) {
                let reason = format!(
                    "userlist '{}': no such user '{u}' specified in group '{g}'",
                    list.name
                );
                errors.push(ConfigError::new(
                    draft.location.clone(),
                    ErrorKind::Consistency(reason),
                ));
            }
        }
    }
    crate::http_rules::userlist::define(list);
}
