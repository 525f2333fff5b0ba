//! Balancer-level tests: usable set, backups, weights over time, exclusion, full servers.

use std::sync::Arc;
use std::time::Duration;

use crate::backend::balance::testutil::{backend, balancer, counts, ctx, name, server};
use crate::backend::balance::{Pick, SLOWSTART_REFRESH_MS};
use crate::clock;
use crate::config::model::{Balance, Server};

fn weighted(weights: &[u32]) -> Vec<Server> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| server(&format!("s{i}"), w))
        .collect()
}

fn backup(name: &str) -> Server {
    Server {
        backup: true,
        ..server(name, 1)
    }
}

#[test]
fn roundrobin_distributes_by_weight() {
    let (state, mut b) = balancer(backend(Balance::RoundRobin, weighted(&[1, 2, 3])));
    assert_eq!(counts(&state, &mut b, 0, 6000), vec![1000, 2000, 3000]);
}

#[test]
fn roundrobin_is_smooth() {
    let (state, mut b) = balancer(backend(Balance::RoundRobin, weighted(&[5, 1, 1])));
    let c = ctx("10.0.0.1:1");
    let seq: Vec<String> = (0..7).map(|_| name(&b.pick_at(0, &c, None))).collect();
    assert_eq!(seq, ["s0", "s0", "s1", "s0", "s2", "s0", "s0"]);
    // The cycle then repeats exactly: the heavy server never runs five times in a row
    // as a naive weighted round robin would.
    let more: Vec<String> = (0..700).map(|_| name(&b.pick_at(0, &c, None))).collect();
    assert!(more.chunks(7).all(|cycle| cycle == seq.as_slice()));
    drop(state);
}

#[test]
fn static_rr_distributes_by_weight_and_ignores_run_time_weights() {
    let (state, mut b) = balancer(backend(Balance::StaticRr, weighted(&[1, 2, 3])));
    assert_eq!(counts(&state, &mut b, 0, 600), vec![100, 200, 300]);
    // A new run-time weight only switches a server on or off for static algorithms.
    state.servers[0].set_weight(50);
    state.bump_generation();
    assert_eq!(counts(&state, &mut b, 0, 600), vec![100, 200, 300]);
    state.servers[0].set_weight(0);
    state.bump_generation();
    assert_eq!(counts(&state, &mut b, 0, 500), vec![0, 200, 300]);
}

#[test]
fn dynamic_weight_change() {
    let (state, mut b) = balancer(backend(Balance::RoundRobin, weighted(&[1, 1])));
    assert_eq!(counts(&state, &mut b, 0, 200), vec![100, 100]);
    state.servers[1].set_weight(3);
    state.bump_generation();
    assert_eq!(counts(&state, &mut b, 0, 400), vec![100, 300]);
    state.servers[1].set_weight(0);
    state.bump_generation();
    assert_eq!(counts(&state, &mut b, 0, 100), vec![100, 0]);
}

#[test]
fn slowstart_ramps_weight_up() {
    let mut ramping = server("new", 10);
    ramping.slowstart = Some(Duration::from_secs(10));
    let (state, mut b) = balancer(backend(
        Balance::RoundRobin,
        vec![server("old", 10), ramping],
    ));
    let new = &state.servers[1];
    new.set_up(false);
    let t0 = clock::now_ms();
    new.set_up(true);
    state.bump_generation();
    let mut shares = Vec::new();
    for at in [1_000, 2_500, 5_000, 7_500, 10_001] {
        let now = t0 + at;
        // Picks at `now` see the weight of `now` (the first pick rebuilds).
        let eff = u64::from(new.effective_weight(now));
        let c = counts(&state, &mut b, now, 10 * (10 + eff as usize));
        assert_eq!(c, vec![100, 10 * eff as usize], "at +{at} ms");
        shares.push(eff);
    }
    assert!(shares.windows(2).all(|w| w[0] < w[1]), "{shares:?}");
    assert_eq!(shares.last(), Some(&10));
    assert!(!new.in_slowstart(t0 + 10_001));
}

