//! Reelsmith's billing domain (issue 18; P-BILL-1..3): which plan a user is on and what it allows,
//! the monthly grants, and the payment processors (Stripe, Creem): their checkout clients, their
//! webhook signatures and what each of their events changes in the store. No HTTP server here;
//! the server's `billing` modules call this.

// Outside tests a panic is a crashed request or worker: handle the error (see Cargo.toml).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod creem;
pub mod events;
pub mod limits;
pub mod schedule;
pub mod stripe;

pub use limits::{effective_plan, JobFacts, LimitError};

use hmac::{Hmac, KeyInit, Mac};
use reelsmith_core::Code;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// `YYYY-MM` of a Unix time in milliseconds, in UTC: the period of a monthly grant.
pub fn month_key(unix_ms: i64) -> String {
    let (y, m, _) = reelsmith_core::calendar::civil_from_days(unix_ms.div_euclid(86_400_000));
    format!("{y:04}-{m:02}")
}

/// HMAC-SHA256 of `message` under `key`, lower-case hex.
#[expect(clippy::expect_used, reason = "HMAC takes a key of any length")]
pub fn hmac_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts any key");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// Compare two strings without leaking where they first differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Why a webhook was refused before anything was read from it. The codes are stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is missing")]
    Missing,
    #[error("the signature header cannot be read")]
    Malformed,
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
    #[error("no signature matches the body")]
    Mismatch,
}

impl SignatureError {
    pub fn code(&self) -> Code {
        match self {
            SignatureError::Missing => Code::BillingSignatureMissing,
            SignatureError::Malformed => Code::BillingSignatureMalformed,
            SignatureError::Stale => Code::BillingSignatureStale,
            SignatureError::Mismatch => Code::BillingSignatureMismatch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_in_utc() {
        assert_eq!(month_key(0), "1970-01");
        // 2026-12-31T23:59:59Z and a second later.
        assert_eq!(month_key(1_798_761_599_000), "2026-12");
        assert_eq!(month_key(1_798_761_600_000), "2027-01");
        assert_eq!(month_key(951_782_400_000), "2000-02"); // 2000-02-29
    }
}
