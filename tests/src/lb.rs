//! Running the `lb` binary: locate (or build) it, start it on a configuration written to a
//! temp dir, wait until it listens, capture and search its output, signal it, kill it on drop.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use regex::Regex;

use crate::util::TempDir;

/// How long a started `lb` may take to listen on every bound port.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The `lb` binary: `$LB_BIN` if set, else `target/<profile>/lb` next to this test
/// executable, built (or found up to date) with cargo once per test process.
pub fn lb_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("LB_BIN") {
            return PathBuf::from(p);
        }
        let exe = std::env::current_exe().expect("current_exe");
        // target/<profile>/deps/<test-exe>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>");
        let target_dir = profile_dir.parent().expect("target dir");
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "--quiet",
            "-p",
            "lb-userspace",
            "--bin",
            "lb",
            "--target-dir",
        ])
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build for the lb binary");
        assert!(
            status.success(),
            "cargo build of the lb binary failed: {status}"
        );
        profile_dir.join("lb")
    })
}

/// The repository root (where `configs/` lives).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// Output captured from one process, searchable while it runs.
#[derive(Default)]
pub struct Captured {
    text: Mutex<Texts>,
    changed: Condvar,
}

#[derive(Default)]
struct Texts {
    stdout: String,
    stderr: String,
    /// Streams that reached EOF.
    closed: usize,
}

impl Texts {
    fn matching(&self, re: &Regex) -> Vec<String> {
        self.stdout
            .lines()
            .chain(self.stderr.lines())
            .filter(|l| re.is_match(l))
            .map(str::to_owned)
            .collect()
    }
}

impl Captured {
    fn append(&self, stderr: bool, line: &str) {
        let mut t = self.text.lock().expect("capture lock");
        let buf = if stderr { &mut t.stderr } else { &mut t.stdout };
        buf.push_str(line);
        self.changed.notify_all();
    }

    fn close(&self) {
        self.text.lock().expect("capture lock").closed += 1;
        self.changed.notify_all();
    }

    /// Waits (at most `timeout`) until both stdout and stderr reached EOF.
    fn wait_closed(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut t = self.text.lock().expect("capture lock");
        while t.closed < 2 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            t = self.changed.wait_timeout(t, left).expect("capture lock").0;
        }
    }

    fn spawn_reader(self: &Arc<Self>, stream: impl Read + Send + 'static, stderr: bool) {
        let me = Arc::clone(self);
        let _ = std::thread::Builder::new()
            .name("lb-output".into())
            .spawn(move || {
                let mut r = BufReader::new(stream);
                let mut line = Vec::new();
                while matches!(r.read_until(b'\n', &mut line), Ok(n) if n > 0) {
                    me.append(stderr, &String::from_utf8_lossy(&line));
                    line.clear();
                }
                me.close();
            });
    }

    /// Everything written to stdout so far.
    pub fn stdout(&self) -> String {
        self.text.lock().expect("capture lock").stdout.clone()
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        self.text.lock().expect("capture lock").stderr.clone()
    }

    /// Lines of stdout then stderr matching `re`.
    pub fn lines_matching(&self, re: &Regex) -> Vec<String> {
        self.text.lock().expect("capture lock").matching(re)
    }

    /// Waits until at least `n` lines (stdout or stderr) match `re`; returns them, or `None`
    /// after `timeout`.
    pub fn wait_lines(&self, re: &Regex, n: usize, timeout: Duration) -> Option<Vec<String>> {
        let deadline = Instant::now() + timeout;
        let mut t = self.text.lock().expect("capture lock");
        loop {
            let found = t.matching(re);
            if found.len() >= n {
                return Some(found);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            t = self.changed.wait_timeout(t, left).expect("capture lock").0;
        }
    }
}

/// A running `lb` process. Killed (SIGKILL) on drop; its output is printed if the test fails.
pub struct Lb {
    child: Option<Child>,
    dir: TempDir,
    config: PathBuf,
    out: Arc<Captured>,
}

impl Lb {
    /// Starts `lb -d -f CONFIG` and waits until every port of the config's `bind` lines listens.
    pub fn start(config: &str) -> Self {
        let lb = Self::spawn(config, &["-d"]);
        lb.wait_listening(&bind_ports(config));
        lb
    }

    /// Writes `config` to a temp dir and starts `lb ARGS... -f CONFIG` without waiting.
    pub fn spawn(config: &str, args: &[&str]) -> Self {
        Self::spawn_with_env(config, args, &[])
    }

