//! The `map*` converters: look the input up in a map file and return the value.
//!
//! `map_<match>_<output>(<file>[,<default>])` with `<match>` one of `str` (also plain
//! `map`), `beg`, `sub`, `dir`, `dom`, `end`, `reg`, `regm`, `int`, `ip`, and `<output>`
//! `str` (the default), `int` or `ip`. The file is loaded (once per process) through
//! [`Registry::global`] when the expression is parsed; run-time changes to the map are
//! seen by the next lookup.

use std::sync::Arc;

use crate::acl::pattern::MatchMethod;
use crate::map::{Index, IndexSpec, MapValue, OutputType, RefKind, Registry};
use crate::sample::parse::Call;
use crate::sample::{Sample, SampleError, SampleType};

/// A parsed `map*` converter with its index.
#[derive(Debug, Clone)]
pub struct MapConv {
    /// The map file as written.
    pub file: String,
    /// How the input is matched against the keys.
    pub method: MatchMethod,
    /// The type of the values.
    pub output: OutputType,
    /// Returned when nothing matches.
    pub default: Option<MapValue>,
    index: Arc<Index>,
}

impl PartialEq for MapConv {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.index, &other.index) && self.default == other.default
    }
}

impl Eq for MapConv {}

/// Splits a converter name into match method and output, if it is a map converter.
fn kind(name: &str) -> Option<(MatchMethod, OutputType)> {
    if name == "map" {
        return Some((MatchMethod::Str, OutputType::Str));
    }
    let rest = name.strip_prefix("map_")?;
    let (method, output) = match rest.split_once('_') {
        Some((m, o)) => (m, o),
        None => (rest, "str"),
    };
    let method = match method {
        "str" => MatchMethod::Str,
        "beg" => MatchMethod::Beg,
        "sub" => MatchMethod::Sub,
        "dir" => MatchMethod::Dir,
        "dom" => MatchMethod::Dom,
        "end" => MatchMethod::End,
        "reg" => MatchMethod::Reg,
        "regm" => MatchMethod::Regm,
        "int" => MatchMethod::Int,
        "ip" => MatchMethod::Ip,
        _ => return None,
    };
    let output = match output {
        "str" => OutputType::Str,
        "int" => OutputType::Int,
        "ip" => OutputType::Ip,
        _ => return None,
    };
    // `regm` rewrites its value with the captures: strings only.
    if method == MatchMethod::Regm && output != OutputType::Str {
        return None;
    }
    Some((method, output))
}

impl MapConv {
    /// Builds the converter called `call.name` if it is a map converter, loading its
    /// file.
    pub fn parse(call: &Call) -> Result<Option<Self>, SampleError> {
        let name = call.name.as_str();
        let Some((method, output)) = kind(name) else {
            return Ok(None);
        };
        let bad = |reason: String| SampleError::BadArgs {
            keyword: name.to_owned(),
            reason,
        };
        let (file, default) = match call.args.as_slice() {
            [f] => (f, None),
            [f, d] => (f, Some(d)),
            _ => return Err(bad("expects <map_file>[,<default_value>]".into())),
        };
        if file.is_empty() {
            return Err(bad("missing map file name".into()));
        }
        let default = match default {
            None => None,
            Some(d) => Some(MapValue::parse(d, output).ok_or_else(|| {
                bad(format!(
                    "cannot parse default {} value '{d}'",
                    output.name()
                ))
            })?),
        };
        let spec = IndexSpec {
            method,
            icase: false,
            output: Some(output),
        };
        let index = Registry::global()
            .load(file, RefKind::Map)
            .and_then(|r| r.index(spec))
            .map_err(|e| bad(e.to_string()))?;
        Ok(Some(Self {
            file: file.clone(),
            method,
            output,
            default,
            index,
        }))
    }

    /// The index the converter reads.
    pub fn index(&self) -> &Arc<Index> {
        &self.index
    }

    /// The input type: a string, an integer for `map_int*`, an address for `map_ip*`.
    pub fn in_type(&self) -> SampleType {
        match self.method {
            MatchMethod::Int => SampleType::Int,
            MatchMethod::Ip => SampleType::Addr,
            _ => SampleType::Str,
        }
    }

    /// The output type.
    pub fn out_type(&self) -> SampleType {
        self.output.sample_type()
    }

