//! Compression algorithms beyond HAProxy (`compression algo br zstd`), decoded by curl
//! (built with brotli and zstd). lb only: HAProxy 2.6 refuses these algorithms.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::process::Command;
use std::sync::Arc;

use lb_tests::http::{HttpBackend, Request, Response};
use lb_tests::{Lb, free_port};

fn body() -> String {
    (0..20_000)
        .map(|i| format!("row {i} value {}\n", i % 17))
        .collect()
}

fn curl(port: u16, accept: &str) -> (String, Vec<u8>) {
    let out = Command::new("curl")
        .args(["-s", "--compressed", "-D", "-", "-H"])
        .arg(format!("Accept-Encoding: {accept}"))
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .expect("run curl");
    assert!(out.status.success(), "curl failed");
    let split = out
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers");
    let head = String::from_utf8_lossy(&out.stdout[..split]).to_ascii_lowercase();
    (head, out.stdout[split + 4..].to_vec())
}

#[test]
fn brotli_and_zstd_are_negotiated_and_decodable() {
    let text = Arc::new(body());
    let t = text.clone();
    let s1 = HttpBackend::with(
        "s1",
        Arc::new(move |_: &Request| Response::new(200, &t).header("content-type", "text/csv")),
    );
    let port = free_port();
    let _lb = Lb::start(&format!(
        "global\n    nbthread 1\n\ndefaults\n    mode http\n    timeout connect 2s\n    \
         timeout client 10s\n    timeout server 10s\n\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\n\
         backend be\n    compression algo gzip br zstd\n    server s1 {}\n",
        s1.addr()
    ));
    for (accept, want) in [
        ("br", "br"),
        ("zstd", "zstd"),
        ("gzip;q=0.5, br;q=0.9, zstd;q=0.7", "br"),
        ("gzip, zstd", "gzip"),
    ] {
        let (head, data) = curl(port, accept);
        assert!(
            head.contains(&format!("content-encoding: {want}")),
            "{accept}: {head}"
        );
        assert_eq!(String::from_utf8_lossy(&data), *text, "{accept}");
    }
}
