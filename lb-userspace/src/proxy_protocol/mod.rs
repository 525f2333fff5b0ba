//! The PROXY protocol (v1 text, v2 binary): parsing what a load balancer in front of us
//! sends (`accept-proxy`) and building what we send to servers (`send-proxy[-v2]`).
