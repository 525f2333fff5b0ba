//! The `global` section.

use std::path::PathBuf;

use super::error::{ConfigError, ErrorKind, did_you_mean};
use super::keywords;
use super::line::{Line, Modifier};
use super::log::{LogLine, parse_log};
use super::model::Global;

/// The global keywords we implement.
const SUPPORTED: &[&str] = &[
    "daemon",
    "hard-stop-after",
    "log",
    "maxconn",
    "nbthread",
    "nosplice",
    "pidfile",
    "stats",
    "tune.bufsize",
    "tune.comp.maxlevel",
    "tune.http.maxhdr",
    "tune.pipesize",
];

/// Most worker threads accepted by `nbthread`.
pub(crate) const MAX_THREADS: u32 = 1024;

/// Largest `tune.bufsize` / `tune.pipesize` (1 GiB).
const MAX_BUFFER: u64 = 1 << 30;

/// Parses one line of the `global` section.
pub(crate) fn parse_keyword(g: &mut Global, line: &Line) -> Result<(), ConfigError> {
    let kw = line.kw();
    if kw == "log" {
        return log(g, line);
    }
    line.no_modifier()?;
    match kw {
        "nbthread" => {
            let n = line.required(1, kw, "a number of threads")?;
            line.max_args(1, kw)?;
            g.nbthread = Some(line.u32_in(kw, n, 1, MAX_THREADS)? as usize);
        }
        "maxconn" => {
            let n = line.required(1, kw, "an integer argument")?;
            line.max_args(1, kw)?;
            g.maxconn = Some(line.u32_in(kw, n, 1, i32::MAX.unsigned_abs())?);
        }
        "daemon" => flag(line, &mut g.daemon)?,
        // HAProxy 2.6 hides a few directives we support (`normalize-uri`) behind it.
        "expose-experimental-directives" => line.max_args(0, kw)?,
        "nosplice" => flag(line, &mut g.nosplice)?,
        "pidfile" => {
            let path = line.required(1, kw, "a file name")?;
            line.max_args(1, kw)?;
            g.pidfile = Some(PathBuf::from(path));
        }
        "tune.bufsize" => g.bufsize = buffer_size(line)? as usize,
        "tune.pipesize" => g.pipesize = Some(buffer_size(line)? as usize),
        "tune.comp.maxlevel" => {
            let n = line.required(1, kw, "a numeric value between 1 and 9")?;
            line.max_args(1, kw)?;
            g.comp_maxlevel = Some(line.u32_in(kw, n, 1, 9)?);
        }
        "tune.http.maxhdr" => {
            let n = line.required(1, kw, "a number")?;
            line.max_args(1, kw)?;
            g.http_maxhdr = Some(line.u32_in(kw, n, 1, 32767)? as usize);
        }
        "hard-stop-after" => {
            let t = line.required(1, kw, "a time argument")?;
            line.max_args(1, kw)?;
            g.hard_stop_after = Some(line.time(kw, t)?);
        }
        "stats" => super::stats::parse_stats(g, line)?,
        "nbproc" => {
            let e = line.err(ErrorKind::Obsolete { keyword: kw.into() });
            return Err(e.with_hint("it was removed in HAProxy 2.5, use 'nbthread' instead"));
        }
        _ => return Err(unknown(line)),
    }
    Ok(())
}

fn flag(line: &Line, field: &mut bool) -> Result<(), ConfigError> {
    line.max_args(0, line.kw())?;
    *field = true;
    Ok(())
}

fn buffer_size(line: &Line) -> Result<u64, ConfigError> {
    let kw = line.kw();
    let v = line.required(1, kw, "a size argument")?;
    line.max_args(1, kw)?;
    let n = line.size(kw, v)?;
    if n == 0 || n > MAX_BUFFER {
        return Err(line.bad_value(kw, v, format!("must be between 1 and {MAX_BUFFER} bytes")));
    }
    Ok(n)
}

fn log(g: &mut Global, line: &Line) -> Result<(), ConfigError> {
    match line.modifier {
        Modifier::No | Modifier::Default => {
            line.max_args(0, "no log")?;
            g.logs.clear();
        }
        Modifier::None => match parse_log(line, false)? {
            LogLine::Target(t) => g.logs.push(t),
            LogLine::Global(_) => {}
        },
    }
    Ok(())
}

