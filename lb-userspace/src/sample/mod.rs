//! Sample fetches and converters (`fetch(args),conv(args),...`), sans-I/O.
//!
//! A [`SampleExpr`] is parsed once from the config and evaluated against a [`StreamCtx`]
//! for each connection. Parsing checks types the way HAProxy does (a converter whose
//! input cannot be cast from the previous output is rejected), so evaluation only fails
//! when data is missing or a run-time cast fails. [`fetch::Fetch`] and
//! [`conv::Converter`] are the one entry point for every fetch and converter; groups of
//! them live in their own modules (`fetch_payload`, `fetch_state`, `conv_map`, ...).
//!
//! [`SampleExpr::eval`] answers with what is known now; [`SampleExpr::eval_partial`]
//! also says whether more client data could change the answer (HAProxy's
//! `SMP_F_MAY_CHANGE`), which is what lets `tcp-request content` rules wait (see
//! [`crate::acl`]). Only the payload fetches (`req.len`, `req.payload`, `req.ssl_sni`,
//! ...) ever say so, and only while [`StreamCtx::payload_final`] is false.

pub mod conv;
pub mod conv_codec;
pub mod conv_hash;
pub mod conv_http;
pub mod conv_map;
pub mod conv_text;
pub mod fetch;
pub mod fetch_http;
pub mod fetch_payload;
pub mod fetch_state;
pub mod http_detect;
pub mod net;
pub mod parse;
pub mod rdp;
pub mod tls_hello;
pub mod value;
pub mod vars;

use std::net::SocketAddr;

pub use conv::Converter;
pub use fetch::Fetch;
pub use value::{HashKey, Sample, SampleType};

/// What a sample expression can see of a stream (connection), without any I/O.
///
/// Build it with [`StreamCtx::new`] and fill in what the current processing step knows;
/// a fetch whose source is absent yields no sample (as in HAProxy).
#[derive(Debug, Clone)]
pub struct StreamCtx<'a> {
    /// Client address (after PROXY protocol, when that arrives).
    pub src: SocketAddr,
    /// Address the client reached.
    pub dst: SocketAddr,
    /// Frontend name.
    pub fe_name: &'a str,
    /// Backend chosen so far.
    pub be_name: Option<&'a str>,
    /// Server chosen so far.
    pub srv_name: Option<&'a str>,
    /// Client bytes received so far and not yet forwarded (`req.payload`, `req.len`, ...).
    pub payload: &'a [u8],
    /// The payload cannot grow any more: inspect delay over, buffer full or client shut.
    pub payload_final: bool,
    /// Server bytes received so far and not yet forwarded (`res.payload`, `res.len`, ...,
    /// in `tcp-response content` rules; `payload_final` then speaks of these).
    pub res_payload: &'a [u8],
    /// Run-time state of backends and servers (`nbsrv`, `be_conn`, `srv_is_up`, ...).
    pub backends: Option<&'a crate::backend::state::Backends>,
    /// Current connections of the frontend (`fe_conn`).
    pub fe_conn: u32,
    /// Current connections of any frontend by name (`fe_conn(NAME)` for another one).
    pub frontends: Option<FrontendConns<'a>>,
    /// Variables of the stream (`var(...)`), writable through interior mutability.
    pub vars: Option<&'a vars::Vars>,
    /// Stick tables and the entries this stream tracks (`sc*_`, `src_*`, `table_*`).
    pub stick: Option<&'a crate::stick::Tracking>,
    /// The HTTP transaction in `mode http` (request, then response); `None` in TCP mode,
    /// where HTTP fetches yield no sample.
    pub http: Option<&'a crate::http::HttpTxn>,
}

/// Looks up the current connection count of a frontend by name (`None`: no such
/// frontend); the runtime backs it with its frontends' counters.
#[derive(Clone, Copy)]
pub struct FrontendConns<'a>(pub &'a (dyn Fn(&str) -> Option<u32> + Sync));

impl std::fmt::Debug for FrontendConns<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FrontendConns(..)")
    }
}

/// HAProxy's default `tune.bufsize`: payload fetches whose offset and length reach past
/// it can never match (the request buffer never holds more).
pub const BUFSIZE: usize = 16384;

