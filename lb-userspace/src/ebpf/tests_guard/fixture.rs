//! One loaded program with its own pinned maps, and counter-delta assertions.

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
};

use lb_common::{Counter, StatIndex};

use crate::ebpf::{
    GuardSettings, XDP_DROP, XDP_PASS, XdpRuntime, XdpStats, load, port_stats, probe,
    set_protected_ports, set_settings,
};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A verdict the program returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    Pass,
    Drop,
}

impl Act {
    const fn code(self) -> u32 {
        match self {
            Self::Pass => XDP_PASS,
            Self::Drop => XDP_DROP,
        }
    }
}

pub struct Fx {
    pub rt: XdpRuntime,
    pub pin: PathBuf,
}

impl Fx {
    /// Loads the program (pins removed on drop). Fails without root or the eBPF object.
    pub fn new() -> Self {
        if let Err(why) = probe(Path::new("/sys/fs/bpf")) {
            panic!("XDP guard fixtures cannot run: {why} (run as root after `cargo xtask setup`)");
        }
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Self::at(PathBuf::from(format!(
            "/sys/fs/bpf/lb-guard-{}-{n}",
            std::process::id()
        )))
    }

    /// Loads the program with its maps pinned in `pin` (reused when already there).
    pub fn at(pin: PathBuf) -> Self {
        if let Err(why) = probe(Path::new("/sys/fs/bpf")) {
            panic!("XDP guard fixtures cannot run: {why} (run as root after `cargo xtask setup`)");
        }
        let mut rt = load(&pin).unwrap_or_else(|e| {
            // The maps were pinned before the verifier refused the program.
            if let Ok(dir) = std::fs::read_dir(&pin) {
                dir.flatten()
                    .for_each(|f| drop(std::fs::remove_file(f.path())));
            }
            let _ = std::fs::remove_dir(&pin);
            panic!("loading the XDP program: {e:?}")
        });
        rt.remove_pins_on_drop();
        Self { rt, pin }
    }

    /// Loads and configures: `ports` protected with their flags, then `settings`.
    pub fn with(ports: &[(u16, u32)], settings: &GuardSettings) -> Self {
        let fx = Self::new();
        set_protected_ports(&fx.pin, ports).unwrap();
        set_settings(&fx.pin, settings).unwrap();
        fx
    }

    pub fn stats(&self) -> XdpStats {
        self.rt.stats().unwrap()
    }

    /// Runs `frame` `times` times and returns the last action.
    pub fn run(&self, frame: &[u8], times: u32) -> u32 {
        self.rt.test_run(frame, times).unwrap().action
    }

    /// Runs `frame` once: asserts the verdict, and that exactly this one packet was counted,
    /// under `reason`.
    #[track_caller]
    pub fn expect(&self, frame: &[u8], act: Act, reason: StatIndex) {
        let before = self.stats();
        let action = self.run(frame, 1);
        let after = self.stats();
        let delta = |r: StatIndex| after.get(r).packets - before.get(r).packets;
        let counted: Vec<StatIndex> = StatIndex::ALL
            .into_iter()
            .filter(|r| delta(*r) > 0)
            .collect();
        assert_eq!(counted, [reason], "reasons counted for {frame:02x?}");
        assert_eq!(action, act.code(), "verdict for reason {reason:?}");
        assert_eq!(
            after.get(reason),
            Counter {
                packets: before.get(reason).packets + 1,
                bytes: before.get(reason).bytes + frame.len() as u64,
            },
            "counter of {reason:?}"
        );
        for other in StatIndex::ALL {
            if other != reason {
                assert_eq!(delta(other), 0, "{other:?} counted a {reason:?} packet");
            }
        }
    }

    /// Packets counted for (`port`, `reason`).
    pub fn port_count(&self, port: u16, reason: StatIndex) -> u64 {
        port_stats(&self.pin)
            .unwrap()
            .into_iter()
            .find(|(p, r, _)| *p == port && *r == reason)
            .map_or(0, |(_, _, c)| c.packets)
    }
}
