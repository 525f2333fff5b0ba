//! The XDP guard: map names, sizes, keys and values of the deny/allow lists, the protected
//! ports, the SYN-flood token buckets and the guard's configuration.
//!
//! Every type is `#[repr(C)]` with explicit padding so that the kernel, `bpftool` and user
//! space agree on the bytes.

/// Configuration of the guard: an `Array` with one [`GuardConfig`] at index 0.
pub const CONFIG_MAP: &str = "LB_XDP_CONFIG";
/// IPv4 deny list: `LpmTrie<`[`Ipv4Prefix`]`, `[`CidrEntry`]`>`.
pub const DENY4_MAP: &str = "LB_XDP_DENY4";
/// IPv6 deny list: `LpmTrie<[u8; 16], `[`CidrEntry`]`>`.
pub const DENY6_MAP: &str = "LB_XDP_DENY6";
/// IPv4 allow list: `LpmTrie<`[`Ipv4Prefix`]`, `[`CidrEntry`]`>`.
pub const ALLOW4_MAP: &str = "LB_XDP_ALLOW4";
/// IPv6 allow list: `LpmTrie<[u8; 16], `[`CidrEntry`]`>`.
pub const ALLOW6_MAP: &str = "LB_XDP_ALLOW6";
/// Protected TCP destination ports: `Array<`[`PortPolicy`]`, 65536>` indexed by port (an
/// array, so the program's lookup is a bounds check and an offset, not a hash).
pub const PORTS_MAP: &str = "LB_XDP_PORTS";
/// Which port owns each per-port counter slot: `Array<u32, `[`PORT_STAT_SLOTS`]`>`, the
/// port plus one (0: a free slot). User space keeps it in step with [`PORTS_MAP`].
pub const PORT_SLOTS_MAP: &str = "LB_XDP_PORT_SLOTS";
/// Per-source SYN token buckets: `LruHashMap<`[`SourceKey`]`, `[`TokenBucket`]`>`.
pub const SYN_SOURCE_MAP: &str = "LB_XDP_SYN_SOURCE";
/// The global SYN budget: `PerCpuArray<`[`TokenBucket`]`, 1>` (one bucket per CPU).
pub const SYN_GLOBAL_MAP: &str = "LB_XDP_SYN_GLOBAL";
/// Per protected port counters: `PerCpuArray<Counter>` with [`crate::stats::SLOT_REASONS`]
/// counters per slot of [`PortPolicy::slot`] (index `slot * SLOT_REASONS + reason`).
pub const PORT_STATS_MAP: &str = "LB_XDP_PORT_STATS";
/// Hits of deny/allow entries: `PerCpuHashMap<`[`CidrHitKey`]`, u64>`.
pub const CIDR_HITS_MAP: &str = "LB_XDP_CIDR_HITS";

/// Every map the guard pins, besides the reason counters.
pub const GUARD_MAPS: [&str; 11] = [
    CONFIG_MAP,
    DENY4_MAP,
    DENY6_MAP,
    ALLOW4_MAP,
    ALLOW6_MAP,
    PORTS_MAP,
    SYN_SOURCE_MAP,
    SYN_GLOBAL_MAP,
    PORT_STATS_MAP,
    CIDR_HITS_MAP,
    PORT_SLOTS_MAP,
];

/// Entries of each deny or allow list.
pub const CIDR_ENTRIES: u32 = 65_536;
/// Slots of [`PORTS_MAP`]: every TCP port.
pub const PORT_ENTRIES: u32 = 65_536;
/// Protected ports with their own counters (slot 0 is never used: it means "none"); more
/// protected ports are guarded all the same, counted in the totals only.
pub const PORT_STAT_SLOTS: u32 = 256;
/// Sources tracked by the per-source SYN buckets (least recently used evicted first).
pub const SYN_SOURCE_ENTRIES: u32 = 262_144;
/// Counters of [`PORT_STATS_MAP`].
pub const PORT_STATS_ENTRIES: u32 = PORT_STAT_SLOTS * crate::stats::SLOT_REASONS;

/// Fixed-point scale of [`TokenBucket::tokens`]: one token is this many units, so that the
/// refill `elapsed_ns * rate` needs no division.
pub const TOKEN_SCALE: u64 = 1_000_000_000;
/// The longest idle time a refill accounts for; with [`MAX_RATE`] it keeps
/// `elapsed_ns * rate` below `u64::MAX` (BPF has no 128-bit multiply for a saturating one).
pub const MAX_REFILL_NS: u64 = 60_000_000_000;
/// Highest rate (per second) a bucket honours; higher settings are clamped.
pub const MAX_RATE: u64 = 300_000_000;
/// Largest burst a bucket honours; higher settings are clamped.
pub const MAX_BURST: u64 = u64::MAX / TOKEN_SCALE;

