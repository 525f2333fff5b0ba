//! L4 fast-path benchmark: the per-packet cost of `lb_l4` (`BPF_PROG_TEST_RUN`), then one
//! TCP service measured three ways in one run, in namespaces ([`lab`]): through the XDP fast
//! path (DSR), through `lb`'s user-space TCP mode, and through HAProxy's TCP mode.
//!
//! Connection rate: `wrk` with `Connection: close` (each request a new TCP connection) for a
//! 64-byte file; throughput: `wrk` with 4 keep-alive connections fetching 1 MiB. Medians of
//! [`ROUNDS`] rounds, the three systems interleaved in each round. Needs root, `nginx`,
//! `wrk`, `curl` and `haproxy`.

mod lab;

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context as _, Result, bail};

use self::lab::{Lab, VIP, in_ns};
use super::Section;
use crate::shell::{is_root, output, run as sh, workspace_root};

/// Rounds of every measure (the report shows medians).
const ROUNDS: usize = 3;
/// Seconds per `wrk` run.
const WRK_SECONDS: &str = "4s";
/// Runs of the cost helper.
const COST_ROUNDS: usize = 5;

/// The systems compared.
#[derive(Clone, Copy, PartialEq, Eq)]
enum System {
    Xdp,
    LbTcp,
    Haproxy,
}

impl System {
    const ALL: [Self; 3] = [Self::Xdp, Self::LbTcp, Self::Haproxy];

    const fn name(self) -> &'static str {
        match self {
            Self::Xdp => "lb XDP fast path (DSR)",
            Self::LbTcp => "lb user-space TCP",
            Self::Haproxy => "HAProxy TCP",
        }
    }
}

/// Measures the L4 scenarios and returns the report section.
pub fn run() -> Result<Section> {
    if !is_root() {
        bail!("the L4 benchmark loads eBPF and creates network namespaces: run it as root");
    }
    let helper = build_helper()?;
    let cost = cost(&helper)?;
    let lab = Lab::new(&helper)?;
    let mut conns: Vec<Vec<f64>> = vec![Vec::new(); 3];
    let mut bytes: Vec<Vec<f64>> = vec![Vec::new(); 3];
    for round in 0..ROUNDS {
        for (i, system) in System::ALL.into_iter().enumerate() {
            eprintln!(
                "xtask: bench l4 round {}/{ROUNDS}: {}",
                round + 1,
                system.name()
            );
            let proxy = start(&lab, system)?;
            let measured = measure(&lab);
            stop(proxy);
            let (c, b) = measured?;
            conns[i].push(c);
            bytes[i].push(b);
        }
    }
    drop(lab);
    let mut body = String::new();
    let kernel = output(Command::new("uname").arg("-r")).unwrap_or_default();
    let _ = writeln!(
        body,
        "Kernel {}, {} CPUs shared with the load generator and the servers (namespaces on one \
         host: ratios matter, absolute figures do not).\n",
        kernel.trim(),
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    body.push_str(
        "### Per-packet cost (`BPF_PROG_TEST_RUN`, one run per call, mean of 20000 calls; median of 5)\n\n\
         Established flows unless named `new_flow` (each call a new source port). The floor is \
         a program that returns XDP_PASS, timed the same way (the kernel's timer overhead \
         included).\n\n",
    );
    body.push_str("| case | ns/packet (median) | vs. an XDP_PASS program |\n|---|---:|---:|\n");
    let floor = cost
        .iter()
        .find(|(c, _)| c == "pass_floor")
        .map_or(0.0, |(_, n)| *n);
    for (case, ns) in &cost {
        let _ = writeln!(body, "| {case} | {ns:.0} | {:.1}x |", ns / floor.max(1.0));
    }
    let _ = writeln!(
        body,
        "\n### One TCP service, three ways (medians of {ROUNDS} rounds, `wrk` {WRK_SECONDS} each)\n\n\
         | system | new connections/s | vs. HAProxy | throughput MiB/s | vs. HAProxy |\n|---|---:|---:|---:|---:|"
    );
    let (hc, hb) = (median(&conns[2]), median(&bytes[2]));
    for (i, system) in System::ALL.into_iter().enumerate() {
        let (c, b) = (median(&conns[i]), median(&bytes[i]));
        let _ = writeln!(
            body,
            "| {} | {c:.0} | {:.2}x | {:.0} | {:.2}x |",
            system.name(),
            c / hc.max(1.0),
            b / (1 << 20) as f64,
            b / hb.max(1.0)
        );
    }
    body.push_str(
        "\nThe XDP path forwards client packets to the servers in the driver (IPIP, Maglev, \
         connection table) and the servers answer the clients directly: no proxy process, no \
         second TCP connection. The proxies terminate TCP and open a connection per client.\n",
    );
    Ok(Section {
        title: "XDP L4 fast path".into(),
        body,
    })
}

/// Builds `target/release/examples/l4_bench` (after `lb`, with the same flags).
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
                "l4_bench",
            ]),
    )?;
    Ok(root.join("target/release/examples/l4_bench"))
}

