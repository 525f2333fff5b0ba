//! HTTP benchmark: lb vs HAProxy vs nginx as reverse proxies on CPU 1 in front of an nginx
//! backend serving 1 KiB on CPU 0, load generators on CPU 0 (`../shared/BENCH.md`).
//!
//! Scenarios, each run three times per system in alternation (lb, haproxy, nginx, lb, ...)
//! and reported as medians: HTTP/1.1 keep-alive at saturation (`wrk`), at a fixed 10k req/s
//! (`oha --latency-correction`), the proxy answering by itself (`http-request return`), a new
//! connection per request, and h2c (`h2load`). Then an offered-load sweep for the plot and the
//! memory of idle keep-alive connections. Proxy CPU per request comes from
//! `/proc/PID/task/*/schedstat` of every process of the proxy.

mod load;
mod markdown;
mod systems;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use self::load::Load;
use self::systems::{FILE, Kind, Proc, System};
use super::Section;
use crate::shell::workspace_root;

/// Durations and sizes of one benchmark run.
#[derive(Debug)]
pub struct Params {
    /// Seconds per measured run.
    pub secs: u32,
    /// Runs per scenario and system (alternating).
    pub rounds: usize,
    /// Client connections of the HTTP/1.1 load generators.
    pub conns: u32,
    /// The fixed rate of the CPU-per-request comparison.
    pub fixed_rate: u32,
    /// Offered loads of the sweep (req/s).
    pub sweep: &'static [u32],
    /// Seconds per sweep point.
    pub sweep_secs: u32,
    /// Idle keep-alive connections of the memory measurement.
    pub idle_conns: usize,
}

/// The real run (about 5 minutes).
const FULL: Params = Params {
    secs: 4,
    rounds: 3,
    conns: 50,
    fixed_rate: 10_000,
    sweep: &[2_000, 5_000, 10_000, 15_000, 20_000, 30_000],
    sweep_secs: 3,
    idle_conns: 2_000,
};

/// `LB_BENCH_QUICK=1`: a smoke run of the harness (about 40 s), figures meaningless.
const QUICK: Params = Params {
    secs: 1,
    rounds: 1,
    conns: 20,
    fixed_rate: 2_000,
    sweep: &[1_000, 4_000],
    sweep_secs: 1,
    idle_conns: 200,
};

/// The parameters of this run.
pub fn params() -> &'static Params {
    if std::env::var_os("LB_BENCH_QUICK").is_some_and(|v| v != "0") {
        &QUICK
    } else {
        &FULL
    }
}

/// The measured scenarios, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// HTTP/1.1 keep-alive through the proxy at saturation.
    KeepAlive,
    /// HTTP/1.1 keep-alive through the proxy at a fixed rate.
    Fixed,
    /// The proxy answering by itself at saturation.
    Direct,
    /// A new connection per request, at saturation.
    NewConn,
    /// h2c through the proxy.
    H2c,
}

impl Scenario {
    const ALL: [Self; 5] = [
        Self::KeepAlive,
        Self::Fixed,
        Self::Direct,
        Self::NewConn,
        Self::H2c,
    ];

    fn title(self) -> String {
        let p = params();
        match self {
            Self::KeepAlive => "HTTP/1.1 keep-alive, saturation (wrk)".into(),
            Self::Fixed => format!("HTTP/1.1 keep-alive, fixed {} req/s (oha)", p.fixed_rate),
            Self::Direct => "proxy answering by itself, saturation (wrk)".into(),
            Self::NewConn => "new connection per request, saturation (wrk)".into(),
            Self::H2c => "HTTP/2 h2c, saturation (h2load)".into(),
        }
    }

    fn command(self) -> String {
        let p = params();
        let (secs, conns, rate) = (p.secs, p.conns, p.fixed_rate);
        let url = format!("http://127.0.0.1:PORT{FILE}");
        match self {
            Self::KeepAlive => format!("taskset -c 0 wrk --latency -t1 -c{conns} -d{secs}s {url}"),
            Self::Fixed => format!(
                "taskset -c 0 oha --no-tui --latency-correction -q {rate} -c {conns} -z {secs}s {url}"
            ),
            Self::Direct => {
                format!("taskset -c 0 wrk --latency -t1 -c{conns} -d{secs}s http://127.0.0.1:PORT/")
            }
            Self::NewConn => format!(
                "taskset -c 0 wrk --latency -t1 -c{conns} -d{secs}s -H 'Connection: close' {url}"
            ),
            Self::H2c => format!("taskset -c 0 h2load -c 10 -m 10 -D {secs} --log-file=LOG {url}"),
        }
    }
}

