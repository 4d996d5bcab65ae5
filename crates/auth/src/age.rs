//! The age statement at sign-up (P-ACC-7): a birth year, or a confirmation "I am at least N".

use std::time::{SystemTime, UNIX_EPOCH};

use reelsmith_core::{Code, ErrorCode};

/// Oldest plausible age; a birth year further back is a typo, not a person.
const MAX_PLAUSIBLE_AGE: i64 = 130;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgeStatement {
    BirthYear(i32),
    /// The person ticked "I am at least N years old".
    AtLeast(u8),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AgeError {
    #[error("you must be at least {minimum} years old to use this service")]
    TooYoung { minimum: u8 },
    #[error("the birth year is not plausible")]
    Implausible,
}

impl ErrorCode for AgeError {
    fn code(&self) -> Code {
        match self {
            AgeError::TooYoung { .. } => Code::AuthTooYoung,
            AgeError::Implausible => Code::AuthInvalidAgeStatement,
        }
    }

    fn is_client_error(&self) -> bool {
        true
    }
}

/// Accepts a statement that proves the person is at least `minimum_age`. A birth year alone
/// proves only the youngest age they may be (their birthday may not have come yet this year), so
/// someone turning `minimum_age` during `current_year` is refused until the next year, or can
/// state "at least N" once they are.
pub fn check_age(
    statement: AgeStatement,
    minimum_age: u8,
    current_year: i32,
) -> Result<(), AgeError> {
    // i64: the birth year is user input, and i32 subtraction of extreme years overflows.
    let youngest_possible_age = match statement {
        AgeStatement::AtLeast(age) => i64::from(age),
        AgeStatement::BirthYear(year) => {
            let span = i64::from(current_year) - i64::from(year);
            if !(0..=MAX_PLAUSIBLE_AGE).contains(&span) {
                return Err(AgeError::Implausible);
            }
            span - 1
        }
    };
    if youngest_possible_age >= i64::from(minimum_age) {
        Ok(())
    } else {
        Err(AgeError::TooYoung {
            minimum: minimum_age,
        })
    }
}

/// The current year in UTC, from the system clock.
pub fn current_utc_year() -> i32 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    year_of_unix_seconds(seconds)
}

/// The proleptic Gregorian year containing the given Unix time (days-to-civil conversion).
pub fn year_of_unix_seconds(seconds: u64) -> i32 {
    let days = i64::try_from(seconds / 86_400).unwrap_or(i64::MAX / 2);
    let (year, _, _) = reelsmith_core::calendar::civil_from_days(days);
    i32::try_from(year).unwrap_or(i32::MAX)
}
