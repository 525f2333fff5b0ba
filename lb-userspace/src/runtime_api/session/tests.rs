use super::*;
use crate::runtime_api::testutil::{TestRt, drain};

fn session(level: Level) -> Session {
    Session::new(level, 16384)
}

#[test]
fn one_command_then_close_with_an_empty_line() {
    let t = TestRt::new("");
    let mut s = session(Level::Admin);
    s.receive(b"show cli level\n");
    assert_eq!(s.step(&t.rt, 0), Step::Close("admin\n\n".into()));
    assert_eq!(s.step(&t.rt, 0), Step::Close(String::new()), "stays closed");
}

#[test]
fn a_request_may_arrive_in_pieces() {
    let t = TestRt::new("");
    let mut s = session(Level::Operator);
    s.receive(b"show cli");
    assert_eq!(s.step(&t.rt, 0), Step::Read);
    s.receive(b" level\r\n");
    assert_eq!(s.step(&t.rt, 0), Step::Close("operator\n\n".into()));
}

#[test]
fn semicolons_separate_commands_and_each_response_ends_with_an_empty_line() {
    let t = TestRt::new("");
    assert_eq!(
        t.run("show cli level;user;show cli level", 0),
        "admin\n\n\nuser\n\n"
    );
    // Commands already received run even without `;` (pipelined lines).
    assert_eq!(
        t.run("show cli level\nshow cli level\n", 0),
        "admin\n\nadmin\n\n"
    );
}

#[test]
fn backslash_escapes() {
    assert_eq!(
        split_words(b"  set\tmap a\\ b  c\\;d e\\\\f\\"),
        ["set", "map", "a b", "c;d", "e\\f"]
    );
    assert_eq!(split_words(b""), Vec::<String>::new());
    let t = TestRt::new("");
    // An escaped `;` does not end the request: `get weight` sees `be/s1;x`.
    assert_eq!(t.run("get weight be/s1\\;x", 0), "No such server.\n\n");
}

#[test]
fn the_last_request_runs_at_end_of_input_even_without_a_line_feed() {
    let t = TestRt::new("");
    let mut s = session(Level::User);
    s.receive(b"show cli level");
    assert_eq!(s.step(&t.rt, 0), Step::Read);
    s.end_of_input();
    assert_eq!(s.step(&t.rt, 0), Step::Close("user\n\n".into()));
    let mut s = session(Level::User);
    s.end_of_input();
    assert_eq!(s.step(&t.rt, 0), Step::Close(String::new()));
}

#[test]
fn interactive_mode_prompts_and_stays_open() {
    let t = TestRt::new("");
    let mut s = session(Level::Admin);
    s.receive(b"prompt\n");
    assert_eq!(s.step(&t.rt, 0), Step::Write("\n> ".into()));
    assert!(s.is_interactive());
    assert_eq!(s.step(&t.rt, 0), Step::Read, "waits for the next command");
    s.receive(b"show cli level\n");
    assert_eq!(s.step(&t.rt, 0), Step::Write("admin\n\n> ".into()));
    s.receive(b"get weight be/s1\nquit\nshow cli level\n");
    assert_eq!(
        s.step(&t.rt, 0),
        Step::Write("10 (initial 10)\n\n> ".into())
    );
    assert_eq!(
        s.step(&t.rt, 0),
        Step::Close(String::new()),
        "quit: no answer"
    );
    // `prompt` again leaves interactive mode: close after what was already received.
    assert_eq!(
        t.run("prompt\nshow cli level\nprompt\nshow cli level\n", 0),
        "\n> admin\n\n> \nadmin\n\n"
    );
    // End of input in interactive mode closes too.
    let mut s = session(Level::Admin);
    s.receive(b"prompt\n");
    s.end_of_input();
    assert_eq!(drain(&mut s, &t.rt, 0), "\n> ");
}

