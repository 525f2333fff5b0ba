//! Loading files and directories, and the example configurations shipped in `configs/`.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::env;
use crate::config::{load, load_with_env};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("lb-config-test-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_directory_loads_its_cfg_files_in_lexical_order() {
    let dir = TempDir::new();
    // Lexical order is 00-global, 10-frontend, 2-backend: the frontend section started in
    // 10-frontend.cfg continues in 10-frontend2.cfg, as sections span files.
    dir.write(
        "2-backend.cfg",
        "backend be\n    server s 127.0.0.1:10080\n",
    );
    dir.write("10-frontend.cfg", "frontend fe\n    bind :10000\n");
    dir.write("10-frontend2.cfg", "    default_backend be\n");
    dir.write("00-global.cfg", "global\n    maxconn 42\n");
    dir.write("README.txt", "this is not a config file\n");
    fs::create_dir(dir.0.join("sub.cfg")).unwrap();
    let c = load(std::slice::from_ref(&dir.0)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.global.maxconn, Some(42));
    assert_eq!(c.frontends[0].default_backend.as_deref(), Some("be"));
    assert_eq!(c.frontends[0].location.file, dir.0.join("10-frontend.cfg"));
    assert_eq!(c.backends[0].location.file, dir.0.join("2-backend.cfg"));
}

#[test]
fn files_and_directories_mix_in_argument_order() {
    let dir = TempDir::new();
    let conf = dir.0.join("conf.d");
    fs::create_dir(&conf).unwrap();
    let main = dir.write("main.cfg", "defaults\n    retries 8\n");
    fs::write(conf.join("b.cfg"), "backend be\n").unwrap();
    let c = load(&[main, conf]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.backends[0].retries, 8);
}

#[test]
fn errors_name_the_file_they_are_in() {
    let dir = TempDir::new();
    let a = dir.write("a.cfg", "global\n    maxconn 1\n");
    let b = dir.write("b.cfg", "\nbackend be\n    bogus\n");
    let e = load_with_env(&[a, b.clone()], &env).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "parsing [{}:3] : unknown keyword 'bogus' in 'backend' section",
            b.display()
        )
    );
}

#[test]
fn a_missing_file_is_an_error() {
    let path = PathBuf::from("/nonexistent/lb/test.cfg");
    let e = load(std::slice::from_ref(&path)).unwrap_err();
    assert_eq!(e.len(), 1);
    let msg = e.to_string();
    assert!(
        msg.starts_with(
            "parsing [/nonexistent/lb/test.cfg] : could not open configuration file : "
        ),
        "{msg}"
    );
}

fn configs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs")
}

fn cfg_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cfg"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_config_is_valid() {
    let files = cfg_files(&configs_dir());
    assert!(
        files.len() >= 10,
        "expected the example configs, found {files:?}"
    );
    for file in files {
        if let Err(e) = load_with_env(std::slice::from_ref(&file), &env) {
            panic!("{} should be valid:\n{e}", file.display());
        }
    }
}

/// Reads `# expect-error: <LINE>: <substring>` from the first line.
fn expectation(file: &Path) -> (usize, String) {
    let text = fs::read_to_string(file).unwrap();
    let first = text.lines().next().unwrap_or_default();
    let rest = first.strip_prefix("# expect-error: ").unwrap_or_else(|| {
        panic!(
            "{}: first line must be '# expect-error: <LINE>: <text>'",
            file.display()
        )
    });
    let (line, msg) = rest.split_once(": ").unwrap();
    (line.parse().unwrap(), msg.to_owned())
}

#[test]
fn every_broken_config_fails_where_it_says() {
    let files = cfg_files(&configs_dir().join("broken"));
    assert!(files.len() >= 5, "expected broken configs, found {files:?}");
    for file in files {
        let (line, msg) = expectation(&file);
        let errors = match load_with_env(std::slice::from_ref(&file), &env) {
            Ok(_) => panic!("{} should be rejected", file.display()),
            Err(e) => e,
        };
        let hit = errors
            .iter()
            .any(|e| e.location.line == line && e.message().contains(&msg));
        assert!(
            hit,
            "{}: expected '{msg}' at line {line}, got:\n{errors}",
            file.display()
        );
    }
}
