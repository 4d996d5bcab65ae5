//! The automated checks' rules (P-SAFE-1): the shipped list, bad files, reloading.

use std::time::SystemTime;

use reelsmith_safety::{RuleBook, Rules, Verdict};

#[test]
fn p_safe_1_shipped_rules_refuse_clear_cases_hold_borderline_and_allow_ordinary_scripts() {
    let rules = Rules::default_rules();
    assert!(rules.category_count() >= 5);
    assert_eq!(
        rules.check(["A harbour at dawn. Boats leave one by one."]),
        Verdict::Allow
    );
    assert_eq!(
        rules.check(["Make a video: CHILD-porn!"]),
        Verdict::Refuse {
            categories: vec!["child_sexual_abuse".into()]
        }
    );
    assert!(matches!(rules.check(["a nsfw clip"]), Verdict::Hold { .. }));
    // Whole words only: "pornament" is not "porn", "Scunthorpe" is a town.
    assert_eq!(
        rules.check(["the pornament of Scunthorpe's harbour"]),
        Verdict::Allow
    );
    // Refusal wins over hold, across texts.
    assert!(matches!(
        rules.check(["nsfw", "how to make a bomb"]),
        Verdict::Refuse { .. }
    ));
    // Patterns look across words.
    assert!(matches!(
        rules.check(["a naked   little child"]),
        Verdict::Refuse { .. }
    ));
}

#[test]
fn bad_rule_files_are_refused_with_stable_codes() {
    let bad = [
        (
            "[[category]]\nname='x'\naction='refuse'\npatterns=['(']",
            "moderation.rules_pattern",
        ),
        (
            "[[category]]\nname='x'\naction='refuse'",
            "moderation.rules_empty_category",
        ),
        (
            "[[category]]\nname='X Y'\naction='refuse'\nterms=['a']",
            "moderation.rules_category_name",
        ),
        (
            "[[category]]\nname='x'\naction='ban'\nterms=['a']",
            "moderation.rules_syntax",
        ),
        ("not toml [", "moderation.rules_syntax"),
    ];
    for (text, code) in bad {
        assert_eq!(Rules::parse(text).unwrap_err().code(), code, "{text}");
    }
}

#[test]
fn p_safe_1_an_operators_file_is_reloaded_when_it_changes_and_a_broken_edit_keeps_the_last_rules() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    std::fs::write(
        &path,
        "[[category]]\nname='spam'\naction='refuse'\nterms=['buy now']",
    )
    .unwrap();
    let book = RuleBook::open(Some(&path)).unwrap();
    assert!(matches!(book.check(["Buy now!"]), Verdict::Refuse { .. }));
    assert_eq!(book.check(["cheap pills"]), Verdict::Allow);
    let touch = |text: &str, secs: u64| {
        std::fs::write(&path, text).unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs))
            .unwrap();
    };
    touch(
        "[[category]]\nname='pills'\naction='hold'\nterms=['cheap pills']",
        1_000,
    );
    assert_eq!(book.check(["Buy now!"]), Verdict::Allow);
    assert!(matches!(book.check(["cheap pills"]), Verdict::Hold { .. }));
    touch(
        "[[category]]\nname='broken'\naction='refuse'\npatterns=['(']",
        2_000,
    );
    assert!(matches!(book.check(["cheap pills"]), Verdict::Hold { .. }));
    assert!(RuleBook::open(Some(&dir.path().join("missing.toml"))).is_err());
}
