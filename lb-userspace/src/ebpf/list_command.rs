//! `deny|allow add|del|list`: editing the XDP deny and allow lists through their pins,
//! shared by the command line (`lb xdp deny ...`) and the runtime API (`xdp deny ...`).
//!
//! ```text
//! deny|allow add <CIDR> [<TTL>]   TTL: 30s, 10m, 1h, 1d (a bare number is seconds; rounded up to the second)
//! deny|allow del <CIDR>
//! deny|allow list [json]
//! ```

use std::{fmt::Write as _, path::Path, time::Duration};

use serde_json::json;

use super::{Cidr, CidrLists, CidrStatus, EbpfError, ListKind};
use crate::config::units::{TimeUnit, parse_time};

/// What to do with a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListOp {
    /// Add (or replace) an entry, for a while or forever.
    Add(Cidr, Option<Duration>),
    /// Remove an entry.
    Del(Cidr),
    /// Print the entries, as a table or as JSON.
    List {
        /// JSON output.
        json: bool,
    },
}

/// One request on a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListRequest {
    /// The list.
    pub kind: ListKind,
    /// The operation.
    pub op: ListOp,
}

/// The usage line of the list commands.
pub const LIST_USAGE: &str =
    "deny|allow add <CIDR> [<TTL>] | deny|allow del <CIDR> | deny|allow list [json]";

/// Parses `deny|allow add|del|list ...` (`words[0]` is the list). `--json` is taken as
/// `json`.
pub fn parse_request<S: AsRef<str>>(words: &[S]) -> Result<ListRequest, String> {
    let word = |i: usize| words.get(i).map(AsRef::as_ref);
    let kind = match word(0) {
        Some("deny") => ListKind::Deny,
        Some("allow") => ListKind::Allow,
        other => {
            return Err(format!(
                "expects 'deny' or 'allow' (got '{}')",
                other.unwrap_or("")
            ));
        }
    };
    let list = kind.name();
    let cidr = |i: usize| -> Result<Cidr, String> {
        let text =
            word(i).ok_or_else(|| format!("'{list} {}' expects a CIDR", word(1).unwrap_or("")))?;
        text.parse()
            .map_err(|_| format!("invalid CIDR '{text}': expects ADDRESS[/PREFIX]"))
    };
    let extra = |i: usize| match word(i) {
        Some(w) => Err(format!("unexpected argument '{w}'")),
        None => Ok(()),
    };
    let op = match word(1) {
        Some("add") => {
            let cidr = cidr(2)?;
            let ttl = match word(3) {
                None => None,
                Some(text) => Some(parse_ttl(text)?),
            };
            extra(4)?;
            ListOp::Add(cidr, ttl)
        }
        Some("del") => {
            let cidr = cidr(2)?;
            extra(3)?;
            ListOp::Del(cidr)
        }
        Some("list" | "show") => {
            let json = matches!(word(2), Some("json" | "--json"));
            extra(if json { 3 } else { 2 })?;
            ListOp::List { json }
        }
        other => {
            return Err(format!(
                "'{list}' expects 'add', 'del' or 'list' (got '{}')",
                other.unwrap_or("")
            ));
        }
    };
    Ok(ListRequest { kind, op })
}

/// A TTL: HAProxy time units, a bare number in seconds, rounded up to the second (as
/// `set timeout cli`); at least one second.
fn parse_ttl(text: &str) -> Result<Duration, String> {
    match parse_time(text, TimeUnit::Seconds) {
        Ok(ttl) if !ttl.is_zero() => Ok(ttl),
        Ok(_) => Err(format!("invalid TTL '{text}': must be at least 1s")),
        Err(e) => Err(format!("invalid TTL '{text}': {e}")),
    }
}

/// Runs `request` on the lists pinned under `pin_dir`; the text to print, or an error.
pub fn execute(pin_dir: &Path, request: &ListRequest) -> Result<String, String> {
    let fail = |e: EbpfError| e.to_string();
    let mut lists = CidrLists::open(pin_dir).map_err(fail)?;
    let list = request.kind.name();
    match request.op {
        ListOp::Add(cidr, ttl) => {
            lists.add(request.kind, cidr, ttl).map_err(fail)?;
            Ok(match ttl {
                Some(ttl) => format!("{list} {cidr} added for {}\n", human(ttl)),
                None => format!("{list} {cidr} added\n"),
            })
        }
        ListOp::Del(cidr) => match lists.delete(request.kind, cidr).map_err(fail)? {
            true => Ok(format!("{list} {cidr} deleted\n")),
            false => Err(format!("{cidr} is not in the {list} list")),
        },
        ListOp::List { json } => {
            let entries = lists.list(request.kind).map_err(fail)?;
            Ok(if json {
                to_json(request.kind, pin_dir, &entries)
            } else {
                to_table(&entries)
            })
        }
    }
}

