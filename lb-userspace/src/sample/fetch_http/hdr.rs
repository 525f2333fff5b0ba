//! Header and cookie value extraction with HAProxy's rules, shared by the HTTP fetches,
//! the HTTP rules and the HTTP balance algorithms.
//!
//! `hdr()`-style fetches see a header line as a comma-separated list of values (commas
//! inside double quotes do not split, surrounding blanks are trimmed); `fhdr()`-style
//! ones see each line whole. Cookies are `name=value` pairs separated by `;` or `,`
//! (`Cookie`), or the first pair of each `Set-Cookie` line.

use http::HeaderMap;

fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// Trims spaces and tabs on both sides.
pub fn trim(mut v: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = v
        && is_blank(*first)
    {
        v = rest;
    }
    while let [rest @ .., last] = v
        && is_blank(*last)
    {
        v = rest;
    }
    v
}

/// Splits one header line on the commas that are not inside a quoted string.
pub fn split_commas(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(line);
    std::iter::from_fn(move || {
        let s = rest?;
        let mut quoted = false;
        let mut escaped = false;
        for (i, &c) in s.iter().enumerate() {
            if escaped {
                escaped = false;
                continue;
            }
            match c {
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                b',' if !quoted => {
                    rest = Some(&s[i + 1..]);
                    return Some(trim(&s[..i]));
                }
                _ => {}
            }
        }
        rest = None;
        Some(trim(s))
    })
}

/// The full lines of header `name` (any header when `name` is `None`), in order.
pub fn lines<'a>(
    headers: &'a HeaderMap,
    name: Option<&str>,
) -> Box<dyn Iterator<Item = &'a [u8]> + 'a> {
    match name {
        Some(n) => Box::new(headers.get_all(n).iter().map(|v| trim(v.as_bytes()))),
        None => Box::new(headers.values().map(|v| trim(v.as_bytes()))),
    }
}

/// The comma-separated values of header `name` (any header when `None`), in order.
pub fn values<'a>(
    headers: &'a HeaderMap,
    name: Option<&str>,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    lines(headers, name).flat_map(split_commas)
}

/// Picks occurrence `occ` of `iter`: 1 is the first, -1 the last, 0 means the last
/// (what a fetch without an occurrence returns outside ACLs, as in HAProxy).
pub fn occurrence<T>(mut iter: impl Iterator<Item = T>, occ: i64) -> Option<T> {
    if occ > 0 {
        let n = usize::try_from(occ - 1).ok()?;
        return iter.nth(n);
    }
    if occ >= -1 {
        return iter.last();
    }
    let back = usize::try_from(occ.unsigned_abs()).ok()?;
    // Header lists are short: collecting the tail is cheaper than two passes.
    let mut ring: std::collections::VecDeque<T> = std::collections::VecDeque::with_capacity(back);
    for item in iter {
        if ring.len() == back {
            ring.pop_front();
        }
        ring.push_back(item);
    }
    if ring.len() == back {
        ring.pop_front()
    } else {
        None
    }
}

/// One `name=value` element of a cookie header, with `name` and `value` trimmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookiePair<'a> {
    /// The cookie name.
    pub name: &'a [u8],
    /// The value, quotes kept.
    pub value: &'a [u8],
}

/// End of a cookie value starting at `s`: the first `;` or `,` outside double quotes.
fn cookie_value_end(s: &[u8]) -> usize {
    let mut quoted = false;
    for (i, &c) in s.iter().enumerate() {
        match c {
            b'"' => quoted = !quoted,
            b';' | b',' if !quoted => return i,
            _ => {}
        }
    }
    s.len()
}

/// The cookies of one `Cookie` line (`list`) or the first one of a `Set-Cookie` line;
/// elements without `=` are skipped, as HAProxy does.
pub fn cookies(line: &[u8], list: bool) -> impl Iterator<Item = CookiePair<'_>> {
    let mut rest = Some(line);
    let mut first = true;
    std::iter::from_fn(move || {
        loop {
            let s = rest?;
            if !list && !first {
                return None;
            }
            first = false;
            let end = cookie_value_end(s);
            let (elem, next) = (&s[..end], s.get(end + 1..));
            rest = next;
            let Some(eq) = elem.iter().position(|&c| c == b'=') else {
                if !list {
                    return None;
                }
                continue;
            };
            return Some(CookiePair {
                name: trim(&elem[..eq]),
                value: trim(&elem[eq + 1..]),
            });
        }
    })
}

