//! Types shared by the eBPF programs (`lb-ebpf`) and user space (`lb-userspace`).
//!
//! Everything here is `#[repr(C)]` plain data so that both sides agree on map layouts.
#![no_std]
#![forbid(unsafe_code)]
