//! Fuzzing the billing webhook signatures (issue 23): `Stripe-Signature`
//! (`t=<unix seconds>,v1=<hex>[,v1=...]`) and Creem's `creem-signature`. For any header and body:
//! no panic and a typed refusal; a header Stripe's scheme makes (with whatever else Stripe may
//! add: `v0`, unknown keys, rotated `v1`s, spaces) is accepted within the tolerance, and any
//! change to the body, timestamp or signature is refused.
//!
//! Property tests on stable (proptest): `PROPTEST_CASES` sets the number of cases; the seeds in
//! `tests/fuzz/corpus/stripe-signature/` run first; failures are kept in `proptest-regressions/`.

use proptest::prelude::*;
use reelsmith_billing::{creem, stripe, SignatureError};

#[path = "../../../tests/fuzz/config.rs"]
mod fuzz_settings;
use fuzz_settings::fuzz_config;

const NOW: i64 = 1_800_000_000;
const SECRET: &str = "whsec_fuzzing_secret_0123456789";
const TOLERANCE: u64 = 300;

fn header_text() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        any::<i64>().prop_map(|n| format!("t={n}")),
        Just(format!("t={}", i64::MIN)),
        Just(format!("t={NOW}")),
        "[tv][01]?=[0-9a-f]{0,70}",
        "[ ,=;a-z0-9+-]{0,20}",
        ".{0,30}",
    ];
    prop::collection::vec(part, 0..6).prop_map(|p| p.join(","))
}

proptest! {
    #![proptest_config(fuzz_config(500))]

    #[test]
    fn fuzz_stripe_any_header_is_refused_with_a_typed_error(
        header in header_text(),
        body in prop::collection::vec(any::<u8>(), 0..200),
        now in any::<i64>(),
    ) {
        for now in [now, NOW] {
            let r = stripe::verify_signature(Some(&header), &body, SECRET, TOLERANCE, now);
            prop_assert!(r.is_err(), "random header accepted: {header:?}");
        }
        prop_assert!(matches!(
            stripe::verify_signature(None, &body, SECRET, TOLERANCE, NOW),
            Err(SignatureError::Missing)
        ));
        let r = creem::verify_signature(Some(&header), &body, SECRET);
        prop_assert!(r.is_err(), "random creem header accepted: {header:?}");
    }

    #[test]
    fn fuzz_stripe_signed_is_accepted_and_any_change_refused(
        body in prop::collection::vec(any::<u8>(), 0..400),
        skew in -300i64..=300,
        // Stripe adds other schemes and keys, never a second timestamp (a header with two `t`
        // is refused: tests/fuzz/corpus/stripe-signature/twice-t.txt).
        extras in prop::collection::vec(prop_oneof![
            "v0=[0-9a-f]{64}", "v1=[0-9a-f]{64}",
            "[a-z]{1,3}=[a-z0-9]{0,10}".prop_filter("not a timestamp", |s| !s.starts_with("t="))], 0..3),
        spaced in any::<bool>(),
        flip in any::<prop::sample::Index>(),
    ) {
        let t = NOW + skew;
        let signed = stripe::sign(SECRET, t, &body);
        let mut parts: Vec<String> = signed.split(',').map(str::to_owned).collect();
        parts.extend(extras);
        let sep = if spaced { ", " } else { "," };
        let header = parts.join(sep);
        prop_assert_eq!(
            stripe::verify_signature(Some(&header), &body, SECRET, TOLERANCE, NOW).ok(),
            Some(t),
            "{}", header
        );
        if !body.is_empty() {
            let mut changed = body.clone();
            let i = flip.index(changed.len());
            changed[i] = changed[i].wrapping_add(1);
            prop_assert!(matches!(
                stripe::verify_signature(Some(&header), &changed, SECRET, TOLERANCE, NOW),
                Err(SignatureError::Mismatch)
            ));
        }
        // Another timestamp with the same signature, and another secret.
        let moved = header.replacen(&format!("t={t}"), &format!("t={}", t + 1), 1);
        prop_assert!(stripe::verify_signature(Some(&moved), &body, SECRET, TOLERANCE, NOW).is_err());
        prop_assert!(matches!(
            stripe::verify_signature(Some(&header), &body, "whsec_other", TOLERANCE, NOW),
            Err(SignatureError::Mismatch)
        ));
        // Outside the tolerance, even correctly signed.
        let old = stripe::sign(SECRET, NOW - 301 - skew.abs(), &body);
        prop_assert!(matches!(
            stripe::verify_signature(Some(&old), &body, SECRET, TOLERANCE, NOW),
            Err(SignatureError::Stale)
        ));
    }

    #[test]
    fn fuzz_creem_signed_is_accepted_and_any_change_refused(
        body in prop::collection::vec(any::<u8>(), 0..400),
        upper in any::<bool>(),
        flip in any::<prop::sample::Index>(),
    ) {
        let good = creem_hex(&body);
        let shown = if upper { good.to_ascii_uppercase() } else { good.clone() };
        prop_assert!(creem::verify_signature(Some(&shown), &body, SECRET).is_ok());
        let mut bad = good.into_bytes();
        let i = flip.index(bad.len());
        bad[i] = if bad[i] == b'0' { b'1' } else { b'0' };
        let bad = String::from_utf8(bad).unwrap();
        prop_assert!(matches!(
            creem::verify_signature(Some(&bad), &body, SECRET),
            Err(SignatureError::Mismatch)
        ));
    }
}

/// HMAC-SHA256 of `body` under the secret, in hex: Creem's `creem-signature`.
fn creem_hex(body: &[u8]) -> String {
    reelsmith_billing::hmac_hex(SECRET.as_bytes(), body)
}

/// The committed seeds: each file's first line is a `Stripe-Signature` header, the rest the
/// body; all are refused.
#[test]
fn fuzz_stripe_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fuzz/corpus/stripe-signature");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/fuzz/corpus/stripe-signature") {
        let path = entry.unwrap().path();
        let text = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&text);
        let (header, body) = text.split_once('\n').unwrap_or((&text, ""));
        for now in [NOW, i64::MIN, i64::MAX, 0] {
            let r = stripe::verify_signature(Some(header), body.as_bytes(), SECRET, TOLERANCE, now);
            assert!(r.is_err(), "{} accepted", path.display());
        }
        assert!(creem::verify_signature(Some(header), body.as_bytes(), SECRET).is_err());
        seen += 1;
    }
    assert!(seen > 0, "the corpus is empty");
}
