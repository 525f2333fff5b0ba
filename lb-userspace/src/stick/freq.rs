//! HAProxy's period frequency counters (`freq_ctr`), lock-free.
//!
//! A counter holds the events of the current period and of the previous one. Reading
//! gives the current count plus the previous count weighted by the part of the period
//! that is still to run, so the rate slides smoothly instead of dropping to zero at each
//! period boundary. Three 64-bit atomics make one counter:
//!
//! * the tick word: `((period start + 1) << 1) | lock`, 0 meaning "never updated" so that
//!   zeroed memory is a valid fresh counter; the lock bit is held while rotating periods;
//! * the current period's count and the previous period's count (32-bit counters that
//!   wrap, as in HAProxy).

use std::hint::spin_loop;
use std::sync::atomic::{AtomicU64, Ordering};

/// Number of atomics one counter uses.
pub const SLOTS: usize = 3;

const LOCK: u64 = 1;

fn encode(tick: u64) -> u64 {
    (tick.saturating_add(1)) << 1
}

fn decode(word: u64) -> Option<u64> {
    (word >> 1).checked_sub(1)
}

/// A view of one counter's three atomics.
#[derive(Debug, Clone, Copy)]
pub struct FreqCtr<'a> {
    tick: &'a AtomicU64,
    curr: &'a AtomicU64,
    prev: &'a AtomicU64,
}

impl<'a> FreqCtr<'a> {
    /// The counter stored in `slots` (at least [`SLOTS`] atomics; `None` otherwise).
    pub fn new(slots: &'a [AtomicU64]) -> Option<Self> {
        match slots {
            [tick, curr, prev, ..] => Some(Self { tick, curr, prev }),
            _ => None,
        }
    }

    /// Counts `inc` events at `now` (ms), rotating periods when needed; returns the count
    /// of the current period.
    pub fn update(self, period: u64, inc: u32, now: u64) -> u32 {
        let period = period.max(1);
        let start = loop {
            let word = self.tick.load(Ordering::Acquire);
            if word & LOCK != 0 {
                // Another thread is rotating; it is only a few instructions away from done.
                spin_loop();
                continue;
            }
            let start = decode(word);
            // A date slightly in the past (another thread's clock read) stays in the period.
            if let Some(t) = start
                && now.saturating_sub(t) < period
            {
                let old = self.curr.fetch_add(u64::from(inc), Ordering::AcqRel);
                return (old as u32).wrapping_add(inc);
            }
            if self
                .tick
                .compare_exchange_weak(word, word | LOCK, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                break start;
            }
        };
        // We hold the lock: others only add to `curr`, and what they add from now on
        // belongs to the new period.
        let old = self.curr.swap(u64::from(inc), Ordering::AcqRel);
        let mut next = start.map_or(now, |t| t.saturating_add(period));
        if start.is_some() {
            self.prev.store(old, Ordering::Release);
        }
        if start.is_none() || now.saturating_sub(next) >= period {
            // At least two periods went by without an event: nothing to carry over.
            self.prev.store(0, Ordering::Release);
            next = now;
        }
        self.tick.store(encode(next), Ordering::Release);
        inc
    }

    /// The rate at `now`: the current count plus the previous one weighted by what remains
    /// of the current period. Like HAProxy, a previous count of 0 or 1 with nothing in the
    /// current period reads as is, so that very low rates do not flap.
    pub fn read(self, period: u64, now: u64) -> u32 {
        let period = period.max(1);
        let (word, curr, prev) = self.snapshot();
        let Some(start) = decode(word) else {
            return 0;
        };
        let (mut curr, mut past) = (u64::from(curr), u64::from(prev));
        // i128: periods and dates are u64, their differences may be negative.
        let mut remain =
            (i128::from(start) + i128::from(period) - i128::from(now)).min(i128::from(period));
        if remain < 0 {
            // The current period is over: what it counted is now the previous period.
            remain += i128::from(period);
            past = if remain >= 0 { curr } else { 0 };
            curr = 0;
        }
        if curr == 0 && past <= 1 {
            return past as u32;
        }
        let remain = u128::try_from(remain).unwrap_or(0);
        let total = u128::from(past) * remain + u128::from(curr) * u128::from(period);
        u32::try_from(total / u128::from(period)).unwrap_or(u32::MAX)
    }

    /// The count of the current period as stored (what `sc_inc_gpc0` reports for a rate).
    pub fn current(self) -> u32 {
        self.snapshot().1
    }

