//! Fuzzes the sample-expression, condition, ACL and log-format parsers and their
//! evaluation: the text before the first NUL byte is the expression, the bytes after it
//! are the stream's payload. Any input must give a value or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lb::fuzzing::sample_expr(data);
});
