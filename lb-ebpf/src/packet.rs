//! [`parse::Packet`] over the frame of an XDP context, with the bounds checks the verifier wants.

use aya_ebpf::programs::XdpContext;

use crate::parse::Packet;

/// The frame an XDP program sees, between `data` and `data_end`.
pub struct XdpPacket {
    start: usize,
    end: usize,
}

impl XdpPacket {
    /// The frame of `ctx`.
    #[inline(always)]
    pub fn new(ctx: &XdpContext) -> Self {
        Self {
            start: ctx.data(),
            end: ctx.data_end(),
        }
    }
}

impl Packet for XdpPacket {
    #[inline(always)]
    fn len(&self) -> usize {
        self.end - self.start
    }

    #[inline(always)]
    fn load<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        // Compare the end pointer itself: the verifier only widens the readable range of the
        // packet pointer after a check of `start + offset + N` against `data_end`.
        if self.start + offset + N > self.end {
            return None;
        }
        let ptr = (self.start + offset) as *const [u8; N];
        // SAFETY: the range [ptr, ptr + N) lies inside the frame (checked above), and a byte
        // array has alignment 1.
        Some(unsafe { ptr.read() })
    }
}
