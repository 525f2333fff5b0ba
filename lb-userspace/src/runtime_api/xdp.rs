//! `xdp deny|allow add|del|list`: the XDP guard's lists from the stats socket.
//!
//! Same words as `lb xdp deny|allow` on the command line, on the running guard's pins.
//! Listing needs the `user` level, changes the `operator` level; a change that worked
//! answers nothing, as HAProxy's `add acl`.

use super::Level;
use super::command::{Ctx, Keyword, Reply};
use crate::ebpf::list_command::{ListOp, execute, parse_request};

/// The commands of this module.
pub(super) const KEYWORDS: &[Keyword] = &[
    Keyword {
        words: &["xdp", "deny"],
        usage: Some(
            "xdp deny add <cidr> [<ttl>]|del <cidr>|list [json] : edit or show the XDP deny list",
        ),
        run: |ctx, args, _| request(ctx, args),
    },
    Keyword {
        words: &["xdp", "allow"],
        usage: Some(
            "xdp allow add <cidr> [<ttl>]|del <cidr>|list [json] : edit or show the XDP allow list",
        ),
        run: |ctx, args, _| request(ctx, args),
    },
];

fn request(ctx: &mut Ctx<'_>, args: &[String]) -> Reply {
    let request = match parse_request(&args[1..]) {
        Ok(r) => r,
        Err(message) => return Reply::text(format!("{message}\n")),
    };
    let needed = match request.op {
        ListOp::List { .. } => Level::User,
        ListOp::Add(..) | ListOp::Del(_) => Level::Operator,
    };
    if let Err(denied) = ctx.require(needed) {
        return denied;
    }
    let Some(pin_dir) = crate::ebpf::pushdown::pin_dir() else {
        return Reply::text("The XDP guard is not running.\n");
    };
    match execute(pin_dir, &request) {
        // As HAProxy's `add acl`: a change answers nothing when it worked.
        Ok(_) if !matches!(request.op, ListOp::List { .. }) => Reply::text(""),
        Ok(text) => Reply::text(text),
        Err(message) => Reply::text(format!("{message}\n")),
    }
}
