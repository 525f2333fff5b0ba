//! Rendering a [`LogFormat`] for one stream.

use std::fmt::Write;
use std::net::IpAddr;
use std::sync::atomic::Ordering;

use crate::logformat::{Alias, Flags, LogFormat, Node};
use crate::sample::{Sample, SampleType, StreamCtx};

/// Supplies the aliases a [`StreamCtx`] does not know (timers, byte counts, termination
/// state, HTTP facts, the host name...).
pub trait AliasSource {
    /// Writes the value of `alias` to `out` and returns `true`, or returns `false` when
    /// it has none (it then prints as a missing value). Text values should go through
    /// [`write_text`] so that `flags` apply.
    fn write_alias(&self, alias: Alias, flags: Flags, out: &mut String) -> bool;
}

/// An [`AliasSource`] that knows nothing: every alias the stream cannot give is missing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAliases;

impl AliasSource for NoAliases {
    fn write_alias(&self, _: Alias, _: Flags, _: &mut String) -> bool {
        false
    }
}

/// Writes a text value with HAProxy's rules: `+Q` quotes it, `+E` escapes `"`, `\` and
/// `]`, and an empty or missing value prints `-` with `+M` (unless quoted: `""`).
pub fn write_text(out: &mut String, value: Option<&str>, flags: Flags) {
    if flags.quote {
        out.push('"');
    }
    match value.filter(|v| !v.is_empty()) {
        Some(v) if flags.escape => {
            for c in v.chars() {
                if matches!(c, '"' | '\\' | ']') {
                    out.push('\\');
                }
                out.push(c);
            }
        }
        Some(v) => out.push_str(v),
        None if flags.mandatory && !flags.quote => out.push('-'),
        None => {}
    }
    if flags.quote {
        out.push('"');
    }
}

fn write_ip(out: &mut String, ip: IpAddr, flags: Flags) {
    if flags.hexa {
        let octets: Vec<u8> = match ip {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        for o in octets {
            let _ = write!(out, "{o:02X}");
        }
    } else {
        write_text(out, Some(&ip.to_string()), flags);
    }
}

fn write_port(out: &mut String, port: u16, flags: Flags) {
    let _ = if flags.hexa {
        write!(out, "{port:04X}")
    } else {
        write!(out, "{port}")
    };
}

impl LogFormat {
    /// Renders the string for a stream; aliases the stream cannot give come from
    /// `aliases`.
    pub fn render(&self, ctx: &StreamCtx<'_>, aliases: &dyn AliasSource) -> String {
        let mut out = String::new();
        self.render_to(ctx, aliases, &mut out);
        out
    }

    /// Renders into `out` (appending).
    pub fn render_to(&self, ctx: &StreamCtx<'_>, aliases: &dyn AliasSource, out: &mut String) {
        // Samples are taken as final, as HAProxy does when it logs or builds a name.
        let ctx = ctx.finalized();
        let mut last_space = true;
        for node in &self.nodes {
            match node {
                Node::Separator => {
                    if !last_space {
                        out.push(' ');
                    }
                    last_space = true;
                    continue;
                }
                Node::Text(t) => out.push_str(t),
                Node::Expr { expr, flags } => {
                    let value = expr.eval(&ctx).and_then(|s| s.cast(SampleType::Str));
                    let text = match &value {
                        Some(Sample::Str(s)) => Some(&**s),
                        _ => None,
                    };
                    write_text(out, text, *flags);
                }
                Node::Alias { alias, flags } => {
                    let before = out.len();
                    if !write_known(out, *alias, *flags, &ctx)
                        && !aliases.write_alias(*alias, *flags, out)
                    {
                        write_text(out, None, *flags);
                    }
                    // Header captures print nothing at all when none is configured, and
                    // then do not end a run of spaces, as in HAProxy.
                    let captures = matches!(
                        alias,
                        Alias::RequestHeaders
                            | Alias::ResponseHeaders
                            | Alias::RequestHeaderList
                            | Alias::ResponseHeaderList
                    );
                    if captures && out.len() == before {
                        continue;
                    }
                }
            }
            last_space = false;
        }
    }
}

/// Writes the aliases a stream context knows; `false` for the others.
fn write_known(out: &mut String, alias: Alias, flags: Flags, ctx: &StreamCtx<'_>) -> bool {
    match alias {
        Alias::ClientIp => write_ip(out, ctx.src.ip(), flags),
        Alias::ClientPort => write_port(out, ctx.src.port(), flags),
        Alias::FrontendIp => write_ip(out, ctx.dst.ip(), flags),
        Alias::FrontendPort => write_port(out, ctx.dst.port(), flags),
        Alias::Frontend | Alias::FrontendTransport => write_text(out, Some(ctx.fe_name), flags),
        // Before a backend is chosen the stream's backend is its frontend, as in HAProxy.
        Alias::Backend => write_text(out, Some(ctx.be_name.unwrap_or(ctx.fe_name)), flags),
        Alias::Server => write_text(out, Some(ctx.srv_name.unwrap_or("<NOSRV>")), flags),
        Alias::FeConn => {
            let _ = write!(out, "{}", ctx.fe_conn);
        }
        Alias::BeConn => {
            let Some(be) = ctx
                .backends
                .and_then(|b| b.by_name(ctx.be_name.unwrap_or(ctx.fe_name)))
            else {
                return false;
            };
            let _ = write!(out, "{}", be.cur_conns.load(Ordering::Relaxed));
        }
        Alias::Pid => {
            let pid = std::process::id();
            let _ = if flags.hexa {
                write!(out, "{pid:04X}")
            } else {
                write!(out, "{pid}")
            };
        }
        _ => return false,
    }
    true
}
