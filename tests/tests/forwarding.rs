//! Byte forwarding: full duplex, half-close in both directions, and 64 MiB transfers checked
//! byte for byte, with splice (the default) and without (`nosplice`).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use lb_tests::client::{connect, read_line};
use lb_tests::util::Pattern;
use lb_tests::{Backend, Lb, fe_be, free_port, header, server_line};

const MIB: usize = 1 << 20;

fn start(global_extra: &str, b: &Backend) -> (Lb, u16) {
    let port = free_port();
    let mut cfg = header(1);
    if !global_extra.is_empty() {
        // Insert right after the `global` line.
        cfg = cfg.replacen("global\n", &format!("global\n    {global_extra}\n"), 1);
    }
    let lb = Lb::start(&(cfg + &fe_be(port, &server_line(b, ""))));
    (lb, port)
}

/// Writes `total` bytes of `p` to `w` in 64 KiB chunks.
fn send_pattern(w: &mut impl Write, p: &Pattern, total: usize) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut off = 0;
    while off < total {
        let n = buf.len().min(total - off);
        p.fill(off as u64, &mut buf[..n]);
        w.write_all(&buf[..n])?;
        off += n;
    }
    Ok(())
}

/// Reads until EOF, checking every byte against `p`; returns the byte count, or where the
/// first mismatch was.
fn recv_pattern(r: &mut impl Read, p: &Pattern) -> Result<usize, String> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut off = 0usize;
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(off),
            Ok(n) => {
                if !p.matches(off as u64, &buf[..n]) {
                    return Err(format!("corrupted data in [{off}, {})", off + n));
                }
                off += n;
            }
            Err(e) => return Err(format!("read error after {off} bytes: {e}")),
        }
    }
}

fn long_timeouts(s: &TcpStream) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(60)));
}

#[test]
fn full_duplex_echo_of_16_mib_in_both_directions_at_once() {
    let s1 = Backend::identity("s1");
    let (_lb, port) = start("", &s1);
    let mut c = connect(port).expect("connect");
    long_timeouts(&c);
    assert_eq!(read_line(&mut c).expect("name"), "s1");
    let p = Pattern::new(1);
    let mut w = c.try_clone().expect("clone");
    let p2 = p.clone();
    // The writer runs while the reader drains the echo: both directions carry data together.
    let writer = std::thread::spawn(move || {
        send_pattern(&mut w, &p2, 16 * MIB)?;
        w.shutdown(Shutdown::Write)
    });
    let got = recv_pattern(&mut c, &p);
    writer.join().expect("writer thread").expect("send 16 MiB");
    assert_eq!(got, Ok(16 * MIB));
}

#[test]
fn client_half_close_then_server_still_sends() {
    let p = Pattern::new(2);
    let pc = p.clone();
    // The server reads the whole request (until the client's FIN), then answers.
    let s1 = Backend::custom("s1", move |mut s, _| {
        long_timeouts(&s);
        let verdict = match recv_pattern(&mut s, &pc) {
            Ok(n) => format!("got {n}\n"),
            Err(e) => format!("error {e}\n"),
        };
        let _ = s.write_all(verdict.as_bytes());
        let _ = send_pattern(&mut s, &pc, MIB);
    });
    let (_lb, port) = start("", &s1);
    let mut c = connect(port).expect("connect");
    long_timeouts(&c);
    send_pattern(&mut c, &p, 3 * MIB).expect("send request");
    c.shutdown(Shutdown::Write).expect("half-close");
    assert_eq!(
        read_line(&mut c).expect("verdict"),
        format!("got {}", 3 * MIB)
    );
    assert_eq!(
        recv_pattern(&mut c, &p),
        Ok(MIB),
        "response after the client's FIN"
    );
}

#[test]
fn server_half_close_then_client_still_sends() {
    let p = Pattern::new(3);
    let pc = p.clone();
    let (tx, rx) = mpsc::channel::<Result<usize, String>>();
    let tx = std::sync::Mutex::new(tx);
    // The server sends everything and half-closes first, then still reads the client's data.
    let s1 = Backend::custom("s1", move |mut s, _| {
        long_timeouts(&s);
        let _ = send_pattern(&mut s, &pc, 2 * MIB);
        let _ = s.shutdown(Shutdown::Write);
        let got = recv_pattern(&mut s, &pc);
        let _ = tx.lock().map(|tx| tx.send(got));
    });
    let (_lb, port) = start("", &s1);
    let mut c = connect(port).expect("connect");
    long_timeouts(&c);
    assert_eq!(
        recv_pattern(&mut c, &p),
        Ok(2 * MIB),
        "download before the server's FIN"
    );
    // Client -> server still works after the server half-closed.
    send_pattern(&mut c, &p, MIB).expect("upload after the server's FIN");
    c.shutdown(Shutdown::Write).expect("half-close");
    let got = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server result");
    assert_eq!(got, Ok(MIB));
}

fn download(global_extra: &str) {
    let p = Pattern::new(4);
    let pc = p.clone();
    let s1 = Backend::custom("s1", move |mut s, _| {
        long_timeouts(&s);
        let _ = send_pattern(&mut s, &pc, 64 * MIB);
    });
    let (_lb, port) = start(global_extra, &s1);
    let mut c = connect(port).expect("connect");
    long_timeouts(&c);
    assert_eq!(recv_pattern(&mut c, &p), Ok(64 * MIB));
}

fn upload(global_extra: &str) {
    let p = Pattern::new(5);
    let pc = p.clone();
    let s1 = Backend::custom("s1", move |mut s, _| {
        long_timeouts(&s);
        let verdict = match recv_pattern(&mut s, &pc) {
            Ok(n) => format!("got {n}\n"),
            Err(e) => format!("error {e}\n"),
        };
        let _ = s.write_all(verdict.as_bytes());
    });
    let (_lb, port) = start(global_extra, &s1);
    let mut c = connect(port).expect("connect");
    long_timeouts(&c);
    send_pattern(&mut c, &p, 64 * MIB).expect("upload");
    c.shutdown(Shutdown::Write).expect("half-close");
    assert_eq!(
        read_line(&mut c).expect("verdict"),
        format!("got {}", 64 * MIB)
    );
}

#[test]
fn download_64_mib_intact_with_splice() {
    download("");
}

#[test]
fn upload_64_mib_intact_with_splice() {
    upload("");
}

#[test]
fn download_64_mib_intact_without_splice() {
    download("nosplice");
}

#[test]
fn upload_64_mib_intact_without_splice() {
    upload("nosplice");
}
