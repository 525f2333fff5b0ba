//! One ACL expression: `criterion [flags] [operator] value...`.

use std::sync::Arc;

use crate::acl::pattern::{IntOp, MatchMethod, dotted_version_pattern};
use crate::acl::{AclError, Tristate};
use crate::map::{Index, IndexSpec, RefKind, Registry};
use crate::sample::Fetch;
use crate::sample::fetch_payload::PayloadFetch;
use crate::sample::{Sample, SampleExpr, SampleType, StreamCtx};

/// A sample expression with the patterns it is compared with.
#[derive(Debug, Clone)]
pub struct AclExpr {
    /// The criterion as written (for messages).
    pub text: String,
    /// What is fetched.
    pub sample: SampleExpr,
    /// How it is compared.
    pub method: MatchMethod,
    /// The patterns: those written inline (if any), then one index per `-f` file, shared
    /// with every other user of the file and updated by the CLI.
    pub indexes: Vec<Arc<Index>>,
}

/// A `-f FILE` flag with the flags in force where it appears.
struct FileArg<'a> {
    path: &'a str,
    icase: bool,
    as_map: bool,
}

impl AclExpr {
    /// Parses `criterion [flags] values` (the words after the ACL name, or between the
    /// braces of an anonymous ACL). Flags: `-i` (ignore case), `-n` (no DNS; we never
    /// resolve), `-m METHOD`, `-f FILE` (patterns from a file, loaded through the
    /// [`Registry`]), `-M` (read the following `-f` files as maps: their keys are the
    /// patterns), `-u ID` (accepted, unused), `--` (end of flags).
    pub fn parse(words: &[String]) -> Result<Self, AclError> {
        let Some(criterion) = words.first() else {
            return Err(AclError::MissingCriterion);
        };
        // `path_beg`, `hdr_sub(host)`...: HAProxy's ACL-only keywords, a fetch with a
        // match method.
        let parsed = match SampleExpr::parse(criterion) {
            Ok(s) => Ok((s, None)),
            Err(e) => match super::predef::derivative(criterion) {
                Some((base, m)) => SampleExpr::parse(&base)
                    .map(|s| (s, Some(m)))
                    .map_err(|_| e),
                None => Err(e),
            },
        };
        let (sample, derived) = parsed.map_err(|source| AclError::Sample {
            criterion: criterion.clone(),
            source,
        })?;
        let ty = sample.out_type();
        let mut method = derived.or_else(|| MatchMethod::default_for(ty));
        let mut method_is_default = true;
        let mut icase = false;
        let mut as_map = false;
        let mut files: Vec<FileArg<'_>> = Vec::new();
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
                "-M" => {
                    as_map = true;
                    1
                }
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
                        return Err(missing_method(criterion, ty));
                    }
                    files.push(FileArg {
                        path: arg()?,
                        icase,
                        as_map,
                    });
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
                    method_is_default = false;
                    2
                }
                _ => return Err(AclError::InvalidOption(flag.clone())),
            };
            rest = &rest[used..];
        }
        // `req.ssl_ver` compares dotted versions unless a match method is forced, as
        // HAProxy's ACL keyword pairs it with `pat_parse_dotted_ver`.
        let dotted = method_is_default
            && matches!(
                sample,
                SampleExpr {
                    fetch: Fetch::Payload(PayloadFetch::SslVer),
                    ref convs,
                } if convs.is_empty()
            );
        let method = method.ok_or_else(|| missing_method(criterion, ty))?;
        let mut inline = Index::new(IndexSpec {
            method,
            icase,
            output: None,
        });
        let mut op = IntOp::Eq;
        for word in rest {
            if method.takes_int_patterns()
                && let Some(new_op) = IntOp::from_word(word)
            {
                // The operator applies to every following value, as in HAProxy.
                op = new_op;
                continue;
            }
            let dotted_word;
            let word = if dotted {
                dotted_word = dotted_version_pattern(word)?;
                &dotted_word
            } else {
                word
            };
            inline
                .add_pattern(word, op)
                .map_err(|reason| AclError::BadPattern {
                    pattern: word.clone(),
                    reason,
                })?;
        }
        let mut indexes = Vec::with_capacity(files.len() + 1);
        if !inline.is_empty() || files.is_empty() {
            indexes.push(Arc::new(inline));
        }
        for f in files {
            let kind = if f.as_map {
                RefKind::Map
            } else {
                RefKind::Patterns
            };
            let spec = IndexSpec {
                method,
                icase: f.icase,
                output: None,
            };
            let index = Registry::global()
                .load(f.path, kind)
                .and_then(|r| r.index(spec))?;
            indexes.push(index);
        }
        Ok(Self {
            text: criterion.clone(),
            sample,
            method,
            indexes,
        })
    }

    /// Evaluates the expression as final (no more data will come): the sample exists
    /// and matches one pattern.
    pub fn eval(&self, ctx: &StreamCtx<'_>) -> bool {
        self.eval_partial(&ctx.finalized()) == Tristate::True
    }

    /// Evaluates the expression; [`Tristate::Undecided`] when it does not match (or has
    /// no sample) yet but the fetch says more data could change that, and the payload is
    /// not final (HAProxy's `SMP_F_MAY_CHANGE`, giving `ACL_TEST_MISS`).
    pub fn eval_partial(&self, ctx: &StreamCtx<'_>) -> Tristate {
        // Multi-valued HTTP fetches (`hdr(x)`, `cook(x)`) match when any value does.
        if let Fetch::Http(f) = &self.sample.fetch
            && f.iterates()
        {
            let mut any =
                |s: Sample<'_>| self.sample.convert(s, ctx).is_some_and(|v| self.matches(v));
            return Tristate::from_bool(f.for_each(ctx, &mut any));
        }
        let fetched = self.sample.eval_partial(ctx);
        let may_change = fetched.may_change && !ctx.payload_final;
        if fetched.sample.is_some_and(|s| self.matches(s)) {
            Tristate::True
        } else if may_change {
            Tristate::Undecided
        } else {
            Tristate::False
        }
    }

    /// Whether an existing sample matches: `found` always, `bool` when non-zero,
    /// otherwise when a pattern matches.
    pub fn matches(&self, sample: Sample<'_>) -> bool {
        match self.method {
            MatchMethod::Found => true,
            MatchMethod::Bool => {
                matches!(sample.cast(SampleType::Int), Some(Sample::Int(v)) if v != 0)
            }
            _ => match self.indexes.as_slice() {
                [only] => only.matches(sample),
                all => all.iter().any(|i| i.matches(sample.clone())),
            },
        }
    }
}

