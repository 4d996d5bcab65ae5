//! TOTP and HOTP against the test vectors of RFC 6238 appendix B and RFC 4226 appendix D
//! (P-SEC-5).

use reelsmith_auth::totp::{
    generate_totp_secret, secret_from_base32, secret_to_base32, step_of, SECRET_BYTES,
};
use reelsmith_auth::{hotp, provisioning_uri, totp_at, verify_totp};

/// The SHA-1 seed of both RFCs.
const SEED: &[u8] = b"12345678901234567890";

#[test]
fn rfc4226_hotp_vectors() {
    let expected = [
        "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
        "520489",
    ];
    for (counter, code) in expected.iter().enumerate() {
        assert_eq!(hotp(SEED, counter as u64, 6), *code, "counter {counter}");
    }
}

#[test]
fn rfc6238_totp_sha1_vectors() {
    // The RFC lists 8-digit codes; the 6-digit code is their last six digits.
    let vectors: [(u64, &str); 6] = [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ];
    for (time, code) in vectors {
        assert_eq!(hotp(SEED, step_of(time), 8), code, "t={time}");
        assert_eq!(totp_at(SEED, time), code[2..], "t={time}");
    }
}

#[test]
fn verification_accepts_one_step_either_side_and_no_more() {
    let t = 1_111_111_111;
    let code = totp_at(SEED, t);
    assert_eq!(verify_totp(SEED, &code, t), Some(step_of(t)));
    assert_eq!(verify_totp(SEED, &code, t + 30), Some(step_of(t)));
    assert_eq!(verify_totp(SEED, &code, t - 30), Some(step_of(t)));
    assert_eq!(verify_totp(SEED, &code, t + 60), None);
    assert_eq!(verify_totp(SEED, &code, t - 60), None);
    assert_eq!(verify_totp(SEED, &format!(" {code} "), t), Some(step_of(t)));
    assert_eq!(verify_totp(SEED, "12345", t), None);
    assert_eq!(verify_totp(SEED, "abcdef", t), None);
    assert_eq!(verify_totp(b"another secret", &code, t), None);
    // Time zero has no previous step to underflow into.
    assert_eq!(verify_totp(SEED, &totp_at(SEED, 0), 0), Some(0));
}

#[test]
fn secrets_round_trip_through_base32_and_the_uri() {
    // RFC 4648 base32 of the RFC seed, as authenticator apps would show it.
    assert_eq!(secret_to_base32(SEED), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    assert_eq!(
        secret_from_base32("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").unwrap(),
        SEED
    );
    assert!(secret_from_base32("not base32!").is_err());
    let secret = generate_totp_secret().unwrap();
    assert_eq!(secret.len(), SECRET_BYTES);
    assert_ne!(secret, generate_totp_secret().unwrap());
    assert_eq!(
        provisioning_uri("Reelsmith Studio", "ada@example.org", SEED),
        "otpauth://totp/Reelsmith%20Studio:ada@example.org?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Reelsmith%20Studio&algorithm=SHA1&digits=6&period=30"
    );
}
