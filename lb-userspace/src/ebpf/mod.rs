//! Loading the eBPF programs and reading their maps; eBPF is an accelerator, never required.
