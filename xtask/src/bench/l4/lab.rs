//! The namespaces of the L4 benchmark: client -> LB -> two backends running nginx.
//!
//! Same topology as `tests/tests/l4_fastpath.rs`: LB-to-backend links with MTU 1600 (room
//! for the IPIP header), transmit checksum offload off on the client (its packets cross XDP,
//! which forwards no partial checksums; the servers' replies do not, so they keep TSO), `lb_l4_decap` on the
//! backends' links (this kernel has no `ipip` device), the VIP on the backends' `lo`.
//! Everything is removed on drop.

use std::{
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

/// The service address.
pub const VIP: &str = "10.71.100.1";
/// The client namespace's address.
const CLIENT: &str = "10.71.1.2";
/// Backends.
pub const BACKENDS: usize = 2;

/// Namespaces, links and helper processes.
pub struct Lab {
    pub client: String,
    pub lb: String,
    backends: Vec<String>,
    /// nginx and the decap holders.
    children: Vec<Child>,
    pub dir: PathBuf,
}

/// Runs `ip ARGS` (quietly; fails with its stderr).
pub fn ip(args: &[&str]) -> Result<()> {
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

/// `PROGRAM` in network namespace `ns`. `nsenter`, not `ip netns exec`: the latter mounts a
/// fresh sysfs, which hides the bpffs at `/sys/fs/bpf` that `lb` pins its maps to.
pub fn in_ns(ns: &str, program: &str) -> Command {
    let mut cmd = Command::new("nsenter");
    cmd.arg(format!("--net=/run/netns/{ns}")).arg(program);
    cmd
}

fn sysctl(ns: &str, key: &str, value: &str) -> Result<()> {
    let status = in_ns(ns, "sysctl")
        .args(["-qw", &format!("{key}={value}")])
        .status()?;
    if !status.success() {
        bail!("sysctl {key} in {ns} failed");
    }
    Ok(())
}

impl Lab {
    /// Builds the lab; `helper` is the `l4_bench` example binary.
    pub fn new(helper: &Path) -> Result<Self> {
        let tag = std::process::id();
        let dir = std::env::temp_dir().join(format!("lb-bench-l4-{tag}"));
        fs::create_dir_all(&dir)?;
        let mut lab = Self {
            client: format!("lbb4-{tag}-c"),
            lb: format!("lbb4-{tag}-l"),
            backends: (1..=BACKENDS).map(|i| format!("lbb4-{tag}-b{i}")).collect(),
            children: Vec::new(),
            dir,
        };
        for ns in lab.all() {
            let _ = ip(&["netns", "del", &ns]);
            ip(&["netns", "add", &ns])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        let (c, l) = (lab.client.clone(), lab.lb.clone());
        ip(&[
            "-n", &l, "link", "add", "l0", "type", "veth", "peer", "name", "c0", "netns", &c,
        ])?;
        ip(&["-n", &l, "addr", "add", "10.71.1.1/24", "dev", "l0"])?;
        ip(&["-n", &l, "link", "set", "l0", "up"])?;
        ip(&[
            "-n",
            &c,
            "addr",
            "add",
            &format!("{CLIENT}/24"),
            "dev",
            "c0",
        ])?;
        ip(&["-n", &c, "link", "set", "c0", "up"])?;
        ip(&["-n", &c, "route", "add", "default", "via", "10.71.1.1"])?;
        lab.helper(helper, &c, "tx-csum-off", "c0")?;
        sysctl(&c, "net.ipv4.tcp_tw_reuse", "1")?;
        sysctl(&l, "net.ipv4.ip_forward", "1")?;
        sysctl(&l, "net.ipv4.ip_nonlocal_bind", "1")?;
        for key in ["all", "default", "l0"] {
            sysctl(&l, &format!("net.ipv4.conf.{key}.rp_filter"), "0")?;
        }
        for (i, b) in lab.backends.clone().iter().enumerate() {
            let n = i + 1;
            let (li, bi) = (format!("l{n}"), format!("b{n}"));
            ip(&[
                "-n", &l, "link", "add", &li, "mtu", "1600", "type", "veth", "peer", "name", &bi,
                "mtu", "1600", "netns", b,
            ])?;
            ip(&[
                "-n",
                &l,
                "addr",
                "add",
                &format!("10.72.{n}.1/24"),
                "dev",
                &li,
            ])?;
            ip(&["-n", &l, "link", "set", &li, "up"])?;
            sysctl(&l, &format!("net.ipv4.conf.{li}.rp_filter"), "0")?;
            ip(&[
                "-n",
                b,
                "addr",
                "add",
                &format!("10.72.{n}.2/24"),
                "dev",
                &bi,
            ])?;
            ip(&["-n", b, "link", "set", &bi, "up"])?;
            ip(&[
                "-n",
                b,
                "route",
                "add",
                "default",
                "via",
                &format!("10.72.{n}.1"),
            ])?;
            ip(&["-n", b, "addr", "add", &format!("{VIP}/32"), "dev", "lo"])?;
            for key in ["all", "default", "lo", &bi] {
                sysctl(b, &format!("net.ipv4.conf.{key}.rp_filter"), "0")?;
            }
            lab.hold_decap(helper, b, &bi)?;
            lab.nginx(b, n)?;
        }
        Ok(lab)
    }

    fn all(&self) -> Vec<String> {
        let mut v = vec![self.client.clone(), self.lb.clone()];
        v.extend(self.backends.iter().cloned());
        v
    }

    fn helper(&self, helper: &Path, ns: &str, cmd: &str, arg: &str) -> Result<()> {
        let status = in_ns(ns, &helper.to_string_lossy())
            .args([cmd, arg])
            .status()?;
        if !status.success() {
            bail!("l4_bench {cmd} {arg} in {ns} failed");
        }
        Ok(())
    }

    fn hold_decap(&mut self, helper: &Path, ns: &str, iface: &str) -> Result<()> {
        let mut child = in_ns(ns, &helper.to_string_lossy())
            .args(["hold-decap", iface])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            use std::io::BufRead as _;
            std::io::BufReader::new(out).read_line(&mut line)?;
        }
        if !line.starts_with("attached") {
            bail!("lb_l4_decap did not attach to {iface} in {ns}");
        }
        self.children.push(child);
        Ok(())
    }

    /// nginx on port 80 serving `/small` (64 bytes) and `/big` (1 MiB).
    fn nginx(&mut self, ns: &str, n: usize) -> Result<()> {
        let root = self.dir.join(format!("www{n}"));
        fs::create_dir_all(&root)?;
        fs::write(root.join("small"), [b'x'; 64])?;
        fs::write(root.join("big"), vec![b'y'; 1 << 20])?;
        let conf = self.dir.join(format!("nginx{n}.conf"));
        let d = self.dir.display();
        let mut f = fs::File::create(&conf)?;
        write!(
            f,
            "worker_processes 1;\npid {d}/nginx{n}.pid;\nerror_log {d}/nginx{n}.err;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n access_log off;\n client_body_temp_path {d}/cb{n};\n proxy_temp_path {d}/pt{n};\n\
             fastcgi_temp_path {d}/ft{n};\n uwsgi_temp_path {d}/ut{n};\n scgi_temp_path {d}/st{n};\n\
             sendfile on;\n keepalive_requests 100000;\n\
             server {{ listen 80 reuseport backlog=4096; root {};\n  location = /health {{ return 200; }} }}\n}}\n",
            root.display()
        )?;
        let child = in_ns(ns, "nginx")
            .args(["-c", &conf.to_string_lossy(), "-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting nginx")?;
        self.children.push(child);
        Ok(())
    }

    /// Adds (or removes) the VIP on the LB namespace's `lo`: user-space proxies need it
    /// local; the XDP path must not have it (the servers' replies come from it).
    pub fn vip_local(&self, local: bool) -> Result<()> {
        let vip = format!("{VIP}/32");
        // Absent already when removed twice: not an error.
        let _ = ip(&["-n", &self.lb, "addr", "del", &vip, "dev", "lo"]);
        if local {
            ip(&["-n", &self.lb, "addr", "add", &vip, "dev", "lo"])?;
        }
        Ok(())
    }

    /// Waits until `http://VIP/small` answers from the client namespace.
    pub fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let ok = in_ns(&self.client, "curl")
                .args([
                    "-s",
                    "-o",
                    "/dev/null",
                    "--max-time",
                    "1",
                    &format!("http://{VIP}/small"),
                ])
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the service on {VIP} did not answer within {timeout:?}");
            }
            sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in self.all() {
            let _ = ip(&["netns", "del", &ns]);
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}
