//! Header parsing: Ethernet with up to two VLAN tags, IPv4 (with options) or IPv6 (with its
//! common extension headers), then TCP or UDP.
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

/// Where a datagram sits in its fragment series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fragment {
    /// A whole datagram.
    No,
    /// The first fragment: it carries the transport header (or part of it).
    First,
    /// A later fragment: no transport header, so no port.
    Later,
}

/// What the transport layer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4 {
    /// A complete TCP header: [`Headers::dst_port`], [`Headers::tcp_flags`] and
    /// [`Headers::tcp_offset_ok`] are set.
    Tcp,
    /// A TCP fragment: [`Headers::dst_port`] is set when [`Headers::port_known`].
    TcpFragment,
    /// A UDP datagram with a consistent header, or a UDP fragment.
    Udp,
    /// Any other protocol, or no network layer we parse.
    Other,
}

/// The headers of a frame that the guard needs.
///
/// Plain fields only, all always initialized: enums with payloads leave undefined bytes
/// that LLVM may copy through registers, which the verifier rejects (`R0 !read_ok`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Headers {
    /// 4, 6, or 0 for a frame that is neither IPv4 nor IPv6.
    pub family: u8,
    /// Source address (IPv4: the first 4 bytes).
    pub src: [u8; 16],
    /// Fragment position.
    pub fragment: Fragment,
    /// Transport layer.
    pub l4: L4,
    /// TCP destination port (0 when not known).
    pub dst_port: u16,
    /// Whether [`Self::dst_port`] was read from the packet.
    pub port_known: bool,
    /// TCP flags byte (CWR ECE URG ACK PSH RST SYN FIN).
    pub tcp_flags: u8,
    /// TCP data offset of at least 5 words, with the header within the datagram.
    pub tcp_offset_ok: bool,
    /// The transport header is malformed ([`Self::l4_error`] says how); the network layer is
    /// fine, so the source lists still apply.
    pub l4_malformed: bool,
    /// Why the transport header is malformed, when [`Self::l4_malformed`].
    pub l4_error: StatIndex,
}

impl Headers {
    #[inline(always)]
    const fn new(family: u8, src: [u8; 16], fragment: Fragment) -> Self {
        Self {
            family,
            src,
            fragment,
            l4: L4::Other,
            dst_port: 0,
            port_known: false,
            tcp_flags: 0,
            tcp_offset_ok: false,
            l4_malformed: false,
            l4_error: StatIndex::PassOther,
        }
    }
}

/// Parses a frame down to the transport header, or says what was malformed.
#[inline(always)]
pub fn headers<P: Packet>(packet: &P) -> Result<Headers, StatIndex> {
    let l2 = ethernet(packet)?;
    let ip = match l2.ethertype {
        ETH_P_IP => ipv4(packet, l2.l3_offset)?,
        ETH_P_IPV6 => ipv6(packet, l2.l3_offset)?,
        _ => return Ok(Headers::new(0, [0; 16], Fragment::No)),
    };
    let mut h = Headers::new(ip.family, ip.src, ip.fragment);
    if let Err(reason) = transport(packet, &ip, &mut h) {
        h.l4_malformed = true;
        h.l4_error = reason;
    }
    Ok(h)
}

/// The reason a frame is counted under when nothing but its headers decides.
#[cfg(test)]
pub fn classify<P: Packet>(packet: &P) -> StatIndex {
    match headers(packet) {
        Ok(h) if h.l4_malformed => h.l4_error,
        Ok(h) => pass_reason(h.family),
        Err(reason) => reason,
    }
}

/// The pass reason of a well-formed frame of `family`.
#[inline(always)]
pub const fn pass_reason(family: u8) -> StatIndex {
    match family {
        4 => StatIndex::PassIpv4,
        6 => StatIndex::PassIpv6,
        _ => StatIndex::PassOther,
    }
}

