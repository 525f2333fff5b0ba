//! The runtime API client (HAProxy's `stats socket`): one command per connection, in the
//! non-interactive mode, answer read until the server closes.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// The `global` line that opens an admin-level runtime API socket at `path`.
pub fn stats_socket_line(path: &Path) -> String {
    format!("    stats socket {} mode 600 level admin\n", path.display())
}

/// Sends `command` to the runtime API socket at `path` and returns the whole answer.
/// Panics (with the command) if the socket refuses the connection or nothing ends the
/// answer within 10 s.
pub fn runtime_cmd(path: &Path, command: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut s = loop {
        match UnixStream::connect(path) {
            Ok(s) => break s,
            Err(e) if Instant::now() >= deadline => {
                panic!("runtime API {}: cannot connect: {e}", path.display())
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    s.set_write_timeout(Some(Duration::from_secs(10)))
        .expect("write timeout");
    s.write_all(format!("{command}\n").as_bytes())
        .unwrap_or_else(|e| panic!("runtime API: cannot send {command:?}: {e}"));
    let mut out = Vec::new();
    if let Err(e) = s.read_to_end(&mut out) {
        panic!(
            "runtime API: no complete answer to {command:?}: {e} (got {:?})",
            String::from_utf8_lossy(&out)
        );
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Sends `command` and asserts that the answer holds no error: HAProxy answers successful
/// change commands with an empty line (or nothing), errors with a message.
pub fn runtime_ok(path: &Path, command: &str) {
    let answer = runtime_cmd(path, command);
    assert!(
        answer.trim().is_empty(),
        "runtime API command {command:?} answered {answer:?} (expected an empty answer)"
    );
}
