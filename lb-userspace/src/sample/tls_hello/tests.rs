//! ClientHello reading on genuine ClientHellos (captured from `openssl s_client` and
//! `curl` in `testdata/`), hand-built ones, truncations and garbage.

use super::*;

const TLS13_SNI: &[u8] = include_bytes!("../testdata/openssl_tls13_sni.bin");
const TLS12_SNI: &[u8] = include_bytes!("../testdata/openssl_tls12_sni.bin");
const NO_SNI: &[u8] = include_bytes!("../testdata/openssl_no_sni.bin");
const CURL_SNI: &[u8] = include_bytes!("../testdata/curl_sni.bin");

fn sni_of(data: &[u8]) -> Parse<Option<Vec<u8>>> {
    sni(data).map(|s| s.map(Cow::into_owned))
}

#[test]
fn genuine_client_hellos() {
    for (bytes, want) in [
        (TLS13_SNI, Some(&b"www.example.com"[..])),
        (TLS12_SNI, Some(b"Shop.Example.ORG")),
        (CURL_SNI, Some(b"api.example.net")),
        (NO_SNI, None),
    ] {
        let hello = parse_client_hello(bytes);
        let Parse::Done(hello) = hello else {
            panic!("{hello:?}");
        };
        assert_eq!(hello.version, 0x0303);
        assert_eq!(hello.sni.as_deref(), want);
        // A single record: the name is borrowed from the input.
        assert!(matches!(hello.sni, None | Some(Cow::Borrowed(_))));
        assert_eq!(ssl_version(bytes), Parse::Done(0x0003_0003));
        assert_eq!(hello_type(bytes), Parse::Done(1));
    }
}

#[test]
fn every_truncation_asks_for_more() {
    for bytes in [TLS13_SNI, TLS12_SNI, CURL_SNI, NO_SNI] {
        for cut in 0..bytes.len() {
            let part = &bytes[..cut];
            assert_eq!(sni_of(part), Parse::Incomplete, "cut at {cut}");
            assert_eq!(ssl_version(part), Parse::Incomplete, "cut at {cut}");
            assert_eq!(hello_type(part), Parse::Incomplete, "cut at {cut}");
        }
    }
}

#[test]
fn trailing_bytes_are_ignored() {
    let mut more = TLS13_SNI.to_vec();
    more.extend_from_slice(b"\x14\x03\x03\x00\x01\x01garbage");
    assert_eq!(
        sni_of(&more),
        Parse::Done(Some(b"www.example.com".to_vec()))
    );
}