#[test]
fn slowstart_is_refreshed_without_generation_change() {
    let mut ramping = server("new", 100);
    ramping.slowstart = Some(Duration::from_secs(100));
    let (state, mut b) = balancer(backend(
        Balance::RoundRobin,
        vec![server("old", 100), ramping],
    ));
    let new = &state.servers[1];
    new.set_up(false);
    let t0 = clock::now_ms();
    new.set_up(true);
    state.bump_generation();
    let eff = |now| new.effective_weight(now) as usize;
    let early = counts(&state, &mut b, t0 + 1_000, 100 + eff(t0 + 1_000));
    assert_eq!(early[1], eff(t0 + 1_000));
    // No generation bump, but enough time passed: the balancer recomputes weights.
    let later = t0 + 50_000 + SLOWSTART_REFRESH_MS;
    let c = counts(&state, &mut b, later, 100 + eff(later));
    assert_eq!(c, vec![100, eff(later)]);
}

#[test]
fn static_algorithms_ignore_slowstart() {
    let mut ramping = server("new", 1);
    ramping.slowstart = Some(Duration::from_secs(100));
    let (state, mut b) = balancer(backend(Balance::StaticRr, vec![server("old", 1), ramping]));
    state.servers[1].set_up(false);
    state.servers[1].set_up(true);
    state.bump_generation();
    assert_eq!(counts(&state, &mut b, clock::now_ms(), 100), vec![50, 50]);
}

#[test]
fn backup_takes_over_and_gives_back() {
    let servers = vec![server("a", 1), server("b", 1), backup("bk1"), backup("bk2")];
    let (state, mut b) = balancer(backend(Balance::RoundRobin, servers));
    assert_eq!(counts(&state, &mut b, 0, 100), vec![50, 50, 0, 0]);
    state.servers[0].set_up(false);
    state.servers[1].set_maint(true);
    state.bump_generation();
    // Only the first usable backup takes over.
    assert_eq!(counts(&state, &mut b, 0, 100), vec![0, 0, 100, 0]);
    state.servers[2].set_up(false);
    state.bump_generation();
    assert_eq!(counts(&state, &mut b, 0, 100), vec![0, 0, 0, 100]);
    // An active server coming back takes everything back.
    state.servers[0].set_up(true);
    state.bump_generation();
    assert_eq!(counts(&state, &mut b, 0, 100), vec![100, 0, 0, 0]);
}

#[test]
fn allbackups_uses_every_backup() {
    let mut cfg = backend(
        Balance::RoundRobin,
        vec![server("a", 1), backup("bk1"), backup("bk2")],
    );
    cfg.allbackups = true;
    let (state, mut b) = balancer(cfg);
    state.servers[0].set_up(false);
    state.bump_generation();
    assert_eq!(counts(&state, &mut b, 0, 100), vec![0, 50, 50]);
}

#[test]
fn zero_weight_servers_are_not_used() {
    let (state, mut b) = balancer(backend(Balance::RoundRobin, weighted(&[0, 1])));
    assert_eq!(counts(&state, &mut b, 0, 10), vec![0, 10]);
    let (_state, mut b) = balancer(backend(Balance::RoundRobin, weighted(&[0])));
    assert!(matches!(
        b.pick_at(0, &ctx("1.1.1.1:1"), None),
        Pick::NoServer
    ));
}

#[test]
fn no_server_and_all_full() {
    let mut servers = weighted(&[1, 1]);
    for s in &mut servers {
        s.maxconn = 1;
    }
    let (state, mut b) = balancer(backend(Balance::RoundRobin, servers));
    let c = ctx("1.1.1.1:1");
    let slots: Vec<_> = state
        .servers
        .iter()
        .map(|s| s.try_acquire().unwrap())
        .collect();
    assert!(matches!(b.pick_at(0, &c, None), Pick::AllFull));
    drop(slots);
    assert!(matches!(b.pick_at(0, &c, None), Pick::Server(_)));
    for s in &state.servers {
        s.set_up(false);
    }
    state.bump_generation();
    assert!(matches!(b.pick_at(0, &c, None), Pick::NoServer));
}

