//! XDP statistics: a per-CPU array of [`Counter`]s indexed by [`StatIndex`].
//!
//! Each slot counts the packets that got a verdict for one reason (passed IPv4, malformed
//! IPv6 header, ...). New reasons (deny-list hits, SYN-flood drops) take the next free index;
//! the map keeps [`XDP_STATS_ENTRIES`] slots so that adding a reason does not change its
//! layout and a pinned map from an older build stays compatible. Per-interface and per-port
//! counters live in per-CPU arrays of [`SLOT_REASONS`] counters per slot; small arrays map
//! an ifindex or a port to its slot, so the program never hashes to count.

/// Name of the per-CPU stats map, which is also its file name under the pin directory.
pub const XDP_STATS_MAP: &str = "LB_XDP_STATS";

/// Number of slots in [`XDP_STATS_MAP`]: room for reasons that later releases add.
pub const XDP_STATS_ENTRIES: u32 = 64;

/// Counters per port or interface slot in [`IF_STATS_MAP`] and
/// [`crate::guard::PORT_STATS_MAP`]: index `slot * SLOT_REASONS + reason`. Reasons at or
/// above it are counted in the totals only.
pub const SLOT_REASONS: u32 = 32;

/// Interface slot of each ifindex: `Array<u32, `[`IFINDEX_ENTRIES`]`>`; 0 (the default)
/// counts the interface under slot 0, "other".
pub const IFINDEX_MAP: &str = "LB_XDP_IFINDEX";
/// ifindexes below this have a slot entry; higher ones count under slot 0.
pub const IFINDEX_ENTRIES: u32 = 65_536;
/// Which interface owns each interface slot: `Array<`[`IfSlot`]`, `[`IF_SLOTS`]`>`
/// (ifindex 0: free).
pub const IF_SLOTS_MAP: &str = "LB_XDP_IF_SLOTS";
/// Interface slots; slot 0 holds frames of interfaces without one (and test runs).
pub const IF_SLOTS: u32 = 64;
/// Per-CPU counters per interface slot and reason: `PerCpuArray<`[`Counter`]`>` of
/// [`IF_STATS_ENTRIES`].
pub const IF_STATS_MAP: &str = "LB_XDP_IF_STATS";
/// Counters of [`IF_STATS_MAP`].
pub const IF_STATS_ENTRIES: u32 = IF_SLOTS * SLOT_REASONS;
/// The maps of the per-interface counters.
pub const IF_MAPS: [&str; 3] = [IFINDEX_MAP, IF_SLOTS_MAP, IF_STATS_MAP];

/// Packets and bytes counted for one reason on one CPU.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    /// Packets seen.
    pub packets: u64,
    /// Bytes seen, counted from the Ethernet header to the end of the frame.
    pub bytes: u64,
}

impl Counter {
    /// Adds `other` to `self` (summing the per-CPU copies of one slot).
    pub const fn merge(&mut self, other: &Self) {
        self.packets = self.packets.wrapping_add(other.packets);
        self.bytes = self.bytes.wrapping_add(other.bytes);
    }
}

/// The owner of an interface slot. The name is recorded at registration: an ifindex only
/// means something in its network namespace, and `lb xdp stats` may run in another one.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IfSlot {
    /// The interface's index in `lb`'s network namespace; 0: a free slot.
    pub ifindex: u32,
    /// Its name, NUL-padded (`IFNAMSIZ`).
    pub name: [u8; 16],
}

/// What the XDP program did with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Handed to the kernel network stack (`XDP_PASS`).
    Pass,
    /// Dropped in the driver (`XDP_DROP`).
    Drop,
    /// The program failed (`XDP_ABORTED`; the packet is dropped and traced).
    Aborted,
    /// Passed or dropped as the malformed-frame policy of [`crate::guard::GuardConfig`] says.
    Policy,
}

impl Verdict {
    /// Lower-case name used in tables and JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Drop => "drop",
            Self::Aborted => "aborted",
            Self::Policy => "policy",
        }
    }
}

/// Why a packet got its verdict: the index of its slot in [`XDP_STATS_MAP`].
///
/// Values are part of the pinned map's layout: never renumber, only append.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatIndex {
    /// A well-formed IPv4 packet.
    PassIpv4 = 0,
    /// A well-formed IPv6 packet.
    PassIpv6 = 1,
    /// A frame that is neither IPv4 nor IPv6 (ARP, LLDP, ...).
    PassOther = 2,
    /// Shorter than an Ethernet header.
    MalformedEthernet = 3,
    /// A VLAN tag cut short, or more tags than we parse.
    MalformedVlan = 4,
    /// IPv4 header cut short or inconsistent (version, IHL, total length).
    MalformedIpv4 = 5,
    /// IPv6 header cut short or inconsistent (version, payload length).
    MalformedIpv6 = 6,
    /// The program could not decide (internal error); counted before returning.
    Aborted = 7,
    /// IPv6 extension headers cut short, or more of them than the program walks.
    MalformedIpv6Ext = 8,
    /// TCP header cut short (or its data offset is invalid on an unprotected port).
    MalformedTcp = 9,
    /// UDP header cut short or with an inconsistent length.
    MalformedUdp = 10,
    /// The source matched the deny list.
    DenyList = 11,
    /// The source matched the allow list: passed without further checks.
    AllowList = 12,
    /// Invalid TCP flags to a protected port (SYN+FIN, SYN+RST, FIN without ACK, null, XMAS).
    TcpBadFlags = 13,
    /// TCP data offset below 5 words or beyond the packet, to a protected port.
    TcpBadOffset = 14,
    /// A TCP fragment dropped by the fragment policy.
    Fragment = 15,
    /// A SYN to a protected port over its source's budget.
    SynOverSource = 16,
    /// A SYN to a protected port over the global (per-CPU) budget.
    SynOverGlobal = 17,
}

