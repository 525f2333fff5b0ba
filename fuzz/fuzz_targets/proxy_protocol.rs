//! Fuzzes the PROXY protocol v1/v2 parser: any bytes must give a header, "need more", or an
//! error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lb::fuzzing::proxy_protocol(data);
});
