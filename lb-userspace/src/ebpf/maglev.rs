//! Maglev consistent hashing with weights (Eisenbud et al., NSDI 2016, section 3.4).
//!
//! Each server gets a permutation of the ring slots from two hashes of its name (`offset`,
//! `skip`); servers take turns claiming their next preferred free slot until the ring is
//! full. A server of weight `w` claims `w` slots per turn, so its share of the ring is
//! proportional to its weight, and a change of one server moves about `1/N` of the slots.
//! Sans-I/O: the result is the ring that user space copies into the kernel map.

use lb_common::l4::NO_REAL;

/// One server as the ring sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaglevServer<'a> {
    /// A stable identity (the server's name): the same name keeps the same permutation
    /// across rebuilds, which is what keeps remapping minimal.
    pub id: &'a str,
    /// Relative weight; 0 takes no slot.
    pub weight: u32,
    /// The value stored in the slots this server owns (its index in the kernel map).
    pub value: u32,
}

/// Builds a ring of `size` slots (a prime) over `servers`; every slot holds the `value` of
/// its server, or [`NO_REAL`] when no server has a weight.
pub fn build(servers: &[MaglevServer<'_>], size: u32) -> Vec<u32> {
    let m = u64::from(size);
    let mut ring = vec![NO_REAL; size as usize];
    let live: Vec<_> = servers.iter().filter(|s| s.weight > 0).collect();
    if live.is_empty() || m < 2 {
        return ring;
    }
    // Weights scaled down by their common divisor: fewer, larger turns are not needed, but
    // equal weights then take one slot per turn as in the paper.
    let gcd = live.iter().fold(0, |g, s| gcd(g, s.weight));
    let perms: Vec<(u64, u64)> = live
        .iter()
        .map(|s| {
            let offset = fnv1a(s.id.as_bytes(), 0xcbf2_9ce4_8422_2325) % m;
            let skip = fnv1a(s.id.as_bytes(), 0x8422_2325_cbf2_9ce4) % (m - 1) + 1;
            (offset, skip)
        })
        .collect();
    let mut next = vec![0u64; live.len()];
    let mut filled = 0u64;
    'fill: loop {
        for (i, server) in live.iter().enumerate() {
            let (offset, skip) = perms[i];
            for _ in 0..server.weight / gcd {
                // The permutation visits every slot (m prime, 0 < skip < m): a free one exists
                // while the ring is not full.
                let slot = loop {
                    let slot = (offset + next[i] * skip) % m;
                    next[i] += 1;
                    if ring[slot as usize] == NO_REAL {
                        break slot;
                    }
                };
                ring[slot as usize] = server.value;
                filled += 1;
                if filled == m {
                    break 'fill;
                }
            }
        }
    }
    ring
}

const fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn fnv1a(bytes: &[u8], basis: u64) -> u64 {
    let mut h = basis;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // FNV alone mixes short names poorly into the low bits that `% m` keeps.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// Which servers of a backend the ring holds now: the usable active servers, or when none
/// is usable, the usable backup servers (all of them with `allbackups`, else the first),
/// as HAProxy picks them.
pub fn select<'a>(
    servers: &[(MaglevServer<'a>, bool, bool)],
    allbackups: bool,
) -> Vec<MaglevServer<'a>> {
    let usable = |backup: bool| {
        servers
            .iter()
            .filter(move |(s, is_backup, up)| *is_backup == backup && *up && s.weight > 0)
            .map(|(s, _, _)| *s)
    };
    let active: Vec<_> = usable(false).collect();
    if !active.is_empty() {
        return active;
    }
    if allbackups {
        usable(true).collect()
    } else {
        usable(true).take(1).collect()
    }
}

#[cfg(test)]
mod tests {
    use lb_common::l4::MAGLEV_RING;

    use super::*;

    fn servers(names: &[String], weights: &[u32]) -> Vec<MaglevServer<'static>> {
        names
            .iter()
            .zip(weights)
            .enumerate()
            .map(|(i, (n, w))| MaglevServer {
                id: Box::leak(n.clone().into_boxed_str()),
                weight: *w,
                value: i as u32,
            })
            .collect()
    }

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("srv{i}")).collect()
    }

    fn shares(ring: &[u32], n: usize) -> Vec<f64> {
        let mut counts = vec![0usize; n];
        for &v in ring {
            counts[v as usize] += 1;
        }
        counts
            .iter()
            .map(|&c| c as f64 / ring.len() as f64)
            .collect()
    }

    #[test]
    fn equal_weights_balance_within_one_percent() {
        for n in [2, 3, 5, 10, 50] {
            let ring = build(&servers(&names(n), &vec![1; n]), MAGLEV_RING);
            assert!(ring.iter().all(|&v| v != NO_REAL));
            for share in shares(&ring, n) {
                let ideal = 1.0 / n as f64;
                assert!(
                    (share - ideal).abs() / ideal < 0.01,
                    "n={n}: {share} vs {ideal}"
                );
            }
        }
    }

    #[test]
    fn weights_balance_within_a_few_percent() {
        let weights = [1, 2, 3, 4, 10];
        let ring = build(&servers(&names(5), &weights), MAGLEV_RING);
        let total: u32 = weights.iter().sum();
        for (share, w) in shares(&ring, 5).iter().zip(weights) {
            let ideal = f64::from(w) / f64::from(total);
            assert!(
                (share - ideal).abs() / ideal < 0.03,
                "w={w}: {share} vs {ideal}"
            );
        }
        // A zero weight takes nothing; no weight at all leaves the ring empty.
        let ring = build(&servers(&names(2), &[0, 5]), MAGLEV_RING);
        assert!(ring.iter().all(|&v| v == 1));
        let ring = build(&servers(&names(2), &[0, 0]), 7);
        assert_eq!(ring, vec![NO_REAL; 7]);
    }

    #[test]
    fn adding_or_removing_a_server_moves_about_one_nth() {
        let n = 10;
        let all = servers(&names(n + 1), &vec![1; n + 1]);
        let before = build(&all[..n], MAGLEV_RING);
        let after = build(&all, MAGLEV_RING);
        let moved = before.iter().zip(&after).filter(|(a, b)| a != b).count();
        let frac = moved as f64 / f64::from(MAGLEV_RING);
        // The new server takes 1/11 (9.1%); Maglev's extra churn stays small.
        assert!((0.085..0.12).contains(&frac), "moved {frac}");
        // Slots that moved went to the new server, nearly all of them.
        let to_new = before
            .iter()
            .zip(&after)
            .filter(|(a, b)| a != b && **b == n as u32)
            .count();
        assert!(to_new as f64 / moved as f64 > 0.8);

        // Removing server 3 of 11: its slots move, others mostly stay.
        let mut without = all.clone();
        without.remove(3);
        let removed = build(&without, MAGLEV_RING);
        let moved = after.iter().zip(&removed).filter(|(a, b)| a != b).count();
        let frac = moved as f64 / f64::from(MAGLEV_RING);
        assert!((0.085..0.12).contains(&frac), "moved {frac}");
        assert!(removed.iter().all(|&v| v != 3));
    }

    #[test]
    fn backups_only_when_no_active_server_is_up() {
        let s = servers(&names(4), &[1, 1, 1, 1]);
        let table = |up: [bool; 4], all: bool| {
            let list: Vec<_> = s
                .iter()
                .zip([false, false, true, true])
                .zip(up)
                .map(|((s, b), u)| (*s, b, u))
                .collect();
            select(&list, all)
                .iter()
                .map(|s| s.value)
                .collect::<Vec<_>>()
        };
        assert_eq!(table([true, true, true, true], false), [0, 1]);
        assert_eq!(table([false, true, true, true], false), [1]);
        assert_eq!(table([false, false, true, true], false), [2]);
        assert_eq!(table([false, false, true, true], true), [2, 3]);
        assert_eq!(table([false, false, false, true], false), [3]);
        assert!(table([false, false, false, false], true).is_empty());
    }
}
