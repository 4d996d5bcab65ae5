//! `[webhooks]`: outbound webhooks to API users' endpoints (issue 23).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Endpoints one API token may have.
    pub max_endpoints_per_token: u32,
    /// How long one attempt may take (connect, send, answer) before it counts as failed.
    pub timeout_ms: u64,
    /// The first retry's delay; each later one doubles, up to `max_delay_seconds`.
    pub retry_base_ms: u64,
    pub max_delay_seconds: u64,
    /// Attempts before a delivery fails and its endpoint is disabled (the owner is emailed).
    pub max_attempts: u32,
    /// Hours after an event is recorded past which it is not retried any more, whatever
    /// `max_attempts` says.
    pub retry_hours: u64,
    /// How often each worker process looks for due deliveries.
    pub poll_ms: u64,
    /// Allow `http://` endpoints and endpoints on loopback or private addresses. For tests
    /// and closed networks only: it lets API users make the server call inside its network.
    pub allow_insecure: bool,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        // 5 s doubling to 2 h: 24 attempts span a little over a day, and `retry_hours` ends it
        // at 24 hours.
        WebhooksConfig {
            max_endpoints_per_token: 5,
            timeout_ms: 10_000,
            retry_base_ms: 5_000,
            max_delay_seconds: 2 * 60 * 60,
            max_attempts: 24,
            retry_hours: 24,
            poll_ms: 1_000,
            allow_insecure: false,
        }
    }
}
