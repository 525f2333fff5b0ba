//! `balance leastconn`: the server with the fewest current connections per unit of
//! weight, round robin among equals.

use std::sync::Arc;

use crate::backend::balance::Member;
use crate::backend::state::ServerState;

/// Least-connections state: the usable servers and the round-robin cursor for ties.
#[derive(Debug, Clone, Default)]
pub struct LeastConn {
    members: Vec<Member>,
    next: usize,
}

impl LeastConn {
    /// Replaces the server set.
    pub fn rebuild(&mut self, members: &[Member]) {
        self.members = members.to_vec();
        if self.next >= self.members.len() {
            self.next = 0;
        }
    }

    /// Picks the least loaded server with room, avoiding `exclude` unless it is the only
    /// one with room. Load is `(current connections + 1) / weight`, the `+ 1` making a
    /// heavier idle server preferred to a lighter idle one, as in HAProxy.
    pub fn pick(&mut self, servers: &[Arc<ServerState>], exclude: Option<usize>) -> Option<usize> {
        let n = self.members.len();
        let mut best: Option<(usize, u64, u64)> = None;
        let mut avoided = None;
        for k in 0..n {
            let pos = (self.next + k) % n;
            let m = self.members[pos];
            let s = &servers[m.idx];
            if s.is_full() {
                continue;
            }
            if Some(m.idx) == exclude {
                avoided = Some(m.idx);
                continue;
            }
            let load = u64::from(s.cur_conns()) + 1;
            let weight = u64::from(m.weight.max(1));
            // load / weight < best_load / best_weight, without division; the first
            // server from the cursor wins ties, which rotates equals.
            if best.is_none_or(|(_, bl, bw)| load * bw < bl * weight) {
                best = Some((pos, load, weight));
            }
        }
        match best {
            Some((pos, ..)) => {
                self.next = pos + 1;
                Some(self.members[pos].idx)
            }
            None => avoided,
        }
    }
}
