//! XDP statistics: a per-CPU array of [`Counter`]s indexed by [`StatIndex`].
//!
//! Each slot counts the packets that got a verdict for one reason (passed IPv4, malformed
//! IPv6 header, ...). New reasons (deny-list hits, SYN-flood drops) take the next free index;
//! the map keeps [`XDP_STATS_ENTRIES`] slots so that adding a reason does not change its
//! layout and a pinned map from an older build stays compatible. Per-interface or per-port
//! counters belong in their own maps keyed by (ifindex | port, [`StatIndex`]).

/// Name of the per-CPU stats map, which is also its file name under the pin directory.
pub const XDP_STATS_MAP: &str = "LB_XDP_STATS";

/// Number of slots in [`XDP_STATS_MAP`]: room for reasons that later releases add.
pub const XDP_STATS_ENTRIES: u32 = 64;

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

/// What the XDP program did with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Handed to the kernel network stack (`XDP_PASS`).
    Pass,
    /// Dropped in the driver (`XDP_DROP`).
    Drop,
    /// The program failed (`XDP_ABORTED`; the packet is dropped and traced).
    Aborted,
}

impl Verdict {
    /// Lower-case name used in tables and JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Drop => "drop",
            Self::Aborted => "aborted",
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
}

impl StatIndex {
    /// Every reason, in index order.
    pub const ALL: [Self; 8] = [
        Self::PassIpv4,
        Self::PassIpv6,
        Self::PassOther,
        Self::MalformedEthernet,
        Self::MalformedVlan,
        Self::MalformedIpv4,
        Self::MalformedIpv6,
        Self::Aborted,
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
        }
    }

    /// The verdict the program returns for this reason.
    pub const fn verdict(self) -> Verdict {
        match self {
            // Malformed frames are counted, then left to the kernel, which drops them itself.
            Self::PassIpv4
            | Self::PassIpv6
            | Self::PassOther
            | Self::MalformedEthernet
            | Self::MalformedVlan
            | Self::MalformedIpv4
            | Self::MalformedIpv6 => Verdict::Pass,
            Self::Aborted => Verdict::Aborted,
        }
    }
}

// Adding a reason must not outgrow the map.
const _: () = assert!(StatIndex::ALL.len() <= XDP_STATS_ENTRIES as usize);

#[cfg(feature = "user")]
mod pod {
    #[allow(unsafe_code, reason = "aya::Pod is an unsafe marker trait")]
    // SAFETY: `Counter` is `#[repr(C)]`, made of two `u64`s with no padding, and every bit
    // pattern is a valid value.
    unsafe impl aya::Pod for super::Counter {}
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