/// The network layer: addresses, fragment position, and where the transport header is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ip {
    /// 4 or 6.
    pub family: u8,
    /// Source address (IPv4: the first 4 bytes).
    pub src: [u8; 16],
    /// Transport protocol (after IPv6 extension headers).
    pub proto: u8,
    /// Fragment position.
    pub fragment: Fragment,
    /// Offset of the transport header.
    pub l4_offset: usize,
    /// Offset just past the datagram (frames may carry padding after it).
    pub end: usize,
}

/// TCP flag bits.
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
}

/// Whether `flags` is a combination no TCP stack sends: SYN+FIN, SYN+RST, FIN without ACK,
/// no flag at all, or XMAS (FIN+PSH+URG).
#[inline(always)]
pub const fn bad_tcp_flags(flags: u8) -> bool {
    use tcp_flags::{ACK, FIN, PSH, RST, SYN, URG};
    let f = flags & 0x3f;
    f == 0
        || f & (SYN | FIN) == SYN | FIN
        || f & (SYN | RST) == SYN | RST
        || f & (FIN | ACK) == FIN
        || f & (FIN | PSH | URG) == FIN | PSH | URG
}

/// Whether `flags` opens a connection (SYN without ACK).
#[inline(always)]
pub const fn is_syn(flags: u8) -> bool {
    flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN
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

const IPPROTO_HOPOPTS: u8 = 0;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ROUTING: u8 = 43;
const IPPROTO_FRAGMENT: u8 = 44;
const IPPROTO_DSTOPTS: u8 = 60;
/// Extension headers walked before giving up (Cilium walks 4 too).
const MAX_IPV6_EXT: usize = 4;
const TCP_MIN_HLEN: usize = 20;
const UDP_HLEN: usize = 8;

/// Parses the IPv4 header at `offset`, options included: version, IHL, a total length that
/// fits the frame and covers the header, source, protocol and fragment position.
///
/// Options are skipped by IHL, not walked: a bounded walk over up to 40 option bytes makes the
/// verifier explore every combination of option lengths for the rest of the program (over its
/// million-instruction budget). The kernel's IP layer validates them when it passes the packet.
#[inline(always)]
pub fn ipv4<P: Packet>(packet: &P, offset: usize) -> Result<Ip, StatIndex> {
    let h = packet
        .load::<IPV4_MIN_HLEN>(offset)
        .ok_or(StatIndex::MalformedIpv4)?;
    let version_ihl = h[0];
    let header_len = usize::from(version_ihl & 0x0f) * 4;
    let total_len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    // Frames may carry padding after the datagram (Ethernet minimum size), never less.
    let available = packet.len().saturating_sub(offset);
    if version_ihl >> 4 != 4
        || header_len < IPV4_MIN_HLEN
        || total_len < header_len
        || total_len > available
    {
        return Err(StatIndex::MalformedIpv4);
    }
    let frag = u16::from_be_bytes([h[6], h[7]]);
    let more = frag & 0x2000 != 0;
    let frag_offset = frag & 0x1fff;
    let fragment = if frag_offset != 0 {
        Fragment::Later
    } else if more {
        Fragment::First
    } else {
        Fragment::No
    };
    // Spelled out: a zeroed array then a copy into it becomes a call to `memset`.
    let src = [
        h[12], h[13], h[14], h[15], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    Ok(Ip {
        family: 4,
        src,
        proto: h[9],
        fragment,
        l4_offset: offset + header_len,
        end: offset + total_len,
    })
}

/// Parses the IPv6 header at `offset` and walks up to [`MAX_IPV6_EXT`] extension headers
/// (hop-by-hop, routing, fragment, destination options).
#[inline(always)]
pub fn ipv6<P: Packet>(packet: &P, offset: usize) -> Result<Ip, StatIndex> {
    let h = packet
        .load::<IPV6_HLEN>(offset)
        .ok_or(StatIndex::MalformedIpv6)?;
    let payload_len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let available = packet.len().saturating_sub(offset);
    if h[0] >> 4 != 6 || IPV6_HLEN + payload_len > available {
        return Err(StatIndex::MalformedIpv6);
    }
    // A zero payload length announces a jumbogram, whose length is in a hop-by-hop option.
    let end = if payload_len == 0 {
        packet.len()
    } else {
        offset + IPV6_HLEN + payload_len
    };
    let mut src = [0; 16];
    src.copy_from_slice(&h[8..24]);
    let mut proto = h[6];
    let mut l4_offset = offset + IPV6_HLEN;
    let mut fragment = Fragment::No;
    for _ in 0..MAX_IPV6_EXT {
        match proto {
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS => {
                let [next, len] = packet
                    .load::<2>(l4_offset)
                    .ok_or(StatIndex::MalformedIpv6Ext)?;
                proto = next;
                l4_offset += (usize::from(len) + 1) * 8;
            }
            IPPROTO_FRAGMENT => {
                let [next, _, hi, lo] = packet
                    .load::<4>(l4_offset)
                    .ok_or(StatIndex::MalformedIpv6Ext)?;
                let frag = u16::from_be_bytes([hi, lo]);
                fragment = if frag >> 3 != 0 {
                    Fragment::Later
                } else if frag & 1 != 0 {
                    Fragment::First
                } else {
                    // An atomic fragment (RFC 6946): a whole datagram.
                    fragment
                };
                proto = next;
                l4_offset += 8;
            }
            _ => break,
        }
        if l4_offset > end {
            return Err(StatIndex::MalformedIpv6Ext);
        }
    }
    if is_ipv6_ext(proto) {
        return Err(StatIndex::MalformedIpv6Ext);
    }
    Ok(Ip {
        family: 6,
        src,
        proto,
        fragment,
        l4_offset,
        end,
    })
}

#[inline(always)]
const fn is_ipv6_ext(proto: u8) -> bool {
    matches!(
        proto,
        IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_FRAGMENT | IPPROTO_DSTOPTS
    )
}

/// Parses the TCP or UDP header that `ip` announces into `h`.
#[inline(always)]
pub fn transport<P: Packet>(packet: &P, ip: &Ip, h: &mut Headers) -> Result<(), StatIndex> {
    match (ip.proto, ip.fragment) {
        (IPPROTO_TCP, Fragment::No) => {
            if ip.l4_offset + TCP_MIN_HLEN > ip.end {
                return Err(StatIndex::MalformedTcp);
            }
            let t = packet
                .load::<TCP_MIN_HLEN>(ip.l4_offset)
                .ok_or(StatIndex::MalformedTcp)?;
            let data_offset = usize::from(t[12] >> 4) * 4;
            h.l4 = L4::Tcp;
            h.dst_port = u16::from_be_bytes([t[2], t[3]]);
            h.port_known = true;
            h.tcp_flags = t[13];
            h.tcp_offset_ok = data_offset >= TCP_MIN_HLEN && ip.l4_offset + data_offset <= ip.end;
        }
        (IPPROTO_TCP, fragment) => {
            h.l4 = L4::TcpFragment;
            if fragment == Fragment::First
                && ip.l4_offset + 4 <= ip.end
                && let Some([_, _, hi, lo]) = packet.load::<4>(ip.l4_offset)
            {
                h.dst_port = u16::from_be_bytes([hi, lo]);
                h.port_known = true;
            }
        }
        (IPPROTO_UDP, Fragment::No) => {
            udp(packet, ip)?;
            h.l4 = L4::Udp;
        }
        (IPPROTO_UDP, _) => h.l4 = L4::Udp,
        _ => {}
    }
    Ok(())
}

/// Checks the UDP header: present, and a length between 8 and the datagram's.
#[inline(always)]
pub fn udp<P: Packet>(packet: &P, ip: &Ip) -> Result<(), StatIndex> {
    if ip.l4_offset + UDP_HLEN > ip.end {
        return Err(StatIndex::MalformedUdp);
    }
    let [_, _, _, _, hi, lo, _, _] = packet
        .load::<UDP_HLEN>(ip.l4_offset)
        .ok_or(StatIndex::MalformedUdp)?;
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if len < UDP_HLEN || ip.l4_offset + len > ip.end {
        return Err(StatIndex::MalformedUdp);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