/// [`GuardConfig::malformed`]: pass malformed frames to the kernel (which drops them itself).
pub const MALFORMED_PASS: u32 = 0;
/// [`GuardConfig::malformed`]: drop malformed frames in XDP.
pub const MALFORMED_DROP: u32 = 1;

/// [`PortPolicy::flags`]: drop invalid TCP flag combinations and data offsets.
pub const PORT_TCP_SANITY: u32 = 1;
/// [`PortPolicy::flags`]: apply the per-source and global SYN budgets.
pub const PORT_SYN_GUARD: u32 = 1 << 1;

/// The guard's configuration; all zero means: pass malformed frames, keep fragments, no SYN
/// budgets.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GuardConfig {
    /// [`MALFORMED_PASS`] or [`MALFORMED_DROP`].
    pub malformed: u32,
    /// Non-zero: drop TCP fragments (first fragments to a protected port, and every non-first
    /// TCP fragment, whose port is unknowable).
    pub drop_fragments: u32,
    /// SYNs per second a source (/32 or /64) may send to protected ports.
    pub syn_source_rate: u64,
    /// Bucket size of [`Self::syn_source_rate`]; 0 disables the per-source budget.
    pub syn_source_burst: u64,
    /// SYNs per second each CPU accepts to protected ports (user space divides the global
    /// budget by the number of CPUs).
    pub syn_cpu_rate: u64,
    /// Bucket size of [`Self::syn_cpu_rate`]; 0 disables the global budget.
    pub syn_cpu_burst: u64,
    /// Room for later settings without changing the map's value size.
    pub reserved: [u64; 4],
}

/// Key of the IPv4 lists: an address padded to 8 bytes, so that the value that follows it in
/// the trie node is 8-byte aligned (aya-ebpf checks it). Prefixes never cover `pad`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ipv4Prefix {
    /// Address in network order.
    pub addr: [u8; 4],
    /// Always zero.
    pub pad: [u8; 4],
}

/// The four CIDR lists, as numbered in [`CidrHitKey::list`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CidrList {
    /// [`DENY4_MAP`].
    Deny4 = 0,
    /// [`DENY6_MAP`].
    Deny6 = 1,
    /// [`ALLOW4_MAP`].
    Allow4 = 2,
    /// [`ALLOW6_MAP`].
    Allow6 = 3,
}

impl CidrList {
    /// The map holding this list.
    pub const fn map(self) -> &'static str {
        match self {
            Self::Deny4 => DENY4_MAP,
            Self::Deny6 => DENY6_MAP,
            Self::Allow4 => ALLOW4_MAP,
            Self::Allow6 => ALLOW6_MAP,
        }
    }
}

/// Names one list entry in [`CIDR_HITS_MAP`]: the list and the entry's own prefix.
///
/// The BPF target has no atomic instructions in Rust, and an LPM lookup does not return the
/// matched key, so each entry carries this key in its value and the program counts its hits
/// in a per-CPU hash (exact, no lost updates).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CidrHitKey {
    /// A [`CidrList`] as `u32`.
    pub list: u32,
    /// Prefix length in bits.
    pub prefix_len: u32,
    /// The prefix (IPv4: first 4 bytes), bits past `prefix_len` zero.
    pub addr: [u8; 16],
}

/// Value of a deny or allow list entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CidrEntry {
    /// `bpf_ktime_get_ns` (CLOCK_MONOTONIC) after which the entry is ignored; 0: never.
    pub expires_ns: u64,
    /// Where the program counts this entry's hits.
    pub hit_key: CidrHitKey,
}

/// What the guard checks on a port; all zero: an unprotected port.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortPolicy {
    /// [`PORT_TCP_SANITY`] | [`PORT_SYN_GUARD`]; 0 for an unprotected port.
    pub flags: u32,
    /// The port's counters in [`PORT_STATS_MAP`], `1..`[`PORT_STAT_SLOTS`]; 0: none.
    pub slot: u32,
}

/// Key of a per-source SYN bucket: an IPv4 /32 or an IPv6 /64.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceKey {
    /// 4 for IPv4, 6 for IPv6.
    pub family: u32,
    /// Zero.
    pub pad: u32,
    /// The address (IPv4: first 4 bytes; IPv6: the /64 prefix), the rest zero.
    pub addr: [u8; 8],
}

/// A token bucket; tokens are scaled by [`TOKEN_SCALE`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenBucket {
    /// Tokens left, times [`TOKEN_SCALE`].
    pub tokens: u64,
    /// `bpf_ktime_get_ns` of the last refill; 0: never used (the bucket starts full).
    pub last_ns: u64,
}

