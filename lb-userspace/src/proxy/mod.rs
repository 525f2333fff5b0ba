//! Stream forwarding between clients and servers (TCP mode).

pub mod conn;
pub mod connect;
pub mod forward;
pub mod frontend;
pub mod inspect;
pub mod session;
