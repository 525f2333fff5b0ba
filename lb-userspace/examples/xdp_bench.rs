//! Helpers of `cargo xtask bench xdp` (run as root):
//!
//! - `xdp_bench cost [REPEAT [ROUNDS]]`: per-packet cost of the XDP guard against a drop-all
//!   program. Loads the embedded program with its maps pinned in a fresh directory (removed
//!   at exit), configures the benchmark's guard, runs every case and prints one line per
//!   case: `name ours_median baseline_median ratio ours_per_round baseline_per_round what`
//!   (per-round lists comma-separated).
//! - `xdp_bench guard PIN PORT [syn RATE BURST] [global RATE BURST] [deny CIDR]`:
//!   configures the guard of a running `lb` through its pinned maps: PORT protected (TCP
//!   sanity, SYN budgets), a per-source and a global SYN budget, deny entries.
//! - `xdp_bench counters PIN`: prints `packets P dropped D` from the pinned counters.
//! - `xdp_bench client ADDR RATE CONNS SECS`: a fixed-rate HTTP/1.1 keep-alive client
//!   (RATE requests per second over CONNS connections for SECS seconds); latency counts from
//!   each request's scheduled time, so a stall is not hidden (no coordinated omission).
//!   Prints `offered O ok N errors E rps R p50_us A p99_us B max_us C`.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};

use lb::ebpf::{Budget, CidrLists, GuardSettings, ListKind, PORT_SYN_GUARD, PORT_TCP_SANITY};
use lb_common::Verdict;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("cost") => cost(&args[1..]),
        Some("guard") => guard(&args[1..]),
        Some("counters") => counters(&args[1..]),
        Some("client") => client(&args[1..]),
        _ => Err("usage: xdp_bench cost|guard|counters|client ARGS (see the source)".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xdp_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> Result<T> {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("argument {} ({what}) missing or invalid", i + 1).into())
}

fn cost(args: &[String]) -> Result<()> {
    let repeat: u32 = arg(args, 0, "repeat").unwrap_or(1_000_000);
    let rounds: usize = arg(args, 1, "rounds").unwrap_or(5);
    let pin = PathBuf::from(format!("/sys/fs/bpf/lb-xdp-cost-{}", std::process::id()));
    let mut rt = lb::ebpf::load(&pin)?;
    rt.remove_pins_on_drop();
    rt.prepare_cost_bench(None)?;
    let costs = rt.cost_bench(repeat, rounds)?;
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
    Ok(())
}

fn guard(args: &[String]) -> Result<()> {
    let pin = PathBuf::from(arg::<String>(args, 0, "pin directory")?);
    let port: u16 = arg(args, 1, "port")?;
    let mut settings = GuardSettings::default();
    let mut deny = Vec::new();
    let mut i = 2;
    while let Some(word) = args.get(i) {
        match word.as_str() {
            "syn" => {
                settings.syn_per_source = Some(Budget {
                    rate: arg(args, i + 1, "rate")?,
                    burst: arg(args, i + 2, "burst")?,
                });
                i += 3;
            }
            "global" => {
                settings.syn_global = Some(Budget {
                    rate: arg(args, i + 1, "rate")?,
                    burst: arg(args, i + 2, "burst")?,
                });
                i += 3;
            }
            "deny" => {
                deny.push(arg::<String>(args, i + 1, "cidr")?.parse()?);
                i += 2;
            }
            other => return Err(format!("unknown guard option {other}").into()),
        }
    }
    lb::ebpf::set_protected_ports(&pin, &[(port, PORT_TCP_SANITY | PORT_SYN_GUARD)])?;
    lb::ebpf::set_settings(&pin, &settings)?;
    let mut lists = CidrLists::open(&pin)?;
    for cidr in deny {
        lists.add(ListKind::Deny, cidr, None)?;
    }
    Ok(())
}

fn counters(args: &[String]) -> Result<()> {
    let pin = PathBuf::from(arg::<String>(args, 0, "pin directory")?);
    let stats = lb::ebpf::read_stats(&pin)?;
    println!(
        "packets {} dropped {}",
        stats.total().packets,
        stats.verdict(Verdict::Drop).packets
    );
    Ok(())
}

/// What one connection thread measured.
#[derive(Default)]
struct Tally {
    ok: u64,
    errors: u64,
    latencies_us: Vec<u64>,
}

fn client(args: &[String]) -> Result<()> {
    let addr: SocketAddr = arg(args, 0, "address")?;
    let rate: f64 = arg(args, 1, "rate")?;
    let conns: usize = arg(args, 2, "connections")?;
    let secs: f64 = arg(args, 3, "seconds")?;
    let interval = Duration::from_secs_f64(conns as f64 / rate);
    let start = Instant::now() + Duration::from_millis(100);
    let end = start + Duration::from_secs_f64(secs);
    let threads: Vec<_> = (0..conns)
        .map(|i| {
            // Threads start staggered over one interval, so the load is even.
            let first = start + interval.mul_f64(i as f64 / conns as f64);
            std::thread::spawn(move || run_connection(addr, first, interval, end))
        })
        .collect();
    let mut all = Tally::default();
    for t in threads {
        let t = t.join().map_err(|_| "a client thread panicked")?;
        all.ok += t.ok;
        all.errors += t.errors;
        all.latencies_us.extend(t.latencies_us);
    }
    all.latencies_us.sort_unstable();
    let pct = |p: f64| {
        let n = all.latencies_us.len();
        if n == 0 {
            return 0;
        }
        all.latencies_us[((n as f64 * p) as usize).min(n - 1)]
    };
    println!(
        "offered {} ok {} errors {} rps {:.0} p50_us {} p99_us {} max_us {}",
        (rate * secs) as u64,
        all.ok,
        all.errors,
        all.ok as f64 / secs,
        pct(0.50),
        pct(0.99),
        all.latencies_us.last().copied().unwrap_or(0)
    );
    Ok(())
}

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n";

fn run_connection(addr: SocketAddr, first: Instant, interval: Duration, end: Instant) -> Tally {
    let mut tally = Tally::default();
    let mut conn: Option<TcpStream> = None;
    let mut buf = vec![0u8; 16 * 1024];
    let mut due = first;
    while due < end {
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if conn.is_none() {
            conn = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
                .ok()
                .inspect(|s| {
                    let _ = s.set_nodelay(true);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                });
        }
        let done = conn.as_mut().is_some_and(|s| exchange(s, &mut buf).is_ok());
        if done {
            tally.ok += 1;
            let micros = due.elapsed().as_micros();
            tally
                .latencies_us
                .push(u64::try_from(micros).unwrap_or(u64::MAX));
        } else {
            tally.errors += 1;
            conn = None;
        }
        due += interval;
    }
    tally
}

/// Sends one request and reads one response (headers, then Content-Length bytes).
fn exchange(s: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<()> {
    s.write_all(REQUEST)?;
    let mut have = 0;
    loop {
        let n = s.read(&mut buf[have..])?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        have += n;
        let Some(head_end) = find(&buf[..have], b"\r\n\r\n") else {
            if have == buf.len() {
                return Err(std::io::ErrorKind::InvalidData.into());
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or(std::io::ErrorKind::InvalidData)?;
        let mut body_have = have - head_end - 4;
        while body_have < length {
            let n = s.read(buf)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            body_have += n;
        }
        return Ok(());
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
