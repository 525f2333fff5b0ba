//! Health checks. TEMPORARY stub: replaced by the checks branch.

use std::sync::Arc;

use crate::backend::state::Backends;

/// Running checks.
#[derive(Debug)]
pub struct CheckHandle;

/// Starts the checks.
pub fn spawn(_backends: Arc<Backends>) -> std::io::Result<CheckHandle> {
    Ok(CheckHandle)
}
