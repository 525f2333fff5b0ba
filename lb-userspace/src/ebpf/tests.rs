//! The loader against the real kernel: a veth pair, frames injected on one end with an
//! AF_PACKET socket, counted by the XDP program on the other end. Needs root and the eBPF
//! object; without them these tests fail with the reason.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
};

use lb_common::{StatIndex, stats::XDP_STATS_MAP};

use super::*;
use crate::config::model::{Location, XdpInterface, XdpMode, XdpSection};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A veth pair and a pin directory, both unique to one test and removed on drop.
struct Lab {
    /// The end the program attaches to.
    xdp_if: String,
    /// The end frames are sent from.
    peer_if: String,
    pin_dir: PathBuf,
}

impl Lab {
    fn new() -> Self {
        if let Err(why) = probe(Path::new("/sys/fs/bpf")) {
            panic!("the XDP loader test cannot run: {why} (run as root after `cargo xtask setup`)");
        }
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}{n}", std::process::id());
        let lab = Self {
            xdp_if: format!("lbu{id}x"),
            peer_if: format!("lbu{id}p"),
            pin_dir: PathBuf::from(format!("/sys/fs/bpf/lb-unit-{id}")),
        };
        ip(&[
            "link",
            "add",
            &lab.xdp_if,
            "type",
            "veth",
            "peer",
            "name",
            &lab.peer_if,
        ]);
        for name in [&lab.xdp_if, &lab.peer_if] {
            // No IPv6 autoconfiguration chatter: counters then only see our frames.
            let _ = fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1");
            ip(&["link", "set", name, "up"]);
        }
        lab
    }

    fn section(&self, mode: XdpMode) -> XdpSection {
        XdpSection {
            interfaces: vec![XdpInterface {
                name: self.xdp_if.clone(),
                mode,
            }],
            pin_path: self.pin_dir.clone(),
            required: true,
            ..XdpSection::new(Location::default())
        }
    }

    /// Sends `frame` out of the peer end, so it arrives on the XDP end.
    #[allow(unsafe_code, reason = "AF_PACKET sockets have no safe std API")]
    fn send(&self, frame: &[u8], times: usize) {
        let ifindex: i32 = read_trimmed(&format!("/sys/class/net/{}/ifindex", self.peer_if))
            .parse()
            .unwrap();
        // SAFETY: plain socket(2); the result is checked and closed below.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
        assert!(
            fd >= 0,
            "socket(AF_PACKET): {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = ifindex;
        addr.sll_halen = 6;
        for _ in 0..times {
            // SAFETY: `frame` and `addr` outlive the call; the lengths are theirs.
            let sent = unsafe {
                libc::sendto(
                    fd,
                    frame.as_ptr().cast(),
                    frame.len(),
                    0,
                    (&raw const addr).cast(),
                    size_of::<libc::sockaddr_ll>() as u32,
                )
            };
            assert_eq!(
                sent,
                frame.len() as isize,
                "{}",
                std::io::Error::last_os_error()
            );
        }
        // SAFETY: `fd` is ours and closed once.
        unsafe { libc::close(fd) };
    }

    fn xdp_attached(&self) -> bool {
        let out = Command::new("ip")
            .args(["link", "show", "dev", &self.xdp_if])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains("xdp")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.xdp_if])
            .status();
        let _ = fs::remove_dir_all(&self.pin_dir);
    }
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().unwrap();
    assert!(status.success(), "ip {args:?} failed");
}

fn read_trimmed(path: &str) -> String {
    fs::read_to_string(path).unwrap().trim().to_owned()
}

