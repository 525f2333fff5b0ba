//! The rise/fall state machine of one checked server, as HAProxy's `set_server_check_status()`
//! and `srv_getinter()`.
//!
//! HAProxy keeps a `health` counter between 0 and `rise + fall - 1`. The server is up while
//! `health >= rise`. A failed check decrements it and, as soon as it drops below `rise`,
//! resets it to 0 (the server goes down); a passed check increments it and, as soon as it
//! reaches `rise`, sets it to the maximum (the server goes up). So a fully up server goes
//! down after `fall` consecutive failures and a fully down one comes up after `rise`
//! consecutive successes. At start the counter is `rise`: the server is up, but the first
//! failed check takes it down.

use std::time::Duration;

use crate::checks::result::CheckResult;
use crate::config::model::Server;

/// A change of the operational state decided by checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The server goes up.
    Up,
    /// The server goes down.
    Down,
}

/// The check intervals of a server (`inter`, `fastinter`, `downinter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intervals {
    /// Between checks while fully up (and while fully down without `downinter`).
    pub inter: Duration,
    /// Between checks while transitioning.
    pub fastinter: Duration,
    /// Between checks while fully down.
    pub downinter: Duration,
}

impl Intervals {
    /// The intervals configured on `server` (the parser already defaulted them to `inter`).
    pub fn of(server: &Server) -> Self {
        Self {
            inter: server.inter,
            fastinter: server.fastinter,
            downinter: server.downinter,
        }
    }
}

/// Rise/fall hysteresis of one server's health checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthState {
    rise: u32,
    fall: u32,
    health: u32,
    up: bool,
    paused: bool,
    intervals: Intervals,
}

impl HealthState {
    /// The start-up state, as HAProxy: up with `health = rise` (one failure takes it down).
    /// `rise` and `fall` below 1 are taken as 1.
    pub fn new(rise: u32, fall: u32, intervals: Intervals) -> Self {
        let rise = rise.max(1);
        Self {
            rise,
            fall: fall.max(1),
            health: rise,
            up: true,
            paused: false,
            intervals,
        }
    }

    /// The start-up state of `server`: paused and down when it starts in maintenance
    /// (`disabled`), as HAProxy.
    pub fn for_server(server: &Server) -> Self {
        let mut state = Self::new(server.rise, server.fall, Intervals::of(server));
        if server.disabled {
            state.pause();
        }
        state
    }

    /// Accounts for one check result; returns the state change it causes, if any.
    /// Results are ignored while paused.
    pub fn on_result(&mut self, result: &CheckResult) -> Option<Transition> {
        if self.paused {
            return None;
        }
        if result.passed() {
            if self.health < self.max_health() {
                self.health += 1;
                if self.health >= self.rise {
                    self.health = self.max_health();
                }
            }
        } else if self.health > 0 {
            self.health -= 1;
            if self.health < self.rise {
                self.health = 0;
            }
        }
        if self.up && self.health == 0 {
            self.up = false;
            Some(Transition::Down)
        } else if !self.up && self.health >= self.rise {
            self.up = true;
            Some(Transition::Up)
        } else {
            None
        }
    }

    /// Time to wait before the next check, as HAProxy's `srv_getinter()`: `inter` when fully
    /// up, `downinter` when fully down, `fastinter` in between. While paused (maintenance)
    /// the check task only wakes up every `inter`.
    pub fn next_interval(&self) -> Duration {
        if self.paused || self.health == self.max_health() {
            self.intervals.inter
        } else if !self.up && self.health == 0 {
            self.intervals.downinter
        } else {
            self.intervals.fastinter
        }
    }

    /// Entering maintenance: checks stop and the counter drops to 0, as HAProxy does.
    pub fn pause(&mut self) {
        self.paused = true;
        self.health = 0;
        self.up = false;
    }

    /// Leaving maintenance: up with `health = rise` ("start OK but check immediately").
    pub fn resume(&mut self) {
        self.paused = false;
        self.health = self.rise;
        self.up = true;
    }

    /// `true` while checks are suspended by maintenance.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Operational state according to checks.
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// The raw counter (0 ..= rise + fall - 1).
    pub fn health(&self) -> u32 {
        self.health
    }

    /// `rise`.
    pub fn rise(&self) -> u32 {
        self.rise
    }

    /// `fall`.
    pub fn fall(&self) -> u32 {
        self.fall
    }

    /// The state as HAProxy's stats page shows it: `UP`, `UP 1/3` (going down), `DOWN`,
    /// `DOWN 1/2` (going up), `MAINT`.
    pub fn describe(&self) -> String {
        if self.paused {
            "MAINT".to_owned()
        } else if self.up && self.health == self.max_health() {
            "UP".to_owned()
        } else if self.up {
            format!("UP {}/{}", self.health - self.rise + 1, self.fall)
        } else if self.health == 0 {
            "DOWN".to_owned()
        } else {
            format!("DOWN {}/{}", self.health, self.rise)
        }
    }

