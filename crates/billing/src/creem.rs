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
}
