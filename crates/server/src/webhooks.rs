//! Webhooks from providers: a signed "this request ended" that wakes the waiting job at once
//! instead of at its next poll. Polling stays the fallback, so a lost webhook only costs time.
//!
//! Nothing in a webhook is trusted but the fact that it came from the provider: after the
//! signature checks out (fal: Ed25519 against the configured key set; Replicate: the Standard
//! Webhooks HMAC), the job is only woken, and the worker asks the provider itself for the result.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use reelsmith_core::{Code, ErrorCode};
use reelsmith_jobs::WEBHOOK_EVENT;
use reelsmith_providers::webhook::{fal, kie, replicate, WebhookError};
use reelsmith_providers::Secret;
use reelsmith_store::now_ms;
use serde_json::{json, Value};
use tokio::sync::Mutex;
use tracing::{info, warn};

use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// fal's key set, fetched on first use and again when a signature does not match, but never
/// more often than once per [`REFETCH_FLOOR`], whatever is posted: a stream of forged or
/// unknown-key webhooks costs at most one outbound fetch per period, and a failed fetch counts
/// too, so an unreachable key server is not hammered either. The mutex makes concurrent posts
/// wait for one fetch instead of each starting their own.
#[derive(Default)]
pub struct FalKeys {
    cached: Mutex<FalCache>,
}

#[derive(Default)]
struct FalCache {
    keys: Option<fal::FalKeySet>,
    /// When the last fetch was tried (on `AppState::clock`), successful or not.
    tried_at_ms: Option<i64>,
}

/// The shortest time between two fetches of fal's key set.
pub const REFETCH_FLOOR: Duration = Duration::from_secs(5 * 60);

impl FalKeys {
    async fn get(
        &self,
        url: &str,
        refresh: bool,
        now_ms: i64,
    ) -> Result<fal::FalKeySet, WebhookError> {
        let mut cache = self.cached.lock().await;
        let floor_ms = REFETCH_FLOOR.as_millis() as i64;
        let due = cache.tried_at_ms.is_none_or(|at| now_ms - at >= floor_ms);
        match &cache.keys {
            Some(keys) if !refresh || !due => return Ok(keys.clone()),
            None if !due => {
                return Err(WebhookError::BadKeys(
                    "the key set could not be fetched recently; try again later".into(),
                ))
            }
            _ => {}
        }
        cache.tried_at_ms = Some(now_ms);
        let client = reqwest::Client::new();
        let keys = fal::FalKeySet::fetch(&client, url).await?;
        cache.keys = Some(keys.clone());
        Ok(keys)
    }
}

pub type SharedFalKeys = Arc<FalKeys>;

fn header_pairs(headers: &HeaderMap) -> Vec<(&str, &str)> {
    headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
        .collect()
}

fn unix_now() -> i64 {
    now_ms() / 1000
}

fn refused(err: WebhookError) -> ApiError {
    match err {
        WebhookError::BadKeys(_) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, err.code(), err.to_string())
        }
        other => {
            warn!(code = %other.code(), "webhook refused");
            ApiError::new(StatusCode::UNAUTHORIZED, other.code(), other.to_string())
        }
    }
}

/// `POST /api/v1/webhooks/fal`
pub async fn fal_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let account = &state.config.providers.fal;
    if !state.config.providers.is_enabled("fal") {
        return Err(ApiError::not_found("webhook"));
    }
    let url = account
        .webhook_jwks_url
        .as_deref()
        .unwrap_or(fal::DEFAULT_JWKS_URL);
    // Headers, timestamp window and signature form first: a post that cannot verify costs no
    // outbound request.
    let signed =
        fal::SignedWebhook::parse(&header_pairs(&headers), &body, unix_now()).map_err(refused)?;
    let now = state.clock.now();
    let keys = state.fal_keys.get(url, false, now).await.map_err(refused)?;
    let request_id = match signed.verify(&keys) {
        Ok(id) => id,
        Err(WebhookError::BadSignature) => {
            let keys = state.fal_keys.get(url, true, now).await.map_err(refused)?;
            signed.verify(&keys).map_err(refused)?
        }
        Err(e) => return Err(refused(e)),
    };
    wake(&state, "fal", &request_id).await?;
    Ok(StatusCode::OK)
}

/// `POST /api/v1/webhooks/replicate`
pub async fn replicate_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let secret = match &state.config.providers.replicate.webhook_secret {
        Some(s) if state.config.providers.is_enabled("replicate") => {
            Secret::new(s.expose().clone())
        }
        _ => return Err(ApiError::not_found("webhook")),
    };
    replicate::verify(&secret, &header_pairs(&headers), &body, unix_now()).map_err(refused)?;
    // The prediction is the body; its id is what the transfer log recorded.
    let prediction: Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::of(Code::WebhookMalformed, "the body is not a prediction"))?;
    let Some(id) = prediction.get("id").and_then(Value::as_str) else {
        return Err(ApiError::of(
            Code::WebhookMalformed,
            "the prediction has no id",
        ));
    };
    wake(&state, "replicate", id).await?;
    Ok(StatusCode::OK)
}

/// `POST /api/v1/webhooks/kie`: KieAI's completion callback, verified with the operator's
/// `webhookHmacKey` (`providers.kie.webhook_secret`). Its signature covers only the task id and
/// the time, so the body's results are ignored: the woken job re-reads the task at KieAI.
pub async fn kie_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let key = match &state.config.providers.kie.webhook_secret {
        Some(s) if state.config.providers.is_enabled("kie") => Secret::new(s.expose().clone()),
        _ => return Err(ApiError::not_found("webhook")),
    };
    let task_id = kie::verify(&key, &header_pairs(&headers), &body, unix_now()).map_err(refused)?;
    wake(&state, "kie", &task_id).await?;
    Ok(StatusCode::OK)
}

/// Appends the wake-up event to the job that owns the request. A request we do not know is
/// acknowledged anyway (the provider would only retry it), and logged.
async fn wake(state: &AppState, provider: &str, request_id: &str) -> ApiResult<()> {
    match state
        .db
        .job_for_provider_request(provider, request_id)
        .await?
    {
        Some(job_id) => {
            let payload = json!({ "provider": provider, "request_id": request_id });
            state
                .db
                .append_job_event(&job_id, WEBHOOK_EVENT, None, None, Some(&payload), now_ms())
                .await?;
            info!(job = %job_id, provider, request_id, "webhook: job woken");
        }
        None => warn!(provider, request_id, "webhook for a request no job made"),
    }
    Ok(())
}
