//! One ACL expression: `criterion [flags] [operator] value...`.

use std::path::Path;

use crate::acl::AclError;
use crate::acl::pattern::{IntOp, MatchMethod, PatternSet};
use crate::sample::{SampleExpr, StreamCtx};

/// A sample expression with the patterns it is compared with.
#[derive(Debug, Clone)]
pub struct AclExpr {
    /// The criterion as written (for messages).
    pub text: String,
    /// What is fetched.
    pub sample: SampleExpr,
    /// How it is compared.
    pub method: MatchMethod,
    /// What it is compared with.
    pub patterns: PatternSet,
}

impl AclExpr {
    /// Parses `criterion [flags] values` (the words after the ACL name, or between the
    /// braces of an anonymous ACL). Flags: `-i` (ignore case), `-n` (no DNS; we never
    /// resolve), `-m METHOD`, `-f FILE` (patterns from a file, read now), `-u ID`
    /// (accepted, unused), `--` (end of flags).
    pub fn parse(words: &[String]) -> Result<Self, AclError> {
        let Some(criterion) = words.first() else {
            return Err(AclError::MissingCriterion);
        };
        let sample = SampleExpr::parse(criterion).map_err(|source| AclError::Sample {
            criterion: criterion.clone(),
            source,
        })?;
        let ty = sample.out_type();
        let mut method = MatchMethod::default_for(ty);
        let mut icase = false;
        let mut files: Vec<&str> = Vec::new();
        let mut rest = &words[1..];
        while let Some(flag) = rest.first().filter(|w| w.starts_with('-')) {
            let arg = || {
                rest.get(1)
                    .map(String::as_str)
                    .ok_or_else(|| AclError::MissingOptionArg(flag.clone()))
            };
            let used = match flag.as_str() {
                "-i" => {
                    icase = true;
                    1
                }
                "-n" => 1,
                "--" => {
                    rest = &rest[1..];
                    break;
                }
                "-u" => {
                    let id = arg()?;
                    if id.parse::<i64>().is_err() {
                        return Err(AclError::BadOptionArg {
                            option: flag.clone(),
                            arg: id.to_owned(),
                        });
                    }
                    2
                }
                "-f" => {
                    if method.is_none() {
                        return Err(AclError::MissingMatchMethod {
                            criterion: criterion.clone(),
                            ty,
                        });
                    }
                    files.push(arg()?);
                    2
                }
                "-m" => {
                    if !files.is_empty() {
                        return Err(AclError::MatchAfterFile);
                    }
                    let name = arg()?;
                    let m = MatchMethod::from_name(name)
                        .ok_or_else(|| AclError::UnknownMatchMethod(name.to_owned()))?;
                    if !m.accepts(ty) {
                        return Err(AclError::IncompatibleMatchMethod {
                            method: name.to_owned(),
                            criterion: criterion.clone(),
                        });
                    }
                    method = Some(m);
                    2
                }
                "-M" => return Err(AclError::UnsupportedOption(flag.clone())),
                _ => return Err(AclError::InvalidOption(flag.clone())),
            };
            rest = &rest[used..];
        }
        let method = method.ok_or_else(|| AclError::MissingMatchMethod {
            criterion: criterion.clone(),
            ty,
        })?;
        let mut patterns = PatternSet::new(method, icase);
        for file in files {
            for line in read_pattern_file(Path::new(file))? {
                patterns.add(&line, IntOp::Eq, icase)?;
            }
        }
        let mut op = IntOp::Eq;
        for word in rest {
            if method.takes_int_patterns()
                && let Some(new_op) = IntOp::from_word(word)
            {
                // The operator applies to every following value, as in HAProxy.
                op = new_op;
                continue;
            }
            patterns.add(word, op, icase)?;
        }
        Ok(Self {
            text: criterion.clone(),
            sample,
            method,
            patterns,
        })
    }

