//! Variables (`set-var`, `var()`), in HAProxy's scopes: `proc`, `sess`, `txn`, `req`, `res`.

/// The variables a stream can see.
#[derive(Debug, Default)]
pub struct Vars {}
