//! fal.ai webhooks: an Ed25519 signature (hex, `X-Fal-Webhook-Signature`) over
//! `request_id \n user_id \n timestamp \n hex(sha256(body))`, checked against the public keys
//! fal publishes as a JWKS (`keys[].x`, base64url). The key set URL is configurable
//! ([`DEFAULT_JWKS_URL`]); fal rotates keys, so any key of the set may match.
//! Source: https://docs.fal.ai/model-apis/model-endpoints/webhooks ("Verifying your webhook").

use super::{check_time, header, WebhookError};
use base64::Engine;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

pub const DEFAULT_JWKS_URL: &str = "https://rest.fal.ai/.well-known/jwks.json";

/// fal's webhook verification keys.
#[derive(Debug, Clone)]
pub struct FalKeySet {
    keys: Vec<VerifyingKey>,
}

impl FalKeySet {
    pub fn new(keys: Vec<VerifyingKey>) -> Self {
        FalKeySet { keys }
    }

    /// Parses the JWKS document: `{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "<b64url>"}]}`.
    /// Keys of another type are skipped; a set with no usable key is an error.
    pub fn from_jwks(json: &[u8]) -> Result<Self, WebhookError> {
        let doc: serde_json::Value =
            serde_json::from_slice(json).map_err(|e| WebhookError::BadKeys(e.to_string()))?;
        let list = doc
            .get("keys")
            .and_then(|k| k.as_array())
            .ok_or_else(|| WebhookError::BadKeys("no keys array".into()))?;
        let mut keys = Vec::new();
        for k in list {
            let crv = k.get("crv").and_then(|v| v.as_str());
            if crv.is_some_and(|c| c != "Ed25519") {
                continue;
            }
            let Some(x) = k.get("x").and_then(|v| v.as_str()) else {
                continue;
            };
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(x.trim_end_matches('='))
                .map_err(|e| WebhookError::BadKeys(format!("x is not base64url: {e}")))?;
            let bytes: [u8; 32] = raw
                .try_into()
                .map_err(|_| WebhookError::BadKeys("x is not 32 bytes".into()))?;
            keys.push(
                VerifyingKey::from_bytes(&bytes)
                    .map_err(|e| WebhookError::BadKeys(e.to_string()))?,
            );
        }
        if keys.is_empty() {
            return Err(WebhookError::BadKeys("no Ed25519 key in the set".into()));
        }
        Ok(FalKeySet { keys })
    }

    /// Fetches the key set from `url` (the server caches it; fal says up to 24 hours).
    pub async fn fetch(client: &reqwest::Client, url: &str) -> Result<Self, WebhookError> {
        let resp = client
            .get(url)
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| {
                WebhookError::BadKeys(format!("fetching the key set: {}", e.without_url()))
            })?;
        let body = resp
            .bytes()
            .await
            .map_err(|e| WebhookError::BadKeys(e.to_string()))?;
        Self::from_jwks(&body)
    }
}

/// The bytes fal signs.
pub fn signed_message(request_id: &str, user_id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    format!(
        "{request_id}\n{user_id}\n{timestamp}\n{}",
        hex::encode(Sha256::digest(body))
    )
    .into_bytes()
}

/// A fal webhook whose headers are all present, well formed and fresh, not yet checked against
/// the key set. Splitting this from [`SignedWebhook::verify`] lets the server refuse a post
/// that could never verify before it spends anything (a key-set fetch) on it.
#[derive(Debug, Clone)]
pub struct SignedWebhook {
    request_id: String,
    message: Vec<u8>,
    signature: Signature,
}

