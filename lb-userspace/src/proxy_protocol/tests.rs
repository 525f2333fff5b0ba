//! Cross-version tests: dispatch, round trips, and a deterministic random/mutation loop.

use std::net::SocketAddr;

use super::*;
use crate::fuzzing;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn dispatch() {
    assert_eq!(parse(b""), Parse::NeedMore);
    assert_eq!(parse(b"P"), Parse::NeedMore);
    assert_eq!(parse(b"PROXY"), Parse::NeedMore);
    assert_eq!(parse(b"\r\n\r\n\0"), Parse::NeedMore);
    for junk in [
        &b"GET / HTTP/1.1\r\n"[..],
        b"\x16\x03\x01",
        b"SSH-2.0",
        b"PRO\r",
        b"\r\r",
        b"\0",
        b"proxy ",
    ] {
        assert_eq!(
            parse(junk),
            Parse::Error(ParseError::NotProxyHeader),
            "{junk:?}"
        );
    }
}

#[test]
fn header_helpers() {
    let v1 = header_for(
        ProxyVersion::V1,
        Some(addr("1.2.3.4:5")),
        Some(addr("6.7.8.9:10")),
    );
    assert_eq!(v1, b"PROXY TCP4 1.2.3.4 6.7.8.9 5 10\r\n");
    assert_eq!(
        header_for(ProxyVersion::V1, None, None),
        b"PROXY UNKNOWN\r\n"
    );
    let v2 = header_for(
        ProxyVersion::V2,
        Some(addr("1.2.3.4:5")),
        Some(addr("6.7.8.9:10")),
    );
    assert_eq!(v2.len(), 28);
    assert_eq!(header_for(ProxyVersion::V2, None, None), encode_v2_local());
    let local = addr("127.0.0.1:40000");
    let peer = addr("127.0.0.2:80");
    assert_eq!(
        check_header(ProxyVersion::V1, local, peer),
        b"PROXY TCP4 127.0.0.1 127.0.0.2 40000 80\r\n"
    );
    assert_eq!(
        check_header(ProxyVersion::V2, local, peer),
        encode_v2_local()
    );
}

#[test]
fn round_trips() {
    let v4 = Addresses::Inet {
        transport: Transport::Stream,
        src: addr("10.0.0.1:1"),
        dst: addr("10.0.0.2:2"),
    };
    let v6 = Addresses::Inet {
        transport: Transport::Dgram,
        src: addr("[::1]:1"),
        dst: addr("[fe80::1]:2"),
    };
    let tlvs = vec![
        Tlv::Alpn(b"http/1.1".to_vec()),
        Tlv::Authority(b"www.example.org".to_vec()),
        Tlv::Crc32c(0),
        Tlv::Noop(vec![0; 5]),
        Tlv::UniqueId(vec![7; 128]),
        Tlv::Netns(b"blue".to_vec()),
        Tlv::Other(RawTlv {
            kind: 0xEE,
            value: b"custom".to_vec(),
        }),
    ];
    let headers = [
        Header {
            version: Version::V1,
            command: Command::Proxy,
            addresses: v4.clone(),
            tlvs: vec![],
        },
        Header {
            version: Version::V1,
            command: Command::Proxy,
            addresses: Addresses::Unspec,
            tlvs: vec![],
        },
        Header {
            version: Version::V2,
            command: Command::Proxy,
            addresses: v4,
            tlvs: tlvs.clone(),
        },
        Header {
            version: Version::V2,
            command: Command::Proxy,
            addresses: v6,
            tlvs,
        },
        Header {
            version: Version::V2,
            command: Command::Local,
            addresses: Addresses::Unspec,
            tlvs: vec![],
        },
    ];
    for h in headers {
        let bytes = h.encode().unwrap();
        let Parse::Done { header, consumed } = parse(&bytes) else {
            panic!("{h:?}")
        };
        assert_eq!(consumed, bytes.len());
        // The CRC32C TLV carries the computed checksum, everything else is identical.
        let normalized: Vec<Tlv> = header
            .tlvs
            .iter()
            .map(|t| {
                if matches!(t, Tlv::Crc32c(_)) {
                    Tlv::Crc32c(0)
                } else {
                    t.clone()
                }
            })
            .collect();
        assert_eq!(
            Header {
                tlvs: normalized,
                ..header.clone()
            },
            h
        );
        fuzzing::proxy_protocol(&bytes);
    }
}

