//! Connection steering: which worker's listening socket gets a new connection.
//!
//! Two programs of the `lb-steer` object share these layouts with user space:
//! - `lb_reuseport` (`sk_reuseport/migrate`) is attached to each `SO_REUSEPORT` group (one group
//!   per bind address, one socket per worker). It finds its group in [`GROUPS_MAP`] from the
//!   listener's bound address, picks a worker by the group's policy, and selects that worker's
//!   socket in [`SOCKETS_MAP`] (index `base + worker`). It also runs when a listener closes
//!   with connections still queued, to move them to a live listener instead of resetting them.
//! - `lb_sk_lookup` is attached to the network namespace. Each [`RangeRule`] in [`RANGES_MAP`]
//!   hands connections whose destination is in an address prefix and port range to the
//!   range's sockets in [`RANGE_SOCKETS_MAP`]; the group's reuseport program then applies the
//!   policy among the workers.
//!
//! Workers publish their active connection counts in [`LOAD_MAP`], a memory-mapped array, so
//! that `least-loaded` costs them no system call.

/// Name of the eBPF object (a bin target of `lb-ebpf`, embedded by `lb-userspace`).
pub const STEER_OBJECT: &str = "lb-steer";
/// The `sk_reuseport/migrate` program.
pub const REUSEPORT_PROGRAM: &str = "lb_reuseport";
/// The `sk_lookup` program.
pub const SK_LOOKUP_PROGRAM: &str = "lb_sk_lookup";

/// `ReusePortSockArray` of every group's sockets, index `GroupInfo::base + worker`.
pub const SOCKETS_MAP: &str = "LB_STEER_SOCKETS";
/// `HashMap<`[`GroupKey`]`, `[`GroupInfo`]`>`: the groups and their policy.
pub const GROUPS_MAP: &str = "LB_STEER_GROUPS";
/// `Array<u64>` (mmapable): active connections of each worker, index = worker.
pub const LOAD_MAP: &str = "LB_STEER_LOAD";
/// `Array<`[`RangeRule`]`>`: the address/port ranges, in order; the first unused ends the list.
pub const RANGES_MAP: &str = "LB_STEER_RANGES";
/// `SockMap` of the ranges' sockets, index `RangeRule::base + worker`.
pub const RANGE_SOCKETS_MAP: &str = "LB_STEER_RANGE_SOCKETS";

/// Slots of [`SOCKETS_MAP`] and [`RANGE_SOCKETS_MAP`]: workers times groups, at most.
pub const MAX_SOCKETS: u32 = 16_384;
/// Groups (bind addresses) steered by one process.
pub const MAX_GROUPS: u32 = 4_096;
/// Workers whose load is published.
pub const MAX_WORKERS: u32 = 1_024;
/// Address/port ranges (`bind` elements with a prefix or a port range) of one process.
pub const MAX_RANGES: u32 = 64;

/// [`GroupInfo::policy`]: the flow's 4-tuple hash, modulo the number of workers.
pub const POLICY_HASH: u32 = 0;
/// [`GroupInfo::policy`]: the less loaded of two random workers (power of two choices).
pub const POLICY_LEAST_LOADED: u32 = 1;
/// [`GroupInfo::policy`]: the worker whose number is the receiving CPU's, modulo workers.
pub const POLICY_CPU: u32 = 2;

/// `AF_INET`, as `bpf_sock::family` and `bpf_sk_lookup::family` give it.
pub const FAMILY_INET: u32 = 2;
/// `AF_INET6`.
pub const FAMILY_INET6: u32 = 10;

/// Identifies a reuseport group by its bound address, as the kernel's `bpf_sock` shows it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GroupKey {
    /// [`FAMILY_INET`] or [`FAMILY_INET6`].
    pub family: u32,
    /// Bound port, host byte order.
    pub port: u32,
    /// Bound address in network byte order: IPv4 in `addr[0]`, the rest zero.
    pub addr: [u32; 4],
}

/// What the reuseport program needs to know about a group.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupInfo {
    /// Index of worker 0's socket in [`SOCKETS_MAP`].
    pub base: u32,
    /// Number of workers (sockets from `base`).
    pub workers: u32,
    /// `POLICY_*`.
    pub policy: u32,
    /// Explicit padding.
    pub reserved: u32,
}

