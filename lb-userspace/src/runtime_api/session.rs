//! One runtime API connection, sans-I/O: bytes in, response text out.
//!
//! The protocol is HAProxy's CLI. A request ends at a line feed or at an unescaped `;`, so
//! that `show info;show stat` runs two commands; a backslash escapes the next character.
//! Each response ends with an empty line. By default (non-interactive) the connection
//! closes once the commands already received are answered; `prompt` switches to
//! interactive mode, where `> ` is printed after each response and the connection stays
//! open until `quit` or `prompt` again. A request whose last word is `<<` takes the lines
//! that follow, up to an empty line, as its payload.

use std::time::Duration;

use super::command::{self, Ctx, Reply};
use super::{Level, RuntimeState};

/// What the I/O edge must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Write this text, then call [`Session::step`] again.
    Write(String),
    /// Wait for more bytes ([`Session::receive`]) or the end of input ([`Session::end_of_input`]).
    Read,
    /// Write this text (possibly empty), then close the connection.
    Close(String),
}

/// A request that announced a payload (`... <<`) and gathers its lines.
#[derive(Debug)]
struct Pending {
    args: Vec<String>,
    payload: String,
}

/// The state of one connection.
#[derive(Debug)]
pub struct Session {
    level: Level,
    interactive: bool,
    timeout: Option<Duration>,
    input: Vec<u8>,
    eof: bool,
    done: bool,
    pending: Option<Pending>,
    max_request: usize,
}

impl Session {
    /// A new connection on a socket of `level`; requests (and payloads) longer than
    /// `max_request` bytes close it with an error.
    pub fn new(level: Level, max_request: usize) -> Self {
        Self {
            level,
            interactive: false,
            timeout: None,
            input: Vec::new(),
            eof: false,
            done: false,
            pending: None,
            max_request: max_request.max(64),
        }
    }

    /// The connection's current level (`operator` and `user` lower it).
    pub fn level(&self) -> Level {
        self.level
    }

    /// Whether `prompt` enabled interactive mode.
    pub fn is_interactive(&self) -> bool {
        self.interactive
    }

    /// The inactivity timeout set by `set timeout cli`, replacing `stats timeout`.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Bytes received from the client.
    pub fn receive(&mut self, bytes: &[u8]) {
        if !self.eof {
            self.input.extend_from_slice(bytes);
        }
    }

    /// The client will send nothing more (it shut its side down).
    pub fn end_of_input(&mut self) {
        self.eof = true;
    }

    /// Runs whatever the received bytes complete; `now_ms` is the [`crate::clock::now_ms`]
    /// date the commands see.
    pub fn step(&mut self, rt: &RuntimeState, now_ms: u64) -> Step {
        loop {
            if self.done {
                return Step::Close(String::new());
            }
            if let Some(mut pending) = self.pending.take() {
                let Some(line) = self.take_payload_line() else {
                    self.pending = Some(pending);
                    return self.starved();
                };
                if line.is_empty() {
                    let reply = self.run(rt, now_ms, &pending.args, Some(&pending.payload));
                    return self.respond(reply);
                }
                if !pending.payload.is_empty() {
                    pending.payload.push('\n');
                }
                pending.payload.push_str(&line);
                if pending.payload.len() > self.max_request {
                    return self.fail(format!(
                        "Payload too large (more than {} bytes), closing.\n",
                        self.max_request
                    ));
                }
                self.pending = Some(pending);
                if self.interactive {
                    return Step::Write("+ ".into());
                }
                continue;
            }
            let Some(request) = self.take_request() else {
                return self.starved();
            };
            let mut args = split_words(&request);
            if args.last().is_some_and(|w| w == "<<") {
                args.pop();
                self.pending = Some(Pending {
                    args,
                    payload: String::new(),
                });
                if self.interactive {
                    return Step::Write("+ ".into());
                }
                continue;
            }
            let reply = self.run(rt, now_ms, &args, None);
            return self.respond(reply);
        }
    }

    fn run(
        &mut self,
        rt: &RuntimeState,
        now_ms: u64,
        args: &[String],
        payload: Option<&str>,
    ) -> Reply {
        let mut ctx = Ctx {
            rt,
            now_ms,
            level: &mut self.level,
            interactive: &mut self.interactive,
            timeout: &mut self.timeout,
        };
        command::dispatch(&mut ctx, args, payload)
    }

    /// The text of a reply followed by the end-of-response marker, and whether to close.
    fn respond(&mut self, reply: Reply) -> Step {
        let mut text = match reply {
            Reply::Quit => {
                self.done = true;
                return Step::Close(String::new());
            }
            Reply::Text(text) => text,
        };
        // The empty line after each response is what tells a script where it ends.
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(if self.interactive { "\n> " } else { "\n" });
        if !self.interactive && self.input.is_empty() {
            self.done = true;
            return Step::Close(text);
        }
        Step::Write(text)
    }

    /// Nothing complete to run: wait, or close when nothing more can come.
    fn starved(&mut self) -> Step {
        if self.input.len() > self.max_request {
            return self.fail(format!(
                "Request too long (more than {} bytes), closing.\n",
                self.max_request
            ));
        }
        if self.eof {
            self.done = true;
            return Step::Close(String::new());
        }
        Step::Read
    }

    fn fail(&mut self, message: String) -> Step {
        self.done = true;
        self.input.clear();
        Step::Close(message)
    }

    /// The next request: up to a line feed or an unescaped `;`. At the end of input, an
    /// unterminated last request still runs.
    fn take_request(&mut self) -> Option<Vec<u8>> {
        let mut i = 0;
        while i < self.input.len() {
            match self.input[i] {
                b'\\' => i += 2,
                b'\n' | b';' => break,
                _ => i += 1,
            }
        }
        let end = i.min(self.input.len());
        let delimited = end < self.input.len();
        if !delimited && (!self.eof || self.input.is_empty()) {
            return None;
        }
        if end > self.max_request {
            return None;
        }
        let mut request: Vec<u8> = self.input.drain(..end).collect();
        if !self.input.is_empty() {
            self.input.remove(0);
        }
        if request.last() == Some(&b'\r') {
            request.pop();
        }
        Some(request)
    }

    /// The next payload line (payloads take neither escapes nor `;`).
    fn take_payload_line(&mut self) -> Option<String> {
        let end = self.input.iter().position(|&c| c == b'\n')?;
        let mut line: Vec<u8> = self.input.drain(..=end).collect();
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Some(String::from_utf8_lossy(&line).into_owned())
    }
}

/// Splits a request into words on spaces and tabs; a backslash makes the next character
/// literal (`\ `, `\;`, `\\`).
pub fn split_words(request: &[u8]) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = Vec::new();
    let mut in_word = false;
    let mut bytes = request.iter();
    while let Some(&c) = bytes.next() {
        match c {
            b' ' | b'\t' => {
                if in_word {
                    words.push(String::from_utf8_lossy(&word).into_owned());
                    word.clear();
                    in_word = false;
                }
            }
            b'\\' => {
                in_word = true;
                if let Some(&next) = bytes.next() {
                    word.push(next);
                }
            }
            _ => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(String::from_utf8_lossy(&word).into_owned());
    }
    words
}

#[cfg(test)]
mod tests;
