//! Version 1: `PROXY TCP4|TCP6|UNKNOWN SRC DST SPORT DPORT\r\n`, at most 107 bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::error::{Endpoint, ParseError};
use super::{Addresses, Command, Header, Parse, Transport, Version};

/// Longest v1 line including its CRLF (`UNKNOWN` followed by two full IPv6 addresses).
pub const V1_MAX_LEN: usize = 107;

/// Longest textual IPv6 address (`INET6_ADDRSTRLEN` minus the NUL).
const MAX_V6_TEXT: usize = 45;

/// Parses a v1 line; `buf` starts with `PROXY `.
pub(super) fn parse(buf: &[u8]) -> Parse {
    let window = &buf[..buf.len().min(V1_MAX_LEN)];
    let (line, complete) = match window.iter().position(|&b| b == b'\r' || b == b'\n') {
        Some(i) if window[i] == b'\n' => return Parse::Error(ParseError::V1BadLineEnd),
        Some(i) => match window.get(i + 1) {
            Some(b'\n') => (&window[..i], Some(i + 2)),
            Some(_) => return Parse::Error(ParseError::V1BadLineEnd),
            // The LF would be byte 108.
            None if window.len() == V1_MAX_LEN => {
                return Parse::Error(ParseError::V1LineTooLong);
            }
            // Only the LF is missing: the line itself can already be judged.
            None => (&window[..i], None),
        },
        None if window.len() == V1_MAX_LEN => return Parse::Error(ParseError::V1LineTooLong),
        None => (window, None),
    };
    // Judge what is there even before the CRLF, to refuse garbage as soon as possible.
    let fields = match fields(line, complete.is_some() || line.len() < window.len()) {
        Ok(f) => f,
        Err(e) => return Parse::Error(e),
    };
    match (fields, complete) {
        (Some(addresses), Some(consumed)) => Parse::Done {
            header: Header {
                version: Version::V1,
                command: Command::Proxy,
                addresses,
                tlvs: Vec::new(),
            },
            consumed,
        },
        _ => Parse::NeedMore,
    }
}

/// Checks the fields of `line` (without CRLF). With `complete` false the last field may
/// still be growing, so it is only checked as a prefix; returns the addresses once complete.
fn fields(line: &[u8], complete: bool) -> Result<Option<Addresses>, ParseError> {
    let rest = line.get(6..).unwrap_or_default();
    let mut tokens = rest.split(|&b| b == b' ');
    let proto = tokens.next().unwrap_or_default();
    let proto_done = complete || rest.contains(&b' ');
    let v6 = match proto {
        b"TCP4" if proto_done => false,
        b"TCP6" if proto_done => true,
        // The receiver must ignore whatever follows UNKNOWN up to the CRLF.
        b"UNKNOWN" if proto_done => return Ok(complete.then_some(Addresses::Unspec)),
        p if !proto_done
            && [&b"TCP4"[..], b"TCP6", b"UNKNOWN"]
                .iter()
                .any(|k| k.starts_with(p)) =>
        {
            return Ok(None);
        }
        _ => return Err(ParseError::V1BadProtocol),
    };
    let fields: Vec<&[u8]> = tokens.collect();
    let (mut ips, mut ports) = ([None, None], [None, None]);
    for (i, field) in fields.iter().enumerate() {
        let partial = !complete && i + 1 == fields.len();
        if field.is_empty() && !partial {
            return Err(ParseError::V1EmptyField);
        }
        if i >= 4 {
            return Err(ParseError::V1TooManyFields);
        }
        let end = if i % 2 == 0 {
            Endpoint::Source
        } else {
            Endpoint::Destination
        };
        if i < 2 {
            ips[i] = parse_ip(field, v6);
            if !(ips[i].is_some() || partial && addr_prefix_ok(field, v6)) {
                return Err(ParseError::V1BadAddress(end));
            }
        } else {
            ports[i - 2] = parse_port(field);
            if !(ports[i - 2].is_some() || partial && port_prefix_ok(field)) {
                return Err(ParseError::V1BadPort(end));
            }
        }
    }
    if !complete {
        return Ok(None);
    }
    match (ips, ports) {
        ([Some(src), Some(dst)], [Some(sport), Some(dport)]) => Ok(Some(Addresses::Inet {
            transport: Transport::Stream,
            src: SocketAddr::new(src, sport),
            dst: SocketAddr::new(dst, dport),
        })),
        _ => Err(ParseError::V1MissingFields),
    }
}

/// A full address of the announced family, in the canonical form the spec requires.
fn parse_ip(text: &[u8], v6: bool) -> Option<IpAddr> {
    if v6 {
        if text.len() > MAX_V6_TEXT {
            return None;
        }
        std::str::from_utf8(text)
            .ok()?
            .parse::<Ipv6Addr>()
            .ok()
            .map(IpAddr::V6)
    } else {
        parse_ipv4(text).map(IpAddr::V4)
    }
}