    /// [`Self::spawn`] with extra environment variables (e.g. `LB_NO_EBPF=1`).
    pub fn spawn_with_env(config: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = TempDir::new();
        let path = dir.path().join("lb.cfg");
        std::fs::write(&path, config).expect("write config");
        let mut child = Command::new(lb_bin())
            .envs(env.iter().copied())
            .args(args)
            .arg("-f")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", lb_bin().display()));
        let out = Arc::new(Captured::default());
        if let Some(s) = child.stdout.take() {
            out.spawn_reader(s, false);
        }
        if let Some(s) = child.stderr.take() {
            out.spawn_reader(s, true);
        }
        Self {
            child: Some(child),
            dir,
            config: path,
            out,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The configuration file.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// The temp dir holding the configuration (for pid files, sockets...).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The captured output.
    pub fn output(&self) -> &Captured {
        &self.out
    }

    /// Waits for a line matching the regex `re` on stdout or stderr; panics with the whole
    /// output after `timeout`.
    pub fn expect_line(&self, re: &str, timeout: Duration) -> String {
        self.expect_lines(re, 1, timeout).swap_remove(0)
    }

    /// Waits for `n` lines matching `re`; panics with the whole output after `timeout`.
    pub fn expect_lines(&self, re: &str, n: usize, timeout: Duration) -> Vec<String> {
        let rx = Regex::new(re).expect("test regex");
        self.out.wait_lines(&rx, n, timeout).unwrap_or_else(|| {
            panic!(
                "no {n} line(s) matching /{re}/ within {timeout:?}\n--- stdout:\n{}\n--- stderr:\n{}",
                self.out.stdout(),
                self.out.stderr()
            )
        })
    }

    /// Waits until every port in `ports` is in LISTEN state on this host; panics (with the
    /// output) if `lb` exits first or [`START_TIMEOUT`] passes.
    pub fn wait_listening(&self, ports: &[u16]) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let listening = listening_ports();
            if ports.iter().all(|p| listening.contains(p)) {
                return;
            }
            let exited = self.child.as_ref().is_none_or(|c| !process_alive(c.id()));
            if exited || Instant::now() >= deadline {
                if exited {
                    self.out.wait_closed(Duration::from_secs(2));
                }
                panic!(
                    "lb did not listen on {ports:?} ({}): \n--- stdout:\n{}\n--- stderr:\n{}",
                    if exited { "it exited" } else { "timeout" },
                    self.out.stdout(),
                    self.out.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `sig` (e.g. `libc::SIGUSR1`) to the process.
    pub fn signal(&self, sig: i32) {
        send_signal(self.pid(), sig);
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                // Let the readers drain the pipes (bounded: a daemon may keep them open).
                self.out.wait_closed(Duration::from_secs(2));
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Lb {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- lb stdout:\n{}\n--- lb stderr:\n{}",
                self.out.stdout(),
                self.out.stderr()
            );
        }
    }
}

/// Sends `sig` to `pid`.
pub fn send_signal(pid: u32, sig: i32) {
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    // SAFETY: kill(2) has no memory effects; a stale pid only yields ESRCH.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Whether a process with this pid exists and is not a zombie.
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name: "pid (comm) S ...".
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Ports of the `bind` lines of a configuration (`bind 127.0.0.1:P[,ADDR:P2...]`).
pub fn bind_ports(config: &str) -> Vec<u16> {
    let mut ports = Vec::new();
    for line in config.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("bind") {
            continue;
        }
        for addr in words.next().unwrap_or("").split(',') {
            if let Some(p) = addr.rsplit(':').next().and_then(|p| p.parse().ok()) {
                ports.push(p);
            }
        }
    }
    ports
}

/// Ports with a TCP socket in LISTEN state (IPv4 and IPv6), from /proc/net.
pub fn listening_ports() -> Vec<u16> {
    let mut ports = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // cols[1] = local "ADDR:PORT" (hex), cols[3] = state, 0A = LISTEN.
            if cols.get(3) != Some(&"0A") {
                continue;
            }
            if let Some(port) = cols
                .get(1)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| u16::from_str_radix(p, 16).ok())
            {
                ports.push(port);
            }
        }
    }
    ports
}

/// Runs `lb ARGS` to completion (at most `timeout`) and returns (status, stdout, stderr).
pub fn run_lb(args: &[&str], timeout: Duration) -> (ExitStatus, String, String) {
    let mut child = Command::new(lb_bin())
        .args(args)
        // The shipped configs find their map files through it (`configs/32-maps.cfg`).
        .env("LB_MAPS", repo_root().join("configs").join("maps"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", lb_bin().display()));
    let out = Arc::new(Captured::default());
    if let Some(s) = child.stdout.take() {
        out.spawn_reader(s, false);
    }
    if let Some(s) = child.stderr.take() {
        out.spawn_reader(s, true);
    }
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "lb {args:?} did not finish within {timeout:?}\n--- stdout:\n{}\n--- stderr:\n{}",
                out.stdout(),
                out.stderr()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    out.wait_closed(Duration::from_secs(2));
    (status, out.stdout(), out.stderr())
}
