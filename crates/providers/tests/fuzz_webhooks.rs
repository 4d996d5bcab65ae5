//! Fuzzing the provider webhook checks (issue 23): fal's Ed25519 headers, Replicate's Standard
//! Webhooks headers and KieAI's HMAC headers. For any headers and body: no panic, a refusal
//! with a stable code; a correctly signed webhook within five minutes is accepted whatever else
//! rides along (case of the names, rotated signatures), and any change to what is signed (body,
//! id, timestamp, signature) is refused.
//!
//! Property tests on stable (proptest): `PROPTEST_CASES` sets the number of cases; the seeds in
//! `tests/fuzz/corpus/webhooks/` run first; failures are kept in `proptest-regressions/`.

use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use proptest::prelude::*;
use reelsmith_core::ErrorCode;
use reelsmith_providers::webhook::{fal, kie, replicate, WebhookError};
use reelsmith_providers::Secret;

#[path = "../../../tests/fuzz/config.rs"]
mod fuzz_settings;
use fuzz_settings::fuzz_config;

const NOW: i64 = 1_800_000_000;

fn replicate_secret() -> Secret {
    Secret::new(format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(b"a-32-byte-signing-secret-for-fuz")
    ))
}

fn fal_keys() -> (SigningKey, fal::FalKeySet) {
    let key = SigningKey::from_bytes(&[7; 32]);
    let set = fal::FalKeySet::new(vec![key.verifying_key()]);
    (key, set)
}

fn refs(h: &[(String, String)]) -> Vec<(&str, &str)> {
    h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// A refusal must carry one of the stable client codes.
fn stable(err: &WebhookError) -> Result<(), TestCaseError> {
    prop_assert!(
        matches!(
            err.code().as_str(),
            "webhook.malformed" | "webhook.stale" | "webhook.bad_signature"
        ) && err.is_client_error(),
        "unstable refusal {err:?}"
    );
    Ok(())
}

/// Header values as they come off the wire: numbers of every size, signs, spaces, junk.
fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (NOW - 400..NOW + 400).prop_map(|n| n.to_string()),
        Just(i64::MIN.to_string()),
        Just(i64::MAX.to_string()),
        "[ +-]?[0-9]{0,25}[ ]?",
        "[a-zA-Z0-9+/=,. _-]{0,90}",
        ".{0,40}",
    ]
}

fn header_name() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "webhook-id",
        "Webhook-Timestamp",
        "webhook-signature",
        "x-fal-webhook-request-id",
        "X-Fal-Webhook-User-Id",
        "x-fal-webhook-timestamp",
        "x-fal-webhook-signature",
        "x-webhook-timestamp",
        "X-Webhook-Signature",
        "content-type",
    ])
    .prop_map(str::to_owned)
}

fn any_headers() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((header_name(), header_value()), 0..8)
}

