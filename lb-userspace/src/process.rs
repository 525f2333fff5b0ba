//! The process: start-up sequence, daemon mode, signals, soft and hard stop.
//!
//! Order matters: the configuration is checked and every socket bound before anything
//! starts (never half-configured), the fork happens before any thread exists, and eBPF is
//! tried last so that its absence only ever disables acceleration.

use std::collections::HashMap;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::backend::state::Backends;
use crate::checks::ServerTransition;
use crate::cli::{self, Command, RunOptions};
use crate::config::{self, Config};
use crate::log::sink::Logger;
use crate::log::syslog::Level;
use crate::proxy::frontend::FrontendState;
use crate::sys::daemon::{self, Forked};
use crate::worker::gate::ConnGate;
use crate::worker::{self, Shared, StopMode, listener};
use crate::{checks, ebpf};

/// Runs the `lb` command with the given arguments (without the program name); returns the
/// exit status.
pub fn main_with_args(args: impl IntoIterator<Item = String>) -> i32 {
    match cli::parse(args) {
        Err(e) => {
            eprintln!("lb: {e}\n{}", cli::USAGE);
            1
        }
        Ok(Command::Help) => {
            print!("{}", cli::USAGE);
            0
        }
        Ok(Command::Version { verbose }) => {
            print_version(verbose);
            0
        }
        Ok(Command::Xdp(args)) => ebpf::run_stats_command(&args),
        Ok(Command::Run(opts)) => run(&opts),
    }
}

fn print_version(verbose: bool) {
    println!(
        "lb version {} - eBPF-assisted hybrid L4/L7 load balancer",
        env!("CARGO_PKG_VERSION")
    );
    if verbose {
        println!("Build options:");
        println!("  eBPF: {}", ebpf::build_info());
        println!("  splice(2) forwarding: yes (disable with -dS or 'nosplice')");
        println!("  Modes: tcp");
        println!(
            "  Target: {}-{}",
            std::env::consts::ARCH,
            std::env::consts::OS
        );
    }
}

fn init_tracing(opts: &RunOptions) {
    let level = if opts.quiet {
        "warn"
    } else if opts.debug {
        "debug"
    } else {
        "info"
    };
    crate::log::internal::init(level);
}

fn run(opts: &RunOptions) -> i32 {
    init_tracing(opts);
    let config = match config::load(&opts.files) {
        Ok(config) => config,
        Err(errors) => {
            let pid = std::process::id();
            for e in errors.iter() {
                eprintln!("[ALERT]    ({pid}) : config : {e}");
            }
            eprintln!("[ALERT]    ({pid}) : config : Fatal errors found in configuration.");
            return 1;
        }
    };
    let pid = std::process::id();
    for w in &config.warnings {
        eprintln!("[WARNING]  ({pid}) : config : {w}");
    }
    if opts.check_only {
        println!("Configuration file is valid");
        return 0;
    }
    match start(opts, config) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("[ALERT] {e:#}");
            1
        }
    }
}

fn start(opts: &RunOptions, config: Config) -> anyhow::Result<()> {
    let nofile = crate::sys::rlimit::raise_nofile().unwrap_or(1024);
    let workers = config
        .global
        .nbthread
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let listeners = listener::bind_all(&config, workers)?;
    let cli_sockets = crate::runtime_api::bind_all(&config.global)?;
    if (opts.daemon || config.global.daemon) && daemon::daemonize()? == Forked::Parent {
        return Ok(());
    }
    if let Some(pidfile) = opts.pidfile.as_ref().or(config.global.pidfile.as_ref()) {
        daemon::write_pidfile(pidfile)?;
    }
    // Kept alive for the life of the process: dropping it detaches the programs.
    let _xdp = start_ebpf(&config)?;
    let backends = Arc::new(Backends::new(&config.backends));
    let _l4 = start_l4(&config, &backends)?;
    let _checks = checks::spawn_with_listener(Arc::clone(&backends), check_event_logger(&config)?)?;
    let frontends = config
        .frontends
        .iter()
        .map(|f| FrontendState::new(f.clone(), &backends))
        .collect::<Result<Vec<_>, _>>()?;
    let tables = Arc::new(crate::stick::Tables::from_config(&config));
    // Converters (`table_*`, `in_table`) see no stream, so they find the tables here.
    tables.install();
    let shared = Arc::new(Shared {
        tables: Arc::clone(&tables),
        rules_active: config.frontends.iter().any(|f| !f.rules.is_empty())
            || config.backends.iter().any(|b| !b.rules.is_empty()),
        frontends,
        backends,
        global: ConnGate::new(
            config
                .global
                .maxconn
                .unwrap_or_else(|| default_maxconn(nofile)),
        ),
        actconn: AtomicU32::new(0),
        bufsize: config.global.bufsize.max(1024),
        splice: !(opts.no_splice || config.global.nosplice),
        pipesize: config.global.pipesize,
        http_maxhdr: config
            .global
            .http_maxhdr
            .unwrap_or(crate::http::session::DEFAULT_MAXHDR),
        comp_level: config.global.comp_maxlevel.unwrap_or(1),
    });
    let (stop_tx, stop_rx) = watch::channel(StopMode::Running);
    let threads = worker::spawn(&shared, listeners, &stop_rx)?;
    // Only workers hold receivers now: when the last one exits, a soft stop is complete.
    drop(stop_rx);
    let cli = crate::runtime_api::start(cli_sockets, &shared, &config.global, workers, nofile)?;
    tracing::info!(
        "lb {} started: {} worker(s), {} frontend(s), {} backend(s)",
        env!("CARGO_PKG_VERSION"),
        threads.len(),
        config.frontends.len(),
        config.backends.len()
    );
    wait_for_signals(&stop_tx, config.global.hard_stop_after, &tables)?;
    for t in threads {
        let _ = t.join();
    }
    cli.stop();
    listener::cleanup_unix_sockets(&config);
    tracing::info!("lb stopped");
    Ok(())
}