/// Exactly four decimal 0..255 numbers separated by single dots, no leading zeroes.
fn parse_ipv4(text: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = text.split(|&b| b == b'.');
    for octet in &mut octets {
        *octet = u8::try_from(parse_decimal(parts.next()?, 3)?).ok()?;
    }
    parts.next().is_none().then_some(Ipv4Addr::from(octets))
}

/// A decimal port 0..65535 without leading zeroes.
fn parse_port(text: &[u8]) -> Option<u16> {
    u16::try_from(parse_decimal(text, 5)?).ok()
}

/// 1..=`max_digits` decimal digits, no leading zero unless the number is 0.
fn parse_decimal(text: &[u8], max_digits: usize) -> Option<u32> {
    if text.is_empty() || text.len() > max_digits || (text.len() > 1 && text[0] == b'0') {
        return None;
    }
    text.iter().try_fold(0u32, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
    })
}

/// Whether `text` can still grow into a valid address.
fn addr_prefix_ok(text: &[u8], v6: bool) -> bool {
    if v6 {
        text.len() <= MAX_V6_TEXT
            && text
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    } else {
        text.len() <= 15 && text.iter().all(|&b| b.is_ascii_digit() || b == b'.')
    }
}

/// Whether `text` can still grow into a valid port.
fn port_prefix_ok(text: &[u8]) -> bool {
    text.len() <= 5 && text.iter().all(u8::is_ascii_digit) && !(text.len() > 1 && text[0] == b'0')
}

/// Builds a v1 line announcing `src` → `dst`, as HAProxy's `send-proxy`: `TCP4` when both
/// are IPv4, `TCP6` when either is IPv6 (IPv4 ones written v4-mapped), `UNKNOWN` without
/// both addresses.
pub fn encode_v1(src: Option<SocketAddr>, dst: Option<SocketAddr>) -> Vec<u8> {
    let line = match (src, dst) {
        (Some(SocketAddr::V4(s)), Some(SocketAddr::V4(d))) => {
            format!(
                "PROXY TCP4 {} {} {} {}\r\n",
                s.ip(),
                d.ip(),
                s.port(),
                d.port()
            )
        }
        (Some(s), Some(d)) => format!(
            "PROXY TCP6 {} {} {} {}\r\n",
            as_v6(s.ip()),
            as_v6(d.ip()),
            s.port(),
            d.port()
        ),
        _ => "PROXY UNKNOWN\r\n".to_owned(),
    };
    line.into_bytes()
}

