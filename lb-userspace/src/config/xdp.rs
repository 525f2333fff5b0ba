//! Our own `xdp` section: where the kernel fast path attaches and what the guard enforces.
//!
//! ```text
//! xdp
//!     interface eth0 [mode native|generic|auto]
//!     pin-path /sys/fs/bpf/lb
//!     required
//!     protected-ports 80 443 8000-8010
//!     syn-rate 100 [burst 200]
//!     syn-global-rate 50000 [burst 100000]
//!     deny 192.0.2.0/24 2001:db8::/32 | deny -f /etc/lb/deny.lst
//!     allow 10.0.0.0/8 | allow -f /etc/lb/allow.lst
//!     malformed drop|pass
//!     fragments drop|pass
//!     tcp-sanity on|off
//!     syn-cookies check|set|off
//! ```

use std::path::{Path, PathBuf};

use super::error::{ConfigError, ErrorKind, did_you_mean};
use super::line::Line;
use super::model::{
    DEFAULT_PIN_PATH, Location, SynCookiesPolicy, XdpCidr, XdpInterface, XdpMode, XdpRate,
    XdpSection,
};
use crate::ebpf::Cidr;

const KEYWORDS: &[&str] = &[
    "interface",
    "pin-path",
    "required",
    "protected-ports",
    "syn-rate",
    "syn-global-rate",
    "deny",
    "allow",
    "malformed",
    "fragments",
    "tcp-sanity",
    "syn-cookies",
];

/// Longest interface name (`IFNAMSIZ` - 1).
const MAX_IFNAME: usize = 15;

/// Ports the kernel side can protect (`lb_common::guard::PORT_ENTRIES`).
const MAX_PROTECTED_PORTS: usize = lb_common::guard::PORT_ENTRIES as usize;

/// Entries each list holds per address family (`lb_common::guard::CIDR_ENTRIES`).
const MAX_LIST_ENTRIES: usize = lb_common::guard::CIDR_ENTRIES as usize;

/// Highest SYN rate the kernel honours (`lb_common::guard::MAX_RATE`).
const MAX_RATE: u64 = lb_common::guard::MAX_RATE;

impl XdpSection {
    /// A section with every default, starting at `location`.
    pub fn new(location: Location) -> Self {
        Self {
            interfaces: Vec::new(),
            pin_path: PathBuf::from(DEFAULT_PIN_PATH),
            required: false,
            location,
            protected_ports: None,
            syn_rate: None,
            syn_global_rate: None,
            deny: Vec::new(),
            allow: Vec::new(),
            malformed_drop: false,
            fragments_drop: false,
            tcp_sanity: true,
            syn_cookies: SynCookiesPolicy::Check,
        }
    }
}

/// A fresh `xdp` section starting at `location`.
pub(crate) fn new_section(location: Location) -> XdpSection {
    XdpSection::new(location)
}