/// `(case, median ns)` per case of `l4_bench cost`.
fn cost(helper: &Path) -> Result<Vec<(String, f64)>> {
    let mut cases: Vec<(String, Vec<f64>)> = Vec::new();
    for _ in 0..COST_ROUNDS {
        let out = output(Command::new(helper).arg("cost")).context("l4_bench cost failed")?;
        for line in out.lines() {
            // {"case": "dsr_ipv4", "ns": 42}
            let case = line.split('"').nth(3).unwrap_or_default().to_owned();
            let ns: f64 = line
                .rsplit(':')
                .next()
                .map(|s| s.trim_end_matches('}').trim())
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN);
            match cases.iter_mut().find(|(c, _)| *c == case) {
                Some((_, v)) => v.push(ns),
                None => cases.push((case, vec![ns])),
            }
        }
    }
    Ok(cases.into_iter().map(|(c, v)| (c, median(&v))).collect())
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn config(system: System) -> String {
    let mut c = String::from(
        "global\n    nbthread 1\n\ndefaults\n    mode tcp\n    timeout connect 2s\n    \
         timeout client 30s\n    timeout server 30s\n\n",
    );
    let _ = write!(
        c,
        "frontend fe\n    bind {VIP}:80\n    default_backend be\n\nbackend be\n"
    );
    if system == System::Xdp {
        c.push_str("    option xdp-forward\n    xdp-forward-method dsr\n    xdp-forward-source 10.71.1.1\n");
    }
    for n in 1..=lab::BACKENDS {
        let _ = writeln!(c, "    server s{n} 10.72.{n}.2:80 check");
    }
    if system == System::Xdp {
        let _ = write!(
            c,
            "\nxdp\n    interface l0 mode native\n    pin-path /sys/fs/bpf/lb-bench-l4-{}\n    required\n",
            std::process::id()
        );
    }
    c
}

fn start(lab: &Lab, system: System) -> Result<Child> {
    lab.vip_local(system != System::Xdp)?;
    let path = lab.dir.join("proxy.cfg");
    std::fs::write(&path, config(system))?;
    let cfg = path.to_string_lossy().into_owned();
    let mut cmd = match system {
        System::Haproxy => {
            let mut c = in_ns(&lab.lb, "haproxy");
            c.args(["-db", "-f", &cfg]);
            c
        }
        System::Xdp | System::LbTcp => {
            let lb = workspace_root().join("target/release/lb");
            let mut c = in_ns(&lab.lb, &lb.to_string_lossy());
            c.args(["-q", "-f", &cfg]);
            c
        }
    };
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", system.name()))?;
    if let Err(e) = lab.wait_ready(Duration::from_secs(15)) {
        stop(child);
        return Err(e.context(format!("{} did not serve", system.name())));
    }
    Ok(child)
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(format!("/sys/fs/bpf/lb-bench-l4-{}", std::process::id()));
}

/// (new connections per second, bytes per second).
fn measure(lab: &Lab) -> Result<(f64, f64)> {
    let url = |path: &str| format!("http://{VIP}/{path}");
    let conns = wrk(
        lab,
        &["-t1", "-c32", "-H", "Connection: close", &url("small")],
    )?;
    let bulk = wrk(lab, &["-t1", "-c4", &url("big")])?;
    Ok((conns.0, bulk.1))
}

/// Runs wrk in the client namespace; (requests/s, bytes/s).
fn wrk(lab: &Lab, args: &[&str]) -> Result<(f64, f64)> {
    let out = in_ns(&lab.client, "wrk")
        .args(["-d", WRK_SECONDS])
        .args(args)
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(str::trim)
            .map(str::to_owned)
    };
    let rps: f64 = field("Requests/sec:")
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no Requests/sec in wrk output:\n{text}"))?;
    let transfer = field("Transfer/sec:").map_or(0.0, |s| parse_size(&s));
    Ok((rps, transfer))
}

/// `12.34MB` -> bytes (wrk's units are powers of 1024).
fn parse_size(s: &str) -> f64 {
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let n: f64 = num.parse().unwrap_or(0.0);
    let scale = match unit {
        "KB" => 1024.0,
        "MB" => 1024.0 * 1024.0,
        "GB" => 1024.0 * 1024.0 * 1024.0,
        _ => 1.0,
    };
    n * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_medians() {
        assert!((parse_size("1.50MB") - 1.5 * 1024.0 * 1024.0).abs() < 1.0);
        assert!((parse_size("512B") - 512.0).abs() < 1e-9);
        assert!((median(&[3.0, 1.0, 2.0]) - 2.0).abs() < 1e-9);
    }
}
