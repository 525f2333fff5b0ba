//! Byte-level scanning of `Cookie` / `Set-Cookie` values, following HAProxy's parser
//! (`http_manage_client_side_cookies`): `;` and `,` separate request cookies, quotes
//! protect delimiters, spaces around `=` are removed, `$attributes` belong to the cookie
//! before them, and deleting a cookie keeps the rest of the header well formed.

/// SP or HT.
pub(crate) fn is_spht(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// End of a cookie value starting at `s`: the first unquoted `;` or `,`, or `e`.
pub(crate) fn cookie_value_end(h: &[u8], mut s: usize, e: usize) -> usize {
    let (mut quoted, mut escaped) = (false, false);
    while s < e {
        let c = h[s];
        if quoted {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                quoted = false;
            }
        } else if c == b'"' {
            quoted = true;
        } else if c == b',' || c == b';' {
            return s;
        }
        s += 1;
    }
    s
}

/// One cookie of a header, as byte offsets (the diagram of HAProxy's parser).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    /// The delimiter before the cookie (or the start of the header).
    pub prev: usize,
    /// First byte of the name.
    pub att_beg: usize,
    /// End of the name (and position of `=`, once spaces are stripped).
    pub att_end: usize,
    /// Position of `=` (or of the delimiter / end when there is none).
    pub equal: usize,
    /// First byte of the value.
    pub val_beg: usize,
    /// End of the value.
    pub val_end: usize,
    /// The delimiter after the cookie (or the end).
    pub next: usize,
}

/// Scans the cookie starting after `prev`. `set_cookie` selects the `Set-Cookie` rules
/// (only `;` ends the name, and the rest of the header is attributes).
pub(crate) fn scan(h: &[u8], prev: usize, first: bool, end: usize, set_cookie: bool) -> Span {
    let mut att_beg = if first { prev } else { prev + 1 };
    while att_beg < end && is_spht(h[att_beg]) {
        att_beg += 1;
    }
    let mut equal = att_beg;
    let mut att_end = att_beg;
    while equal < end {
        let c = h[equal];
        if c == b'=' || c == b';' || (!set_cookie && c == b',') {
            break;
        }
        equal += 1;
        if !is_spht(c) {
            att_end = equal;
        }
    }
    let (val_beg, val_end, mut next);
    if equal < end && h[equal] == b'=' {
        let mut vb = equal + 1;
        while vb < end && is_spht(h[vb]) {
            vb += 1;
        }
        next = cookie_value_end(h, vb, end);
        let mut ve = next;
        while ve > vb && is_spht(h[ve - 1]) {
            ve -= 1;
        }
        val_beg = vb;
        val_end = ve;
    } else {
        val_beg = equal;
        val_end = equal;
        next = equal;
    }
    if set_cookie && next < end {
        next = end;
    }
    Span {
        prev,
        att_beg,
        att_end,
        equal,
        val_beg,
        val_end,
        next,
    }
}

/// Removes spaces around `=` in place (HAProxy does it so captures and rewrites see
/// `name=value`); returns the span moved accordingly and updates `end`.
pub(crate) fn strip_equal_spaces(h: &mut Vec<u8>, mut sp: Span, end: &mut usize) -> Span {
    if sp.att_end != sp.equal {
        let removed = sp.equal - sp.att_end;
        h.drain(sp.att_end..sp.equal);
        sp.equal -= removed;
        sp.val_beg -= removed;
        sp.val_end -= removed;
        sp.next -= removed;
        *end -= removed;
    }
    if sp.val_beg > sp.equal + 1 {
        let removed = sp.val_beg - (sp.equal + 1);
        h.drain(sp.equal + 1..sp.val_beg);
        sp.val_beg -= removed;
        sp.val_end -= removed;
        sp.next -= removed;
        *end -= removed;
    }
    sp
}

/// Deletes the cookie(s) between the delimiter `from` and the delimiter `next` of the
/// header `h[..end]` (HAProxy's `http_del_hdr_value`): the first cookie takes its
/// following delimiter with it; otherwise the previous delimiter is kept followed by one
/// space. Returns how many bytes were removed: every position after `next` moves back by
/// that much (and `end` is updated).
pub(crate) fn delete_value(h: &mut Vec<u8>, end: &mut usize, from: usize, next: usize) -> usize {
    let mut next = next;
    let mut prev = from;
    if prev == 0 {
        if next < *end {
            next += 1;
        }
        while next < *end && is_spht(h[next]) {
            next += 1;
        }
    } else {
        while prev > 0 && is_spht(h[prev - 1]) {
            prev -= 1;
        }
        if next < *end {
            h[prev] = h[next];
            prev += 1;
            next += 1;
            if prev + 1 < next {
                h[prev] = b' ';
                prev += 1;
            }
            while next < *end && is_spht(h[next]) {
                next += 1;
            }
        }
    }
    let removed = next - prev;
    h.drain(prev..next);
    *end -= removed;
    removed
}
