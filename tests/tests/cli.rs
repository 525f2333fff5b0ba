//! The command line: `lb -c` on every shipped and every broken configuration, start-up
//! failure on a port already in use, `-vv`.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use lb_tests::lb::{listening_ports, repo_root, run_lb};
use lb_tests::{Backend, Lb, fe_be, free_port, header, server_line};

fn cfg_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cfg"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .cfg file in {}", dir.display());
    files
}

#[test]
fn check_mode_accepts_every_shipped_config() {
    let mut failures = Vec::new();
    for f in cfg_files(&repo_root().join("configs")) {
        let path = f.to_string_lossy().into_owned();
        let (status, out, err) = run_lb(&["-c", "-f", &path], Duration::from_secs(20));
        if status.code() != Some(0) {
            failures.push(format!("{path}: {status}\n{out}{err}"));
        }
    }
    assert!(
        failures.is_empty(),
        "lb -c rejected shipped configs:\n{}",
        failures.join("\n")
    );
}

/// The `# expect-error: LINE: substring` annotation of a broken config.
fn expectation(f: &Path) -> (usize, String) {
    let text = std::fs::read_to_string(f).expect("read config");
    let rest = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("# expect-error:"))
        .unwrap_or_else(|| {
            panic!(
                "{}: no '# expect-error: LINE: substring' comment",
                f.display()
            )
        });
    let (line, substring) = rest
        .trim()
        .split_once(':')
        .unwrap_or_else(|| panic!("{}: malformed expect-error comment", f.display()));
    let line = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{}: bad line number", f.display()));
    (line, substring.trim().to_owned())
}

#[test]
fn check_mode_rejects_every_broken_config_at_the_announced_line() {
    let mut failures = Vec::new();
    for f in cfg_files(&repo_root().join("configs").join("broken")) {
        let (line, substring) = expectation(&f);
        let path = f.to_string_lossy().into_owned();
        let (status, out, err) = run_lb(&["-c", "-f", &path], Duration::from_secs(20));
        let output = format!("{out}{err}");
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let located = format!("{name}:{line}");
        if status.code() != Some(1) {
            failures.push(format!("{path}: exit {status} (expected 1)\n{output}"));
        } else if !output
            .lines()
            .any(|l| l.contains(&located) && l.contains(&substring))
        {
            failures.push(format!(
                "{path}: no line with both '{located}' and '{substring}' in:\n{output}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "lb -c on broken configs:\n{}",
        failures.join("\n")
    );
}

#[test]
fn check_mode_on_a_valid_config_starts_nothing() {
    let s1 = Backend::identity("s1");
    let port = free_port();
    let mut lb = Lb::spawn(
        &(header(1) + &fe_be(port, &server_line(&s1, "check inter 100ms"))),
        &["-c"],
    );
    let status = lb
        .wait_exit(Duration::from_secs(20))
        .expect("lb -c did not exit");
    assert_eq!(status.code(), Some(0), "{}", lb.output().stderr());
    assert!(!listening_ports().contains(&port), "lb -c left a listener");
    assert_eq!(s1.accepted(), 0, "lb -c ran health checks");
}

#[test]
fn port_in_use_fails_start_with_the_reason_and_starts_nothing() {
    let s1 = Backend::identity("s1");
    let busy = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("occupy a port");
    let busy_port = busy.local_addr().expect("addr").port();
    let free = free_port();
    let cfg = format!(
        "{}frontend ok\n    bind 127.0.0.1:{free}\n    default_backend be\n\n\
         frontend clash\n    bind 127.0.0.1:{busy_port}\n    default_backend be\n\n\
         backend be\n{}",
        header(1),
        server_line(&s1, "check inter 100ms")
    );
    let mut lb = Lb::spawn(&cfg, &["-d"]);
    let status = lb
        .wait_exit(Duration::from_secs(20))
        .expect("lb kept running with a port in use");
    assert!(
        !status.success(),
        "lb exited successfully although a bind failed"
    );
    let err = lb.output().stderr() + &lb.output().stdout();
    assert!(
        err.lines()
            .any(|l| l.contains("Address already in use") && l.contains(&busy_port.to_string())),
        "the reason (address and error) is not reported:\n{err}"
    );
    assert!(
        !listening_ports().contains(&free),
        "the other frontend was left listening"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        s1.accepted(),
        0,
        "health checks ran although start-up failed"
    );
    drop(busy);
}

#[test]
fn vv_reports_version_and_build_features() {
    let (status, out, err) = run_lb(&["-vv"], Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(
        out.contains(env!("CARGO_PKG_VERSION")),
        "no version in:\n{out}"
    );
    let re =
        regex::Regex::new(r"(?im)^\s*ebpf\s*:\s*(yes|no|built in|not built in)\b").expect("re");
    assert!(
        re.is_match(&out),
        "no 'eBPF: built in|not built in' build feature line in:\n{out}"
    );
}

#[test]
fn unknown_option_fails_with_usage() {
    let (status, out, err) = run_lb(&["-Z"], Duration::from_secs(20));
    assert!(!status.success());
    assert!(
        format!("{out}{err}").contains("Usage"),
        "no usage text:\n{out}{err}"
    );
}
