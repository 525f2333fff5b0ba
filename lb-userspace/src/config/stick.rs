//! `stick-table` and `stick on|match|store-request` in proxies, and `peers` sections
//! (whose `table` lines declare tables named `PEERS/TABLE`).

use std::collections::HashMap;

use super::draft::{ProxyDraft, ProxyKind};
use super::error::{ConfigError, ConfigErrors, ErrorKind};
use super::line::{Line, invalid_name_char};
use super::model::{Config, Location};
use super::proxy::{Cap, require};
use crate::acl::Condition;
use crate::sample::SampleExpr;
use crate::stick::types::DEFAULT_KEY_LEN;
use crate::stick::{DataCfg, DataType, KeyType, StickKind, StickRule, TableCfg};

/// What `peers` features bring; `peer` lines and synchronization are not there yet.
const PEERS_FEATURE: &str = "multi-node (peers)";
/// Longest `len` of string and binary keys we accept.
const MAX_KEY_LEN: u64 = 65_535;

/// `stick-table type ... size ... [expire T] [nopurge] [store ...]` in a proxy.
pub(crate) fn stick_table(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    if px.kind == ProxyKind::Defaults {
        let kind = ErrorKind::NotAllowed {
            keyword: "stick-table".into(),
            section: "defaults".into(),
        };
        return Err(line.err(kind));
    }
    if let Some(first) = &px.stick_table {
        let reason = format!(
            "only one stick-table per proxy is allowed (the first one is at {})",
            first.location
        );
        return Err(line.invalid("stick-table", reason));
    }
    px.stick_table = Some(parse_table(line, px.name.clone(), 1)?);
    Ok(())
}

/// Parses the arguments of a table declaration from word `first` on.
fn parse_table(line: &Line, name: String, first: usize) -> Result<TableCfg, ConfigError> {
    let kw = line.kw().to_owned();
    let mut key = None;
    let mut size = None;
    let mut expire = None;
    let mut nopurge = false;
    let mut store: Vec<DataCfg> = Vec::new();
    let mut i = first;
    while let Some(arg) = line.arg(i) {
        i += 1;
        match arg {
            "type" => {
                let (ty, used) = parse_type(line, &kw, i)?;
                key = Some(ty);
                i += used;
            }
            "size" => {
                let value = line.required(i, &kw, "a size after 'size'")?;
                let n = line.size(&format!("{kw} size"), value)?;
                size = Some(u32::try_from(n).unwrap_or(u32::MAX));
                i += 1;
            }
            "expire" => {
                let value = line.required(i, &kw, "a time after 'expire'")?;
                // The time parser already caps times at HAProxy's 2^31 - 1 ms.
                let t = line.time(&format!("{kw} expire"), value)?;
                expire = Some(t).filter(|t| !t.is_zero());
                i += 1;
            }
            "nopurge" => nopurge = true,
            "store" => {
                let list = line.required(i, &kw, "a list of data types after 'store'")?;
                for d in parse_store(line, &kw, list)? {
                    if !store.iter().any(|s| s.data == d.data) {
                        store.push(d);
                    }
                }
                i += 1;
            }
            "peers" => return Err(line.unsupported(format!("{kw} peers"), PEERS_FEATURE)),
            other => return Err(line.invalid(&kw, format!("unknown argument '{other}'"))),
        }
    }
    let key = key.ok_or_else(|| line.invalid(&kw, "missing type"))?;
    let size = size
        .filter(|&s| s > 0)
        .ok_or_else(|| line.invalid(&kw, "missing size"))?;
    store.sort_by_key(|d| d.data);
    Ok(TableCfg {
        name,
        key,
        size,
        expire,
        nopurge,
        store,
        location: line.loc.clone(),
    })
}

/// `type ip|ipv6|integer|string [len N]|binary [len N]` from word `i` (after `type`);
/// returns the type and how many words it used.
fn parse_type(line: &Line, kw: &str, i: usize) -> Result<(KeyType, usize), ConfigError> {
    let ty = line.required(i, kw, "a type after 'type'")?;
    let sized = |len| match ty {
        "string" => KeyType::String { len },
        _ => KeyType::Binary { len },
    };
    match ty {
        "ip" => Ok((KeyType::Ip, 1)),
        "ipv6" => Ok((KeyType::Ipv6, 1)),
        "integer" => Ok((KeyType::Integer, 1)),
        "string" | "binary" if line.arg(i + 1) == Some("len") => {
            let value = line.required(i + 2, kw, "a positive integer after 'len'")?;
            let len = line.number(&format!("{kw} len"), value, 1, MAX_KEY_LEN)?;
            Ok((sized(usize::try_from(len).unwrap_or(usize::MAX)), 3))
        }
        "string" | "binary" => Ok((sized(DEFAULT_KEY_LEN), 1)),
        other => Err(line.bad_value(
            &format!("{kw} type"),
            other,
            "expects 'ip', 'ipv6', 'integer', 'string' or 'binary'",
        )),
    }
}

