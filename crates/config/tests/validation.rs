//! `Config::validate` reports every problem, each with the key to change.

use reelsmith_config::{Config, ConfigError, Sources, StorageBackend};
use reelsmith_core::ErrorCode;

fn keys(config: &Config) -> Vec<String> {
    config.validate().into_iter().map(|p| p.key).collect()
}

#[test]
fn the_defaults_are_valid() {
    assert!(Config::default().validate().is_empty());
}

#[test]
fn s3_without_bucket_and_with_plain_http_is_reported() {
    let mut config = Config::default();
    config.storage.backend = StorageBackend::S3;
    config.storage.s3.endpoint = Some("http://127.0.0.1:9000".into());
    let found = keys(&config);
    assert!(
        found.contains(&"storage.s3.bucket".to_string()),
        "{found:?}"
    );
    assert!(
        found.contains(&"storage.s3.endpoint".to_string()),
        "{found:?}"
    );
    config.storage.s3.bucket = Some("media".into());
    config.storage.s3.allow_http = true;
    assert!(keys(&config).is_empty(), "{:?}", config.validate());
}

#[test]
fn smtp_without_host_is_reported() {
    let mut config = Config::default();
    config.email.transport = reelsmith_config::EmailTransport::Smtp;
    assert_eq!(keys(&config), vec!["email.smtp.host".to_string()]);
}

#[test]
fn bad_urls_and_ranges_are_all_reported_at_once() {
    let mut config = Config::default();
    config.server.public_url = Some("not a url".into());
    config.database.url = reelsmith_config::DatabaseUrl::new("mysql://x");
    config.worker.heartbeat_seconds = 40;
    config.worker.lease_seconds = 60;
    config.render.x264_preset = "fastest".into();
    config.render.crf = 60;
    config.accounts.code_attempts = 0;
    config.rate_limits.sign_up.window_seconds = 0;
    config.server.tls.cert = Some("cert.pem".into());
    config.email.from = "nobody".into();
    let found = keys(&config);
    for expected in [
        "server.public_url",
        "database.url",
        "worker.lease_seconds",
        "render.x264_preset",
        "render.crf",
        "accounts.code_attempts",
        "rate_limits.sign_up.window_seconds",
        "server.tls",
        "email.from",
    ] {
        assert!(
            found.contains(&expected.to_string()),
            "{expected} missing from {found:?}"
        );
    }
    assert_eq!(found.len(), 9, "{found:?}");
}

#[test]
fn load_validated_refuses_an_invalid_configuration() {
    let sources = Sources::default().with_override("storage.backend", "s3");
    let error = Config::load_validated(&sources).unwrap_err();
    assert_eq!(error.code(), "config.invalid");
    assert!(matches!(&error, ConfigError::Invalid(problems) if problems.len() == 1));
    assert!(error.to_string().contains("storage.s3.bucket"));
}

/// `[[presets]]` (issue 25): loaded from the file, an unknown field refused at load, and a
/// template no job could start from named by `validate` (what `reelsmith config check` runs).
#[test]
fn preset_templates_load_and_a_bad_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "[batches]\nmax_scripts = 20\n\n[[presets]]\nid = \"house\"\nname = \"House\"\n\
         settings = { aspect = \"9:16\", transition = \"slide\" }\n\n[[presets]]\n\
         id = \"wide\"\nname = \"Wide\"\nsettings = { aspect = \"21:9\" }\n",
    )
    .unwrap();
    let config = Config::load(&Sources::default().with_config_file(&file)).unwrap();
    assert_eq!(config.batches.max_scripts, 20);
    let ids: Vec<String> = config
        .preset_templates()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert!(ids.contains(&"house".to_owned()) && ids.contains(&"documentary".to_owned()));
    let problems = config.validate();
    assert_eq!(keys(&config), ["presets.wide"], "{problems:?}");
    assert!(problems[0].message.contains("21:9"), "{problems:?}");

    std::fs::write(
        &file,
        "[[presets]]\nid = \"x\"\nname = \"X\"\ncolour = \"red\"\n",
    )
    .unwrap();
    let error = Config::load(&Sources::default().with_config_file(&file)).unwrap_err();
    assert!(error.to_string().contains("colour"), "{error}");
}
