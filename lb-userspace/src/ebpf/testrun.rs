//! Running the loaded XDP program on a packet with `BPF_PROG_TEST_RUN`: fixture tests and
//! the per-packet cost benchmark.

use aya::programs::{TestRun as _, TestRunOptions, Xdp};
use lb_common::XDP_BASELINE_PROGRAM;

use super::{EbpfError, XdpRuntime};

mod cost;

/// `XDP_ABORTED`.
pub const XDP_ABORTED: u32 = 0;
/// `XDP_DROP`.
pub const XDP_DROP: u32 = 1;
/// `XDP_PASS`.
pub const XDP_PASS: u32 = 2;

/// The outcome of running the program `repeat` times on one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestRunOutcome {
    /// The XDP action of the last run ([`XDP_PASS`], [`XDP_DROP`], ...).
    pub action: u32,
    /// Mean time per run as the kernel measured it, in nanoseconds.
    pub ns_per_packet: u64,
}

impl XdpRuntime {
    /// Runs the program on `frame` (from the Ethernet header) `repeat` times (at least once).
    ///
    /// Every run counts in the maps like a received packet. Needs CAP_BPF/CAP_SYS_ADMIN.
    pub fn test_run(&self, frame: &[u8], repeat: u32) -> Result<TestRunOutcome, EbpfError> {
        run(self.program()?, frame, repeat)
    }

    /// Runs the program on `frame` as if received on interface `ifindex` (which must exist
    /// in this network namespace; with [`Self::test_run`] the kernel uses the loopback's).
    pub fn test_run_on(
        &self,
        frame: &[u8],
        ifindex: u32,
        repeat: u32,
    ) -> Result<TestRunOutcome, EbpfError> {
        // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index,
        // egress_ifindex; data_end must be the frame's length.
        let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let ctx: Vec<u8> = [0, len, 0, ifindex, 0, 0]
            .iter()
            .flat_map(|v: &u32| v.to_ne_bytes())
            .collect();
        let opts = TestRunOptions {
            data_in: Some(frame),
            ctx_in: Some(&ctx),
            repeat: repeat.max(1),
            ..TestRunOptions::default()
        };
        outcome(self.program()?, opts)
    }

    /// Mean cost per packet (ns) of the program on `frame` over `repeat` runs, for
    /// `cargo xtask bench`.
    pub fn bench_ns_per_packet(&self, frame: &[u8], repeat: u32) -> Result<u64, EbpfError> {
        self.test_run(frame, repeat).map(|o| o.ns_per_packet)
    }

    /// The same measure for a trivial program that drops everything (loaded on first use):
    /// the floor that the benchmark compares [`Self::bench_ns_per_packet`] against.
    pub fn bench_baseline_ns_per_packet(
        &mut self,
        frame: &[u8],
        repeat: u32,
    ) -> Result<u64, EbpfError> {
        let program: &mut Xdp = self
            .ebpf
            .program_mut(XDP_BASELINE_PROGRAM)
            .ok_or(EbpfError::Missing(XDP_BASELINE_PROGRAM))?
            .try_into()
            .map_err(EbpfError::Program)?;
        if program.fd().is_err() {
            program.load().map_err(EbpfError::Program)?;
        }
        run(program, frame, repeat).map(|o| o.ns_per_packet)
    }
}

/// One `BPF_PROG_TEST_RUN` of `program` on `frame`; the kernel reports the mean duration.
fn run(program: &Xdp, frame: &[u8], repeat: u32) -> Result<TestRunOutcome, EbpfError> {
    let opts = TestRunOptions {
        data_in: Some(frame),
        repeat: repeat.max(1),
        ..TestRunOptions::default()
    };
    outcome(program, opts)
}

fn outcome(program: &Xdp, opts: TestRunOptions<'_>) -> Result<TestRunOutcome, EbpfError> {
    let result = program.test_run(opts).map_err(EbpfError::TestRun)?;
    Ok(TestRunOutcome {
        action: result.return_value,
        ns_per_packet: u64::try_from(result.duration.as_nanos()).unwrap_or(u64::MAX),
    })
}
