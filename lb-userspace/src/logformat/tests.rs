//! Log-format parsing and rendering.

use super::*;
use crate::sample::StreamCtx;
use crate::sample::vars::{VarName, Vars};

fn ctx() -> StreamCtx<'static> {
    let mut c = StreamCtx::new(
        "192.0.2.10:51000".parse().unwrap(),
        "10.0.0.1:443".parse().unwrap(),
        "www",
    );
    c.fe_conn = 3;
    c
}

fn render(text: &str, opts: ParseOptions) -> String {
    LogFormat::parse(text, opts)
        .unwrap()
        .render(&ctx(), &NoAliases)
}

fn plain(text: &str) -> String {
    render(text, ParseOptions::default())
}

#[test]
fn text_and_percent() {
    assert_eq!(plain("be_static"), "be_static");
    assert_eq!(plain("100%% sure"), "100% sure");
    assert_eq!(plain("a%-b"), "a-b");
    assert_eq!(plain(""), "");
    assert!(
        LogFormat::parse("abc", ParseOptions::default())
            .unwrap()
            .is_constant()
    );
    assert!(
        !LogFormat::parse("%ci", ParseOptions::default())
            .unwrap()
            .is_constant()
    );
    assert_eq!(plain("héllo %%"), "héllo %");
}

#[test]
fn sample_expressions() {
    assert_eq!(plain("be_%[fe_name]"), "be_www");
    assert_eq!(plain("%[fe_name,upper]-%[dst_port]"), "WWW-443");
    assert_eq!(plain("%[str(a]b),lower]"), "a]b");
    assert_eq!(plain("x%[str(1)]y%[str(2)]z"), "x1y2z");
    // A missing value prints nothing, or "-" when mandatory.
    assert_eq!(plain("[%[req.ssl_sni]]"), "[]");
    assert_eq!(
        render("[%[req.ssl_sni]]", ParseOptions::log_format(false)),
        "[-]"
    );
    assert_eq!(plain("%{+M}[str('')]"), "-");
    assert_eq!(plain("%{+Q}[fe_name]"), "\"www\"");
    assert_eq!(plain("%{+Q,+M}[req.ssl_sni]"), "\"\"");
}

#[test]
fn flags_and_escaping() {
    assert_eq!(plain("%{+E}[str('a\"b]c')]"), "a\\\"b\\]c");
    assert_eq!(plain("%{+Q}[req.ssl_sni]"), "\"\"");
    assert_eq!(
        plain("%{+Q}o%[fe_name] %[dst_port] %{-Q}[fe_name]"),
        "\"www\" \"443\" www"
    );
    assert_eq!(plain("%{+X}ci:%{+X}cp"), "C000020A:C738");
    assert_eq!(plain("%{+Q}ci"), "\"192.0.2.10\"");
}

#[test]
fn aliases_from_the_stream() {
    assert_eq!(
        plain("%ci:%cp -> %fi:%fp"),
        "192.0.2.10:51000 -> 10.0.0.1:443"
    );
    assert_eq!(plain("%f %ft %b %s %fc"), "www www www <NOSRV> 3");
    let mut c = ctx();
    c.be_name = Some("app");
    c.srv_name = Some("s1");
    let f = LogFormat::parse("%b/%s", ParseOptions::default()).unwrap();
    assert_eq!(f.render(&c, &NoAliases), "app/s1");
    assert_eq!(plain("%pid"), std::process::id().to_string());
    // Unknown to the stream and to the source: missing.
    assert_eq!(render("%Tw %B", ParseOptions::log_format(false)), "- -");
}

struct Timers;

impl AliasSource for Timers {
    fn write_alias(&self, alias: Alias, flags: Flags, out: &mut String) -> bool {
        match alias {
            Alias::TimeWait => out.push_str("12"),
            Alias::Hostname => render::write_text(out, Some("lb-1"), flags),
            _ => return false,
        }
        true
    }
}

#[test]
fn aliases_from_a_source() {
    let f = LogFormat::parse("%H %Tw %Tc", ParseOptions::log_format(false)).unwrap();
    assert_eq!(f.render(&ctx(), &Timers), "lb-1 12 -");
    let q = LogFormat::parse("%{+Q}H", ParseOptions::default()).unwrap();
    assert_eq!(q.render(&ctx(), &Timers), "\"lb-1\"");
}

#[test]
fn spaces_merge_in_log_format() {
    let lf = ParseOptions::log_format(false);
    assert_eq!(render("  %ci   %cp  ", lf), "192.0.2.10 51000 ");
    assert_eq!(plain("  a  b "), "  a  b ");
    assert_eq!(render("a %[req.ssl_sni] b", lf), "a - b");
}

#[test]
fn variables_and_dynamic_backends() {
    let vars = Vars::new(std::sync::Arc::default());
    vars.set(
        &VarName::parse("txn.be").unwrap(),
        crate::sample::Sample::Str("be_api".into()),
    );
    let mut c = ctx();
    c.vars = Some(&vars);
    let f = LogFormat::parse("%[var(txn.be)]", ParseOptions::default()).unwrap();
    assert_eq!(f.render(&c, &NoAliases), "be_api");
    // Payload fetches see the payload as final.
    let hello = include_bytes!("../sample/testdata/openssl_tls13_sni.bin");
    c.payload = hello;
    let sni = LogFormat::parse(
        "bk_%[req.ssl_sni,lower,field(1,.)]",
        ParseOptions::default(),
    )
    .unwrap();
    assert_eq!(sni.render(&c, &NoAliases), "bk_www");
}

#[test]
fn http_only_aliases() {
    assert_eq!(
        LogFormat::parse("%r", ParseOptions::default()),
        Err(LogFormatError::HttpOnly("r".into()))
    );
    let http = ParseOptions::log_format(true);
    let f = LogFormat::parse("%{+Q}r %ST", http).unwrap();
    assert_eq!(f.render(&ctx(), &NoAliases), "\"\" -");
}

#[test]
fn errors() {
    let err = |t: &str| LogFormat::parse(t, ParseOptions::default()).unwrap_err();
    assert!(matches!(
        err("100% sure"),
        LogFormatError::UnexpectedChar { ch: ' ', .. }
    ));
    assert!(matches!(
        err("%1"),
        LogFormatError::UnexpectedChar { ch: '1', .. }
    ));
    assert_eq!(err("%zz"), LogFormatError::UnknownVariable("zz".into()));
    assert_eq!(err("%"), LogFormatError::Truncated("%".into()));
    assert!(matches!(err("%{+Q"), LogFormatError::Truncated(_)));
    assert!(matches!(err("%["), LogFormatError::Truncated(_)));
    assert_eq!(
        err("%{+Q} x"),
        LogFormatError::FlagsWithoutVariable("+Q".into())
    );
    assert_eq!(err("%[src"), LogFormatError::MissingBracket("src".into()));
    assert_eq!(
        err("%[src x]"),
        LogFormatError::MissingBracket("src".into())
    );
    assert!(matches!(err("%[nope]"), LogFormatError::Expr { .. }));
    assert!(matches!(err("%[src,add(1)]"), LogFormatError::Expr { .. }));
    assert!(err("%zz").to_string().contains("'%%'"));
}
