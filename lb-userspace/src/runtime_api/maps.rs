//! Maps and ACL pattern files at run time: `show|get|add|del|set|clear map` and
//! `show|get|add|del|clear acl`, with HAProxy 2.6's syntax, output and error texts.
//!
//! A map or ACL file is named by its path as written in the configuration, or by `#<id>`
//! (its position in `show map`/`show acl`); an entry by its key, or by `#<ref>`, the
//! `0x...` reference `show map <map>` prints first on each line. Changes apply at once to
//! every converter and ACL using the file. Changing anything takes the `operator` level.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;

use super::Level;
use super::command::{Ctx, Keyword, Reply, arg};
use crate::map::{Index, MapValue, PatRef, RefKind};
use crate::sample::Sample;

/// The commands of this module.
pub(super) const KEYWORDS: &[Keyword] = &[
    Keyword {
        words: &["show", "map"],
        usage: Some(
            "show map [<map>]                        : report available maps or dump a map's contents",
        ),
        run: |ctx, args, _| show(ctx, args, Kind::Map),
    },
    Keyword {
        words: &["show", "acl"],
        usage: Some(
            "show acl [<acl>]                        : report available acls or dump an acl's contents",
        ),
        run: |ctx, args, _| show(ctx, args, Kind::Acl),
    },
    Keyword {
        words: &["get", "map"],
        usage: Some(
            "get map <map> <value>                   : report the keys and values matching a sample for a map",
        ),
        run: |ctx, args, _| get(ctx, args, Kind::Map),
    },
    Keyword {
        words: &["get", "acl"],
        usage: Some(
            "get acl <acl> <value>                   : report the patterns matching a sample for an ACL",
        ),
        run: |ctx, args, _| get(ctx, args, Kind::Acl),
    },
    Keyword {
        words: &["add", "map"],
        usage: Some(
            "add map <map> <key> <val>               : add a map entry (payload supported instead of key/val)",
        ),
        run: |ctx, args, payload| add(ctx, args, payload, Kind::Map),
    },
    Keyword {
        words: &["add", "acl"],
        usage: Some("add acl <acl> <pattern>                 : add an acl entry"),
        run: |ctx, args, payload| add(ctx, args, payload, Kind::Acl),
    },
    Keyword {
        words: &["del", "map"],
        usage: Some("del map <map> [<key>|#<ref>]            : remove a map entry"),
        run: |ctx, args, _| del(ctx, args, Kind::Map),
    },
    Keyword {
        words: &["del", "acl"],
        usage: Some("del acl <acl> [<key>|#<ref>]            : delete acl entries matching <key>"),
        run: |ctx, args, _| del(ctx, args, Kind::Acl),
    },
    Keyword {
        words: &["set", "map"],
        usage: Some("set map <map> [<key>|#<ref>] <value>    : modify a map entry"),
        run: set,
    },
    Keyword {
        words: &["clear", "map"],
        usage: Some("clear map <map>                         : clear the contents of this map"),
        run: |ctx, args, _| clear(ctx, args, Kind::Map),
    },
    Keyword {
        words: &["clear", "acl"],
        usage: Some("clear acl <acl>                         : clear the contents of this acl"),
        run: |ctx, args, _| clear(ctx, args, Kind::Acl),
    },
];

/// Which command family: maps (two-column files) or ACLs (pattern files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Map,
    Acl,
}

impl Kind {
    fn unknown(self) -> Reply {
        Reply::text(match self {
            Self::Map => "Unknown map identifier. Please use #<id> or <file>.\n",
            Self::Acl => "Unknown ACL identifier. Please use #<id> or <file>.\n",
        })
    }

    fn ref_kind(self) -> RefKind {
        match self {
            Self::Map => RefKind::Map,
            Self::Acl => RefKind::Patterns,
        }
    }
}

/// Every loaded file with its `#<id>`.
fn refs(ctx: &Ctx<'_>) -> Vec<(usize, Arc<PatRef>)> {
    ctx.rt.maps().list().into_iter().enumerate().collect()
}

/// The file named `name`: its path, or `#<id>`.
fn lookup(ctx: &Ctx<'_>, name: &str) -> Option<Arc<PatRef>> {
    match name.strip_prefix('#') {
        Some(id) => {
            let id = id.parse::<usize>().ok()?;
            refs(ctx)
                .into_iter()
                .find(|(i, _)| *i == id)
                .map(|(_, r)| r)
        }
        None => ctx.rt.maps().get(name),
    }
}

