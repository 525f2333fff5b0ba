//! Backends and servers: `show backend`, `show servers state`, `get|set weight`,
//! `disable|enable server`, `set server ... weight|state`.
//!
//! A change that alters the usable set or a weight bumps the backend's generation, so that
//! every worker rebuilds its balancer before its next pick; a server coming back (or
//! getting a weight again) also serves the backend's queue at once.

use std::fmt::Write as _;
use std::sync::Arc;

use super::command::{Ctx, Keyword, Reply, arg};
use super::{Level, RuntimeState};
use crate::backend::state::{BackendState, ServerState};
use crate::config::model::{Balance, CheckKind, HashMethod, ServerPort};

/// The commands of this module.
pub(super) const KEYWORDS: &[Keyword] = &[
    Keyword {
        words: &["show", "backend"],
        usage: Some(
            "show backend                            : list backends in the current running config",
        ),
        run: |ctx, _, _| Reply::Text(show_backend(ctx.rt)),
    },
    Keyword {
        words: &["show", "servers", "state"],
        usage: Some(
            "show servers state [<backend>]          : dump volatile server information (all or for a single backend)",
        ),
        run: show_servers_state,
    },
    Keyword {
        words: &["get", "weight"],
        usage: Some("get weight <bk>/<srv>                   : report a server's current weight"),
        run: get_weight,
    },
    Keyword {
        words: &["set", "weight"],
        usage: Some(
            "set weight <bk>/<srv>  (DEPRECATED)     : change a server's weight (use 'set server' instead)",
        ),
        run: |ctx, args, _| {
            admin_on_server(ctx, arg(args, 2), |be, sv| set_weight(be, sv, arg(args, 3)))
        },
    },
    Keyword {
        words: &["disable", "server"],
        usage: Some(
            "disable server (DEPRECATED)             : disable a server for maintenance (use 'set server' instead)",
        ),
        run: |ctx, args, _| admin_on_server(ctx, arg(args, 2), |be, sv| set_maint(be, sv, true)),
    },
    Keyword {
        words: &["enable", "server"],
        usage: Some(
            "enable server  (DEPRECATED)             : enable a disabled server (use 'set server' instead)",
        ),
        run: |ctx, args, _| admin_on_server(ctx, arg(args, 2), |be, sv| set_maint(be, sv, false)),
    },
    Keyword {
        words: &["set", "server"],
        usage: Some("set server <bk>/<srv> [opts]            : change a server's state or weight"),
        run: set_server,
    },
];

/// `# name` then one backend per line.
fn show_backend(rt: &RuntimeState) -> String {
    let mut out = String::from("# name\n");
    for be in &rt.backends().list {
        out.push_str(&be.cfg.name);
        out.push('\n');
    }
    out
}

/// Format version 1 of `show servers state` (also HAProxy's server-state file format).
const STATE_HEADER: &str = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state \
    srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status \
    srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id \
    srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr \
    srv_agent_addr srv_agent_port\n";

fn show_servers_state(ctx: &mut Ctx<'_>, args: &[String], _: Option<&str>) -> Reply {
    let rt = ctx.rt;
    let wanted = arg(args, 3);
    let list: Vec<(usize, &Arc<BackendState>)> = if wanted.is_empty() {
        rt.backends().list.iter().enumerate().collect()
    } else {
        match rt.find_backend(wanted) {
            Some(found) => vec![found],
            None => return Reply::text("Can't find backend.\n"),
        }
    };
    let mut out = String::from(STATE_HEADER);
    for (idx, be) in list {
        for (pos, sv) in be.servers.iter().enumerate() {
            server_state_line(&mut out, rt.backend_id(idx), be, sv, pos, ctx.now_ms);
        }
    }
    Reply::Text(out)
}

// HAProxy's values for the state columns.
const SRV_ST_STOPPED: u8 = 0;
const SRV_ST_RUNNING: u8 = 2;
const SRV_ADMF_FMAINT: u8 = 0x01;
const SRV_ADMF_CMAINT: u8 = 0x04;
const HCHK_STATUS_INI: u8 = 1;
const HCHK_STATUS_L4OK: u8 = 6;
const HCHK_STATUS_L4CON: u8 = 8;
const HCHK_STATUS_L7OKD: u8 = 15;
const HCHK_STATUS_L7STS: u8 = 17;
const CHK_RES_FAILED: u8 = 2;
const CHK_RES_PASSED: u8 = 3;
const CHK_ST_CONFIGURED: u8 = 0x02;
const CHK_ST_ENABLED: u8 = 0x04;
const CHK_ST_PAUSED: u8 = 0x08;

