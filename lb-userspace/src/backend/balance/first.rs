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
