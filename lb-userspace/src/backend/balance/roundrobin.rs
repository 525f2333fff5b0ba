//! `balance roundrobin`: smooth weighted round robin.
//!
//! Each pick, every eligible server earns its weight; the richest is chosen and pays the
//! sum of the weights back. Over a cycle every server is picked exactly as often as its
//! weight says, and picks are spread out (weights 5:1:1 give `a a b a c a a`, never
//! `a a a a a b c`). Credits survive rebuilds, so weight changes (slowstart, `set
//! weight`) do not restart the cycle.

use std::collections::HashMap;

use crate::backend::balance::Member;

#[derive(Debug, Clone, Copy)]
struct Entry {
    idx: usize,
    weight: i64,
    credit: i64,
}

/// Smooth weighted round-robin state.
#[derive(Debug, Clone, Default)]
pub struct Swrr {
    entries: Vec<Entry>,
}

impl Swrr {
    /// Replaces the server set, keeping the credits of servers that stay.
    pub fn rebuild(&mut self, members: &[Member]) {
        let old: HashMap<usize, i64> = self.entries.iter().map(|e| (e.idx, e.credit)).collect();
        self.entries = members
            .iter()
            .map(|m| Entry {
                idx: m.idx,
                weight: i64::from(m.weight),
                credit: old.get(&m.idx).copied().unwrap_or(0),
            })
            .collect();
    }

    /// Picks the next server among those with room, avoiding `exclude` unless it is the
    /// only one with room; `None` if every server is full.
    pub fn pick(
        &mut self,
        has_room: impl Fn(usize) -> bool,
        exclude: Option<usize>,
    ) -> Option<usize> {
        let mut total = 0;
        let mut best: Option<(usize, i64)> = None;
        let mut avoided = None;
        for (i, e) in self.entries.iter_mut().enumerate() {
            if !has_room(e.idx) {
                continue;
            }
            if Some(e.idx) == exclude {
                avoided = Some(e.idx);
                continue;
            }
            e.credit += e.weight;
            total += e.weight;
            if best.is_none_or(|(_, credit)| e.credit > credit) {
                best = Some((i, e.credit));
            }
        }
        let Some((b, _)) = best else { return avoided };
        self.entries[b].credit -= total;
        Some(self.entries[b].idx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn swrr(weights: &[u32]) -> Swrr {
        let members: Vec<Member> = weights
            .iter()
            .enumerate()
            .map(|(idx, &weight)| Member { idx, weight })
            .collect();
        let mut s = Swrr::default();
        s.rebuild(&members);
        s
    }

    #[test]
    fn smooth_sequence() {
        let mut s = swrr(&[5, 1, 1]);
        let seq: Vec<_> = (0..7).map(|_| s.pick(|_| true, None).unwrap()).collect();
        assert_eq!(seq, vec![0, 0, 1, 0, 2, 0, 0]);
        // The cycle repeats exactly.
        let again: Vec<_> = (0..7).map(|_| s.pick(|_| true, None).unwrap()).collect();
        assert_eq!(again, seq);
    }

    #[test]
    fn full_and_excluded_servers_are_skipped() {
        let mut s = swrr(&[1, 1, 1]);
        for _ in 0..10 {
            assert_ne!(s.pick(|i| i != 1, None), Some(1));
            assert_ne!(s.pick(|_| true, Some(2)), Some(2));
        }
        assert_eq!(s.pick(|i| i == 2, Some(2)), Some(2));
        assert_eq!(s.pick(|_| false, None), None);
        assert_eq!(Swrr::default().pick(|_| true, None), None);
    }

    #[test]
    fn rebuild_keeps_credits() {
        let mut s = swrr(&[1, 1]);
        assert_eq!(s.pick(|_| true, None), Some(0));
        s.rebuild(&[Member { idx: 0, weight: 1 }, Member { idx: 1, weight: 1 }]);
        // Server 1 still has the credit it earned, so it goes next.
        assert_eq!(s.pick(|_| true, None), Some(1));
    }
}