proptest! {
    #![proptest_config(fuzz_config(400))]

    #[test]
    fn fuzz_webhooks_any_headers_are_refused_with_a_stable_code(
        headers in any_headers(),
        body in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let h = refs(&headers);
        let (_, keys) = fal_keys();
        let kie_key = Secret::new("kie-hmac-key");
        for result in [
            fal::verify(&keys, &h, &body, NOW),
            replicate::verify(&replicate_secret(), &h, &body, NOW),
            kie::verify(&kie_key, &h, &body, NOW),
        ] {
            // Random headers cannot carry a valid signature.
            match result {
                Ok(id) => prop_assert!(false, "accepted {id:?} from {headers:?}"),
                Err(e) => stable(&e)?,
            }
        }
    }

    #[test]
    fn fuzz_webhooks_replicate_signed_is_accepted_and_any_change_refused(
        id in "[a-zA-Z0-9_]{1,30}",
        skew in -300i64..=300,
        body in prop::collection::vec(any::<u8>(), 0..300),
        decoys in prop::collection::vec("v[0-9],[a-zA-Z0-9+/]{4,44}={0,2}", 0..3),
        flip in any::<prop::sample::Index>(),
    ) {
        let ts = (NOW + skew).to_string();
        let good = replicate::sign(&replicate_secret(), &id, &ts, &body).unwrap();
        let mut entries = decoys.clone();
        entries.push(format!("v1,{good}"));
        let sigs = entries.join(" ");
        let headers = [("Webhook-Id", id.as_str()), ("webhook-timestamp", ts.as_str()),
                       ("WEBHOOK-SIGNATURE", sigs.as_str())];
        prop_assert_eq!(replicate::verify(&replicate_secret(), &headers, &body, NOW), Ok(id.clone()));
        // One byte of the body changed.
        if !body.is_empty() {
            let mut changed = body.clone();
            let i = flip.index(changed.len());
            changed[i] ^= 0x01;
            let r = replicate::verify(&replicate_secret(), &headers, &changed, NOW);
            prop_assert_eq!(r, Err(WebhookError::BadSignature));
        }
        // Another id, another timestamp, only the decoys.
        let other_id = format!("{id}x");
        let h = [("webhook-id", other_id.as_str()), ("webhook-timestamp", ts.as_str()),
                 ("webhook-signature", sigs.as_str())];
        prop_assert_eq!(replicate::verify(&replicate_secret(), &h, &body, NOW), Err(WebhookError::BadSignature));
        let later = (NOW + skew + 1).to_string();
        let h = [("webhook-id", id.as_str()), ("webhook-timestamp", later.as_str()),
                 ("webhook-signature", sigs.as_str())];
        let r = replicate::verify(&replicate_secret(), &h, &body, NOW);
        prop_assert!(matches!(r, Err(WebhookError::BadSignature) | Err(WebhookError::Stale)), "{r:?}");
        let only = decoys.join(" ");
        let h = [("webhook-id", id.as_str()), ("webhook-timestamp", ts.as_str()),
                 ("webhook-signature", only.as_str())];
        prop_assert_eq!(replicate::verify(&replicate_secret(), &h, &body, NOW), Err(WebhookError::BadSignature));
    }

    #[test]
    fn fuzz_webhooks_fal_signed_is_accepted_and_any_change_refused(
        request in "[a-z0-9-]{1,36}",
        user in "[a-z0-9-]{1,20}",
        skew in -300i64..=300,
        body in prop::collection::vec(any::<u8>(), 0..300),
        flip in any::<prop::sample::Index>(),
    ) {
        let (key, keys) = fal_keys();
        let ts = (NOW + skew).to_string();
        let sig = hex::encode(key.sign(&fal::signed_message(&request, &user, &ts, &body)).to_bytes());
        let mut headers = vec![
            ("x-fal-webhook-request-id".to_owned(), request.clone()),
            ("X-Fal-Webhook-User-Id".to_owned(), user.clone()),
            ("x-fal-webhook-timestamp".to_owned(), ts.clone()),
            ("X-FAL-WEBHOOK-SIGNATURE".to_owned(), sig.clone()),
        ];
        prop_assert_eq!(fal::verify(&keys, &refs(&headers), &body, NOW), Ok(request.clone()));
        if !body.is_empty() {
            let mut changed = body.clone();
            let i = flip.index(changed.len());
            changed[i] ^= 0x80;
            prop_assert_eq!(fal::verify(&keys, &refs(&headers), &changed, NOW), Err(WebhookError::BadSignature));
        }
        // One hex digit of the signature changed: still well formed, no longer valid.
        let mut bad = sig.into_bytes();
        let i = flip.index(bad.len());
        bad[i] = if bad[i] == b'0' { b'1' } else { b'0' };
        headers[3].1 = String::from_utf8(bad).unwrap();
        let r = fal::verify(&keys, &refs(&headers), &body, NOW);
        prop_assert!(r.is_err(), "a changed signature was accepted");
        stable(&r.unwrap_err())?;
    }

    #[test]
    fn fuzz_webhooks_kie_signed_is_accepted_and_another_task_refused(
        task in "[a-zA-Z0-9]{1,40}",
        skew in -300i64..=300,
        extra in ".{0,40}",
    ) {
        let key = Secret::new("kie-hmac-key");
        let ts = (NOW + skew).to_string();
        let sig = kie::sign(&key, &task, &ts).unwrap();
        let body = serde_json::to_vec(&serde_json::json!({ "code": 200, "msg": extra,
            "data": { "taskId": task } })).unwrap();
        let headers = [("X-Webhook-Timestamp", ts.as_str()), ("x-webhook-signature", sig.as_str())];
        prop_assert_eq!(kie::verify(&key, &headers, &body, NOW), Ok(task.clone()));
        let other = serde_json::to_vec(&serde_json::json!({ "data": { "taskId": format!("{task}0") } })).unwrap();
        prop_assert_eq!(kie::verify(&key, &headers, &other, NOW), Err(WebhookError::BadSignature));
    }
}

/// The committed seeds: each file holds header lines (`name: value`), a blank line, the body;
/// every one must be refused with a stable code by all three checks.
#[test]
fn fuzz_webhooks_corpus() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fuzz/corpus/webhooks");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/fuzz/corpus/webhooks") {
        let path = entry.unwrap().path();
        let text = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&text);
        let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
        let headers: Vec<(String, String)> = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim_start().to_owned()))
            .collect();
        let h = refs(&headers);
        let (_, keys) = fal_keys();
        for result in [
            fal::verify(&keys, &h, body.as_bytes(), NOW),
            replicate::verify(&replicate_secret(), &h, body.as_bytes(), NOW),
            kie::verify(&Secret::new("kie-hmac-key"), &h, body.as_bytes(), NOW),
        ] {
            let err = result.expect_err(&format!("{} was accepted", path.display()));
            assert!(
                matches!(
                    err.code().as_str(),
                    "webhook.malformed" | "webhook.stale" | "webhook.bad_signature"
                ),
                "{}: {err:?}",
                path.display()
            );
        }
        seen += 1;
    }
    assert!(seen > 0, "the corpus is empty");
}
