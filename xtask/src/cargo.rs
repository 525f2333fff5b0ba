//! `build`, `run`, `test`, `bench`: cargo invocations that insist on the eBPF object.

use std::process::Command;

use anyhow::Result;

use crate::shell::{is_root, run as sh, workspace_root};

/// Default arguments of `cargo xtask run`.
const DEFAULT_RUN_ARGS: &[&str] = &["-d", "-f", "configs/01-tcp-basic.cfg"];

/// `cargo` in the workspace, with `LB_EBPF_REQUIRED=1`: lb-userspace's build script then fails
/// the build instead of falling back to an L7-only `lb`.
fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root())
        .env("LB_EBPF_REQUIRED", "1");
    cmd
}

/// Release build of `lb` with the eBPF object built in.
pub fn build() -> Result<()> {
    sh(cargo().args(["build", "--release", "-p", "lb-userspace", "--bin", "lb"]))
}

/// Builds, then runs `target/release/lb` with `args` (after an optional `--`).
pub fn run(args: &[String]) -> Result<()> {
    build()?;
    let args: Vec<&str> = match args.split_first() {
        Some((dashes, rest)) if dashes == "--" => rest.iter().map(String::as_str).collect(),
        _ => args.iter().map(String::as_str).collect(),
    };
    let args = if args.is_empty() {
        crate::demo::start();
        DEFAULT_RUN_ARGS.to_vec()
    } else {
        args
    };
    let root = workspace_root();
    sh(Command::new(root.join("target/release/lb"))
        .current_dir(&root)
        .args(args))
}

/// Release build, then every test of the workspace (the eBPF ones need root).
pub fn test() -> Result<()> {
    build()?;
    if !is_root() {
        eprintln!(
            "xtask: NOT ROOT: the eBPF tests (XDP load/attach, network namespaces) need root \
             and will fail; run `sudo cargo xtask test` to run them"
        );
    }
    // lb-ebpf builds for the host as an empty binary, which runs the packet parser tests.
    // Every test binary runs, so one report lists all failures.
    // The end-to-end tests use the binary just built: building it again from inside the
    // test run would unify features differently and relink it (thin LTO) for nothing.
    let lb = workspace_root().join("target/release/lb");
    sh(cargo()
        .args(["test", "--workspace", "--release", "--no-fail-fast"])
        .env("LB_BIN", lb))
}

/// The end-to-end tests whose expectations are HAProxy's own behaviour (the others test
/// lb-only features: `-vv`, `configs/`, eBPF, keywords HAProxy 2.6 lacks).
const REFERENCE_TESTS: &[&str] = &[
    "balance",
    "forwarding",
    "health",
    "http_balance",
    "http_fetches",
    "http_rules",
    "http_compression",
    "http_cookie",
    "http_logs",
    "http_h2",
    "http_proxy",
    "http_tunnel",
    "http_differential",
    "http_rejects",
    "http_ws_h2",
    "http_timers",
    "http_gaps",
    "http_smuggling",
    "lifecycle",
    "logging",
    "queue",
    "timeouts",
];

/// Runs the HAProxy-compatible end-to-end tests against `haproxy` itself, through
/// `tests/reference/haproxy-as-lb`: a differential check that lb behaves as HAProxy does.
pub fn reference() -> Result<()> {
    let wrapper = workspace_root().join("tests/reference/haproxy-as-lb");
    let mut cmd = cargo();
    cmd.args(["test", "--release", "-p", "lb-tests"]);
    for t in REFERENCE_TESTS {
        cmd.args(["--test", t]);
    }
    sh(cmd.env("LB_BIN", wrapper))
}
