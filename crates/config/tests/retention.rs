//! The `[retention]` section (P-RET-1..4): defaults, environment overrides, and the 30-day
//! ceiling on the purge delay that P-RET-4 promises.

use reelsmith_config::{Config, ConfigError, Sources, UploadRetention};

#[test]
fn p_ret_defaults_keep_videos_and_purge_within_30_days() {
    let config = Config::default();
    let r = &config.retention;
    assert_eq!(r.video_days, None);
    assert_eq!(r.uploads, UploadRetention::WithVideo);
    assert_eq!(r.logs_months, 12);
    assert_eq!(r.purge_days, 30);
    assert_eq!(r.sweep_minutes, 60);
    assert!(config.validate().is_empty());
}

#[test]
fn p_ret_environment_sets_every_retention_key() {
    let sources = Sources {
        env: vec![
            ("REELSMITH__RETENTION__VIDEO_DAYS".into(), "30".into()),
            (
                "REELSMITH__RETENTION__UPLOADS".into(),
                "until_job_ends".into(),
            ),
            ("REELSMITH__RETENTION__LOGS_MONTHS".into(), "6".into()),
            ("REELSMITH__RETENTION__PURGE_DAYS".into(), "7".into()),
            ("REELSMITH__RETENTION__SWEEP_MINUTES".into(), "5".into()),
        ],
        ..Sources::default()
    };
    let config = Config::load_validated(&sources).unwrap();
    let r = &config.retention;
    assert_eq!(r.video_days, Some(30));
    assert_eq!(r.uploads, UploadRetention::UntilJobEnds);
    assert_eq!(r.logs_months, 6);
    assert_eq!(r.purge_days, 7);
    assert_eq!(r.sweep_minutes, 5);
}

#[test]
fn p_ret_4_a_purge_delay_over_30_days_is_refused_with_a_clear_error() {
    let sources = Sources::default().with_override("retention.purge_days", "31");
    let error = Config::load_validated(&sources).unwrap_err();
    let ConfigError::Invalid(problems) = &error else {
        panic!("expected a validation error, got {error}");
    };
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].key, "retention.purge_days");
    assert!(error.to_string().contains("at most 30"), "{error}");
}

#[test]
fn p_ret_an_unknown_upload_policy_is_refused() {
    let sources = Sources::default().with_override("retention.uploads", "forever");
    let error = Config::load_validated(&sources).unwrap_err();
    assert!(error.to_string().contains("retention.uploads"), "{error}");
}