/// Values of cookie `name` (every cookie when `None`) in the `Cookie` headers (request)
/// or `Set-Cookie` headers (response), in order.
pub fn cookie_values<'a>(
    headers: &'a HeaderMap,
    response: bool,
    name: Option<&'a str>,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    let hdr = if response { "set-cookie" } else { "cookie" };
    headers
        .get_all(hdr)
        .iter()
        .flat_map(move |v| cookies(v.as_bytes(), !response))
        .filter(move |c| name.is_none_or(|n| c.name == n.as_bytes()))
        .map(|c| c.value)
}

/// Parses the leading integer of a header value as HAProxy's `strl2ic` (optional sign,
/// digits; anything else ends the number; no digit gives 0).
pub fn leading_int(v: &[u8]) -> i64 {
    let v = trim(v);
    let (neg, digits) = match v.first() {
        Some(b'-') => (true, &v[1..]),
        Some(b'+') => (false, &v[1..]),
        _ => (false, v),
    };
    let mut n: i64 = 0;
    for &c in digits.iter().take_while(|c| c.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(i64::from(c - b'0'));
    }
    if neg { -n } else { n }
}

/// Parses an address in a header value (`X-Forwarded-For`-style): an IPv4 address, or
/// an IPv6 one, optionally in brackets, optionally followed by `:port`.
pub fn header_ip(v: &[u8]) -> Option<std::net::IpAddr> {
    let s = std::str::from_utf8(trim(v)).ok()?;
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Some(inner) = s.strip_prefix('[') {
        let (addr, _) = inner.split_once(']')?;
        return addr.parse::<std::net::Ipv6Addr>().ok().map(Into::into);
    }
    let (addr, port) = s.rsplit_once(':')?;
    if port.bytes().all(|c| c.is_ascii_digit()) {
        return addr.parse::<std::net::Ipv4Addr>().ok().map(Into::into);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(list: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in list {
            h.append(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn strs<'a>(it: impl Iterator<Item = &'a [u8]>) -> Vec<&'a str> {
        it.map(|v| std::str::from_utf8(v).unwrap()).collect()
    }

    #[test]
    fn comma_values_respect_quotes() {
        let h = headers(&[("x", " a , \"b,c\" ,d"), ("x", "e"), ("y", "z")]);
        assert_eq!(strs(values(&h, Some("x"))), ["a", "\"b,c\"", "d", "e"]);
        assert_eq!(strs(lines(&h, Some("x"))), ["a , \"b,c\" ,d", "e"]);
        assert_eq!(strs(values(&h, Some("nope"))), Vec::<&str>::new());
        assert_eq!(values(&h, None).count(), 5);
        assert_eq!(strs(split_commas(b"a,,b")), ["a", "", "b"]);
    }

    #[test]
    fn occurrences() {
        let v = [1, 2, 3];
        assert_eq!(occurrence(v.iter(), 1), Some(&1));
        assert_eq!(occurrence(v.iter(), 3), Some(&3));
        assert_eq!(occurrence(v.iter(), 4), None);
        assert_eq!(occurrence(v.iter(), 0), Some(&3));
        assert_eq!(occurrence(v.iter(), -1), Some(&3));
        assert_eq!(occurrence(v.iter(), -3), Some(&1));
        assert_eq!(occurrence(v.iter(), -4), None);
    }

    #[test]
    fn cookie_parsing() {
        let h = headers(&[
            ("cookie", "a=1; b = 2 ;noeq; c=\"x;y\""),
            ("cookie", "a=3,d=4"),
            ("set-cookie", "s=v; Path=/; a=b"),
            ("set-cookie", "t=w"),
        ]);
        assert_eq!(strs(cookie_values(&h, false, Some("a"))), ["1", "3"]);
        assert_eq!(strs(cookie_values(&h, false, Some("b"))), ["2"]);
        assert_eq!(strs(cookie_values(&h, false, Some("c"))), ["\"x;y\""]);
        assert_eq!(
            strs(cookie_values(&h, false, None)),
            ["1", "2", "\"x;y\"", "3", "4"]
        );
        assert_eq!(strs(cookie_values(&h, true, None)), ["v", "w"]);
        assert_eq!(strs(cookie_values(&h, true, Some("a"))), Vec::<&str>::new());
    }

    #[test]
    fn numbers_and_addresses() {
        assert_eq!(leading_int(b" 42abc"), 42);
        assert_eq!(leading_int(b"-7"), -7);
        assert_eq!(leading_int(b"x"), 0);
        assert_eq!(header_ip(b"10.0.0.1"), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(header_ip(b"10.0.0.1:80"), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(header_ip(b"[::1]:80"), Some("::1".parse().unwrap()));
        assert_eq!(
            header_ip(b" 2001:db8::1 "),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(header_ip(b"nope"), None);
    }
}
