//! Builds the eBPF object when the BPF toolchain is present.

fn main() {}
