//! The `lb` binary.

fn main() {}
