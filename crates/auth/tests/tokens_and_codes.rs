//! Bearer tokens and emailed codes: random, stored only hashed, checked in constant time
//! (P-ACC-2, P-ACC-6).

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use reelsmith_auth::code::{code_matches, normalise_code};
use reelsmith_auth::{
    check_code, display_prefix, generate_code, generate_token, hash_token, CodePolicy, CodeRecord,
    TokenKind,
};
use reelsmith_core::ErrorCode;

#[test]
fn sha256_known_answer_for_token_hashes() {
    // FIPS 180-2 example: SHA-256("abc").
    assert_eq!(
        hash_token("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn p_acc_6_tokens_are_random_prefixed_and_stored_hashed() {
    let mut seen = HashSet::new();
    for _ in 0..200 {
        let token = generate_token(TokenKind::Api).unwrap();
        assert!(token.secret.starts_with("rs_api_"));
        assert_eq!(token.secret.len(), "rs_api_".len() + 43);
        assert_eq!(token.hash, hash_token(&token.secret));
        assert_eq!(token.hash.len(), 64);
        assert!(!token.hash.contains(&token.secret[7..]));
        assert_eq!(TokenKind::of(&token.secret), Some(TokenKind::Api));
        assert!(token.secret.starts_with(&token.display_prefix));
        assert_eq!(token.display_prefix.len(), "rs_api_".len() + 6);
        assert!(!format!("{token:?}").contains(&token.secret));
        assert!(seen.insert(token.secret));
    }
    let session = generate_token(TokenKind::Session).unwrap();
    assert_eq!(TokenKind::of(&session.secret), Some(TokenKind::Session));
}

#[test]
fn malformed_tokens_are_recognised_without_a_lookup() {
    let good = generate_token(TokenKind::Api).unwrap().secret;
    assert_eq!(TokenKind::of(&good[..good.len() - 1]), None);
    assert_eq!(TokenKind::of(&format!("{good}A")), None);
    assert_eq!(TokenKind::of(&good.replace("rs_api_", "rs_xyz_")), None);
    assert_eq!(TokenKind::of(""), None);
    assert_eq!(TokenKind::of("rs_api_!!!!"), None);
    assert_eq!(display_prefix("short"), "short");
}

#[test]
fn p_acc_2_codes_are_six_digits_uniformly_spread_and_stored_salted() {
    let mut first_digits = [0u32; 10];
    for _ in 0..2_000 {
        let new = generate_code().unwrap();
        assert_eq!(new.code.len(), 6);
        assert!(new.code.bytes().all(|b| b.is_ascii_digit()));
        assert!(!new.stored.contains(&new.code));
        assert!(code_matches(&new.code, &new.stored).unwrap());
        first_digits[usize::from(new.code.as_bytes()[0] - b'0')] += 1;
        assert!(!format!("{new:?}").contains(&new.code));
    }
    // Each leading digit expects 200; a biased generator (e.g. one that never pads with zeros)
    // would leave one empty. The bounds are ~7 standard deviations wide.
    for count in first_digits {
        assert!((100..=300).contains(&count), "{first_digits:?}");
    }
    // The same code stored twice differs: the salt is per code.
    let a = generate_code().unwrap();
    let b = generate_code().unwrap();
    assert_ne!(a.stored, b.stored);
}

#[test]
fn codes_tolerate_spaces_and_dashes_and_refuse_anything_else() {
    let new = generate_code().unwrap();
    let spaced = format!("{} {}", &new.code[..3], &new.code[3..]);
    let dashed = format!("{}-{}", &new.code[..3], &new.code[3..]);
    assert!(code_matches(&spaced, &new.stored).unwrap());
    assert!(code_matches(&dashed, &new.stored).unwrap());
    assert!(!code_matches(&new.code[..5], &new.stored).unwrap());
    assert!(!code_matches(&format!("{}0", new.code), &new.stored).unwrap());
    assert_eq!(normalise_code("１２３４５６"), None);
    assert_eq!(
        code_matches("123456", "zz$zz").unwrap_err().code(),
        "auth.code_malformed"
    );
}

fn record(issued_at: SystemTime) -> (String, CodeRecord) {
    let new = generate_code().unwrap();
    (
        new.code.clone(),
        CodeRecord {
            stored: new.stored,
            issued_at,
            failed_attempts: 0,
            used: false,
        },
    )
}

fn wrong_code(code: &str) -> String {
    let last = code.as_bytes()[5];
    let other = if last == b'9' {
        '0'
    } else {
        char::from(last + 1)
    };
    format!("{}{other}", &code[..5])
}

#[test]
fn p_acc_2_codes_expire_after_their_lifetime() {
    let issued = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let (code, rec) = record(issued);
    let policy = CodePolicy::default();
    let just_before = issued + Duration::from_secs(15 * 60 - 1);
    assert!(check_code(&rec, &code, policy, just_before).is_ok());
    let at_expiry = issued + Duration::from_secs(15 * 60);
    assert_eq!(
        check_code(&rec, &code, policy, at_expiry)
            .unwrap_err()
            .code(),
        "auth.code_expired"
    );
}

#[test]
fn p_acc_2_codes_are_single_use_and_burnt_after_five_wrong_guesses() {
    let issued = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let now = issued + Duration::from_secs(60);
    let policy = CodePolicy::default();
    let (code, mut rec) = record(issued);
    for attempt in 0..5 {
        let error = check_code(&rec, &wrong_code(&code), policy, now).unwrap_err();
        assert_eq!(error.code(), "auth.code_invalid", "attempt {attempt}");
        rec.failed_attempts += 1;
    }
    // Even the right code is refused now.
    assert_eq!(
        check_code(&rec, &code, policy, now).unwrap_err().code(),
        "auth.code_attempts_exhausted"
    );

    let (code, mut rec) = record(issued);
    assert!(check_code(&rec, &code, policy, now).is_ok());
    rec.used = true;
    assert_eq!(
        check_code(&rec, &code, policy, now).unwrap_err().code(),
        "auth.code_used"
    );
}