/// Splits the handshake of a single-record hello into records of at most `chunk` bytes.
fn split_records(hello: &[u8], chunk: usize) -> Vec<u8> {
    let hs = &hello[5..];
    let mut out = Vec::new();
    for part in hs.chunks(chunk) {
        out.extend_from_slice(&[0x16, 0x03, 0x01]);
        out.extend_from_slice(&u16::try_from(part.len()).unwrap().to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

#[test]
fn hellos_spanning_records_are_reassembled() {
    for chunk in [4, 50, 100, 200] {
        let split = split_records(CURL_SNI, chunk);
        let Parse::Done(hello) = parse_client_hello(&split) else {
            panic!("chunk {chunk}");
        };
        assert_eq!(hello.sni.as_deref(), Some(&b"api.example.net"[..]));
        assert_eq!(hello_type(&split), Parse::Done(1));
        for cut in 0..split.len() {
            assert_eq!(sni_of(&split[..cut]), Parse::Incomplete, "{chunk}/{cut}");
            assert_eq!(
                hello_type(&split[..cut]),
                Parse::Incomplete,
                "{chunk}/{cut}"
            );
        }
    }
    // A following record that is not a handshake is not a continuation.
    let mut bad = split_records(CURL_SNI, 300);
    let second = 5 + 300;
    bad[second] = 0x17;
    assert_eq!(sni_of(&bad), Parse::Invalid);
}

/// A hand-built ClientHello: `exts` is the raw extensions block (None: no block at all).
fn hello(version: u16, sid: &[u8], ciphers: &[u8], exts: Option<&[u8]>) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec();
    body.extend_from_slice(&[7; 32]);
    body.push(u8::try_from(sid.len()).unwrap());
    body.extend_from_slice(sid);
    body.extend_from_slice(&u16::try_from(ciphers.len()).unwrap().to_be_bytes());
    body.extend_from_slice(ciphers);
    body.extend_from_slice(&[1, 0]);
    if let Some(exts) = exts {
        body.extend_from_slice(&u16::try_from(exts.len()).unwrap().to_be_bytes());
        body.extend_from_slice(exts);
    }
    let mut hs = vec![1];
    hs.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 3, 1];
    rec.extend_from_slice(&u16::try_from(hs.len()).unwrap().to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

fn ext(ty: u16, data: &[u8]) -> Vec<u8> {
    let mut e = ty.to_be_bytes().to_vec();
    e.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
    e.extend_from_slice(data);
    e
}

fn sni_ext(names: &[(u8, &[u8])]) -> Vec<u8> {
    let mut list = Vec::new();
    for (ty, name) in names {
        list.push(*ty);
        list.extend_from_slice(&u16::try_from(name.len()).unwrap().to_be_bytes());
        list.extend_from_slice(name);
    }
    let mut data = u16::try_from(list.len()).unwrap().to_be_bytes().to_vec();
    data.extend_from_slice(&list);
    ext(0, &data)
}

#[test]
fn hand_built_hellos() {
    let ciphers = [0x13, 0x01];
    let mut exts = ext(10, &[0, 2, 0, 29]);
    exts.extend(sni_ext(&[(1, b"other"), (0, b"host.test")]));
    let h = hello(0x0303, &[], &ciphers, Some(&exts));
    assert_eq!(sni_of(&h), Parse::Done(Some(b"host.test".to_vec())));
    // No extensions block, or no server_name: no SNI but a valid hello.
    assert_eq!(
        sni_of(&hello(0x0301, &[], &ciphers, None)),
        Parse::Done(None)
    );
    let only_other = sni_ext(&[(1, b"x")]);
    assert_eq!(
        sni_of(&hello(0x0303, &[1; 32], &ciphers, Some(&only_other))),
        Parse::Done(None)
    );
    assert_eq!(
        sni_of(&hello(0x0303, &[], &ciphers, Some(&[]))),
        Parse::Done(None)
    );
    // SSLv3 (3.0) hellos are refused, as HAProxy does for SNI.
    assert_eq!(sni_of(&hello(0x0300, &[], &ciphers, None)), Parse::Invalid);
}

#[test]
fn malformed_hellos_are_invalid() {
    let ciphers = [0x13, 0x01];
    let good_sni = sni_ext(&[(0, b"a.b")]);
    let cases: Vec<Vec<u8>> = vec![
        hello(0x0303, &[0; 33], &ciphers, Some(&good_sni)),
        hello(0x0303, &[], &[], Some(&good_sni)),
        hello(0x0303, &[], &[1, 2, 3], Some(&good_sni)),
        hello(0x0203, &[], &ciphers, Some(&good_sni)),
        // Server name list longer than the extension.
        hello(0x0303, &[], &ciphers, Some(&ext(0, &[0, 9, 0, 0, 1, b'a']))),
        // Host name longer than the list.
        hello(0x0303, &[], &ciphers, Some(&ext(0, &[0, 4, 0, 0, 9, b'a']))),
        // Extension longer than the block.
        {
            let mut e = ext(0, &[0, 4, 0, 0, 1, b'a']);
            e[3] = 50;
            hello(0x0303, &[], &ciphers, Some(&e))
        },
    ];
    for (i, case) in cases.iter().enumerate() {
        assert_eq!(sni_of(case), Parse::Invalid, "case {i}");
    }
    let mut not_handshake = TLS13_SNI.to_vec();
    not_handshake[0] = 0x17;
    assert_eq!(sni_of(&not_handshake), Parse::Invalid);
    let mut not_hello = TLS13_SNI.to_vec();
    not_hello[5] = 2;
    assert_eq!(sni_of(&not_hello), Parse::Invalid);
    let mut old_record = TLS13_SNI.to_vec();
    old_record[1] = 2;
    assert_eq!(sni_of(&old_record), Parse::Invalid);
    let mut huge = TLS13_SNI.to_vec();
    huge[6..9].copy_from_slice(&[0x7f, 0xff, 0xff]);
    assert_eq!(sni_of(&huge), Parse::Invalid);
    let mut zero_record = TLS13_SNI.to_vec();
    zero_record[3..5].copy_from_slice(&[0, 0]);
    assert_eq!(sni_of(&zero_record), Parse::Invalid);
    assert_eq!(sni_of(b"GET / HTTP/1.1\r\n"), Parse::Invalid);
    assert_eq!(sni_of(b"SSH-2.0-OpenSSH_9.6\r\n"), Parse::Invalid);
}

#[test]
fn ssl_version_formats() {
    // TLS record: the ClientHello's version, not the record's.
    assert_eq!(ssl_version(TLS12_SNI), Parse::Done(0x0003_0003));
    assert_eq!(ssl_version(b"GET / HTTP/1.1\r\n"), Parse::Invalid);
    // Application data records also announce a version.
    let mut app = vec![0x17, 3, 3, 0, 6];
    app.extend_from_slice(&[0, 0, 0, 0, 3, 1]);
    assert_eq!(ssl_version(&app), Parse::Done(0x0003_0001));
    app[4] = 5;
    assert_eq!(ssl_version(&app), Parse::Invalid);
    // SSLv2 hello with a 2-byte header: 3 ciphers (9 bytes), no session id, 16-byte
    // challenge.
    let mut v2 = vec![0x80, 9 + 9 + 16, 1, 3, 1, 0, 9, 0, 0, 0, 16];
    v2.extend_from_slice(&[0; 25]);
    assert_eq!(ssl_version(&v2), Parse::Done(0x0003_0001));
    assert_eq!(ssl_version(&v2[..v2.len() - 1]), Parse::Incomplete);
    let mut bad_v2 = v2.clone();
    bad_v2[10] = 8;
    assert_eq!(ssl_version(&bad_v2), Parse::Invalid);
    let mut not_hello = v2;
    not_hello[2] = 2;
    assert_eq!(ssl_version(&not_hello), Parse::Invalid);
    assert_eq!(ssl_version(&[]), Parse::Incomplete);
}

#[test]
fn hello_type_of_other_handshakes() {
    // A ServerHello-typed message (2) of 4 bytes.
    let msg = [0x16, 3, 3, 0, 8, 2, 0, 0, 4, 0, 0, 0, 0];
    assert_eq!(hello_type(&msg), Parse::Done(2));
    assert_eq!(hello_type(&msg[..12]), Parse::Incomplete);
    assert_eq!(hello_type(&[0x16, 3, 3, 0, 2, 2, 0]), Parse::Invalid);
    assert_eq!(hello_type(b"GET /"), Parse::Invalid);
}

#[test]
fn garbage_never_panics() {
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    for round in 0..20_000 {
        let mut data = if round % 3 == 0 {
            let base = [TLS13_SNI, TLS12_SNI, CURL_SNI, NO_SNI][round % 4];
            let mut d = base.to_vec();
            for _ in 0..rng.usize(1..8) {
                let i = rng.usize(..d.len());
                d[i] = rng.u8(..);
            }
            d
        } else {
            (0..rng.usize(0..64)).map(|_| rng.u8(..)).collect()
        };
        if round % 5 == 0 && !data.is_empty() {
            data[0] = 0x16;
        }
        let _ = parse_client_hello(&data);
        let _ = ssl_version(&data);
        let _ = hello_type(&data);
    }
}
