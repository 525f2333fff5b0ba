//! Converters that cut and rewrite strings and blocks: `word`, `field`, `regsub`,
//! `bytes` and `concat`.

use std::borrow::Cow;

use regex::{Captures, Regex, RegexBuilder};

use crate::sample::parse::Call;
use crate::sample::vars::VarName;
use crate::sample::{Sample, SampleError, SampleType, StreamCtx};

/// A compiled `regsub` expression; equal when written the same way.
#[derive(Debug, Clone)]
pub struct RegSub {
    /// The pattern as written.
    pub pattern: String,
    regex: Regex,
    /// The replacement, with `\N` references and `\xHH` escapes.
    pub subst: String,
    /// `g`: replace every match, not only the first.
    pub global: bool,
    /// `i`: ignore case.
    pub icase: bool,
}

impl PartialEq for RegSub {
    fn eq(&self, other: &Self) -> bool {
        (&self.pattern, &self.subst, self.global, self.icase)
            == (&other.pattern, &other.subst, other.global, other.icase)
    }
}

impl Eq for RegSub {}

/// The text converters, with their parsed arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextConv {
    /// `word(index,delimiters[,count])`: words are runs of non-delimiters; negative
    /// indexes count from the end; `count` words are returned (0: up to the end).
    Word {
        /// 1-based index, never 0.
        index: i64,
        /// Delimiter bytes.
        delims: Vec<u8>,
        /// Number of words.
        count: i64,
    },
    /// `field(index,delimiters[,count])`: like `word`, but empty fields count.
    Field {
        /// 1-based index, never 0.
        index: i64,
        /// Delimiter bytes.
        delims: Vec<u8>,
        /// Number of fields.
        count: i64,
    },
    /// `regsub(regex,subst[,flags])`.
    RegSub(Box<RegSub>),
    /// `bytes(offset[,length])`.
    Bytes {
        /// First byte kept.
        offset: u64,
        /// Bytes kept (all when absent).
        length: Option<u64>,
    },
    /// `concat([start],[var],[end])`.
    Concat {
        /// Appended first.
        start: String,
        /// A variable appended next, when set.
        var: Option<VarName>,
        /// Appended last.
        end: String,
    },
}

impl TextConv {
    /// Builds the converter called `call.name` if it is a text converter.
    pub fn parse(call: &Call) -> Result<Option<Self>, SampleError> {
        let name = call.name.as_str();
        let args = call.args.as_slice();
        let conv = match name {
            "word" | "field" => {
                let (index, delims, count) = match args {
                    [i, d] => (i, d, None),
                    [i, d, c] => (i, d, Some(c)),
                    _ => return Err(bad(name, "expects <index>,<delimiters>[,<count>]")),
                };
                let index: i64 = int(name, index)?;
                if index == 0 {
                    return Err(bad(name, "Unexpected value 0 for index"));
                }
                if delims.is_empty() {
                    return Err(bad(name, "Empty separators list"));
                }
                let count = count.map(|c| int(name, c)).transpose()?.unwrap_or(1);
                let delims = delims.as_bytes().to_vec();
                if name == "word" {
                    Self::Word {
                        index,
                        delims,
                        count,
                    }
                } else {
                    Self::Field {
                        index,
                        delims,
                        count,
                    }
                }
            }
            "regsub" => {
                let (pattern, subst, flags) = match args {
                    [p, s] => (p, s, ""),
                    [p, s, f] => (p, s, f.as_str()),
                    _ => return Err(bad(name, "expects <regex>,<subst>[,<flags>]")),
                };
                let (mut global, mut icase) = (false, false);
                for f in flags.chars() {
                    match f {
                        'g' => global = true,
                        'i' => icase = true,
                        other => {
                            return Err(bad(
                                name,
                                &format!(
                                    "invalid regex flag '{other}', only 'i' and 'g' are supported"
                                ),
                            ));
                        }
                    }
                }
                let regex = RegexBuilder::new(pattern)
                    .case_insensitive(icase)
                    .build()
                    .map_err(|e| bad(name, &e.to_string()))?;
                Self::RegSub(Box::new(RegSub {
                    pattern: pattern.clone(),
                    regex,
                    subst: subst.clone(),
                    global,
                    icase,
                }))
            }
            "bytes" => {
                let (offset, length) = match args {
                    [o] => (o, None),
                    [o, l] => (o, Some(l)),
                    _ => return Err(bad(name, "expects <offset>[,<length>]")),
                };
                let unsigned = |t: &String| {
                    t.parse::<u64>()
                        .map_err(|_| bad(name, &format!("'{t}' is not a positive integer")))
                };
                Self::Bytes {
                    offset: unsigned(offset)?,
                    length: length.map(unsigned).transpose()?,
                }
            }
            "concat" => {
                if args.len() > 3 {
                    return Err(bad(name, "expects [<start>],[<var>],[<end>]"));
                }
                let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
                let var = match args.get(1).map(String::as_str) {
                    None | Some("") => None,
                    Some(v) => Some(VarName::parse(v).map_err(|e| bad(name, &e.to_string()))?),
                };
                Self::Concat {
                    start: arg(0),
                    var,
                    end: arg(2),
                }
            }
            _ => return Ok(None),
        };
        Ok(Some(conv))
    }

