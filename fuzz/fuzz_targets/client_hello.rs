//! Fuzzes the readers of a stream's first bytes (TLS ClientHello, SSL version, HTTP
//! request head, RDP cookie): hostile bytes must give an answer, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lb::fuzzing::client_hello(data);
});
