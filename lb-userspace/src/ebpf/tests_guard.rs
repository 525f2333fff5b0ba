//! Packet-fixture tests of the XDP guard through `BPF_PROG_TEST_RUN`: each test loads the
//! program with its own pinned maps, runs hand-built frames through it, and checks the
//! verdict and the exact counter changes. Needs root and the eBPF object: fails without.

mod fixture;
mod frames;
mod lists;
mod ops;
mod parsing;
mod slots;
mod syn;
mod tcp;