impl<'a> StreamCtx<'a> {
    /// The same context with the payload declared final (nothing more will arrive):
    /// what final evaluations (`Condition::eval`) see.
    pub fn finalized(&self) -> Self {
        Self {
            payload_final: true,
            ..self.clone()
        }
    }

    /// A context that knows only the connection's addresses and frontend.
    pub fn new(src: SocketAddr, dst: SocketAddr, fe_name: &'a str) -> Self {
        Self {
            src,
            dst,
            fe_name,
            be_name: None,
            srv_name: None,
            payload: &[],
            payload_final: false,
            res_payload: &[],
            backends: None,
            fe_conn: 0,
            frontends: None,
            vars: None,
            stick: None,
            http: None,
        }
    }
}

/// A sample (or its absence) together with whether more client data could change it
/// (HAProxy's `SMP_F_MAY_CHANGE`); see [`SampleExpr::eval_partial`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched<'a> {
    /// The value, if there is one now.
    pub sample: Option<Sample<'a>>,
    /// More payload could change the value or make one appear (only meaningful while
    /// [`StreamCtx::payload_final`] is false).
    pub may_change: bool,
}

impl<'a> Fetched<'a> {
    /// A result that more data cannot change.
    pub fn settled(sample: Option<Sample<'a>>) -> Self {
        Self {
            sample,
            may_change: false,
        }
    }
}

/// A parsed sample expression: one fetch followed by converters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleExpr {
    /// The fetch.
    pub fetch: Fetch,
    /// Converters, applied in order.
    pub convs: Vec<Converter>,
}

/// Why a sample expression could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SampleError {
    /// Nothing that looks like a fetch name.
    #[error("missing fetch method in '{0}'")]
    MissingFetch(String),
    /// The fetch name is not known.
    #[error("unknown fetch method '{0}'")]
    UnknownFetch(String),
    /// The converter name is not known.
    #[error("unknown converter '{0}'")]
    UnknownConverter(String),
    /// Malformed expression (missing comma or parenthesis).
    #[error("{0}")]
    Syntax(String),
    /// A fetch or converter got arguments it cannot use.
    #[error("invalid arguments to '{keyword}': {reason}")]
    BadArgs {
        /// The fetch or converter.
        keyword: String,
        /// What is wrong.
        reason: String,
    },
    /// The converter's input type cannot be obtained from what precedes it.
    #[error("converter '{converter}' cannot be applied to a value of type '{input}'")]
    CannotApply {
        /// The converter.
        converter: String,
        /// The type it would receive.
        input: SampleType,
    },
}

impl SampleExpr {
    /// Parses `fetch(args),conv(args),...` as written in the config.
    pub fn parse(text: &str) -> Result<Self, SampleError> {
        Self::from_calls(text, &parse::split_chain(text)?)
    }

    /// Builds an expression from calls already split (see [`parse::split_chain_prefix`]);
    /// `text` is for messages.
    pub fn from_calls(text: &str, calls: &[parse::Call]) -> Result<Self, SampleError> {
        let Some((first, rest)) = calls.split_first() else {
            return Err(SampleError::MissingFetch(text.to_owned()));
        };
        let fetch = Fetch::parse(first)?;
        let mut ty = fetch.out_type();
        let mut convs = Vec::with_capacity(rest.len());
        for call in rest {
            let conv = Converter::parse(call)?;
            if !ty.can_cast_to(conv.in_type()) {
                return Err(SampleError::CannotApply {
                    converter: call.name.clone(),
                    input: ty,
                });
            }
            ty = conv.out_type();
            convs.push(conv);
        }
        Ok(Self { fetch, convs })
    }

    /// The type of the value the expression produces, as declared (ACLs pick their
    /// default match method from it).
    pub fn out_type(&self) -> SampleType {
        self.convs
            .last()
            .map_or_else(|| self.fetch.out_type(), Converter::out_type)
    }