/// `store a,b(T),...`: data types with their periods (commas inside parentheses stay).
fn parse_store(line: &Line, kw: &str, list: &str) -> Result<Vec<DataCfg>, ConfigError> {
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in list.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&list[start..]);
    items
        .into_iter()
        .filter(|item| !item.is_empty())
        .map(|item| parse_data(line, kw, item))
        .collect()
}

fn parse_data(line: &Line, kw: &str, item: &str) -> Result<DataCfg, ConfigError> {
    let (name, arg) = match item.split_once('(') {
        Some((name, rest)) => match rest.strip_suffix(')') {
            Some(arg) => (name, Some(arg)),
            None => return Err(line.bad_value(&format!("{kw} store"), item, "missing ')'")),
        },
        None => (item, None),
    };
    let skw = format!("{kw} store");
    let Some(data) = DataType::from_name(name) else {
        return Err(match name {
            "gpc" | "gpc_rate" | "gpt" => line.unsupported(
                format!("{kw} store {name}"),
                "arrays of general purpose counters and tags",
            ),
            "server_key" => line.unsupported(format!("{kw} store {name}"), PEERS_FEATURE),
            _ => line.bad_value(&skw, name, "unknown data type"),
        });
    };
    let period_ms = match (data.is_rate(), arg) {
        (true, None) => {
            let reason = format!("data type '{name}' needs a period, e.g. '{name}(10s)'");
            return Err(line.invalid(&skw, reason));
        }
        (true, Some(p)) => {
            let t = line.time(&format!("{skw} {name}"), p)?;
            u32::try_from(t.as_millis())
                .ok()
                .filter(|&ms| ms > 0 && ms <= i32::MAX.unsigned_abs())
                .ok_or_else(|| {
                    line.bad_value(
                        &format!("{skw} {name}"),
                        p,
                        "period must be between 1ms and 24d",
                    )
                })?
        }
        (false, Some(_)) => {
            let reason = format!("data type '{name}' takes no argument");
            return Err(line.invalid(&skw, reason));
        }
        (false, None) => 0,
    };
    Ok(DataCfg { data, period_ms })
}

/// `stick on|match|store-request <expr> [table T] [if|unless COND]` in a backend.
pub(crate) fn stick_rule(px: &mut ProxyDraft, line: &Line) -> Result<(), ConfigError> {
    if px.kind == ProxyKind::Defaults {
        let kind = ErrorKind::NotAllowed {
            keyword: "stick".into(),
            section: "defaults".into(),
        };
        return Err(line.err(kind));
    }
    require(px, line, "stick", Cap::Backend)?;
    let expected = "'on', 'match', 'store-request' or 'store-response'";
    let kind = match line.required(1, "stick", expected)? {
        "on" => StickKind::On,
        "match" => StickKind::Match,
        "store-request" => StickKind::StoreRequest,
        "store-response" => StickKind::StoreResponse,
        other => {
            return Err(line.invalid(
                "stick",
                format!("unknown keyword '{other}', expects {expected}"),
            ));
        }
    };
    let kw = format!("stick {}", kind.keyword());
    let text = line.required(2, &kw, "a sample expression")?;
    let expr = SampleExpr::parse(text).map_err(|source| {
        line.err(ErrorKind::Sample {
            keyword: kw.clone(),
            source,
        })
    })?;
    let mut i = 3;
    let mut table = px.name.clone();
    if line.arg(i) == Some("table") {
        table = line
            .required(i + 1, &kw, "a table name after 'table'")?
            .to_owned();
        i += 2;
    }
    let cond = match line.arg(i) {
        None => None,
        Some("if" | "unless") => Some(Condition::parse(&line.words[i..], &px.acls).map_err(
            |source| {
                line.err(ErrorKind::Condition {
                    rule: "sticking rule",
                    source,
                })
            },
        )?),
        Some(other) => return Err(line.invalid(&kw, format!("unknown keyword '{other}'"))),
    };
    px.stick_rules.push(StickRule {
        kind,
        expr,
        table,
        cond,
        location: line.loc.clone(),
    });
    Ok(())
}

