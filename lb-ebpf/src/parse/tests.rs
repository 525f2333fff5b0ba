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
        0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    h[2..4].copy_from_slice(&total_len.to_be_bytes());
    h
}

fn ipv6_header(payload_len: u16) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0, 0, 0, 6, 64];
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
