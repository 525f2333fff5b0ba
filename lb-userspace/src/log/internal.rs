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
        let meta = event.metadata();
        if is_h2_protocol_error(meta) {
            // A refused HTTP/2 frame or stream: the reason is in the h2 library's message.
            write!(writer, "{:<10} ({}) : h2: ", "[NOTICE]", std::process::id())?;
            ctx.field_format().format_fields(writer.by_ref(), event)?;
            return writeln!(writer);
        }
        let tag = level_tag(*meta.level());
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

/// Whether an event is the h2 library reporting a protocol error of a peer: its stream
/// and connection errors (`proto_err!`, `malformed!`) are DEBUG events with a message
/// only, in these modules. The other DEBUG events of h2 (frames sent and received) carry
/// more fields and stay out, so the choice is made once per call site, at no cost per
/// frame.
fn is_h2_protocol_error(meta: &tracing::Metadata<'_>) -> bool {
    *meta.level() == Level::DEBUG
        && matches!(
            meta.target(),
            "h2::server"
                | "h2::codec::framed_read"
                | "h2::proto::streams::recv"
                | "h2::proto::streams::streams"
                | "h2::proto::streams::state"
                | "h2::proto::peer"
        )
        && meta.fields().len() == 1
        && meta.fields().field("message").is_some()
}

/// Installs the stderr subscriber; `filter` is an `EnvFilter` directive such as `info`.
/// The `LB_LOG` environment variable overrides it. At `info` and `debug`, HTTP/2 protocol
/// errors of peers (a malformed request refused with RST_STREAM, a GOAWAY) are printed as
/// notices: each refused request has its reason line.
pub fn init(filter: &str) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let (env, h2_errors) = match tracing_subscriber::EnvFilter::try_from_env("LB_LOG") {
        Ok(f) => (f, false),
        Err(_) => (
            tracing_subscriber::EnvFilter::new(filter),
            matches!(filter, "info" | "debug"),
        ),
    };
    let h2 =
        tracing_subscriber::filter::filter_fn(move |meta| h2_errors && is_h2_protocol_error(meta))
            // TRACE events stay cut by the global level check, before any callsite lookup.
            .with_max_level_hint(if h2_errors {
                tracing::level_filters::LevelFilter::DEBUG
            } else {
                tracing::level_filters::LevelFilter::OFF
            });
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .event_format(HaproxyStyle)
        .with_filter(tracing_subscriber::filter::FilterExt::or(env, h2));
    let _ = tracing_subscriber::registry().with(layer).try_init();
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
