//! Hashing of bearer secrets. Session tokens, API tokens and email codes are stored only as
//! SHA-256 digests, so a copy of the database grants no access (P-ACC-6).

use sha2::{Digest, Sha256};

/// Lower-case hex SHA-256 of `secret`: the form every `*_hash` column holds for tokens.
pub fn sha256_hex(secret: &[u8]) -> String {
    hex::encode(Sha256::digest(secret))
}

/// Compare two digests without an early exit, so timing reveals nothing about how much matched.
pub fn digests_equal(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_standard_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn digest_comparison() {
        assert!(digests_equal("abcd", "abcd"));
        assert!(!digests_equal("abcd", "abce"));
        assert!(!digests_equal("abcd", "abc"));
    }
}