/// Parses one line inside the `xdp` section.
pub(crate) fn parse_keyword(xdp: &mut XdpSection, line: &Line) -> Result<(), ConfigError> {
    line.no_modifier()?;
    match line.kw() {
        "interface" => interface(xdp, line),
        "pin-path" => {
            let dir = line.required(1, "pin-path", "a directory")?;
            line.max_args(1, "pin-path")?;
            if !dir.starts_with('/') {
                return Err(line.bad_value(
                    "pin-path",
                    dir,
                    "must be an absolute path (under a bpffs mount)",
                ));
            }
            xdp.pin_path = PathBuf::from(dir);
            Ok(())
        }
        "required" => {
            line.max_args(0, "required")?;
            xdp.required = true;
            Ok(())
        }
        "protected-ports" => protected_ports(xdp, line),
        "syn-rate" => {
            xdp.syn_rate = Some(rate(line, "syn-rate")?);
            Ok(())
        }
        "syn-global-rate" => {
            xdp.syn_global_rate = Some(rate(line, "syn-global-rate")?);
            Ok(())
        }
        "deny" => {
            let entries = cidrs(line, "deny")?;
            push_entries(&mut xdp.deny, entries, line, "deny")
        }
        "allow" => {
            let entries = cidrs(line, "allow")?;
            push_entries(&mut xdp.allow, entries, line, "allow")
        }
        "malformed" => {
            xdp.malformed_drop = choice(line, "malformed", ("drop", "pass"))?;
            Ok(())
        }
        "fragments" => {
            xdp.fragments_drop = choice(line, "fragments", ("drop", "pass"))?;
            Ok(())
        }
        "tcp-sanity" => {
            xdp.tcp_sanity = choice(line, "tcp-sanity", ("on", "off"))?;
            Ok(())
        }
        "syn-cookies" => {
            let value = line.required(1, "syn-cookies", "'check', 'set' or 'off'")?;
            line.max_args(1, "syn-cookies")?;
            xdp.syn_cookies = match value {
                "check" => SynCookiesPolicy::Check,
                "set" => SynCookiesPolicy::Set,
                "off" => SynCookiesPolicy::Off,
                other => {
                    return Err(line.bad_value(
                        "syn-cookies",
                        other,
                        "expects 'check', 'set' or 'off'",
                    ));
                }
            };
            Ok(())
        }
        kw => {
            let kind = ErrorKind::UnknownKeyword {
                keyword: kw.into(),
                section: "xdp".into(),
            };
            Err(line
                .err(kind)
                .with_suggestion(did_you_mean(kw, KEYWORDS.iter().copied())))
        }
    }
}

/// `KEYWORD yes-word|no-word`: true for the first.
fn choice(line: &Line, kw: &str, (yes, no): (&str, &str)) -> Result<bool, ConfigError> {
    let expected = format!("'{yes}' or '{no}'");
    let value = line.required(1, kw, &expected)?;
    line.max_args(1, kw)?;
    match value {
        v if v == yes => Ok(true),
        v if v == no => Ok(false),
        other => Err(line.bad_value(kw, other, format!("expects {expected}"))),
    }
}

/// `protected-ports <port|low-high>...`; repeated lines add up.
fn protected_ports(xdp: &mut XdpSection, line: &Line) -> Result<(), ConfigError> {
    const KW: &str = "protected-ports";
    line.required(1, KW, "at least one port or port range")?;
    let ranges = xdp.protected_ports.get_or_insert_with(Vec::new);
    for word in &line.words[1..] {
        let range = parse_port_range(word).map_err(|reason| line.bad_value(KW, word, reason))?;
        ranges.push(range);
    }
    let total: usize = ranges
        .iter()
        .map(|&(lo, hi)| usize::from(hi - lo) + 1)
        .sum();
    if total > MAX_PROTECTED_PORTS {
        return Err(line.invalid(
            KW,
            format!("{total} ports listed, the XDP guard protects at most {MAX_PROTECTED_PORTS}"),
        ));
    }
    Ok(())
}

/// `PORT` or `LOW-HIGH`, ports 1 to 65535.
fn parse_port_range(word: &str) -> Result<(u16, u16), &'static str> {
    let port = |s: &str| match s.parse::<u16>() {
        Ok(0) | Err(_) => Err("expects a port (1-65535) or a range LOW-HIGH"),
        Ok(p) => Ok(p),
    };
    match word.split_once('-') {
        Some((lo, hi)) => {
            let (lo, hi) = (port(lo)?, port(hi)?);
            if lo > hi {
                return Err("the range ends before it starts");
            }
            Ok((lo, hi))
        }
        None => port(word).map(|p| (p, p)),
    }
}

/// `KEYWORD <per-second> [burst <N>]`.
fn rate(line: &Line, kw: &str) -> Result<XdpRate, ConfigError> {
    let text = line.required(1, kw, "a number of SYNs per second")?;
    let rate = line.number(kw, text, 1, MAX_RATE)?;
    let burst = match line.arg(2) {
        None => rate,
        Some("burst") => {
            let text = line.required(3, &format!("{kw} burst"), "a number of SYNs")?;
            line.max_args(3, kw)?;
            line.number(&format!("{kw} burst"), text, 1, lb_common::guard::MAX_BURST)?
        }
        Some(other) => {
            return Err(line.bad_value(kw, other, "expects 'burst <N>' after the rate"));
        }
    };
    Ok(XdpRate { rate, burst })
}

