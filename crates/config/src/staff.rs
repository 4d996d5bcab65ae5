//! `[staff]`: how moderators and admins prove themselves (P-SEC-5).

use serde::{Deserialize, Serialize};

use crate::sections::RateLimit;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StaffConfig {
    /// Minutes a session's TOTP check (step-up) lets staff act before they are asked again.
    pub step_up_minutes: u32,
    /// TOTP and recovery-code tries per account; beyond it 429 `totp.rate_limited`.
    pub totp_attempts: RateLimit,
    /// The name authenticator apps show for this service's codes.
    pub totp_issuer: String,
}

impl Default for StaffConfig {
    fn default() -> Self {
        StaffConfig {
            step_up_minutes: 15,
            totp_attempts: RateLimit {
                count: 5,
                window_seconds: 15 * 60,
            },
            totp_issuer: "Reelsmith".into(),
        }
    }
}
