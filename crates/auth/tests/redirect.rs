//! The after-sign-in target: only a path on this site, read the way a browser reads it. The
//! hostile inputs are the ones a probe of the running server used.

use reelsmith_auth::same_origin_path;

#[test]
fn paths_on_the_site_are_kept() {
    for path in [
        "/create",
        "/creations/01J9ZK4",
        "/account?tab=tokens#top",
        "/%09/not-a-tab",
        "/a//b",
    ] {
        assert_eq!(same_origin_path(path).as_deref(), Some(path), "{path:?}");
    }
}

#[test]
fn what_a_browser_would_read_as_another_site_is_refused() {
    for hostile in [
        // The probe's door: `next=/%09/evil.example/phish`, decoded.
        "/\t/evil.example/phish",
        "/\n/evil.example",
        "/\r\n/evil.example",
        "/\r/evil.example",
        "\t//evil.example",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\/evil.example",
        "\\\\evil.example",
        "/\\\t\\evil.example",
        " //evil.example",
        "\u{0}//evil.example",
        // `next=%2F%2Fevil.example`, decoded.
        "//evil.example/%2F",
        "https://evil.example/",
        "http:evil.example",
        "HTTPS://evil.example",
        "javascript:alert(1)",
        "\tjavascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "evil.example",
        "",
        "   ",
    ] {
        assert_eq!(same_origin_path(hostile), None, "{hostile:?}");
    }
}

#[test]
fn the_kept_path_is_the_normalised_one() {
    // A harmless tab or backslash is removed or turned into a slash, so what the browser follows
    // is exactly what was checked.
    assert_eq!(
        same_origin_path("/cre\tations").as_deref(),
        Some("/creations")
    );
    assert_eq!(same_origin_path("/a\\b").as_deref(), Some("/a/b"));
    assert_eq!(same_origin_path("  /create ").as_deref(), Some("/create"));
}

#[test]
fn control_characters_and_very_long_targets_are_refused() {
    assert_eq!(same_origin_path("/a\u{7f}b"), None);
    assert_eq!(same_origin_path("/a\u{1b}b"), None);
    let long = format!("/{}", "a".repeat(reelsmith_auth::redirect::MAX_NEXT_CHARS));
    assert_eq!(same_origin_path(&long), None);
}
