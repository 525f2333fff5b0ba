//! `balance first`: the server with the lowest id that still has a free connection slot.
//! Weights are ignored (as in HAProxy), except that a weight of 0 makes a server unusable.

use std::sync::Arc;

use crate::backend::balance::Member;
use crate::backend::state::ServerState;

/// The usable servers, by increasing id.
#[derive(Debug, Clone, Default)]
pub struct First {
    order: Vec<usize>,
}

impl First {
    /// Replaces the server set.
    pub fn rebuild(&mut self, members: &[Member], servers: &[Arc<ServerState>]) {
        self.order = members.iter().map(|m| m.idx).collect();
        self.order.sort_by_key(|&idx| servers[idx].cfg.id);
    }

    /// The first server by id with room, skipping `exclude` unless it is the only one.
    pub fn pick(&self, servers: &[Arc<ServerState>], exclude: Option<usize>) -> Option<usize> {
        let mut with_room = self
            .order
            .iter()
            .copied()
            .filter(|&i| !servers[i].is_full());
        let first = with_room.next()?;
        if Some(first) != exclude {
            return Some(first);
        }
        with_room.next().or(Some(first))
    }
}

#[cfg(test)]
mod tests {
    use crate::backend::balance::Pick;
    use crate::backend::balance::testutil::{backend, balancer, ctx, name, server};
    use crate::config::model::{Balance, Server};

    fn limited(name: &str, id: u32, weight: u32) -> Server {
        Server {
            id,
            maxconn: 2,
            ..server(name, weight)
        }
    }

    #[test]
    fn fills_servers_in_id_order() {
        // Declared out of id order, with weights that must not matter.
        let servers = vec![
            limited("third", 30, 9),
            limited("first", 10, 1),
            limited("second", 20, 5),
        ];
        let (_state, mut b) = balancer(backend(Balance::First, servers));
        let c = ctx("1.1.1.1:1");
        let mut held = Vec::new();
        let mut order = Vec::new();
        for _ in 0..6 {
            let Pick::Server(s) = b.pick_at(0, &c, None) else {
                panic!()
            };
            order.push(s.cfg.name.clone());
            held.push(s.try_acquire().unwrap());
        }
        assert_eq!(
            order,
            ["first", "first", "second", "second", "third", "third"]
        );
        assert!(matches!(b.pick_at(0, &c, None), Pick::AllFull));
        // A slot freed on the first server sends the next connection there again.
        held.remove(0);
        assert_eq!(name(&b.pick_at(0, &c, None)), "first");
    }

    #[test]
    fn exclude_and_weight_zero() {
        let servers = vec![limited("a", 1, 1), limited("b", 2, 0), limited("c", 3, 1)];
        let (state, mut b) = balancer(backend(Balance::First, servers));
        let c = ctx("1.1.1.1:1");
        let a = std::sync::Arc::clone(&state.servers[0]);
        assert_eq!(name(&b.pick_at(0, &c, None)), "a");
        assert_eq!(name(&b.pick_at(0, &c, Some(&a))), "c");
        state.servers[2].set_up(false);
        state.bump_generation();
        assert_eq!(name(&b.pick_at(0, &c, Some(&a))), "a");
    }
}
