//! Replays the fuzzers' seed corpus (`fuzz/corpus/TARGET/*`) through the same entry points
//! the fuzz targets use, so every seed stays crash-free in the normal test suite.
#![allow(clippy::unwrap_used, reason = "test code: a failure should panic")]

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            e.unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path()
        })
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, bytes)
        })
        .collect();
    seeds.sort();
    seeds
}

#[test]
fn sample_expr_seeds() {
    let seeds = corpus("sample_expr");
    assert!(!seeds.is_empty(), "the sample_expr corpus has seeds");
    for (_, bytes) in seeds {
        lb::fuzzing::sample_expr(&bytes);
    }
}

#[test]
fn client_hello_seeds() {
    let seeds = corpus("client_hello");
    assert!(!seeds.is_empty(), "the client_hello corpus has seeds");
    for (_, bytes) in seeds {
        lb::fuzzing::client_hello(&bytes);
    }
}

#[test]
fn proxy_protocol_seeds() {
    let seeds = corpus("proxy_protocol");
    assert!(!seeds.is_empty(), "the proxy_protocol corpus has seeds");
    for (_, bytes) in seeds {
        lb::fuzzing::proxy_protocol(&bytes);
    }
}
