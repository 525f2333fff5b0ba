//! `steer` policies of the `sk_reuseport` program, seen from real clients: every bind sends
//! each stream to backend `w<thread>` (HAProxy's `thread` fetch), whose identity server
//! answers its name, so the client learns which worker accepted it. Also: a reload under
//! load (a second `lb` on the same port, then SIGUSR1 to the first) resets nothing, queued
//! connections included, and without eBPF the kernel's hashing still serves everything.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers abort the test on failure"
)]

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lb_tests::client::{connect, read_line};
use lb_tests::{Backend, Lb, free_port};

const WORKERS: usize = 4;

/// `nbthread` workers; frontend `fe` on each `(port, steer policy)`; streams go to backend
/// `w<thread>`, served by `servers[thread]`.
fn config(binds: &[(u16, &str)], servers: &[Backend], fe_extra: &str) -> String {
    let mut c = format!(
        "global\n    nbthread {}\n\ndefaults\n    mode tcp\n    timeout connect 2s\n    \
         timeout client 30s\n    timeout server 30s\n\nfrontend fe\n",
        servers.len()
    );
    for (port, policy) in binds {
        c += &format!("    bind 127.0.0.1:{port} steer {policy}\n");
    }
    c += fe_extra;
    c += "    use_backend w%[thread]\n\n";
    for (i, s) in servers.iter().enumerate() {
        c += &format!("backend w{i}\n    server {} {}\n\n", s.name(), s.addr());
    }
    c
}

fn workers(n: usize) -> Vec<Backend> {
    (0..n)
        .map(|i| Backend::identity(&format!("w{i}")))
        .collect()
}

/// Restricts the calling thread to `cpu` (loopback packets are received on the sender's CPU).
fn pin_to_cpu(cpu: usize) {
    #[allow(unsafe_code, reason = "sched_setaffinity(2) has no std API")]
    // SAFETY: a zeroed cpu_set_t is a valid empty set, `cpu` is small, the size is the set's.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        assert_eq!(
            libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set),
            0,
            "pin to CPU {cpu}"
        );
    }
}

/// Sequential short connections; which worker served each.
fn spread(port: u16, n: usize) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for _ in 0..n {
        let mut s = connect(port).expect("connect");
        let name = read_line(&mut s).expect("worker name");
        *counts.entry(name).or_insert(0) += 1;
    }
    counts
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[test]
fn hash_spreads_over_every_worker() {
    let servers = workers(WORKERS);
    let port = free_port();
    let lb = Lb::start(&config(&[(port, "hash")], &servers, ""));
    lb.expect_line("eBPF steering: sk_reuseport", Duration::from_secs(5));
    // From one CPU: the spread comes from the 4-tuple hash, not from where packets arrive.
    let counts = std::thread::spawn(move || {
        pin_to_cpu(0);
        spread(port, 400)
    })
    .join()
    .expect("client");
    assert_eq!(counts.len(), WORKERS, "every worker serves: {counts:?}");
    for (w, n) in &counts {
        assert!(*n >= 50, "worker {w} got {n} of 400: {counts:?}");
    }
}

#[test]
fn cpu_policy_keeps_connections_on_the_receiving_cpus_worker() {
    let servers = workers(WORKERS);
    let port = free_port();
    let lb = Lb::start(&config(&[(port, "cpu")], &servers, ""));
    lb.expect_line("eBPF steering: sk_reuseport", Duration::from_secs(5));
    for cpu in 0..cpus().min(WORKERS) {
        let counts = std::thread::spawn(move || {
            pin_to_cpu(cpu);
            spread(port, 40)
        })
        .join()
        .expect("client");
        let want = BTreeMap::from([(format!("w{}", cpu % WORKERS), 40)]);
        assert_eq!(counts, want, "client on CPU {cpu}");
    }
}

#[test]
fn least_loaded_avoids_the_worker_holding_long_connections() {
    let servers = workers(WORKERS);
    let (held_port, port) = (free_port(), free_port());
    // `steer cpu` loads one chosen worker; the load is per worker, across binds.
    let lb = Lb::start(&config(
        &[(held_port, "cpu"), (port, "least-loaded")],
        &servers,
        "",
    ));
    lb.expect_line("eBPF steering: sk_reuseport", Duration::from_secs(5));
    let busy = cpus() - 1;
    let held = std::thread::spawn(move || {
        pin_to_cpu(busy);
        (0..40)
            .map(|_| {
                let mut s = connect(held_port).expect("connect");
                assert_eq!(read_line(&mut s).expect("name"), format!("w{busy}"));
                s
            })
            .collect::<Vec<_>>()
    })
    .join()
    .expect("held connections");
    let counts = spread(port, 300);
    assert!(
        !counts.contains_key(&format!("w{busy}")),
        "w{busy} holds 40 connections, yet got new ones: {counts:?}"
    );
    assert_eq!(counts.len(), WORKERS - 1, "the others share: {counts:?}");
    for n in counts.values() {
        assert!(*n >= 40, "{counts:?}");
    }
    drop(held);
    // Once those end, the worker is chosen again.
    std::thread::sleep(Duration::from_millis(300));
    let after = spread(port, 200);
    assert!(
        after.get(&format!("w{busy}")).copied().unwrap_or(0) >= 20,
        "{after:?}"
    );
}

