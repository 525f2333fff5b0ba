//! Fuzzes the sample-expression and condition parsers: any input must give a value or an
//! error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        lb::fuzzing::sample_expr(text);
    }
});
