use super::*;

impl Packet for &[u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }

    fn load<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        self.get(offset..offset.checked_add(N)?)?.try_into().ok()
    }
}

fn eth(ethertype: u16) -> Vec<u8> {
    let mut frame = vec![0xaa; 12];
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame
}

fn vlan(frame: &mut Vec<u8>, inner: u16) {
    frame.extend_from_slice(&[0x00, 0x2a]);
    frame.extend_from_slice(&inner.to_be_bytes());
}

fn ipv4_header(total_len: u16) -> Vec<u8> {
    let mut h = vec![
        0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 253, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    h[2..4].copy_from_slice(&total_len.to_be_bytes());
    h
}

fn ipv6_header(payload_len: u16) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0, 0, 0, 59, 64];
    h[4..6].copy_from_slice(&payload_len.to_be_bytes());
    h.extend_from_slice(&[0; 32]);
    h
}

fn classify_bytes(frame: &[u8]) -> StatIndex {
    classify(&frame)
}

#[test]
fn ipv4_frame_passes() {
    let mut frame = eth(ETH_P_IP);
    frame.extend(ipv4_header(20));
    assert_eq!(classify_bytes(&frame), StatIndex::PassIpv4);
}

#[test]
fn ipv4_with_ethernet_padding_passes() {
    let mut frame = eth(ETH_P_IP);
    frame.extend(ipv4_header(20));
    frame.resize(60, 0);
    assert_eq!(classify_bytes(&frame), StatIndex::PassIpv4);
}

#[test]
fn ipv4_malformations_are_counted() {
    type Mangle = fn(&mut Vec<u8>);
    let cases: [(&str, Mangle); 5] = [
        ("truncated header", |f| f.truncate(14 + 3)),
        ("wrong version", |f| f[14] = 0x65),
        ("ihl below 5", |f| f[14] = 0x44),
        ("total length past frame", |f| {
            f[16..18].copy_from_slice(&21u16.to_be_bytes())
        }),
        ("total length below ihl", |f| {
            f[16..18].copy_from_slice(&19u16.to_be_bytes())
        }),
    ];
    for (what, mangle) in cases {
        let mut frame = eth(ETH_P_IP);
        frame.extend(ipv4_header(20));
        mangle(&mut frame);
        assert_eq!(classify_bytes(&frame), StatIndex::MalformedIpv4, "{what}");
    }
}

#[test]
fn ipv4_options_must_fit() {
    let mut frame = eth(ETH_P_IP);
    let mut header = ipv4_header(24);
    header[0] = 0x46;
    frame.extend(header);
    assert_eq!(classify_bytes(&frame), StatIndex::MalformedIpv4);
    frame.extend_from_slice(&[1, 1, 1, 0]);
    assert_eq!(classify_bytes(&frame), StatIndex::PassIpv4);
}

#[test]
fn ipv6_frame_passes_and_malformations_are_counted() {
    let mut frame = eth(ETH_P_IPV6);
    frame.extend(ipv6_header(4));
    frame.extend_from_slice(&[0; 4]);
    assert_eq!(classify_bytes(&frame), StatIndex::PassIpv6);

    let mut short = frame.clone();
    short.pop();
    assert_eq!(classify_bytes(&short), StatIndex::MalformedIpv6);

    let mut v4_in_v6 = frame.clone();
    v4_in_v6[14] = 0x40;
    assert_eq!(classify_bytes(&v4_in_v6), StatIndex::MalformedIpv6);

    assert_eq!(classify_bytes(&frame[..14 + 39]), StatIndex::MalformedIpv6);
}

#[test]
fn vlan_and_qinq_are_skipped() {
    let mut frame = eth(ETH_P_8021Q);
    vlan(&mut frame, ETH_P_IP);
    frame.extend(ipv4_header(20));
    assert_eq!(classify_bytes(&frame), StatIndex::PassIpv4);

    let mut qinq = eth(ETH_P_8021AD);
    vlan(&mut qinq, ETH_P_8021Q);
    vlan(&mut qinq, ETH_P_IPV6);
    qinq.extend(ipv6_header(0));
    assert_eq!(
        ethernet(&qinq.as_slice()),
        Ok(L2 {
            ethertype: ETH_P_IPV6,
            l3_offset: 22
        })
    );
    assert_eq!(classify_bytes(&qinq), StatIndex::PassIpv6);
}

