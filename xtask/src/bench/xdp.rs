//! XDP benchmark: per-packet cost via BPF_PROG_TEST_RUN against a trivial XDP_DROP program,
//! and a SYN flood into a veth pair against an nftables raw-table drop, with legitimate
//! clients measured during the flood.
//!
//! Needs root. The helper binary is lb-userspace's `xdp_bench` example (cost, guard setup,
//! counters, fixed-rate client); the flood runs in network namespaces created and removed
//! here ([`lab`]).

mod flood;
mod lab;

use std::{fmt::Write as _, path::PathBuf, process::Command};

use anyhow::{Context as _, Result, bail};

use super::Section;
use crate::shell::{is_root, output, run as sh, workspace_root};

/// Packets per `BPF_PROG_TEST_RUN` call and rounds (baseline and ours alternate).
const COST_REPEAT: u32 = 1_000_000;
const COST_ROUNDS: usize = 5;
/// The target of the drop paths: at most this many times the drop-all program.
const COST_TARGET: f64 = 2.0;

/// Measures the XDP scenarios and returns the report section.
pub fn run() -> Result<Section> {
    if !is_root() {
        bail!("the XDP benchmark loads eBPF and creates network namespaces: run it as root");
    }
    let helper = build_helper()?;
    let cost = cost(&helper)?;
    let flood = flood::run(&helper)?;
    let mut body = String::new();
    let _ = writeln!(body, "{}\n", machine());
    body.push_str(&cost_section(&cost));
    body.push_str(&flood.markdown);
    Ok(Section {
        title: "XDP guard".into(),
        body,
    })
}

/// Builds `target/release/examples/xdp_bench` (after `lb`, with the same flags).
fn build_helper() -> Result<PathBuf> {
    let root = workspace_root();
    sh(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&root)
            .env("LB_EBPF_REQUIRED", "1")
            .args([
                "build",
                "--release",
                "-p",
                "lb-userspace",
                "--example",
                "xdp_bench",
            ]),
    )?;
    Ok(root.join("target/release/examples/xdp_bench"))
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let kernel = output(Command::new("uname").arg("-r")).unwrap_or_default();
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    format!("Machine: {cpus} CPUs ({model}), kernel {}.", kernel.trim())
}

/// One packet kind of the per-packet cost benchmark.
struct Cost {
    name: String,
    what: String,
    ours: u64,
    baseline: u64,
    ratio: f64,
    ours_rounds: String,
    baseline_rounds: String,
}

fn cost(helper: &std::path::Path) -> Result<Vec<Cost>> {
    let out = output(Command::new(helper).args([
        "cost",
        &COST_REPEAT.to_string(),
        &COST_ROUNDS.to_string(),
    ]))
    .context("xdp_bench cost failed (run it by hand to see why)")?;
    out.lines()
        .map(|line| {
            let f: Vec<&str> = line.splitn(7, ' ').collect();
            let [
                name,
                ours,
                baseline,
                ratio,
                ours_rounds,
                baseline_rounds,
                what,
            ] = f[..]
            else {
                bail!("unexpected xdp_bench cost line: {line}");
            };
            Ok(Cost {
                name: name.to_owned(),
                what: what.to_owned(),
                ours: ours.parse()?,
                baseline: baseline.parse()?,
                ratio: ratio.parse()?,
                ours_rounds: ours_rounds.replace(',', ", "),
                baseline_rounds: baseline_rounds.replace(',', ", "),
            })
        })
        .collect()
}

fn cost_section(costs: &[Cost]) -> String {
    let mut s = String::from("### Per-packet cost (`BPF_PROG_TEST_RUN`)\n\n");
    let _ = writeln!(
        s,
        "Command: `target/release/examples/xdp_bench cost {COST_REPEAT} {COST_ROUNDS}` \
         (lb-userspace/examples/xdp_bench.rs). It loads `lb_xdp` and the drop-all program \
         `lb_xdp_baseline` from the same object, protects port 443 (TCP sanity and SYN \
         budgets: one SYN per source, never refilled; a global budget that never binds), \
         drops malformed frames, puts 203.0.113.0/24 and 1000 /32 entries (with a TTL) in \
         the deny list and leaves the allow list empty. Each round runs every packet \
         {COST_REPEAT} times through the baseline, then through `lb_xdp`; the kernel \
         reports the mean time per run. Figures are medians of {COST_ROUNDS} rounds; the \
         ratio is the median of the per-round ratios. A test run also times the kernel's \
         own loop (context setup, preemption checks), which the baseline pays too: the \
         difference is what our program adds.\n"
    );
    s.push_str(
        "| packet | lb_xdp ns/pkt | drop-all ns/pkt | ratio | added ns | target (drop paths <= 2x) | rounds (lb_xdp / drop-all) |\n\
         | --- | ---: | ---: | ---: | ---: | --- | --- |\n",
    );
    for c in costs {
        let target = if c.name == "pass" {
            "- (pass path)".to_owned()
        } else if c.ratio <= COST_TARGET {
            "MET".to_owned()
        } else {
            "NOT MET".to_owned()
        };
        let _ = writeln!(
            s,
            "| {} ({}) | {} | {} | {:.2} | {} | {target} | {} / {} |",
            c.name,
            c.what,
            c.ours,
            c.baseline,
            c.ratio,
            c.ours.saturating_sub(c.baseline),
            c.ours_rounds,
            c.baseline_rounds
        );
    }
    s.push('\n');
    s
}
