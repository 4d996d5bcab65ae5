//! The automated checks' rules (P-SAFE-1): the shipped list, bad files, reloading; and the
//! image classifier with a tiny ONNX model the test writes itself.

#[path = "support/tiny_model.rs"]
mod tiny_model;

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

#[test]
fn p_safe_1_the_image_classifier_refuses_holds_and_allows_by_its_thresholds() {
    use reelsmith_safety::classifier::ImageClassifier;
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_model::write_model(&dir.path().join("m.onnx"), 0.9, 0.4);
    assert!(config.problems().is_empty());
    let c = ImageClassifier::open(&config).unwrap();
    let score =
        |w: u32, h: u32, rgb: [u8; 3]| c.scores(w, h, &tiny_model::solid(w, h, rgb)).unwrap()[0];
    // The score follows the picture, resized from any size to the model's input.
    assert!(score(16, 16, [255, 0, 0]) > 0.99);
    assert!((score(40, 30, [128, 128, 128]) - 0.5).abs() < 0.01);
    assert!(score(300, 200, [0, 0, 255]) < 0.01);
    let check = |rgb: [u8; 3]| c.check(64, 48, &tiny_model::solid(64, 48, rgb)).unwrap();
    assert_eq!(
        check([250, 10, 10]),
        Verdict::Refuse {
            categories: vec!["unsafe".into()]
        }
    );
    assert_eq!(
        check([128, 128, 128]),
        Verdict::Hold {
            categories: vec!["unsafe".into()]
        }
    );
    assert_eq!(check([20, 160, 40]), Verdict::Allow);
    // Half red, half blue: what a nearest-pixel pick might miss, the average does not.
    let mut half: Vec<u8> = tiny_model::solid(100, 50, [255, 0, 0]);
    half.extend(tiny_model::solid(100, 50, [0, 0, 255]));
    let mixed = c.scores(100, 100, &half).unwrap()[0];
    assert!((0.3..0.99).contains(&mixed), "{mixed}");
    // Too few bytes for the size is an error, not a guess.
    assert_eq!(
        c.scores(10, 10, &[0; 12]).unwrap_err().code(),
        "moderation.image_invalid"
    );
    // Several images: a refusal anywhere refuses.
    assert!(matches!(
        reelsmith_safety::classifier::combine([
            Verdict::Allow,
            Verdict::Hold {
                categories: vec!["a".into()]
            },
            Verdict::Refuse {
                categories: vec!["b".into()]
            },
        ]),
        Verdict::Refuse { .. }
    ));
}

#[test]
fn p_safe_1_a_missing_broken_or_mismatched_model_is_an_error_at_start() {
    use reelsmith_safety::classifier::ImageClassifier;
    let dir = tempfile::tempdir().unwrap();
    let good = tiny_model::write_model(&dir.path().join("m.onnx"), 0.9, 0.4);
    let missing = reelsmith_config::ImageCheckConfig {
        model: Some(dir.path().join("absent.onnx")),
        ..good.clone()
    };
    let err = ImageClassifier::open(&missing).unwrap_err();
    assert_eq!(err.code(), "moderation.image_model_unreadable");
    assert!(err.to_string().contains("absent.onnx"), "{err}");
    std::fs::write(dir.path().join("junk.onnx"), b"not a model").unwrap();
    let junk = reelsmith_config::ImageCheckConfig {
        model: Some(dir.path().join("junk.onnx")),
        ..good.clone()
    };
    assert_eq!(
        ImageClassifier::open(&junk).unwrap_err().code(),
        "moderation.image_model_invalid"
    );
    // Three labels for a model with two outputs.
    let labels = reelsmith_config::ImageCheckConfig {
        labels: vec!["unsafe".into(), "safe".into(), "other".into()],
        ..good.clone()
    };
    assert_eq!(
        ImageClassifier::open(&labels).unwrap_err().code(),
        "moderation.image_model_labels"
    );
    // The settings' own mistakes are named by key.
    let mut bad = good.clone();
    bad.refuse.insert("violence".into(), 1.5);
    let problems = bad.problems();
    assert!(
        problems
            .iter()
            .any(|(k, m)| k == "sharing.image_check.refuse" && m.contains("violence")),
        "{problems:?}"
    );
    // Loaded once per process: the same settings give the same model.
    let a = ImageClassifier::shared(&good).unwrap().unwrap();
    let b = ImageClassifier::shared(&good).unwrap().unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b));
    assert!(ImageClassifier::shared(&Default::default())
        .unwrap()
        .is_none());
}