#[test]
fn payloads_gather_lines_up_to_an_empty_line() {
    let t = TestRt::new("");
    let mut s = session(Level::Admin);
    s.receive(b"show cli level <<\nkey1 value1\n");
    assert_eq!(
        s.step(&t.rt, 0),
        Step::Read,
        "nothing runs before the empty line"
    );
    s.receive(b"key2 value 2\n\n");
    assert_eq!(s.step(&t.rt, 0), Step::Close("admin\n\n".into()));
    // Interactive: `+ ` asks for more.
    let out = t.run("prompt\nshow cli level <<\nk v\n\nquit\n", 0);
    assert_eq!(out, "\n> + + admin\n\n> ");
    // Payload lines take no escapes nor `;`.
    let mut s = session(Level::Admin);
    s.receive(b"show cli level <<\na;b\n");
    assert_eq!(s.step(&t.rt, 0), Step::Read);
    assert_eq!(s.pending.as_ref().map(|p| p.payload.as_str()), Some("a;b"));
}

#[test]
fn oversized_requests_and_payloads_close_with_an_error() {
    let t = TestRt::new("");
    let mut s = Session::new(Level::Admin, 100);
    s.receive(&[b'x'; 101]);
    assert_eq!(
        s.step(&t.rt, 0),
        Step::Close("Request too long (more than 100 bytes), closing.\n".into())
    );
    let mut s = Session::new(Level::Admin, 100);
    s.receive(b"show cli level <<\n");
    for _ in 0..3 {
        s.receive(&[b'y'; 40]);
        s.receive(b"\n");
    }
    assert_eq!(
        s.step(&t.rt, 0),
        Step::Close("Payload too large (more than 100 bytes), closing.\n".into())
    );
    // A long request that fits is fine.
    let mut s = Session::new(Level::Admin, 100);
    s.receive(format!("get weight be/{}\n", "s".repeat(80)).as_bytes());
    assert_eq!(s.step(&t.rt, 0), Step::Close("No such server.\n\n".into()));
}

#[test]
fn unknown_and_empty_commands_get_the_usage() {
    let t = TestRt::new("");
    let out = t.run("show inof", 0);
    assert!(
        out.starts_with(
            "Unknown command, but maybe one of the following ones is a better match:\n"
        ),
        "{out}"
    );
    assert!(out.contains("\n  show info "), "{out}");
    assert!(out.ends_with("  quit                                    : disconnect\n\n"));
    let out = t.run("", 0);
    assert!(out.starts_with("Unknown command. Please enter one of the following commands only:\n"));
    let out = t.run("help", 0);
    assert!(out.starts_with("The following commands are valid at this level:\n"));
}

#[test]
fn levels_can_only_be_lowered() {
    let t = TestRt::new("");
    assert_eq!(
        t.run_as(Level::User, "operator;show cli level", 0),
        "Permission denied\n\nuser\n\n"
    );
    assert_eq!(
        t.run_as(
            Level::Admin,
            "operator;show cli level;user;show cli level",
            0
        ),
        "\noperator\n\n\nuser\n\n"
    );
    assert_eq!(
        t.run_as(Level::Operator, "set weight be/s1 5", 0),
        "Permission denied\n\n"
    );
}

#[test]
fn set_timeout_cli_changes_the_connection_timeout() {
    let t = TestRt::new("");
    let mut s = session(Level::User);
    s.receive(b"prompt\nset timeout cli 30\nset timeout cli 2m\n");
    assert_eq!(drain(&mut s, &t.rt, 0), "\n> \n> \n> ");
    assert_eq!(s.timeout(), Some(Duration::from_secs(120)));
    assert_eq!(t.run("set timeout cli", 0), "Expects an integer value.\n\n");
    assert_eq!(t.run("set timeout cli 0", 0), "Invalid timeout value.\n\n");
    assert_eq!(t.run("set timeout cli x", 0), "Invalid timeout value.\n\n");
    assert_eq!(
        t.run("set timeout client 3", 0),
        "'set timeout' only supports 'cli'.\n\n"
    );
}