/// One server's line. The check columns are derived from the server's state (the last
/// check's own status is not kept): a checked server that is up passed its last check,
/// one that is down failed it.
fn server_state_line(
    out: &mut String,
    be_id: u32,
    be: &BackendState,
    sv: &ServerState,
    pos: usize,
    now_ms: u64,
) {
    let cfg = &sv.cfg;
    let up = sv.is_up();
    let op_state = if up { SRV_ST_RUNNING } else { SRV_ST_STOPPED };
    // `disabled` in the configuration sets both flags in HAProxy; `disable server` FMAINT.
    let admin = match (sv.is_maint(), cfg.disabled) {
        (false, _) => 0,
        (true, false) => SRV_ADMF_FMAINT,
        (true, true) => SRV_ADMF_FMAINT | SRV_ADMF_CMAINT,
    };
    let (status, result, health, check_state) = if !cfg.check || cfg.track.is_some() {
        (HCHK_STATUS_INI, 0, 0, 0)
    } else {
        let http = !matches!(be.cfg.check, CheckKind::Tcp);
        let mut state = CHK_ST_CONFIGURED | CHK_ST_ENABLED;
        if sv.is_maint() {
            state |= CHK_ST_PAUSED;
        }
        match (up, http) {
            (true, false) => (
                HCHK_STATUS_L4OK,
                CHK_RES_PASSED,
                cfg.rise + cfg.fall - 1,
                state,
            ),
            (true, true) => (
                HCHK_STATUS_L7OKD,
                CHK_RES_PASSED,
                cfg.rise + cfg.fall - 1,
                state,
            ),
            (false, false) => (HCHK_STATUS_L4CON, CHK_RES_FAILED, 0, state),
            (false, true) => (HCHK_STATUS_L7STS, CHK_RES_FAILED, 0, state),
        }
    };
    let port = match cfg.port {
        ServerPort::Fixed(p) => p,
        ServerPort::Offset(_) | ServerPort::SameAsClient => 0,
    };
    let check_addr = cfg
        .check_addr
        .map_or_else(|| "-".to_owned(), |a| a.to_string());
    let forced_id = u8::from(usize::try_from(cfg.id).ok() != Some(pos + 1));
    let since = now_ms.saturating_sub(sv.last_change_ms()) / 1000;
    let _ = writeln!(
        out,
        "{be_id} {} {} {} {} {op_state} {admin} {} {} {since} {status} {result} {health} \
         {check_state} 0 0 {forced_id} - {port} - 0 {} {check_addr} - 0",
        be.cfg.name,
        cfg.id,
        cfg.name,
        cfg.addr,
        sv.weight(),
        cfg.weight,
        cfg.check_port.unwrap_or(0),
    );
}

/// Finds `<backend>/<server>` (either may be `#<id>`), or HAProxy's error text.
fn find_server<'a>(
    rt: &'a RuntimeState,
    spec: &str,
) -> Result<(&'a Arc<BackendState>, &'a Arc<ServerState>), Reply> {
    let Some((be_name, sv_name)) = spec.split_once('/') else {
        return Err(Reply::text("Require 'backend/server'.\n"));
    };
    let Some((_, be)) = rt.find_backend(be_name) else {
        return Err(Reply::text("No such backend.\n"));
    };
    let sv = match sv_name.strip_prefix('#') {
        Some(id) => id
            .parse::<u32>()
            .ok()
            .and_then(|id| be.servers.iter().find(|s| s.cfg.id == id)),
        None => be.server(sv_name),
    };
    sv.map(|sv| (be, sv))
        .ok_or_else(|| Reply::text("No such server.\n"))
}

/// Checks the admin level, then finds the server and applies `change`.
fn admin_on_server(
    ctx: &Ctx<'_>,
    spec: &str,
    change: impl FnOnce(&BackendState, &ServerState) -> Reply,
) -> Reply {
    if let Err(denied) = ctx.require(Level::Admin) {
        return denied;
    }
    match find_server(ctx.rt, spec) {
        Ok((be, sv)) => change(be, sv),
        Err(e) => e,
    }
}

fn get_weight(ctx: &mut Ctx<'_>, args: &[String], _: Option<&str>) -> Reply {
    match find_server(ctx.rt, arg(args, 2)) {
        Ok((_, sv)) => Reply::Text(format!("{} (initial {})\n", sv.weight(), sv.cfg.weight)),
        Err(e) => e,
    }
}