fn unknown(line: &Line) -> ConfigError {
    let kw = line.kw();
    if let Some(feature) = keywords::feature(keywords::GLOBAL, kw) {
        return line.unsupported(kw, feature);
    }
    let kind = ErrorKind::UnknownKeyword {
        keyword: kw.into(),
        section: "global".into(),
    };
    let candidates = SUPPORTED
        .iter()
        .copied()
        .chain(keywords::names(keywords::GLOBAL));
    line.err(kind).with_suggestion(did_you_mean(kw, candidates))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::model::{DEFAULT_BUFSIZE, Location};

    fn apply(g: &mut Global, text: &str) -> Result<(), String> {
        let l = Line::new(
            Location::default(),
            text.split_whitespace().map(str::to_owned).collect(),
        );
        parse_keyword(g, &l).map_err(|e| e.message())
    }

    #[test]
    fn keywords() {
        let mut g = Global {
            bufsize: DEFAULT_BUFSIZE,
            ..Global::default()
        };
        for l in [
            "nbthread 4",
            "maxconn 10000",
            "daemon",
            "pidfile /run/lb.pid",
            "tune.bufsize 32k",
            "tune.pipesize 65536",
            "nosplice",
            "hard-stop-after 30s",
            "log stdout local0",
            "log 127.0.0.1 local1 info",
        ] {
            apply(&mut g, l).unwrap();
        }
        assert_eq!(
            (g.nbthread, g.maxconn, g.daemon, g.nosplice),
            (Some(4), Some(10000), true, true)
        );
        assert_eq!(g.pidfile, Some(PathBuf::from("/run/lb.pid")));
        assert_eq!((g.bufsize, g.pipesize), (32768, Some(65536)));
        assert_eq!(g.hard_stop_after, Some(Duration::from_secs(30)));
        assert_eq!(g.logs.len(), 2);
        apply(&mut g, "no log").unwrap();
        assert!(g.logs.is_empty());
    }

    #[test]
    fn errors() {
        let mut g = Global::default();
        let mut err = |t: &str| apply(&mut g, t).unwrap_err();
        assert_eq!(
            err("nbthread 0"),
            "'nbthread' : invalid value '0' : must be between 1 and 1024"
        );
        assert_eq!(err("nbthread"), "'nbthread' expects a number of threads");
        assert_eq!(
            err("nbthread 2 3"),
            "'nbthread' cannot handle unexpected argument '3'"
        );
        assert_eq!(
            err("daemon now"),
            "'daemon' cannot handle unexpected argument 'now'"
        );
        assert_eq!(
            err("tune.bufsize 0"),
            "'tune.bufsize' : invalid value '0' : must be between 1 and 1073741824 bytes"
        );
        assert_eq!(
            err("tune.bufsize 4G"),
            "'tune.bufsize' : invalid value '4G' : size overflow, maximum value is 4294967295 bytes"
        );
        assert_eq!(
            err("hard-stop-after 30 s"),
            "'hard-stop-after' cannot handle unexpected argument 's'"
        );
        assert_eq!(
            err("user haproxy"),
            "keyword 'user' is not supported yet (comes with privilege dropping)"
        );
        assert_eq!(
            err("ssl-default-bind-ciphers X"),
            "keyword 'ssl-default-bind-ciphers' is not supported yet (comes with SSL/TLS)"
        );
        assert_eq!(
            err("tune.maxaccept 10"),
            "keyword 'tune.maxaccept' is not supported yet (comes with more tuning parameters)"
        );
        assert_eq!(
            err("nbproc 2"),
            "keyword 'nbproc' is not supported anymore; it was removed in HAProxy 2.5, use 'nbthread' instead"
        );
        assert_eq!(
            err("nbtread 2"),
            "unknown keyword 'nbtread' in 'global' section; did you mean 'nbthread' maybe ?"
        );
        assert_eq!(
            err("frobnicate"),
            "unknown keyword 'frobnicate' in 'global' section"
        );
        assert_eq!(
            err("log global"),
            "'log global' : only allowed in proxies ('global' is where it points to)"
        );
        assert_eq!(
            err("no daemon"),
            "negation/default currently supported only for options and log"
        );
    }
}
