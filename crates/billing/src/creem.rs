//! Creem (P-BILL-3): hosted checkouts (`POST /v1/checkouts`, `x-api-key`) and webhooks signed in
//! the `creem-signature` header: the hex HMAC-SHA256 of the raw body under the webhook secret.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::{constant_time_eq, hmac_hex, SignatureError};

/// Check `creem-signature` against the raw body, in constant time.
pub fn verify_signature(
    header: Option<&str>,
    body: &[u8],
    secret: &str,
) -> Result<(), SignatureError> {
    let given = header.ok_or(SignatureError::Missing)?.trim();
    if given.len() != 64 || !given.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SignatureError::Malformed);
    }
    let expected = hmac_hex(secret.as_bytes(), body);
    if constant_time_eq(&given.to_ascii_lowercase(), &expected) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The signature headers of a Creem delivery. Creem signs either with Standard Webhooks
/// (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`, over
/// `id.timestamp.body`, keyed by the base64 part of a `whsec_` secret) or, on older endpoints,
/// with `creem-signature` alone; its official client accepts both, the first when present.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignatureHeaders<'a> {
    pub creem_signature: Option<&'a str>,
    pub webhook_id: Option<&'a str>,
    pub webhook_timestamp: Option<&'a str>,
    pub webhook_signature: Option<&'a str>,
}

/// Check a delivery's signature over the raw body, in constant time. A Standard Webhooks
/// timestamp further than `tolerance_s` from `now_s` is `Stale`.
pub fn verify(
    headers: &SignatureHeaders<'_>,
    body: &[u8],
    secret: &str,
    tolerance_s: u64,
    now_s: i64,
) -> Result<(), SignatureError> {
    let (Some(id), Some(ts), Some(sigs)) = (
        headers.webhook_id,
        headers.webhook_timestamp,
        headers.webhook_signature,
    ) else {
        return verify_signature(headers.creem_signature, body, secret);
    };
    let at: i64 = ts.trim().parse().map_err(|_| SignatureError::Malformed)?;
    if now_s.abs_diff(at) > tolerance_s {
        return Err(SignatureError::Stale);
    }
    let signed = sign_standard(secret, id, at, body);
    let expected = signed.strip_prefix("v1,").unwrap_or(&signed);
    let mut any = false;
    for entry in sigs.split(' ').filter(|e| !e.is_empty()) {
        let Some((version, sig)) = entry.split_once(',') else {
            continue;
        };
        any = true;
        if version == "v1" && constant_time_eq(sig, expected) {
            return Ok(());
        }
    }
    if any {
        Err(SignatureError::Mismatch)
    } else {
        Err(SignatureError::Malformed)
    }
}

/// The Standard Webhooks key: the base64 after `whsec_`, decoded (the raw text if it is not
/// base64, as a lenient decoder would give nothing useful either).
fn standard_key(secret: &str) -> Vec<u8> {
    use base64::Engine;
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap_or_else(|_| b64.as_bytes().to_vec())
}

/// Sign `body` as Creem's Standard Webhooks do: the `webhook-signature` value.
#[expect(clippy::expect_used, reason = "HMAC takes a key of any length")]
pub fn sign_standard(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    use base64::Engine;
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&standard_key(secret))
        .expect("HMAC accepts any key");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// A Creem webhook event.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "eventType")]
    pub kind: String,
    pub object: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum CreemError {
    #[error("Creem cannot be reached: {0}")]
    Unavailable(String),
    #[error("Creem refused the request ({status})")]
    Refused { status: u16 },
    #[error("Creem's answer cannot be read: {0}")]
    Malformed(String),
}

pub struct CreemClient {
    http: reqwest::Client,
    base: String,
    key: String,
}

/// A created checkout: where to send the customer.
#[derive(Debug, Clone, Deserialize)]
pub struct Checkout {
    pub id: String,
    pub checkout_url: String,
}

impl CreemClient {
    #[expect(
        clippy::expect_used,
        reason = "a client with only a timeout set always builds"
    )]
    pub fn new(base: &str, api_key: &str) -> CreemClient {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("a client with a timeout builds");
        CreemClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            key: api_key.to_owned(),
        }
    }

    /// `POST /v1/checkouts` for one product; `reference` (our checkout id) comes back as
    /// `request_id` and in `metadata`.
    pub async fn create_checkout(
        &self,
        product: &str,
        reference: &str,
        email: Option<&str>,
        success_url: &str,
    ) -> Result<Checkout, CreemError> {
        let mut body = json!({
            "product_id": product,
            "request_id": reference,
            "success_url": success_url,
            "metadata": { "checkout_id": reference },
        });
        if let Some(email) = email {
            body["customer"] = json!({ "email": email });
        }
        let reply = self
            .http
            .post(format!("{}/v1/checkouts", self.base))
            .header("x-api-key", &self.key)
            .json(&body)
            .send()
            .await
            .map_err(|e| CreemError::Unavailable(e.without_url().to_string()))?;
        let status = reply.status();
        if status.is_server_error() {
            return Err(CreemError::Unavailable(format!("HTTP {}", status.as_u16())));
        }
        if !status.is_success() {
            return Err(CreemError::Refused {
                status: status.as_u16(),
            });
        }
        reply
            .json::<Checkout>()
            .await
            .map_err(|e| CreemError::Malformed(e.without_url().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_bill_3_creem_signature_is_the_bodys_hmac() {
        let body = br#"{"id":"evt_1","eventType":"checkout.completed","object":{}}"#;
        let sig = hmac_hex(b"whsec_creem", body);
        assert_eq!(verify_signature(Some(&sig), body, "whsec_creem"), Ok(()));
        assert_eq!(
            verify_signature(Some(&sig), b"{}", "whsec_creem"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(None, body, "whsec_creem"),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(Some("xyz"), body, "whsec_creem"),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn p_bill_3_creem_standard_webhooks_signature_with_its_timestamp() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"id":"evt_1","eventType":"checkout.completed","object":{}}"#;
        let sig = sign_standard(secret, "msg_1", 1_700_000_000, body);
        let h = |ts: &'static str, sig: &str| -> Result<(), SignatureError> {
            let headers = SignatureHeaders {
                creem_signature: None,
                webhook_id: Some("msg_1"),
                webhook_timestamp: Some(ts),
                webhook_signature: Some(sig),
            };
            verify(&headers, body, secret, 300, 1_700_000_100)
        };
        assert_eq!(h("1700000000", &sig), Ok(()));
        assert_eq!(h("1700000000", &format!("v1,bm9wZQ== {sig}")), Ok(()));
        assert_eq!(h("1700000001", &sig), Err(SignatureError::Mismatch));
        assert_eq!(h("1699999000", &sig), Err(SignatureError::Stale));
        assert_eq!(h("soon", &sig), Err(SignatureError::Malformed));
        assert_eq!(h("1700000000", "garbage"), Err(SignatureError::Malformed));
        // Without the Standard Webhooks headers, the legacy header decides.
        let legacy = SignatureHeaders {
            creem_signature: Some(&hmac_hex(secret.as_bytes(), body)),
            ..SignatureHeaders::default()
        };
        assert_eq!(verify(&legacy, body, secret, 300, 0), Ok(()));
    }
}