#[test]
fn vlan_malformations_are_counted() {
    let mut cut = eth(ETH_P_8021Q);
    cut.extend_from_slice(&[0, 1, 8]);
    assert_eq!(classify_bytes(&cut), StatIndex::MalformedVlan);

    let mut three_tags = eth(ETH_P_8021AD);
    vlan(&mut three_tags, ETH_P_8021Q);
    vlan(&mut three_tags, ETH_P_8021Q);
    vlan(&mut three_tags, ETH_P_IP);
    three_tags.extend(ipv4_header(20));
    assert_eq!(classify_bytes(&three_tags), StatIndex::MalformedVlan);
}

#[test]
fn short_and_non_ip_frames() {
    assert_eq!(classify_bytes(&[]), StatIndex::MalformedEthernet);
    assert_eq!(classify_bytes(&[0; 13]), StatIndex::MalformedEthernet);
    let mut arp = eth(0x0806);
    arp.extend_from_slice(&[0; 28]);
    assert_eq!(classify_bytes(&arp), StatIndex::PassOther);
}

fn tcp_header(dst_port: u16, flags: u8, words: u8) -> Vec<u8> {
    let mut h = vec![0; 20];
    h[0..2].copy_from_slice(&40000u16.to_be_bytes());
    h[2..4].copy_from_slice(&dst_port.to_be_bytes());
    h[12] = words << 4;
    h[13] = flags;
    h
}

fn ipv4_tcp(tcp: &[u8]) -> Vec<u8> {
    let mut frame = eth(ETH_P_IP);
    let mut ip = ipv4_header(20 + tcp.len() as u16);
    ip[9] = 6;
    frame.extend(ip);
    frame.extend_from_slice(tcp);
    frame
}

#[test]
fn tcp_header_after_ipv4_options() {
    let mut frame = eth(ETH_P_IP);
    let mut ip = ipv4_header(24 + 20);
    ip[0] = 0x46;
    ip[9] = 6;
    frame.extend(ip);
    frame.extend_from_slice(&[1, 1, 1, 0]);
    frame.extend(tcp_header(443, tcp_flags::SYN, 5));
    let h = headers(&frame.as_slice()).unwrap();
    assert_eq!(h.family, 4);
    assert_eq!(&h.src[..4], &[10, 0, 0, 1]);
    assert_eq!(
        (h.l4, h.dst_port, h.tcp_flags, h.tcp_offset_ok),
        (L4::Tcp, 443, tcp_flags::SYN, true)
    );
}

#[test]
fn tcp_data_offset_and_truncation() {
    let frame = ipv4_tcp(&tcp_header(80, tcp_flags::ACK, 4));
    let h = headers(&frame.as_slice()).unwrap();
    assert_eq!(h.l4, L4::Tcp);
    assert!(!h.tcp_offset_ok);
    let frame = ipv4_tcp(&tcp_header(80, tcp_flags::ACK, 6));
    let h = headers(&frame.as_slice()).unwrap();
    assert!(!h.tcp_offset_ok, "options past the datagram");
    let frame = ipv4_tcp(&tcp_header(80, tcp_flags::ACK, 5)[..19]);
    assert_eq!(classify_bytes(&frame), StatIndex::MalformedTcp);
    let frame = ipv4_tcp(&tcp_header(80, tcp_flags::ACK, 5));
    assert_eq!(classify_bytes(&frame), StatIndex::PassIpv4);
}

#[test]
fn ipv4_fragments() {
    let mut first = ipv4_tcp(&tcp_header(443, tcp_flags::SYN, 5)[..8]);
    first[14 + 6] = 0x20; // MF
    let h = headers(&first.as_slice()).unwrap();
    assert_eq!(h.fragment, Fragment::First);
    assert_eq!(
        (h.l4, h.port_known, h.dst_port),
        (L4::TcpFragment, true, 443)
    );
    let mut later = first.clone();
    later[14 + 6..14 + 8].copy_from_slice(&[0, 3]);
    let h = headers(&later.as_slice()).unwrap();
    assert_eq!(h.fragment, Fragment::Later);
    assert_eq!((h.l4, h.port_known), (L4::TcpFragment, false));
}