/// One address prefix and port range served through `sk_lookup`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RangeRule {
    /// [`FAMILY_INET`] or [`FAMILY_INET6`]; 0 marks the end of the list.
    pub family: u32,
    /// First port, host byte order.
    pub port_first: u32,
    /// Last port (inclusive), host byte order.
    pub port_last: u32,
    /// Index of worker 0's socket in [`RANGE_SOCKETS_MAP`].
    pub base: u32,
    /// Number of workers.
    pub workers: u32,
    /// `POLICY_*`.
    pub policy: u32,
    /// The prefix's address, already masked, network byte order (IPv4 in `addr[0]`).
    pub addr: [u32; 4],
    /// The prefix's mask, network byte order.
    pub mask: [u32; 4],
}

impl RangeRule {
    /// Whether a destination (address in network byte order, port in host order) matches.
    #[inline(always)]
    pub fn matches(&self, family: u32, addr: &[u32; 4], port: u32) -> bool {
        family == self.family
            && port >= self.port_first
            && port <= self.port_last
            && addr[0] & self.mask[0] == self.addr[0]
            && addr[1] & self.mask[1] == self.addr[1]
            && addr[2] & self.mask[2] == self.addr[2]
            && addr[3] & self.mask[3] == self.addr[3]
    }
}

/// A flow hash for `sk_lookup`, which gets no hash from the kernel: the same 4-tuple always
/// gives the same value (a SYN-cookie ACK must find the socket its SYN found).
#[inline(always)]
pub const fn flow_hash(remote: &[u32; 4], remote_port: u32, local_port: u32) -> u32 {
    let mut h = 0x9e37_79b9_u32 ^ remote_port ^ (local_port << 16);
    h = mix(h ^ remote[0]);
    h = mix(h ^ remote[1]);
    h = mix(h ^ remote[2]);
    mix(h ^ remote[3])
}

/// One round of a murmur3-style finaliser: every input bit affects every output bit.
#[inline(always)]
const fn mix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The worker of `hash` among `workers`, without a division (BPF has one, but this keeps
/// the spread uniform for any count): the high bits of `hash * workers`.
#[inline(always)]
pub const fn scale(hash: u32, workers: u32) -> u32 {
    ((hash as u64 * workers as u64) >> 32) as u32
}

#[cfg(feature = "user")]
mod pod {
    #![allow(unsafe_code, reason = "aya::Pod is an unsafe marker trait")]
    // SAFETY (all impls): `#[repr(C)]` structs of `u32`s without implicit padding, so every
    // bit pattern is a valid value.
    unsafe impl aya::Pod for super::GroupKey {}
    unsafe impl aya::Pod for super::GroupInfo {}
    unsafe impl aya::Pod for super::RangeRule {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_stays_in_range_and_spreads() {
        let mut counts = [0u32; 3];
        for i in 0..3000u32 {
            let w = scale(flow_hash(&[i.to_be(), 0, 0, 0], i, 80), 3);
            assert!(w < 3);
            counts[w as usize] += 1;
        }
        for c in counts {
            assert!((800..1200).contains(&c), "{counts:?}");
        }
        assert_eq!(scale(u32::MAX, 4), 3);
        assert_eq!(scale(0, 4), 0);
    }

    #[test]
    fn flow_hash_is_stable_and_depends_on_every_field() {
        let a = flow_hash(&[1, 2, 3, 4], 5, 6);
        assert_eq!(a, flow_hash(&[1, 2, 3, 4], 5, 6));
        assert_ne!(a, flow_hash(&[1, 2, 3, 5], 5, 6));
        assert_ne!(a, flow_hash(&[1, 2, 3, 4], 6, 6));
        assert_ne!(a, flow_hash(&[1, 2, 3, 4], 5, 7));
    }

    #[test]
    fn range_rule_matches_prefix_and_ports() {
        let rule = RangeRule {
            family: FAMILY_INET,
            port_first: 8000,
            port_last: 8999,
            base: 0,
            workers: 2,
            policy: POLICY_HASH,
            addr: [u32::from_be_bytes([127, 0, 0, 0]).to_be(), 0, 0, 0],
            mask: [u32::from_be_bytes([255, 255, 255, 0]).to_be(), 0, 0, 0],
        };
        let ip = |d: u8| [u32::from_be_bytes([127, 0, 0, d]).to_be(), 0, 0, 0];
        assert!(rule.matches(FAMILY_INET, &ip(9), 8000));
        assert!(rule.matches(FAMILY_INET, &ip(255), 8999));
        assert!(!rule.matches(FAMILY_INET, &ip(9), 9000));
        assert!(!rule.matches(FAMILY_INET, &ip(9), 7999));
        assert!(!rule.matches(FAMILY_INET6, &ip(9), 8000));
        let other = [u32::from_be_bytes([127, 0, 1, 1]).to_be(), 0, 0, 0];
        assert!(!rule.matches(FAMILY_INET, &other, 8000));
    }
}
