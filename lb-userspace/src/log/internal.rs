//! The process's own messages (start, stop, check transitions, errors) on stderr, in
//! HAProxy's shape: `[WARNING]  (1234) : Server be/s1 is DOWN, ...`.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats events as HAProxy prints its own messages.
#[derive(Debug, Clone, Copy, Default)]
pub struct HaproxyStyle;

impl<S, N> FormatEvent<S, N> for HaproxyStyle
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let tag = level_tag(*event.metadata().level());
        write!(writer, "{tag:<10} ({}) : ", std::process::id())?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// HAProxy's names for message severities.
fn level_tag(level: Level) -> &'static str {
    match level {
        Level::ERROR => "[ALERT]",
        Level::WARN => "[WARNING]",
        Level::INFO => "[NOTICE]",
        Level::DEBUG => "[DEBUG]",
        Level::TRACE => "[TRACE]",
    }
}

/// Installs the stderr subscriber; `filter` is an `EnvFilter` directive such as `info`.
/// The `LB_LOG` environment variable overrides it.
pub fn init(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .event_format(HaproxyStyle)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_match_haproxy() {
        assert_eq!(level_tag(Level::ERROR), "[ALERT]");
        assert_eq!(level_tag(Level::WARN), "[WARNING]");
        assert_eq!(level_tag(Level::INFO), "[NOTICE]");
    }
}