#[test]
fn exclude_on_redispatch() {
    let (state, mut b) = balancer(backend(Balance::RoundRobin, weighted(&[1, 1, 1])));
    let c = ctx("1.1.1.1:1");
    let bad = Arc::clone(&state.servers[1]);
    for _ in 0..30 {
        assert_ne!(name(&b.pick_at(0, &c, Some(&bad))), "s1");
    }
    // The excluded server is still used when it is the only one left.
    state.servers[0].set_up(false);
    state.servers[2].set_up(false);
    state.bump_generation();
    assert_eq!(name(&b.pick_at(0, &c, Some(&bad))), "s1");
}

#[test]
fn exclude_on_redispatch_with_hashing() {
    let (state, mut b) = balancer(backend(Balance::Source, weighted(&[1, 1, 1])));
    for i in 0..50 {
        let c = ctx(&format!("10.0.{i}.7:1"));
        let Pick::Server(first) = b.pick_at(0, &c, None) else {
            panic!()
        };
        let Pick::Server(second) = b.pick_at(0, &c, Some(&first)) else {
            panic!()
        };
        assert!(!Arc::ptr_eq(&first, &second));
    }
    drop(state);
}

#[test]
fn never_hands_out_a_server_that_went_down_unannounced() {
    let (state, mut b) = balancer(backend(Balance::RoundRobin, weighted(&[1, 1])));
    let c = ctx("1.1.1.1:1");
    b.pick_at(0, &c, None);
    // No generation bump (a racing checker): the balancer still avoids it.
    state.servers[0].set_up(false);
    for _ in 0..10 {
        assert_eq!(name(&b.pick_at(0, &c, None)), "s1");
    }
}

#[test]
fn pick_uses_the_clock() {
    let (state, mut b) = balancer(backend(Balance::RoundRobin, weighted(&[1])));
    assert!(matches!(b.pick(&ctx("1.1.1.1:1"), None), Pick::Server(_)));
    assert!(Arc::ptr_eq(b.backend(), &state));
}

mod hashing {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::backend::balance::Balancer;
    use crate::backend::state::BackendState;
    use crate::config::model::{HashFunction, HashMethod, HashType};
    use crate::sample::{SampleExpr, StreamCtx};

