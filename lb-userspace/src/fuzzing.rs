//! Entry points shared by the cargo-fuzz targets (`fuzz/`) and the test that replays their
//! seed corpus, so both exercise exactly the same code.

/// Parses `text` as a sample expression and as a condition (after `if`).
pub fn sample_expr(text: &str) {
    let _ = crate::sample::SampleExpr::parse(text);
    let words: Vec<String> = std::iter::once("if".to_owned())
        .chain(text.split_whitespace().map(str::to_owned))
        .collect();
    let _ = crate::acl::Condition::parse(&words, &crate::acl::AclSet::default());
}

/// Parses `data` as the start of a connection carrying a PROXY protocol header and checks
/// the parser's promises: a header's bytes alone give the same header, one byte less is
/// "need more", and re-encoding a parsed header parses back to the same header.
pub fn proxy_protocol(data: &[u8]) {
    use crate::proxy_protocol::{Parse, parse};
    let Parse::Done { header, consumed } = parse(data) else {
        return;
    };
    assert!(consumed > 0 && consumed <= data.len());
    assert_eq!(
        parse(&data[..consumed]),
        Parse::Done {
            header: header.clone(),
            consumed
        },
        "the bytes after a header do not change it"
    );
    assert_eq!(parse(&data[..consumed - 1]), Parse::NeedMore);
    let bytes = match header.encode() {
        Ok(bytes) => bytes,
        Err(e) => panic!("{header:?} parsed but does not encode: {e}"),
    };
    assert_eq!(
        parse(&bytes),
        Parse::Done {
            header: header.clone(),
            consumed: bytes.len()
        },
        "{header:?} re-encoded as {bytes:02x?}"
    );
}