/// Sends server state changes to the backend's log targets, as HAProxy does (they also go
/// to the internal log through `tracing`).
fn check_event_logger(
    config: &Config,
) -> anyhow::Result<impl Fn(&ServerTransition) + Send + Sync + 'static> {
    let mut loggers = HashMap::new();
    for be in &config.backends {
        loggers.insert(be.name.clone(), Logger::new(&be.logs)?);
    }
    // Check events are rare: one lock around the loggers is fine off the data path.
    let loggers = Mutex::new(loggers);
    Ok(move |t: &ServerTransition| {
        let loggers = loggers.lock().unwrap_or_else(|p| p.into_inner());
        let Some(logger) = loggers.get(&t.backend) else {
            return;
        };
        logger.log(if t.up { Level::Notice } else { Level::Alert }, &t.message);
        if t.backend_down {
            logger.log(
                Level::Emerg,
                &format!("backend {} has no server available!", t.backend),
            );
        }
    })
}

/// Without `maxconn`, stay well below the descriptor limit (each stream needs two sockets
/// and, with splice, two pipes).
fn default_maxconn(nofile: u64) -> u32 {
    u32::try_from(nofile.saturating_sub(64) / 6)
        .unwrap_or(u32::MAX)
        .max(64)
}

fn start_ebpf(config: &Config) -> anyhow::Result<Option<ebpf::XdpService>> {
    // The L4 fast path owns the interfaces then, and chains the guard itself (start_l4).
    if !config.xdp_forward.is_empty() {
        return Ok(None);
    }
    match ebpf::start_service(config) {
        Ok(service) => Ok(service),
        Err(e) if config.xdp.as_ref().is_some_and(|x| x.required) => Err(anyhow::anyhow!(
            "xdp is 'required' but could not start: {e}"
        )),
        Err(e) => {
            if let Some(xdp) = config.xdp.as_ref() {
                ebpf::log_disabled(xdp, &e);
            }
            Ok(None)
        }
    }
}

/// Starts the XDP L4 fast path of `option xdp-forward` backends, if any; without it (or
/// when it fails and the xdp section is not `required`) the same frontends serve in user space.
fn start_l4(config: &Config, backends: &Arc<Backends>) -> anyhow::Result<Option<ebpf::FastPath>> {
    match ebpf::start_l4(config, backends) {
        Ok(fast) => Ok(fast),
        Err(e) if config.xdp.as_ref().is_some_and(|x| x.required) => Err(anyhow::anyhow!(
            "xdp is 'required' but the L4 fast path could not start: {e}"
        )),
        Err(e) => {
            tracing::warn!("XDP L4 fast path disabled, serving in user space: {e}");
            Ok(None)
        }
    }
}

/// Blocks until the workers must stop: SIGTERM/SIGINT stop hard, SIGUSR1 stops softly
/// (bounded by `hard-stop-after`).
fn wait_for_signals(
    stop: &watch::Sender<StopMode>,
    hard_stop_after: Option<Duration>,
    tables: &crate::stick::Tables,
) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut usr1 = signal(SignalKind::user_defined1())?;
        let mut hup = signal(SignalKind::hangup())?;
        // Expired stick-table entries are also dropped lazily; this bounds what idle keys
        // keep in memory.
        let mut purge = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = purge.tick() => { tables.purge(crate::clock::now_ms()); }
                _ = term.recv() => { tracing::info!("SIGTERM received: stopping"); break }
                _ = int.recv() => { tracing::info!("SIGINT received: stopping"); break }
                _ = hup.recv() => tracing::info!("SIGHUP received: nothing to reload (hot reload comes later)"),
                _ = usr1.recv() => {
                    tracing::info!("SIGUSR1 received: soft stop, waiting for open connections to finish");
                    let _ = stop.send(StopMode::Soft);
                    let limit = async {
                        match hard_stop_after {
                            Some(t) => tokio::time::sleep(t).await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        () = limit => tracing::warn!("hard-stop-after reached: closing remaining connections"),
                        _ = term.recv() => tracing::info!("SIGTERM received during soft stop: stopping"),
                        _ = int.recv() => tracing::info!("SIGINT received during soft stop: stopping"),
                        () = stop.closed() => return Ok(()),
                    }
                    break;
                }
            }
        }
        let _ = stop.send(StopMode::Hard);
        Ok::<(), std::io::Error>(())
    })?;
    Ok(())
}
