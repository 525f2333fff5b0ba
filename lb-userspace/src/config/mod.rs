//! The configuration language: HAProxy's grammar, parsed into the typed [`model`].
//!
//! [`load`] reads files and directories (a directory contributes its `*.cfg` files in
//! lexical order, and sections may span files, as with HAProxy's `-f DIR`); [`parse_str`]
//! parses text. Both return every error found, like `haproxy -c`.

mod addr;
mod balance;
mod bind;
mod check;
pub mod compression;
pub mod cookie;
mod draft;
pub mod error;
mod finalize;
mod global;
pub mod http;
mod http_extra;
mod http_rules;
pub mod httplog;
mod keywords;
pub mod l4;
pub mod lexer;
mod line;
mod log;
pub mod model;
mod names;
mod options;
mod parser;
mod proxy;
mod server;
mod servers;
mod stats;
mod stick;
mod tcp_action;
mod tcp_rules;
pub mod units;
mod userlist;
mod xdp;

use std::path::{Path, PathBuf};

pub use error::{ConfigError, ConfigErrors, ErrorKind};
pub use model::Config;

use model::Location;
use parser::Parser;

/// Looks environment variables up in the process environment.
fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Loads the configuration from files and directories, in the given order.
pub fn load(paths: &[PathBuf]) -> Result<Config, ConfigErrors> {
    load_with_env(paths, &process_env)
}

/// [`load`] with a custom environment lookup (for `"${VAR}"` expansion).
pub fn load_with_env(
    paths: &[PathBuf],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let mut parser = Parser::new(env);
    for file in config_files(paths, &mut parser) {
        match std::fs::read(&file) {
            // Comments may be in any encoding; keywords and values must be UTF-8.
            Ok(bytes) => parser.feed(&file, &String::from_utf8_lossy(&bytes)),
            Err(e) => parser.error(io_error(&file, &e)),
        }
    }
    parser.finish()
}

/// Parses configuration text; `file` is used in error messages.
pub fn parse_str(text: &str, file: &Path) -> Result<Config, ConfigErrors> {
    parse_str_with_env(text, file, &process_env)
}

/// [`parse_str`] with a custom environment lookup (for `"${VAR}"` expansion).
pub fn parse_str_with_env(
    text: &str,
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let mut parser = Parser::new(env);
    parser.feed(file, text);
    parser.finish()
}

/// Expands directories into their `*.cfg` files, sorted by name; unreadable paths are
/// reported through `parser`.
fn config_files(paths: &[PathBuf], parser: &mut Parser<'_>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        match std::fs::read_dir(path) {
            Ok(entries) => {
                let mut found: Vec<PathBuf> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "cfg") && p.is_file())
                    .collect();
                found.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
                files.extend(found);
            }
            Err(e) => parser.error(io_error(path, &e)),
        }
    }
    files
}

fn io_error(path: &Path, e: &std::io::Error) -> ConfigError {
    let location = Location {
        file: path.to_path_buf(),
        line: 0,
    };
    ConfigError::new(
        location,
        ErrorKind::Io {
            reason: e.to_string(),
        },
    )
}

#[cfg(test)]
mod tests;
