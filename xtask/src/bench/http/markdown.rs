//! The HTTP section of `docs/benchmarks.md`: targets with MET / NOT MET, one table per
//! scenario with ratios to HAProxy and nginx, the offered-load plots, memory, commands and
//! configurations.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::Result;

use super::systems::{FILE, Kind};
use super::{Measure, Results, Scenario, params};
use crate::bench::Section;
use crate::bench::plot::{Axes, Series, svg};

/// The issue's targets.
const CPU_TARGET: f64 = 0.7;
const IDLE_TARGET_KIB: f64 = 16.0;

fn find(results: &[Results], kind: Kind) -> Option<&Results> {
    results.iter().find(|r| r.kind == kind)
}

fn fmt_us(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}×", a / b)
    } else {
        "-".into()
    }
}

fn first_line(cmd: &mut Command) -> String {
    cmd.output()
        .ok()
        .map(|o| {
            let mut t = String::from_utf8_lossy(&o.stdout).into_owned();
            t.push_str(&String::from_utf8_lossy(&o.stderr));
            t.lines().next().unwrap_or("").trim().to_owned()
        })
        .unwrap_or_default()
}

/// One row of the targets table.
fn target_row(
    out: &mut String,
    what: &str,
    lb: Option<f64>,
    reference: Option<f64>,
    unit: &str,
    pass: impl Fn(f64, f64) -> bool,
    lb_why: &str,
) {
    let show = |v: Option<f64>| match v {
        Some(v) if unit == "µs" => fmt_us(v),
        Some(v) => format!("{v:.1} {unit}"),
        None => "n/a".into(),
    };
    let (r, verdict) = match (lb, reference) {
        (Some(l), Some(h)) => (
            ratio(l, h),
            if pass(l, h) { "**MET**" } else { "**NOT MET**" }.to_owned(),
        ),
        (None, _) => ("-".into(), format!("**NOT MET** (lb {lb_why})")),
        (Some(_), None) => ("-".into(), "not measured (no HAProxy figure)".into()),
    };
    let _ = writeln!(
        out,
        "| {what} | {} | {} | {r} | {verdict} |",
        show(lb),
        show(reference)
    );
}

