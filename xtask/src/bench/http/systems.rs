//! The systems under comparison (lb, HAProxy, nginx as reverse proxies on CPU 1) and the
//! nginx backend (CPU 0): their configurations, processes, CPU time and memory.

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

/// The 1 KiB file the backend serves.
pub const FILE: &str = "/1k.bin";

/// A proxy under comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// This project.
    Lb,
    /// Debian's HAProxy 2.6.
    Haproxy,
    /// Debian's nginx 1.22.
    Nginx,
}

impl Kind {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Lb => "lb",
            Self::Haproxy => "haproxy",
            Self::Nginx => "nginx",
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// A process (and its children, for nginx) killed on drop.
pub struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Starts `cmd` pinned to `cpu` with its output in `log`, and waits until every port in
    /// `ports` listens.
    fn start(cpu: u32, program: &Path, args: &[&str], log: &Path, ports: &[u16]) -> Result<Self> {
        let out = std::fs::File::create(log)?;
        let child = Command::new("taskset")
            .args(["-c", &cpu.to_string()])
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let me = Self {
            child,
            log: log.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ports
            .iter()
            .all(|p| TcpStream::connect((Ipv4Addr::LOCALHOST, *p)).is_ok())
        {
            if !alive(me.child.id()) || Instant::now() >= deadline {
                bail!(
                    "{} did not listen on {ports:?}: {}",
                    program.display(),
                    me.output().trim()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(me)
    }

    /// What the process printed.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process and its children (nginx workers).
    pub fn pids(&self) -> Vec<u32> {
        let root = self.child.id();
        let mut pids = vec![root];
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for e in dir.flatten() {
                let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
                    continue;
                };
                if ppid(pid) == Some(root) {
                    pids.push(pid);
                }
            }
        }
        pids
    }

    /// CPU time of every thread of every process of [`Proc::pids`], nanoseconds
    /// (`/proc/PID/task/TID/schedstat`, first field).
    pub fn cpu_ns(&self) -> u64 {
        let mut total = 0;
        for pid in self.pids() {
            let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
                continue;
            };
            for t in tasks.flatten() {
                let stat = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
                total += stat
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
        total
    }

    /// Resident memory of every process of [`Proc::pids`], KiB (`VmRSS`).
    pub fn rss_kib(&self) -> u64 {
        self.pids()
            .iter()
            .filter_map(|pid| {
                let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
                let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
                line.split_whitespace().nth(1)?.parse::<u64>().ok()
            })
            .sum()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Children first: an nginx worker whose master is SIGKILLed lives on, orphaned.
        let root = self.child.id();
        for pid in self.pids().into_iter().filter(|&p| p != root) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, r)| !r.trim_start().starts_with('Z'))
    })
}

fn ppid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The nginx backend serving [`FILE`] (1 KiB) on CPU 0.
pub fn backend(dir: &Path, port: u16) -> Result<Proc> {
    let www = dir.join("www");
    std::fs::create_dir_all(&www)?;
    std::fs::write(www.join(FILE.trim_start_matches('/')), [b'x'; 1024])?;
    let conf = format!(
        "worker_processes 1;\ndaemon off;\nmaster_process off;\npid {d}/backend.pid;\n\
         error_log {d}/backend.err warn;\nevents {{ worker_connections 20000; }}\n\
         http {{\n  access_log off;\n  keepalive_requests 100000000;\n  keepalive_timeout 120s;\n{temps}\
         \x20 server {{ listen 127.0.0.1:{port} backlog=4096; root {www}; }}\n}}\n",
        d = dir.display(),
        temps = nginx_temps(dir),
        www = www.display(),
    );
    let path = dir.join("backend.conf");
    std::fs::write(&path, conf)?;
    nginx(0, dir, &path, "backend.log", &[port])
}

fn nginx_temps(dir: &Path) -> String {
    ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
        .iter()
        .map(|t| format!("  {t}_temp_path {}/tmp_{t};\n", dir.display()))
        .collect()
}