/// The file named `name`, if it is of the right kind.
fn find(ctx: &Ctx<'_>, name: &str, kind: Kind) -> Result<Arc<PatRef>, Reply> {
    lookup(ctx, name)
        .filter(|r| r.kind() == kind.ref_kind())
        .ok_or_else(|| kind.unknown())
}

/// `#0x<hex>`: an entry reference rather than a key; `Err` when malformed.
fn entry_ref(word: &str) -> Option<Result<u64, Reply>> {
    let hex = word.strip_prefix("#0x")?;
    Some(
        u64::from_str_radix(hex, 16)
            .map_err(|_| Reply::text("Malformed identifier. Please use #<id> or <file>.\n")),
    )
}

fn show(ctx: &mut Ctx<'_>, args: &[String], kind: Kind) -> Reply {
    let name = arg(args, 2);
    if name.is_empty() {
        let mut out = String::from("# id (file) description\n");
        for (id, r) in refs(ctx)
            .into_iter()
            .filter(|(_, r)| r.kind() == kind.ref_kind())
        {
            let _ = writeln!(
                out,
                "{id} ({}) pattern loaded from file '{}'. curr_ver=0 next_ver=0 entry_cnt={}",
                r.name(),
                r.name(),
                r.len()
            );
        }
        return Reply::Text(out);
    }
    let r = match find(ctx, name, kind) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let mut out = String::new();
    for e in r.entries() {
        let _ = match &e.value {
            Some(v) => writeln!(out, "{:#x} {} {v}", e.id, e.key),
            None => writeln!(out, "{:#x} {}", e.id, e.key),
        };
    }
    Reply::Text(out)
}

/// One line per index using the file: how it matches, and what `value` finds.
fn get(ctx: &mut Ctx<'_>, args: &[String], kind: Kind) -> Reply {
    let (name, value) = (arg(args, 2), arg(args, 3));
    if name.is_empty() || value.is_empty() {
        return Reply::text(match kind {
            Kind::Map => "Missing map identifier and/or key.\n",
            Kind::Acl => "Missing ACL identifier and/or key.\n",
        });
    }
    let Some(r) = lookup(ctx, name) else {
        return kind.unknown();
    };
    let entries = r.entries();
    let mut out = String::new();
    for index in r.indexes() {
        lookup_line(&mut out, &index, value, &entries, kind);
    }
    Reply::Text(out)
}

fn lookup_line(
    out: &mut String,
    index: &Index,
    value: &str,
    entries: &[crate::map::Entry],
    kind: Kind,
) {
    let spec = index.spec();
    let _ = write!(
        out,
        "type={}, case={}",
        spec.method.name(),
        if spec.icase {
            "insensitive"
        } else {
            "sensitive"
        }
    );
    let (found, pattern) = match kind {
        Kind::Map => ("found", "key"),
        Kind::Acl => ("match", "pattern"),
    };
    let Some(hit) = index.lookup(Sample::Str(Cow::Borrowed(value))) else {
        let _ = writeln!(out, ", {found}=no");
        return;
    };
    // Exact strings, prefixes and addresses are looked up in trees, as in HAProxy.
    use crate::acl::pattern::MatchMethod;
    let tree = !spec.icase
        && matches!(
            spec.method,
            MatchMethod::Str | MatchMethod::Beg | MatchMethod::Ip
        );
    let _ = write!(
        out,
        ", {found}=yes, idx={}",
        if tree { "tree" } else { "list" }
    );
    let entry = hit.id.and_then(|id| entries.iter().find(|e| e.id == id));
    let _ = match entry {
        Some(e) => write!(out, ", {pattern}=\"{}\"", e.key),
        None => write!(out, ", {pattern}=unknown"),
    };
    if kind == Kind::Map {
        let text = entry.and_then(|e| e.value.as_deref());
        let _ = match (&hit.value, text) {
            (Some(v), Some(text)) => write!(out, ", value=\"{text}\", type=\"{}\"", value_type(v)),
            _ => write!(out, ", value=none"),
        };
    }
    out.push('\n');
}

/// HAProxy's name of a value's sample type.
fn value_type(v: &MapValue) -> &'static str {
    match v {
        MapValue::Str(_) => "str",
        MapValue::Int(_) => "sint",
        MapValue::Ip(std::net::IpAddr::V4(_)) => "ipv4",
        MapValue::Ip(std::net::IpAddr::V6(_)) => "ipv6",
    }
}

