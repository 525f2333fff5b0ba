//! Helper of `cargo xtask bench l4` (needs root):
//!
//! - `l4_bench cost [CALLS]`: per-packet cost of `lb_l4` through `BPF_PROG_TEST_RUN` on
//!   fixture frames (established flows: DSR IPv4/IPv6, NAT IPv4, a packet for no VIP; new
//!   flows: DSR IPv4), one run per call (mean of CALLS calls), and of
//!   `lb_l4_pass` (the floor), one JSON object per line: `{"case": .., "ns": ..}`.
//! - `l4_bench hold-decap IFACE` / `hold-pass IFACE`: attach `lb_l4_decap` / `lb_l4_pass`
//!   in native mode and keep them until stdin closes.
//! - `l4_bench tx-csum-off IFACE`: turn transmit checksum offload off (no ethtool here).

#![allow(clippy::print_stdout, reason = "the output is the interface")]

use std::{io::Read as _, net::SocketAddr, path::PathBuf};

use anyhow::{Context as _, Result, bail};
use lb::{
    config::model::XdpMode,
    ebpf::{ForwardMethod, L4Runtime, L4Server, L4Service, L4Sources},
};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["cost"] => cost(20_000),
        ["cost", n] => cost(n.parse().context("CALLS")?),
        ["hold-decap", iface] => hold(iface, true),
        ["hold-pass", iface] => hold(iface, false),
        ["tx-csum-off", iface] => tx_csum_off(iface),
        _ => bail!(
            "usage: l4_bench cost [CALLS] | hold-decap IFACE | hold-pass IFACE | tx-csum-off IFACE"
        ),
    }
}

fn pin_dir(tag: &str) -> PathBuf {
    PathBuf::from(format!(
        "/sys/fs/bpf/lb-l4-bench-{tag}-{}",
        std::process::id()
    ))
}

fn hold(iface: &str, decap: bool) -> Result<()> {
    let dir = pin_dir("hold");
    let mut rt = L4Runtime::load(&dir)?;
    if decap {
        rt.attach_decap(iface, XdpMode::Native)?;
    } else {
        rt.attach_pass(iface, XdpMode::Native)?;
    }
    // The attachment keeps the program and its maps alive; the pins are not needed, and
    // the benchmark ends this process with SIGKILL.
    std::fs::remove_dir_all(&dir)?;
    println!("attached");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    Ok(())
}

fn service(name: &str, vip: &str, method: ForwardMethod, servers: &[&str]) -> Result<L4Service> {
    Ok(L4Service {
        name: name.into(),
        vips: vec![vip.parse()?],
        method,
        allbackups: false,
        servers: servers
            .iter()
            .enumerate()
            .map(|(i, a)| {
                Ok(L4Server {
                    name: format!("s{i}"),
                    addr: a.parse::<SocketAddr>()?,
                    weight: 1,
                    backup: false,
                    up: true,
                })
            })
            .collect::<Result<_>>()?,
    })
}

/// Mean of `f(0..calls)`, in nanoseconds.
fn mean(calls: u32, mut f: impl FnMut(u32) -> Result<u64, lb::ebpf::EbpfError>) -> Result<u64> {
    let mut sum = 0u64;
    for i in 0..calls {
        sum += f(i)?;
    }
    Ok(sum / u64::from(calls.max(1)))
}

fn cost(calls: u32) -> Result<()> {
    let mut rt = L4Runtime::load(&pin_dir("cost"))?;
    rt.remove_pins_on_drop();
    let services = [
        service(
            "dsr4",
            "10.9.0.1:80",
            ForwardMethod::Dsr,
            &["10.20.0.1:80", "10.20.0.2:80"],
        )?,
        service(
            "dsr6",
            "[fd00:9::1]:80",
            ForwardMethod::Dsr,
            &["[fd00:20::1]:80", "[fd00:20::2]:80"],
        )?,
        service(
            "nat4",
            "10.9.0.2:80",
            ForwardMethod::Nat,
            &["10.30.0.1:8080", "10.30.0.2:8080"],
        )?,
    ];
    let sources = L4Sources {
        v4: Some("192.0.2.100".parse()?),
        v6: Some("2001:db8::100".parse()?),
    };
    rt.configure(sources, &services)?;
    let cases = [
        ("dsr_ipv4", frame4([10, 9, 0, 1], 80, 40000)),
        ("dsr_ipv6", frame6()),
        ("nat_ipv4", frame4([10, 9, 0, 2], 80, 40000)),
        ("not_a_vip", frame4([10, 9, 0, 3], 80, 40000)),
    ];
    // One run per call: with `repeat`, the kernel runs the program again on the frame it
    // already rewrote (encapsulated, NATed), which would measure another path.
    for (case, frame) in &cases {
        let ns = mean(calls, |_| rt.test_run(frame, 1).map(|r| r.ns_per_packet))?;
        println!("{{\"case\": \"{case}\", \"ns\": {ns}}}");
    }
    // A new flow per call: Maglev lookup and connection-table insert.
    let ns = mean(calls, |i| {
        let sport = 1024 + u16::try_from(i % 60_000).unwrap_or(0);
        rt.test_run(&frame4([10, 9, 0, 1], 80, sport), 1)
            .map(|r| r.ns_per_packet)
    })?;
    println!("{{\"case\": \"dsr_ipv4_new_flow\", \"ns\": {ns}}}");
    let ns = mean(calls, |_| {
        rt.test_run_pass(&cases[0].1, 1).map(|r| r.ns_per_packet)
    })?;
    println!("{{\"case\": \"pass_floor\", \"ns\": {ns}}}");
    Ok(())
}

/// A 64-byte-payload TCP ACK from 10.1.0.2:`sport` to `dst:port` (checksums are not checked
/// by the program; lengths are consistent).
fn frame4(dst: [u8; 4], port: u16, sport: u16) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    let total: u16 = 20 + 20 + 64;
    f.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 1, 0, 2]);
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&port.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(&[0x61; 64]);
    f
}

fn frame6() -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd];
    f.extend_from_slice(&[0x60, 0, 0, 0, 0, 84, 6, 64]);
    f.extend_from_slice(
        &"fd00:1::2"
            .parse::<std::net::Ipv6Addr>()
            .map(|a| a.octets())
            .unwrap_or_default(),
    );
    f.extend_from_slice(
        &"fd00:9::1"
            .parse::<std::net::Ipv6Addr>()
            .map(|a| a.octets())
            .unwrap_or_default(),
    );
    f.extend_from_slice(&40000u16.to_be_bytes());
    f.extend_from_slice(&80u16.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(&[0x61; 64]);
    f
}

#[allow(unsafe_code, reason = "the ethtool ioctl has no std API")]
fn tx_csum_off(iface: &str) -> Result<()> {
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
    if iface.len() > 15 {
        bail!("interface name too long");
    }
    // ETHTOOL_STXCSUM with data 0.
    let mut value = EthtoolValue { cmd: 0x17, data: 0 };
    let mut req = Ifreq {
        name: [0; 16],
        data: &raw mut value,
        pad: [0; 16],
    };
    req.name[..iface.len()].copy_from_slice(iface.as_bytes());
    // SAFETY: a datagram socket for the ioctl, closed below; `req` outlives the call.
    let rc = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        if fd < 0 {
            bail!("socket: {}", std::io::Error::last_os_error());
        }
        let rc = libc::ioctl(fd, 0x8946, &raw mut req);
        libc::close(fd);
        rc
    };
    if rc != 0 {
        bail!("SIOCETHTOOL {iface}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}
