//! `cargo xtask bench [http|xdp|l4 ...]`: side-by-side benchmarks against HAProxy and nginx,
//! following `../shared/BENCH.md` (ratios measured in one run, proxy on CPU 1 alone).
//!
//! Each part measures and returns a markdown [`Section`]; [`report`] writes them all to
//! `docs/benchmarks.md` with the SVG plots the parts drew under `docs/bench/`.

pub mod http;
pub mod l4;
#[allow(dead_code, reason = "used by the parts as they gain plots")]
pub mod plot;
pub mod report;
pub mod xdp;

use anyhow::{Result, bail};

/// What one benchmark part reports.
pub struct Section {
    /// Heading of the section (`## {title}`).
    pub title: String,
    /// Markdown body: commands, configs, tables with ratios, plot links.
    pub body: String,
}

/// The parts `cargo xtask bench` knows, in report order.
const PARTS: &[&str] = &["http", "xdp", "l4"];

/// Runs the named parts (all when `args` is empty) and writes the report.
pub fn run(args: &[String]) -> Result<()> {
    let wanted: Vec<&str> = if args.is_empty() {
        PARTS.to_vec()
    } else {
        args.iter().map(String::as_str).collect()
    };
    if let Some(unknown) = wanted.iter().find(|p| !PARTS.contains(p)) {
        bail!(
            "unknown benchmark part `{unknown}` (known: {})",
            PARTS.join(", ")
        );
    }
    // `LB_BENCH_LB=PATH` benchmarks a given lb binary instead of a fresh release build.
    if std::env::var_os("LB_BENCH_LB").is_none() {
        crate::cargo::build()?;
    }
    let mut sections = Vec::new();
    for part in wanted {
        let section = match part {
            "http" => http::run()?,
            "xdp" => xdp::run()?,
            "l4" => l4::run()?,
            _ => continue,
        };
        sections.push(section);
    }
    report::write(&sections)
}