/// Builds the section from the results of every system.
pub fn section(results: &[Results], elapsed: u64, root: &Path) -> Result<Section> {
    let p = params();
    let (rounds, secs, idle_conns, fixed_rate) = (p.rounds, p.secs, p.idle_conns, p.fixed_rate);
    let mut out = String::new();
    let lb = find(results, Kind::Lb);
    let ha = find(results, Kind::Haproxy);
    let lb_why = lb
        .and_then(|r| r.unavailable.clone())
        .unwrap_or_else(|| "did not complete the scenario".into());
    let _ = writeln!(
        out,
        "Measured by `cargo xtask bench http` on {} ({}, {} CPUs; load average before the \
         run: {}), in {elapsed} s. Versions: {}; {}; `{}`; {}; {}.\n",
        first_line(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])),
        first_line(Command::new("uname").args(["-sr"])),
        first_line(&mut Command::new("nproc")),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        first_line(Command::new("haproxy").arg("-v")),
        first_line(Command::new("nginx").arg("-v")),
        first_line(Command::new("git").args([
            "-C",
            &root.to_string_lossy(),
            "describe",
            "--always",
            "--dirty"
        ])),
        first_line(Command::new("wrk").arg("-v"))
            .split(" Copyright")
            .next()
            .unwrap_or("")
            .to_owned(),
        first_line(Command::new("h2load").arg("--version")),
    );
    out.push_str(
        "Reproduce with `cargo xtask bench http` (about 5 minutes; `LB_BENCH_QUICK=1` for a \
         40-second smoke run of the harness, `LB_BENCH_LB=PATH` to measure another lb binary).\n\n",
    );
    if let Some(why) = lb.and_then(|r| r.unavailable.as_ref()) {
        let _ = writeln!(
            out,
            "> **lb: {why}.** Its columns are empty until lb speaks HTTP.\n"
        );
    }
    out.push_str(
        "Setup (`../shared/BENCH.md`): the backend is nginx (1 worker, `master_process off`) \
         serving a 1 KiB file on CPU 0; the load generators run on CPU 0 too (`taskset -c 0`). \
         The proxy under test has CPU 1 alone: lb with `nbthread 1` under `taskset -c 1`; \
         HAProxy with `nbthread 1`, `cpu-map 1/1 1` under `taskset -c 1`; nginx with \
         `worker_processes 1`, `worker_cpu_affinity 10`, master and worker under `taskset -c 1`. \
         All three run at once on different ports and are measured in alternation (lb, haproxy, \
         nginx, lb, ...); every figure is the median of ",
    );
    let _ = writeln!(
        out,
        "{rounds} runs of {secs} s. Proxy CPU per request is the growth of the first field of \
         `/proc/PID/task/*/schedstat` over every thread of every process of the proxy, divided \
         by the requests the client completed. Ratios compare systems measured in this run.\n"
    );

    out.push_str("### Targets\n\n| target | lb | haproxy | lb / haproxy | verdict |\n| --- | --- | --- | --- | --- |\n");
    let cpu = |r: Option<&Results>, s| r.and_then(|r| r.median(s)).map(|m: Measure| m.cpu_us);
    let p99 = |r: Option<&Results>, s| r.and_then(|r| r.median(s)).map(|m: Measure| m.load.p99_us);
    let cpu_ok = |l: f64, h: f64| l <= CPU_TARGET * h;
    let p99_ok = |l: f64, h: f64| l <= h;
    target_row(
        &mut out,
        "CPU per request, keep-alive at saturation, ≤ 0.7× HAProxy",
        cpu(lb, Scenario::KeepAlive),
        cpu(ha, Scenario::KeepAlive),
        "µs",
        cpu_ok,
        &lb_why,
    );
    target_row(
        &mut out,
        &format!("CPU per request at {fixed_rate} req/s, ≤ 0.7× HAProxy"),
        cpu(lb, Scenario::Fixed),
        cpu(ha, Scenario::Fixed),
        "µs",
        cpu_ok,
        &lb_why,
    );
    target_row(
        &mut out,
        &format!("p99 at {fixed_rate} req/s (corrected), no worse than HAProxy"),
        p99(lb, Scenario::Fixed),
        p99(ha, Scenario::Fixed),
        "µs",
        p99_ok,
        &lb_why,
    );
    target_row(
        &mut out,
        "p99 at saturation, no worse than HAProxy",
        p99(lb, Scenario::KeepAlive),
        p99(ha, Scenario::KeepAlive),
        "µs",
        p99_ok,
        &lb_why,
    );
    let idle = |r: Option<&Results>| r.and_then(|r| r.idle_kib.as_ref().ok().copied());
    target_row(
        &mut out,
        "memory per idle keep-alive connection, ≤ 16 KiB",
        idle(lb),
        idle(ha),
        "KiB",
        |l, _| l <= IDLE_TARGET_KIB,
        &lb_why,
    );
    out.push('\n');

    for s in Scenario::ALL {
        scenario_table(&mut out, results, s);
    }
    sweep(&mut out, results, root)?;

    let _ = writeln!(
        out,
        "### Memory per idle keep-alive connection\n\n{idle_conns} client connections each \
         made one `GET {FILE}` through the proxy and stayed open; the figure is the growth of \
         the `VmRSS` of a freshly started proxy (all its processes) divided by {idle_conns}, \
         after a warm-up of 50 connections. Kernel socket buffers are not in `VmRSS`: they \
         cost the same whatever the proxy.\n\n| system | KiB per idle connection |\n| --- | --- |"
    );
    for r in results {
        let v = match (&r.unavailable, &r.idle_kib) {
            (Some(why), _) => why.clone(),
            (None, Ok(k)) => format!("{k:.1}"),
            (None, Err(e)) => format!("failed: {e}"),
        };
        let _ = writeln!(out, "| {} | {v} |", r.kind.name());
    }

    out.push_str("\n### Commands\n\n");
    for s in Scenario::ALL {
        let _ = writeln!(out, "- {}: `{}`", s.title(), s.command());
    }
    let _ = writeln!(
        out,
        "- sweep: `taskset -c 0 oha --no-tui --latency-correction -q RATE -c {} -z {}s URL` \
         for RATE in {:?}\n",
        p.conns, p.sweep_secs, p.sweep
    );
    out.push_str("### Configurations\n\n");
    for r in results {
        let _ = writeln!(
            out,
            "<details><summary>{}</summary>\n\n```\n{}```\n</details>\n",
            r.kind.name(),
            r.config
        );
    }
    Ok(Section {
        title: "HTTP".into(),
        body: out,
    })
}