/// A `peers` section being parsed.
#[derive(Debug, Clone)]
pub(crate) struct PeersDraft {
    name: String,
    location: Location,
    tables: Vec<TableCfg>,
}

/// `peers NAME`: starts a section; `others` are the sections seen so far.
pub(crate) fn peers_section(line: &Line, others: &[PeersDraft]) -> Result<PeersDraft, ConfigError> {
    let name = line.required(1, "peers", "an <id> argument")?;
    line.max_args(1, "peers")?;
    if let Some(c) = invalid_name_char(name) {
        let reason = format!("character '{c}' is not permitted in 'peers' name '{name}'");
        return Err(line.invalid("peers", reason));
    }
    if let Some(first) = others.iter().find(|p| p.name == name) {
        let kind = ErrorKind::Duplicate {
            what: "peers section",
            name: name.to_owned(),
            other: "peers section",
            first: first.location.clone(),
        };
        return Err(line.err(kind));
    }
    Ok(PeersDraft {
        name: name.to_owned(),
        location: line.loc.clone(),
        tables: Vec::new(),
    })
}

/// One line of a `peers` section.
pub(crate) fn peers_keyword(peers: &mut PeersDraft, line: &Line) -> Result<(), ConfigError> {
    line.no_modifier()?;
    match line.kw() {
        "table" => {
            let name = line.required(1, "table", "a table name and its settings")?;
            if let Some(c) = invalid_name_char(name) {
                let reason = format!("character '{c}' is not permitted in table name '{name}'");
                return Err(line.invalid("table", reason));
            }
            let full = format!("{}/{name}", peers.name);
            if let Some(first) = peers.tables.iter().find(|t| t.name == full) {
                let kind = ErrorKind::Duplicate {
                    what: "table",
                    name: name.to_owned(),
                    other: "table",
                    first: first.location.clone(),
                };
                return Err(line.err(kind));
            }
            peers.tables.push(parse_table(line, full, 2)?);
            Ok(())
        }
        // Nothing is synchronized yet, so there is nothing to disable.
        "disabled" | "enabled" | "enable" => line.max_args(0, line.kw()),
        kw @ ("peer" | "server" | "bind" | "default-bind" | "default-server" | "localpeer"
        | "shards" | "log") => Err(line.unsupported(kw, PEERS_FEATURE)),
        kw => Err(line.err(ErrorKind::UnknownKeyword {
            keyword: kw.into(),
            section: "peers".into(),
        })),
    }
}

/// Configuration-wide checks once every proxy is built: table names are unique, stick
/// rules name existing tables of a compatible key type, and those tables store
/// `server_id` (HAProxy adds it implicitly).
pub(crate) fn finish(config: &mut Config, peers: Vec<PeersDraft>, errors: &mut ConfigErrors) {
    config.tables = peers.into_iter().flat_map(|p| p.tables).collect();
    let mut declared: Vec<&TableCfg> = config.stick_tables().collect();
    // Report a conflict at the later declaration; a listen section's table shows in both
    // halves: same declaration, same place, no conflict.
    declared.sort_by(|a, b| {
        (&a.location.file, a.location.line).cmp(&(&b.location.file, b.location.line))
    });
    let mut by_name: HashMap<&str, &TableCfg> = HashMap::new();
    for t in declared {
        match by_name.get(t.name.as_str()) {
            Some(first) if first.location != t.location => {
                let reason = format!(
                    "stick-table name '{}' conflicts with the table declared at {}",
                    t.name, first.location
                );
                errors.push(ConfigError::new(
                    t.location.clone(),
                    ErrorKind::Consistency(reason),
                ));
            }
            _ => {
                by_name.insert(&t.name, t);
            }
        }
    }
    let mut sticky: Vec<String> = Vec::new();
    for be in &config.backends {
        for rule in &be.stick_rules {
            let problem = match by_name.get(rule.table.as_str()) {
                None => format!(
                    "proxy '{}': unable to find stick-table '{}'",
                    be.name, rule.table
                ),
                Some(t) if !t.accepts(rule.expr.out_type()) => format!(
                    "proxy '{}': type of fetch not usable with type of stick-table '{}'",
                    be.name, rule.table
                ),
                Some(_) => {
                    sticky.push(rule.table.clone());
                    continue;
                }
            };
            errors.push(ConfigError::new(
                rule.location.clone(),
                ErrorKind::Consistency(problem),
            ));
        }
    }
    for t in config
        .stick_tables_mut()
        .filter(|t| sticky.contains(&t.name))
    {
        t.add_store(DataType::ServerId);
    }
}

#[cfg(test)]
#[path = "stick_tests.rs"]
mod tests;
