use super::*;
use crate::proxy_protocol::{RawTlv, kind, parse as parse_any};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A header built by hand: signature, ver/cmd, family, then `block` with its length.
fn raw(ver_cmd: u8, fam: u8, block: &[u8]) -> Vec<u8> {
    let len = u16::try_from(block.len()).unwrap().to_be_bytes();
    [&SIGNATURE[..], &[ver_cmd, fam, len[0], len[1]], block].concat()
}

fn done(bytes: &[u8]) -> (Header, usize) {
    match parse_any(bytes) {
        Parse::Done { header, consumed } => {
            assert_eq!(header.version, Version::V2);
            (header, consumed)
        }
        other => panic!("{bytes:02x?}: {other:?}"),
    }
}

fn err(bytes: &[u8]) -> ParseError {
    match parse_any(bytes) {
        Parse::Error(e) => e,
        other => panic!("{bytes:02x?}: {other:?}"),
    }
}

const TCP4_BLOCK: [u8; 12] = [192, 0, 2, 1, 198, 51, 100, 7, 0x9C, 0x40, 0x01, 0xBB];

#[test]
fn tcp_and_udp_over_ip() {
    let bytes = [raw(0x21, 0x11, &TCP4_BLOCK), b"body".to_vec()].concat();
    let (h, consumed) = done(&bytes);
    assert_eq!(consumed, 28);
    assert_eq!(h.command, Command::Proxy);
    assert_eq!(
        h.client_addrs(),
        Some((addr("192.0.2.1:40000"), addr("198.51.100.7:443")))
    );
    assert!(h.tlvs.is_empty());

    let (udp, _) = done(&raw(0x21, 0x12, &TCP4_BLOCK));
    assert_eq!(
        udp.addresses,
        Addresses::Inet {
            transport: Transport::Dgram,
            src: addr("192.0.2.1:40000"),
            dst: addr("198.51.100.7:443"),
        }
    );
    assert_eq!(udp.client_addrs(), None, "only TCP replaces the addresses");

    let mut block6 = [0u8; 36];
    block6[15] = 1;
    block6[16] = 0x20;
    block6[17] = 0x01;
    block6[31] = 2;
    block6[32..].copy_from_slice(&[0, 80, 1, 0]);
    let (h6, consumed) = done(&raw(0x21, 0x21, &block6));
    assert_eq!(consumed, 52);
    assert_eq!(
        h6.client_addrs(),
        Some((addr("[::1]:80"), addr("[2001::2]:256")))
    );
    let (u6, _) = done(&raw(0x21, 0x22, &block6));
    assert!(matches!(
        u6.addresses,
        Addresses::Inet {
            transport: Transport::Dgram,
            ..
        }
    ));
}

