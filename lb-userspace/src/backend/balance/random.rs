//! `balance random[(draws)]`: draw `draws` servers at random (weighted), keep the least
//! loaded one ("power of N choices"). Full servers are not drawn.

use std::sync::Arc;

use crate::backend::balance::Member;
use crate::backend::state::ServerState;

/// Random-draw state: the usable servers, the number of draws and this worker's RNG.
#[derive(Debug, Clone)]
pub struct Random {
    members: Vec<Member>,
    draws: u32,
    rng: fastrand::Rng,
    /// Candidates of the current pick (kept to avoid allocating per pick).
    scratch: Vec<Member>,
}

impl Random {
    /// State for `draws` draws per pick (at least one).
    pub fn new(draws: u32) -> Self {
        Self {
            members: Vec::new(),
            draws: draws.max(1),
            rng: fastrand::Rng::new(),
            scratch: Vec::new(),
        }
    }

    /// Replaces the server set.
    pub fn rebuild(&mut self, members: &[Member]) {
        self.members = members.to_vec();
    }

    /// Draws among the servers with room (not `exclude`, unless it is the only one) and
    /// keeps the one with the fewest connections per unit of weight.
    pub fn pick(&mut self, servers: &[Arc<ServerState>], exclude: Option<usize>) -> Option<usize> {
        self.scratch.clear();
        let mut avoided = None;
        for m in &self.members {
            if servers[m.idx].is_full() {
                continue;
            }
            if Some(m.idx) == exclude {
                avoided = Some(m.idx);
                continue;
            }
            self.scratch.push(*m);
        }
        let total: u64 = self.scratch.iter().map(|m| u64::from(m.weight)).sum();
        if total == 0 {
            return avoided;
        }
        let mut best: Option<Member> = None;
        for _ in 0..self.draws {
            let mut r = self.rng.u64(0..total);
            let Some(drawn) = self.scratch.iter().copied().find(|m| {
                let w = u64::from(m.weight);
                if r < w {
                    true
                } else {
                    r -= w;
                    false
                }
            }) else {
                break;
            };
            // Keep the previous choice only if it is strictly less loaded (HAProxy).
            best = match best {
                Some(prev) if lighter(servers, prev, drawn) => Some(prev),
                _ => Some(drawn),
            };
        }
        best.map(|m| m.idx)
    }
}

/// `a` has strictly fewer connections per unit of weight than `b`.
fn lighter(servers: &[Arc<ServerState>], a: Member, b: Member) -> bool {
    let load = |m: Member| u64::from(servers[m.idx].cur_conns());
    load(a) * u64::from(b.weight) < load(b) * u64::from(a.weight)
}
