//! Thin, audited wrappers over the few Linux system calls std and tokio don't offer
//! (splice, pipes, peek, fork/setsid, rlimits). All of the crate's `unsafe` lives here.
#![allow(
    unsafe_code,
    reason = "the one place that calls libc directly; each call is wrapped safely"
)]

pub mod affinity;
pub mod crypt;
pub mod daemon;
pub mod localtime;
pub mod peek;
pub mod pipe;
pub mod rlimit;
pub mod shared_counters;
pub mod sock;
pub mod strftime;