    /// Streams from `n` pseudo-random client addresses (fixed seed: reproducible).
    fn clients(n: usize) -> Vec<StreamCtx<'static>> {
        let mut rng = fastrand::Rng::with_seed(42);
        (0..n)
            .map(|_| ctx(&format!("{}:40000", Ipv4Addr::from(rng.u32(..)))))
            .collect()
    }

    fn owners(state: &BackendState, b: &mut Balancer, keys: &[StreamCtx<'_>]) -> Vec<usize> {
        keys.iter()
            .map(|c| match b.pick_at(0, c, None) {
                Pick::Server(s) => state
                    .servers
                    .iter()
                    .position(|x| Arc::ptr_eq(x, &s))
                    .unwrap(),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    fn hashed(
        balance: Balance,
        method: HashMethod,
        servers: Vec<Server>,
    ) -> (Arc<BackendState>, Balancer) {
        let mut cfg = backend(balance, servers);
        cfg.hash_type = HashType {
            method,
            function: HashFunction::Sdbm,
            // What `hash-type consistent` alone means in HAProxy.
            avalanche: method == HashMethod::Consistent,
        };
        balancer(cfg)
    }

    fn shares(owners: &[usize], n: usize) -> Vec<f64> {
        let mut c = vec![0usize; n];
        for &o in owners {
            c[o] += 1;
        }
        c.iter().map(|&x| x as f64 / owners.len() as f64).collect()
    }

    #[test]
    fn source_distributes_by_weight() {
        let keys = clients(60_000);
        for method in [HashMethod::MapBased, HashMethod::Consistent] {
            let (state, mut b) = hashed(Balance::Source, method, weighted(&[1, 2, 3]));
            let got = shares(&owners(&state, &mut b, &keys), 3);
            // The ring places few points per server: allow more spread there.
            let tolerance = if method == HashMethod::MapBased {
                0.07
            } else {
                0.3
            };
            for (share, weight) in got.iter().zip([1.0, 2.0, 3.0]) {
                let ratio = share / (weight / 6.0);
                assert!(
                    (1.0 - tolerance..1.0 + tolerance).contains(&ratio),
                    "{method:?} {got:?}"
                );
            }
        }
    }

    #[test]
    fn same_key_same_server_even_when_full() {
        let mut servers = weighted(&[1, 1, 1]);
        for s in &mut servers {
            s.maxconn = 1;
        }
        let (state, mut b) = hashed(Balance::Source, HashMethod::MapBased, servers);
        let c = ctx("192.0.2.10:1234");
        let Pick::Server(first) = b.pick_at(0, &c, None) else {
            panic!()
        };
        let _slot = first.try_acquire().unwrap();
        for port in [1, 2, 3] {
            let c = ctx(&format!("192.0.2.10:{port}"));
            let Pick::Server(again) = b.pick_at(0, &c, None) else {
                panic!()
            };
            assert!(Arc::ptr_eq(&first, &again));
        }
        drop(state);
    }

    #[test]
    fn hash_expression_keys() {
        let expr = SampleExpr::parse("src,ipmask(24)").unwrap();
        let (state, mut b) = hashed(
            Balance::Hash(expr),
            HashMethod::MapBased,
            weighted(&[1, 1, 1, 1]),
        );
        // Every client of a /24 lands on the same server.
        for net in 0..20 {
            let first = name(&b.pick_at(0, &ctx(&format!("10.0.{net}.1:1")), None));
            for host in 2..10 {
                let c = ctx(&format!("10.0.{net}.{host}:1"));
                assert_eq!(name(&b.pick_at(0, &c, None)), first);
            }
        }
        let keys = clients(20_000);
        let got = shares(&owners(&state, &mut b, &keys), 4);
        assert!(got.iter().all(|s| (0.2..0.3).contains(s)), "{got:?}");
    }

    #[test]
    fn missing_key_falls_back_to_round_robin() {
        let expr = SampleExpr::parse("str(none),ipmask(8)").unwrap();
        for method in [HashMethod::MapBased, HashMethod::Consistent] {
            let (state, mut b) = hashed(Balance::Hash(expr.clone()), method, weighted(&[1, 1]));
            assert_eq!(counts(&state, &mut b, 0, 320), vec![160, 160], "{method:?}");
        }
    }

    /// An X.224 connection request carrying `Cookie: mstshash=<user>`, as mstsc sends it.
    fn rdp_request(user: &str) -> Vec<u8> {
        let mut pdu = vec![3, 0, 0, 0, 0, 0xe0, 0, 0, 0, 0, 0];
        pdu.extend_from_slice(format!("Cookie: mstshash={user}\r\n").as_bytes());
        let len = u16::try_from(pdu.len()).unwrap().to_be_bytes();
        pdu[2..4].copy_from_slice(&len);
        pdu[4] = u8::try_from(pdu.len() - 5).unwrap();
        pdu
    }

    #[test]
    fn rdp_cookie_hashes_the_cookie_value() {
        let balance = Balance::RdpCookie {
            name: "mstshash".into(),
            key: SampleExpr::parse("req.rdp_cookie(mstshash)").unwrap(),
        };
        let (state, mut b) = hashed(balance, HashMethod::MapBased, weighted(&[1, 1, 1, 1]));
        let mut seen = std::collections::HashSet::new();
        for user in 0..40 {
            let payload = rdp_request(&format!("user{user}"));
            let mut owner = None;
            // The same user lands on the same server whatever the client address.
            for port in 1..6 {
                let mut c = ctx(&format!("192.0.2.{port}:{port}"));
                c.payload = &payload;
                c.payload_final = true;
                let got = name(&b.pick_at(0, &c, None));
                assert_eq!(*owner.get_or_insert_with(|| got.clone()), got);
            }
            seen.extend(owner);
        }
        assert!(seen.len() >= 3, "{seen:?}");
        // Without a cookie: round robin.
        assert_eq!(counts(&state, &mut b, 0, 400), vec![100, 100, 100, 100]);
    }

    /// Fraction of keys whose server changed.
    fn moved(before: &[usize], after: &[usize]) -> f64 {
        let n = before.iter().zip(after).filter(|(a, b)| a != b).count();
        n as f64 / before.len() as f64
    }

    #[test]
    fn consistent_remaps_about_one_nth_on_removal_and_addition() {
        const N: usize = 10;
        let keys = clients(20_000);
        let (state, mut b) = hashed(Balance::Source, HashMethod::Consistent, weighted(&[1; N]));
        let before = owners(&state, &mut b, &keys);
        for gone in [0, 3, 7] {
            state.servers[gone].set_up(false);
            state.bump_generation();
            let after = owners(&state, &mut b, &keys);
            let frac = moved(&before, &after);
            let n = N as f64;
            assert!(
                (0.5 / n..1.6 / n).contains(&frac),
                "removing s{gone}: {frac}"
            );
            // Only the removed server's keys moved.
            for (old, new) in before.iter().zip(&after) {
                assert!(old == new || *old == gone);
            }
            // Bringing it back restores the exact previous mapping.
            state.servers[gone].set_up(true);
            state.bump_generation();
            assert_eq!(owners(&state, &mut b, &keys), before);
        }
        // Adding an (N+1)th server moves about 1/(N+1) of the keys, all to it.
        let (state, mut b) = hashed(
            Balance::Source,
            HashMethod::Consistent,
            weighted(&[1; N + 1]),
        );
        state.servers[N].set_up(false);
        state.bump_generation();
        let before = owners(&state, &mut b, &keys);
        state.servers[N].set_up(true);
        state.bump_generation();
        let after = owners(&state, &mut b, &keys);
        let n = (N + 1) as f64;
        let frac = moved(&before, &after);
        assert!((0.5 / n..1.6 / n).contains(&frac), "adding: {frac}");
        for (old, new) in before.iter().zip(&after) {
            assert!(old == new || *new == N);
        }
    }

    #[test]
    fn map_based_remaps_most_keys() {
        const N: usize = 10;
        let keys = clients(20_000);
        let (state, mut b) = hashed(Balance::Source, HashMethod::MapBased, weighted(&[1; N]));
        let before = owners(&state, &mut b, &keys);
        state.servers[3].set_up(false);
        state.bump_generation();
        let after = owners(&state, &mut b, &keys);
        assert!(moved(&before, &after) > 0.5, "{}", moved(&before, &after));
    }

    #[test]
    fn consistent_weight_change_only_moves_keys_of_that_server() {
        let keys = clients(20_000);
        let (state, mut b) = hashed(
            Balance::Source,
            HashMethod::Consistent,
            weighted(&[2, 2, 2, 2]),
        );
        let before = owners(&state, &mut b, &keys);
        state.servers[1].set_weight(1);
        state.bump_generation();
        let after = owners(&state, &mut b, &keys);
        for (old, new) in before.iter().zip(&after) {
            assert!(old == new || *old == 1, "a key left s{old} for s{new}");
        }
        let frac = moved(&before, &after);
        assert!(frac > 0.04 && frac < 0.2, "{frac}");
    }
}