fn nginx(cpu: u32, dir: &Path, conf: &Path, log: &str, ports: &[u16]) -> Result<Proc> {
    let conf = conf.to_string_lossy().into_owned();
    let prefix = format!("{}/", dir.display());
    Proc::start(
        cpu,
        Path::new("nginx"),
        &["-p", &prefix, "-c", &conf],
        &dir.join(log),
        ports,
    )
}

/// Ports a proxy listens on.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    /// Reverse proxy to the backend (HTTP/1.1; h2c too for lb and HAProxy).
    pub proxy: u16,
    /// The proxy answering by itself.
    pub direct: u16,
    /// h2c reverse proxy (nginx needs a port of its own for prior-knowledge h2c).
    pub h2c: u16,
}

/// The HAProxy-language configuration lb and HAProxy both run (HAProxy also gets `cpu-map`).
/// Without `direct`, the self-answering frontend is left out.
pub fn haproxy_config(kind: Kind, ports: Ports, backend: u16, direct: bool) -> String {
    let cpu_map = if kind == Kind::Haproxy {
        "    cpu-map 1/1 1\n"
    } else {
        ""
    };
    let direct = if direct {
        format!(
            "frontend direct\n    bind 127.0.0.1:{}\n\
             \x20   http-request return status 200 content-type text/plain string ok\n\n",
            ports.direct
        )
    } else {
        String::new()
    };
    format!(
        "global\n    nbthread 1\n{cpu_map}    maxconn 5000\n\n\
         defaults\n    mode http\n    timeout connect 5s\n    timeout client 120s\n\
         \x20   timeout server 120s\n    timeout http-keep-alive 120s\n\n\
         frontend proxy\n    bind 127.0.0.1:{}\n    default_backend nginx\n\n\
         {direct}backend nginx\n    server n1 127.0.0.1:{backend}\n",
        ports.proxy
    )
}

/// The nginx reverse-proxy configuration (one worker on CPU 1).
pub fn nginx_config(dir: &Path, ports: Ports, backend: u16) -> String {
    let pass = "location / { proxy_pass http://be; proxy_http_version 1.1; \
                proxy_set_header Connection \"\"; }";
    format!(
        "worker_processes 1;\nworker_cpu_affinity 10;\ndaemon off;\npid {d}/proxy.pid;\n\
         error_log {d}/proxy.err warn;\nevents {{ worker_connections 20000; }}\n\
         http {{\n  access_log off;\n  keepalive_requests 100000000;\n  keepalive_timeout 120s;\n{temps}\
         \x20 upstream be {{ server 127.0.0.1:{backend}; keepalive 64; }}\n\
         \x20 server {{ listen 127.0.0.1:{p} backlog=4096; {pass} }}\n\
         \x20 server {{ listen 127.0.0.1:{h} http2 backlog=4096; {pass} }}\n\
         \x20 server {{ listen 127.0.0.1:{s} backlog=4096; location / {{ default_type text/plain; return 200 \"ok\"; }} }}\n}}\n",
        d = dir.display(),
        temps = nginx_temps(dir),
        p = ports.proxy,
        h = ports.h2c,
        s = ports.direct,
    )
}

/// A running proxy under comparison.
pub struct System {
    /// Which one.
    pub kind: Kind,
    /// Its ports.
    pub ports: Ports,
    /// Its configuration text (for the report).
    pub config: String,
    /// The process.
    pub proc: Proc,
    /// Why the self-answering frontend is missing, if it is.
    pub direct_error: Option<String>,
}

/// The first `[ALERT]` line of a proxy's output (else its first line).
pub fn first_alert(err: &str) -> String {
    let line = err
        .lines()
        .find(|l| l.contains("ALERT") || l.contains("rror"))
        .or_else(|| err.lines().next())
        .unwrap_or("failed");
    // `[ALERT] (pid) : config : parsing [file:line] : message`: the message says it all.
    let msg = line.split_once("[ALERT]").map_or(line, |(_, m)| m);
    msg.rsplit(" : ").next().unwrap_or(msg).trim().to_owned()
}