/// One line per entry: prefix, time left (`never`, `expired`), hits.
pub fn to_table(entries: &[CidrStatus]) -> String {
    let mut out = format!("{:<44} {:>12} {:>14}\n", "cidr", "expires_in", "hits");
    for e in entries {
        let _ = writeln!(
            out,
            "{:<44} {:>12} {:>14}",
            e.cidr.to_string(),
            expiry_text(e.expires_in),
            e.hits
        );
    }
    out
}

fn expiry_text(expires_in: Option<Duration>) -> String {
    match expires_in {
        None => "never".to_owned(),
        Some(d) if d.is_zero() => "expired".to_owned(),
        Some(d) => human(d),
    }
}

/// `1h2m3s`-style, to the millisecond below a minute.
fn human(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 60 {
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        let mut out = String::new();
        if h > 0 {
            let _ = write!(out, "{h}h");
        }
        if m > 0 {
            let _ = write!(out, "{m}m");
        }
        if s > 0 {
            let _ = write!(out, "{s}s");
        }
        out
    } else if d.subsec_millis() == 0 {
        format!("{secs}s")
    } else {
        format!("{}.{:03}s", secs, d.subsec_millis())
    }
}

/// `{"list": "deny", "pin_path": ..., "entries": [{"cidr", "expires_in_ms", "expired",
/// "hits"}]}`; `expires_in_ms` is null for entries that never expire.
pub fn to_json(kind: ListKind, pin_dir: &Path, entries: &[CidrStatus]) -> String {
    let entries: Vec<_> = entries
        .iter()
        .map(|e| {
            json!({
                "cidr": e.cidr.to_string(),
                "expires_in_ms": e.expires_in.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                "expired": e.expires_in == Some(Duration::ZERO),
                "hits": e.hits,
            })
        })
        .collect();
    let value = json!({
        "list": kind.name(),
        "pin_path": pin_dir.display().to_string(),
        "entries": entries,
    });
    format!("{value}\n")
}

/// Usage of `lb xdp deny|allow`.
pub const CLI_USAGE: &str = "usage: lb xdp deny|allow add <CIDR> [<TTL>] [PIN]\n       lb xdp deny|allow del <CIDR> [PIN]\n       lb xdp deny|allow list [--json] [PIN]\n  PIN: -p|--pin-path DIR (default /sys/fs/bpf/lb) or -f CONFIG (its xdp pin-path)\n  TTL: 30s, 10m, 1h, 1d; a bare number is seconds; without TTL the entry stays until lb restarts";

/// Runs `lb xdp deny|allow ...` (`args` start with `deny`/`allow`); returns the exit code:
/// 0 done, 1 failed (message on stderr), 2 usage error.
pub fn run_cli(args: &[String]) -> i32 {
    let (words, pin) = match split_pin_args(args) {
        Ok(split) => split,
        Err(message) => {
            eprintln!("lb xdp: {message}\n{CLI_USAGE}");
            return 2;
        }
    };
    if words.iter().any(|w| w == "-h" || w == "--help") {
        println!("{CLI_USAGE}");
        return 0;
    }
    let request = match parse_request(&words) {
        Ok(r) => r,
        Err(message) => {
            eprintln!("lb xdp: {message}\n{CLI_USAGE}");
            return 2;
        }
    };
    let pin_dir = match pin {
        PinArg::Dir(dir) => dir,
        PinArg::Default => std::path::PathBuf::from(crate::config::model::DEFAULT_PIN_PATH),
        PinArg::Config(file) => match crate::config::load(std::slice::from_ref(&file)) {
            Ok(config) => match config.xdp {
                Some(xdp) => xdp.pin_path,
                None => {
                    eprintln!("lb xdp: {} has no xdp section", file.display());
                    return 1;
                }
            },
            Err(errors) => {
                for e in errors.iter() {
                    eprintln!("lb xdp: {e}");
                }
                return 1;
            }
        },
    };
    match execute(&pin_dir, &request) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(message) => {
            eprintln!("lb xdp {}: {message}", request.kind.name());
            1
        }
    }
}

/// Where the pins are, as the command line says.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PinArg {
    Default,
    Dir(std::path::PathBuf),
    Config(std::path::PathBuf),
}