/// The entries of a `deny`/`allow` line: inline CIDRs, or `-f FILE`s (mixing is fine).
fn cidrs(line: &Line, kw: &str) -> Result<Vec<XdpCidr>, ConfigError> {
    line.required(1, kw, "CIDRs or '-f <file>'")?;
    let mut out = Vec::new();
    let mut words = line.words[1..].iter();
    while let Some(word) = words.next() {
        if word == "-f" {
            let Some(file) = words.next() else {
                return Err(line.missing(&format!("{kw} -f"), "a file name"));
            };
            out.extend(read_list(line, kw, Path::new(file))?);
            continue;
        }
        let cidr: Cidr = word.parse().map_err(|_| {
            line.bad_value(
                kw,
                word,
                "expects ADDRESS[/PREFIX] (IPv4 or IPv6) or '-f <file>'",
            )
        })?;
        out.push(XdpCidr {
            cidr,
            location: line.loc.clone(),
        });
    }
    Ok(out)
}

/// Reads a list file: one CIDR per line, blank lines and `#` comments ignored. Relative
/// paths are relative to the working directory, as HAProxy's ACL and map files are.
fn read_list(line: &Line, kw: &str, path: &Path) -> Result<Vec<XdpCidr>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        line.invalid(
            &format!("{kw} -f"),
            format!("failed to open file '{}' : {e}", path.display()),
        )
    })?;
    parse_list(&text, path, kw, &line.loc)
}

/// Parses the text of a list file; errors point at the file's line.
pub(crate) fn parse_list(
    text: &str,
    path: &Path,
    kw: &str,
    from: &Location,
) -> Result<Vec<XdpCidr>, ConfigError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let entry = raw.split('#').next().unwrap_or("").trim();
        if entry.is_empty() {
            continue;
        }
        let location = Location {
            file: path.to_path_buf(),
            line: i + 1,
        };
        let cidr: Cidr = entry.parse().map_err(|_| {
            let kind = ErrorKind::InvalidValue {
                keyword: format!("{kw} -f"),
                value: entry.to_owned(),
                reason: "expects one ADDRESS[/PREFIX] per line".to_owned(),
            };
            ConfigError::new(location.clone(), kind)
                .with_hint(format!("file loaded by '{kw} -f' at {from}"))
        })?;
        out.push(XdpCidr { cidr, location });
    }
    Ok(out)
}

/// Appends `entries` (skipping prefixes already listed) within the per-family limit.
fn push_entries(
    list: &mut Vec<XdpCidr>,
    entries: Vec<XdpCidr>,
    line: &Line,
    kw: &str,
) -> Result<(), ConfigError> {
    for entry in entries {
        if !list.iter().any(|e| e.cidr == entry.cidr) {
            list.push(entry);
        }
    }
    let v4 = list.iter().filter(|e| e.cidr.addr().is_ipv4()).count();
    let v6 = list.len() - v4;
    if v4.max(v6) > MAX_LIST_ENTRIES {
        return Err(line.invalid(
            kw,
            format!("more than {MAX_LIST_ENTRIES} entries of one address family"),
        ));
    }
    Ok(())
}

fn interface(xdp: &mut XdpSection, line: &Line) -> Result<(), ConfigError> {
    let name = line.required(1, "interface", "an interface name")?;
    line.max_args(3, "interface")?;
    let valid = name.len() <= MAX_IFNAME
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace());
    if !valid {
        return Err(line.bad_value("interface", name, "not a valid interface name"));
    }
    let mode = match (line.arg(2), line.arg(3)) {
        (None, _) => XdpMode::Auto,
        (Some("mode"), Some("native")) => XdpMode::Native,
        (Some("mode"), Some("generic")) => XdpMode::Generic,
        (Some("mode"), Some("auto")) => XdpMode::Auto,
        (Some("mode"), Some(other)) => {
            return Err(line.bad_value(
                "interface mode",
                other,
                "expects 'native', 'generic' or 'auto'",
            ));
        }
        (Some("mode"), None) => {
            return Err(line.missing("interface mode", "'native', 'generic' or 'auto'"));
        }
        (Some(other), _) => {
            return Err(line.bad_value("interface", other, "expects 'mode' after the name"));
        }
    };
    if xdp.interfaces.iter().any(|i| i.name == name) {
        return Err(line.invalid("interface", format!("interface '{name}' is declared twice")));
    }
    xdp.interfaces.push(XdpInterface {
        name: name.to_owned(),
        mode,
    });
    Ok(())
}

