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

#[cfg(test)]
mod tests {
    use crate::backend::balance::Pick;
    use crate::backend::balance::testutil::{backend, balancer, counts, ctx, name, server};
    use crate::config::model::Balance;

    #[test]
    fn single_draw_follows_weights() {
        let servers = vec![server("a", 1), server("b", 2), server("c", 3)];
        let (state, mut b) = balancer(backend(Balance::Random { draws: 1 }, servers));
        let c = counts(&state, &mut b, 0, 60_000);
        for (got, want) in c.iter().zip([10_000.0, 20_000.0, 30_000.0]) {
            let ratio = *got as f64 / want;
            assert!((0.93..1.07).contains(&ratio), "{c:?}");
        }
    }

    #[test]
    fn two_draws_prefer_the_less_loaded() {
        let servers = vec![server("busy", 1), server("idle", 1)];
        let (state, mut b) = balancer(backend(Balance::Random { draws: 2 }, servers));
        let _held: Vec<_> = (0..5)
            .map(|_| state.servers[0].try_acquire().unwrap())
            .collect();
        // `busy` only wins when both draws land on it (1/4 of the time).
        let c = counts(&state, &mut b, 0, 8_000);
        let busy = c[0] as f64 / 8_000.0;
        assert!((0.2..0.3).contains(&busy), "{c:?}");
    }

    #[test]
    fn draws_keep_load_balanced_as_connections_accumulate() {
        let servers = (0..4).map(|i| server(&format!("s{i}"), 1)).collect();
        let (state, mut b) = balancer(backend(Balance::Random { draws: 2 }, servers));
        let c = ctx("1.1.1.1:1");
        let mut held = Vec::new();
        for _ in 0..400 {
            let Pick::Server(s) = b.pick_at(0, &c, None) else {
                panic!()
            };
            held.push(s.try_acquire().unwrap());
        }
        let loads: Vec<u32> = state.servers.iter().map(|s| s.cur_conns()).collect();
        let (min, max) = (loads.iter().min().unwrap(), loads.iter().max().unwrap());
        // Power of two choices keeps the spread tiny compared with pure random.
        assert!(max - min <= 10, "{loads:?}");
    }

    #[test]
    fn full_servers_excluded_and_all_full() {
        let mut servers = vec![server("a", 1), server("b", 1)];
        servers[0].maxconn = 1;
        servers[1].maxconn = 1;
        let (state, mut b) = balancer(backend(Balance::Random { draws: 2 }, servers));
        let c = ctx("1.1.1.1:1");
        let a = std::sync::Arc::clone(&state.servers[0]);
        for _ in 0..20 {
            assert_eq!(name(&b.pick_at(0, &c, Some(&a))), "b");
        }
        let _a = state.servers[0].try_acquire().unwrap();
        for _ in 0..20 {
            assert_eq!(name(&b.pick_at(0, &c, None)), "b");
        }
        let _b = state.servers[1].try_acquire().unwrap();
        assert!(matches!(b.pick_at(0, &c, None), Pick::AllFull));
    }
}
