//! The consistent-hash ring of `hash-type consistent` (HAProxy's `lb_chash.c`).
//!
//! Each server owns `16 x weight` points placed at `full_hash(id x 4096 + n)`, so a server
//! keeps the same points whatever the other servers do: adding or removing one server
//! only moves the keys that land next to its points (about 1/N of them), and a weight
//! change adds or removes that server's last points only. A key goes to the server of
//! the closest point on either side.

use std::sync::Arc;

use crate::backend::balance::Member;
use crate::backend::balance::hash::full_hash;
use crate::backend::state::ServerState;

/// Points per unit of weight (HAProxy's `BE_WEIGHT_SCALE`).
pub const POINTS_PER_WEIGHT: u32 = 16;

/// Spacing between two servers' point sequences (HAProxy's `SRV_EWGHT_RANGE`).
const ID_STRIDE: u32 = 256 * POINTS_PER_WEIGHT;

/// The ring: points sorted by position, plus a round-robin cursor.
#[derive(Debug, Clone, Default)]
pub struct Ring {
    /// (position, server index into the backend's servers), sorted.
    points: Vec<(u32, usize)>,
    /// Next point for round robin (used when a hash key is missing).
    cursor: usize,
}

impl Ring {
    /// Builds the ring of the usable servers, placing points from each server's `id`.
    pub fn build(members: &[Member], servers: &[Arc<ServerState>]) -> Self {
        let total: usize = members
            .iter()
            .map(|m| m.weight as usize * POINTS_PER_WEIGHT as usize)
            .sum();
        let mut points = Vec::with_capacity(total);
        for m in members {
            let base = servers[m.idx].cfg.id.wrapping_mul(ID_STRIDE);
            for n in 0..m.weight.saturating_mul(POINTS_PER_WEIGHT) {
                points.push((full_hash(base.wrapping_add(n)), m.idx));
            }
        }
        points.sort_unstable();
        Self { points, cursor: 0 }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// `true` when no server is usable.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The server owning the point closest to `hash`; with `exclude`, the next different
    /// server clockwise (the excluded one only if it is alone).
    pub fn lookup(&self, hash: u32, exclude: Option<usize>) -> Option<usize> {
        let len = self.points.len();
        if len == 0 {
            return None;
        }
        let next = self.points.partition_point(|&(pos, _)| pos < hash) % len;
        let prev = (next + len - 1) % len;
        let dp = hash.wrapping_sub(self.points[prev].0);
        let dn = self.points[next].0.wrapping_sub(hash);
        let start = if dp <= dn { prev } else { next };
        (0..len)
            .map(|k| self.points[(start + k) % len].1)
            .find(|&idx| Some(idx) != exclude)
            .or(Some(self.points[start].1))
    }

    /// Round robin over the ring's points (HAProxy's `chash_get_next_server`): the next
    /// server with room that is not `exclude`, else the excluded one if it has room.
    pub fn next_rr(
        &mut self,
        has_room: impl Fn(usize) -> bool,
        exclude: Option<usize>,
    ) -> Option<usize> {
        let len = self.points.len();
        if len == 0 {
            return None;
        }
        let start = if self.cursor < len { self.cursor } else { 0 };
        let mut avoided = None;
        for k in 0..len {
            let pos = (start + k) % len;
            let idx = self.points[pos].1;
            if !has_room(idx) {
                continue;
            }
            if Some(idx) != exclude {
                self.cursor = pos + 1;
                return Some(idx);
            }
            avoided.get_or_insert(pos);
        }
        let pos = avoided?;
        self.cursor = pos + 1;
        Some(self.points[pos].1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::balance::testutil::{backend, server};
    use crate::backend::state::BackendState;
    use crate::config::model::Balance;

    fn state(n: u32) -> BackendState {
        let servers = (1..=n).map(|i| server(&format!("s{i}"), 1)).collect();
        BackendState::new(backend(Balance::Source, servers))
    }

    fn members(weights: &[u32]) -> Vec<Member> {
        weights
            .iter()
            .enumerate()
            .map(|(idx, &weight)| Member { idx, weight })
            .collect()
    }

    #[test]
    fn points_follow_weights() {
        let st = state(3);
        let ring = Ring::build(&members(&[1, 2, 3]), &st.servers);
        assert_eq!(ring.len(), 6 * POINTS_PER_WEIGHT as usize);
        let owned = |idx| ring.points.iter().filter(|p| p.1 == idx).count();
        assert_eq!(owned(2), 3 * POINTS_PER_WEIGHT as usize);
        assert!(ring.points.windows(2).all(|w| w[0] <= w[1]));
        // Points come from the server id, as in HAProxy.
        assert!(ring.points.contains(&(full_hash(ID_STRIDE), 0)));
    }

    #[test]
    fn closest_point_wins() {
        let st = state(2);
        let ring = Ring::build(&members(&[1, 1]), &st.servers);
        for &(pos, idx) in &ring.points {
            assert_eq!(ring.lookup(pos, None), Some(idx));
        }
        assert_eq!(Ring::default().lookup(5, None), None);
    }

    #[test]
    fn exclude_walks_clockwise() {
        let st = state(3);
        let ring = Ring::build(&members(&[1, 1, 1]), &st.servers);
        for h in (0..u32::MAX).step_by(1 << 24) {
            let first = ring.lookup(h, None).unwrap();
            let second = ring.lookup(h, Some(first)).unwrap();
            assert_ne!(first, second);
        }
        let single = Ring::build(&members(&[1]), &st.servers);
        assert_eq!(single.lookup(9, Some(0)), Some(0));
    }

    #[test]
    fn round_robin_visits_by_weight() {
        let st = state(2);
        let mut ring = Ring::build(&members(&[1, 3]), &st.servers);
        let mut counts = [0usize; 2];
        for _ in 0..ring.len() * 10 {
            counts[ring.next_rr(|_| true, None).unwrap()] += 1;
        }
        assert_eq!(counts[1], counts[0] * 3);
        assert_eq!(ring.next_rr(|i| i == 0, None), Some(0));
        assert_eq!(ring.next_rr(|i| i == 0, Some(0)), Some(0));
        assert_eq!(ring.next_rr(|_| true, Some(0)), Some(1));
        assert_eq!(ring.next_rr(|_| false, None), None);
    }
}
