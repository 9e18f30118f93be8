//! Back-off for password and setup-code attempts: after a few free
//! failures, each further failure doubles the wait before the next
//! attempt is even looked at, per client address and for the whole box
//! (a spread-out guess from many addresses slows down too). Waits are
//! capped; a success from an address clears its count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::clock::Clock;

#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Failures allowed before any wait.
    pub free: u32,
    /// Wait after the first failure past `free`; doubles after each.
    pub base: Duration,
    pub cap: Duration,
}

pub const PER_CLIENT: Policy = Policy {
    free: 3,
    base: Duration::from_secs(2),
    cap: Duration::from_secs(300),
};

pub const GLOBAL: Policy = Policy {
    free: 20,
    base: Duration::from_secs(1),
    cap: Duration::from_secs(60),
};

/// A client's failures are forgotten after this long without one.
const FORGET_AFTER: Duration = Duration::from_secs(3600);
const MAX_CLIENTS: usize = 4096;

#[derive(Clone, Copy, Debug, Default)]
struct Failures {
    count: u32,
    last: Option<Instant>,
}

impl Failures {
    fn blocked_until(&self, policy: Policy) -> Option<Instant> {
        let last = self.last?;
        if self.count < policy.free {
            return None;
        }
        let exponent = (self.count - policy.free).min(16);
        let wait = policy.base.saturating_mul(1u32 << exponent).min(policy.cap);
        Some(last + wait)
    }
}

pub struct RateLimiter {
    clock: Arc<dyn Clock>,
    per_client: Policy,
    global: Policy,
    state: Mutex<(HashMap<IpAddr, Failures>, Failures)>,
}

impl RateLimiter {
    pub fn new(clock: Arc<dyn Clock>, per_client: Policy, global: Policy) -> RateLimiter {
        RateLimiter {
            clock,
            per_client,
            global,
            state: Mutex::new((HashMap::new(), Failures::default())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (HashMap<IpAddr, Failures>, Failures)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Err(wait)` if `client` must wait before trying again.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        let now = self.clock.now();
        let state = self.lock();
        let client_until = state
            .0
            .get(&client)
            .and_then(|f| f.blocked_until(self.per_client));
        let global_until = state.1.blocked_until(self.global);
        match client_until.into_iter().chain(global_until).max() {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    pub fn failure(&self, client: IpAddr) {
        let now = self.clock.now();
        let mut state = self.lock();
        let (clients, global) = &mut *state;
        if clients.len() >= MAX_CLIENTS {
            clients.retain(|_, f| {
                f.last
                    .is_some_and(|l| now.saturating_duration_since(l) < FORGET_AFTER)
            });
        }
        let entry = clients.entry(client).or_default();
        if entry
            .last
            .is_some_and(|l| now.saturating_duration_since(l) >= FORGET_AFTER)
        {
            *entry = Failures::default();
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = Some(now);
        if global
            .last
            .is_some_and(|l| now.saturating_duration_since(l) >= FORGET_AFTER)
        {
            *global = Failures::default();
        }
        global.count = global.count.saturating_add(1);
        global.last = Some(now);
    }

    pub fn success(&self, client: IpAddr) {
        self.lock().0.remove(&client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn exponential_capped_per_client() {
        let clock = Arc::new(ManualClock::default());
        let rl = RateLimiter::new(clock.clone(), PER_CLIENT, GLOBAL);
        let ip: IpAddr = "192.168.1.20".parse().unwrap();
        let other: IpAddr = "192.168.1.21".parse().unwrap();
        for _ in 0..3 {
            assert!(rl.check(ip).is_ok());
            rl.failure(ip);
        }
        assert_eq!(rl.check(ip), Err(Duration::from_secs(2)));
        assert!(rl.check(other).is_ok());
        clock.advance(Duration::from_secs(2));
        assert!(rl.check(ip).is_ok());
        rl.failure(ip);
        assert_eq!(rl.check(ip), Err(Duration::from_secs(4)));
        for _ in 0..20 {
            rl.failure(ip);
        }
        assert_eq!(rl.check(ip), Err(Duration::from_secs(300)));
        rl.success(ip);
        // The address's own count is cleared; the box-wide one (24
        // failures) still asks for a shorter wait.
        let wait = rl.check(ip).unwrap_err();
        assert!(wait <= GLOBAL.cap, "{wait:?}");
        clock.advance(GLOBAL.cap);
        assert!(rl.check(ip).is_ok());
    }

    #[test]
    fn global_back_off_across_addresses() {
        let clock = Arc::new(ManualClock::default());
        let rl = RateLimiter::new(clock.clone(), PER_CLIENT, GLOBAL);
        for i in 0..21u8 {
            rl.failure(IpAddr::from([10, 0, 0, i]));
        }
        assert!(rl.check(IpAddr::from([10, 0, 1, 1])).is_err());
        clock.advance(Duration::from_secs(2));
        assert!(rl.check(IpAddr::from([10, 0, 1, 1])).is_ok());
    }
}
