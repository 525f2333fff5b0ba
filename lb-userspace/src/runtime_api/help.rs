//! The usage message: `help [<command>]`, and the answer to an unknown command.
//!
//! As HAProxy 2.6: the words of the request that exactly match a keyword's leading words
//! narrow the list; when words remain, keywords whose remaining words look alike (by
//! HAProxy's character-pair fingerprint distance) are proposed instead of the whole list.
//! `help`, `prompt` and `quit` always close the list.

use super::command::{self, Keyword};

/// At most this many close matches are proposed (HAProxy's `CLI_MAX_MATCHES`).
const MAX_MATCHES: usize = 5;

/// Keyword words compared at most (HAProxy's `CLI_PREFIX_KW_NB`).
const MAX_WORDS: usize = 5;

/// Lines always listed last.
const ALWAYS: &str = "  help [<command>]                        : list matching or all commands\n\
                      \x20 prompt                                  : toggle interactive mode with prompt\n\
                      \x20 quit                                    : disconnect\n";

/// The usage message for `args` (the whole request; `help` first when `is_help`).
pub fn usage(args: &[String], is_help: bool) -> String {
    let args: Vec<&str> = args
        .iter()
        .skip(usize::from(is_help))
        .map(String::as_str)
        .collect();
    let word = |i: usize| args.get(i).copied().unwrap_or("");
    let all: Vec<&Keyword> = command::keywords().collect();
    // How many leading words of the request some keyword matches exactly.
    let length = all
        .iter()
        .map(|kw| matching_words(kw, &args))
        .max()
        .unwrap_or(0);
    let mut text = String::from(if is_help {
        "The following commands are valid at this level:\n"
    } else if length == 0 && word(0).is_empty() {
        "Unknown command. Please enter one of the following commands only:\n"
    } else {
        "Unknown command, but maybe one of the following ones is a better match:\n"
    });
    let prefixed = || all.iter().filter(|kw| matching_words(kw, &args) >= length);
    let mut entries: Vec<&'static str> = Vec::new();
    if !word(length).is_empty() {
        entries = close_matches(prefixed(), &args, length);
    }
    if entries.is_empty() {
        entries = prefixed()
            .filter(|kw| kw.words.len() >= length)
            .filter_map(|kw| kw.usage)
            .collect();
    }
    entries.sort_unstable();
    for usage in entries {
        text.push_str("  ");
        text.push_str(usage);
        text.push('\n');
    }
    text.push_str(ALWAYS);
    text
}

/// Number of leading words of `args` equal to the keyword's.
fn matching_words(kw: &Keyword, args: &[&str]) -> usize {
    kw.words
        .iter()
        .take(MAX_WORDS)
        .zip(args)
        .take_while(|(w, a)| !a.is_empty() && *w == *a)
        .count()
}

/// The usages of keywords whose words after the first `length` look like the request's.
fn close_matches<'k>(
    candidates: impl Iterator<Item = &'k &'k Keyword>,
    args: &[&str],
    length: usize,
) -> Vec<&'static str> {
    let rest: Vec<&str> = args
        .iter()
        .copied()
        .take(MAX_WORDS)
        .skip(length)
        .take_while(|a| !a.is_empty())
        .collect();
    let mut asked = Fingerprint::default();
    rest.iter().for_each(|w| asked.add(w));
    let asked_len: usize = rest.iter().map(|w| w.len()).sum();
    let mut best: Vec<(u32, &'static str)> = Vec::new();
    for kw in candidates {
        let Some(usage) = kw.usage else { continue };
        let mut known = Fingerprint::default();
        let words = kw.words.iter().take(MAX_WORDS).skip(length);
        let total = asked_len + words.clone().map(|w| w.len()).sum::<usize>();
        words.for_each(|w| known.add(w));
        let dist = asked.distance(&known);
        if (dist as usize) < 5 * total / 2 {
            best.push((dist, usage));
        }
    }
    best.sort_by_key(|&(d, _)| d);
    best.truncate(MAX_MATCHES);
    let Some(&(first, _)) = best.first() else {
        return Vec::new();
    };
    // Candidates much further than the best one are unlikely: not shown.
    best.into_iter()
        .take_while(|&(d, _)| d <= 5 * first / 2)
        .map(|(_, u)| u)
        .collect()
}

