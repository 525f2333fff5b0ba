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

#[cfg(test)]
mod tests {
    use crate::backend::balance::Pick;
    use crate::backend::balance::testutil::{backend, balancer, counts, ctx, name, server};
    use crate::config::model::Balance;

    #[test]
    fn follows_live_connection_counts() {
        let servers = vec![server("a", 1), server("b", 1), server("c", 1)];
        let (state, mut b) = balancer(backend(Balance::LeastConn, servers));
        let c = ctx("1.1.1.1:1");
        // `a` holds two connections, `b` one: `c` is chosen until it catches up.
        let mut held = vec![
            state.servers[0].try_acquire().unwrap(),
            state.servers[0].try_acquire().unwrap(),
            state.servers[1].try_acquire().unwrap(),
        ];
        let Pick::Server(s) = b.pick_at(0, &c, None) else {
            panic!()
        };
        assert_eq!(s.cfg.name, "c");
        held.push(s.try_acquire().unwrap());
        // b and c are tied (1 each): round robin between them, a (2) is avoided.
        let mut seen = Vec::new();
        for _ in 0..2 {
            let Pick::Server(s) = b.pick_at(0, &c, None) else {
                panic!()
            };
            seen.push(s.cfg.name.clone());
            held.push(s.try_acquire().unwrap());
        }
        seen.sort();
        assert_eq!(seen, ["b", "c"]);
        // Now everyone has 2: ties rotate over all three.
        let names: Vec<_> = (0..3).map(|_| name(&b.pick_at(0, &c, None))).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(sorted, ["a", "b", "c"], "{names:?}");
        // Releasing a's connections makes it the choice again.
        held.drain(..2);
        assert_eq!(name(&b.pick_at(0, &c, None)), "a");
    }

    #[test]
    fn weights_scale_the_load() {
        let servers = vec![server("light", 1), server("heavy", 3)];
        let (state, mut b) = balancer(backend(Balance::LeastConn, servers));
        let c = ctx("1.1.1.1:1");
        let mut held = Vec::new();
        let mut got = [0usize; 2];
        for _ in 0..400 {
            let Pick::Server(s) = b.pick_at(0, &c, None) else {
                panic!()
            };
            got[usize::from(s.cfg.name == "heavy")] += 1;
            held.push(s.try_acquire().unwrap());
        }
        // Connections accumulate 1:3.
        assert_eq!(got, [100, 300]);
        assert_eq!(state.servers[1].cur_conns(), 300);
    }

    #[test]
    fn idle_heavier_server_first_and_full_ones_are_skipped() {
        let mut servers = vec![server("a", 1), server("b", 2)];
        servers[1].maxconn = 1;
        let (state, mut b) = balancer(backend(Balance::LeastConn, servers));
        // Nothing held: the heavier idle server is less loaded per unit of weight.
        assert_eq!(counts(&state, &mut b, 0, 10), vec![0, 10]);
        let _slot = state.servers[1].try_acquire().unwrap();
        assert_eq!(counts(&state, &mut b, 0, 10), vec![10, 0]);
        let _slot_a = state.servers[0].try_acquire();
        assert_eq!(name(&b.pick_at(0, &ctx("1.1.1.1:1"), None)), "a");
    }

    #[test]
    fn exclude_and_all_full() {
        let mut servers = vec![server("a", 1), server("b", 1)];
        for s in &mut servers {
            s.maxconn = 1;
        }
        let (state, mut b) = balancer(backend(Balance::LeastConn, servers));
        let c = ctx("1.1.1.1:1");
        let a = std::sync::Arc::clone(&state.servers[0]);
        for _ in 0..5 {
            assert_eq!(name(&b.pick_at(0, &c, Some(&a))), "b");
        }
        let _b = state.servers[1].try_acquire().unwrap();
        assert_eq!(name(&b.pick_at(0, &c, Some(&a))), "a");
        let _a = state.servers[0].try_acquire().unwrap();
        assert!(matches!(b.pick_at(0, &c, None), Pick::AllFull));
    }
}