fn frame(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn udp4() -> Vec<u8> {
    let mut ip = vec![
        0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 9, 0, 2, 10, 9, 0, 1,
    ];
    ip.extend_from_slice(&[0x30, 0x39, 0x00, 0x35, 0, 8, 0, 0]);
    frame(0x0800, &ip)
}

fn udp6() -> Vec<u8> {
    let mut ip = vec![0x60, 0, 0, 0, 0, 8, 17, 64];
    ip.extend_from_slice(&[0xfd; 32]);
    ip.extend_from_slice(&[0x30, 0x39, 0x00, 0x35, 0, 8, 0, 0]);
    frame(0x86dd, &ip)
}

#[test]
fn counts_real_frames_per_reason_in_native_mode() {
    let lab = Lab::new();
    let mut runtime = start(Some(&lab.section(XdpMode::Native))).unwrap().unwrap();
    runtime.remove_pins_on_drop();
    assert_eq!(
        runtime.attachments(),
        [Attachment {
            interface: lab.xdp_if.clone(),
            mode: AttachedMode::Native
        }]
    );
    assert!(lab.xdp_attached());

    let mut bad_v4 = udp4();
    bad_v4[14] = 0x55; // IPv4 version 5
    let cut_vlan = frame(0x8100, &[0, 7]);
    let bad_v6 = frame(0x86dd, &[0x60, 0, 0, 0, 0, 200, 17, 64]);
    lab.send(&udp4(), 5);
    lab.send(&udp6(), 3);
    lab.send(&frame(0x0806, &[0; 28]), 2);
    lab.send(&bad_v4, 4);
    lab.send(&cut_vlan, 3);
    lab.send(&bad_v6, 2);

    // Read back through the pin, as `lb xdp stats` in another process does.
    let stats = read_stats(&lab.pin_dir).unwrap();
    assert!(stats.get(StatIndex::PassIpv4).packets >= 5, "{stats:?}");
    assert!(stats.get(StatIndex::PassIpv6).packets >= 3, "{stats:?}");
    assert!(stats.get(StatIndex::PassOther).packets >= 2, "{stats:?}");
    // Nobody else sends malformed frames: these counts are exact, bytes included.
    let bad = stats.get(StatIndex::MalformedIpv4);
    assert_eq!((bad.packets, bad.bytes), (4, 4 * bad_v4.len() as u64));
    assert_eq!(stats.get(StatIndex::MalformedVlan).packets, 3);
    assert_eq!(stats.get(StatIndex::MalformedIpv6).packets, 2);
    assert_eq!(stats.get(StatIndex::MalformedEthernet).packets, 0);
    assert_eq!(runtime.stats().unwrap().slots, stats.slots);

    let pin = lab.pin_dir.join(XDP_STATS_MAP);
    assert!(pin.exists());
    drop(runtime);
    assert!(!lab.xdp_attached(), "XDP still attached after drop");
    assert!(!pin.exists(), "pin kept although removal was asked");
}

#[test]
fn restart_reuses_pinned_counters_and_replaces_stale_pins() {
    let lab = Lab::new();
    let pin = lab.pin_dir.join(XDP_STATS_MAP);
    fs::create_dir_all(&lab.pin_dir).unwrap();
    // A pin left by a build with another value layout must be replaced, not reused.
    let status = Command::new("bpftool")
        .args(["map", "create"])
        .arg(&pin)
        .args([
            "type",
            "percpu_array",
            "key",
            "4",
            "value",
            "8",
            "entries",
            "64",
        ])
        .args(["name", XDP_STATS_MAP])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(read_stats(&lab.pin_dir).is_err());

    let first = start(Some(&lab.section(XdpMode::Auto))).unwrap().unwrap();
    lab.send(&udp4(), 7);
    drop(first);
    assert!(
        pin.exists(),
        "pins outlive the runtime unless removal is asked"
    );
    assert!(
        read_stats(&lab.pin_dir)
            .unwrap()
            .get(StatIndex::PassIpv4)
            .packets
            >= 7
    );

    let second = start(Some(&lab.section(XdpMode::Generic)))
        .unwrap()
        .unwrap();
    assert_eq!(second.attachments()[0].mode, AttachedMode::Generic);
    lab.send(&udp4(), 2);
    assert!(second.stats().unwrap().get(StatIndex::PassIpv4).packets >= 9);
}

#[test]
fn unknown_interface_fails_and_leaves_nothing_attached() {
    let lab = Lab::new();
    let mut section = lab.section(XdpMode::Auto);
    section.interfaces.push(XdpInterface {
        name: "lb-no-such-if".into(),
        mode: XdpMode::Auto,
    });
    let err = start(Some(&section)).err().unwrap();
    assert!(
        matches!(&err, EbpfError::Attach { interface, .. } if interface == "lb-no-such-if"),
        "{err}"
    );
    assert!(!lab.xdp_attached(), "the first interface kept the program");
    assert!(start(None).unwrap().is_none());
}
