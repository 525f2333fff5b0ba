//! The flood lab: a client and a server network namespace joined by a veth pair, the
//! processes the benchmark starts in them, and the counters it reads. Everything is removed
//! on drop, also when a step fails.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use crate::shell::output;

/// The client namespace (trafgen and the legitimate client).
pub const CLI_NS: &str = "lbx-cli";
/// The server namespace (lb, its backend, the XDP program, nftables).
pub const SRV_NS: &str = "lbx-srv";
/// The client end of the veth pair.
pub const CLI_IF: &str = "lbxc0";
/// The server end, where XDP attaches.
pub const SRV_IF: &str = "lbxs0";
/// The client's address.
pub const CLI_ADDR: &str = "10.77.0.1";
/// lb's address.
pub const SRV_ADDR: &str = "10.77.0.2";
/// The port lb listens on (and the guard protects).
pub const LB_PORT: u16 = 8080;
/// The backend (nginx) behind lb, in the server namespace.
pub const BACKEND: &str = "127.0.0.1:18080";
/// Where the flood comes from: 65536 sources, none of them the legitimate client.
pub const FLOOD_NET: &str = "10.78.0.0/16";

/// A process killed (and reaped) on drop.
pub struct Proc {
    child: Child,
    name: &'static str,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr to `log`.
    pub fn spawn(name: &'static str, cmd: &mut Command, log: &Path) -> Result<Self> {
        let out = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Self { child, name })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Fails if the process already exited.
    pub fn check_running(&mut self, log: &Path) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let text = fs::read_to_string(log).unwrap_or_default();
            bail!("{} exited ({status}):\n{text}", self.name);
        }
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SIGTERM first: lb detaches XDP and nginx exits cleanly; SIGKILL if it lingers.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The namespaces, the veth pair and a scratch directory.
pub struct Lab {
    /// Scratch directory for configs and logs.
    pub dir: PathBuf,
    /// MAC address of [`SRV_IF`] (the flood's destination).
    pub srv_mac: String,
    /// MAC address of [`CLI_IF`].
    pub cli_mac: String,
    /// A bpffs mount of our own for lb's pinned maps: `ip netns exec` mounts a fresh
    /// /sys, which hides /sys/fs/bpf from lb in the namespace.
    pub bpffs: PathBuf,
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Runs `program args` inside namespace `ns`.
pub fn in_ns(ns: &str, program: &str) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, program]);
    cmd
}

fn remove_namespaces() {
    for ns in [CLI_NS, SRV_NS] {
        let _ = Command::new("ip")
            .args(["netns", "del", ns])
            .stderr(Stdio::null())
            .status();
    }
}

impl Lab {
    /// Creates the namespaces and the veth pair (removing leftovers of an aborted run).
    pub fn new() -> Result<Self> {
        remove_namespaces();
        let dir = std::env::temp_dir().join(format!("lb-bench-xdp-{}", std::process::id()));
        fs::create_dir_all(&dir)?;
        // From here on, Drop cleans up whatever exists.
        let bpffs = PathBuf::from(format!("/run/lb-bench-bpf-{}", std::process::id()));
        let mut lab = Self {
            dir,
            srv_mac: String::new(),
            cli_mac: String::new(),
            bpffs,
        };
        fs::create_dir_all(&lab.bpffs)?;
        let mounted = Command::new("mount")
            .args(["-t", "bpf", "bpf"])
            .arg(&lab.bpffs)
            .status()?;
        if !mounted.success() {
            bail!("mount -t bpf bpf {} failed", lab.bpffs.display());
        }
        ip(&["netns", "add", CLI_NS])?;
        ip(&["netns", "add", SRV_NS])?;
        ip(&[
            "link", "add", CLI_IF, "netns", CLI_NS, "type", "veth", "peer", "name", SRV_IF,
            "netns", SRV_NS,
        ])?;
        for (ns, dev, addr) in [(CLI_NS, CLI_IF, CLI_ADDR), (SRV_NS, SRV_IF, SRV_ADDR)] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        // Answers to the flood's sources go back to the client side (where they die).
        ip(&["-n", SRV_NS, "route", "add", FLOOD_NET, "via", CLI_ADDR])?;
        lab.srv_mac = mac(SRV_NS, SRV_IF)?;
        lab.cli_mac = mac(CLI_NS, CLI_IF)?;
        Ok(lab)
    }

    /// A path in the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        remove_namespaces();
        let _ = fs::remove_dir_all(&self.dir);
        let _ = Command::new("umount").arg(&self.bpffs).status();
        let _ = fs::remove_dir(&self.bpffs);
    }
}

fn mac(ns: &str, dev: &str) -> Result<String> {
    let text = output(in_ns(ns, "cat").arg(format!("/sys/class/net/{dev}/address")))
        .with_context(|| format!("no MAC for {dev}"))?;
    Ok(text.trim().to_owned())
}

/// A counter of interface `dev` in namespace `ns` (`tx_packets`, `rx_packets`, ...).
pub fn if_counter(ns: &str, dev: &str, name: &str) -> u64 {
    output(in_ns(ns, "cat").arg(format!("/sys/class/net/{dev}/statistics/{name}")))
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Jiffies (USER_HZ) of the whole machine from `/proc/stat`: (softirq, total).
pub fn cpu_jiffies() -> (u64, u64) {
    let text = fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return (0, 0);
    };
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let softirq = fields.get(6).copied().unwrap_or(0);
    (softirq, fields.iter().take(8).sum())
}

/// CPU time of process `pid`, all threads, in nanoseconds (`/proc/PID/stat` utime + stime,
/// in USER_HZ ticks of 10 ms).
pub fn proc_cpu_ns(pid: u32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which sits in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<u64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    ticks * 10_000_000
}

/// Waits until `cond` holds, for up to `secs` seconds.
pub fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond() {
            return Ok(());
        }
        thread::sleep(Duration::from_millis(50));
    }
    bail!("timed out waiting for {what}")
}
