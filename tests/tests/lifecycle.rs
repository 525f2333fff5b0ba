//! Process life cycle: SIGTERM/SIGINT stop, SIGUSR1 soft-stop (in-flight connections finish,
//! new ones are refused), daemon mode with a pid file.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lb_tests::client::{ask_name, connect, read_line};
use lb_tests::lb::{lb_bin, listening_ports, process_alive, send_signal};
use lb_tests::{Backend, Lb, TempDir, fe_be, free_port, header, server_line, wait_until};

fn start() -> (Backend, Lb, u16) {
    let s1 = Backend::identity("s1");
    let port = free_port();
    let lb = Lb::start(&(header(2) + &fe_be(port, &server_line(&s1, ""))));
    (s1, lb, port)
}

fn stops_on(sig: i32) {
    let (_s1, mut lb, port) = start();
    let mut c = connect(port).expect("connect");
    assert_eq!(read_line(&mut c).expect("name"), "s1");
    lb.signal(sig);
    // A hard stop does not wait for the open connection.
    let status = lb
        .wait_exit(Duration::from_secs(5))
        .expect("lb still running 5 s after the signal");
    assert_eq!(status.code(), Some(0), "exit status {status}");
    assert!(
        !listening_ports().contains(&port),
        "port still listening after exit"
    );
}

#[test]
fn sigterm_stops() {
    stops_on(libc::SIGTERM);
}

#[test]
fn sigint_stops() {
    stops_on(libc::SIGINT);
}

#[test]
fn sigusr1_soft_stop_finishes_open_connections_and_refuses_new_ones() {
    let (_s1, mut lb, port) = start();
    let mut c = connect(port).expect("connect");
    assert_eq!(read_line(&mut c).expect("name"), "s1");
    lb.signal(libc::SIGUSR1);
    // Listeners close at once...
    assert!(
        wait_until(Duration::from_secs(5), || !listening_ports()
            .contains(&port)),
        "still listening after SIGUSR1"
    );
    assert!(
        connect(port).is_err(),
        "a new connection was accepted during soft-stop"
    );
    // ...while the in-flight connection keeps working, and holds the process up.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        process_alive(lb.pid()),
        "lb exited with a connection still open"
    );
    c.write_all(b"still served\n").expect("write");
    assert_eq!(
        read_line(&mut c).expect("echo during soft-stop"),
        "still served"
    );
    drop(c);
    let status = lb
        .wait_exit(Duration::from_secs(5))
        .expect("lb did not exit after its last connection closed");
    assert_eq!(status.code(), Some(0), "exit status {status}");
}

#[test]
fn hard_stop_after_bounds_a_soft_stop() {
    let s1 = Backend::identity("s1");
    let port = free_port();
    let cfg = header(1).replacen("global\n", "global\n    hard-stop-after 1s\n", 1);
    let mut lb = Lb::start(&(cfg + &fe_be(port, &server_line(&s1, ""))));
    let mut c = connect(port).expect("connect");
    assert_eq!(read_line(&mut c).expect("name"), "s1");
    let start = Instant::now();
    lb.signal(libc::SIGUSR1);
    lb.wait_exit(Duration::from_secs(6))
        .expect("hard-stop-after did not end the soft stop");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(800),
        "exited after {took:?}, before hard-stop-after"
    );
    drop(c);
}

/// Kills the daemon on drop if a test fails half-way.
struct Daemon(Option<u32>);

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            send_signal(pid, libc::SIGKILL);
        }
    }
}

#[test]
fn daemon_mode_writes_a_pid_file_and_serves_until_sigterm() {
    let s1 = Backend::identity("s1");
    let port = free_port();
    let dir = TempDir::new();
    let cfg = dir.path().join("lb.cfg");
    let pidfile = dir.path().join("lb.pid");
    std::fs::write(&cfg, header(1) + &fe_be(port, &server_line(&s1, ""))).expect("write cfg");
    // The daemon keeps no terminal: give it /dev/null so nothing waits on its output.
    let mut parent = Command::new(lb_bin())
        .arg("-D")
        .arg("-p")
        .arg(&pidfile)
        .arg("-f")
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn lb -D");
    let parent_pid = parent.id();
    let mut status = None;
    assert!(
        wait_until(Duration::from_secs(10), || {
            status = parent.try_wait().ok().flatten();
            status.is_some()
        }),
        "lb -D did not return"
    );
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "lb -D parent status {status:?}"
    );
    assert!(
        wait_until(Duration::from_secs(10), || pidfile.exists()),
        "no pid file"
    );
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .expect("read pid file")
        .trim()
        .parse()
        .expect("pid file holds a pid");
    let _guard = Daemon(Some(pid));
    assert_ne!(
        pid, parent_pid,
        "the pid file names the parent, not the daemon"
    );
    assert!(process_alive(pid), "the daemon {pid} is not running");
    assert!(
        wait_until(Duration::from_secs(10), || listening_ports()
            .contains(&port)),
        "the daemon does not listen"
    );
    assert_eq!(ask_name(port).expect("served by the daemon"), "s1");

    send_signal(pid, libc::SIGTERM);
    assert!(
        wait_until(Duration::from_secs(5), || !process_alive(pid)),
        "daemon survived SIGTERM"
    );
    assert!(
        !listening_ports().contains(&port),
        "port still listening after the daemon stopped"
    );
}
