//! Loading the eBPF programs and reading their maps; eBPF is an accelerator, never required.
//!
//! [`start`] loads the XDP program and attaches it as the `xdp` section says; [`read_stats`]
//! reads the counters it pins, from the same or another `lb` process (`lb xdp stats`).
//! [`CidrLists`], [`set_settings`] and [`set_protected_ports`] configure the guard through
//! the pinned maps; [`XdpRuntime::test_run`] runs the program on fixture packets.

mod cidr;
mod command;
mod error;
mod guard;
mod interfaces;
mod l4;
mod l4_start;
mod l4_stats;
pub mod list_command;
mod loader;
pub mod maglev;
mod ports;
mod probe;
pub mod pushdown;
mod service;
mod stats;
mod steer;
mod testrun;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_guard;
#[cfg(test)]
mod tests_l4;

pub use cidr::{Cidr, CidrLists, CidrStatus, ListKind};
pub use command::run_stats_command;
pub use error::{EbpfError, Unavailable};
pub use guard::{
    Budget, GuardSettings, PORT_SYN_GUARD, PORT_TCP_SANITY, SYNCOOKIES_SYSCTL, SynCookies,
    monotonic_ns, port_stats, protected_ports, set_protected_ports, set_settings,
};
pub use interfaces::{InterfaceStats, interface_stats};
pub use l4::{ForwardMethod, FrameRun, L4Runtime, L4Server, L4Service, L4Sources};
pub use l4_start::{FastPath, services as l4_services, start_l4};
pub use l4_stats::{
    L4ServiceStats, L4Stats, flush_flows, read_l4_stats, stats_section as l4_stats_section,
};
pub use loader::{AttachedMode, Attachment, XdpRuntime, load, start};
pub use probe::probe;
pub use service::{
    ListSync, XdpService, apply_syn_cookies, config_ports, log_disabled, settings, start_service,
    sync_list,
};
pub use stats::{SlotStats, XdpStats, read_stats};
pub use steer::{LoadGuard, SteerBuilder, SteerError, Steering, WorkerLoad};
pub use testrun::{TestRunOutcome, XDP_ABORTED, XDP_DROP, XDP_PASS};

/// Whether this `lb` binary embeds the eBPF object.
pub const BUILT_IN: bool = cfg!(lb_ebpf);

/// One line on how eBPF was built, or why it was not, for `lb -vv`.
pub fn build_info() -> &'static str {
    env!("LB_EBPF_BUILD_INFO")
}

/// The embedded eBPF object, aligned so that aya can parse it in place.
fn object() -> Option<&'static [u8]> {
    #[cfg(lb_ebpf)]
    return Some(aya::include_bytes_aligned!(concat!(
        env!("OUT_DIR"),
        "/lb-ebpf"
    )));
    #[cfg(not(lb_ebpf))]
    None
}
