//! A network namespace joined to the host by a veth pair, for tests that need a real link
//! (XDP). Names and addresses are unique per test process and call; everything is removed
//! on drop, also when the test fails. Needs root.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A namespace `lb-e2e-PID-N` holding one end of a veth pair; the other end stays on the host.
///
/// The pair is a /30: the host end has `host_addr`, the namespace end `ns_addr`.
#[derive(Debug)]
pub struct Netns {
    name: String,
    host_if: String,
    host_addr: Ipv4Addr,
    ns_addr: Ipv4Addr,
}

impl Netns {
    /// Creates the namespace, the veth pair and their addresses, all up.
    pub fn new() -> Self {
        let pid = std::process::id();
        let n = NEXT.fetch_add(1, Ordering::Relaxed) % 64;
        // 10.200-249.x.y/30: the pid picks the /24 so that test processes do not collide.
        let subnet = [
            10,
            200 + u8::try_from((pid >> 8) % 50).expect("below 50"),
            u8::try_from(pid & 0xff).expect("one byte"),
            u8::try_from(n * 4).expect("below 256"),
        ];
        let [a, b, c, d] = subnet;
        let ns = Self {
            name: format!("lb-e2e-{pid}-{n}"),
            host_if: format!("lbh{pid}-{n}"),
            host_addr: Ipv4Addr::new(a, b, c, d + 1),
            ns_addr: Ipv4Addr::new(a, b, c, d + 2),
        };
        let ns_if = format!("lbn{pid}-{n}");
        // Leftovers of an earlier process with the same pid would make `add` fail.
        ns.cleanup();
        ip(&["netns", "add", &ns.name]);
        ip(&[
            "link",
            "add",
            &ns.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &ns_if,
        ]);
        ip(&["link", "set", &ns_if, "netns", &ns.name]);
        ip(&[
            "addr",
            "add",
            &format!("{}/30", ns.host_addr),
            "dev",
            &ns.host_if,
        ]);
        ip(&["link", "set", &ns.host_if, "up"]);
        let inside = |args: &[&str]| {
            let mut full = vec!["netns", "exec", &ns.name, "ip"];
            full.extend_from_slice(args);
            ip(&full);
        };
        inside(&["addr", "add", &format!("{}/30", ns.ns_addr), "dev", &ns_if]);
        inside(&["link", "set", &ns_if, "up"]);
        inside(&["link", "set", "lo", "up"]);
        ns
    }

    /// The namespace name (for `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host end of the veth pair.
    pub fn host_if(&self) -> &str {
        &self.host_if
    }

    /// The address of the host end.
    pub fn host_addr(&self) -> Ipv4Addr {
        self.host_addr
    }

    /// The address of the namespace end.
    pub fn ns_addr(&self) -> Ipv4Addr {
        self.ns_addr
    }

    /// Runs `program args...` inside the namespace and returns its output.
    pub fn exec(&self, program: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name, program])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("ip netns exec {} {program}: {e}", self.name))
    }

    /// Runs `f` on a thread that has entered the namespace: its sockets live there.
    #[allow(unsafe_code, reason = "setns(2) has no std API")]
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let file = std::fs::File::open(format!("/run/netns/{}", self.name))
            .unwrap_or_else(|e| panic!("open netns {}: {e}", self.name));
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: setns(2) on a valid namespace fd; it only changes this thread's
                // network namespace, and the thread ends with the scope.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }

    /// Whether an XDP program is attached to the host end.
    pub fn host_xdp_attached(&self) -> bool {
        let out = Command::new("ip")
            .args(["link", "show", "dev", &self.host_if])
            .output()
            .expect("ip link show");
        String::from_utf8_lossy(&out.stdout).contains("xdp")
    }

    fn cleanup(&self) {
        // Deleting the namespace destroys its veth end, and with it the host end.
        let quiet = |args: &[&str]| {
            let _ = Command::new("ip").args(args).output();
        };
        quiet(&["netns", "del", &self.name]);
        quiet(&["link", "del", &self.host_if]);
    }
}

impl Default for Netns {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.cleanup();
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ip (iproute2): {e}"));
    assert!(
        out.status.success(),
        "ip {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}