    /// Looks the input up; the default when nothing matches, no value without one.
    pub fn apply(&self, input: Sample<'_>) -> Option<Sample<'static>> {
        match self.index.lookup(input) {
            Some(found) => found.value.map(|v| v.to_sample()),
            None => self.default.as_ref().map(MapValue::to_sample),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{SampleExpr, StreamCtx};

    fn write_map(name: &str, text: &str) -> (std::path::PathBuf, String) {
        let dir = std::env::temp_dir().join(format!("lb-conv-map-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.map");
        std::fs::write(&path, text).unwrap();
        let p = path.display().to_string();
        (dir, p)
    }

    fn eval(expr: &SampleExpr) -> Option<Sample<'static>> {
        let c = StreamCtx::new(
            "10.1.2.3:1000".parse().unwrap(),
            "192.0.2.1:443".parse().unwrap(),
            "fe",
        );
        expr.eval(&c).map(Sample::into_owned)
    }

    #[test]
    fn lookups_defaults_and_updates() {
        let (dir, path) = write_map("hosts", "# hosts\nwww.a.test be_a\n.b.test be_b\n");
        let e =
            SampleExpr::parse(&format!("str(WWW.A.test),lower,map({path},be_default)")).unwrap();
        assert_eq!(eval(&e), Some(Sample::Str("be_a".into())));
        let miss = SampleExpr::parse(&format!("str(x),map({path},be_default)")).unwrap();
        assert_eq!(eval(&miss), Some(Sample::Str("be_default".into())));
        let no_default = SampleExpr::parse(&format!("str(x),map_str({path})")).unwrap();
        assert_eq!(eval(&no_default), None);
        let end = SampleExpr::parse(&format!("str(api.b.test),map_end({path})")).unwrap();
        assert_eq!(eval(&end), Some(Sample::Str("be_b".into())));
        // Run-time changes are seen by the next lookup, through the registry.
        let r = Registry::global().get(&path).unwrap();
        r.set("www.a.test", "be_new").unwrap();
        assert_eq!(eval(&e), Some(Sample::Str("be_new".into())));
        r.add("x", Some("be_x")).unwrap();
        assert_eq!(eval(&miss), Some(Sample::Str("be_x".into())));
        assert_eq!(eval(&no_default), Some(Sample::Str("be_x".into())));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn typed_maps() {
        let (dir, path) = write_map("typed", "10.0.0.0/8 1\n10.1.0.0/16 2\n");
        let e = SampleExpr::parse(&format!("src,map_ip_int({path},0)")).unwrap();
        assert_eq!(e.out_type(), SampleType::Int);
        assert_eq!(eval(&e), Some(Sample::Int(2)));
        let d = SampleExpr::parse(&format!("dst,map_ip_int({path},-1)")).unwrap();
        assert_eq!(eval(&d), Some(Sample::Int(-1)));
        let (dir2, ports) = write_map("ports", "443 https\n1:1023 low\n");
        let p = SampleExpr::parse(&format!("dst_port,map_int({ports})")).unwrap();
        assert_eq!(eval(&p), Some(Sample::Str("https".into())));
        let (dir3, ips) = write_map("ips", "a 10.0.0.1\n");
        let ip = SampleExpr::parse(&format!("str(a),map_str_ip({ips})")).unwrap();
        assert_eq!(ip.out_type(), SampleType::Addr);
        assert_eq!(eval(&ip), Some(Sample::Ip("10.0.0.1".parse().unwrap())));
        for d in [dir, dir2, dir3] {
            std::fs::remove_dir_all(d).unwrap();
        }
    }

    #[test]
    fn errors() {
        let (dir, path) = write_map("errs", "k v\n");
        for bad in [
            format!("str(a),map({path},x,y)"),
            "str(a),map".to_owned(),
            "str(a),map('')".to_owned(),
            format!("str(a),map_str_int({path},x)"),
            format!("str(a),map_str_ip({path},300.0.0.1)"),
            // The value 'v' is not an integer.
            format!("str(a),map_str_int({path})"),
            "str(a),map(/nonexistent/lb/x.map)".to_owned(),
        ] {
            let err = SampleExpr::parse(&bad).unwrap_err();
            assert!(matches!(err, SampleError::BadArgs { .. }), "{bad}: {err}");
        }
        // Keys must parse for the match method.
        assert!(matches!(
            SampleExpr::parse(&format!("str(a),map_int({path})")),
            Err(SampleError::BadArgs { .. })
        ));
        // An address cannot be an integer map key.
        let (dir2, ints) = write_map("ints", "1 v\n");
        assert!(matches!(
            SampleExpr::parse(&format!("src,map_int({ints})")),
            Err(SampleError::CannotApply { .. })
        ));
        std::fs::remove_dir_all(dir).unwrap();
        std::fs::remove_dir_all(dir2).unwrap();
    }

    #[test]
    fn names() {
        assert_eq!(kind("map"), Some((MatchMethod::Str, OutputType::Str)));
        assert_eq!(kind("map_str"), Some((MatchMethod::Str, OutputType::Str)));
        assert_eq!(
            kind("map_beg_int"),
            Some((MatchMethod::Beg, OutputType::Int))
        );
        assert_eq!(kind("map_ip_ip"), Some((MatchMethod::Ip, OutputType::Ip)));
        assert_eq!(
            kind("map_int_str"),
            Some((MatchMethod::Int, OutputType::Str))
        );
        assert_eq!(kind("map_regm"), Some((MatchMethod::Regm, OutputType::Str)));
        assert_eq!(kind("map_regm_int"), None);
        assert_eq!(kind("map_foo"), None);
        assert_eq!(kind("map_str_bin"), None);
        assert_eq!(kind("mapx"), None);
    }
}
