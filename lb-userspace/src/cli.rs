//! The `lb` command line: HAProxy-compatible flags, plus our own subcommands.

use std::path::PathBuf;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run (or with `check_only`, check) the load balancer.
    Run(RunOptions),
    /// `-v` / `-vv`: print the version (and build features).
    Version {
        /// `-vv`: also the build features.
        verbose: bool,
    },
    /// `-h`: print usage.
    Help,
    /// `lb xdp ...`: operate the XDP side (arguments after `xdp`).
    Xdp(Vec<String>),
}

/// Options of a normal run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunOptions {
    /// `-f FILE|DIR`, in order.
    pub files: Vec<PathBuf>,
    /// `-c`: check the configuration and exit.
    pub check_only: bool,
    /// `-d`: foreground, debug output.
    pub debug: bool,
    /// `-D`: daemon.
    pub daemon: bool,
    /// `-p PIDFILE`.
    pub pidfile: Option<PathBuf>,
    /// `-q`: quiet.
    pub quiet: bool,
    /// `-dS`: disable splice.
    pub no_splice: bool,
}

/// A command-line mistake, reported with the usage text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// An option needs a value that is missing.
    #[error("option '{0}' requires an argument")]
    MissingValue(String),
    /// An option we do not know.
    #[error("unknown option '{0}'")]
    Unknown(String),
    /// Nothing to load.
    #[error("no configuration file given (use -f FILE)")]
    NoConfig,
}

/// The usage text printed by `-h` and after a command-line error.
pub const USAGE: &str = "\
Usage: lb [-f <cfgfile|cfgdir>]* [-c] [-d] [-D] [-p <pidfile>] [-q] [-v|-vv] [-dS]
       lb xdp stats [--json] [--pin-path DIR]
       lb xdp deny|allow add <CIDR> [<TTL>] | del <CIDR> | list [--json]  [-p DIR | -f CFG]
        -f  load configuration from a file, or all *.cfg of a directory (repeatable)
        -c  check the configuration and exit (0 valid, 1 invalid)
        -d  foreground, debug output
        -D  daemon mode (fork into the background)
        -p  write the pid to <pidfile>
        -q  quiet: only warnings and errors
        -v  print the version; -vv also the build features
        -dS disable splice(2) forwarding
";

/// Parses the arguments after the program name.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Command, CliError> {
    let mut args = args.into_iter().peekable();
    if args.peek().map(String::as_str) == Some("xdp") {
        return Ok(Command::Xdp(args.skip(1).collect()));
    }
    let mut opts = RunOptions::default();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-f" => opts.files.push(value(&mut args, &arg)?.into()),
            "-p" => opts.pidfile = Some(value(&mut args, &arg)?.into()),
            "-c" => opts.check_only = true,
            "-d" => opts.debug = true,
            "-D" => opts.daemon = true,
            "-q" => opts.quiet = true,
            "-dS" => opts.no_splice = true,
            "-v" | "-vq" => return Ok(Command::Version { verbose: false }),
            "-vv" => return Ok(Command::Version { verbose: true }),
            "-h" | "--help" => return Ok(Command::Help),
            // HAProxy accepts `-fFILE` glued too.
            s if s.starts_with("-f") && s.len() > 2 => opts.files.push(s[2..].into()),
            _ => return Err(CliError::Unknown(arg)),
        }
    }
    if opts.files.is_empty() {
        return Err(CliError::NoConfig);
    }
    Ok(Command::Run(opts))
}

fn value(args: &mut impl Iterator<Item = String>, flag: &str) -> Result<String, CliError> {
    args.next()
        .ok_or_else(|| CliError::MissingValue(flag.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Command, CliError> {
        parse(s.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn run_flags() {
        let Ok(Command::Run(o)) = parse_str("-f a.cfg -f dir -c -d -p /run/lb.pid -q") else {
            panic!("not a run");
        };
        assert_eq!(o.files, vec![PathBuf::from("a.cfg"), PathBuf::from("dir")]);
        assert!(o.check_only && o.debug && o.quiet && !o.daemon);
        assert_eq!(o.pidfile, Some(PathBuf::from("/run/lb.pid")));
    }

    #[test]
    fn version_and_errors() {
        assert_eq!(parse_str("-vv"), Ok(Command::Version { verbose: true }));
        assert_eq!(parse_str("-v"), Ok(Command::Version { verbose: false }));
        assert_eq!(parse_str("-f"), Err(CliError::MissingValue("-f".into())));
        assert_eq!(parse_str("-x"), Err(CliError::Unknown("-x".into())));
        assert_eq!(parse_str("-d"), Err(CliError::NoConfig));
        assert_eq!(
            parse_str("xdp stats --json"),
            Ok(Command::Xdp(vec!["stats".into(), "--json".into()]))
        );
    }
}
