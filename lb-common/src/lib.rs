//! Types shared by the eBPF programs (`lb-ebpf`) and user space (`lb-userspace`).
//!
//! Everything here is `#[repr(C)]` plain data so that both sides agree on map layouts. Map and
//! program names, map sizes and stat indexes live here, in one place.
#![no_std]
// `aya::Pod` impls are `unsafe impl`; they are the only unsafe code and are allowed locally.
#![deny(unsafe_code)]

pub mod guard;
pub mod l4;
pub mod stats;
pub mod steer;

pub use stats::{Counter, StatIndex, Verdict};

/// Name of the XDP entry program inside the eBPF object.
pub const XDP_PROGRAM: &str = "lb_xdp";

/// A trivial XDP program that drops everything: the baseline of the per-packet benchmark.
pub const XDP_BASELINE_PROGRAM: &str = "lb_xdp_baseline";