/// Separates `-p DIR`, `--pin-path DIR` and `-f CONFIG` from the request words.
fn split_pin_args(args: &[String]) -> Result<(Vec<String>, PinArg), String> {
    let mut words = Vec::new();
    let mut pin = PinArg::Default;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-p" | "--pin-path" => {
                let dir = it
                    .next()
                    .ok_or_else(|| format!("{arg} needs a directory"))?;
                pin = PinArg::Dir(dir.into());
            }
            "-f" => {
                let file = it.next().ok_or("-f needs a configuration file")?;
                pin = PinArg::Config(file.into());
            }
            _ => words.push(arg.clone()),
        }
    }
    Ok((words, pin))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ListRequest, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        parse_request(&words)
    }

    #[test]
    fn requests() {
        let c = |s: &str| s.parse::<Cidr>().unwrap();
        assert_eq!(
            parse("deny add 10.0.0.0/8 60").unwrap(),
            ListRequest {
                kind: ListKind::Deny,
                op: ListOp::Add(c("10.0.0.0/8"), Some(Duration::from_secs(60)))
            }
        );
        assert_eq!(
            parse("allow add 2001:db8::/32 500ms").unwrap().op,
            ListOp::Add(c("2001:db8::/32"), Some(Duration::from_secs(1)))
        );
        assert_eq!(
            parse("deny add 192.0.2.1").unwrap().op,
            ListOp::Add(c("192.0.2.1/32"), None)
        );
        assert_eq!(
            parse("deny del 192.0.2.1").unwrap().op,
            ListOp::Del(c("192.0.2.1/32"))
        );
        assert_eq!(
            parse("allow list --json").unwrap(),
            ListRequest {
                kind: ListKind::Allow,
                op: ListOp::List { json: true }
            }
        );
        assert_eq!(parse("deny list").unwrap().op, ListOp::List { json: false });
    }

    #[test]
    fn request_errors() {
        assert_eq!(
            parse("permit add 1.2.3.4").unwrap_err(),
            "expects 'deny' or 'allow' (got 'permit')"
        );
        assert_eq!(
            parse("deny").unwrap_err(),
            "'deny' expects 'add', 'del' or 'list' (got '')"
        );
        assert_eq!(parse("deny add").unwrap_err(), "'deny add' expects a CIDR");
        assert_eq!(
            parse("deny add 10.0.0.0/40").unwrap_err(),
            "invalid CIDR '10.0.0.0/40': expects ADDRESS[/PREFIX]"
        );
        assert_eq!(
            parse("deny add 10.0.0.1 5y").unwrap_err(),
            "invalid TTL '5y': unexpected character 'y' (time units are us, ms, s, m, h, d)"
        );
        assert_eq!(
            parse("deny add 10.0.0.1 0").unwrap_err(),
            "invalid TTL '0': must be at least 1s"
        );
        assert_eq!(
            parse("deny del 10.0.0.1 60").unwrap_err(),
            "unexpected argument '60'"
        );
        assert_eq!(
            parse("deny list yaml").unwrap_err(),
            "unexpected argument 'yaml'"
        );
    }

    #[test]
    fn rendering() {
        let entries = [
            CidrStatus {
                cidr: "10.0.0.0/8".parse().unwrap(),
                expires_in: None,
                hits: 12,
            },
            CidrStatus {
                cidr: "192.0.2.1".parse().unwrap(),
                expires_in: Some(Duration::from_millis(59_250)),
                hits: 0,
            },
            CidrStatus {
                cidr: "2001:db8::/32".parse().unwrap(),
                expires_in: Some(Duration::ZERO),
                hits: 3,
            },
        ];
        let table = to_table(&entries);
        let lines: Vec<Vec<&str>> = table
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(lines[0], ["cidr", "expires_in", "hits"]);
        assert_eq!(lines[1], ["10.0.0.0/8", "never", "12"]);
        assert_eq!(lines[2], ["192.0.2.1/32", "59.250s", "0"]);
        assert_eq!(lines[3], ["2001:db8::/32", "expired", "3"]);
        assert_eq!(human(Duration::from_secs(3723)), "1h2m3s");
        assert_eq!(human(Duration::from_secs(600)), "10m");
        let v: serde_json::Value =
            serde_json::from_str(&to_json(ListKind::Deny, Path::new("/p"), &entries)).unwrap();
        assert_eq!(v["list"], "deny");
        assert_eq!(v["entries"][0]["expires_in_ms"], serde_json::Value::Null);
        assert_eq!(v["entries"][1]["expires_in_ms"], 59_250);
        assert_eq!(v["entries"][2]["expired"], true);
        assert_eq!(v["entries"][0]["hits"], 12);
    }

    #[test]
    fn pin_arguments() {
        let args = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        let (words, pin) = split_pin_args(&args("deny -p /sys/fs/bpf/x list --json")).unwrap();
        assert_eq!(words, ["deny", "list", "--json"]);
        assert_eq!(pin, PinArg::Dir("/sys/fs/bpf/x".into()));
        let (_, pin) = split_pin_args(&args("allow add 1.2.3.4 -f lb.cfg")).unwrap();
        assert_eq!(pin, PinArg::Config("lb.cfg".into()));
        assert_eq!(
            split_pin_args(&args("deny list")).unwrap().1,
            PinArg::Default
        );
        assert_eq!(
            split_pin_args(&args("deny list --pin-path")).unwrap_err(),
            "--pin-path needs a directory"
        );
        assert_eq!(run_cli(&args("deny frob")), 2);
        assert_eq!(run_cli(&args("deny list -p /sys/fs/bpf/lb-no-such-dir")), 1);
    }
}
