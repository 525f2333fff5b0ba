//! The configuration language: HAProxy's grammar, parsed into the typed [`model`].
//! TEMPORARY stub: replaced by the config branch.

pub mod model;

use std::path::PathBuf;

pub use model::Config;

/// Configuration errors.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<String>);

/// Loads configuration files.
pub fn load(_paths: &[PathBuf]) -> Result<Config, ConfigErrors> {
    Ok(Config::default())
}

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for e in &self.0 {
            writeln!(f, "[ALERT] {e}")?;
        }
        Ok(())
    }
}
