//! Replicate webhooks (the Standard Webhooks scheme): HMAC-SHA256 with the account's signing
//! secret (`whsec_<base64>`, from `GET /v1/webhooks/default/secret`) over
//! `webhook-id.webhook-timestamp.body`, sent base64 in `webhook-signature` as one or more
//! space-separated `v1,<sig>` entries (several during secret rotation).
//! Source: https://replicate.com/docs/topics/webhooks/verify-webhook

use super::{check_time, header, WebhookError};
use crate::Secret;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The HMAC key from a `whsec_...` secret.
fn key_bytes(secret: &Secret) -> Result<Vec<u8>, WebhookError> {
    let raw = secret.expose();
    let b64 = raw.strip_prefix("whsec_").unwrap_or(raw);
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| WebhookError::BadKeys("the signing secret is not whsec_<base64>".into()))
}

/// The base64 signature for one webhook, as Replicate computes it.
pub fn sign(
    secret: &Secret,
    id: &str,
    timestamp: &str,
    body: &[u8],
) -> Result<String, WebhookError> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key_bytes(secret)?)
        .map_err(|e| WebhookError::BadKeys(e.to_string()))?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

/// Verifies a Replicate webhook; returns its `webhook-id` (for de-duplicating redeliveries).
pub fn verify(
    secret: &Secret,
    headers: &[(&str, &str)],
    body: &[u8],
    now_unix: i64,
) -> Result<String, WebhookError> {
    let id = header(headers, "webhook-id")?;
    let timestamp = header(headers, "webhook-timestamp")?;
    let signatures = header(headers, "webhook-signature")?;
    check_time(timestamp, now_unix)?;
    let expected = sign(secret, id, timestamp, body)?;
    let matched = signatures
        .split_whitespace()
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .any(|(_, sig)| bool::from(sig.as_bytes().ct_eq(expected.as_bytes())));
    if matched {
        Ok(id.to_string())
    } else {
        Err(WebhookError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn secret() -> Secret {
        Secret::new(format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(b"a-32-byte-signing-secret-for-tst")
        ))
    }

    #[test]
    fn matches_the_standard_webhooks_test_vector() {
        // The Standard Webhooks reference vector (also in Replicate's docs' libraries).
        let s = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let sig = sign(
            &s,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_good_signature_is_accepted_among_several() {
        let body = br#"{"id":"p1","status":"succeeded"}"#;
        let ts = (NOW - 10).to_string();
        let good = sign(&secret(), "msg_1", &ts, body).unwrap();
        let sigs = format!("v1,AAAAbad= v1,{good}");
        let h = [
            ("webhook-id", "msg_1"),
            ("Webhook-Timestamp", ts.as_str()),
            ("webhook-signature", sigs.as_str()),
        ];
        assert_eq!(verify(&secret(), &h, body, NOW).unwrap(), "msg_1");
    }

    #[test]
    fn bad_signatures_are_refused() {
        let body = br#"{"id":"p1"}"#;
        let ts = NOW.to_string();
        let good = format!("v1,{}", sign(&secret(), "msg_1", &ts, body).unwrap());
        let h = [
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", ts.as_str()),
            ("webhook-signature", good.as_str()),
        ];
        assert_eq!(
            verify(&secret(), &h, br#"{"id":"p2"}"#, NOW),
            Err(WebhookError::BadSignature),
            "changed body"
        );
        let other = Secret::new(format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(b"another-secret")
        ));
        assert_eq!(
            verify(&other, &h, body, NOW),
            Err(WebhookError::BadSignature),
            "other secret"
        );
        let v2 = good.replace("v1,", "v2,");
        let h2 = [
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", ts.as_str()),
            ("webhook-signature", v2.as_str()),
        ];
        assert_eq!(
            verify(&secret(), &h2, body, NOW),
            Err(WebhookError::BadSignature),
            "unknown version"
        );
        let h3 = [
            ("webhook-id", "msg_2"),
            ("webhook-timestamp", ts.as_str()),
            ("webhook-signature", good.as_str()),
        ];
        assert_eq!(
            verify(&secret(), &h3, body, NOW),
            Err(WebhookError::BadSignature),
            "other id"
        );
    }

    #[test]
    fn stale_webhooks_are_refused() {
        let body = b"{}";
        let ts = (NOW + 400).to_string();
        let good = format!("v1,{}", sign(&secret(), "msg_1", &ts, body).unwrap());
        let h = [
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", ts.as_str()),
            ("webhook-signature", good.as_str()),
        ];
        assert_eq!(verify(&secret(), &h, body, NOW), Err(WebhookError::Stale));
    }
}
