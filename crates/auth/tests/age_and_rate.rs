//! The age statement (P-ACC-7) and the in-process rate limiter (P-SEC-7).

use std::sync::Arc;
use std::time::Duration;

use reelsmith_auth::age::year_of_unix_seconds;
use reelsmith_auth::{check_age, AgeStatement, ManualClock, RateLimiter};
use reelsmith_core::ErrorCode;

#[test]
fn p_acc_7_those_who_say_they_are_younger_than_the_minimum_are_refused() {
    let error = check_age(AgeStatement::AtLeast(12), 13, 2026).unwrap_err();
    assert_eq!(error.code(), "auth.too_young");
    assert!(error.is_client_error());
    assert!(check_age(AgeStatement::AtLeast(13), 13, 2026).is_ok());
    assert!(check_age(AgeStatement::AtLeast(18), 16, 2026).is_ok());
    assert_eq!(
        check_age(AgeStatement::AtLeast(15), 16, 2026)
            .unwrap_err()
            .code(),
        "auth.too_young"
    );
}

#[test]
fn p_acc_7_a_birth_year_counts_the_youngest_age_it_allows() {
    // Born 2012: 13 or 14 during 2026, surely at least 13.
    assert!(check_age(AgeStatement::BirthYear(2012), 13, 2026).is_ok());
    // Born 2013: 12 or 13 during 2026; not proven.
    assert_eq!(
        check_age(AgeStatement::BirthYear(2013), 13, 2026)
            .unwrap_err()
            .code(),
        "auth.too_young"
    );
    assert_eq!(
        check_age(AgeStatement::BirthYear(2020), 13, 2026)
            .unwrap_err()
            .code(),
        "auth.too_young"
    );
    // The operator's minimum is honoured.
    assert!(check_age(AgeStatement::BirthYear(2009), 16, 2026).is_ok());
    assert!(check_age(AgeStatement::BirthYear(2010), 16, 2026).is_err());
}

#[test]
fn implausible_birth_years_are_refused() {
    for year in [2027, 1800, i32::MIN, i32::MAX] {
        assert_eq!(
            check_age(AgeStatement::BirthYear(year), 13, 2026)
                .unwrap_err()
                .code(),
            "auth.invalid_age_statement",
            "{year}"
        );
    }
}

#[test]
fn the_year_is_derived_from_unix_time() {
    assert_eq!(year_of_unix_seconds(0), 1970);
    assert_eq!(year_of_unix_seconds(951_782_399), 2000); // 2000-02-28T23:59:59Z
    assert_eq!(year_of_unix_seconds(978_307_199), 2000); // 2000-12-31T23:59:59Z
    assert_eq!(year_of_unix_seconds(978_307_200), 2001); // 2001-01-01T00:00:00Z
    assert_eq!(year_of_unix_seconds(1_767_225_599), 2025); // 2025-12-31T23:59:59Z
    assert_eq!(year_of_unix_seconds(1_767_225_600), 2026);
}

#[test]
fn p_sec_7_a_burst_of_count_then_one_per_interval() {
    let clock = Arc::new(ManualClock::default());
    let limiter = RateLimiter::with_clock(5, Duration::from_secs(60), Arc::clone(&clock));
    for _ in 0..5 {
        limiter.check("1.2.3.4").unwrap();
    }
    let refused = limiter.check("1.2.3.4").unwrap_err();
    assert_eq!(refused.code_str(), "auth.rate_limited");
    assert_eq!(refused.retry_after, Duration::from_secs(12));
    // Other keys are unaffected.
    limiter.check("5.6.7.8").unwrap();
    // After one interval exactly one more event is allowed.
    clock.advance(Duration::from_secs(12));
    limiter.check("1.2.3.4").unwrap();
    assert!(limiter.check("1.2.3.4").is_err());
    // After a whole window the full burst is back.
    clock.advance(Duration::from_secs(60));
    for _ in 0..5 {
        limiter.check("1.2.3.4").unwrap();
    }
    assert!(limiter.check("1.2.3.4").is_err());
}

/// The probe got 20 guesses through in 13 s with fixed windows: 10 before a boundary and 10
/// after. A bucket drained just before a boundary gets only what refills.
#[test]
fn p_sec_7_no_burst_across_a_window_boundary() {
    let limiter = RateLimiter::new(10, Duration::from_secs(60));
    let boundary = Duration::from_secs(600);
    let mut allowed = 0;
    let mut t = boundary - Duration::from_secs(3);
    while t < boundary + Duration::from_secs(10) {
        allowed += usize::from(limiter.check_at("guesser", t).is_ok());
        t += Duration::from_millis(500);
    }
    // The burst of 10, then one more every 6 s (at +6 s and +12 s).
    assert_eq!(allowed, 12);
}

#[test]
fn refused_attempts_do_not_extend_the_wait() {
    let clock = Arc::new(ManualClock::default());
    let limiter = RateLimiter::with_clock(2, Duration::from_secs(10), Arc::clone(&clock));
    limiter.check("k").unwrap();
    limiter.check("k").unwrap();
    for _ in 0..100 {
        assert!(limiter.check("k").is_err());
    }
    clock.advance(Duration::from_secs(5));
    limiter.check("k").unwrap();
}

#[test]
fn reset_forgets_a_key_and_refilled_keys_are_pruned() {
    let clock = Arc::new(ManualClock::default());
    let limiter = RateLimiter::with_clock(1, Duration::from_secs(10), Arc::clone(&clock));
    limiter.check("k").unwrap();
    assert!(limiter.check("k").is_err());
    limiter.reset("k");
    limiter.check("k").unwrap();

    for i in 0..10_000 {
        limiter.check(&format!("flood-{i}")).unwrap();
    }
    assert_eq!(limiter.tracked_keys(), 10_001);
    clock.advance(Duration::from_secs(11));
    limiter.check("one-more").unwrap();
    assert_eq!(limiter.tracked_keys(), 1);
}

trait CodeStr {
    fn code_str(&self) -> &'static str;
}

impl<E: ErrorCode> CodeStr for E {
    fn code_str(&self) -> &'static str {
        self.code().as_str()
    }
}
