//! Parser tests over whole configurations: the model produced, every error message with its
//! line, file and directory loading, and the example configurations in `configs/`.

mod errors;
mod files;
mod good;
mod tcp_rule_errors;
mod tcp_rules;

use std::path::Path;

use super::{Config, parse_str_with_env};

/// Test environment: no process variables leak in.
pub(super) fn env(name: &str) -> Option<String> {
    match name {
        "BACKEND_ADDR" => Some("127.0.0.1:10080".into()),
        "PORTS" => Some(":10001,:10002".into()),
        "CHECK" => Some("GET  /ready HTTP/1.1".into()),
        // The example configs read their maps from here (default: relative to the
        // repository root, which is not the test's directory).
        "LB_MAPS" => Some(concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/maps").into()),
        _ => None,
    }
}

/// Joins lines so that `lines[i]` is line `i + 1`.
pub(super) fn cfg(lines: &[&str]) -> String {
    lines.join("\n")
}

/// Parses, panicking with every error on failure.
pub(super) fn parse(lines: &[&str]) -> Config {
    parse_str_with_env(&cfg(lines), Path::new("t.cfg"), &env).unwrap_or_else(|e| panic!("{e}"))
}

/// Parses a configuration that must fail; returns (line, message) of every error.
pub(super) fn errors(lines: &[&str]) -> Vec<(usize, String)> {
    match parse_str_with_env(&cfg(lines), Path::new("t.cfg"), &env) {
        Ok(_) => panic!("configuration unexpectedly valid:\n{}", cfg(lines)),
        Err(errs) => errs
            .iter()
            .map(|e| (e.location.line, e.message()))
            .collect(),
    }
}

/// Parses a configuration that must fail with exactly one error.
pub(super) fn error(lines: &[&str]) -> (usize, String) {
    let mut all = errors(lines);
    assert_eq!(all.len(), 1, "expected one error, got {all:#?}");
    all.remove(0)
}