/// Whether the backend's algorithm takes weights once and for all (HAProxy's algorithms
/// without `BE_LB_PROP_DYN`): only 0 and the initial weight are accepted at run time.
fn static_weights(be: &BackendState) -> bool {
    match be.cfg.balance {
        Balance::StaticRr => true,
        Balance::Source
        | Balance::Hash(_)
        | Balance::RdpCookie { .. }
        | Balance::Uri(_)
        | Balance::UrlParam { .. }
        | Balance::Hdr { .. } => be.cfg.hash_type.method == HashMethod::MapBased,
        _ => false,
    }
}

/// Parses `<weight>[%]` like HAProxy's `server_parse_weight_change_request` (relative to
/// the initial weight with `%`, capped at 256).
fn parse_weight(text: &str, initial: u32) -> Result<u32, &'static str> {
    if text.is_empty() {
        return Err("Require <weight> or <weight%>.\n");
    }
    let trimmed = text.trim_start();
    let digits_start = usize::from(trimmed.starts_with(['+', '-']));
    let digits_end = trimmed[digits_start..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(trimmed.len(), |i| i + digits_start);
    if digits_end == digits_start {
        return Err("Empty weight string empty or preceded by garbage\n");
    }
    let negative = trimmed.starts_with('-');
    let magnitude: u64 = trimmed[digits_start..digits_end]
        .parse()
        .unwrap_or(u64::MAX);
    match &trimmed[digits_end..] {
        "%" if negative && magnitude > 0 => Err("Relative weight must be positive.\n"),
        "%" => {
            let pct = magnitude.min(25_600);
            Ok(u32::try_from((u64::from(initial) * pct / 100).min(256)).unwrap_or(256))
        }
        _ if (negative && magnitude > 0) || magnitude > 256 => {
            Err("Absolute weight can only be between 0 and 256 inclusive.\n")
        }
        "" => Ok(u32::try_from(magnitude).unwrap_or(256)),
        _ => Err("Trailing garbage in weight string\n"),
    }
}

fn set_weight(be: &BackendState, sv: &ServerState, text: &str) -> Reply {
    let weight = match parse_weight(text, sv.cfg.weight) {
        Ok(w) => w,
        Err(e) => return Reply::text(e),
    };
    if weight != 0 && weight != sv.cfg.weight && static_weights(be) {
        return Reply::text(
            "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n",
        );
    }
    let before = sv.weight();
    sv.set_weight(weight);
    if before != weight {
        be.bump_generation();
        if before == 0 {
            be.pump_queue();
        }
    }
    Reply::text("")
}

fn set_maint(be: &BackendState, sv: &ServerState, maint: bool) -> Reply {
    if sv.set_maint(maint) {
        if maint {
            tracing::warn!(
                "Server {}/{} is going DOWN for maintenance. {} active and {} backup servers left.",
                be.cfg.name,
                sv.cfg.name,
                usable(be, false),
                usable(be, true)
            );
        } else {
            tracing::warn!(
                "Server {}/{} is UP (leaving forced maintenance).",
                be.cfg.name,
                sv.cfg.name
            );
        }
        be.bump_generation();
        if !maint {
            be.pump_queue();
        }
    }
    Reply::text("")
}

fn usable(be: &BackendState, backup: bool) -> usize {
    be.servers
        .iter()
        .filter(|s| s.cfg.backup == backup && s.is_usable() && s.weight() > 0)
        .count()
}

/// `set server <bk>/<srv> weight <w>[%]` and `state ready|maint` (`drain` needs a drain
/// state the balancers do not have yet).
fn set_server(ctx: &mut Ctx<'_>, args: &[String], _: Option<&str>) -> Reply {
    let (what, value) = (arg(args, 3), arg(args, 4));
    admin_on_server(ctx, arg(args, 2), |be, sv| match (what, value) {
        ("weight", w) => set_weight(be, sv, w),
        ("state", "ready") => set_maint(be, sv, false),
        ("state", "maint") => set_maint(be, sv, true),
        ("state", "drain") => Reply::text("'set server <srv> state drain' is not supported yet.\n"),
        ("state", _) => {
            Reply::text("'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n")
        }
        (
            "addr" | "agent" | "agent-addr" | "agent-port" | "agent-send" | "check-addr"
            | "check-port" | "fqdn" | "health" | "ssl",
            _,
        ) => Reply::Text(format!("'set server <srv> {what}' is not supported yet.\n")),
        _ => Reply::text(
            "usage: set server <backend>/<server> addr|agent|agent-addr|agent-port|agent-send|check-addr|check-port|fqdn|health|ssl|state|weight\n",
        ),
    })
}

#[cfg(test)]
mod tests;
