//! Reads, writes and head adjustments on an XDP frame, bounds-checked the way the verifier
//! wants (a comparison of `data + offset + N` against `data_end` before each access).

use aya_ebpf::{helpers::bpf_xdp_adjust_head, programs::XdpContext};

/// The `N` bytes at `offset` of the frame.
#[inline(always)]
pub fn load<const N: usize>(ctx: &XdpContext, offset: usize) -> Option<[u8; N]> {
    let start = ctx.data();
    if start + offset + N > ctx.data_end() {
        return None;
    }
    // SAFETY: [start + offset, + N) lies inside the frame (checked above); alignment 1.
    Some(unsafe { ((start + offset) as *const [u8; N]).read() })
}

/// Writes `bytes` at `offset` of the frame.
#[inline(always)]
pub fn store<const N: usize>(ctx: &XdpContext, offset: usize, bytes: &[u8; N]) -> Option<()> {
    let start = ctx.data();
    if start + offset + N > ctx.data_end() {
        return None;
    }
    // SAFETY: as in `load`; the frame is writable in XDP.
    unsafe { ((start + offset) as *mut [u8; N]).write(*bytes) };
    Some(())
}

/// Grows (`delta` < 0) or shrinks the frame at its head.
#[inline(always)]
pub fn adjust_head(ctx: &XdpContext, delta: i32) -> Option<()> {
    // SAFETY: the helper checks the headroom itself; the context pointer is the program's.
    let rc = unsafe { bpf_xdp_adjust_head(ctx.ctx, delta) };
    (rc == 0).then_some(())
}

/// Frame length in bytes.
#[inline(always)]
pub fn len(ctx: &XdpContext) -> usize {
    ctx.data_end() - ctx.data()
}