fn add(ctx: &mut Ctx<'_>, args: &[String], payload: Option<&str>, kind: Kind) -> Reply {
    if let Err(denied) = ctx.require(Level::Operator) {
        return denied;
    }
    let (name, key, value) = (arg(args, 2), arg(args, 3), arg(args, 4));
    match kind {
        Kind::Map
            if name.is_empty() || (payload.is_none() && (key.is_empty() || value.is_empty())) =>
        {
            return Reply::text(
                "'add map' expects three parameters (map identifier, key and value) or one parameter (map identifier) and a payload\n",
            );
        }
        Kind::Acl if name.is_empty() || (payload.is_none() && key.is_empty()) => {
            return Reply::text("'add acl' expects two parameters: ACL identifier and pattern.\n");
        }
        _ => {}
    }
    let Some(r) = lookup(ctx, name) else {
        return kind.unknown();
    };
    if kind == Kind::Acl && r.kind() == RefKind::Map {
        return Reply::text(
            "This ACL is shared with a map containing samples. You must use the command 'add map' to add values.\n",
        );
    }
    let pairs: Vec<(&str, &str)> = match payload {
        None => vec![(key, value)],
        Some(p) => match payload_pairs(p, kind) {
            Ok(pairs) => pairs,
            Err(e) => return e,
        },
    };
    for (key, value) in pairs {
        let value = (kind == Kind::Map).then_some(value);
        if let Err(e) = r.add(key, value) {
            return Reply::Text(format!("{e}.\n"));
        }
    }
    Reply::text("")
}

/// Payload lines: the first word is the key, the rest of the line the value.
fn payload_pairs(payload: &str, kind: Kind) -> Result<Vec<(&str, &str)>, Reply> {
    let mut pairs = Vec::new();
    for line in payload.lines() {
        let split = line.find([' ', '\t']);
        if split.is_none() && kind == Kind::Map {
            return Err(Reply::Text(format!("Missing value for key '{line}'.\n")));
        }
        let (key, rest) = line.split_at(split.unwrap_or(line.len()));
        pairs.push((key, rest.trim_start_matches([' ', '\t'])));
    }
    Ok(pairs)
}

fn del(ctx: &mut Ctx<'_>, args: &[String], kind: Kind) -> Reply {
    if let Err(denied) = ctx.require(Level::Operator) {
        return denied;
    }
    let (name, key) = (arg(args, 2), arg(args, 3));
    if name.is_empty() || key.is_empty() {
        return Reply::text(match kind {
            Kind::Map => "This command expects two parameters: map identifier and key.\n",
            Kind::Acl => "This command expects two parameters: ACL identifier and key.\n",
        });
    }
    let r = match find(ctx, name, kind) {
        Ok(r) => r,
        Err(_) => return Kind::Map.unknown(),
    };
    let deleted = match entry_ref(key) {
        Some(Ok(id)) => r.del_id(id),
        Some(Err(e)) => return e,
        None => r.del(key) > 0,
    };
    if deleted {
        Reply::text("")
    } else {
        Reply::text("Key not found.\n")
    }
}

fn set(ctx: &mut Ctx<'_>, args: &[String], _: Option<&str>) -> Reply {
    if let Err(denied) = ctx.require(Level::Operator) {
        return denied;
    }
    let (name, key, value) = (arg(args, 2), arg(args, 3), arg(args, 4));
    if name.is_empty() || key.is_empty() || value.is_empty() {
        return Reply::text("'set map' expects three parameters: map identifier, key and value.\n");
    }
    let Some(r) = lookup(ctx, name) else {
        return Kind::Map.unknown();
    };
    let result = match entry_ref(key) {
        Some(Ok(id)) => r.set_id(id, value).map(|found| {
            if found {
                Ok(())
            } else {
                Err("key or pattern not found")
            }
        }),
        Some(Err(e)) => return e,
        None => r.set(key, value).map(|n| {
            if n > 0 {
                Ok(())
            } else {
                Err("entry not found")
            }
        }),
    };
    match result {
        Ok(Ok(())) => Reply::text(""),
        Ok(Err(why)) => Reply::Text(format!("{why}.\n")),
        Err(e) => Reply::Text(format!("{e}.\n")),
    }
}

fn clear(ctx: &mut Ctx<'_>, args: &[String], kind: Kind) -> Reply {
    if let Err(denied) = ctx.require(Level::Operator) {
        return denied;
    }
    let name = arg(args, 2);
    if name.is_empty() {
        return Reply::text(match kind {
            Kind::Map => "Missing map identifier.\n",
            Kind::Acl => "Missing ACL identifier.\n",
        });
    }
    match find(ctx, name, kind) {
        Ok(r) => {
            r.clear();
            Reply::text("")
        }
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests;