fn scenario_table(out: &mut String, results: &[Results], s: Scenario) {
    let _ = writeln!(
        out,
        "### {}\n\n| system | req/s | p50 | p99 | CPU per request | CPU vs haproxy | CPU vs nginx | req/s vs haproxy |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |",
        s.title()
    );
    let med = |k| find(results, k).and_then(|r| r.median(s));
    let (ha, ng) = (med(Kind::Haproxy), med(Kind::Nginx));
    for r in results {
        match (r.median(s), r.failure(s)) {
            (Some(m), None) => {
                let vs = |o: Option<Measure>, f: fn(&Measure) -> f64| {
                    o.map_or("-".into(), |o| ratio(f(&m), f(&o)))
                };
                let _ = writeln!(
                    out,
                    "| {} | {:.0} | {} | {} | {:.1} µs | {} | {} | {} |",
                    r.kind.name(),
                    m.load.rps,
                    fmt_us(m.load.p50_us),
                    fmt_us(m.load.p99_us),
                    m.cpu_us,
                    vs(ha, |x| x.cpu_us),
                    vs(ng, |x| x.cpu_us),
                    vs(ha, |x| x.load.rps),
                );
            }
            (_, why) => {
                let _ = writeln!(
                    out,
                    "| {} | {} | | | | | | |",
                    r.kind.name(),
                    why.unwrap_or("no data")
                );
            }
        }
    }
    out.push('\n');
}

/// Writes the two plots and the table of the offered-load sweep.
fn sweep(out: &mut String, results: &[Results], root: &Path) -> Result<()> {
    let p = params();
    let (sweep_secs, conns) = (p.sweep_secs, p.conns);
    let dir = root.join("docs/bench");
    std::fs::create_dir_all(&dir)?;
    let series = |f: fn(&(u32, f64, f64)) -> f64| -> Vec<Series> {
        results
            .iter()
            .filter(|r| !r.sweep.is_empty())
            .map(|r| Series {
                name: r.kind.name().into(),
                points: r.sweep.iter().map(|p| (f64::from(p.0), f(p))).collect(),
            })
            .collect()
    };
    let thr = svg(
        &Axes {
            title: "HTTP/1.1 through the proxy: throughput vs offered load",
            x: "offered load (req/s, oha)",
            y: "achieved req/s",
        },
        &series(|p| p.1),
    );
    let lat = svg(
        &Axes {
            title: "HTTP/1.1 through the proxy: p99 vs offered load",
            x: "offered load (req/s, oha)",
            y: "p99 latency (ms, corrected)",
        },
        &series(|p| p.2 / 1000.0),
    );
    std::fs::write(dir.join("http-throughput.svg"), thr)?;
    std::fs::write(dir.join("http-p99.svg"), lat)?;
    let _ = writeln!(
        out,
        "### Offered load\n\n`oha` at fixed rates ({sweep_secs} s each, {conns} connections, \
         latency corrected for coordinated omission), one run per point.\n\n\
         ![throughput against offered load](bench/http-throughput.svg)\n\
         ![p99 against offered load](bench/http-p99.svg)\n\n\
         | offered req/s | {} |\n| --- |{}",
        results
            .iter()
            .map(|r| format!("{} req/s, p99", r.kind.name()))
            .collect::<Vec<_>>()
            .join(" | "),
        " --- |".repeat(results.len())
    );
    for &rate in p.sweep {
        let cells: Vec<String> = results
            .iter()
            .map(|r| {
                r.sweep
                    .iter()
                    .find(|p| p.0 == rate)
                    .map_or("-".into(), |p| format!("{:.0}, {}", p.1, fmt_us(p.2)))
            })
            .collect();
        let _ = writeln!(out, "| {rate} | {} |", cells.join(" | "));
    }
    out.push('\n');
    Ok(())
}
