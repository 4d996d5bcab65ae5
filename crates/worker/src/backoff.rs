//! When a job that failed with an error of ours is tried again.

use std::time::Duration;

/// The first retry waits about this long; each later one doubles it.
pub const BASE_DELAY: Duration = Duration::from_secs(5);
/// No retry waits longer than this.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);

/// The delay before the attempt after `attempts` failed ones: exponential in the attempt, capped,
/// and jittered to between 75 % and 125 % so jobs that failed together (a storage outage) do
/// not all come back at the same instant.
pub fn retry_delay(attempts: i64, jitter: f64) -> Duration {
    let exponent = attempts.saturating_sub(1).clamp(0, 20) as u32;
    let nominal = BASE_DELAY
        .saturating_mul(1u32 << exponent.min(20))
        .min(MAX_DELAY);
    let factor = 0.75 + 0.5 * jitter.clamp(0.0, 1.0);
    nominal.mul_f64(factor)
}

/// Whether the failed attempt was the last one allowed.
pub fn attempts_exhausted(attempts: i64, max_attempts: u32) -> bool {
    attempts >= i64::from(max_attempts.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_per_attempt_within_the_jitter_band() {
        assert_eq!(retry_delay(1, 0.5), BASE_DELAY);
        assert_eq!(retry_delay(2, 0.5), BASE_DELAY * 2);
        assert_eq!(retry_delay(3, 0.5), BASE_DELAY * 4);
        assert_eq!(retry_delay(1, 0.0), BASE_DELAY.mul_f64(0.75));
        assert_eq!(retry_delay(1, 1.0), BASE_DELAY.mul_f64(1.25));
    }

    #[test]
    fn capped_and_never_negative() {
        assert_eq!(retry_delay(40, 0.5), MAX_DELAY);
        assert_eq!(retry_delay(0, 0.5), BASE_DELAY);
        assert_eq!(retry_delay(-3, 0.5), BASE_DELAY);
    }

    #[test]
    fn exhausted_after_the_configured_attempts() {
        assert!(!attempts_exhausted(1, 3));
        assert!(!attempts_exhausted(2, 3));
        assert!(attempts_exhausted(3, 3));
        assert!(attempts_exhausted(1, 0));
    }
}
