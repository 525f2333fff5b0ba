//! `cargo xtask setup`: everything `/work/shared/TOOLCHAIN.md` lists, installed only if missing.

use std::{fs, path::PathBuf, process::Command};

use anyhow::{Context as _, Result, bail};

use crate::shell::{output, privileged, run};

/// Debian's rustc 1.96 with a prebuilt `core` for bpfel-unknown-none, LLVM 22 for
/// bpf-linker, and the kernel-side tools.
const EBPF_PACKAGES: &[&str] = &[
    "rustc-web",
    "cargo-web",
    "libstd-rust-web-dev-bpf",
    "llvm-22-dev",
    "libpolly-22-dev",
    "libzstd-dev",
    "zlib1g-dev",
    "iproute2",
    "bpftool",
];

/// Reference proxies, backends and load generators of the tests and benchmarks.
const TOOL_PACKAGES: &[&str] = &[
    "haproxy",
    "nginx",
    "libnginx-mod-stream",
    "curl",
    "iputils-ping",
    "wrk",
    "nghttp2-client",
    "hping3",
    "netsniff-ng",
    // The nftables raw-table drop that `cargo xtask bench xdp` compares the XDP guard with.
    "nftables",
];

const BPF_LINKER_VERSION: &str = "0.13.0";
/// The fixed-rate HTTP load generator of the benchmarks (crates.io only: built once, cached).
const OHA_VERSION: &str = "1.16.0";
const LLVM_PREFIX: &str = "/usr/lib/llvm-22";
const TOOLCHAIN: &str = "debian";
const BPFFS: &str = "/sys/fs/bpf";

/// Installs whatever is missing; a second run only checks.
pub fn setup() -> Result<()> {
    apt_packages()?;
    bpf_linker()?;
    rustup_toolchain()?;
    bpffs()?;
    eprintln!("xtask: setup complete");
    Ok(())
}

fn apt_packages() -> Result<()> {
    let wanted: Vec<&str> = EBPF_PACKAGES.iter().chain(TOOL_PACKAGES).copied().collect();
    let missing = missing_packages(&wanted);
    if missing.is_empty() {
        eprintln!("xtask: apt packages present");
        return Ok(());
    }
    eprintln!("xtask: installing {}", missing.join(" "));
    run(privileged("apt-get").args(["update", "-q"]))?;
    run(privileged("apt-get")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(&missing))?;
    let still = missing_packages(&wanted);
    if !still.is_empty() {
        bail!("apt-get did not install: {}", still.join(" "));
    }
    Ok(())
}

/// The packages of `wanted` that dpkg does not report as installed.
fn missing_packages<'a>(wanted: &[&'a str]) -> Vec<&'a str> {
    // dpkg-query exits non-zero when a package is unknown, but still lists the others.
    let listed = Command::new("dpkg-query")
        .args(["-W", "-f", "${Package} ${Status}\n"])
        .args(wanted)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    wanted
        .iter()
        .filter(|pkg| {
            !listed.lines().any(|l| {
                l.split_once(' ').is_some_and(|(name, status)| {
                    name.split(':').next() == Some(**pkg) && status == "install ok installed"
                })
            })
        })
        .copied()
        .collect()
}

fn bpf_linker_version() -> Option<String> {
    output(Command::new("bpf-linker").arg("--version")).map(|v| v.trim().to_owned())
}

fn bpf_linker() -> Result<()> {
    let wanted = format!("bpf-linker {BPF_LINKER_VERSION}");
    match bpf_linker_version() {
        Some(v) if v == wanted => {
            eprintln!("xtask: {v} present");
            return Ok(());
        }
        Some(v) => eprintln!("xtask: replacing {v} with {wanted}"),
        None => eprintln!("xtask: installing {wanted} (takes a few minutes)"),
    }
    // Without LLVM_PREFIX the build looks for libLLVM under /usr/lib64 and fails.
    run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .env("LLVM_PREFIX", LLVM_PREFIX)
            .args([
                "install",
                "--force",
                "bpf-linker",
                "--version",
                BPF_LINKER_VERSION,
            ])
            .args(["--no-default-features", "--features", "llvm-22"]),
    )?;
    match bpf_linker_version() {
        Some(v) if v == wanted => Ok(()),
        Some(v) => bail!("installed bpf-linker reports `{v}`, expected `{wanted}`"),
        None => bail!("bpf-linker installed but not in PATH: add $CARGO_HOME/bin (~/.cargo/bin)"),
    }
}

fn rustup_toolchain() -> Result<()> {
    let list = output(Command::new("rustup").args(["toolchain", "list"]))
        .context("rustup is required (the eBPF build runs `rustup run debian cargo`)")?;
    if list
        .lines()
        .any(|l| l.split_whitespace().next() == Some(TOOLCHAIN))
    {
        eprintln!("xtask: rustup toolchain `{TOOLCHAIN}` present");
    } else {
        run(Command::new("rustup").args(["toolchain", "link", TOOLCHAIN, "/usr"]))?;
    }
    let target = Command::new("rustup")
        .args(["run", TOOLCHAIN, "rustc", "--print", "target-libdir"])
        .args(["--target", "bpfel-unknown-none"])
        .output()
        .context("cannot run the debian toolchain")?;
    if !target.status.success() {
        bail!(
            "the `{TOOLCHAIN}` toolchain cannot target bpfel-unknown-none: {}",
            String::from_utf8_lossy(&target.stderr).trim()
        );
    }
    Ok(())
}

/// Maps are pinned under /sys/fs/bpf; some machines boot without bpffs mounted there.
fn bpffs() -> Result<()> {
    let mounts = fs::read_to_string("/proc/mounts").context("cannot read /proc/mounts")?;
    let mounted = mounts.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.get(1) == Some(&BPFFS) && f.get(2) == Some(&"bpf")
    });
    if mounted {
        eprintln!("xtask: bpffs mounted at {BPFFS}");
        return Ok(());
    }
    run(privileged("mount").args(["-t", "bpf", "bpf", BPFFS]))
}

/// The benchmark tools: the apt packages (wrk, nginx, h2load, haproxy) and `oha`, built with
/// `cargo install --locked` into `~/.cache/lb-xtask` once (it takes minutes) and reused.
/// Returns the path of `oha`.
pub fn bench_tools() -> Result<PathBuf> {
    apt_packages()?;
    let root = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .context("neither XDG_CACHE_HOME nor HOME is set")?
        .join("lb-xtask");
    let oha = root.join("bin/oha");
    let wanted = format!("oha {OHA_VERSION}");
    let version = || output(Command::new(&oha).arg("--version")).map(|v| v.trim().to_owned());
    if version().as_deref() == Some(wanted.as_str()) {
        eprintln!("xtask: {wanted} present ({})", oha.display());
        return Ok(oha);
    }
    eprintln!(
        "xtask: installing {wanted} into {} (takes a few minutes, once)",
        root.display()
    );
    run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "install",
                "--locked",
                "--force",
                "oha",
                "--version",
                OHA_VERSION,
            ])
            .arg("--root")
            .arg(&root),
    )?;
    match version() {
        Some(v) if v == wanted => Ok(oha),
        other => bail!("{} reports {other:?}, expected `{wanted}`", oha.display()),
    }
}
