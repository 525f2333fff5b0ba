//! `lb`: an eBPF-assisted hybrid L4/L7 load balancer with HAProxy's configuration language.
//!
//! The modules follow the subsystems of HAProxy's Starter Guide: [`config`] parses the
//! configuration, [`worker`] runs one event loop per core, [`proxy`] forwards streams,
//! [`backend`] balances and queues, [`checks`] probes servers, [`acl`] and [`sample`] decide,
//! [`log`] reports, and [`ebpf`] loads the kernel fast path when it can.
#![deny(unsafe_code)]

pub mod acl;
pub mod backend;
pub mod checks;
pub mod cli;
pub mod clock;
pub mod config;
pub mod ebpf;
pub mod fuzzing;
pub mod http;
pub mod http_rules;
pub mod log;
pub mod logformat;
pub mod map;
pub mod process;
pub mod proxy;
pub mod proxy_protocol;
pub mod rules;
pub mod runtime_api;
pub mod sample;
pub mod stick;
pub mod sys;
pub mod worker;
