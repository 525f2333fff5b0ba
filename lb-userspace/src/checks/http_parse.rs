//! A sans-I/O parser of HTTP/1 responses for health checks: status line, headers, and the
//! body as far as it arrived (`Content-Length`, chunked, or close-delimited).

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body (1xx, 204, 304, or a response to HEAD).
    None,
    /// `Content-Length`.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the server closes.
    Close,
}

/// The parsed status line and headers of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResponseHead {
    pub(crate) status: u16,
    /// The status code as sent (what `rstatus` matches).
    pub(crate) code_text: String,
    pub(crate) reason: String,
    /// Bytes up to and including the empty line, interim 1xx responses included.
    pub(crate) len: usize,
    pub(crate) framing: Framing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Head {
    Partial,
    Invalid,
    Complete(ResponseHead),
}

/// Parses the response head, skipping interim `1xx` responses (but not `101`).
pub(crate) fn parse_head(buf: &[u8]) -> Head {
    let mut offset = 0;
    loop {
        match parse_one_head(&buf[offset..]) {
            Head::Complete(mut head) => {
                head.len += offset;
                if (100..200).contains(&head.status) && head.status != 101 {
                    offset = head.len;
                    continue;
                }
                return Head::Complete(head);
            }
            other => return other,
        }
    }
}

fn parse_one_head(buf: &[u8]) -> Head {
    let mut lines = Vec::new();
    let mut pos = 0;
    let len = loop {
        let Some(nl) = buf[pos..].iter().position(|&b| b == b'\n') else {
            return Head::Partial;
        };
        let line = &buf[pos..pos + nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        pos += nl + 1;
        if line.is_empty() {
            break pos;
        }
        lines.push(line);
    };
    let Some((status_line, headers)) = lines.split_first() else {
        return Head::Invalid;
    };
    let Some((status, code_text, reason)) = parse_status_line(status_line) else {
        return Head::Invalid;
    };
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    for line in headers {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Head::Invalid;
        };
        let name = &line[..colon];
        if name.is_empty() || name.iter().any(|b| b.is_ascii_whitespace()) {
            return Head::Invalid;
        }
        let value = String::from_utf8_lossy(&line[colon + 1..]);
        let value = value.trim();
        if name.eq_ignore_ascii_case(b"content-length") {
            let Ok(n) = value.parse::<usize>() else {
                return Head::Invalid;
            };
            if content_length.is_some_and(|c| c != n) {
                return Head::Invalid;
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        }
    }
    let framing = if (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::None
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = content_length {
        Framing::Length(n)
    } else {
        Framing::Close
    };
    Head::Complete(ResponseHead {
        status,
        code_text,
        reason,
        len,
        framing,
    })
}

fn parse_status_line(line: &[u8]) -> Option<(u16, String, String)> {
    let line = std::str::from_utf8(line).ok()?;
    let (version, rest) = line.split_once(' ')?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    let rest = rest.trim_start_matches(' ');
    let (code_text, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    if code_text.len() != 3 || !code_text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let status = code_text.parse().ok()?;
    Some((status, code_text.to_owned(), reason.trim().to_owned()))
}

/// The body received so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Body {
    pub(crate) data: Vec<u8>,
    /// The whole message was received (HAProxy's end-of-message).
    pub(crate) complete: bool,
}

/// Extracts the body bytes after the head; `None` when the chunked encoding is invalid.
pub(crate) fn decode_body(framing: Framing, rest: &[u8], eof: bool) -> Option<Body> {
    Some(match framing {
        Framing::None => Body {
            data: Vec::new(),
            complete: true,
        },
        Framing::Length(n) => Body {
            data: rest[..rest.len().min(n)].to_vec(),
            complete: rest.len() >= n,
        },
        Framing::Close => Body {
            data: rest.to_vec(),
            complete: eof,
        },
        Framing::Chunked => return dechunk(rest),
    })
}

fn dechunk(mut rest: &[u8]) -> Option<Body> {
    let mut data = Vec::new();
    loop {
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            return Some(Body {
                data,
                complete: false,
            });
        };
        let line = &rest[..nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let size_text = line.split(|&b| b == b';').next().unwrap_or(line);
        let size_text = std::str::from_utf8(size_text).ok()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        rest = &rest[nl + 1..];
        if size == 0 {
            return Some(Body {
                data,
                complete: true,
            });
        }
        let avail = rest.len().min(size);
        data.extend_from_slice(&rest[..avail]);
        if rest.len() < size {
            return Some(Body {
                data,
                complete: false,
            });
        }
        rest = &rest[size..];
        // The CRLF closing the chunk.
        if rest.starts_with(b"\r\n") {
            rest = &rest[2..];
        } else if rest.starts_with(b"\n") {
            rest = &rest[1..];
        } else if rest.is_empty() || rest == b"\r" {
            return Some(Body {
                data,
                complete: false,
            });
        } else {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(buf: &[u8]) -> ResponseHead {
        match parse_head(buf) {
            Head::Complete(h) => h,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn head_fields_and_framing() {
        let h = head(b"HTTP/1.1 404 Not Found\r\nContent-Length: 12\r\n\r\nbody");
        assert_eq!(
            (h.status, h.code_text.as_str(), h.reason.as_str()),
            (404, "404", "Not Found")
        );
        assert_eq!(h.len, 46);
        assert_eq!(h.framing, Framing::Length(12));
        let h = head(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n",
        );
        assert_eq!(h.framing, Framing::Chunked);
        assert_eq!(head(b"HTTP/1.0 200 OK\r\n\r\n").framing, Framing::Close);
        assert_eq!(
            head(b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n").framing,
            Framing::None
        );
        assert_eq!(
            head(b"HTTP/1.1 304 Not Modified\r\n\r\n").framing,
            Framing::None
        );
        assert_eq!(parse_head(b""), Head::Partial);
        assert_eq!(parse_head(b"\r\n"), Head::Invalid);
    }

    #[test]
    fn switching_protocols_is_final() {
        assert_eq!(
            head(b"HTTP/1.1 101 Switching Protocols\r\n\r\n").status,
            101
        );
    }

    #[test]
    fn length_framing_stops_at_content_length() {
        let b = decode_body(Framing::Length(3), b"abcdef", false).unwrap();
        assert_eq!((b.data.as_slice(), b.complete), (&b"abc"[..], true));
        let b = decode_body(Framing::Length(5), b"ab", false).unwrap();
        assert_eq!((b.data.as_slice(), b.complete), (&b"ab"[..], false));
        let b = decode_body(Framing::Close, b"ab", true).unwrap();
        assert!(b.complete);
    }

    #[test]
    fn chunked_decoding() {
        let b = decode_body(
            Framing::Chunked,
            b"4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n",
            false,
        )
        .unwrap();
        assert_eq!((b.data.as_slice(), b.complete), (&b"Wikipedia"[..], true));
        let b = decode_body(Framing::Chunked, b"4\r\nWi", false).unwrap();
        assert_eq!((b.data.as_slice(), b.complete), (&b"Wi"[..], false));
        let b = decode_body(Framing::Chunked, b"4\r\nWiki", false).unwrap();
        assert!(!b.complete);
        assert!(decode_body(Framing::Chunked, b"4\r\nWikiXX", false).is_none());
        assert!(decode_body(Framing::Chunked, b"g\r\n", false).is_none());
    }
}
