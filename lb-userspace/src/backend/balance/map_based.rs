//! The weighted server map of `hash-type map-based` and `static-rr`: one slot per unit of
//! weight, servers interleaved smoothly (HAProxy's `recalc_server_map`). A hash picks
//! `slots[hash % total_weight]`, so any change of the usable set remaps most keys.

use crate::backend::balance::Member;

/// The weighted table, plus a round-robin cursor over it.
#[derive(Debug, Clone, Default)]
pub struct MapTable {
    /// Server index (into the backend's servers) of each slot.
    slots: Vec<usize>,
    /// Next slot for round robin.
    rr: usize,
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

impl MapTable {
    /// Builds the table for the usable servers. Weights are first divided by their
    /// greatest common divisor, as HAProxy does, to keep the table small.
    pub fn build(members: &[Member]) -> Self {
        let divisor = members.iter().fold(0, |g, m| gcd(g, m.weight)).max(1);
        let weights: Vec<i64> = members
            .iter()
            .map(|m| i64::from(m.weight / divisor))
            .collect();
        let total: i64 = weights.iter().sum();
        let mut scores = vec![0i64; members.len()];
        let mut slots = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        for _ in 0..total {
            // Each round every server earns its weight; the one with the best score
            // (ties: declaration order) takes the slot and pays the total back.
            let mut best: Option<(usize, i64)> = None;
            for (i, w) in weights.iter().enumerate() {
                scores[i] += w;
                let v = (scores[i] + total) / total;
                if best.is_none_or(|(_, max)| v > max) {
                    best = Some((i, v));
                }
            }
            if let Some((i, _)) = best {
                scores[i] -= total;
                slots.push(members[i].idx);
            }
        }
        Self { slots, rr: 0 }
    }

    /// Number of slots (the total weight after reduction).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// `true` when no server is usable.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The server for `hash`; with `exclude`, the next different server in the table
    /// (the excluded one only if it is alone).
    pub fn lookup(&self, hash: u32, exclude: Option<usize>) -> Option<usize> {
        let len = self.slots.len();
        if len == 0 {
            return None;
        }
        let start = hash as usize % len;
        (0..len)
            .map(|k| self.slots[(start + k) % len])
            .find(|&idx| Some(idx) != exclude)
            .or(Some(self.slots[start]))
    }

    /// Weighted round robin over the table (HAProxy's `map_get_server_rr`): the next
    /// slot whose server has room and is not `exclude`; the excluded server if it is the
    /// only one with room; `None` if every server is full.
    pub fn next_rr(
        &mut self,
        has_room: impl Fn(usize) -> bool,
        exclude: Option<usize>,
    ) -> Option<usize> {
        let len = self.slots.len();
        if len == 0 {
            return None;
        }
        let start = if self.rr < len { self.rr } else { 0 };
        let mut avoided = None;
        for k in 0..len {
            let pos = (start + k) % len;
            let idx = self.slots[pos];
            if !has_room(idx) {
                continue;
            }
            if Some(idx) != exclude {
                self.rr = pos + 1;
                return Some(idx);
            }
            avoided.get_or_insert(pos);
        }
        let pos = avoided?;
        self.rr = pos + 1;
        Some(self.slots[pos])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(weights: &[u32]) -> Vec<Member> {
        weights
            .iter()
            .enumerate()
            .map(|(idx, &weight)| Member { idx, weight })
            .collect()
    }

    fn count(table: &MapTable, idx: usize) -> usize {
        table.slots.iter().filter(|&&s| s == idx).count()
    }

    #[test]
    fn slots_follow_weights_reduced_by_gcd() {
        let t = MapTable::build(&members(&[2, 4, 6]));
        assert_eq!(t.len(), 6);
        assert_eq!((count(&t, 0), count(&t, 1), count(&t, 2)), (1, 2, 3));
        let t = MapTable::build(&members(&[3, 5]));
        assert_eq!((count(&t, 0), count(&t, 1)), (3, 5));
        assert!(MapTable::build(&[]).is_empty());
    }

    #[test]
    fn slots_are_interleaved() {
        let t = MapTable::build(&members(&[1, 1, 1]));
        assert_eq!(t.slots, vec![0, 1, 2]);
        // HAProxy's layout for weights 2 and 3.
        let t = MapTable::build(&members(&[2, 3]));
        assert_eq!(t.slots, vec![0, 1, 0, 1, 1]);
    }

    #[test]
    fn lookup_and_exclude() {
        let t = MapTable::build(&members(&[1, 1]));
        assert_eq!(t.lookup(0, None), Some(0));
        assert_eq!(t.lookup(1, None), Some(1));
        assert_eq!(t.lookup(3, None), Some(1));
        assert_eq!(t.lookup(0, Some(0)), Some(1));
        let single = MapTable::build(&members(&[1]));
        assert_eq!(single.lookup(7, Some(0)), Some(0));
        assert_eq!(MapTable::default().lookup(1, None), None);
    }

    #[test]
    fn round_robin_skips_full_and_excluded() {
        let mut t = MapTable::build(&members(&[1, 1, 1]));
        let picks: Vec<_> = (0..6).map(|_| t.next_rr(|_| true, None).unwrap()).collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(t.next_rr(|i| i != 1, None), Some(0));
        assert_eq!(t.next_rr(|i| i != 1, None), Some(2));
        assert_eq!(t.next_rr(|_| true, Some(0)), Some(1));
        assert_eq!(t.next_rr(|i| i == 0, Some(0)), Some(0));
        assert_eq!(t.next_rr(|_| false, None), None);
    }
}
