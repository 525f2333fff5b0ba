//! Traffic logs (`log ...`, `option tcplog`) and internal events.
//!
//! [`format`] builds HAProxy's log lines from what the runtime measured, [`syslog`] frames
//! them per target, [`time`] provides the dates, and [`sink`] (the only module doing I/O)
//! sends them without blocking a worker.

pub mod format;
pub mod internal;
pub mod sink;
pub mod syslog;
pub mod time;

pub use format::{LogAddr, TcpLogRecord, TermCause, TermPhase, Termination};
pub use sink::{LogError, Logger, dropped_logs, flush_stdio};
pub use syslog::{Facility, Level};
