//! Loading the eBPF programs and reading their maps; eBPF is an accelerator, never required.
//! TEMPORARY stub: replaced by the ebpf branch.

use crate::config::model::XdpSection;

/// Loaded programs.
#[derive(Debug)]
pub struct XdpRuntime;

/// eBPF failure.
#[derive(Debug, thiserror::Error)]
#[error("eBPF not built in")]
pub struct EbpfError;

/// Build info.
pub fn build_info() -> &'static str {
    "no"
}

/// Starts XDP.
pub fn start(xdp: Option<&XdpSection>) -> Result<Option<XdpRuntime>, EbpfError> {
    match xdp {
        None => Ok(None),
        Some(_) => Err(EbpfError),
    }
}

/// `lb xdp ...`.
pub fn run_stats_command(_args: &[String]) -> i32 {
    1
}
