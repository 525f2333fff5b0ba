//! The XDP L4 fast path (Katran's model): map layouts shared by `lb_l4`, its TC return-path
//! program and user space.
//!
//! A packet to a VIP ([`VipKey`] in [`L4_VIPS_MAP`]) belongs to a service. Its flow
//! ([`FlowKey`]) is looked up in the connection table ([`L4_FLOWS_MAP`], an LRU hash with
//! per-CPU LRU lists); a new flow picks a server from the service's Maglev ring (one of two
//! halves of [`L4_MAGLEV_MAP`], [`ServiceState::active`] says which) by [`flow_hash`]. The
//! packet is then encapsulated (IPIP / IPv6-in-IPv6, direct server return) or rewritten
//! (NAT, with a reverse entry in [`L4_NAT_MAP`] for the TC program on the return path).

/// Name of the XDP balancer program.
pub const L4_PROGRAM: &str = "lb_l4";
/// Name of the TC program that rewrites NAT replies (source back to the VIP).
pub const L4_NAT_TC_PROGRAM: &str = "lb_l4_nat_reply";
/// Name of the XDP program that strips the outer IPIP/IPv6-in-IPv6 header on a server (for
/// kernels without `ipip`/`ip6tnl` devices; Katran ships the same kind of program).
pub const L4_DECAP_PROGRAM: &str = "lb_l4_decap";
/// Name of an XDP program that passes everything: attached to the peer of a veth that
/// `lb_l4` redirects into, so that the veth accepts XDP frames in native mode.
pub const L4_PASS_PROGRAM: &str = "lb_l4_pass";

/// VIP:port -> [`VipInfo`].
pub const L4_VIPS_MAP: &str = "LB_L4_VIPS";
/// Service index -> [`ServiceState`].
pub const L4_SERVICES_MAP: &str = "LB_L4_SERVICES";
/// Server index -> [`Real`].
pub const L4_REALS_MAP: &str = "LB_L4_REALS";
/// The Maglev rings: `(service * 2 + half) * MAGLEV_RING + slot` -> server index.
pub const L4_MAGLEV_MAP: &str = "LB_L4_MAGLEV";
/// The connection table: [`FlowKey`] -> [`FlowValue`].
pub const L4_FLOWS_MAP: &str = "LB_L4_FLOWS";
/// NAT return path: ([`FlowKey`] of the reply) -> [`NatReverse`].
pub const L4_NAT_MAP: &str = "LB_L4_NAT";
/// Index 0: the [`L4Config`].
pub const L4_CONFIG_MAP: &str = "LB_L4_CONFIG";
/// Per-CPU [`L4Counter`] per service.
pub const L4_SERVICE_STATS_MAP: &str = "LB_L4_SERVICE_STATS";
/// Per-CPU [`L4Counter`] per server.
pub const L4_REAL_STATS_MAP: &str = "LB_L4_REAL_STATS";
/// Program array: slot 0 is tail-called for packets that are not for a VIP (the guard).
pub const L4_CHAIN_MAP: &str = "LB_L4_CHAIN";

/// Names of services (index `s`) and servers (index `L4_MAX_SERVICES + r`) for `lb xdp
/// stats` in another process: [`L4Name`]. The programs never read it.
pub const L4_NAMES_MAP: &str = "LB_L4_NAMES";

/// Every map of the fast path, pinned by name under the pin directory.
pub const L4_MAPS: [&str; 10] = [
    L4_NAMES_MAP,
    L4_VIPS_MAP,
    L4_SERVICES_MAP,
    L4_REALS_MAP,
    L4_MAGLEV_MAP,
    L4_FLOWS_MAP,
    L4_NAT_MAP,
    L4_CONFIG_MAP,
    L4_SERVICE_STATS_MAP,
    L4_REAL_STATS_MAP,
];

/// Services (VIP:port pairs share a service when they come from one proxy).
pub const L4_MAX_SERVICES: u32 = 8;
/// Servers over all services.
pub const L4_MAX_REALS: u32 = 1024;
/// VIP:port entries.
pub const L4_MAX_VIPS: u32 = 256;
/// Slots of one Maglev ring: a prime, at least 100 times the servers of a service (so up to
/// 655 servers per service keep the Maglev balance within about 1%).
pub const MAGLEV_RING: u32 = 65_537;
/// Entries of [`L4_MAGLEV_MAP`]: two halves (double buffering) per service.
pub const L4_MAGLEV_ENTRIES: u32 = L4_MAX_SERVICES * 2 * MAGLEV_RING;
/// Flows tracked by the connection table (LRU: the least recently used go first).
pub const L4_FLOW_ENTRIES: u32 = 65_536;
/// A ring slot with no server (every server of the service is down).
pub const NO_REAL: u32 = u32::MAX;