impl StatIndex {
    /// Every reason, in index order.
    pub const ALL: [Self; 18] = [
        Self::PassIpv4,
        Self::PassIpv6,
        Self::PassOther,
        Self::MalformedEthernet,
        Self::MalformedVlan,
        Self::MalformedIpv4,
        Self::MalformedIpv6,
        Self::Aborted,
        Self::MalformedIpv6Ext,
        Self::MalformedTcp,
        Self::MalformedUdp,
        Self::DenyList,
        Self::AllowList,
        Self::TcpBadFlags,
        Self::TcpBadOffset,
        Self::Fragment,
        Self::SynOverSource,
        Self::SynOverGlobal,
    ];

    /// The slot of this reason in the stats map.
    pub const fn index(self) -> u32 {
        self as u32
    }

    /// The reason stored at `index`, if this build knows it.
    pub const fn from_index(index: u32) -> Option<Self> {
        let i = index as usize;
        if i < Self::ALL.len() {
            Some(Self::ALL[i])
        } else {
            None
        }
    }

    /// Snake-case name used in tables and JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Self::PassIpv4 => "pass_ipv4",
            Self::PassIpv6 => "pass_ipv6",
            Self::PassOther => "pass_other",
            Self::MalformedEthernet => "malformed_ethernet",
            Self::MalformedVlan => "malformed_vlan",
            Self::MalformedIpv4 => "malformed_ipv4",
            Self::MalformedIpv6 => "malformed_ipv6",
            Self::Aborted => "aborted",
            Self::MalformedIpv6Ext => "malformed_ipv6_ext",
            Self::MalformedTcp => "malformed_tcp",
            Self::MalformedUdp => "malformed_udp",
            Self::DenyList => "deny_list",
            Self::AllowList => "allow_list",
            Self::TcpBadFlags => "tcp_bad_flags",
            Self::TcpBadOffset => "tcp_bad_offset",
            Self::Fragment => "fragment",
            Self::SynOverSource => "syn_over_source",
            Self::SynOverGlobal => "syn_over_global",
        }
    }

    /// Whether the malformed-frame policy decides the verdict of this reason.
    pub const fn is_malformed(self) -> bool {
        matches!(self.verdict(), Verdict::Policy)
    }

    /// The verdict the program returns for this reason.
    pub const fn verdict(self) -> Verdict {
        match self {
            Self::PassIpv4 | Self::PassIpv6 | Self::PassOther | Self::AllowList => Verdict::Pass,
            Self::MalformedEthernet
            | Self::MalformedVlan
            | Self::MalformedIpv4
            | Self::MalformedIpv6
            | Self::MalformedIpv6Ext
            | Self::MalformedTcp
            | Self::MalformedUdp => Verdict::Policy,
            Self::DenyList
            | Self::TcpBadFlags
            | Self::TcpBadOffset
            | Self::Fragment
            | Self::SynOverSource
            | Self::SynOverGlobal => Verdict::Drop,
            Self::Aborted => Verdict::Aborted,
        }
    }
}

// Adding a reason must not outgrow the map, nor (for now) a port or interface slot.
const _: () = assert!(StatIndex::ALL.len() <= XDP_STATS_ENTRIES as usize);
const _: () = assert!(StatIndex::ALL.len() <= SLOT_REASONS as usize);

#[cfg(feature = "user")]
mod pod {
    #[allow(unsafe_code, reason = "aya::Pod is an unsafe marker trait")]
    // SAFETY: `Counter` is `#[repr(C)]`, made of two `u64`s with no padding, and every bit
    // pattern is a valid value.
    unsafe impl aya::Pod for super::Counter {}
    #[allow(unsafe_code, reason = "aya::Pod is an unsafe marker trait")]
    // SAFETY: `IfSlot` is `#[repr(C)]`, a u32 then 16 bytes (no padding); any bits are valid.
    unsafe impl aya::Pod for super::IfSlot {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_are_dense_and_round_trip() {
        for (i, reason) in StatIndex::ALL.iter().enumerate() {
            assert_eq!(reason.index() as usize, i);
            assert_eq!(StatIndex::from_index(reason.index()), Some(*reason));
        }
        assert_eq!(StatIndex::from_index(StatIndex::ALL.len() as u32), None);
    }

    #[test]
    fn names_are_unique() {
        for a in StatIndex::ALL {
            let same = StatIndex::ALL
                .iter()
                .filter(|b| b.name() == a.name())
                .count();
            assert_eq!(same, 1, "{}", a.name());
        }
    }

    #[test]
    fn merge_adds_both_fields() {
        let mut a = Counter {
            packets: 1,
            bytes: 60,
        };
        a.merge(&Counter {
            packets: 2,
            bytes: 1500,
        });
        assert_eq!(
            a,
            Counter {
                packets: 3,
                bytes: 1560
            }
        );
    }
}
