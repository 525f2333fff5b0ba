//! The load generators (`wrk`, `oha`, `h2load`) pinned to CPU 0, and parsers of their output.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, Result, bail};

/// What one load run measured (client side).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Load {
    /// Completed requests.
    pub requests: u64,
    /// Requests that failed or answered something else than 2xx/3xx.
    pub errors: u64,
    /// Completed requests per second.
    pub rps: f64,
    /// Median latency, microseconds.
    pub p50_us: f64,
    /// 99th percentile latency, microseconds.
    pub p99_us: f64,
}

/// `wrk` at saturation: one thread, `conns` connections, `secs` seconds, `extra` headers.
pub fn wrk(url: &str, conns: u32, secs: u32, headers: &[&str]) -> Result<Load> {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "0", "wrk", "--latency", "-t1"])
        .arg(format!("-c{conns}"))
        .arg(format!("-d{secs}s"));
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.arg(url).output().context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("wrk failed: {}{text}", String::from_utf8_lossy(&out.stderr));
    }
    parse_wrk(&text).with_context(|| format!("unexpected wrk output:\n{text}"))
}

/// Parses `wrk --latency` output.
pub fn parse_wrk(text: &str) -> Result<Load> {
    let mut load = Load::default();
    let mut got = (false, false);
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", v] => load.p50_us = duration_us(v)?,
            ["99%", v] => load.p99_us = duration_us(v)?,
            [n, "requests", "in", ..] => {
                load.requests = n.parse()?;
                got.0 = true;
            }
            ["Requests/sec:", v] => {
                load.rps = v.parse()?;
                got.1 = true;
            }
            ["Non-2xx", "or", "3xx", "responses:", n] => load.errors += n.parse::<u64>()?,
            ["Socket", "errors:", rest @ ..] => {
                // "connect 0, read 0, write 0, timeout 0"
                for pair in rest.chunks(2) {
                    if let [_, n] = pair {
                        load.errors += n.trim_end_matches(',').parse::<u64>().unwrap_or(0);
                    }
                }
            }
            _ => {}
        }
    }
    if !(got.0 && got.1) {
        bail!("no request count or rate");
    }
    Ok(load)
}

/// `12.5us`, `1.20ms`, `2.00s`, `3m` in microseconds.
fn duration_us(v: &str) -> Result<f64> {
    let split = v
        .find(|c: char| c.is_ascii_alphabetic())
        .with_context(|| format!("duration without unit: {v}"))?;
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse()?;
    Ok(match unit {
        "us" => n,
        "ms" => n * 1e3,
        "s" => n * 1e6,
        "m" => n * 60e6,
        _ => bail!("unknown unit in {v}"),
    })
}

/// `oha` at a fixed `rate` (with latency correction: coordinated omission accounted for),
/// `conns` connections, `secs` seconds.
pub fn oha(oha: &Path, url: &str, rate: u32, conns: u32, secs: u32) -> Result<Load> {
    let out = Command::new("taskset")
        .args(["-c", "0"])
        .arg(oha)
        .args([
            "--no-tui",
            "--output-format",
            "json",
            "--latency-correction",
        ])
        .args(["-q", &rate.to_string(), "-c", &conns.to_string()])
        .args(["-z", &format!("{secs}s")])
        .arg(url)
        .output()
        .context("running oha")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("oha failed: {}{text}", String::from_utf8_lossy(&out.stderr));
    }
    parse_oha(&text).with_context(|| format!("unexpected oha output:\n{text}"))
}

/// Parses `oha --output-format json`: seconds in `latencyPercentiles`, counts in
/// `statusCodeDistribution` and `errorDistribution`.
pub fn parse_oha(text: &str) -> Result<Load> {
    let v: serde_json::Value = serde_json::from_str(text)?;
    let num = |p: &str| v.pointer(p).and_then(serde_json::Value::as_f64);
    let mut load = Load {
        rps: num("/summary/requestsPerSec").context("no requestsPerSec")?,
        p50_us: num("/latencyPercentiles/p50").context("no p50")? * 1e6,
        p99_us: num("/latencyPercentiles/p99").context("no p99")? * 1e6,
        ..Load::default()
    };
    if let Some(codes) = v.get("statusCodeDistribution").and_then(|c| c.as_object()) {
        for (code, n) in codes {
            let n = n.as_u64().unwrap_or(0);
            load.requests += n;
            if !code.starts_with('2') && !code.starts_with('3') {
                load.errors += n;
            }
        }
    }
    if let Some(errs) = v.get("errorDistribution").and_then(|c| c.as_object()) {
        // Requests cut by the end of the run are reported as errors: not the proxy's fault.
        load.errors += errs
            .iter()
            .filter(|(k, _)| !k.contains("aborted due to deadline"))
            .map(|(_, n)| n.as_u64().unwrap_or(0))
            .sum::<u64>();
    }
    Ok(load)
}