/// [`VipInfo::flags`]: rewrite destination address and port (NAT) instead of encapsulating.
pub const VIP_NAT: u32 = 1;

/// IP protocol numbers.
pub const IPPROTO_TCP: u8 = 6;
/// UDP.
pub const IPPROTO_UDP: u8 = 17;
/// IPv4-in-IPv4 (outer protocol of an encapsulated IPv4 packet).
pub const IPPROTO_IPIP: u8 = 4;
/// IPv6-in-IPv6.
pub const IPPROTO_IPV6: u8 = 41;

/// A VIP and port, the key of [`L4_VIPS_MAP`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct VipKey {
    /// Address (IPv4: the first 4 bytes, the rest zero).
    pub addr: [u8; 16],
    /// Port, in host order.
    pub port: u16,
    /// [`IPPROTO_TCP`] or [`IPPROTO_UDP`].
    pub proto: u8,
    /// 4 or 6.
    pub family: u8,
}

/// What a VIP belongs to.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VipInfo {
    /// Index of the service ([`L4_SERVICES_MAP`], the ring, the counters).
    pub service: u32,
    /// [`VIP_NAT`] or 0 (encapsulation, direct server return).
    pub flags: u32,
}

/// Run-time state of a service.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServiceState {
    /// Which half of the service's double-buffered ring is live (0 or 1). User space writes
    /// the other half, then flips this.
    pub active: u32,
    /// Reserved.
    pub pad: u32,
}

/// A server ("real" in Katran's words).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Real {
    /// Address (IPv4: the first 4 bytes).
    pub addr: [u8; 16],
    /// Port for NAT, host order (0: keep the client's destination port).
    pub port: u16,
    /// 4 or 6; 0 for an unused slot.
    pub family: u8,
    /// Reserved.
    pub pad: u8,
}

/// A flow as the client sends it (or, in [`L4_NAT_MAP`], as the server replies).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// Source address (IPv4: the first 4 bytes).
    pub src: [u8; 16],
    /// Destination address.
    pub dst: [u8; 16],
    /// Source port, host order.
    pub sport: u16,
    /// Destination port, host order.
    pub dport: u16,
    /// IP protocol.
    pub proto: u8,
    /// 4 or 6.
    pub family: u8,
    /// Reserved (zero: part of the key).
    pub pad: [u8; 2],
}

/// Where a flow goes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowValue {
    /// Server index.
    pub real: u32,
    /// Service index.
    pub service: u32,
}

/// What the TC program writes back into a NAT reply: the VIP and port the client reached.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NatReverse {
    /// The VIP (IPv4: the first 4 bytes).
    pub vip: [u8; 16],
    /// The VIP's port, host order.
    pub port: u16,
    /// Reserved.
    pub pad: [u8; 2],
    /// Service index (for the counters).
    pub service: u32,
}

/// Global settings of the fast path.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct L4Config {
    /// Outer source address of IPIP packets.
    pub src4: [u8; 4],
    /// Reserved.
    pub pad: u32,
    /// Outer source address of IPv6-in-IPv6 packets.
    pub src6: [u8; 16],
}

/// A service or server name in [`L4_NAMES_MAP`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L4Name {
    /// For a server, the index of its service plus one; 0 for a service or an unused slot.
    pub service: u32,
    /// Bytes used in [`Self::name`] (0: unused slot).
    pub len: u32,
    /// UTF-8 name, truncated to 56 bytes.
    pub name: [u8; 56],
}

impl Default for L4Name {
    fn default() -> Self {
        Self {
            service: 0,
            len: 0,
            name: [0; 56],
        }
    }
}

/// Counters of a service or server on one CPU.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct L4Counter {
    /// Packets forwarded (for a service: received for its VIPs).
    pub packets: u64,
    /// Bytes of those packets, as received.
    pub bytes: u64,
    /// Flows created in the connection table.
    pub new_flows: u64,
    /// Packets dropped (no server up, or the packet could not be rewritten).
    pub dropped: u64,
}

