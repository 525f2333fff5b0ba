//! `show info`: the process, in HAProxy's `Name: value` lines (the fields `lb` can fill,
//! in HAProxy's order).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::RuntimeState;
use super::command::{Keyword, Reply, arg};

/// The commands of this module.
pub(super) const KEYWORDS: &[Keyword] = &[Keyword {
    words: &["show", "info"],
    usage: Some(
        "show info                               : report information about the running process",
    ),
    run: |ctx, args, _| match arg(args, 2) {
        "" => Reply::Text(show_info(ctx.rt, ctx.now_ms)),
        format @ ("typed" | "json" | "desc" | "float") => Reply::Text(format!(
            "show info: the '{format}' output is not supported yet.\n"
        )),
        _ => Reply::Text(show_info(ctx.rt, ctx.now_ms)),
    },
}];

/// The `show info` text.
pub(super) fn show_info(rt: &RuntimeState, now_ms: u64) -> String {
    let info = rt.info();
    let shared = rt.shared();
    let up = now_ms.saturating_sub(info.start_ms) / 1000;
    let cum_conns: u64 = shared
        .frontends
        .iter()
        .map(|f| f.total_conns.load(Ordering::Relaxed))
        .sum();
    let listeners: usize = shared
        .frontends
        .iter()
        .flat_map(|f| &f.cfg.binds)
        .map(|b| b.addrs.len() + b.ranges.len())
        .sum();
    let maxconn = shared.global.max();
    let mut out = String::new();
    let mut field = |name: &str, value: &dyn std::fmt::Display| {
        let _ = writeln!(out, "{name}: {value}");
    };
    field("Name", &"lb");
    field("Version", &env!("CARGO_PKG_VERSION"));
    field("Nbthread", &info.nbthread);
    field("Nbproc", &1);
    field("Process_num", &1);
    field("Pid", &info.pid);
    field("Uptime", &uptime(up));
    field("Uptime_sec", &up);
    field("Ulimit-n", &info.ulimit_n);
    field("Maxconn", &maxconn);
    field("Hard_maxconn", &maxconn);
    field("CurrConns", &shared.actconn.load(Ordering::Relaxed));
    field("CumConns", &cum_conns);
    field("Listeners", &listeners);
    field("Start_time_sec", &info.start_unix_sec);
    out
}

/// `0d 0h00m04s`, as HAProxy prints uptimes.
fn uptime(secs: u64) -> String {
    format!(
        "{}d {}h{:02}m{:02}s",
        secs / 86400,
        (secs % 86400) / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::runtime_api::testutil::{TestRt, fields};

    #[test]
    fn uptimes() {
        assert_eq!(uptime(4), "0d 0h00m04s");
        assert_eq!(uptime(90061), "1d 1h01m01s");
    }

    #[test]
    fn show_info_reports_the_process() {
        let t = TestRt::new("");
        t.rt.shared().actconn.store(3, Ordering::Relaxed);
        t.rt.shared().frontends[0]
            .total_conns
            .store(42, Ordering::Relaxed);
        let start = t.rt.info().start_ms;
        let out = t.run("show info", start + 61_500);
        let f = fields(&out);
        assert_eq!(f["Name"], "lb");
        assert_eq!(f["Version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(f["Nbthread"], "2");
        assert_eq!(f["Pid"], std::process::id().to_string());
        assert_eq!(f["Uptime"], "0d 0h01m01s");
        assert_eq!(f["Uptime_sec"], "61");
        assert_eq!(f["Maxconn"], "500");
        assert_eq!(f["CurrConns"], "3");
        assert_eq!(f["CumConns"], "42");
        assert_eq!(f["Listeners"], "1");
        let names: Vec<&str> = out.lines().filter_map(|l| l.split(": ").next()).collect();
        assert_eq!(
            names[..3],
            ["Name", "Version", "Nbthread"],
            "HAProxy's order"
        );
        assert!(out.ends_with("\n\n"), "{out:?}");
        assert_eq!(
            t.run("show info json", start),
            "show info: the 'json' output is not supported yet.\n\n"
        );
    }
}