/// One measured run: the client's view and the proxy's CPU per completed request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Measure {
    /// Client side.
    pub load: Load,
    /// Proxy CPU time per completed request, microseconds.
    pub cpu_us: f64,
}

/// Everything measured for one system.
pub struct Results {
    /// The system.
    pub kind: Kind,
    /// Why it could not run at all.
    pub unavailable: Option<String>,
    /// Its configuration.
    pub config: String,
    /// Runs per scenario (`Err`: why the scenario failed).
    pub runs: Vec<(Scenario, Result<Vec<Measure>, String>)>,
    /// `(offered, achieved req/s, p99 µs)` per sweep point.
    pub sweep: Vec<(u32, f64, f64)>,
    /// KiB per idle keep-alive connection.
    pub idle_kib: Result<f64, String>,
}

impl Results {
    /// The median run of `s`, if it ran.
    pub fn median(&self, s: Scenario) -> Option<Measure> {
        let runs = self.runs.iter().find(|(k, _)| *k == s)?.1.as_ref().ok()?;
        if runs.is_empty() {
            return None;
        }
        Some(Measure {
            load: Load {
                requests: median_of(runs, |m| m.load.requests as f64) as u64,
                errors: median_of(runs, |m| m.load.errors as f64) as u64,
                rps: median_of(runs, |m| m.load.rps),
                p50_us: median_of(runs, |m| m.load.p50_us),
                p99_us: median_of(runs, |m| m.load.p99_us),
            },
            cpu_us: median_of(runs, |m| m.cpu_us),
        })
    }

    /// Why `s` did not run, if it did not.
    pub fn failure(&self, s: Scenario) -> Option<&str> {
        if let Some(u) = &self.unavailable {
            return Some(u);
        }
        match &self.runs.iter().find(|(k, _)| *k == s)?.1 {
            Err(e) => Some(e),
            Ok(_) => None,
        }
    }
}