    /// The input type.
    pub fn in_type(&self) -> SampleType {
        match self {
            Self::Bytes { .. } => SampleType::Bin,
            _ => SampleType::Str,
        }
    }

    /// The output type.
    pub fn out_type(&self) -> SampleType {
        self.in_type()
    }

    /// Applies the converter; `ctx` gives `concat` its variables.
    pub fn apply<'a>(&self, input: Sample<'a>, ctx: Option<&StreamCtx<'_>>) -> Option<Sample<'a>> {
        match (self, input) {
            (
                Self::Word {
                    index,
                    delims,
                    count,
                },
                Sample::Str(s),
            ) => {
                // A missing word is an empty string, not a failure.
                let r = word(s.as_bytes(), *index, delims, *count).unwrap_or(0..0);
                Some(Sample::Str(slice_str(s, r)))
            }
            (
                Self::Field {
                    index,
                    delims,
                    count,
                },
                Sample::Str(s),
            ) => {
                let r = field(s.as_bytes(), *index, delims, *count)?;
                Some(Sample::Str(slice_str(s, r)))
            }
            (Self::RegSub(r), Sample::Str(s)) => Some(Sample::Str(Cow::Owned(regsub(r, &s)))),
            (Self::Bytes { offset, length }, Sample::Bin(b)) => {
                let start = usize::try_from(*offset).unwrap_or(usize::MAX).min(b.len());
                let end = match length {
                    Some(l) => start.saturating_add(usize::try_from(*l).unwrap_or(usize::MAX)),
                    None => b.len(),
                }
                .min(b.len());
                Some(Sample::Bin(match b {
                    Cow::Borrowed(b) => Cow::Borrowed(&b[start..end]),
                    Cow::Owned(b) => Cow::Owned(b[start..end].to_vec()),
                }))
            }
            (Self::Concat { start, var, end }, Sample::Str(s)) => {
                let mut out = s.into_owned();
                out.push_str(start);
                let value = var
                    .as_ref()
                    .and_then(|v| ctx?.vars?.get(v))
                    .and_then(|v| v.cast(SampleType::Str));
                if let Some(Sample::Str(v)) = value {
                    out.push_str(&v);
                }
                out.push_str(end);
                Some(Sample::Str(Cow::Owned(out)))
            }
            _ => None,
        }
    }
}

