//! Namespaces, addresses and backend services of the L4 fast-path tests.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

pub(crate) static NEXT: AtomicU32 = AtomicU32::new(0);

/// The addresses of a lab, IPv4 or IPv6.
pub(crate) struct Plan {
    pub(crate) v6: bool,
}

impl Plan {
    pub(crate) fn pick(&self, v4: String, v6: String) -> String {
        if self.v6 { v6 } else { v4 }
    }
    pub(crate) fn vip_host(&self) -> String {
        self.pick("10.71.100.1".into(), "fd71:100::1".into())
    }
    pub(crate) fn vip(&self) -> String {
        self.pick("10.71.100.1:80".into(), "[fd71:100::1]:80".into())
    }
    pub(crate) fn lb_front(&self) -> String {
        self.pick("10.71.1.1".into(), "fd71:1::1".into())
    }
    pub(crate) fn client(&self) -> String {
        self.pick("10.71.1.2".into(), "fd71:1::2".into())
    }
    pub(crate) fn lb_back(&self, n: usize) -> String {
        self.pick(format!("10.72.{n}.1"), format!("fd72:{n}::1"))
    }
    pub(crate) fn server(&self, n: usize) -> String {
        self.pick(format!("10.72.{n}.2"), format!("fd72:{n}::2"))
    }
    pub(crate) fn prefix(&self) -> &'static str {
        if self.v6 { "/64" } else { "/24" }
    }
    pub(crate) fn host_prefix(&self) -> &'static str {
        if self.v6 { "/128" } else { "/32" }
    }
    /// `ip addr add ADDR/PREFIX dev DEV` (without duplicate address detection for IPv6).
    pub(crate) fn add_addr(&self, ns: &Ns, addr: &str, prefix: &str, dev: &str) {
        let full = format!("{addr}{prefix}");
        if self.v6 {
            ns.ip(&["addr", "add", &full, "dev", dev, "nodad"]);
        } else {
            ns.ip(&["addr", "add", &full, "dev", dev]);
        }
    }
    pub(crate) fn socket_addr(&self, host: &str, port: u16) -> String {
        self.pick(format!("{host}:{port}"), format!("[{host}]:{port}"))
    }
}

/// A network namespace, deleted on drop (its veth ends go with it).
pub(crate) struct Ns {
    pub(crate) name: String,
}

impl Ns {
    pub(crate) fn new(tag: &str) -> Self {
        let name = format!("lb4-{}-{tag}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        run("ip", &["netns", "add", &name]);
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub(crate) fn ip(&self, args: &[&str]) {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        run("ip", &full);
    }

    pub(crate) fn sysctl(&self, key: &str, value: &str) {
        run(
            "ip",
            &[
                "netns",
                "exec",
                &self.name,
                "sysctl",
                "-qw",
                &format!("{key}={value}"),
            ],
        );
    }

    /// Runs `f` on a thread inside the namespace (sockets and processes it makes live there).
    #[allow(unsafe_code, reason = "setns(2) has no std API")]
    pub(crate) fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let file = std::fs::File::open(format!("/run/netns/{}", self.name)).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: setns(2) on a namespace fd, for this thread only.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }

    /// Turns off transmit checksum offload on `dev` (SIOCETHTOOL, ETHTOOL_STXCSUM).
    #[allow(unsafe_code, reason = "the ethtool ioctl has no std API")]
    pub(crate) fn tx_checksum_off(&self, dev: &str) {
        self.run(|| {
            #[repr(C)]
            struct EthtoolValue {
                cmd: u32,
                data: u32,
            }
            #[repr(C)]
            struct Ifreq {
                name: [u8; 16],
                data: *mut EthtoolValue,
                pad: [u8; 16],
            }
            let mut value = EthtoolValue { cmd: 0x17, data: 0 };
            let mut req = Ifreq {
                name: [0; 16],
                data: &raw mut value,
                pad: [0; 16],
            };
            req.name[..dev.len()].copy_from_slice(dev.as_bytes());
            // SAFETY: a datagram socket for the ioctl, closed below; `req` outlives the call.
            unsafe {
                let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
                assert!(fd >= 0);
                let rc = libc::ioctl(fd, 0x8946, &raw mut req);
                libc::close(fd);
                assert_eq!(
                    rc,
                    0,
                    "ETHTOOL_STXCSUM {dev}: {}",
                    std::io::Error::last_os_error()
                );
            }
        });
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

pub(crate) fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A bpffs directory removed on drop.
pub(crate) struct PinDir(pub(crate) PathBuf);

impl PinDir {
    pub(crate) fn new() -> Self {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Self(PathBuf::from(format!(
            "/sys/fs/bpf/lb-l4e2e-{}-{n}",
            std::process::id()
        )))
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A TCP service in a backend namespace: greets with its name, then echoes; its health
/// port (81) answers while `healthy`.
pub(crate) struct Backend {
    pub(crate) name: String,
    pub(crate) healthy: Arc<AtomicBool>,
    pub(crate) stop: Arc<AtomicBool>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

pub(crate) fn accept_loop(
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    handle: impl Fn(TcpStream) + Send + Clone + 'static,
) {
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Acquire) {
            match listener.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false).unwrap();
                    let h = handle.clone();
                    std::thread::spawn(move || h(s));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
}

/// Listens on port 81 while `healthy` (a TCP check passes on connect), closed otherwise.
#[allow(unsafe_code, reason = "setns(2) has no std API")]
pub(crate) fn health_port(ns: &Ns, healthy: Arc<AtomicBool>, stop: Arc<AtomicBool>) {
    let file = std::fs::File::open(format!("/run/netns/{}", ns.name)).unwrap();
    std::thread::spawn(move || {
        // SAFETY: setns(2) on a namespace fd, for this thread only.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        let mut listener: Option<TcpListener> = None;
        while !stop.load(Ordering::Acquire) {
            if !healthy.load(Ordering::Acquire) {
                listener = None;
            } else if listener.is_none() {
                let l = TcpListener::bind("[::]:81").unwrap();
                l.set_nonblocking(true).unwrap();
                listener = Some(l);
            }
            if let Some(l) = &listener {
                while let Ok((s, _)) = l.accept() {
                    drop(s);
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
}

impl Backend {
    pub(crate) fn start(ns: &Ns, name: &str, port: u16) -> Self {
        let b = Self {
            name: name.to_owned(),
            healthy: Arc::new(AtomicBool::new(true)),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let service = ns.run(|| TcpListener::bind(("::", port)).unwrap());
        let greeting = format!("{name}\n");
        accept_loop(service, Arc::clone(&b.stop), move |mut s: TcpStream| {
            let _ = s.write_all(greeting.as_bytes());
            let mut buf = [0u8; 65536];
            // Echo until the client closes.
            while let Ok(n @ 1..) = s.read(&mut buf) {
                if s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
        health_port(ns, Arc::clone(&b.healthy), Arc::clone(&b.stop));
        b
    }
}
