//! Header parsing: Ethernet with up to two VLAN tags, then IPv4 or IPv6.
//!
//! Sans-I/O: the parsers read through [`Packet`], which the XDP program implements over its
//! frame and the unit tests implement over a byte slice. Every helper is `#[inline(always)]`
//! so that the verifier sees constant offsets after each bounds check.

use lb_common::StatIndex;

/// EtherType of IPv4.
pub const ETH_P_IP: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETH_P_IPV6: u16 = 0x86dd;
/// EtherType of an 802.1Q VLAN tag.
pub const ETH_P_8021Q: u16 = 0x8100;
/// EtherType of an 802.1ad (QinQ) service tag.
pub const ETH_P_8021AD: u16 = 0x88a8;

const ETH_HLEN: usize = 14;
const VLAN_HLEN: usize = 4;
/// QinQ: a service tag and a customer tag.
const MAX_VLAN_TAGS: usize = 2;
const IPV4_MIN_HLEN: usize = 20;
const IPV6_HLEN: usize = 40;

/// Read access to the bytes of one frame.
pub trait Packet {
    /// Length of the frame in bytes.
    fn len(&self) -> usize;
    /// The `N` bytes at `offset`, or `None` when they run past the end of the frame.
    fn load<const N: usize>(&self, offset: usize) -> Option<[u8; N]>;
}

/// The link layer of a frame: what follows it and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L2 {
    /// EtherType after the VLAN tags.
    pub ethertype: u16,
    /// Offset of the network header.
    pub l3_offset: usize,
}

/// The reason to count `packet` under: well-formed IPv4/IPv6/other, or what was malformed.
#[inline(always)]
pub fn classify<P: Packet>(packet: &P) -> StatIndex {
    let l2 = match ethernet(packet) {
        Ok(l2) => l2,
        Err(reason) => return reason,
    };
    let checked = match l2.ethertype {
        ETH_P_IP => ipv4(packet, l2.l3_offset).map(|()| StatIndex::PassIpv4),
        ETH_P_IPV6 => ipv6(packet, l2.l3_offset).map(|()| StatIndex::PassIpv6),
        _ => Ok(StatIndex::PassOther),
    };
    match checked {
        Ok(reason) | Err(reason) => reason,
    }
}

/// Parses the Ethernet header and up to [`MAX_VLAN_TAGS`] VLAN tags.
#[inline(always)]
pub fn ethernet<P: Packet>(packet: &P) -> Result<L2, StatIndex> {
    let [hi, lo] = packet
        .load::<2>(ETH_HLEN - 2)
        .ok_or(StatIndex::MalformedEthernet)?;
    let mut ethertype = u16::from_be_bytes([hi, lo]);
    let mut offset = ETH_HLEN;
    for _ in 0..MAX_VLAN_TAGS {
        if !is_vlan(ethertype) {
            break;
        }
        let [_, _, hi, lo] = packet
            .load::<VLAN_HLEN>(offset)
            .ok_or(StatIndex::MalformedVlan)?;
        ethertype = u16::from_be_bytes([hi, lo]);
        offset += VLAN_HLEN;
    }
    if is_vlan(ethertype) {
        return Err(StatIndex::MalformedVlan);
    }
    Ok(L2 {
        ethertype,
        l3_offset: offset,
    })
}

#[inline(always)]
fn is_vlan(ethertype: u16) -> bool {
    ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD
}

/// Checks the IPv4 header at `offset`: version, IHL, and a total length that fits the frame.
#[inline(always)]
pub fn ipv4<P: Packet>(packet: &P, offset: usize) -> Result<(), StatIndex> {
    let [version_ihl, _tos, len_hi, len_lo] =
        packet.load::<4>(offset).ok_or(StatIndex::MalformedIpv4)?;
    let header_len = usize::from(version_ihl & 0x0f) * 4;
    let total_len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
    // Frames may carry padding after the datagram (Ethernet minimum size), never less.
    let available = packet.len().saturating_sub(offset);
    if version_ihl >> 4 != 4
        || header_len < IPV4_MIN_HLEN
        || total_len < header_len
        || total_len > available
    {
        return Err(StatIndex::MalformedIpv4);
    }
    Ok(())
}

/// Checks the IPv6 header at `offset`: version, and a payload length that fits the frame.
#[inline(always)]
pub fn ipv6<P: Packet>(packet: &P, offset: usize) -> Result<(), StatIndex> {
    let [version_class, _, _, _, len_hi, len_lo] =
        packet.load::<6>(offset).ok_or(StatIndex::MalformedIpv6)?;
    let payload_len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
    let available = packet.len().saturating_sub(offset);
    // A zero payload length announces a jumbogram, whose length is in a hop-by-hop option.
    if version_class >> 4 != 6 || IPV6_HLEN + payload_len > available {
        return Err(StatIndex::MalformedIpv6);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
