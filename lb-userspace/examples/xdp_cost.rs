//! Per-packet cost of the XDP guard against a drop-all program, for `cargo xtask bench xdp`.
//!
//! `xdp_cost [REPEAT [ROUNDS]]` loads the embedded program with its maps pinned in a fresh
//! directory (removed at exit), configures the benchmark's guard, runs every case and prints
//! one line per case: `name ours_median baseline_median ratio ours_per_round
//! baseline_per_round what` (per-round lists comma-separated). Needs root.

use std::{path::PathBuf, process::ExitCode};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let repeat: u32 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let pin = PathBuf::from(format!("/sys/fs/bpf/lb-xdp-cost-{}", std::process::id()));
    let mut rt = match lb::ebpf::load(&pin) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("xdp_cost: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.remove_pins_on_drop();
    if let Err(e) = rt.prepare_cost_bench(None) {
        eprintln!("xdp_cost: {e}");
        return ExitCode::FAILURE;
    }
    let costs = match rt.cost_bench(repeat, rounds) {
        Ok(costs) => costs,
        Err(e) => {
            eprintln!("xdp_cost: {e}");
            return ExitCode::FAILURE;
        }
    };
    let join = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    for c in &costs {
        println!(
            "{} {} {} {:.3} {} {} {}",
            c.name,
            c.ours_median(),
            c.baseline_median(),
            c.ratio(),
            join(&c.ours_ns),
            join(&c.baseline_ns),
            c.what
        );
    }
    ExitCode::SUCCESS
}