#[test]
fn unix_addresses() {
    let mut block = vec![0u8; 216];
    block[..9].copy_from_slice(b"/run/a.so");
    block[108..116].copy_from_slice(b"/run/lb\0");
    for (fam, transport) in [(0x31, Transport::Stream), (0x32, Transport::Dgram)] {
        let (h, consumed) = done(&raw(0x21, fam, &block));
        assert_eq!(consumed, 232);
        match &h.addresses {
            Addresses::Unix {
                transport: t,
                src,
                dst,
            } => {
                assert_eq!(
                    (*t, src.path(), dst.path()),
                    (transport, &b"/run/a.so"[..], &b"/run/lb"[..])
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(h.client_addrs(), None);
        assert_eq!(h.encode().unwrap(), raw(0x21, fam, &block));
    }
}

#[test]
fn local_and_unspec_keep_the_real_addresses() {
    let (local, n) = done(&raw(0x20, 0x00, &[]));
    assert_eq!(
        (local.command, local.addresses.clone(), n),
        (Command::Local, Addresses::Unspec, 16)
    );
    assert_eq!(local.client_addrs(), None);
    // LOCAL ignores the family and whatever the block holds.
    let (odd, n) = done(&raw(0x20, 0xFF, &[1, 2, 3]));
    assert_eq!(
        (odd.command, odd.addresses, odd.tlvs.len(), n),
        (Command::Local, Addresses::Unspec, 0, 19)
    );
    // PROXY with an UNSPEC family or transport falls back to UNSPEC, block skipped.
    for fam in [0x00, 0x10, 0x20, 0x30, 0x01, 0x02] {
        let (h, n) = done(&raw(0x21, fam, &[9; 7]));
        assert_eq!(
            (h.command, h.addresses, n),
            (Command::Proxy, Addresses::Unspec, 23),
            "{fam:#x}"
        );
    }
}

#[test]
fn every_error() {
    use ParseError as E;
    assert_eq!(err(&raw(0x11, 0x11, &TCP4_BLOCK)), E::V2BadVersion(1));
    assert_eq!(err(&raw(0x31, 0x11, &TCP4_BLOCK)), E::V2BadVersion(3));
    assert_eq!(err(&raw(0x22, 0x11, &TCP4_BLOCK)), E::V2BadCommand(2));
    assert_eq!(err(&raw(0x2F, 0x11, &TCP4_BLOCK)), E::V2BadCommand(15));
    assert_eq!(err(&raw(0x21, 0x41, &TCP4_BLOCK)), E::V2BadFamily(0x41));
    assert_eq!(err(&raw(0x21, 0x13, &TCP4_BLOCK)), E::V2BadTransport(0x13));
    assert_eq!(
        err(&raw(0x21, 0x11, &TCP4_BLOCK[..11])),
        E::V2AddressTooShort {
            family: 0x11,
            len: 11,
            needed: 12
        }
    );
    assert_eq!(
        err(&raw(0x21, 0x21, &[0; 12])),
        E::V2AddressTooShort {
            family: 0x21,
            len: 12,
            needed: 36
        }
    );
    assert_eq!(
        err(&raw(0x21, 0x31, &[0; 215])),
        E::V2AddressTooShort {
            family: 0x31,
            len: 215,
            needed: 216
        }
    );
    let tlv = |extra: &[u8]| raw(0x21, 0x11, &[&TCP4_BLOCK[..], extra].concat());
    assert_eq!(err(&tlv(&[kind::ALPN, 0])), E::V2TlvOverflow);
    assert_eq!(err(&tlv(&[kind::ALPN, 0, 3, b'h', b'2'])), E::V2TlvOverflow);
    assert_eq!(err(&tlv(&[kind::CRC32C, 0, 2, 0, 0])), E::V2Crc32cLength(2));
    // A bad signature byte anywhere in the first 12.
    for i in 0..12 {
        let mut bytes = raw(0x21, 0x11, &TCP4_BLOCK);
        bytes[i] ^= 0x40;
        assert_eq!(err(&bytes), E::NotProxyHeader, "byte {i}");
    }
    // Errors in the fixed part are reported before the block arrives.
    assert_eq!(
        err(&raw(0x21, 0x13, &TCP4_BLOCK)[..16]),
        E::V2BadTransport(0x13)
    );
}

#[test]
fn crc32c_is_checked() {
    let tlvs = [Tlv::Crc32c(0), Tlv::Alpn(b"h2".to_vec())];
    let bytes = encode_v2_with(Some(addr("10.1.2.3:4")), Some(addr("10.5.6.7:8")), &tlvs).unwrap();
    let (h, _) = done(&bytes);
    let Some(Tlv::Crc32c(sum)) = h.tlvs.first() else {
        panic!("{h:?}")
    };
    // Recompute independently: the header with the 4 CRC bytes zeroed.
    let mut zeroed = bytes.clone();
    zeroed[31..35].fill(0);
    assert_eq!(*sum, crate::proxy_protocol::crc32c(&zeroed));
    assert_eq!(bytes[28..31], [kind::CRC32C, 0, 4]);
    // Any flipped bit in the addresses or another TLV's value.
    for i in (16..28).chain(38..40) {
        let mut bad = bytes.clone();
        bad[i] ^= 1;
        assert!(
            matches!(err(&bad), ParseError::V2Crc32cMismatch { .. }),
            "byte {i}"
        );
    }
    let twice = [&bytes[16..], &bytes[28..35]].concat();
    assert_eq!(err(&raw(0x21, 0x11, &twice)), ParseError::V2DuplicateCrc32c);
}

#[test]
fn truncated_at_every_length() {
    let tlvs = [
        Tlv::Crc32c(0),
        Tlv::UniqueId(b"id".to_vec()),
        Tlv::Ssl(SslTlvFixture::tls13()),
    ];
    for bytes in [
        raw(0x21, 0x11, &TCP4_BLOCK),
        encode_v2_with(Some(addr("[::1]:1")), Some(addr("[::2]:2")), &tlvs).unwrap(),
        encode_v2_local(),
        raw(0x21, 0x31, &[0; 216]),
    ] {
        for n in 0..bytes.len() {
            assert_eq!(
                parse_any(&bytes[..n]),
                Parse::NeedMore,
                "{n} of {}",
                bytes.len()
            );
        }
        assert_eq!(done(&bytes).1, bytes.len());
    }
}

struct SslTlvFixture;

impl SslTlvFixture {
    fn tls13() -> crate::proxy_protocol::SslTlv {
        crate::proxy_protocol::SslTlv {
            client: 0x07,
            verify: 0,
            subs: vec![
                RawTlv {
                    kind: kind::SSL_VERSION,
                    value: b"TLSv1.3".to_vec(),
                },
                RawTlv {
                    kind: kind::SSL_CN,
                    value: b"client.example".to_vec(),
                },
            ],
        }
    }
}

#[test]
fn encodes_like_haproxy() {
    let v4 = encode_v2(
        Some(addr("192.0.2.1:40000")),
        Some(addr("198.51.100.7:443")),
    );
    assert_eq!(v4, raw(0x21, 0x11, &TCP4_BLOCK));
    let mixed = encode_v2(Some(addr("192.0.2.1:40000")), Some(addr("[::1]:443")));
    assert_eq!((mixed[13], mixed.len()), (0x21, 52));
    assert_eq!(
        mixed[16..32],
        Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped().octets()
    );
    assert_eq!(
        encode_v2(None, Some(addr("[::1]:443"))),
        raw(0x20, 0x00, &[])
    );
    assert_eq!(encode_v2_local(), raw(0x20, 0x00, &[]));
    // As HAProxy, TLVs follow a LOCAL header directly.
    let local = encode_v2_with(None, None, &[Tlv::UniqueId(b"x".to_vec())]).unwrap();
    assert_eq!(local, raw(0x20, 0x00, &[kind::UNIQUE_ID, 0, 1, b'x']));
    let ssl = encode_v2_with(
        Some(addr("1.1.1.1:1")),
        Some(addr("2.2.2.2:2")),
        &[Tlv::Ssl(SslTlvFixture::tls13())],
    )
    .unwrap();
    let (h, _) = done(&ssl);
    let got = h.ssl().unwrap();
    assert_eq!(got.sub(kind::SSL_CN), Some(&b"client.example"[..]));
    assert_eq!(got.sub(kind::SSL_CIPHER), None);
    let too_long = encode_v2_with(None, None, &[Tlv::Noop(vec![0; 65533])]);
    assert_eq!(too_long, Err(EncodeError::TooLong(65536)));
    assert!(encode_v2_with(None, None, &[Tlv::Noop(vec![0; 65532])]).is_ok());
}