/// A warning for each `xdp-deny` rule of a configuration without `xdp` section: the
/// action can only log that it does nothing.
pub(crate) fn push_down_warnings(config: &super::model::Config) -> Vec<ConfigError> {
    if config.xdp.is_some() {
        return Vec::new();
    }
    let rule_sets = config
        .frontends
        .iter()
        .map(|f| &f.rules)
        .chain(config.backends.iter().map(|b| &b.rules));
    let tcp = rule_sets
        .flat_map(|r| r.connection.iter().chain(&r.content))
        .filter(|rule| matches!(rule.action, crate::rules::Action::XdpDeny(_)))
        .map(|rule| &rule.location);
    // `http-request xdp-deny` (and the same action in the other HTTP rule lists).
    let http = config
        .frontends
        .iter()
        .map(|f| &f.http_rules)
        .chain(config.backends.iter().map(|b| &b.http_rules))
        .flat_map(|r| r.request.iter().chain(&r.response).chain(&r.after_response))
        .filter(|rule| matches!(rule.action, crate::http_rules::HttpAction::XdpDeny(_)))
        .map(|rule| &rule.location);
    tcp.chain(http)
        .map(|location| {
            let reason =
                "'xdp-deny' has no effect: no 'xdp' section loads the XDP guard".to_owned();
            ConfigError::new(location.clone(), ErrorKind::Consistency(reason))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn apply(xdp: &mut XdpSection, text: &str) -> Result<(), String> {
        let l = Line::new(
            Location::default(),
            text.split_whitespace().map(str::to_owned).collect(),
        );
        parse_keyword(xdp, &l).map_err(|e| e.message())
    }

    #[test]
    fn keywords() {
        let mut x = new_section(Location::default());
        apply(&mut x, "interface eth0").unwrap();
        apply(&mut x, "interface lo mode generic").unwrap();
        apply(&mut x, "interface ens3 mode native").unwrap();
        apply(&mut x, "pin-path /sys/fs/bpf/test").unwrap();
        apply(&mut x, "required").unwrap();
        let names: Vec<_> = x
            .interfaces
            .iter()
            .map(|i| (i.name.as_str(), i.mode))
            .collect();
        assert_eq!(
            names,
            [
                ("eth0", XdpMode::Auto),
                ("lo", XdpMode::Generic),
                ("ens3", XdpMode::Native)
            ]
        );
        assert_eq!(x.pin_path, PathBuf::from("/sys/fs/bpf/test"));
        assert!(x.required);
        assert_eq!(
            new_section(Location::default()).pin_path,
            PathBuf::from("/sys/fs/bpf/lb")
        );
    }

    #[test]
    fn errors() {
        let mut x = new_section(Location::default());
        let mut err = |t: &str| apply(&mut x, t).unwrap_err();
        assert_eq!(err("interface"), "'interface' expects an interface name");
        assert_eq!(
            err("interface averyveryverylongname"),
            "'interface' : invalid value 'averyveryverylongname' : not a valid interface name"
        );
        assert_eq!(
            err("interface eth0 mode turbo"),
            "'interface mode' : invalid value 'turbo' : expects 'native', 'generic' or 'auto'"
        );
        assert_eq!(
            err("interface eth0 mode"),
            "'interface mode' expects 'native', 'generic' or 'auto'"
        );
        assert_eq!(
            err("interface eth0 speed fast"),
            "'interface' : invalid value 'speed' : expects 'mode' after the name"
        );
        assert_eq!(
            err("pin-path relative/dir"),
            "'pin-path' : invalid value 'relative/dir' : must be an absolute path (under a bpffs mount)"
        );
        assert_eq!(
            err("required yes"),
            "'required' cannot handle unexpected argument 'yes'"
        );
        assert_eq!(
            err("interfaces eth0"),
            "unknown keyword 'interfaces' in 'xdp' section; did you mean 'interface' maybe ?"
        );
        assert_eq!(
            err("no required"),
            "negation/default currently supported only for options and log"
        );
        apply(&mut x, "interface eth1").unwrap();
        assert_eq!(
            apply(&mut x, "interface eth1 mode native").unwrap_err(),
            "'interface' : interface 'eth1' is declared twice"
        );
    }

    #[test]
    fn guard_keywords() {
        let mut x = new_section(Location::default());
        assert!(x.tcp_sanity && !x.malformed_drop && !x.fragments_drop);
        assert_eq!(x.syn_cookies, SynCookiesPolicy::Check);
        apply(&mut x, "protected-ports 80 443 8000-8010").unwrap();
        apply(&mut x, "protected-ports 9000").unwrap();
        // The kernel side indexes its port table by port: every port can be protected.
        let mut all = new_section(Location::default());
        apply(&mut all, "protected-ports 1-65535").unwrap();
        assert_eq!(
            x.protected_ports,
            Some(vec![(80, 80), (443, 443), (8000, 8010), (9000, 9000)])
        );
        apply(&mut x, "syn-rate 100").unwrap();
        assert_eq!(
            x.syn_rate,
            Some(XdpRate {
                rate: 100,
                burst: 100
            })
        );
        apply(&mut x, "syn-global-rate 5000 burst 20000").unwrap();
        assert_eq!(
            x.syn_global_rate,
            Some(XdpRate {
                rate: 5000,
                burst: 20000
            })
        );
        apply(&mut x, "deny 192.0.2.1/24 2001:db8::/32 10.0.0.1").unwrap();
        apply(&mut x, "deny 192.0.2.0/24").unwrap();
        let deny: Vec<String> = x.deny.iter().map(|e| e.cidr.to_string()).collect();
        assert_eq!(deny, ["192.0.2.0/24", "2001:db8::/32", "10.0.0.1/32"]);
        apply(&mut x, "allow 10.0.0.0/8").unwrap();
        assert_eq!(x.allow.len(), 1);
        apply(&mut x, "malformed drop").unwrap();
        apply(&mut x, "fragments drop").unwrap();
        apply(&mut x, "tcp-sanity off").unwrap();
        apply(&mut x, "syn-cookies set").unwrap();
        assert!(!x.tcp_sanity && x.malformed_drop && x.fragments_drop);
        assert_eq!(x.syn_cookies, SynCookiesPolicy::Set);
    }

    #[test]
    fn guard_keyword_errors() {
        let mut x = new_section(Location::default());
        let mut err = |t: &str| apply(&mut x, t).unwrap_err();
        assert_eq!(
            err("protected-ports"),
            "'protected-ports' expects at least one port or port range"
        );
        assert_eq!(
            err("protected-ports 0"),
            "'protected-ports' : invalid value '0' : expects a port (1-65535) or a range LOW-HIGH"
        );
        assert_eq!(
            err("protected-ports 90-80"),
            "'protected-ports' : invalid value '90-80' : the range ends before it starts"
        );
        assert_eq!(
            err("syn-rate fast"),
            "'syn-rate' : invalid value 'fast' : expects an integer"
        );
        assert_eq!(
            err("syn-rate 0"),
            "'syn-rate' : invalid value '0' : must be between 1 and 300000000"
        );
        assert_eq!(
            err("syn-rate 10 burts 5"),
            "'syn-rate' : invalid value 'burts' : expects 'burst <N>' after the rate"
        );
        assert_eq!(
            err("syn-global-rate 10 burst"),
            "'syn-global-rate burst' expects a number of SYNs"
        );
        assert_eq!(
            err("deny 10.0.0.0/33"),
            "'deny' : invalid value '10.0.0.0/33' : expects ADDRESS[/PREFIX] (IPv4 or IPv6) or '-f <file>'"
        );
        assert_eq!(err("allow -f"), "'allow -f' expects a file name");
        assert!(
            err("deny -f /nonexistent/lb-list")
                .starts_with("'deny -f' : failed to open file '/nonexistent/lb-list' : ")
        );
        assert_eq!(
            err("malformed maybe"),
            "'malformed' : invalid value 'maybe' : expects 'drop' or 'pass'"
        );
        assert_eq!(err("tcp-sanity"), "'tcp-sanity' expects 'on' or 'off'");
        assert_eq!(
            err("syn-cookies always"),
            "'syn-cookies' : invalid value 'always' : expects 'check', 'set' or 'off'"
        );
        assert_eq!(
            err("syn-rates 5"),
            "unknown keyword 'syn-rates' in 'xdp' section; did you mean 'syn-rate' maybe ?"
        );
    }

    #[test]
    fn list_files() {
        let dir = std::env::temp_dir().join(format!("lb-xdp-list-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.lst");
        let mut f = std::fs::File::create(&good).unwrap();
        writeln!(
            f,
            "# abusers\n192.0.2.0/24   # a comment\n\n  2001:db8::1\n"
        )
        .unwrap();
        let mut x = new_section(Location::default());
        apply(&mut x, &format!("deny -f {} 198.51.100.7", good.display())).unwrap();
        let got: Vec<(String, usize)> = x
            .deny
            .iter()
            .map(|e| (e.cidr.to_string(), e.location.line))
            .collect();
        assert_eq!(
            got,
            [
                ("192.0.2.0/24".to_owned(), 2),
                ("2001:db8::1/128".to_owned(), 4),
                ("198.51.100.7/32".to_owned(), 0)
            ]
        );
        assert_eq!(x.deny[0].location.file, good);

        let from = Location {
            file: "lb.cfg".into(),
            line: 7,
        };
        let e = parse_list(
            "10.0.0.0/8\n\n10.1/8\n",
            Path::new("bad.lst"),
            "allow",
            &from,
        )
        .unwrap_err();
        assert_eq!(e.location.to_string(), "bad.lst:3");
        assert_eq!(
            e.kind.to_string(),
            "'allow -f' : invalid value '10.1/8' : expects one ADDRESS[/PREFIX] per line"
        );
        assert_eq!(
            e.hint.as_deref(),
            Some("file loaded by 'allow -f' at lb.cfg:7")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn push_down_without_a_guard_is_a_warning() {
        let text = "frontend fe\n bind 127.0.0.1:1\n tcp-request connection xdp-deny\n default_backend be\nbackend be\n server s 127.0.0.1:2\n";
        let config = crate::config::parse_str(text, Path::new("t.cfg")).unwrap();
        assert_eq!(config.warnings.len(), 1);
        assert_eq!(config.warnings[0].location.line, 3);
        assert!(
            config.warnings[0]
                .to_string()
                .contains("'xdp-deny' has no effect")
        );
        let with_guard = format!("{text}xdp\n interface lo\n");
        let config = crate::config::parse_str(&with_guard, Path::new("t.cfg")).unwrap();
        assert!(config.warnings.is_empty());
    }

    #[test]
    fn http_push_down_without_a_guard_is_a_warning() {
        let text = "defaults
 mode http
frontend fe
 bind 127.0.0.1:1
 http-request xdp-deny if { path /ban }
 default_backend be
backend be
 server s 127.0.0.1:2
";
        let config = crate::config::parse_str(text, Path::new("t.cfg")).unwrap();
        let lines: Vec<_> = config.warnings.iter().map(|w| w.location.line).collect();
        assert_eq!(lines, [5], "{:?}", config.warnings);
        assert!(
            config.warnings[0]
                .to_string()
                .contains("'xdp-deny' has no effect")
        );
        let with_guard = format!("{text}xdp\n interface lo\n");
        let config = crate::config::parse_str(&with_guard, Path::new("t.cfg")).unwrap();
        assert!(config.warnings.is_empty());
    }
}
