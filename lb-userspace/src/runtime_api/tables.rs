//! Stick tables: `show table`, `clear table`, `set table`, with HAProxy's filters
//! (`key <key>`, up to four `data.<type> <op> <value>`) and error texts.
//!
//! Listing entries, removing and setting them takes the `operator` level; at `user`
//! level `show table <name>` prints the header only, as HAProxy does.

use std::fmt::Write as _;
use std::sync::Arc;

use super::Level;
use super::command::{Ctx, Keyword, Reply, arg};
use crate::stick::{DataType, EntryView, Key, Table};

/// The commands of this module.
pub(super) const KEYWORDS: &[Keyword] = &[
    Keyword {
        words: &["show", "table"],
        usage: Some(
            "show table <table> [<filter>]*          : report table usage stats or dump this table's contents (filter: data/key)",
        ),
        run: |ctx, args, _| table_request(ctx, args, Action::Show),
    },
    Keyword {
        words: &["clear", "table"],
        usage: Some(
            "clear table <table> [<filter>]*         : remove an entry from a table (filter: data/key)",
        ),
        run: |ctx, args, _| table_request(ctx, args, Action::Clear),
    },
    Keyword {
        words: &["set", "table"],
        usage: Some(
            "set table <table> key <k> [data.* <v>]* : update or create a table entry's data",
        ),
        run: |ctx, args, _| table_request(ctx, args, Action::Set),
    },
];

/// Most `data.` filters in one request (HAProxy's `STKTABLE_FILTER_LEN`).
const MAX_FILTERS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Show,
    Clear,
    Set,
}

impl Action {
    /// HAProxy's message for arguments it does not understand.
    fn usage_error(self) -> Reply {
        Reply::text(match self {
            Self::Show => {
                "Optional argument only supports \"data.<store_data_type>\" <operator> <value> and key <key>\n"
            }
            Self::Clear => {
                "Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key <key>\n"
            }
            Self::Set => {
                "Required arguments: <table> key <key> [data.<store_data_type> <value>]*\n"
            }
        })
    }
}

/// An ACL-style comparison of a stored value (`eq`, `ne`, `le`, `ge`, `lt`, `gt`).
#[derive(Debug, Clone, Copy)]
struct Filter {
    data: DataType,
    op: &'static str,
    value: i64,
}

impl Filter {
    fn matches(&self, view: &EntryView) -> bool {
        let Some(&(_, v)) = view.data.iter().find(|(d, _)| d.data == self.data) else {
            return false;
        };
        let ord = v.cmp(&self.value);
        match self.op {
            "eq" => ord.is_eq(),
            "ne" => ord.is_ne(),
            "le" => ord.is_le(),
            "ge" => ord.is_ge(),
            "lt" => ord.is_lt(),
            _ => ord.is_gt(),
        }
    }
}

fn table_request(ctx: &mut Ctx<'_>, args: &[String], action: Action) -> Reply {
    let name = arg(args, 2);
    if name.is_empty() {
        return match action {
            Action::Show => {
                Reply::Text(ctx.rt.tables().iter().map(|t| t.header() + "\n").collect())
            }
            _ => action.usage_error(),
        };
    }
    let Some(table) = ctx.rt.tables().get(name) else {
        return Reply::text("No such table\n");
    };
    let first = arg(args, 3);
    if first == "key" {
        return per_key(ctx, table, args, action);
    }
    if action == Action::Set {
        return if first.starts_with("data.") {
            Reply::text(
                "content-based lookup is only supported with the \"show\" and \"clear\" actions\n",
            )
        } else {
            action.usage_error()
        };
    }
    let filters = match parse_filters(table, &args[3.min(args.len())..], action) {
        Ok(f) => f,
        Err(e) => return e,
    };
    match action {
        Action::Show => Reply::Text(show(table, &filters, *ctx.level, ctx.now_ms)),
        _ => {
            if let Err(denied) = ctx.require(Level::Operator) {
                return denied;
            }
            for view in table.entries(ctx.now_ms) {
                if filters.iter().all(|f| f.matches(&view)) {
                    // Entries in use stay, as in HAProxy.
                    table.remove(&view.key);
                }
            }
            Reply::text("")
        }
    }
}

