//! HAProxy's log lines for server state changes (`srv_update_status()`, `srv_append_status()`,
//! `set_backend_down()`), as pure functions.

use crate::checks::result::CheckResult;

/// Why a server changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause<'a> {
    /// Its own health check.
    Check(&'a CheckResult),
    /// The server it tracks changed state (`track BACKEND/SERVER`).
    Via {
        /// Backend of the tracked server.
        backend: &'a str,
        /// The tracked server.
        server: &'a str,
    },
}

/// The numbers a state-change line reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Usable active (non-backup) servers of the backend after the change.
    pub active: usize,
    /// Usable backup servers of the backend after the change.
    pub backup: usize,
    /// Connections currently on the server.
    pub sessions: u32,
    /// Queued connections moved by the change.
    pub requeued: usize,
    /// Connections waiting in the server's own queue.
    pub queued: usize,
}

/// Which server a line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerRef<'a> {
    /// Backend name.
    pub backend: &'a str,
    /// Server name.
    pub server: &'a str,
    /// A `backup` server (the line starts with `Backup Server`).
    pub backup: bool,
}

impl ServerRef<'_> {
    fn prefix(&self) -> String {
        format!(
            "{}Server {}/{}",
            if self.backup { "Backup " } else { "" },
            self.backend,
            self.server
        )
    }
}

fn cause_text(cause: &Cause<'_>) -> String {
    match cause {
        Cause::Check(result) => result.to_string(),
        Cause::Via { backend, server } => format!(" via {backend}/{server}"),
    }
}

fn running_on_backup(counts: &Counts) -> &'static str {
    if counts.backup > 0 && counts.active == 0 {
        " Running on backup."
    } else {
        ""
    }
}

/// `Server be/srv is DOWN, reason: ..., check duration: 0ms. 1 active and 0 backup servers
/// left. 0 sessions active, 0 requeued, 0 remaining in queue.`
pub fn server_down(srv: ServerRef<'_>, cause: &Cause<'_>, counts: &Counts) -> String {
    format!(
        "{} is DOWN{}. {} active and {} backup servers left.{} {} sessions active, {} requeued, {} remaining in queue.",
        srv.prefix(),
        cause_text(cause),
        counts.active,
        counts.backup,
        running_on_backup(counts),
        counts.sessions,
        counts.requeued,
        counts.queued,
    )
}

/// `Server be/srv is UP, reason: ..., check duration: 1ms. 2 active and 0 backup servers
/// online. 0 sessions requeued, 0 total in queue.`
pub fn server_up(srv: ServerRef<'_>, cause: &Cause<'_>, counts: &Counts) -> String {
    format!(
        "{} is UP{}. {} active and {} backup servers online.{} {} sessions requeued, {} total in queue.",
        srv.prefix(),
        cause_text(cause),
        counts.active,
        counts.backup,
        running_on_backup(counts),
        counts.requeued,
        counts.queued,
    )
}

/// `backend be has no server available!`, logged when the last usable server goes away.
pub fn backend_down(backend: &str) -> String {
    format!("backend {backend} has no server available!")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::checks::result::CheckStatus;

    fn srv(backup: bool) -> ServerRef<'static> {
        ServerRef {
            backend: "be",
            server: "srv1",
            backup,
        }
    }

    #[test]
    fn down_line_matches_haproxy() {
        let r = CheckResult::new(CheckStatus::L4Con, "Connection refused")
            .with_duration(Duration::from_micros(300));
        let counts = Counts {
            active: 1,
            ..Counts::default()
        };
        assert_eq!(
            server_down(srv(false), &Cause::Check(&r), &counts),
            "Server be/srv1 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: 0ms. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
        );
    }

    #[test]
    fn up_line_matches_haproxy() {
        let r = CheckResult::new(CheckStatus::L7Ok, "")
            .with_code(200)
            .with_duration(Duration::from_millis(1));
        let counts = Counts {
            active: 2,
            ..Counts::default()
        };
        assert_eq!(
            server_up(srv(false), &Cause::Check(&r), &counts),
            "Server be/srv1 is UP, reason: Layer7 check passed, code: 200, check duration: 1ms. 2 active and 0 backup servers online. 0 sessions requeued, 0 total in queue."
        );
    }

    #[test]
    fn via_and_backup_and_running_on_backup() {
        let via = Cause::Via {
            backend: "be",
            server: "srv1",
        };
        let counts = Counts {
            active: 0,
            backup: 1,
            sessions: 3,
            requeued: 0,
            queued: 2,
        };
        let line = server_down(
            ServerRef {
                backend: "be2",
                server: "bk",
                backup: true,
            },
            &via,
            &counts,
        );
        assert_eq!(
            line,
            "Backup Server be2/bk is DOWN via be/srv1. 0 active and 1 backup servers left. Running on backup. 3 sessions active, 0 requeued, 2 remaining in queue."
        );
        let up = server_up(
            srv(false),
            &via,
            &Counts {
                requeued: 4,
                ..counts
            },
        );
        assert_eq!(
            up,
            "Server be/srv1 is UP via be/srv1. 0 active and 1 backup servers online. Running on backup. 4 sessions requeued, 2 total in queue."
        );
    }

    #[test]
    fn backend_down_line() {
        assert_eq!(backend_down("be"), "backend be has no server available!");
    }
}
