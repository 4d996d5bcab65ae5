//! Stripe (P-BILL-3): Checkout Sessions and Customer Portal sessions through its REST API
//! (form-encoded requests, `Authorization: Bearer <secret key>`), and the `Stripe-Signature` of
//! its webhooks: `t=<unix seconds>,v1=<hex>[,v1=<hex>...]`, each `v1` an HMAC-SHA256 of
//! `"{t}.{body}"` under the endpoint's signing secret.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::{constant_time_eq, hmac_hex, SignatureError};

/// Check a `Stripe-Signature` header against the raw body: the timestamp within `tolerance`
/// seconds of `now` (either side), and any one of its `v1` signatures matching, each compared
/// in constant time. Other schemes (`v0`) are ignored, as Stripe's own libraries do.
pub fn verify_signature(
    header: Option<&str>,
    body: &[u8],
    secret: &str,
    tolerance_seconds: u64,
    now_seconds: i64,
) -> Result<i64, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                )
            }
            "v1" => signatures.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Mismatch);
    }
    let mut message = Vec::with_capacity(body.len() + 12);
    message.extend_from_slice(timestamp.to_string().as_bytes());
    message.push(b'.');
    message.extend_from_slice(body);
    let expected = hmac_hex(secret.as_bytes(), &message);
    // Every candidate is compared, not only until the first match, so the time taken does not
    // say which one matched.
    let matched = signatures
        .iter()
        .fold(false, |any, s| constant_time_eq(s, &expected) | any);
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    if now_seconds.abs_diff(timestamp) > tolerance_seconds {
        return Err(SignatureError::Stale);
    }
    Ok(timestamp)
}

/// The header Stripe would send for `body` at `timestamp` (tests and the fake's twin).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut message = format!("{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    format!("t={timestamp},v1={}", hmac_hex(secret.as_bytes(), &message))
}

/// A webhook event, as far as routing it needs.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: EventData,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventData {
    pub object: Value,
}

/// Why a call to Stripe failed. The secret key never appears in these.
#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    #[error("Stripe cannot be reached: {0}")]
    Unavailable(String),
    #[error("Stripe refused the request ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("Stripe's answer cannot be read: {0}")]
    Malformed(String),
}

/// A hosted page to send the customer to.
#[derive(Debug, Clone, Deserialize)]
pub struct Session {
    pub id: String,
    pub url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One payment: credit packs and Lifetime.
    Payment,
    /// A recurring price: Pro.
    Subscription,
}

/// What a checkout sells, and to whom.
#[derive(Debug, Clone)]
pub struct CheckoutRequest<'a> {
    pub mode: Mode,
    pub price: &'a str,
    /// Our checkout id: comes back as `client_reference_id` and in metadata.
    pub reference: &'a str,
    pub customer_email: Option<&'a str>,
    pub customer: Option<&'a str>,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
    /// Unix seconds; Stripe accepts 30 minutes to 24 hours from now.
    pub expires_at: Option<i64>,
}

