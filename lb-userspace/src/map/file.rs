//! Reading pattern and map files (sans-I/O: text in, entries out), with HAProxy's rules.

/// One entry read from a file: its line number, key and (for maps) value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// 1-based line number.
    pub line: usize,
    /// The key (map) or pattern (ACL file).
    pub key: String,
    /// The value, for two-column (map) files.
    pub value: Option<String>,
}

/// Parses a map file: lines starting with `#` are comments, leading blanks are skipped,
/// blank lines are ignored; the key is the first run of non-blank characters, the value
/// is the rest of the line after the blanks that follow the key, without trailing blanks
/// (it may be empty). A line ends at the first CR or LF.
pub fn parse_map(text: &str) -> Vec<FileEntry> {
    text.split('\n')
        .enumerate()
        .filter_map(|(i, raw)| {
            // The comment test comes before blanks are skipped, as in HAProxy: an
            // indented `#` is a key.
            if raw.starts_with('#') {
                return None;
            }
            let line = raw.split('\r').next().unwrap_or("");
            let line = line.trim_start_matches(is_blank);
            if line.is_empty() {
                return None;
            }
            let key_end = line.find(is_blank).unwrap_or(line.len());
            let (key, rest) = line.split_at(key_end);
            let value = rest.trim_start_matches(is_blank).trim_end_matches(is_blank);
            Some(FileEntry {
                line: i + 1,
                key: key.to_owned(),
                value: Some(value.to_owned()),
            })
        })
        .collect()
}

/// Parses an ACL pattern file: one pattern per line; lines starting with `#` are
/// comments, leading blanks are skipped, blank lines are ignored, and the rest of the
/// line up to the first CR or LF (trailing blanks included) is the pattern.
pub fn parse_patterns(text: &str) -> Vec<FileEntry> {
    text.split('\n')
        .enumerate()
        .filter_map(|(i, raw)| {
            if raw.starts_with('#') {
                return None;
            }
            let line = raw.split('\r').next().unwrap_or("");
            let line = line.trim_start_matches(is_blank);
            (!line.is_empty()).then(|| FileEntry {
                line: i + 1,
                key: line.to_owned(),
                value: None,
            })
        })
        .collect()
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(entries: &[FileEntry]) -> Vec<(usize, &str, Option<&str>)> {
        entries
            .iter()
            .map(|e| (e.line, e.key.as_str(), e.value.as_deref()))
            .collect()
    }

    #[test]
    fn map_lines() {
        let text = "# comment\n\
                    \t  62.212.114.60     1wt.eu   \t\n\
                    \n\
                    www.example.com be_www\r\n\
                    key_only\n\
                    spaced   two words  here  \n\
                    \x20 # indented hash is a key\n\
                    cr\rignored after cr\n\
                    last";
        assert_eq!(
            kv(&parse_map(text)),
            vec![
                (2, "62.212.114.60", Some("1wt.eu")),
                (4, "www.example.com", Some("be_www")),
                (5, "key_only", Some("")),
                (6, "spaced", Some("two words  here")),
                (7, "#", Some("indented hash is a key")),
                (8, "cr", Some("")),
                (9, "last", Some("")),
            ]
        );
        assert!(parse_map("").is_empty());
        assert!(parse_map("\n\n  \t\n#x\n").is_empty());
    }

    #[test]
    fn pattern_lines() {
        let text = "a\n # not a comment\n#c\n\t\nb \r\nc\rd\n";
        assert_eq!(
            kv(&parse_patterns(text)),
            vec![
                (1, "a", None),
                (2, "# not a comment", None),
                (5, "b ", None),
                (6, "c", None),
            ]
        );
    }
}
