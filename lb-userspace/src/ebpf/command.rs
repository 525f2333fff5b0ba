//! `lb xdp stats [--json] [--pin-path DIR]`: print the pinned XDP counters.

use std::path::PathBuf;

use crate::config::model::DEFAULT_PIN_PATH;

use super::read_stats;

const USAGE: &str = "usage: lb xdp stats [--json] [--pin-path DIR]\n       lb xdp deny|allow add|del|list ... (lb xdp deny --help)";

/// Options of `lb xdp stats`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StatsArgs {
    json: bool,
    pin_path: PathBuf,
}

/// Runs `lb xdp ARGS` (`args` follow `xdp`, e.g. `["stats", "--json"]`); returns the exit code.
///
/// Prints the counters as a table (or JSON with `--json`) on stdout; errors go to stderr
/// with exit code 1, usage errors with exit code 2.
pub fn run_stats_command(args: &[String]) -> i32 {
    let parsed = match args.split_first() {
        Some((command, rest)) if command == "stats" => parse(rest),
        Some((list, _)) if list == "deny" || list == "allow" => {
            return super::list_command::run_cli(args);
        }
        Some((help, _)) if help == "-h" || help == "--help" => Ok(None),
        Some((other, _)) => Err(format!("unknown xdp command `{other}`")),
        None => Err("missing xdp command".to_owned()),
    };
    let args = match parsed {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!(
                "{USAGE}\n  --json           print JSON\n  --pin-path DIR   bpffs directory of the maps (default {DEFAULT_PIN_PATH})"
            );
            return 0;
        }
        Err(message) => {
            eprintln!("lb xdp: {message}\n{USAGE}");
            return 2;
        }
    };
    match read_stats(&args.pin_path) {
        Ok(stats) if args.json => {
            let mut json = stats.to_json();
            super::l4_stats_section(&args.pin_path, Some(&mut json));
            println!("{json}");
            0
        }
        Ok(stats) => {
            print!("{}", stats.to_table());
            print!("{}", super::l4_stats_section(&args.pin_path, None));
            0
        }
        Err(e) => {
            eprintln!("lb xdp stats: {e}");
            1
        }
    }
}

/// Parses the arguments; `Ok(None)` asks for help.
fn parse(args: &[String]) -> Result<Option<StatsArgs>, String> {
    let mut parsed = StatsArgs {
        json: false,
        pin_path: PathBuf::from(DEFAULT_PIN_PATH),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => parsed.json = true,
            "--pin-path" => {
                let dir = args.next().ok_or("--pin-path needs a directory")?;
                parsed.pin_path = PathBuf::from(dir);
            }
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(Some(parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn defaults_and_flags() {
        let default = parse(&[]).unwrap().unwrap();
        assert!(!default.json);
        assert_eq!(default.pin_path, PathBuf::from(DEFAULT_PIN_PATH));
        let set = parse(&args(&["--pin-path", "/sys/fs/bpf/x", "--json"]))
            .unwrap()
            .unwrap();
        assert!(set.json);
        assert_eq!(set.pin_path, PathBuf::from("/sys/fs/bpf/x"));
        assert_eq!(parse(&args(&["--help"])), Ok(None));
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        assert!(parse(&args(&["--pin-path"])).is_err());
        assert!(parse(&args(&["--yaml"])).is_err());
        assert_eq!(run_stats_command(&args(&["stats", "--nope"])), 2);
        assert_eq!(run_stats_command(&args(&["--json"])), 2);
        assert_eq!(run_stats_command(&args(&[])), 2);
        assert_eq!(run_stats_command(&args(&["--help"])), 0);
    }

    #[test]
    fn missing_pin_is_an_error() {
        let dir = "/nonexistent/lb-xdp-stats-test";
        assert_eq!(run_stats_command(&args(&["stats", "--pin-path", dir])), 1);
    }
}