    /// Evaluates the expression: the sample exists and matches one pattern.
    pub fn eval(&self, ctx: &StreamCtx<'_>) -> bool {
        match self.sample.eval(ctx) {
            Some(sample) => self.patterns.matches(sample),
            None => false,
        }
    }
}

/// Reads an ACL pattern file as HAProxy does: one pattern per line, lines starting with
/// `#` are comments, leading blanks are skipped, empty lines ignored; the rest of the
/// line (trailing blanks included) is the pattern.
pub fn read_pattern_file(path: &Path) -> Result<Vec<String>, AclError> {
    let text = std::fs::read_to_string(path).map_err(|e| AclError::PatternFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(parse_pattern_lines(&text))
}

/// The patterns of a pattern file's contents (see [`read_pattern_file`]).
pub fn parse_pattern_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| line.trim_start_matches([' ', '\t']).trim_end_matches('\r'))
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    fn parse(text: &str) -> Result<AclExpr, AclError> {
        AclExpr::parse(&words(text))
    }

    fn ctx(src: &str, fe: &'static str) -> StreamCtx<'static> {
        StreamCtx::new(src.parse().unwrap(), "127.0.0.1:8443".parse().unwrap(), fe)
    }

    fn eval(text: &str, src: &str) -> bool {
        parse(text).unwrap().eval(&ctx(src, "Web-Front"))
    }

    #[test]
    fn default_methods_follow_the_fetch_type() {
        assert_eq!(parse("src 10.0.0.0/8").unwrap().method, MatchMethod::Ip);
        assert_eq!(parse("dst_port 80").unwrap().method, MatchMethod::Int);
        assert_eq!(parse("fe_name web").unwrap().method, MatchMethod::Str);
        assert_eq!(parse("always_true").unwrap().method, MatchMethod::Bool);
        assert_eq!(parse("src_port,lower 1").unwrap().method, MatchMethod::Str);
        assert!(eval("src 10.0.0.0/8", "10.1.1.1:1"));
        assert!(!eval("src 10.0.0.0/8", "11.1.1.1:1"));
        assert!(eval("dst_port 8443", "1.1.1.1:1"));
        assert!(eval("always_true", "1.1.1.1:1"));
        assert!(!eval("always_false", "1.1.1.1:1"));
    }

    #[test]
    fn flags() {
        assert!(!eval("fe_name web-front", "1.1.1.1:1"));
        assert!(eval("fe_name -i web-front", "1.1.1.1:1"));
        assert!(eval("fe_name -m beg Web", "1.1.1.1:1"));
        assert!(eval("fe_name -i -m end FRONT", "1.1.1.1:1"));
        assert!(eval("fe_name -m sub b-F", "1.1.1.1:1"));
        assert!(eval("fe_name -m reg ^W.b", "1.1.1.1:1"));
        assert!(eval("fe_name -m len 9", "1.1.1.1:1"));
        assert!(eval("fe_name -m found", "1.1.1.1:1"));
        assert!(eval("src -n 1.1.1.1", "1.1.1.1:1"));
        assert!(eval("src -m str 1.1.1.1", "1.1.1.1:1"));
        assert!(eval("src -m beg 1.1.", "1.1.1.1:1"));
        assert!(eval("src -u 7 1.1.1.1", "1.1.1.1:1"));
        assert!(eval("src_port -m bool", "1.1.1.1:1"));
        assert!(!eval("int(0) -m bool", "1.1.1.1:1"));
        assert!(eval("str(-x) -- -x", "1.1.1.1:1"));
        assert!(eval("str(a.b) -m dom b", "1.1.1.1:1"));
        assert!(eval("str(/a/b) -m dir a", "1.1.1.1:1"));
        assert!(eval("bin(0aff) -m bin 0AFF", "1.1.1.1:1"));
    }

    #[test]
    fn int_operators() {
        assert!(eval("src_port gt 1023", "1.1.1.1:1024"));
        assert!(!eval("src_port gt 1024", "1.1.1.1:1024"));
        assert!(eval("src_port ge 1024", "1.1.1.1:1024"));
        assert!(eval("src_port lt 1025", "1.1.1.1:1024"));
        assert!(!eval("src_port lt 1024", "1.1.1.1:1024"));
        assert!(eval("src_port le 1024", "1.1.1.1:1024"));
        assert!(eval("src_port eq 1024", "1.1.1.1:1024"));
        assert!(eval("src_port 1000:2000", "1.1.1.1:1024"));
        assert!(eval("src_port :2000", "1.1.1.1:1024"));
        assert!(eval("src_port 1000:", "1.1.1.1:1024"));
        // The operator sticks to the following values.
        assert!(eval("src_port lt 5 10", "1.1.1.1:7"));
        assert!(eval("fe_name -m len gt 3", "1.1.1.1:1"));
    }

    #[test]
    fn errors() {
        assert!(matches!(parse(""), Err(AclError::MissingCriterion)));
        assert!(matches!(parse("nope 1"), Err(AclError::Sample { .. })));
        assert!(matches!(parse("src -x 1"), Err(AclError::InvalidOption(o)) if o == "-x"));
        assert!(matches!(
            parse("src -m"),
            Err(AclError::MissingOptionArg(_))
        ));
        assert!(matches!(
            parse("src -m regm x"),
            Err(AclError::UnknownMatchMethod(_))
        ));
        assert!(matches!(
            parse("src -m int 1"),
            Err(AclError::IncompatibleMatchMethod { .. })
        ));
        assert!(matches!(
            parse("bin(00) 00"),
            Err(AclError::MissingMatchMethod { .. })
        ));
        assert!(matches!(
            parse("src 300.1.1.1"),
            Err(AclError::BadPattern { .. })
        ));
        assert!(matches!(
            parse("src_port abc"),
            Err(AclError::BadPattern { .. })
        ));
        assert!(matches!(
            parse("src -u x 1"),
            Err(AclError::BadOptionArg { .. })
        ));
        assert!(matches!(
            parse("src -M x"),
            Err(AclError::UnsupportedOption(_))
        ));
        assert!(matches!(
            parse("src -f /nonexistent/lb-acl"),
            Err(AclError::PatternFile { .. })
        ));
    }

    #[test]
    fn pattern_files() {
        let dir = std::env::temp_dir().join(format!("lb-acl-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("nets.lst");
        std::fs::write(&file, "# office\n10.0.0.0/8\n\n   192.168.1.0/24\r\n#x\n").unwrap();
        let path = file.display().to_string();
        let line = format!("src -f {path} 172.16.0.1");
        assert!(eval(&line, "10.9.9.9:1"));
        assert!(eval(&line, "192.168.1.200:1"));
        assert!(eval(&line, "172.16.0.1:1"));
        assert!(!eval(&line, "172.16.0.2:1"));
        let strs = dir.join("names.lst");
        std::fs::write(&strs, "WEB-FRONT\n").unwrap();
        let line = format!("fe_name -i -f {}", strs.display());
        assert!(eval(&line, "1.1.1.1:1"));
        // `-m` must come before `-f`.
        let late = format!("fe_name -f {} -m beg", strs.display());
        assert!(matches!(parse(&late), Err(AclError::MatchAfterFile)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn pattern_file_lines() {
        assert_eq!(
            parse_pattern_lines("a\n # not a comment\n#c\n\t\nb \r\n"),
            vec![
                "a".to_owned(),
                "# not a comment".to_owned(),
                "b ".to_owned()
            ]
        );
    }

    #[test]
    fn missing_sample_never_matches() {
        assert!(!eval("str(x),ipmask(8) 0.0.0.0/0", "1.1.1.1:1"));
        assert!(!eval("str(x),ipmask(8) -m found", "1.1.1.1:1"));
    }
}
