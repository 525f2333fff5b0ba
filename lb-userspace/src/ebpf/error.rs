//! Errors of the eBPF loader and of the stats reader.

use std::{io, path::PathBuf};

use aya::{maps::MapError, programs::ProgramError};

/// Why eBPF cannot be used at all on this host or by this process.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unavailable {
    /// This `lb` binary was built without the eBPF object (see `lb -vv`).
    #[error("this lb binary has no eBPF object ({0})")]
    NotBuiltIn(&'static str),
    /// The process lacks CAP_BPF (or CAP_SYS_ADMIN) and CAP_NET_ADMIN.
    #[error("not privileged: loading XDP needs root, or CAP_BPF and CAP_NET_ADMIN")]
    NotPrivileged,
    /// The kernel exposes no BTF at `/sys/kernel/btf/vmlinux`.
    #[error("the kernel has no BTF (/sys/kernel/btf/vmlinux is missing)")]
    NoKernelBtf,
    /// The pin directory is not on a bpffs mount.
    #[error("{0} is not on a bpffs mount (mount -t bpf bpf /sys/fs/bpf)")]
    BpffsNotMounted(PathBuf),
}

/// Failure to load, attach, pin, or read the eBPF programs and maps.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EbpfError {
    /// eBPF cannot be used here at all.
    #[error("eBPF unavailable: {0}")]
    Unavailable(#[from] Unavailable),
    /// The `xdp` section lists no interface.
    #[error("the xdp section names no interface")]
    NoInterface,
    /// The pin directory could not be created or cleaned.
    #[error("pin directory {path}: {source}")]
    PinDir {
        /// The directory or file involved.
        path: PathBuf,
        /// What the file system said.
        source: io::Error,
    },
    /// aya could not parse the object or create its maps.
    #[error("cannot load the eBPF object: {0}")]
    Load(#[source] Box<aya::EbpfError>),
    /// The object lacks a program or map that this build expects.
    #[error("the eBPF object has no {0}")]
    Missing(&'static str),
    /// The kernel refused the program (the verifier log is in the source).
    #[error("the kernel refused XDP program: {0}")]
    Program(#[source] ProgramError),
    /// Attaching the program to an interface failed.
    #[error("cannot attach XDP to {interface} ({mode}): {source}")]
    Attach {
        /// The interface.
        interface: String,
        /// The mode(s) tried.
        mode: &'static str,
        /// The last failure.
        source: ProgramError,
    },
    /// A pinned map could not be opened or has another layout than this build's.
    #[error("pinned map {path}: {source}")]
    Pinned {
        /// The pin file.
        path: PathBuf,
        /// What went wrong.
        source: MapError,
    },
    /// A pinned map has another number of slots than this build's.
    #[error("pinned map {path} has {found} slots, this build expects {expected}")]
    PinnedSize {
        /// The pin file.
        path: PathBuf,
        /// Slots of the pinned map.
        found: u32,
        /// Slots this build uses.
        expected: u32,
    },
    /// A deny/allow entry that is not `ADDRESS[/PREFIX]`.
    #[error("invalid CIDR {0:?}: expected ADDRESS[/PREFIX]")]
    InvalidCidr(String),
    /// Writing or deleting a map entry failed.
    #[error("cannot update map {map}: {source}")]
    Write {
        /// The map name.
        map: &'static str,
        /// What went wrong.
        source: MapError,
    },
    /// `BPF_PROG_TEST_RUN` failed.
    #[error("test run of the XDP program failed: {0}")]
    TestRun(#[source] ProgramError),
    /// Reading a map failed.
    #[error("cannot read map {map}: {source}")]
    Read {
        /// The map name.
        map: &'static str,
        /// What went wrong.
        source: MapError,
    },
    /// The L4 fast path cannot take this set of services.
    #[error("xdp-forward: {0}")]
    L4(String),
}

impl From<aya::EbpfError> for EbpfError {
    fn from(e: aya::EbpfError) -> Self {
        Self::Load(Box::new(e))
    }
}