/// `h2load` over h2c (prior knowledge): `conns` connections, `streams` concurrent streams
/// each, `secs` seconds; percentiles from its per-request log.
pub fn h2load(url: &str, conns: u32, streams: u32, secs: u32, log: &Path) -> Result<Load> {
    let out = Command::new("taskset")
        .args(["-c", "0", "h2load"])
        .args(["-c", &conns.to_string(), "-m", &streams.to_string()])
        .args(["-D", &secs.to_string()])
        .arg(format!("--log-file={}", log.display()))
        .arg(url)
        .output()
        .context("running h2load")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "h2load failed: {}{text}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut load =
        parse_h2load(&text).with_context(|| format!("unexpected h2load output:\n{text}"))?;
    let mut lat: Vec<f64> = std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split('\t').nth(2)?.trim().parse().ok())
        .collect();
    lat.sort_by(f64::total_cmp);
    load.p50_us = percentile(&lat, 0.50);
    load.p99_us = percentile(&lat, 0.99);
    Ok(load)
}

/// Parses h2load's summary (`finished in ..., N req/s` and the `requests:`/`status codes:`
/// lines).
pub fn parse_h2load(text: &str) -> Result<Load> {
    let mut load = Load::default();
    let mut got = (false, false);
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["finished", "in", _, rate, "req/s,", ..] => {
                load.rps = rate.parse()?;
                got.0 = true;
            }
            [
                "requests:",
                _,
                "total,",
                _,
                "started,",
                _,
                "done,",
                ok,
                "succeeded,",
                failed,
                "failed,",
                errored,
                "errored,",
                ..,
            ] => {
                load.requests = ok.parse()?;
                load.errors = failed.parse::<u64>()? + errored.parse::<u64>()?;
                got.1 = true;
            }
            [
                "status",
                "codes:",
                _,
                "2xx,",
                _,
                "3xx,",
                c4,
                "4xx,",
                c5,
                "5xx",
            ] => {
                load.errors += c4.parse::<u64>()? + c5.parse::<u64>()?;
            }
            _ => {}
        }
    }
    if !(got.0 && got.1) {
        bail!("no rate or request count");
    }
    Ok(load)
}

/// The `q` quantile of sorted `v` (nearest rank), 0 for no data.
pub fn percentile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let rank = (q * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK: &str = "Running 5s test @ http://127.0.0.1:8080/1k.bin
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.83ms  261.30us   9.99ms   91.22%
    Req/Sec    27.41k     1.02k   28.66k    84.00%
  Latency Distribution
     50%    1.79ms
     75%    1.89ms
     90%    2.04ms
     99%  812.00us
  136355 requests in 5.00s, 161.28MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  27263.39
Transfer/sec:     32.25MB
";

    #[test]
    fn parses_wrk() {
        let l = parse_wrk(WRK).unwrap();
        assert_eq!(l.requests, 136_355);
        assert_eq!(l.errors, 7);
        assert!((l.rps - 27263.39).abs() < 1e-6);
        assert!((l.p50_us - 1790.0).abs() < 1e-6);
        assert!((l.p99_us - 812.0).abs() < 1e-6);
    }

    #[test]
    fn parses_oha_json() {
        let j = r#"{"summary":{"successRate":1.0,"requestsPerSec":9998.5},
            "latencyPercentiles":{"p50":0.0005,"p99":0.0021},
            "statusCodeDistribution":{"200":49990,"503":2},
            "errorDistribution":{"aborted due to deadline":50,"connection refused":1}}"#;
        let l = parse_oha(j).unwrap();
        assert_eq!((l.requests, l.errors), (49_992, 3));
        assert!((l.p50_us - 500.0).abs() < 1e-6 && (l.p99_us - 2100.0).abs() < 1e-6);
    }

    #[test]
    fn parses_h2load() {
        let t = "finished in 4.00s, 31234.50 req/s, 35.12MB/s
requests: 124938 total, 125038 started, 124938 done, 124930 succeeded, 8 failed, 0 errored, 0 timeout
status codes: 124930 2xx, 0 3xx, 0 4xx, 8 5xx
";
        let l = parse_h2load(t).unwrap();
        assert_eq!((l.requests, l.errors), (124_930, 16));
        assert!((l.rps - 31234.5).abs() < 1e-6);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert!((percentile(&v, 0.5) - 50.0).abs() < 1e-9);
        assert!((percentile(&v, 0.99) - 99.0).abs() < 1e-9);
        assert!(percentile(&[], 0.5).abs() < 1e-9);
    }
}
