//! Builds the eBPF object (`lb-ebpf`) with Debian's BPF-capable rustc when it is installed.
//!
//! On success the library gets `cfg(lb_ebpf)` and embeds `$OUT_DIR/lb-ebpf`. Without the
//! toolchain, or if the eBPF build fails, user space still builds (L7 only) and one warning says
//! why. `LB_NO_EBPF=1` forces the build without eBPF; `LB_EBPF_REQUIRED=1` (set by
//! `cargo xtask build|test`) turns a missing eBPF object into a build error.

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, anyhow, bail};

/// The rustup toolchain that `cargo xtask setup` links to Debian's `/usr` compilers.
const TOOLCHAIN: &str = "debian";
const BPF_TARGET: &str = "bpfel-unknown-none";
const EBPF_PACKAGE: &str = "lb-ebpf";

fn main() {
    println!("cargo::rustc-check-cfg=cfg(lb_ebpf)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=LB_NO_EBPF");
    println!("cargo::rerun-if-env-changed=LB_EBPF_REQUIRED");
    let workspace = workspace_dir();
    println!(
        "cargo::rerun-if-changed={}",
        workspace.join(EBPF_PACKAGE).display()
    );
    println!(
        "cargo::rerun-if-changed={}",
        workspace.join("lb-common").display()
    );

    // Cargo directives end at a newline; tool output may hold several.
    match build(&workspace).map_err(|why| format!("{why:#}").replace('\n', " ")) {
        Ok(info) => {
            println!("cargo::rustc-cfg=lb_ebpf");
            println!("cargo::rustc-env=LB_EBPF_BUILD_INFO=built in ({info})");
        }
        Err(why) if flag("LB_EBPF_REQUIRED") => {
            println!("cargo::error=eBPF object not built: {why}");
        }
        Err(why) => {
            println!("cargo::warning=building without eBPF (L7 only): {why}");
            println!("cargo::rustc-env=LB_EBPF_BUILD_INFO=not built in: {why}");
        }
    }
}

fn workspace_dir() -> PathBuf {
    let manifest = env::var_os("CARGO_MANIFEST_DIR").map_or_else(PathBuf::new, PathBuf::from);
    manifest
        .parent()
        .map_or_else(PathBuf::new, Path::to_path_buf)
}

fn flag(name: &str) -> bool {
    env::var(name).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// Builds the object into `$OUT_DIR/lb-ebpf` and describes it.
fn build(workspace: &Path) -> anyhow::Result<String> {
    if flag("LB_NO_EBPF") {
        bail!("LB_NO_EBPF is set");
    }
    let rustc = check_toolchain()?;
    check_bpf_linker()?;
    set_child_env();
    let root_dir = workspace.join(EBPF_PACKAGE);
    let root_dir = root_dir.to_str().context("workspace path is not UTF-8")?;
    let package = aya_build::Package {
        name: EBPF_PACKAGE,
        root_dir,
        ..Default::default()
    };
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").context("OUT_DIR not set")?);
    let object = out_dir.join(EBPF_PACKAGE);
    // Never embed the object of an earlier build when this one produces none.
    let _ = fs::remove_file(&object);
    aya_build::build_ebpf([package], aya_build::Toolchain::Custom(TOOLCHAIN)).map_err(|e| {
        // aya-build names the whole command line; the compiler output above says the rest.
        let e = e.to_string();
        let status = e.rsplit(" failed: ").next().unwrap_or(&e);
        anyhow!("the build of {EBPF_PACKAGE} for {BPF_TARGET} failed (output above): {status}")
    })?;
    let size = fs::metadata(&object)
        .with_context(|| format!("{} was not produced (AYA_BUILD_SKIP?)", object.display()))?
        .len();
    Ok(format!("{BPF_TARGET}, {size} bytes, {rustc}"))
}

/// Sets what the nested `cargo build` of aya-build must see; it inherits our environment.
///
/// aya-ebpf enables `asm_experimental_arch`, so that build needs RUSTC_BOOTSTRAP scoped to
/// that crate; `1` would make aya-build add `-Z build-std`, which needs rust-src. Quiet cargo
/// keeps its "Compiling ..." lines from turning into warnings.
#[expect(
    clippy::disallowed_methods,
    reason = "aya-build passes only our env to its child"
)]
fn set_child_env() {
    // SAFETY: the build script runs no other thread, and it is itself no compiler, so the
    // variables only reach the child processes.
    unsafe {
        env::set_var("RUSTC_BOOTSTRAP", "aya_ebpf");
        env::set_var("CARGO_TERM_QUIET", "true");
    }
}

/// Checks that the `debian` toolchain exists and ships `core` for the BPF target.
fn check_toolchain() -> anyhow::Result<String> {
    let libdir = output(
        Command::new("rustup").args(["run", TOOLCHAIN, "rustc", "--print", "target-libdir"]),
        &["--target", BPF_TARGET],
    )
    .with_context(|| format!("no `{TOOLCHAIN}` rustup toolchain (run `cargo xtask setup`)"))?;
    let has_core = fs::read_dir(libdir.trim())
        .map(|dir| {
            dir.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("libcore-"))
        })
        .unwrap_or(false);
    if !has_core {
        bail!(
            "`{TOOLCHAIN}` rustc has no core for {BPF_TARGET} (apt-get install libstd-rust-web-dev-bpf)"
        );
    }
    let version = output(
        Command::new("rustup").args(["run", TOOLCHAIN, "rustc"]),
        &["--version"],
    )?;
    Ok(version.trim().to_owned())
}

fn check_bpf_linker() -> anyhow::Result<()> {
    output(&mut Command::new("bpf-linker"), &["--version"])
        .map(drop)
        .context("bpf-linker not found in PATH (run `cargo xtask setup`)")
}

/// Runs `cmd args` and returns its stdout, failing on a non-zero exit.
fn output(cmd: &mut Command, args: &[&str]) -> anyhow::Result<String> {
    let out = cmd
        .args(args)
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !out.status.success() {
        return Err(anyhow!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