/// `data.<type> <op> <value>` triples.
fn parse_filters(table: &Table, words: &[String], action: Action) -> Result<Vec<Filter>, Reply> {
    let mut filters = Vec::new();
    for triple in words.chunks(3) {
        let Some(name) = triple[0].strip_prefix("data.") else {
            return Err(action.usage_error());
        };
        if filters.len() == MAX_FILTERS {
            return Err(action.usage_error());
        }
        let Some(data) = DataType::from_name(name) else {
            return Err(Reply::text("Unknown data type\n"));
        };
        if !table.stores(data) {
            return Err(Reply::text("Data type not stored in this table\n"));
        }
        let Some(op) = ["eq", "ne", "le", "ge", "lt", "gt"]
            .into_iter()
            .find(|o| triple.get(1).is_some_and(|w| w == o))
        else {
            return Err(Reply::text(
                "Require and operator among \"eq\", \"ne\", \"le\", \"ge\", \"lt\", \"gt\"\n",
            ));
        };
        let Some(value) = triple.get(2).and_then(|v| v.parse::<i64>().ok()) else {
            return Err(Reply::text(
                "Require a valid integer value to compare against\n",
            ));
        };
        filters.push(Filter { data, op, value });
    }
    Ok(filters)
}

/// The header, then (from `operator` level) every entry the filters keep.
fn show(table: &Table, filters: &[Filter], level: Level, now_ms: u64) -> String {
    let mut out = table.header();
    out.push('\n');
    if level < Level::Operator {
        return out;
    }
    for view in table.entries(now_ms) {
        if filters.iter().all(|f| f.matches(&view)) {
            entry_line(&mut out, table, &view, now_ms);
        }
    }
    out
}

/// `0x...: key=K use=N exp=MS data...`; the address identifies the entry as HAProxy's does.
fn entry_line(out: &mut String, table: &Table, view: &EntryView, now_ms: u64) {
    let addr = table
        .lookup(&view.key, now_ms)
        .map_or(std::ptr::null(), |e| Arc::as_ptr(&e));
    let _ = writeln!(out, "{addr:p}: {}", table.show_line(view));
}

/// `<action> table <name> key <key> ...`.
fn per_key(ctx: &mut Ctx<'_>, table: &Table, args: &[String], action: Action) -> Reply {
    let text = arg(args, 4);
    if text.is_empty() {
        return Reply::text("Key value expected\n");
    }
    let Some(key) = table.key_type().parse_key(text) else {
        return Reply::text("Invalid key\n");
    };
    if let Err(denied) = ctx.require(Level::Operator) {
        return denied;
    }
    let now = ctx.now_ms;
    match action {
        Action::Show => {
            let Some(e) = table.lookup(&key, now) else {
                return Reply::text("");
            };
            let view = table.view(&e, now);
            drop(e);
            let mut out = table.header();
            out.push('\n');
            entry_line(&mut out, table, &view, now);
            Reply::Text(out)
        }
        Action::Clear => {
            if table.lookup(&key, now).is_none() || table.remove(&key) {
                Reply::text("")
            } else {
                Reply::text("Entry currently in use, cannot remove\n")
            }
        }
        Action::Set => set_entry(table, key, &args[5.min(args.len())..], now),
    }
}

/// `data.<type> <value>` pairs, all checked before the entry is created or changed.
fn set_entry(table: &Table, key: Key, words: &[String], now: u64) -> Reply {
    let mut values = Vec::new();
    for pair in words.chunks(2) {
        let Some(name) = pair[0].strip_prefix("data.") else {
            return Reply::text("\"data.<type>\" followed by a value expected\n");
        };
        let Some(data) = DataType::from_name(name) else {
            return Reply::text("Unknown data type\n");
        };
        if !table.stores(data) {
            return Reply::text("Data type not stored in this table\n");
        }
        let Some(value) = pair.get(1).and_then(|v| v.parse::<i64>().ok()) else {
            return Reply::text("Require a valid integer value to store\n");
        };
        values.push((data, value));
    }
    match table.set(key, &values, now) {
        Ok(()) => Reply::text(""),
        Err(_) => Reply::text("Unable to allocate a new entry\n"),
    }
}

#[cfg(test)]
mod tests;