impl SignedWebhook {
    /// Reads the four headers and checks the timestamp window and the signature's form.
    pub fn parse(
        headers: &[(&str, &str)],
        body: &[u8],
        now_unix: i64,
    ) -> Result<SignedWebhook, WebhookError> {
        let request_id = header(headers, "x-fal-webhook-request-id")?;
        let user_id = header(headers, "x-fal-webhook-user-id")?;
        let timestamp = header(headers, "x-fal-webhook-timestamp")?;
        let signature = header(headers, "x-fal-webhook-signature")?;
        check_time(timestamp, now_unix)?;
        let sig_bytes: [u8; 64] = hex::decode(signature.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(WebhookError::BadHeader("x-fal-webhook-signature"))?;
        Ok(SignedWebhook {
            request_id: request_id.to_owned(),
            message: signed_message(request_id, user_id, timestamp, body),
            signature: Signature::from_bytes(&sig_bytes),
        })
    }

    /// Checks the signature against every key of the set; returns the request id.
    pub fn verify(&self, keys: &FalKeySet) -> Result<String, WebhookError> {
        if keys
            .keys
            .iter()
            .any(|k| k.verify_strict(&self.message, &self.signature).is_ok())
        {
            Ok(self.request_id.clone())
        } else {
            Err(WebhookError::BadSignature)
        }
    }
}

/// Verifies a fal webhook; returns the request id it is about.
pub fn verify(
    keys: &FalKeySet,
    headers: &[(&str, &str)],
    body: &[u8],
    now_unix: i64,
) -> Result<String, WebhookError> {
    SignedWebhook::parse(headers, body, now_unix)?.verify(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    const NOW: i64 = 1_800_000_000;

    fn keypair(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn jwks_for(keys: &[&SigningKey]) -> Vec<u8> {
        let list: Vec<_> = keys
            .iter()
            .map(|k| {
                serde_json::json!({"kty": "OKP", "crv": "Ed25519", "kid": "k",
                    "x": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(k.verifying_key().as_bytes())})
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({ "keys": list })).unwrap()
    }

    fn signed(key: &SigningKey, body: &[u8], ts: i64) -> Vec<(String, String)> {
        let ts = ts.to_string();
        let sig = key.sign(&signed_message("req-1", "user-9", &ts, body));
        vec![
            ("X-Fal-Webhook-Request-Id".into(), "req-1".into()),
            ("X-Fal-Webhook-User-Id".into(), "user-9".into()),
            ("X-Fal-Webhook-Timestamp".into(), ts),
            (
                "X-Fal-Webhook-Signature".into(),
                hex::encode(sig.to_bytes()),
            ),
        ]
    }

    fn refs(h: &[(String, String)]) -> Vec<(&str, &str)> {
        h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    #[test]
    fn a_good_signature_from_any_key_of_the_set_is_accepted() {
        let (old, new) = (keypair(1), keypair(2));
        let keys = FalKeySet::from_jwks(&jwks_for(&[&old, &new])).unwrap();
        let body = br#"{"request_id":"req-1","status":"OK","payload":{}}"#;
        let h = signed(&new, body, NOW - 100);
        assert_eq!(verify(&keys, &refs(&h), body, NOW).unwrap(), "req-1");
    }

    #[test]
    fn bad_signatures_are_refused() {
        let good = keypair(1);
        let keys = FalKeySet::from_jwks(&jwks_for(&[&good])).unwrap();
        let body = br#"{"status":"OK"}"#;
        // Signed by a key not in the set.
        let h = signed(&keypair(3), body, NOW);
        assert_eq!(
            verify(&keys, &refs(&h), body, NOW),
            Err(WebhookError::BadSignature)
        );
        // Body changed after signing.
        let h = signed(&good, body, NOW);
        assert_eq!(
            verify(&keys, &refs(&h), br#"{"status":"ERROR"}"#, NOW),
            Err(WebhookError::BadSignature)
        );
        // Another request id than the one signed.
        let mut h2 = signed(&good, body, NOW);
        h2[0].1 = "req-2".into();
        assert_eq!(
            verify(&keys, &refs(&h2), body, NOW),
            Err(WebhookError::BadSignature)
        );
        // Not hex.
        let mut h3 = signed(&good, body, NOW);
        h3[3].1 = "zz".into();
        assert_eq!(
            verify(&keys, &refs(&h3), body, NOW),
            Err(WebhookError::BadHeader("x-fal-webhook-signature"))
        );
    }

    #[test]
    fn stale_or_incomplete_webhooks_are_refused() {
        let good = keypair(1);
        let keys = FalKeySet::from_jwks(&jwks_for(&[&good])).unwrap();
        let body = b"{}";
        let h = signed(&good, body, NOW - 301);
        assert_eq!(
            verify(&keys, &refs(&h), body, NOW),
            Err(WebhookError::Stale)
        );
        let h = signed(&good, body, NOW);
        let missing: Vec<_> = refs(&h)
            .into_iter()
            .filter(|(k, _)| !k.ends_with("User-Id"))
            .collect();
        assert_eq!(
            verify(&keys, &missing, body, NOW),
            Err(WebhookError::MissingHeader("x-fal-webhook-user-id"))
        );
    }

    #[test]
    fn key_sets_without_ed25519_keys_are_refused() {
        assert!(FalKeySet::from_jwks(br#"{"keys": []}"#).is_err());
        assert!(FalKeySet::from_jwks(
            br#"{"keys": [{"kty": "RSA", "crv": "P-256", "x": "AAAA"}]}"#
        )
        .is_err());
        assert!(FalKeySet::from_jwks(b"nope").is_err());
    }
}