pub(super) fn as_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(text: &[u8]) -> (Addresses, usize) {
        match super::super::parse(text) {
            Parse::Done { header, consumed } => {
                assert_eq!(
                    (header.version, header.command),
                    (Version::V1, Command::Proxy)
                );
                assert!(header.tlvs.is_empty());
                (header.addresses, consumed)
            }
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(text)),
        }
    }

    fn err(text: &[u8]) -> ParseError {
        match super::super::parse(text) {
            Parse::Error(e) => e,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(text)),
        }
    }

    fn inet(src: &str, dst: &str) -> Addresses {
        Addresses::Inet {
            transport: Transport::Stream,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
        }
    }

    #[test]
    fn valid_lines() {
        let line = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n";
        assert_eq!(
            done(line),
            (inet("192.168.0.1:56324", "192.168.0.11:443"), 47)
        );
        assert_eq!(
            done(b"PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n").0,
            inet("0.0.0.0:0", "255.255.255.255:65535")
        );
        assert_eq!(
            done(b"PROXY TCP6 ::1 2001:db8::1 1 2\r\n").0,
            inet("[::1]:1", "[2001:db8::1]:2")
        );
        assert_eq!(
            done(b"PROXY TCP6 ::ffff:10.0.0.1 FFFF::A 3 4\r\n").0,
            inet("[::ffff:10.0.0.1]:3", "[ffff::a]:4")
        );
        assert_eq!(done(b"PROXY UNKNOWN\r\n"), (Addresses::Unspec, 15));
        let long = b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
        assert_eq!(long.len(), V1_MAX_LEN);
        assert_eq!(done(long), (Addresses::Unspec, 107));
        assert_eq!(done(b"PROXY UNKNOWN anything at all\r\nrest").1, 31);
        let v6 = b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
        assert_eq!(done(v6).1, 104);
    }

    #[test]
    fn every_error() {
        use Endpoint::{Destination as D, Source as S};
        use ParseError as E;
        assert_eq!(err(b"PROXY\r\n"), E::NotProxyHeader);
        assert_eq!(err(b"PROXY TCP5 1.2.3.4"), E::V1BadProtocol);
        assert_eq!(err(b"PROXY tcp4 "), E::V1BadProtocol);
        assert_eq!(err(b"PROXY UNKNOWNX"), E::V1BadProtocol);
        assert_eq!(err(b"PROXY \r\n"), E::V1BadProtocol);
        assert_eq!(err(b"PROXY TCP4\r\n"), E::V1MissingFields);
        assert_eq!(err(b"PROXY  TCP4"), E::V1BadProtocol);
        assert_eq!(err(b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n"), E::V1EmptyField);
        assert_eq!(err(b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), E::V1MissingFields);
        assert_eq!(err(b"PROXY TCP4 \r\n"), E::V1EmptyField);
        assert_eq!(
            err(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"),
            E::V1TooManyFields
        );
        assert_eq!(err(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 "), E::V1TooManyFields);
        assert_eq!(
            err(b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n"),
            E::V1BadAddress(S)
        );
        assert_eq!(
            err(b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n"),
            E::V1BadAddress(S)
        );
        assert_eq!(err(b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n"), E::V1BadAddress(S));
        assert_eq!(
            err(b"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n"),
            E::V1BadAddress(S)
        );
        assert_eq!(
            err(b"PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n"),
            E::V1BadAddress(S)
        );
        assert_eq!(err(b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n"), E::V1BadAddress(S));
        assert_eq!(err(b"PROXY TCP4 1.2.3.4 ::1 1 2\r\n"), E::V1BadAddress(D));
        assert_eq!(err(b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n"), E::V1BadAddress(S));
        assert_eq!(err(b"PROXY TCP6 ::1 ::g 1 2\r\n"), E::V1BadAddress(D));
        assert_eq!(
            err(b"PROXY TCP6 ::1 fe80::1%eth0 1 2\r\n"),
            E::V1BadAddress(D)
        );
        assert_eq!(
            err(b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"),
            E::V1BadPort(S)
        );
        assert_eq!(
            err(b"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n"),
            E::V1BadPort(S)
        );
        assert_eq!(err(b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n"), E::V1BadPort(S));
        assert_eq!(err(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 x\r\n"), E::V1BadPort(D));
        assert_eq!(err(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), E::V1BadLineEnd);
        assert_eq!(err(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX"), E::V1BadLineEnd);
        assert_eq!(err(b"PROXY UNKNOWN a\nb\r\n"), E::V1BadLineEnd);
        let mut long = b"PROXY UNKNOWN ".to_vec();
        long.resize(107, b'a');
        assert_eq!(err(&long), E::V1LineTooLong);
        long.truncate(106);
        long.push(b'\r');
        assert_eq!(err(&long), E::V1LineTooLong, "CRLF ending at byte 108");
        long.truncate(105);
        long.extend_from_slice(b"\r\n");
        assert_eq!(done(&long), (Addresses::Unspec, 107));
    }

    #[test]
    fn garbage_is_refused_before_the_crlf() {
        use ParseError as E;
        assert_eq!(
            err(b"PROXY TCP4 1.2.3.x"),
            E::V1BadAddress(Endpoint::Source)
        );
        assert_eq!(
            super::super::parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 0"),
            Parse::NeedMore
        );
        assert_eq!(
            err(b"PROXY TCP4 1.2.3.4 5.6.7.8 01"),
            E::V1BadPort(Endpoint::Source)
        );
        assert_eq!(
            err(b"PROXY TCP6 ::1 1234567890123456789012345678901234567890123456"),
            E::V1BadAddress(Endpoint::Destination)
        );
        assert_eq!(
            err(b"PROXY TCP4 1.2.3.4 5.6.7.8 123456"),
            E::V1BadPort(Endpoint::Source)
        );
    }

    #[test]
    fn partial_lines_need_more() {
        for text in [
            &b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"[..],
            b"PROXY TCP6 ::ffff:10.0.0.1 2001:db8::1 0 65535\r\n",
            b"PROXY UNKNOWN\r\n",
            b"PROXY UNKNOWN 1 2 3\r\n",
        ] {
            for n in 0..text.len() {
                assert_eq!(
                    super::super::parse(&text[..n]),
                    Parse::NeedMore,
                    "{n} bytes of {:?}",
                    String::from_utf8_lossy(text)
                );
            }
        }
    }

    #[test]
    fn encodes_like_haproxy() {
        let a = |s: &str| Some(s.parse::<SocketAddr>().unwrap());
        assert_eq!(
            encode_v1(a("1.2.3.4:5"), a("6.7.8.9:10")),
            b"PROXY TCP4 1.2.3.4 6.7.8.9 5 10\r\n"
        );
        assert_eq!(
            encode_v1(a("[::1]:5"), a("[2001:db8::2]:10")),
            b"PROXY TCP6 ::1 2001:db8::2 5 10\r\n"
        );
        assert_eq!(
            encode_v1(a("1.2.3.4:5"), a("[::1]:10")),
            b"PROXY TCP6 ::ffff:1.2.3.4 ::1 5 10\r\n"
        );
        assert_eq!(
            encode_v1(a("[::1]:5"), a("1.2.3.4:10")),
            b"PROXY TCP6 ::1 ::ffff:1.2.3.4 5 10\r\n"
        );
        assert_eq!(encode_v1(None, a("1.2.3.4:10")), b"PROXY UNKNOWN\r\n");
        assert_eq!(encode_v1(None, None), b"PROXY UNKNOWN\r\n");
    }
}
