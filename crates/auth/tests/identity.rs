//! Username and email rules.

use reelsmith_auth::identity::EMAIL_MAX;
use reelsmith_auth::{normalise_email, normalise_username};
use reelsmith_core::ErrorCode;

#[test]
fn usernames_are_lower_cased_and_limited_to_a_z_0_9_underscore() {
    assert_eq!(normalise_username("  Alice_99 ").unwrap(), "alice_99");
    assert_eq!(normalise_username("abc").unwrap(), "abc");
    assert_eq!(normalise_username(&"a".repeat(30)).unwrap(), "a".repeat(30));
    for bad in [
        "ab",
        &"a".repeat(31),
        "al ice",
        "al-ice",
        "ålice",
        "alice!",
        "",
        "a.b.c",
    ] {
        let error = normalise_username(bad).unwrap_err();
        assert_eq!(error.code(), "auth.invalid_username", "{bad:?}");
        assert!(error.is_client_error());
    }
}

#[test]
fn reserved_usernames_are_refused_in_any_case() {
    for reserved in ["admin", "ADMIN", "Api", "root", "reelsmith", "support"] {
        assert_eq!(
            normalise_username(reserved).unwrap_err().code(),
            "auth.reserved_username",
            "{reserved}"
        );
    }
    assert!(normalise_username("admin2").is_ok());
}

#[test]
fn emails_keep_the_local_part_and_lower_case_the_domain() {
    let email = normalise_email("  Jane.Doe+video@Example.ORG ").unwrap();
    assert_eq!(email.address, "Jane.Doe+video@example.org");
    assert_eq!(email.canonical, "jane.doe+video@example.org");
    assert!(normalise_email("a@b.co").is_ok());
    assert!(normalise_email("x@sub-domain.example.co.uk").is_ok());
}

#[test]
fn malformed_emails_are_refused() {
    let long_local = format!("{}@example.org", "a".repeat(65));
    let long_total = format!(
        "{}@{}.org",
        "a".repeat(60),
        "b".repeat(60) + &".c".repeat(70)
    );
    for bad in [
        "",
        "plain",
        "@example.org",
        "a@",
        "a@localhost",
        "a@@example.org",
        "a b@example.org",
        ".a@example.org",
        "a.@example.org",
        "a..b@example.org",
        "a@-example.org",
        "a@example-.org",
        "a@exa_mple.org",
        "a@example..org",
        "a@127.0.0.1",
        "\"quoted\"@example.org",
        "a@exämple.org",
        long_local.as_str(),
        long_total.as_str(),
    ] {
        let error = normalise_email(bad).unwrap_err();
        assert_eq!(error.code(), "auth.invalid_email", "{bad:?}");
    }
    let exactly_max = format!(
        "{}@{}.org",
        "a".repeat(64),
        "b".repeat(63)
            + "."
            + &"c".repeat(63)
            + "."
            + &"d".repeat(EMAIL_MAX - 64 - 1 - 63 - 1 - 63 - 1 - 4)
    );
    assert_eq!(exactly_max.len(), EMAIL_MAX);
    assert!(normalise_email(&exactly_max).is_ok(), "{exactly_max}");
}
