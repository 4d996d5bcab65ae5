//! The payment processors' webhooks (P-BILL-3): `POST /api/v1/billing/webhooks/stripe` and
//! `/creem`. The signature is checked over the raw body before anything is parsed; an event is
//! applied once by its id (a replay answers 200 and changes nothing); an event that has no effect
//! (unknown type, unknown checkout, a deleted buyer) is recorded with a stable code and answered
//! 200 so the processor stops resending it. Logs name the event, never a secret or a signature.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use reelsmith_billing::events::{self, Resolution};
use reelsmith_billing::{creem, stripe, SignatureError};
use reelsmith_config::Processor;
use reelsmith_store::EventOutcome;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use reelsmith_core::Code;

fn refused(processor: &str, e: &SignatureError) -> ApiError {
    tracing::warn!(processor, code = %e.code(), "billing webhook refused: {e}");
    ApiError::new(StatusCode::BAD_REQUEST, e.code(), e.to_string())
}

fn not_enabled() -> ApiError {
    ApiError::of(
        Code::BillingProcessorOff,
        "this payment processor is not configured here",
    )
}

fn malformed(processor: &str, err: &dyn std::fmt::Display) -> ApiError {
    tracing::warn!(processor, error = %err, "billing webhook body cannot be read");
    ApiError::of(Code::BillingMalformedEvent, "the event cannot be read")
}

#[utoipa::path(post, path = "/api/v1/billing/webhooks/stripe", tag = "billing",
    request_body(content = Object, description = "a Stripe event, signed in `Stripe-Signature`"),
    responses((status = 200, body = Object, description = "received: `outcome` is `applied`, `duplicate` or a stable code for an event without effect"),
        (status = 400, body = crate::error::Problem, description = "`billing.signature_missing`, `billing.signature_malformed`, `billing.signature_stale`, `billing.signature_mismatch`, `billing.malformed_event`"),
        (status = 404, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem, description = "`billing.payment_not_yet_recorded`: a refund or receipt before its payment; not recorded, so the retry applies it")))]
pub async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let b = &state.config.billing;
    let secret = match (&b.processor, &b.stripe.webhook_secret) {
        (Processor::Stripe, Some(secret)) => secret,
        _ => return Err(not_enabled()),
    };
    let header = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    stripe::verify_signature(
        header,
        &body,
        secret.expose(),
        b.stripe.tolerance_seconds,
        state.clock.now() / 1000,
    )
    .map_err(|e| refused("stripe", &e))?;
    let event: stripe::Event =
        serde_json::from_slice(&body).map_err(|e| malformed("stripe", &e))?;
    let now = state.clock.now();
    let resolution = events::stripe(&state.db, b, &event.kind, &event.data.object, now).await?;
    settle(&state, "stripe", &event.id, &event.kind, resolution, now).await
}

#[utoipa::path(post, path = "/api/v1/billing/webhooks/creem", tag = "billing",
    request_body(content = Object, description = "a Creem event, signed in `creem-signature`"),
    responses((status = 200, body = Object), (status = 400, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem, description = "`billing.payment_not_yet_recorded`")))]
pub async fn creem_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let b = &state.config.billing;
    let secret = match (&b.processor, &b.creem.webhook_secret) {
        (Processor::Creem, Some(secret)) => secret,
        _ => return Err(not_enabled()),
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signed = creem::SignatureHeaders {
        creem_signature: header("creem-signature").or_else(|| header("x-creem-signature")),
        webhook_id: header("webhook-id"),
        webhook_timestamp: header("webhook-timestamp"),
        webhook_signature: header("webhook-signature"),
    };
    creem::verify(
        &signed,
        &body,
        secret.expose(),
        b.creem.tolerance_seconds,
        state.clock.now() / 1000,
    )
    .map_err(|e| refused("creem", &e))?;
    let event: creem::Event = serde_json::from_slice(&body).map_err(|e| malformed("creem", &e))?;
    let now = state.clock.now();
    let resolution = events::creem(&state.db, b, &event.kind, &event.object, now).await?;
    settle(&state, "creem", &event.id, &event.kind, resolution, now).await
}

async fn settle(
    state: &AppState,
    processor: &'static str,
    event_id: &str,
    kind: &str,
    resolution: Resolution,
    now: i64,
) -> ApiResult<Json<Value>> {
    let outcome = match resolution {
        Resolution::Later(code) => {
            // Not recorded: the processor retries a non-2xx answer, by then in order.
            tracing::info!(
                processor,
                event_id,
                kind,
                outcome = code.as_str(),
                "billing event deferred"
            );
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                code,
                "this event refers to a payment not recorded yet; send it again later",
            ));
        }
        Resolution::Ignore(code) => {
            let seen = state
                .db
                .record_billing_event(processor, event_id, kind, code, now)
                .await?;
            tracing::info!(
                processor,
                event_id,
                kind,
                outcome = code,
                "billing event without effect"
            );
            return Ok(Json(json!({
                "received": true,
                "outcome": if seen == EventOutcome::Duplicate { "duplicate" } else { code },
            })));
        }
        Resolution::Apply {
            change,
            cancel_subscription,
        } => {
            let outcome = state
                .db
                .apply_billing_event(processor, event_id, kind, &change, now)
                .await?;
            if outcome == EventOutcome::Applied {
                if let Some(subscription) = cancel_subscription {
                    cancel_replaced(state, processor, &subscription).await;
                }
            }
            outcome
        }
    };
    let outcome = match outcome {
        EventOutcome::Applied => "applied",
        EventOutcome::Duplicate => "duplicate",
    };
    tracing::info!(processor, event_id, kind, outcome, "billing event");
    Ok(Json(json!({ "received": true, "outcome": outcome })))
}

/// Lifetime replaced a subscription: end it at the processor so it is not billed again. A
/// failure is logged for the operator; the plan here has already changed.
async fn cancel_replaced(state: &AppState, processor: &str, subscription: &str) {
    if processor != "stripe" {
        tracing::warn!(
            processor,
            subscription,
            "a subscription replaced by Lifetime must be cancelled in the processor's dashboard"
        );
        return;
    }
    if let Some(client) = crate::billing::stripe_client(state) {
        if let Err(e) = client.cancel_subscription(subscription).await {
            tracing::warn!(subscription, error = %e, "cannot cancel the subscription Lifetime replaced; cancel it in Stripe's dashboard");
        }
    }
}