/// Connects, sends a line, expects the server's name then the echo: any reset, refusal or
/// early close is a failure.
fn round_trip(port: u16) -> Result<(), String> {
    let mut s = connect(port).map_err(|e| format!("connect: {e}"))?;
    s.write_all(b"ping\n").map_err(|e| format!("write: {e}"))?;
    read_line(&mut s).map_err(|e| format!("name: {e}"))?;
    let echo = read_line(&mut s).map_err(|e| format!("echo: {e}"))?;
    if echo == "ping" {
        Ok(())
    } else {
        Err(format!("echo {echo:?}"))
    }
}

#[test]
fn reload_under_load_resets_no_connection() {
    let servers = workers(2);
    let port = free_port();
    let cfg = config(&[(port, "hash")], &servers, "");
    let mut old = Lb::start(&cfg);
    old.expect_line("eBPF steering: sk_reuseport", Duration::from_secs(5));
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let errors = Arc::new(std::sync::Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, ok, failed, errors) = (
                Arc::clone(&stop),
                Arc::clone(&ok),
                Arc::clone(&failed),
                Arc::clone(&errors),
            );
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(20);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    match round_trip(port) {
                        Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            errors.lock().unwrap().push(e);
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // The new process joins the same reuseport groups, then the old one stops listening.
    let new = Lb::start(&cfg);
    new.expect_line("eBPF steering: sk_reuseport", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(200));
    let before = ok.load(Ordering::Relaxed);
    old.signal(libc::SIGUSR1);
    assert!(
        old.wait_exit(Duration::from_secs(10)).is_some(),
        "the old process finishes its connections and exits"
    );
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client");
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert_eq!(failed, 0, "{ok} ok, errors: {:?}", errors.lock().unwrap());
    assert!(before >= 20 && ok > before + 20, "{before} then {ok}");
}

#[test]
fn queued_connections_of_a_stopping_process_move_to_the_new_one() {
    // One worker: with several, a worker waiting for a free slot could hold the second
    // connection in its queue while another worker holds that slot.
    let servers = workers(1);
    let port = free_port();
    // maxconn 2: once two connections are open, the rest wait in the kernel's accept queue.
    let cfg = config(&[(port, "hash")], &servers, "    maxconn 2\n");
    let mut old = Lb::start(&cfg);
    old.expect_line("eBPF steering: sk_reuseport", Duration::from_secs(5));
    let held: Vec<_> = (0..2)
        .map(|_| {
            let mut s = connect(port).expect("connect");
            read_line(&mut s).expect("served");
            s
        })
        .collect();
    let mut queued: Vec<_> = (0..12).map(|_| connect(port).expect("queued")).collect();
    for s in &mut queued {
        s.write_all(b"ping\n").expect("write");
    }
    std::thread::sleep(Duration::from_millis(200));
    let new = Lb::start(&config(&[(port, "hash")], &servers, ""));
    new.expect_line("eBPF steering: sk_reuseport", Duration::from_secs(5));
    old.signal(libc::SIGUSR1);
    old.expect_line("SIGUSR1 received", Duration::from_secs(5));
    for (i, s) in queued.iter_mut().enumerate() {
        let name = read_line(s).unwrap_or_else(|e| panic!("queued connection {i}: {e}"));
        assert!(name.starts_with('w'), "{name}");
        assert_eq!(read_line(s).expect("echo"), "ping", "connection {i}");
    }
    drop(held);
    assert!(old.wait_exit(Duration::from_secs(10)).is_some());
}

#[test]
fn without_ebpf_the_kernel_hash_serves_and_one_line_says_so() {
    let servers = workers(2);
    let port = free_port();
    let cfg = config(&[(port, "least-loaded")], &servers, "");
    let lb = Lb::spawn_with_env(&cfg, &["-d"], &[("LB_NO_EBPF", "1")]);
    lb.wait_listening(&[port]);
    let line = lb.expect_line("eBPF steering unavailable", Duration::from_secs(5));
    assert!(line.contains("LB_NO_EBPF"), "{line}");
    assert!(line.contains("reuseport hash"), "{line}");
    let counts = spread(port, 100);
    assert_eq!(counts.values().sum::<usize>(), 100);
    assert_eq!(
        lb.output()
            .lines_matching(&regex::Regex::new("eBPF steering").unwrap())
            .len(),
        1
    );
}
