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