/// Valid headers of every shape, to mutate.
fn seeds() -> Vec<Vec<u8>> {
    let tlvs = [
        Tlv::Crc32c(0),
        Tlv::Alpn(b"h2".to_vec()),
        Tlv::Ssl(SslTlv {
            client: 1,
            verify: 0,
            subs: vec![RawTlv {
                kind: kind::SSL_VERSION,
                value: b"TLSv1.2".to_vec(),
            }],
        }),
    ];
    vec![
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET /".to_vec(),
        b"PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 1 65535\r\n".to_vec(),
        b"PROXY UNKNOWN\r\n".to_vec(),
        encode_v2(Some(addr("10.0.0.1:1")), Some(addr("10.0.0.2:2"))),
        encode_v2_with(Some(addr("[::1]:1")), Some(addr("[::2]:2")), &tlvs).unwrap(),
        encode_v2_local(),
    ]
}

#[test]
fn random_and_mutated_inputs_never_panic() {
    let mut rng = fastrand::Rng::with_seed(0x5eed_1e55);
    let seeds = seeds();
    let mut outcomes = [0usize; 3];
    for round in 0..40_000 {
        let data: Vec<u8> = if round % 4 == 0 {
            let len = rng.usize(0..300);
            let mut d: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            // Give random tails a real prefix often enough to get past the signatures.
            match rng.u8(0..3) {
                0 => d.splice(0..0, b"PROXY ".iter().copied()).for_each(drop),
                1 => d.splice(0..0, SIGNATURE.iter().copied()).for_each(drop),
                _ => {}
            }
            d
        } else {
            let mut d = seeds[rng.usize(0..seeds.len())].clone();
            for _ in 0..rng.usize(1..4) {
                let len = d.len();
                match rng.u8(0..4) {
                    0 if len > 0 => d[rng.usize(0..len)] = rng.u8(..),
                    1 if len > 0 => d[rng.usize(0..len)] ^= 1 << rng.u8(0..8),
                    2 => d.truncate(rng.usize(0..=len)),
                    _ => d.insert(rng.usize(0..=len), rng.u8(..)),
                }
            }
            d
        };
        fuzzing::proxy_protocol(&data);
        let slot = match parse(&data) {
            Parse::NeedMore => 0,
            Parse::Done { .. } => 1,
            Parse::Error(_) => 2,
        };
        outcomes[slot] += 1;
        // Once an error, always an error: more bytes cannot rescue a bad prefix.
        if slot == 2 {
            let mut longer = data.clone();
            longer.extend_from_slice(b"\r\n\0\0");
            assert!(matches!(parse(&longer), Parse::Error(_)), "{data:02x?}");
        }
    }
    // The loop really explores all three outcomes.
    assert!(outcomes.iter().all(|&n| n > 1000), "{outcomes:?}");
}

/// The fuzzer's hand-written seeds (`fuzz/corpus/proxy_protocol/`) are what their names say.
#[test]
fn seed_corpus_outcomes() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/proxy_protocol");
    let expect = |name: &str| -> Option<&str> {
        Some(match name {
            "v1-truncated" | "v2-truncated" => "more",
            "v1-tcp4" | "v1-tcp6" | "v1-unknown-short" | "v1-unknown-long" | "v2-tcp4"
            | "v2-tcp6-all-tlvs" | "v2-udp4" | "v2-unix-stream" | "v2-local"
            | "v2-local-with-tlvs" | "v2-unspec-proxy" => "done",
            n if n.starts_with("not-proxy")
                || n.contains("-bad-")
                || n.contains("-too-")
                || n.ends_with("-overflow") =>
            {
                "error"
            }
            "v1-lone-lf" | "v2-crc-mismatch" => "error",
            // Crashers and inputs the fuzzer adds later: only "no panic" (the corpus replay).
            _ => return None,
        })
    };
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(want) = expect(&name) else { continue };
        let got = match parse(&std::fs::read(&path).unwrap()) {
            Parse::NeedMore => "more",
            Parse::Done { .. } => "done",
            Parse::Error(_) => "error",
        };
        assert_eq!(got, want, "{name}");
        checked += 1;
    }
    assert!(checked >= 20, "{checked} seeds checked");
}
