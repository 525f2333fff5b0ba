//! Stream forwarding between clients and servers (TCP mode).
