//! Backends: server state, load-balancing algorithms and connection queues.

pub mod balance;
pub mod queue;
pub mod state;