fn ipv6_with(ext: &[u8], first_next: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = eth(ETH_P_IPV6);
    let mut ip = ipv6_header((ext.len() + payload.len()) as u16);
    ip[6] = first_next;
    frame.extend(ip);
    frame.extend_from_slice(ext);
    frame.extend_from_slice(payload);
    frame
}

#[test]
fn ipv6_extension_headers_are_walked() {
    // hop-by-hop (8 bytes) -> destination options (16 bytes) -> TCP.
    let mut ext = vec![60, 0, 1, 4, 0, 0, 0, 0];
    ext.extend_from_slice(&[6, 1]);
    ext.extend_from_slice(&[0; 14]);
    let frame = ipv6_with(&ext, 0, &tcp_header(443, tcp_flags::SYN, 5));
    let h = headers(&frame.as_slice()).unwrap();
    assert_eq!(h.family, 6);
    assert_eq!((h.l4, h.dst_port), (L4::Tcp, 443));

    // Fragment header, first fragment then a later one.
    let frag = [6, 0, 0, 1, 0, 0, 0, 7];
    let frame = ipv6_with(&frag, 44, &tcp_header(443, tcp_flags::SYN, 5));
    let h = headers(&frame.as_slice()).unwrap();
    assert_eq!(
        (h.fragment, h.l4, h.dst_port),
        (Fragment::First, L4::TcpFragment, 443)
    );
    let frag = [6, 0, 0, 0x10, 0, 0, 0, 7];
    let frame = ipv6_with(&frag, 44, &[0; 16]);
    assert_eq!(
        headers(&frame.as_slice()).unwrap().fragment,
        Fragment::Later
    );

    // Cut short, or past the payload length, or too many headers.
    let frame = ipv6_with(&[6], 0, &[]);
    assert_eq!(classify_bytes(&frame), StatIndex::MalformedIpv6Ext);
    let frame = ipv6_with(&[6, 3, 0, 0, 0, 0, 0, 0], 0, &[]);
    assert_eq!(classify_bytes(&frame), StatIndex::MalformedIpv6Ext);
    let mut chain = Vec::new();
    for _ in 0..5 {
        chain.extend_from_slice(&[60, 0, 0, 0, 0, 0, 0, 0]);
    }
    let frame = ipv6_with(&chain, 60, &[]);
    assert_eq!(classify_bytes(&frame), StatIndex::MalformedIpv6Ext);
}

#[test]
fn udp_length_is_checked() {
    let udp = |len: u16| {
        let mut h = vec![0, 53, 0, 53, 0, 0, 0, 0];
        h[4..6].copy_from_slice(&len.to_be_bytes());
        h
    };
    let frame = ipv6_with(&[], 17, &udp(8));
    assert_eq!(classify_bytes(&frame), StatIndex::PassIpv6);
    let frame = ipv6_with(&[], 17, &udp(9));
    assert_eq!(classify_bytes(&frame), StatIndex::MalformedUdp);
    let frame = ipv6_with(&[], 17, &udp(7));
    assert_eq!(classify_bytes(&frame), StatIndex::MalformedUdp);
    let frame = ipv6_with(&[], 17, &udp(8)[..6]);
    assert_eq!(classify_bytes(&frame), StatIndex::MalformedUdp);
}

#[test]
fn tcp_flag_combinations() {
    use tcp_flags::*;
    for good in [SYN, SYN | ACK, ACK, ACK | PSH, FIN | ACK, RST, RST | ACK] {
        assert!(!bad_tcp_flags(good), "{good:#x}");
    }
    for bad in [
        0,
        SYN | FIN,
        SYN | RST,
        FIN,
        FIN | PSH | URG,
        FIN | PSH | URG | ACK,
    ] {
        assert!(bad_tcp_flags(bad), "{bad:#x}");
    }
    assert!(is_syn(SYN) && !is_syn(SYN | ACK));
}