    /// Evaluates the expression; `None` when the sample is not available or a
    /// conversion fails.
    pub fn eval<'a>(&'a self, ctx: &'a StreamCtx<'_>) -> Option<Sample<'a>> {
        let sample = self.fetch.eval(ctx)?;
        self.convert(sample, ctx)
    }

    /// Evaluates the expression and says whether more client data could change the
    /// result (the fetch's "may change" flag survives the converters, as in HAProxy).
    pub fn eval_partial<'a>(&'a self, ctx: &'a StreamCtx<'_>) -> Fetched<'a> {
        let fetched = self.fetch.eval_partial(ctx);
        Fetched {
            sample: fetched.sample.and_then(|s| self.convert(s, ctx)),
            may_change: fetched.may_change,
        }
    }

    /// Applies the converters to a value the fetch produced (ACLs use it on each value
    /// of multi-valued fetches).
    pub fn convert<'a>(
        &'a self,
        mut sample: Sample<'a>,
        ctx: &'a StreamCtx<'_>,
    ) -> Option<Sample<'a>> {
        for conv in &self.convs {
            sample = conv.apply_ctx(sample.cast(conv.in_type())?, ctx)?;
        }
        Some(sample)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> StreamCtx<'static> {
        StreamCtx::new(
            "10.1.2.3:5555".parse().unwrap(),
            "127.0.0.1:8080".parse().unwrap(),
            "Front",
        )
    }

    fn eval(text: &str) -> Option<Sample<'static>> {
        let expr = SampleExpr::parse(text).unwrap();
        let c = ctx();
        expr.eval(&c).map(Sample::into_owned)
    }

    #[test]
    fn chains_apply_in_order() {
        assert_eq!(
            eval("src,ipmask(16)"),
            Some(Sample::Ip("10.1.0.0".parse().unwrap()))
        );
        assert_eq!(eval("fe_name,lower"), Some(Sample::Str("front".into())));
        assert_eq!(eval("fe_name,upper,length"), Some(Sample::Int(5)));
        assert_eq!(
            eval("src_port,add(5),mul(2),sub(1)"),
            Some(Sample::Int(11119))
        );
        assert_eq!(eval("dst_port,div(0)"), Some(Sample::Int(i64::MAX)));
        // An address becomes its text before `length`.
        assert_eq!(eval("src,length"), Some(Sample::Int(8)));
        // A string that is not an address fails the implicit cast at run time.
        assert_eq!(eval("str(nope),ipmask(8)"), None);
    }

    #[test]
    fn types_are_checked_at_parse_time() {
        // An address has no integer value (HAProxy: "converter 'add' cannot be applied").
        assert_eq!(
            SampleExpr::parse("src,add(1)").unwrap_err(),
            SampleError::CannotApply {
                converter: "add".into(),
                input: SampleType::Addr
            }
        );
        assert!(SampleExpr::parse("bin(00),add(1)").is_err());
        assert!(SampleExpr::parse("always_true,ipmask(8)").is_err());
        // But an IPv4 constant does.
        assert!(SampleExpr::parse("ipv4(1.2.3.4),add(1)").is_ok());
    }

    #[test]
    fn output_types() {
        let ty = |t: &str| SampleExpr::parse(t).unwrap().out_type();
        assert_eq!(ty("src"), SampleType::Addr);
        assert_eq!(ty("src,ipmask(8)"), SampleType::Addr);
        assert_eq!(ty("fe_name,length"), SampleType::Int);
        assert_eq!(ty("src_port,lower"), SampleType::Str);
    }

    #[test]
    fn errors_name_the_culprit() {
        let err = SampleExpr::parse("src,nope(1)").unwrap_err();
        assert_eq!(err.to_string(), "unknown converter 'nope'");
        let err = SampleExpr::parse("req.nope(host)").unwrap_err();
        assert_eq!(err.to_string(), "unknown fetch method 'req.nope'");
        let err = SampleExpr::parse("int(x)").unwrap_err();
        assert!(err.to_string().contains("'int'"), "{err}");
    }

    #[test]
    fn shared_types_are_thread_safe() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<SampleExpr>();
        send_sync::<StreamCtx<'static>>();
        send_sync::<vars::Vars>();
        send_sync::<crate::acl::Condition>();
        send_sync::<crate::logformat::LogFormat>();
        send_sync::<crate::map::Index>();
    }

    #[test]
    fn eval_borrows_without_allocating() {
        let expr = SampleExpr::parse("fe_name").unwrap();
        let c = ctx();
        assert!(matches!(
            expr.eval(&c),
            Some(Sample::Str(std::borrow::Cow::Borrowed("Front")))
        ));
    }
}
