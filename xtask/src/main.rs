//! `cargo xtask <command>`: install the toolchain, build, run, test and benchmark `lb`.
//!
//! Every command works from a bare Debian machine: `test` runs `setup` first, so CI needs
//! nothing but `cargo xtask test`.

mod bench;
mod cargo;
mod demo;
mod setup;
mod shell;

use std::process::ExitCode;

use anyhow::{Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  setup            install the eBPF toolchain and the test/bench tools (idempotent)
  build            release build of lb, failing unless the eBPF object is built in
  run [-- ARGS]    build, then run target/release/lb ARGS (default: -d -f configs/01-tcp-basic.cfg,
                   with its two demo backends started on 127.0.0.1:10180-10181)
  test             setup, build, the whole test suite in release mode, then `reference`
  reference        run the TCP-mode end-to-end tests against Debian's HAProxy 2.6 instead of lb
                   (the same expectations must hold for both)
  bench [PART..]   side-by-side benchmarks (http, xdp) written to docs/benchmarks.md";

fn main() -> ExitCode {
    match dispatch() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        println!("{USAGE}");
        return Ok(());
    };
    match command.as_str() {
        "setup" => setup::setup(),
        "build" => cargo::build(),
        "run" => cargo::run(rest),
        "test" => {
            setup::setup()?;
            cargo::test()?;
            // The same expectations, checked against HAProxy itself.
            cargo::reference()
        }
        "reference" => cargo::reference(),
        "bench" => bench::run(rest),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command `{other}`\n{USAGE}"),
    }
}