/// Starts `kind` on CPU 1 in front of the backend on `backend`.
pub fn start(kind: Kind, dir: &Path, lb: &Path, backend: u16) -> Result<System> {
    let proxy = free_port()?;
    let direct = free_port()?;
    let direct_port = direct;
    let mut direct_error = None;
    let ports = Ports {
        proxy,
        direct,
        h2c: if kind == Kind::Nginx {
            free_port()?
        } else {
            proxy
        },
    };
    let name = kind.name();
    let (config, proc) = match kind {
        Kind::Nginx => {
            let config = nginx_config(dir, ports, backend);
            let path = dir.join("proxy-nginx.conf");
            std::fs::write(&path, &config)?;
            let proc = nginx(
                1,
                dir,
                &path,
                "proxy-nginx.log",
                &[proxy, direct, ports.h2c],
            )?;
            (config, proc)
        }
        Kind::Lb | Kind::Haproxy => {
            let path = dir.join(format!("{name}.cfg"));
            let (program, foreground) = if kind == Kind::Lb {
                (lb, "-d")
            } else {
                (Path::new("haproxy"), "-db")
            };
            let cfg = path.to_string_lossy().into_owned();
            let log = dir.join(format!("{name}.log"));
            let run = |direct: bool| -> Result<(String, Proc)> {
                let config = haproxy_config(kind, ports, backend, direct);
                std::fs::write(&path, &config)?;
                let ports: &[u16] = if direct {
                    &[proxy, direct_port]
                } else {
                    &[proxy]
                };
                let proc = Proc::start(1, program, &[foreground, "-f", &cfg], &log, ports)?;
                Ok((config, proc))
            };
            match run(true) {
                Ok(started) => started,
                // An lb without `http-request return` can still proxy: measure that.
                Err(e) if kind == Kind::Lb && !format!("{e:#}").contains("mode http") => {
                    direct_error = Some(format!(
                        "not available ({})",
                        first_alert(&format!("{e:#}"))
                    ));
                    run(false)?
                }
                Err(e) => return Err(e),
            }
        }
    };
    Ok(System {
        kind,
        ports,
        config,
        proc,
        direct_error,
    })
}

/// Checks that `GET path` on `port` answers 200 (the system really proxies).
pub fn smoke(port: u16, path: &str) -> Result<()> {
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head)?;
    if &head[9..12] != b"200" {
        bail!("answered {:?}", String::from_utf8_lossy(&head));
    }
    Ok(())
}

/// Memory per idle keep-alive client connection, KiB: RSS growth of the proxy after `n`
/// connections each made one request (`GET path`) and stayed open, divided by `n`.
pub fn idle_conn_kib(proc: &Proc, port: u16, path: &str, n: usize) -> Result<f64> {
    // Warm up first: pools, buffers and lazily allocated state are not per connection.
    let warm = open_idle(port, path, 50)?;
    drop(warm);
    std::thread::sleep(Duration::from_millis(300));
    let before = proc.rss_kib();
    let conns = open_idle(port, path, n)?;
    std::thread::sleep(Duration::from_millis(500));
    let after = proc.rss_kib();
    drop(conns);
    Ok(after.saturating_sub(before) as f64 / n as f64)
}

/// Opens `n` keep-alive connections, each with one complete request and response.
fn open_idle(port: u16, path: &str, n: usize) -> Result<Vec<TcpStream>> {
    let req = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n");
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(req.as_bytes())?;
        read_response(&mut s)?;
        conns.push(s);
    }
    Ok(conns)
}

/// Reads one `Content-Length`-framed response.
fn read_response(s: &mut TcpStream) -> Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            bail!("connection closed before the response ended");
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        if !head.starts_with("http/1.1 200") {
            bail!("answered {}", head.lines().next().unwrap_or(""));
        }
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .context("response without content-length")?;
        if buf.len() >= end + 4 + len {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_message_is_extracted() {
        let err = "/x/lb did not listen on [1, 2]: [ALERT]    (26901) : config : parsing \
                   [/tmp/lb.cfg:18] : keyword 'http-request' is not supported yet\nmore";
        assert_eq!(
            first_alert(err),
            "keyword 'http-request' is not supported yet"
        );
        assert_eq!(first_alert("boom"), "boom");
    }
}