pub struct StripeClient {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl StripeClient {
    #[expect(
        clippy::expect_used,
        reason = "a client with only a timeout set always builds"
    )]
    pub fn new(base: &str, secret_key: &str) -> StripeClient {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("a client with a timeout builds");
        StripeClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            key: secret_key.to_owned(),
        }
    }

    async fn post(&self, path: &str, form: &[(String, String)]) -> Result<Value, StripeError> {
        let body =
            serde_urlencoded::to_string(form).map_err(|e| StripeError::Malformed(e.to_string()))?;
        let reply = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            // Without the URL: it is ours, but the error's Display may carry it with the query.
            .map_err(|e| StripeError::Unavailable(e.without_url().to_string()))?;
        let status = reply.status();
        let text = reply
            .text()
            .await
            .map_err(|e| StripeError::Unavailable(e.without_url().to_string()))?;
        let value: Value =
            serde_json::from_str(&text).map_err(|e| StripeError::Malformed(e.to_string()))?;
        if status.is_server_error() {
            return Err(StripeError::Unavailable(format!(
                "HTTP {}",
                status.as_u16()
            )));
        }
        if !status.is_success() {
            let message = value["error"]["message"]
                .as_str()
                .unwrap_or("no message")
                .chars()
                .take(300)
                .collect();
            return Err(StripeError::Refused {
                status: status.as_u16(),
                message,
            });
        }
        Ok(value)
    }

    /// `POST /v1/checkout/sessions`.
    pub async fn create_checkout(&self, req: &CheckoutRequest<'_>) -> Result<Session, StripeError> {
        let mut form: Vec<(String, String)> = vec![
            (
                "mode".into(),
                match req.mode {
                    Mode::Payment => "payment",
                    Mode::Subscription => "subscription",
                }
                .into(),
            ),
            ("line_items[0][price]".into(), req.price.into()),
            ("line_items[0][quantity]".into(), "1".into()),
            ("success_url".into(), req.success_url.into()),
            ("cancel_url".into(), req.cancel_url.into()),
            ("client_reference_id".into(), req.reference.into()),
            ("metadata[checkout_id]".into(), req.reference.into()),
        ];
        if req.mode == Mode::Subscription {
            // Invoices of the subscription carry it too, so a renewal names the checkout even
            // when it arrives before checkout.session.completed.
            form.push((
                "subscription_data[metadata][checkout_id]".into(),
                req.reference.into(),
            ));
        } else {
            form.push((
                "payment_intent_data[metadata][checkout_id]".into(),
                req.reference.into(),
            ));
        }
        if let Some(customer) = req.customer {
            form.push(("customer".into(), customer.into()));
        } else if let Some(email) = req.customer_email {
            form.push(("customer_email".into(), email.into()));
        }
        if let Some(at) = req.expires_at {
            form.push(("expires_at".into(), at.to_string()));
        }
        let v = self.post("/v1/checkout/sessions", &form).await?;
        serde_json::from_value(v).map_err(|e| StripeError::Malformed(e.to_string()))
    }

    /// `POST /v1/billing_portal/sessions`: the Customer Portal for managing a subscription.
    pub async fn portal(&self, customer: &str, return_url: &str) -> Result<String, StripeError> {
        let form = vec![
            ("customer".to_owned(), customer.to_owned()),
            ("return_url".to_owned(), return_url.to_owned()),
        ];
        let v = self.post("/v1/billing_portal/sessions", &form).await?;
        v["url"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| StripeError::Malformed("no url".into()))
    }

    /// `DELETE /v1/subscriptions/{id}`: ends a subscription at once (Lifetime replaced it).
    pub async fn cancel_subscription(&self, id: &str) -> Result<(), StripeError> {
        let reply = self
            .http
            .delete(format!("{}/v1/subscriptions/{id}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .map_err(|e| StripeError::Unavailable(e.without_url().to_string()))?;
        if reply.status().is_success() {
            Ok(())
        } else {
            Err(StripeError::Refused {
                status: reply.status().as_u16(),
                message: "cancel subscription".into(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";

    #[test]
    fn p_bill_3_stripe_signature_accepts_any_v1_and_refuses_stale_or_forged() {
        let body = br#"{"id":"evt_1"}"#;
        let now = 1_800_000_000;
        let good = sign(SECRET, now, body);
        assert_eq!(
            verify_signature(Some(&good), body, SECRET, 300, now),
            Ok(now)
        );
        // A second, rolled secret's signature beside the right one still passes.
        let v1 = good.split(",v1=").nth(1).unwrap();
        let two = format!("t={now},v1={},v1={v1},v0=abc", "0".repeat(64));
        assert_eq!(
            verify_signature(Some(&two), body, SECRET, 300, now),
            Ok(now)
        );
        assert_eq!(
            verify_signature(Some(&good), b"{\"id\":\"evt_2\"}", SECRET, 300, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(Some(&good), body, "whsec_other", 300, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(Some(&good), body, SECRET, 300, now + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_signature(None, body, SECRET, 300, now),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(Some("garbage"), body, SECRET, 300, now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(Some(&format!("t={now}")), body, SECRET, 300, now),
            Err(SignatureError::Mismatch)
        );
    }
}