/// Counts of character pairs (letters, digits as one class, anything else as a
/// word boundary), as HAProxy's `update_word_fingerprint`.
struct Fingerprint([u8; 32 * 32]);

impl Default for Fingerprint {
    fn default() -> Self {
        Self([0; 32 * 32])
    }
}

impl Fingerprint {
    /// Class of a byte: 1..=26 letters, 27 digits, 28 anything else (and word ends).
    fn class(c: u8) -> usize {
        match c.to_ascii_lowercase() {
            c @ b'a'..=b'z' => usize::from(c - b'a') + 1,
            b'0'..=b'9' => 27,
            _ => 28,
        }
    }

    fn add(&mut self, word: &str) {
        let mut from = 28;
        for &c in word.as_bytes() {
            let to = Self::class(c);
            self.bump(from, to);
            from = to;
        }
        self.bump(from, 28);
    }

    fn bump(&mut self, from: usize, to: usize) {
        let slot = &mut self.0[32 * from + to];
        *slot = slot.saturating_add(1);
    }

    fn distance(&self, other: &Self) -> u32 {
        self.0
            .iter()
            .zip(other.0.iter())
            .map(|(&a, &b)| u32::from(a.abs_diff(b)))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    fn listed(text: &str) -> Vec<&str> {
        text.lines()
            .skip(1)
            .filter_map(|l| l.trim_start().split(" :").next())
            .map(str::trim_end)
            .collect()
    }

    #[test]
    fn help_lists_every_command_sorted_then_help_prompt_quit() {
        let text = usage(&words("help"), true);
        assert!(text.starts_with("The following commands are valid at this level:\n"));
        let names = listed(&text);
        let n = names.len();
        assert_eq!(names[n - 3..], ["help [<command>]", "prompt", "quit"]);
        let mut sorted = names[..n - 3].to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, names[..n - 3]);
        assert!(names.contains(&"get weight <bk>/<srv>"), "{names:?}");
        assert!(names.contains(&"show info"), "{names:?}");
        // Every usage line keeps the column layout.
        for l in text.lines().skip(1) {
            assert_eq!(l.find(" : ").map(|i| i >= 40), Some(true), "{l:?}");
        }
    }

    #[test]
    fn help_with_a_word_narrows_the_list() {
        let text = usage(&words("help show"), true);
        let names = listed(&text);
        assert!(names.len() > 4);
        assert!(
            names[..names.len() - 3]
                .iter()
                .all(|n| n.starts_with("show ")),
            "{names:?}"
        );
        let text = usage(&words("help get weight"), true);
        assert_eq!(listed(&text)[0], "get weight <bk>/<srv>");
    }

    #[test]
    fn empty_and_unknown_commands() {
        let empty = usage(&[], false);
        assert!(
            empty
                .starts_with("Unknown command. Please enter one of the following commands only:\n")
        );
        assert_eq!(
            listed(&empty).len(),
            listed(&usage(&words("help"), true)).len()
        );
        // A typo proposes the close commands only.
        let text = usage(&words("show inof"), false);
        assert!(text.starts_with(
            "Unknown command, but maybe one of the following ones is a better match:\n"
        ));
        assert!(listed(&text).contains(&"show info"), "{text}");
        assert!(listed(&text).len() < 10, "{text}");
        assert!(!listed(&text).contains(&"get weight <bk>/<srv>"), "{text}");
        let text = usage(&words("get wieght be/s"), false);
        assert!(listed(&text).contains(&"get weight <bk>/<srv>"), "{text}");
        assert!(!listed(&text).contains(&"show info"), "{text}");
        // Any word is somewhat alike (the threshold is loose): at most five proposals.
        let text = usage(&words("xyzzy"), false);
        assert!(text.starts_with("Unknown command, but maybe"));
        assert!((4..=5 + 3).contains(&listed(&text).len()), "{text}");
    }

    #[test]
    fn fingerprints_measure_pairs() {
        let fp = |w: &str| {
            let mut f = Fingerprint::default();
            f.add(w);
            f
        };
        assert_eq!(fp("info").distance(&fp("info")), 0);
        // "inof" shares the start and "in" pairs with "info": 3 pairs differ each way.
        assert_eq!(fp("info").distance(&fp("inof")), 6);
        assert_eq!(fp("a1").distance(&fp("a2")), 0, "digits are one class");
    }
}
