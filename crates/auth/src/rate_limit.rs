//! A per-process rate limiter for one kind of event (sign-in attempts, code requests), keyed by
//! whatever the caller chooses (an IP address, an account). It is the generic cell rate
//! algorithm: a burst of `count` events, then one event every `window / count`, which is a token
//! bucket stored as a single timestamp per key. The database-backed limiter that coordinates
//! several processes lives with the store; this one guards a single process cheaply (P-SEC-7).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reelsmith_core::{Code, ErrorCode};

/// Monotonic time as seen by the limiter; injectable so tests control it.
pub trait Clock: Send + Sync {
    /// Time elapsed since an arbitrary, fixed origin.
    fn now(&self) -> Duration;
}

/// The real clock.
pub struct MonotonicClock {
    origin: Instant,
}

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock {
            origin: Instant::now(),
        }
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// A clock that moves only when told to.
#[derive(Default)]
pub struct ManualClock {
    now: Mutex<Duration>,
}

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<C: Clock> Clock for std::sync::Arc<C> {
    fn now(&self) -> Duration {
        (**self).now()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("too many attempts; try again in {} s", .retry_after.as_secs().max(1))]
pub struct RateLimited {
    pub retry_after: Duration,
}

impl ErrorCode for RateLimited {
    fn code(&self) -> Code {
        Code::AuthRateLimited
    }

    fn is_client_error(&self) -> bool {
        true
    }
}

/// Above this many tracked keys, keys whose bucket has refilled are forgotten, so a flood of
/// distinct keys (spoofed addresses) cannot grow memory without bound.
const PRUNE_ABOVE_KEYS: usize = 10_000;

pub struct RateLimiter<C: Clock = MonotonicClock> {
    /// Time one event "costs": window / count.
    interval: Duration,
    /// How far ahead of now the schedule may run: the burst allowance.
    tolerance: Duration,
    clock: C,
    /// Per key, the theoretical time the next event is due.
    due: Mutex<HashMap<String, Duration>>,
}

impl RateLimiter<MonotonicClock> {
    pub fn new(count: u32, window: Duration) -> Self {
        RateLimiter::with_clock(count, window, MonotonicClock::default())
    }
}

impl<C: Clock> RateLimiter<C> {
    pub fn with_clock(count: u32, window: Duration, clock: C) -> Self {
        let count = count.max(1);
        let interval = window / count;
        RateLimiter {
            interval,
            tolerance: window.saturating_sub(interval),
            clock,
            due: Mutex::new(HashMap::new()),
        }
    }

    /// Records one event for `key`, or refuses it with how long to wait.
    pub fn check(&self, key: &str) -> Result<(), RateLimited> {
        self.check_at(key, self.clock.now())
    }

    /// [`RateLimiter::check`] at a given time on the limiter's clock, so that callers holding
    /// their own time (and tests) decide without the clock.
    pub fn check_at(&self, key: &str, now: Duration) -> Result<(), RateLimited> {
        let mut due = self.due.lock().unwrap_or_else(|p| p.into_inner());
        let next = due.get(key).copied().unwrap_or(now).max(now);
        let ahead = next - now;
        if ahead > self.tolerance {
            return Err(RateLimited {
                retry_after: ahead - self.tolerance,
            });
        }
        if due.len() >= PRUNE_ABOVE_KEYS && !due.contains_key(key) {
            due.retain(|_, next| *next > now);
        }
        due.insert(key.to_owned(), next + self.interval);
        Ok(())
    }

    /// Forgets `key`'s history, e.g. after a successful sign-in.
    pub fn reset(&self, key: &str) {
        self.due
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// Number of keys being tracked.
    pub fn tracked_keys(&self) -> usize {
        self.due.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}