impl L4Counter {
    /// Adds `other` (summing per-CPU copies).
    pub const fn merge(&mut self, other: &Self) {
        self.packets = self.packets.wrapping_add(other.packets);
        self.bytes = self.bytes.wrapping_add(other.bytes);
        self.new_flows = self.new_flows.wrapping_add(other.new_flows);
        self.dropped = self.dropped.wrapping_add(other.dropped);
    }
}

/// The 32-bit hash of a flow that picks its Maglev slot; user space computes the same one to
/// predict placements. Mixes every word of the key (murmur3's round and finalizer).
#[inline(always)]
pub fn flow_hash(key: &FlowKey) -> u32 {
    let mut h: u32 = 0x4c42_4c34;
    let mut i = 0;
    // A fixed-count loop over constant offsets: the verifier unrolls it.
    while i < 16 {
        h = mix(
            h,
            u32::from_le_bytes([key.src[i], key.src[i + 1], key.src[i + 2], key.src[i + 3]]),
        );
        h = mix(
            h,
            u32::from_le_bytes([key.dst[i], key.dst[i + 1], key.dst[i + 2], key.dst[i + 3]]),
        );
        i += 4;
    }
    h = mix(h, u32::from(key.sport) | (u32::from(key.dport) << 16));
    h = mix(h, u32::from(key.proto) | (u32::from(key.family) << 8));
    h ^= 40;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[inline(always)]
const fn mix(h: u32, word: u32) -> u32 {
    let k = word
        .wrapping_mul(0xcc9e_2d51)
        .rotate_left(15)
        .wrapping_mul(0x1b87_3593);
    (h ^ k)
        .rotate_left(13)
        .wrapping_mul(5)
        .wrapping_add(0xe654_6b64)
}

/// The index in [`L4_MAGLEV_MAP`] of `slot` in `half` of `service`'s ring.
#[inline(always)]
pub const fn maglev_index(service: u32, half: u32, slot: u32) -> u32 {
    (service * 2 + (half & 1)) * MAGLEV_RING + slot
}

#[cfg(feature = "user")]
mod pod {
    #![allow(unsafe_code, reason = "aya::Pod is an unsafe marker trait")]
    // SAFETY (all impls): `#[repr(C)]` structs of integers and byte arrays without implicit
    // padding (padding is an explicit field), so every bit pattern is a valid value.
    unsafe impl aya::Pod for super::VipKey {}
    unsafe impl aya::Pod for super::VipInfo {}
    unsafe impl aya::Pod for super::ServiceState {}
    unsafe impl aya::Pod for super::Real {}
    unsafe impl aya::Pod for super::FlowKey {}
    unsafe impl aya::Pod for super::FlowValue {}
    unsafe impl aya::Pod for super::NatReverse {}
    unsafe impl aya::Pod for super::L4Config {}
    unsafe impl aya::Pod for super::L4Counter {}
    unsafe impl aya::Pod for super::L4Name {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_have_no_implicit_padding() {
        assert_eq!(size_of::<VipKey>(), 20);
        assert_eq!(size_of::<VipInfo>(), 8);
        assert_eq!(size_of::<Real>(), 20);
        assert_eq!(size_of::<FlowKey>(), 40);
        assert_eq!(size_of::<FlowValue>(), 8);
        assert_eq!(size_of::<NatReverse>(), 24);
        assert_eq!(size_of::<L4Config>(), 24);
        assert_eq!(size_of::<L4Counter>(), 32);
    }

    #[test]
    fn ring_is_prime_and_hash_spreads() {
        assert!((2..=256).all(|d| !MAGLEV_RING.is_multiple_of(d)));
        let mut slots = [0u32; 8];
        for port in 0..8000u16 {
            let key = FlowKey {
                src: [10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                sport: port,
                dport: 80,
                proto: IPPROTO_TCP,
                family: 4,
                ..FlowKey::default()
            };
            slots[(flow_hash(&key) % 8) as usize] += 1;
        }
        assert!(slots.iter().all(|&n| (900..1100).contains(&n)), "{slots:?}");
        assert_eq!(maglev_index(1, 1, 5), 3 * MAGLEV_RING + 5);
    }
}
