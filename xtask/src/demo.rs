//! Demo backends for `cargo xtask run`: the example configuration balances over two servers
//! on loopback, so `run` starts them too and the balancer can be tried at once
//! (`nc 127.0.0.1 10100` answers `app1` or `app2`, then echoes).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

/// The servers of `configs/01-tcp-basic.cfg`.
pub const SERVERS: &[(&str, u16)] = &[("app1", 10180), ("app2", 10181)];

/// Starts each server on its own thread; a port already in use is reported and skipped
/// (somebody else serves it).
pub fn start() {
    for &(name, port) in SERVERS {
        match TcpListener::bind(("127.0.0.1", port)) {
            Ok(listener) => {
                std::thread::spawn(move || serve(&listener, name));
                eprintln!("xtask: demo backend {name} listening on 127.0.0.1:{port}");
            }
            Err(e) => eprintln!("xtask: demo backend {name} not started on port {port}: {e}"),
        }
    }
}

fn serve(listener: &TcpListener, name: &'static str) {
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || echo(stream, name));
    }
}

/// Greets with the server's name, then echoes until the client closes.
fn echo(mut stream: TcpStream, name: &str) {
    if stream.write_all(format!("{name}\n").as_bytes()).is_err() {
        return;
    }
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 || stream.write_all(&buf[..n]).is_err() {
            break;
        }
    }
}
