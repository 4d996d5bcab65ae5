//! Argon2id password hashing and the strength rules (P-ACC-1).

use reelsmith_auth::password::{MAX_PASSWORD_BYTES, MEMORY_KIB};
use reelsmith_auth::{check_strength, hash_password, needs_rehash, verify_password};
use reelsmith_core::ErrorCode;

/// Produced by the reference implementation (phc-winner-argon2's `argon2` command):
/// `echo -n "correct horse battery staple" | argon2 "reelsmith-salt-1" -id -t 2 -k 19456 -p 1 -l 32 -e`
const REFERENCE_PHC: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$cmVlbHNtaXRoLXNhbHQtMQ$MCQevZ5xkebHcsO8yCLJ6Nnup+v5EOQDfZAKR5TlADE";

#[test]
fn p_acc_1_a_hash_from_the_reference_implementation_verifies() {
    assert!(verify_password("correct horse battery staple", REFERENCE_PHC).unwrap());
    assert!(!verify_password("correct horse battery stapler", REFERENCE_PHC).unwrap());
    assert!(!needs_rehash(REFERENCE_PHC));
}

#[test]
fn p_acc_1_passwords_are_stored_as_argon2id_with_owasp_parameters() {
    let password = "a long and unusual passphrase";
    let phc = hash_password(password).unwrap();
    assert!(
        phc.starts_with(&format!("$argon2id$v=19$m={MEMORY_KIB},t=2,p=1$")),
        "{phc}"
    );
    assert!(!phc.contains(password));
    assert!(verify_password(password, &phc).unwrap());
    assert!(!verify_password("a long and unusual passphrasE", &phc).unwrap());
    // A fresh salt every time.
    assert_ne!(phc, hash_password(password).unwrap());
}

#[test]
fn hashes_with_older_parameters_verify_and_ask_for_rehash() {
    let old = "$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$iyRRAo8HrsAIspo1mTUy5EcnRgZalfOb0rTQmoG7WrY";
    // Made with the reference tool too: echo -n "password-old-params" | argon2 somesaltsomesalt -id -t 3 -k 4096 -p 1 -l 32 -e
    assert!(needs_rehash(old));
    assert!(verify_password("password-old-params", old).unwrap());
}

#[test]
fn a_malformed_stored_hash_is_an_error_not_a_match() {
    let error = verify_password("whatever password", "not-a-phc-string").unwrap_err();
    assert_eq!(error.code(), "auth.malformed_hash");
    assert!(!error.is_client_error());
}

#[test]
fn short_long_and_common_passwords_are_refused_with_stable_codes() {
    assert_eq!(
        check_strength("short").unwrap_err().code(),
        "auth.weak_password"
    );
    assert_eq!(
        check_strength("123456789").unwrap_err().code(),
        "auth.weak_password"
    );
    assert_eq!(
        check_strength("Password123").unwrap_err().code(),
        "auth.weak_password"
    );
    assert_eq!(
        check_strength("qwertyuiop").unwrap_err().code(),
        "auth.weak_password"
    );
    assert_eq!(
        check_strength("aaaaaaaaaaaa").unwrap_err().code(),
        "auth.weak_password"
    );
    let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
    assert_eq!(
        check_strength(&long).unwrap_err().code(),
        "auth.password_too_long"
    );
    assert_eq!(
        hash_password("short").unwrap_err().code(),
        "auth.weak_password"
    );
    // Length counts characters: ten multi-byte characters pass.
    assert!(check_strength("ééééééééé1").is_ok());
    assert!(check_strength("tangerine-otter-42").is_ok());
    let longest = "y".repeat(MAX_PASSWORD_BYTES - 1) + "z";
    assert!(check_strength(&longest).is_ok());
}

#[test]
fn an_overlong_candidate_never_matches() {
    let phc = hash_password("a long and unusual passphrase").unwrap();
    assert!(!verify_password(&"z".repeat(100_000), &phc).unwrap());
}