    fn max_health(&self) -> u32 {
        self.rise + self.fall - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::result::CheckStatus;

    const INTER: Duration = Duration::from_millis(2000);
    const FAST: Duration = Duration::from_millis(500);
    const DOWN: Duration = Duration::from_millis(10_000);

    fn intervals() -> Intervals {
        Intervals {
            inter: INTER,
            fastinter: FAST,
            downinter: DOWN,
        }
    }

    fn ok() -> CheckResult {
        CheckResult::new(CheckStatus::L4Ok, "")
    }

    fn ko() -> CheckResult {
        CheckResult::new(CheckStatus::L4Con, "Connection refused")
    }

    /// Feeds `n` results and collects the transitions.
    fn feed(s: &mut HealthState, r: &CheckResult, n: usize) -> Vec<Option<Transition>> {
        (0..n).map(|_| s.on_result(r)).collect()
    }

    #[test]
    fn starts_up_at_rise_and_first_failure_takes_it_down() {
        let mut s = HealthState::new(2, 3, intervals());
        assert!(s.is_up());
        assert_eq!(s.health(), 2);
        assert_eq!(s.on_result(&ko()), Some(Transition::Down));
        assert!(!s.is_up());
        assert_eq!(s.health(), 0);
    }

    #[test]
    fn first_success_makes_it_fully_up() {
        let mut s = HealthState::new(2, 3, intervals());
        assert_eq!(s.on_result(&ok()), None);
        assert_eq!(s.health(), 4);
        assert_eq!(s.describe(), "UP");
    }

    #[test]
    fn fully_up_needs_fall_failures() {
        for fall in 1..=5 {
            for rise in 1..=4 {
                let mut s = HealthState::new(rise, fall, intervals());
                s.on_result(&ok());
                let got = feed(&mut s, &ko(), fall as usize);
                let mut want = vec![None; fall as usize - 1];
                want.push(Some(Transition::Down));
                assert_eq!(got, want, "rise {rise} fall {fall}");
                assert_eq!(s.on_result(&ko()), None, "stays down");
                assert_eq!(s.health(), 0);
            }
        }
    }

    #[test]
    fn fully_down_needs_rise_successes() {
        for rise in 1..=5 {
            for fall in 1..=4 {
                let mut s = HealthState::new(rise, fall, intervals());
                s.on_result(&ko());
                assert!(!s.is_up());
                let got = feed(&mut s, &ok(), rise as usize);
                let mut want = vec![None; rise as usize - 1];
                want.push(Some(Transition::Up));
                assert_eq!(got, want, "rise {rise} fall {fall}");
                assert_eq!(s.health(), rise + fall - 1);
            }
        }
    }

    #[test]
    fn hysteresis_a_success_while_going_down_restores_full_health() {
        let mut s = HealthState::new(2, 3, intervals());
        s.on_result(&ok());
        assert_eq!(feed(&mut s, &ko(), 2), vec![None, None]);
        assert_eq!(s.describe(), "UP 1/3");
        assert_eq!(s.on_result(&ok()), None);
        assert_eq!(s.describe(), "UP");
        // Needs `fall` failures again.
        assert_eq!(
            feed(&mut s, &ko(), 3),
            vec![None, None, Some(Transition::Down)]
        );
    }

    #[test]
    fn hysteresis_a_failure_while_going_up_resets_to_zero() {
        let mut s = HealthState::new(3, 2, intervals());
        s.on_result(&ko());
        assert_eq!(feed(&mut s, &ok(), 2), vec![None, None]);
        assert_eq!(s.describe(), "DOWN 2/3");
        assert_eq!(s.on_result(&ko()), None);
        assert_eq!(s.health(), 0);
        assert_eq!(
            feed(&mut s, &ok(), 3),
            vec![None, None, Some(Transition::Up)]
        );
    }

    #[test]
    fn health_stays_in_bounds() {
        let mut s = HealthState::new(2, 3, intervals());
        for i in 0..50u32 {
            let r = if (i * 7) % 5 < 2 { ko() } else { ok() };
            s.on_result(&r);
            assert!(s.health() <= 4);
            assert_eq!(s.is_up(), s.health() >= 2);
        }
    }

    #[test]
    fn intervals_follow_srv_getinter() {
        let mut s = HealthState::new(2, 3, intervals());
        // Start: up but not fully up.
        assert_eq!(s.next_interval(), FAST);
        s.on_result(&ok());
        assert_eq!(s.next_interval(), INTER);
        s.on_result(&ko());
        assert_eq!(s.next_interval(), FAST, "going down");
        s.on_result(&ko());
        s.on_result(&ko());
        assert!(!s.is_up());
        assert_eq!(s.next_interval(), DOWN, "fully down");
        s.on_result(&ok());
        assert_eq!(s.next_interval(), FAST, "going up");
        s.on_result(&ok());
        assert_eq!(s.next_interval(), INTER);
    }

    #[test]
    fn fall_one_starts_fully_up() {
        let s = HealthState::new(2, 1, intervals());
        assert_eq!(s.next_interval(), INTER);
        assert_eq!(s.describe(), "UP");
    }

    #[test]
    fn downinter_defaulting_to_inter_is_used_when_down() {
        let iv = Intervals {
            inter: INTER,
            fastinter: FAST,
            downinter: INTER,
        };
        let mut s = HealthState::new(1, 1, iv);
        s.on_result(&ko());
        assert_eq!(s.next_interval(), INTER);
    }

    #[test]
    fn pause_and_resume_like_maintenance() {
        let mut s = HealthState::new(2, 3, intervals());
        s.pause();
        assert!(s.is_paused());
        assert!(!s.is_up());
        assert_eq!(s.describe(), "MAINT");
        assert_eq!(s.on_result(&ok()), None, "ignored while paused");
        assert_eq!(s.next_interval(), INTER);
        s.resume();
        assert!(s.is_up());
        assert_eq!(s.health(), 2);
        assert_eq!(s.on_result(&ko()), Some(Transition::Down));
    }

    #[test]
    fn zero_rise_or_fall_is_clamped() {
        let mut s = HealthState::new(0, 0, intervals());
        assert_eq!((s.rise(), s.fall()), (1, 1));
        assert_eq!(s.on_result(&ko()), Some(Transition::Down));
        assert_eq!(s.on_result(&ok()), Some(Transition::Up));
    }
}