impl TokenBucket {
    /// Refills the bucket for the time since the last refill, then takes one token if there
    /// is one; `false` means over budget. `burst == 0` never limits.
    #[inline(always)]
    pub fn take(&mut self, now_ns: u64, rate: u64, burst: u64) -> bool {
        if burst == 0 {
            return true;
        }
        let elapsed = min(now_ns.saturating_sub(self.last_ns), MAX_REFILL_NS);
        // Both factors are clamped so that the products cannot overflow.
        let cap = min(burst, MAX_BURST).wrapping_mul(TOKEN_SCALE);
        let refill = elapsed.wrapping_mul(min(rate, MAX_RATE));
        // A bucket never used (a per-CPU slot starts zeroed) starts full.
        let refilled = if self.last_ns == 0 {
            cap
        } else {
            self.tokens.saturating_add(refill)
        };
        self.tokens = if refilled > cap { cap } else { refilled };
        self.last_ns = now_ns;
        if self.tokens >= TOKEN_SCALE {
            self.tokens -= TOKEN_SCALE;
            true
        } else {
            false
        }
    }

    /// Gives back the token [`Self::take`] just took (the SYN was dropped for another
    /// reason), never above `burst`.
    #[inline(always)]
    pub fn refund(&mut self, burst: u64) {
        let cap = min(burst, MAX_BURST).wrapping_mul(TOKEN_SCALE);
        let tokens = self.tokens.saturating_add(TOKEN_SCALE);
        self.tokens = if tokens > cap { cap } else { tokens };
    }

    /// A bucket first seen at `now_ns`: full, minus the SYN that created it.
    #[inline(always)]
    pub const fn first(now_ns: u64, burst: u64) -> Self {
        Self {
            tokens: min(burst, MAX_BURST)
                .saturating_sub(1)
                .wrapping_mul(TOKEN_SCALE),
            last_ns: now_ns,
        }
    }
}

#[inline(always)]
const fn min(a: u64, b: u64) -> u64 {
    if a < b { a } else { b }
}

#[cfg(feature = "user")]
mod pod {
    #![allow(unsafe_code, reason = "aya::Pod is an unsafe marker trait")]
    // SAFETY (all impls): `#[repr(C)]` structs of integers and byte arrays whose fields are
    // laid out without implicit padding (padding is an explicit field), so every bit
    // pattern is a valid value.
    unsafe impl aya::Pod for super::GuardConfig {}
    unsafe impl aya::Pod for super::Ipv4Prefix {}
    unsafe impl aya::Pod for super::CidrEntry {}
    unsafe impl aya::Pod for super::CidrHitKey {}
    unsafe impl aya::Pod for super::PortPolicy {}
    unsafe impl aya::Pod for super::SourceKey {}
    unsafe impl aya::Pod for super::TokenBucket {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refills_at_rate() {
        // ktime is never 0 on a running host; 0 marks a bucket never used.
        let t0 = 1_000;
        let mut b = TokenBucket::first(t0, 3);
        assert!(b.take(t0, 1, 3));
        assert!(b.take(t0, 1, 3));
        assert!(!b.take(t0, 1, 3));
        // Half a second at 2/s: one token.
        assert!(b.take(t0 + 500_000_000, 2, 3));
        assert!(!b.take(t0 + 500_000_000, 2, 3));
        // A long idle time fills the bucket to burst only.
        let n = (0..10).filter(|_| b.take(100 * TOKEN_SCALE, 2, 3)).count();
        assert_eq!(n, 3);
    }

    #[test]
    fn refund_returns_a_token_up_to_the_burst() {
        let mut b = TokenBucket::first(1_000, 2);
        assert!(b.take(1_000, 0, 2));
        assert!(!b.take(1_000, 0, 2));
        b.refund(2);
        assert!(b.take(1_000, 0, 2));
        b.refund(2);
        b.refund(2);
        b.refund(2);
        assert_eq!(b.tokens, 2 * TOKEN_SCALE);
    }

    #[test]
    fn an_unused_bucket_starts_full_even_without_refill() {
        let mut b = TokenBucket::default();
        let n = (0..10).filter(|_| b.take(5, 0, 4)).count();
        assert_eq!(n, 4);
    }

    #[test]
    fn zero_burst_never_limits() {
        let mut b = TokenBucket::default();
        assert!((0..100).all(|_| b.take(0, 0, 0)));
    }

    #[test]
    fn layouts_have_no_implicit_padding() {
        assert_eq!(size_of::<GuardConfig>(), 8 + 4 * 8 + 4 * 8);
        assert_eq!(size_of::<Ipv4Prefix>(), 8);
        assert_eq!(size_of::<CidrEntry>(), 32);
        assert_eq!(size_of::<SourceKey>(), 16);
        assert_eq!(size_of::<PortPolicy>(), 8);
    }
}
