//! The keyword table of the runtime API and the dispatch of one request.
//!
//! A command is found by its leading words (`show servers state`), as HAProxy's
//! `cli_find_kw`: the first keyword whose words all match wins, and the rest of the words
//! are its arguments. Permission checks are made by each command, in HAProxy's order
//! (some parse their arguments first), with HAProxy's texts.

use std::time::Duration;

use super::{Level, RuntimeState, help, info, maps, servers, tables, xdp};
use crate::config::units::{TimeUnit, parse_time};

/// HAProxy's answer when the connection's level is too low.
pub const PERMISSION_DENIED: &str = "Permission denied\n";

/// What a command gives back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Text for the client (empty for a silent success).
    Text(String),
    /// Close the connection now, without a response (`quit`).
    Quit,
}

impl Reply {
    /// A text reply.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(text.into())
    }
}

/// What a command sees and may change: the process state and its own connection.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// The process state.
    pub rt: &'a RuntimeState,
    /// The date, in [`crate::clock::now_ms`] milliseconds.
    pub now_ms: u64,
    /// The connection's level.
    pub level: &'a mut Level,
    /// Interactive mode (`prompt`).
    pub interactive: &'a mut bool,
    /// The connection's own inactivity timeout (`set timeout cli`).
    pub timeout: &'a mut Option<Duration>,
}

impl Ctx<'_> {
    /// `Err(Permission denied)` unless the connection has at least `level`.
    pub fn require(&self, level: Level) -> Result<(), Reply> {
        if *self.level >= level {
            Ok(())
        } else {
            Err(Reply::text(PERMISSION_DENIED))
        }
    }
}

/// Runs a command: `args` are all the words of the request (the keyword's included).
pub type Handler = fn(&mut Ctx<'_>, &[String], Option<&str>) -> Reply;

/// One command of the runtime API.
#[derive(Debug)]
pub struct Keyword {
    /// The words that name it.
    pub words: &'static [&'static str],
    /// Its line in the help (`None`: not listed).
    pub usage: Option<&'static str>,
    /// What it does.
    pub run: Handler,
}

/// The commands of the session itself.
const SESSION: &[Keyword] = &[
    Keyword {
        words: &["help"],
        usage: None,
        run: |_, args, _| Reply::Text(help::usage(args, true)),
    },
    Keyword {
        words: &["prompt"],
        usage: None,
        run: |ctx, _, _| {
            *ctx.interactive = !*ctx.interactive;
            Reply::text("")
        },
    },
    Keyword {
        words: &["quit"],
        usage: None,
        run: |_, _, _| Reply::Quit,
    },
    Keyword {
        words: &["operator"],
        usage: Some(
            "operator                                : lower the level of the current CLI session to operator",
        ),
        run: |ctx, _, _| {
            if let Err(denied) = ctx.require(Level::Operator) {
                return denied;
            }
            *ctx.level = Level::Operator;
            Reply::text("")
        },
    },
    Keyword {
        words: &["user"],
        usage: Some(
            "user                                    : lower the level of the current CLI session to user",
        ),
        run: |ctx, _, _| {
            *ctx.level = Level::User;
            Reply::text("")
        },
    },
    Keyword {
        words: &["show", "cli", "level"],
        usage: Some(
            "show cli level                          : display the level of the current CLI session",
        ),
        run: |ctx, _, _| Reply::Text(format!("{}\n", ctx.level.name())),
    },
    Keyword {
        words: &["set", "timeout"],
        usage: Some("set timeout [cli] <delay>               : change a timeout setting"),
        run: set_timeout,
    },
];

/// Every command, by module.
pub fn keywords() -> impl Iterator<Item = &'static Keyword> {
    SESSION
        .iter()
        .chain(info::KEYWORDS)
        .chain(servers::KEYWORDS)
        .chain(tables::KEYWORDS)
        .chain(maps::KEYWORDS)
        .chain(xdp::KEYWORDS)
}

/// The command named by the leading words of `args`.
pub fn find(args: &[String]) -> Option<&'static Keyword> {
    keywords()
        .find(|kw| kw.words.len() <= args.len() && kw.words.iter().zip(args).all(|(w, a)| w == a))
}

/// Runs one request; an unknown command gets the usage message.
pub fn dispatch(ctx: &mut Ctx<'_>, args: &[String], payload: Option<&str>) -> Reply {
    match find(args) {
        Some(kw) => (kw.run)(ctx, args, payload),
        None => Reply::Text(help::usage(args, false)),
    }
}

/// `set timeout cli <delay>`: the delay is in seconds unless it has a unit.
fn set_timeout(ctx: &mut Ctx<'_>, args: &[String], _: Option<&str>) -> Reply {
    if arg(args, 2) != "cli" {
        return Reply::text("'set timeout' only supports 'cli'.\n");
    }
    let delay = arg(args, 3);
    if delay.is_empty() {
        return Reply::text("Expects an integer value.\n");
    }
    match parse_time(delay, TimeUnit::Seconds) {
        Ok(t) if t >= Duration::from_secs(1) => {
            *ctx.timeout = Some(t);
            Reply::text("")
        }
        _ => Reply::text("Invalid timeout value.\n"),
    }
}

/// Word `i` of a request, or `""` (HAProxy's commands see missing words as empty).
pub fn arg(args: &[String], i: usize) -> &str {
    args.get(i).map_or("", String::as_str)
}