fn median_of(runs: &[Measure], f: impl Fn(&Measure) -> f64) -> f64 {
    let mut v: Vec<f64> = runs.iter().map(f).collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Measures the HTTP scenarios and returns the report section.
pub fn run() -> Result<Section> {
    let oha = crate::setup::bench_tools()?;
    let root = workspace_root();
    // `LB_BENCH_LB=PATH` measures another build of lb (the release build is the default).
    let lb = std::env::var_os("LB_BENCH_LB")
        .map_or_else(|| root.join("target/release/lb"), PathBuf::from);
    let dir = std::env::temp_dir().join(format!("lb-bench-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let started = std::time::Instant::now();
    let result = measure(&dir, &lb, &oha);
    let _ = std::fs::remove_dir_all(&dir);
    let results = result?;
    let elapsed = started.elapsed().as_secs();
    markdown::section(&results, elapsed, &root)
}

fn measure(dir: &Path, lb: &Path, oha: &Path) -> Result<Vec<Results>> {
    let p = params();
    let backend_port = systems::free_port()?;
    let _backend = systems::backend(dir, backend_port).context("starting the nginx backend")?;
    systems::smoke(backend_port, FILE).context("the nginx backend does not serve the file")?;
    let kinds = [Kind::Lb, Kind::Haproxy, Kind::Nginx];
    let mut running: Vec<(Results, Option<System>)> = Vec::new();
    for kind in kinds {
        let started = systems::start(kind, dir, lb, backend_port).and_then(|s| {
            systems::smoke(s.ports.proxy, FILE)
                .with_context(|| format!("{} smoke test", kind.name()))?;
            Ok(s)
        });
        let (unavailable, config, sys) = match started {
            Ok(s) => (None, s.config.clone(), Some(s)),
            Err(e) => {
                let why = unavailable_reason(kind, &format!("{e:#}"));
                eprintln!("xtask: bench http: {}: {why}", kind.name());
                (
                    Some(why),
                    systems::haproxy_config(kind, placeholder_ports(), backend_port, true),
                    None,
                )
            }
        };
        running.push((
            Results {
                kind,
                unavailable,
                config,
                runs: Vec::new(),
                sweep: Vec::new(),
                idle_kib: Err("not measured".into()),
            },
            sys,
        ));
    }
    // Warm-up: first connections, lazily allocated state, page cache.
    for (_, sys) in &running {
        if let Some(s) = sys {
            let _ = load::wrk(&url(s.ports.proxy, FILE), p.conns, 1, &[]);
        }
    }
    for scenario in Scenario::ALL {
        eprintln!("xtask: bench http: {}", scenario.title());
        let mut runs: Vec<Result<Vec<Measure>, String>> = vec![Ok(Vec::new()); running.len()];
        for _round in 0..p.rounds {
            for (i, (_, sys)) in running.iter().enumerate() {
                let Some(s) = sys else { continue };
                if runs[i].is_err() {
                    continue;
                }
                match run_once(scenario, s, oha, dir) {
                    Ok(m) => {
                        if let Ok(v) = &mut runs[i] {
                            v.push(m);
                        }
                    }
                    Err(e) => runs[i] = Err(format!("{e:#}")),
                }
            }
        }
        for ((r, _), outcome) in running.iter_mut().zip(runs) {
            r.runs.push((scenario, outcome));
        }
    }
    eprintln!("xtask: bench http: offered-load sweep");
    for &rate in p.sweep {
        for (r, sys) in &mut running {
            let Some(s) = sys else { continue };
            if let Ok(l) = load::oha(oha, &url(s.ports.proxy, FILE), rate, p.conns, p.sweep_secs) {
                r.sweep.push((rate, l.rps, l.p99_us));
            }
        }
    }
    eprintln!(
        "xtask: bench http: {} idle keep-alive connections",
        p.idle_conns
    );
    for (r, sys) in &mut running {
        if sys.is_none() {
            continue;
        }
        // A fresh process: memory freed by the load runs would otherwise hide the cost.
        *sys = None;
        r.idle_kib = systems::start(r.kind, dir, lb, backend_port)
            .and_then(|s| systems::idle_conn_kib(&s.proc, s.ports.proxy, FILE, p.idle_conns))
            .map_err(|e| format!("{e:#}"));
    }
    Ok(running.into_iter().map(|(r, _)| r).collect())
}

fn placeholder_ports() -> systems::Ports {
    systems::Ports {
        proxy: 8080,
        direct: 8081,
        h2c: 8080,
    }
}

/// A short reason for the report: lb refusing `mode http` is the expected one until the
/// HTTP runtime exists.
fn unavailable_reason(kind: Kind, err: &str) -> String {
    if kind == Kind::Lb && err.contains("mode http") {
        return "not available (mode http refused)".into();
    }
    format!("not available ({})", systems::first_alert(err))
}

fn url(port: u16, path: &str) -> String {
    format!("http://127.0.0.1:{port}{path}")
}

/// Runs `scenario` once against `sys`, measuring its CPU time around the load.
fn run_once(scenario: Scenario, sys: &System, oha: &Path, dir: &Path) -> Result<Measure> {
    let p = params();
    let (secs, conns) = (p.secs, p.conns);
    let proc: &Proc = &sys.proc;
    let before = proc.cpu_ns();
    let load = match scenario {
        Scenario::KeepAlive => load::wrk(&url(sys.ports.proxy, FILE), conns, secs, &[])?,
        Scenario::Fixed => load::oha(oha, &url(sys.ports.proxy, FILE), p.fixed_rate, conns, secs)?,
        Scenario::Direct => {
            if let Some(why) = &sys.direct_error {
                anyhow::bail!("{why}");
            }
            load::wrk(&url(sys.ports.direct, "/"), conns, secs, &[])?
        }
        Scenario::NewConn => load::wrk(
            &url(sys.ports.proxy, FILE),
            conns,
            secs,
            &["Connection: close"],
        )?,
        Scenario::H2c => {
            let log: PathBuf = dir.join(format!("h2load-{}.log", sys.kind.name()));
            load::h2load(&url(sys.ports.h2c, FILE), 10, 10, secs, &log)?
        }
    };
    let cpu = proc.cpu_ns().saturating_sub(before);
    if load.requests == 0 || load.errors * 100 > load.requests {
        anyhow::bail!(
            "{} errors for {} completed requests",
            load.errors,
            load.requests
        );
    }
    Ok(Measure {
        load,
        cpu_us: cpu as f64 / 1e3 / load.requests as f64,
    })
}
