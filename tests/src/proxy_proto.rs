//! PROXY protocol headers written and read by the tests themselves (never with `lb`'s own
//! code): builders for what a client-side proxy sends (v1 text, v2 binary), and a strict
//! reader for what `server ... send-proxy[-v2]` delivers to a backend.

use std::io::{self, ErrorKind, Read};
use std::net::{IpAddr, SocketAddr};

/// The 12-byte signature that starts every v2 header.
pub const V2_SIG: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// A v1 header `PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n`.
pub fn v1(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let fam = if src.is_ipv4() { "TCP4" } else { "TCP6" };
    format!(
        "PROXY {fam} {} {} {} {}\r\n",
        src.ip(),
        dst.ip(),
        src.port(),
        dst.port()
    )
    .into_bytes()
}

/// A v2 `PROXY` command header for a TCP connection from `src` to `dst`, followed by the
/// raw TLVs in `tlvs` (each `type, length(2, big endian), value`).
pub fn v2(src: SocketAddr, dst: SocketAddr, tlvs: &[u8]) -> Vec<u8> {
    let mut addrs = Vec::new();
    let fam = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            addrs.extend_from_slice(&s.octets());
            addrs.extend_from_slice(&d.octets());
            0x11
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            addrs.extend_from_slice(&s.octets());
            addrs.extend_from_slice(&d.octets());
            0x21
        }
        _ => panic!("v2 header: mixed families {src} / {dst}"),
    };
    addrs.extend_from_slice(&src.port().to_be_bytes());
    addrs.extend_from_slice(&dst.port().to_be_bytes());
    addrs.extend_from_slice(tlvs);
    let mut h = V2_SIG.to_vec();
    h.push(0x21); // version 2, command PROXY
    h.push(fam);
    let len = u16::try_from(addrs.len()).expect("v2 length");
    h.extend_from_slice(&len.to_be_bytes());
    h.extend_from_slice(&addrs);
    h
}

/// A v2 `LOCAL` command header (health-check style: the receiver keeps the real addresses).
pub fn v2_local() -> Vec<u8> {
    let mut h = V2_SIG.to_vec();
    h.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
    h
}

/// A TLV for a v2 header.
pub fn tlv(kind: u8, value: &[u8]) -> Vec<u8> {
    let mut t = vec![kind];
    t.extend_from_slice(&u16::try_from(value.len()).expect("tlv len").to_be_bytes());
    t.extend_from_slice(value);
    t
}

/// What a backend read from a PROXY header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// 1 or 2.
    pub version: u8,
    /// The announced source and destination, `None` for `UNKNOWN` (v1) or `LOCAL` (v2).
    pub addrs: Option<(SocketAddr, SocketAddr)>,
    /// The v1 line as sent (without CRLF), or the raw v2 header.
    pub raw: Vec<u8>,
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, msg.into())
}

/// Reads one PROXY header (v1 or v2) from the start of `s`, byte-exact: nothing after the
/// header is consumed. Anything that is not a well-formed header is an `InvalidData` error.
pub fn read_header(s: &mut impl Read) -> io::Result<Received> {
    let mut first = [0u8; 12];
    s.read_exact(&mut first[..5])?;
    if &first[..5] == b"PROXY" {
        let mut line = first[..5].to_vec();
        let mut b = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            if line.len() > 107 {
                return Err(bad("v1 header longer than 107 bytes"));
            }
            s.read_exact(&mut b)?;
            line.push(b[0]);
        }
        line.truncate(line.len() - 2);
        let text = String::from_utf8(line.clone()).map_err(|_| bad("v1 header not ASCII"))?;
        let words: Vec<&str> = text.split(' ').collect();
        let addrs = match words.as_slice() {
            ["PROXY", "UNKNOWN", ..] => None,
            ["PROXY", fam @ ("TCP4" | "TCP6"), src, dst, sport, dport] => {
                let ip = |a: &str| a.parse::<IpAddr>().map_err(|_| bad(format!("address {a}")));
                let port = |p: &str| p.parse::<u16>().map_err(|_| bad(format!("port {p}")));
                let (src, dst) = (ip(src)?, ip(dst)?);
                if (*fam == "TCP4") != src.is_ipv4() || src.is_ipv4() != dst.is_ipv4() {
                    return Err(bad(format!("family mismatch in {text:?}")));
                }
                Some((
                    SocketAddr::new(src, port(sport)?),
                    SocketAddr::new(dst, port(dport)?),
                ))
            }
            _ => return Err(bad(format!("malformed v1 header {text:?}"))),
        };
        return Ok(Received {
            version: 1,
            addrs,
            raw: line,
        });
    }
    s.read_exact(&mut first[5..])?;
    if first != V2_SIG {
        return Err(bad(format!("no PROXY header: {first:02x?}")));
    }
    let mut fixed = [0u8; 4];
    s.read_exact(&mut fixed)?;
    let len = usize::from(u16::from_be_bytes([fixed[2], fixed[3]]));
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)?;
    let mut raw = first.to_vec();
    raw.extend_from_slice(&fixed);
    raw.extend_from_slice(&body);
    if fixed[0] >> 4 != 2 {
        return Err(bad(format!("v2 version nibble {:#x}", fixed[0])));
    }
    let addrs = match (fixed[0] & 0x0f, fixed[1]) {
        (0, _) => None,
        (1, 0x11) if len >= 12 => {
            let ip = |o: usize| IpAddr::from([body[o], body[o + 1], body[o + 2], body[o + 3]]);
            let port = |o: usize| u16::from_be_bytes([body[o], body[o + 1]]);
            Some((
                SocketAddr::new(ip(0), port(8)),
                SocketAddr::new(ip(4), port(10)),
            ))
        }
        (1, 0x21) if len >= 36 => {
            let ip = |o: usize| {
                let mut a = [0u8; 16];
                a.copy_from_slice(&body[o..o + 16]);
                IpAddr::from(a)
            };
            let port = |o: usize| u16::from_be_bytes([body[o], body[o + 1]]);
            Some((
                SocketAddr::new(ip(0), port(32)),
                SocketAddr::new(ip(16), port(34)),
            ))
        }
        (c, f) => return Err(bad(format!("v2 command {c} family {f:#x} length {len}"))),
    };
    Ok(Received {
        version: 2,
        addrs,
        raw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_headers_read_back() {
        let src: SocketAddr = "192.0.2.10:40000".parse().unwrap();
        let dst: SocketAddr = "127.0.0.1:8443".parse().unwrap();
        let mut one = v1(src, dst);
        one.extend_from_slice(b"data");
        let mut r = &one[..];
        let h = read_header(&mut r).unwrap();
        assert_eq!((h.version, h.addrs), (1, Some((src, dst))));
        assert_eq!(r, b"data");

        let src6: SocketAddr = "[2001:db8::1]:1234".parse().unwrap();
        let dst6: SocketAddr = "[::1]:80".parse().unwrap();
        for (s, d) in [(src, dst), (src6, dst6)] {
            let mut two = v2(s, d, &tlv(0x02, b"example.com"));
            two.extend_from_slice(b"rest");
            let mut r = &two[..];
            let h = read_header(&mut r).unwrap();
            assert_eq!((h.version, h.addrs), (2, Some((s, d))));
            assert_eq!(r, b"rest");
        }
        let local = v2_local();
        assert_eq!(read_header(&mut &local[..]).unwrap().addrs, None);
        assert!(read_header(&mut &b"GET / HTTP/1.0\r\n\r\n"[..]).is_err());
    }
}
