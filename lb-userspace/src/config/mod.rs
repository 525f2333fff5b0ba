//! The configuration language: HAProxy's grammar, parsed into the typed [`model`].

pub mod model;

pub use model::Config;
