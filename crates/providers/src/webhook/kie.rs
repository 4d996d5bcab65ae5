//! KieAI callbacks (https://docs.kie.ai/common-api/webhook-verification): with the account's
//! `webhookHmacKey` switched on, each callback carries `X-Webhook-Timestamp` (Unix seconds) and
//! `X-Webhook-Signature` = base64(HMAC-SHA256(taskId + "." + timestamp, webhookHmacKey)), where
//! taskId is the task id in the callback body.
//!
//! The signature covers the task id and the time only, not the body: nothing else in a callback
//! is believed. It only wakes the job, which then re-reads record-info / recordInfo itself.

use super::{check_time, header, WebhookError};
use crate::Secret;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The signature KieAI sends for `task_id` at `timestamp`.
pub fn sign(key: &Secret, task_id: &str, timestamp: &str) -> Result<String, WebhookError> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose().as_bytes())
        .map_err(|e| WebhookError::BadKeys(e.to_string()))?;
    mac.update(task_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    Ok(base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

/// The task id of a callback body: `data.taskId` (Veo and market callbacks), or `data.task_id`
/// as the verification page's example reads it.
pub fn task_id(body: &[u8]) -> Result<String, WebhookError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| WebhookError::BadHeader("body"))?;
    ["/data/taskId", "/data/task_id", "/taskId"]
        .iter()
        .find_map(|p| v.pointer(p).and_then(Value::as_str))
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .ok_or(WebhookError::BadHeader("body"))
}

/// Verifies a KieAI callback; returns its task id.
pub fn verify(
    key: &Secret,
    headers: &[(&str, &str)],
    body: &[u8],
    now_unix: i64,
) -> Result<String, WebhookError> {
    let timestamp = header(headers, "x-webhook-timestamp")?;
    let signature = header(headers, "x-webhook-signature")?;
    check_time(timestamp, now_unix)?;
    let id = task_id(body)?;
    let expected = sign(key, &id, timestamp.trim())?;
    if bool::from(signature.trim().as_bytes().ct_eq(expected.as_bytes())) {
        Ok(id)
    } else {
        Err(WebhookError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn body(id: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"code": 200, "msg": "ok", "data": {"taskId": id}}))
            .unwrap()
    }

    #[test]
    fn a_signed_callback_passes_and_names_its_task() {
        let key = Secret::new("hmac-key");
        let ts = NOW.to_string();
        let sig = sign(&key, "veo_task_1", &ts).unwrap();
        let h = [
            ("X-Webhook-Timestamp", ts.as_str()),
            ("X-Webhook-Signature", sig.as_str()),
        ];
        assert_eq!(
            verify(&key, &h, &body("veo_task_1"), NOW).unwrap(),
            "veo_task_1"
        );
    }

    #[test]
    fn forged_stale_or_unsigned_callbacks_are_refused() {
        let key = Secret::new("hmac-key");
        let ts = NOW.to_string();
        let sig = sign(&key, "veo_task_1", &ts).unwrap();
        let h = [
            ("X-Webhook-Timestamp", ts.as_str()),
            ("X-Webhook-Signature", sig.as_str()),
        ];
        // Another task id under the same signature.
        assert_eq!(
            verify(&key, &h, &body("veo_task_2"), NOW),
            Err(WebhookError::BadSignature)
        );
        // Signed with another key.
        let forged = sign(&Secret::new("guess"), "veo_task_1", &ts).unwrap();
        let h2 = [
            ("X-Webhook-Timestamp", ts.as_str()),
            ("X-Webhook-Signature", forged.as_str()),
        ];
        assert_eq!(
            verify(&key, &h2, &body("veo_task_1"), NOW),
            Err(WebhookError::BadSignature)
        );
        // Replayed ten minutes later.
        assert_eq!(
            verify(&key, &h, &body("veo_task_1"), NOW + 600),
            Err(WebhookError::Stale)
        );
        // No signature at all.
        assert!(matches!(
            verify(&key, &h[..1], &body("veo_task_1"), NOW),
            Err(WebhookError::MissingHeader(_))
        ));
    }
}