fn missing_method(criterion: &str, ty: SampleType) -> AclError {
    AclError::MissingMatchMethod {
        criterion: criterion.to_owned(),
        ty,
    }
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
    fn ssl_versions_are_dotted_by_default() {
        let v = |major: i64, minor: i64| Sample::Int((major << 16) | minor);
        let acl = parse("req.ssl_ver 3.1").unwrap();
        assert!(acl.matches(v(3, 1)));
        assert!(!acl.matches(v(3, 3)));
        assert!(!acl.matches(Sample::Int(3)));
        // A bare major is `major.0` (SSLv3), not the integer 3.
        assert!(parse("req_ssl_ver 3").unwrap().matches(v(3, 0)));
        let range = parse("req.ssl_ver 2:3.1").unwrap();
        assert!(range.matches(v(2, 0)) && range.matches(v(3, 1)));
        assert!(!range.matches(v(3, 2)) && !range.matches(v(1, 9)));
        let ge = parse("req.ssl_ver ge 3.3").unwrap();
        assert!(ge.matches(v(3, 3)) && ge.matches(v(3, 4)) && !ge.matches(v(3, 2)));
        assert!(parse("req.ssl_ver 3.x").is_err());
        assert!(parse("req.ssl_ver 3.3:3.1").is_err());
        // A forced match method or a converter keeps plain integers.
        assert!(parse("req.ssl_ver -m int 196609").unwrap().matches(v(3, 1)));
        assert!(parse("req.ssl_ver,add(0) 196609").unwrap().matches(v(3, 1)));
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
            Err(AclError::BadPattern { .. })
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
    fn map_files_as_patterns_and_runtime_updates() {
        let dir = std::env::temp_dir().join(format!("lb-acl-map-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let map = dir.join("fronts.map");
        std::fs::write(
            &map,
            "web-front be1
# c
other be2
",
        )
        .unwrap();
        let path = map.display().to_string();
        // Without -M the whole line is the pattern; with it, the key.
        assert!(!eval(&format!("fe_name -i -f {path}"), "1.1.1.1:1"));
        let line = format!("fe_name -i -M -f {path}");
        let expr = parse(&line).unwrap();
        let c = ctx("1.1.1.1:1", "Web-Front");
        assert!(expr.eval(&c));
        let pat_ref = crate::map::Registry::global().get(&path).unwrap();
        assert_eq!(pat_ref.del("web-front"), 1);
        assert!(!expr.eval(&c));
        pat_ref.add("WEB-front", Some("x")).unwrap();
        assert!(expr.eval(&c));
        // The same file cannot be read with one column once read with two.
        let one = format!("fe_name -f {path}");
        let _keep = parse(&format!("fe_name -M -f {path}")).unwrap();
        assert!(matches!(parse(&one), Err(AclError::Map(_))), "{one}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn case_flag_applies_to_files_after_it() {
        let dir = std::env::temp_dir().join(format!("lb-acl-icase-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("names.lst");
        std::fs::write(&file, "WEB-FRONT\n").unwrap();
        let path = file.display().to_string();
        assert!(!eval(&format!("fe_name -f {path} -i"), "1.1.1.1:1"));
        assert!(eval(
            &format!("fe_name -f {path} -i web-front"),
            "1.1.1.1:1"
        ));
        assert!(eval(&format!("fe_name -i -f {path}"), "1.1.1.1:1"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn no_pattern_never_matches() {
        assert!(!eval("fe_name", "1.1.1.1:1"));
        assert!(!eval("src", "1.1.1.1:1"));
    }

    #[test]
    fn missing_sample_never_matches() {
        assert!(!eval("str(x),ipmask(8) 0.0.0.0/0", "1.1.1.1:1"));
        assert!(!eval("str(x),ipmask(8) -m found", "1.1.1.1:1"));
    }
}
