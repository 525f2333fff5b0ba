//! The `lb` command line (HAProxy-compatible flags).