/// A byte range of a string as a string (lossy when a delimiter split a character).
fn slice_str(s: Cow<'_, str>, r: std::ops::Range<usize>) -> Cow<'_, str> {
    if s.is_char_boundary(r.start) && s.is_char_boundary(r.end) {
        match s {
            Cow::Borrowed(b) => Cow::Borrowed(&b[r]),
            Cow::Owned(o) => Cow::Owned(o[r].to_owned()),
        }
    } else {
        Cow::Owned(String::from_utf8_lossy(&s.as_bytes()[r]).into_owned())
    }
}

/// HAProxy's `word`: the range of word `index` (and the `count - 1` following ones),
/// or `None` if there are fewer words.
fn word(s: &[u8], index: i64, delims: &[u8], mut count: i64) -> Option<std::ops::Range<usize>> {
    let is_sep = |c: u8| delims.contains(&c);
    let mut n = 0i64;
    let mut in_word = false;
    if index > 0 {
        let mut start = 0;
        for (end, &c) in s.iter().enumerate() {
            let sep = is_sep(c);
            if !in_word {
                if !sep {
                    if n != index {
                        n += 1;
                        start = end;
                    }
                    in_word = true;
                }
            } else if sep {
                if n == index {
                    if count == 1 {
                        return Some(start..end);
                    }
                    count -= i64::from(count > 1);
                }
                in_word = false;
            }
        }
        (n == index).then_some(start..s.len())
    } else {
        let mut end = s.len();
        for start in (1..=s.len()).rev() {
            let sep = is_sep(s[start - 1]);
            if !in_word {
                if !sep {
                    if n != index {
                        n -= 1;
                        end = start;
                    }
                    in_word = true;
                }
            } else if sep {
                if n == index {
                    if count == 1 {
                        return Some(start..end);
                    }
                    count -= i64::from(count > 1);
                }
                in_word = false;
            }
        }
        (n == index).then_some(0..end)
    }
}

/// HAProxy's `field`: the range of field `index` (and the `count - 1` following ones),
/// or `None` if there are fewer fields.
fn field(s: &[u8], index: i64, delims: &[u8], mut count: i64) -> Option<std::ops::Range<usize>> {
    let is_sep = |c: u8| delims.contains(&c);
    if index > 0 {
        let (mut n, mut start) = (1i64, 0);
        for (end, &c) in s.iter().enumerate() {
            if is_sep(c) {
                if n == index {
                    if count == 1 {
                        return Some(start..end);
                    }
                    count -= i64::from(count > 1);
                } else {
                    start = end + 1;
                    n += 1;
                }
            }
        }
        (n == index).then_some(start..s.len())
    } else {
        let (mut n, mut end) = (-1i64, s.len());
        for start in (1..=s.len()).rev() {
            if is_sep(s[start - 1]) {
                if n == index {
                    if count == 1 {
                        return Some(start..end);
                    }
                    count -= i64::from(count > 1);
                } else {
                    end = start - 1;
                    n -= 1;
                }
            }
        }
        (n == index).then_some(0..end)
    }
}

/// HAProxy's `regsub`: replaces the first (or every, with `g`) match; an empty match
/// copies the next character and moves past it.
fn regsub(r: &RegSub, s: &str) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(s.len());
    let mut pos = 0;
    loop {
        let caps = if r.global || pos == 0 {
            r.regex.captures_at(s, pos)
        } else {
            None
        };
        let Some(caps) = caps else {
            out.extend_from_slice(&s.as_bytes()[pos..]);
            break;
        };
        let Some(m) = caps.get(0) else {
            break;
        };
        out.extend_from_slice(&s.as_bytes()[pos..m.start()]);
        expand_replacement(&r.subst, &caps, &mut out);
        if pos >= s.len() {
            break;
        }
        if m.end() == pos {
            let ch = s[pos..].chars().next().map_or(1, char::len_utf8);
            out.extend_from_slice(&s.as_bytes()[pos..pos + ch]);
            pos += ch;
        } else {
            pos = m.end();
        }
        if !r.global {
            out.extend_from_slice(&s.as_bytes()[pos..]);
            break;
        }
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Expands a replacement template as HAProxy's `exp_replace`: `\0`..`\9` insert a
/// capture (nothing if it did not participate), `\xHH` a byte, `\c` the character `c`.
pub(crate) fn expand_replacement(template: &str, caps: &Captures<'_>, out: &mut Vec<u8>) {
    let t = template.as_bytes();
    let mut i = 0;
    while i < t.len() {
        if t[i] != b'\\' {
            out.push(t[i]);
            i += 1;
            continue;
        }
        let Some(&next) = t.get(i + 1) else {
            // A lone trailing backslash has nothing to escape.
            break;
        };
        if next.is_ascii_digit() {
            if let Some(m) = caps.get(usize::from(next - b'0')) {
                out.extend_from_slice(m.as_str().as_bytes());
            }
            i += 2;
        } else if next == b'x'
            && let Some(hex) = t.get(i + 2..i + 4)
            && let Some(byte) = std::str::from_utf8(hex)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 4;
        } else {
            out.push(next);
            i += 2;
        }
    }
}

fn int(keyword: &str, text: &str) -> Result<i64, SampleError> {
    text.parse()
        .map_err(|_| bad(keyword, &format!("'{text}' is not an integer")))
}

fn bad(keyword: &str, reason: &str) -> SampleError {
    SampleError::BadArgs {
        keyword: keyword.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests;
