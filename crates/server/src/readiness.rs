//! Answers about dependencies that are down: `/readyz` within a bounded time, and the 503 with
//! `Retry-After` every API route gives while the database cannot be reached.

use std::time::Duration;

use reelsmith_core::{Code, ErrorCode};
use reelsmith_store::StoreError;

use crate::error::ApiError;

/// The longest `/readyz` waits for one dependency: a load balancer's probe must get an answer
/// (naming what is down) well before its own timeout, whatever the dependency does.
pub const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// What a client is told to wait before trying again while the database is down.
pub const UNAVAILABLE_RETRY_AFTER_SECONDS: u64 = 5;

/// The answer for any request that needed the database while it is unreachable. The cause goes
/// to the log only: it may name hosts.
pub fn database_unavailable(err: &StoreError) -> ApiError {
    tracing::warn!(code = %err.code(), error = %err, "database unavailable");
    ApiError {
        retry_after: Some(UNAVAILABLE_RETRY_AFTER_SECONDS),
        ..ApiError::of(
            Code::ServiceUnavailable,
            "the service is briefly unavailable; try again shortly",
        )
    }
}

/// The outcome of one dependency's probe: `Err` carries the cause, for the log.
pub async fn probe<F, E>(check: F) -> Result<(), String>
where
    F: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    match tokio::time::timeout(READINESS_TIMEOUT, check).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!(
            "no answer within {} ms",
            READINESS_TIMEOUT.as_millis()
        )),
    }
}