    /// Sets the counter as the CLI's `set table ... data.X_rate V` does: `value` events in
    /// a period starting `now`, nothing before.
    pub fn set(self, value: u32, now: u64) {
        loop {
            let word = self.tick.load(Ordering::Acquire);
            if word & LOCK == 0
                && self
                    .tick
                    .compare_exchange_weak(word, word | LOCK, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            {
                break;
            }
            spin_loop();
        }
        self.prev.store(0, Ordering::Release);
        self.curr.store(u64::from(value), Ordering::Release);
        self.tick.store(encode(now), Ordering::Release);
    }

    /// A consistent (tick, current, previous) triple, retried while a rotation runs.
    fn snapshot(self) -> (u64, u32, u32) {
        loop {
            let word = self.tick.load(Ordering::Acquire);
            if word & LOCK != 0 {
                spin_loop();
                continue;
            }
            let curr = self.curr.load(Ordering::Acquire);
            let prev = self.prev.load(Ordering::Acquire);
            // No rotation began or ended in between: both counts belong to the periods
            // `word` names (the current count may have grown meanwhile, which is fine).
            if self.tick.load(Ordering::Acquire) == word {
                return (word, curr as u32, prev as u32);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn slots() -> [AtomicU64; SLOTS] {
        Default::default()
    }

    #[test]
    fn fresh_counter_reads_zero() {
        let s = slots();
        let f = FreqCtr::new(&s).unwrap();
        assert_eq!(f.read(1000, 0), 0);
        assert_eq!(f.read(1000, 123_456), 0);
        assert!(FreqCtr::new(&s[..2]).is_none());
    }

    #[test]
    fn period_weighted_sliding_window() {
        let s = slots();
        let f = FreqCtr::new(&s).unwrap();
        // The first event starts a period at its date.
        for i in 0..5 {
            assert_eq!(f.update(1000, 1, 10_000 + i * 100), (i + 1) as u32);
        }
        assert_eq!(f.read(1000, 10_500), 5);
        // 11_200: one period later, the 5 events become the previous period; the new
        // period starts at 11_000 (aligned on the first one).
        assert_eq!(f.update(1000, 1, 11_200), 1);
        // remain = 11_000 + 1000 - 11_200 = 800: 1 + 5 * 800 / 1000 = 5.
        assert_eq!(f.read(1000, 11_200), 5);
        // remain = 500: (5 * 500 + 1 * 1000) / 1000 = 3.
        assert_eq!(f.read(1000, 11_500), 3);
        // remain = 1: (5 * 1 + 1000) / 1000 = 1.
        assert_eq!(f.read(1000, 11_999), 1);
        // remain = 0 at the exact end: the current count only.
        assert_eq!(f.read(1000, 12_000), 1);
        // Past the period without update: the last count (1) is now the previous one, and
        // a previous count of 1 with nothing current reads as 1 (no flapping).
        assert_eq!(f.read(1000, 12_300), 1);
        // Two periods after the last start: nothing left.
        assert_eq!(f.read(1000, 13_000), 1);
        assert_eq!(f.read(1000, 13_001), 0);
    }

    #[test]
    fn a_finished_period_fades_out() {
        let s = slots();
        let f = FreqCtr::new(&s).unwrap();
        f.update(10_000, 40, 0);
        assert_eq!(f.read(10_000, 9_999), 40);
        // No event since: at 12_500 remain = 0 + 10_000 - 12_500 < 0, + 10_000 = 7_500,
        // past = 40: 40 * 7_500 / 10_000 = 30.
        assert_eq!(f.read(10_000, 12_500), 30);
        assert_eq!(f.read(10_000, 17_500), 10);
        assert_eq!(f.read(10_000, 19_999), 0);
        // An update in that period rotates: prev = 40, start = 10_000.
        assert_eq!(f.update(10_000, 2, 15_000), 2);
        // remain = 5_000: 2 + 40 * 0.5 = 22.
        assert_eq!(f.read(10_000, 15_000), 22);
    }

    #[test]
    fn long_silence_resets_the_period() {
        let s = slots();
        let f = FreqCtr::new(&s).unwrap();
        f.update(1000, 7, 1_000);
        // 2.5 periods later: previous count dropped, period restarts at the event.
        f.update(1000, 3, 3_500);
        assert_eq!(f.read(1000, 3_500), 3);
        assert_eq!(f.read(1000, 4_499), 3);
        // remain = 3_500 + 1_000 - 4_600 = -100 -> 900, past = 3: 3 * 900 / 1000 = 2.
        assert_eq!(f.read(1000, 4_600), 2);
    }

    #[test]
    fn dates_in_the_past_stay_in_the_period() {
        let s = slots();
        let f = FreqCtr::new(&s).unwrap();
        f.update(1000, 1, 5_000);
        // Another thread read the clock a millisecond earlier.
        assert_eq!(f.update(1000, 1, 4_999), 2);
        assert_eq!(f.read(1000, 4_999), 2);
    }

    #[test]
    fn set_replaces_history() {
        let s = slots();
        let f = FreqCtr::new(&s).unwrap();
        f.update(1000, 9, 0);
        f.update(1000, 9, 1_000);
        f.set(4, 1_500);
        assert_eq!(f.current(), 4);
        assert_eq!(f.read(1000, 1_500), 4);
        // The value holds for the whole period, then fades out.
        assert_eq!(f.read(1000, 2_499), 4);
        assert_eq!(f.read(1000, 3_000), 2);
    }

    #[test]
    fn counters_wrap_at_32_bits() {
        let s = slots();
        let f = FreqCtr::new(&s).unwrap();
        f.update(1000, u32::MAX, 0);
        assert_eq!(f.update(1000, 2, 1), 1);
        assert_eq!(f.read(1000, 1), 1);
    }

    #[test]
    fn concurrent_updates_are_all_counted() {
        let s: Arc<[AtomicU64; SLOTS]> = Arc::new(Default::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let s = Arc::clone(&s);
                std::thread::spawn(move || {
                    let f = FreqCtr::new(&s[..]).unwrap();
                    for _ in 0..10_000 {
                        f.update(60_000, 1, 1_000);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let f = FreqCtr::new(&s[..]).unwrap();
        assert_eq!(f.read(60_000, 1_000), 40_000);
        // Rotations racing with increments lose nothing either: every increment lands in
        // the previous or the current period.
        let s: Arc<[AtomicU64; SLOTS]> = Arc::new(Default::default());
        let threads: Vec<_> = (0..4u64)
            .map(|n| {
                let s = Arc::clone(&s);
                std::thread::spawn(move || {
                    let f = FreqCtr::new(&s[..]).unwrap();
                    for i in 0..5_000u64 {
                        // Dates cross the 1_000 boundary once, at different times per thread.
                        let now = if i < 1_000 + n * 1_000 { 500 } else { 1_500 };
                        f.update(1_000, 1, now);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let f = FreqCtr::new(&s[..]).unwrap();
        let (_, curr, prev) = f.snapshot();
        assert_eq!(curr + prev, 20_000);
    }
}
