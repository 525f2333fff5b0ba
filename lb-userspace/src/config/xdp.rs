//! Our own `xdp` section: where the kernel fast path attaches.
//!
//! ```text
//! xdp
//!     interface eth0 [mode native|generic|auto]
//!     pin-path /sys/fs/bpf/lb
//!     required
//! ```

use std::path::PathBuf;

use super::error::{ConfigError, ErrorKind, did_you_mean};
use super::line::Line;
use super::model::{DEFAULT_PIN_PATH, Location, XdpInterface, XdpMode, XdpSection};

const KEYWORDS: &[&str] = &["interface", "pin-path", "required"];

/// Longest interface name (`IFNAMSIZ` - 1).
const MAX_IFNAME: usize = 15;

/// A fresh `xdp` section starting at `location`.
pub(crate) fn new_section(location: Location) -> XdpSection {
    XdpSection {
        interfaces: Vec::new(),
        pin_path: PathBuf::from(DEFAULT_PIN_PATH),
        required: false,
        location,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
