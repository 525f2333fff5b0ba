//! Raw frames for the fixtures: Ethernet (+VLAN), IPv4 (+options, fragments), IPv6 (+extension
//! headers), TCP, UDP.

use std::net::{Ipv4Addr, Ipv6Addr};

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;
pub const URG: u8 = 0x20;

pub const TCP: u8 = 6;
pub const UDP: u8 = 17;

/// Ethernet header with the VLAN tags `vlans` (outer first; two tags: QinQ), then
/// `ethertype`.
pub fn eth(ethertype: u16, vlans: &[u16]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    for (i, vid) in vlans.iter().enumerate() {
        let tpid: u16 = if i == 0 && vlans.len() == 2 {
            0x88a8
        } else {
            0x8100
        };
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&vid.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

/// A TCP header to `dst_port` with `flags`, a data offset of `words` and `options` after the
/// fixed part (the offset is not derived from them, so tests can lie).
pub fn tcp(dst_port: u16, flags: u8, words: u8, options: &[u8]) -> Vec<u8> {
    let mut h = vec![0; 20];
    h[0..2].copy_from_slice(&40_000u16.to_be_bytes());
    h[2..4].copy_from_slice(&dst_port.to_be_bytes());
    h[12] = words << 4;
    h[13] = flags;
    h[14..16].copy_from_slice(&65_535u16.to_be_bytes());
    h.extend_from_slice(options);
    h
}

/// A plain TCP segment with `flags` to `dst_port`.
pub fn seg(dst_port: u16, flags: u8) -> Vec<u8> {
    tcp(dst_port, flags, 5, &[])
}

/// A UDP datagram to `dst_port` with `payload`; `len` overrides the length field.
pub fn udp(dst_port: u16, payload: &[u8], len: Option<u16>) -> Vec<u8> {
    let mut h = vec![0; 8];
    h[0..2].copy_from_slice(&5353u16.to_be_bytes());
    h[2..4].copy_from_slice(&dst_port.to_be_bytes());
    let real = u16::try_from(8 + payload.len()).unwrap();
    h[4..6].copy_from_slice(&len.unwrap_or(real).to_be_bytes());
    h.extend_from_slice(payload);
    h
}

/// IPv4 builder.
#[derive(Clone)]
pub struct V4 {
    pub src: Ipv4Addr,
    pub proto: u8,
    pub options: Vec<u8>,
    /// The flags/fragment-offset field.
    pub frag: u16,
    pub vlans: Vec<u16>,
}

impl V4 {
    pub fn from(src: &str) -> Self {
        Self {
            src: src.parse().unwrap(),
            proto: TCP,
            options: Vec::new(),
            frag: 0x4000,
            vlans: Vec::new(),
        }
    }

    pub fn proto(mut self, proto: u8) -> Self {
        self.proto = proto;
        self
    }

    pub fn options(mut self, options: &[u8]) -> Self {
        self.options = options.to_vec();
        self
    }

    pub fn frag(mut self, frag: u16) -> Self {
        self.frag = frag;
        self
    }

    pub fn vlans(mut self, vlans: &[u16]) -> Self {
        self.vlans = vlans.to_vec();
        self
    }

    /// The whole frame around `payload`.
    pub fn frame(&self, payload: &[u8]) -> Vec<u8> {
        let ihl = 5 + self.options.len() / 4;
        let mut h = vec![0u8; 20];
        h[0] = 0x40 | u8::try_from(ihl).unwrap();
        let total = u16::try_from(ihl * 4 + payload.len()).unwrap();
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[6..8].copy_from_slice(&self.frag.to_be_bytes());
        h[8] = 64;
        h[9] = self.proto;
        h[12..16].copy_from_slice(&self.src.octets());
        h[16..20].copy_from_slice(&[192, 0, 2, 1]);
        let mut f = eth(0x0800, &self.vlans);
        f.extend(h);
        f.extend_from_slice(&self.options);
        f.extend_from_slice(payload);
        f
    }
}

/// IPv6 builder.
#[derive(Clone)]
pub struct V6 {
    pub src: Ipv6Addr,
    /// Extension headers as (protocol number, bytes), in order.
    pub ext: Vec<(u8, Vec<u8>)>,
    pub proto: u8,
    pub vlans: Vec<u16>,
}

impl V6 {
    pub fn from(src: &str) -> Self {
        Self {
            src: src.parse().unwrap(),
            ext: Vec::new(),
            proto: TCP,
            vlans: Vec::new(),
        }
    }

    pub fn proto(mut self, proto: u8) -> Self {
        self.proto = proto;
        self
    }

    /// Appends an extension header of `kind` (0, 43, 60: options of `len8` 8-byte units
    /// beyond the first; 44: fragment with `frag` as offset/M field).
    pub fn ext(mut self, kind: u8, len8: u8, frag: u16) -> Self {
        let bytes = if kind == 44 {
            let mut b = vec![0, 0, 0, 0, 0, 0, 0, 9];
            b[2..4].copy_from_slice(&frag.to_be_bytes());
            b
        } else {
            let mut b = vec![0u8; (usize::from(len8) + 1) * 8];
            b[1] = len8;
            // PadN option filling the rest of the header.
            b[2] = 1;
            b[3] = u8::try_from(b.len() - 4).unwrap();
            b
        };
        self.ext.push((kind, bytes));
        self
    }

    pub fn vlans(mut self, vlans: &[u16]) -> Self {
        self.vlans = vlans.to_vec();
        self
    }

    pub fn frame(&self, payload: &[u8]) -> Vec<u8> {
        let mut chain = Vec::new();
        for (i, (_, bytes)) in self.ext.iter().enumerate() {
            let mut b = bytes.clone();
            b[0] = self.ext.get(i + 1).map_or(self.proto, |(k, _)| *k);
            chain.extend(b);
        }
        let first = self.ext.first().map_or(self.proto, |(k, _)| *k);
        let mut h = vec![0u8; 40];
        h[0] = 0x60;
        let plen = u16::try_from(chain.len() + payload.len()).unwrap();
        h[4..6].copy_from_slice(&plen.to_be_bytes());
        h[6] = first;
        h[7] = 64;
        h[8..24].copy_from_slice(&self.src.octets());
        h[24..40].copy_from_slice(&"2001:db8:ffff::1".parse::<Ipv6Addr>().unwrap().octets());
        let mut f = eth(0x86dd, &self.vlans);
        f.extend(h);
        f.extend(chain);
        f.extend_from_slice(payload);
        f
    }
}
