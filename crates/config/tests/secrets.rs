//! Secrets never appear in Debug, Display, the masked TOML or an error message (P-TP-5).

use reelsmith_config::{Config, Secret, Sources, MASK};

const SMTP_PASSWORD: &str = "smtp-pw-Zq8xY1";
const S3_SECRET: &str = "s3-secret-Kd93LmP";
const DB_PASSWORD: &str = "db-pw-Hh47sQ";

fn config_with_secrets() -> Config {
    let sources = Sources {
        env: vec![
            ("REELSMITH__EMAIL__TRANSPORT".into(), "smtp".into()),
            ("REELSMITH__EMAIL__SMTP__HOST".into(), "mail.example".into()),
            ("REELSMITH__EMAIL__SMTP__USERNAME".into(), "mailer".into()),
            (
                "REELSMITH__EMAIL__SMTP__PASSWORD".into(),
                SMTP_PASSWORD.into(),
            ),
            ("REELSMITH__STORAGE__BACKEND".into(), "s3".into()),
            ("REELSMITH__STORAGE__S3__BUCKET".into(), "b".into()),
            (
                "REELSMITH__STORAGE__S3__ACCESS_KEY_ID".into(),
                "AKID".into(),
            ),
            (
                "REELSMITH__STORAGE__S3__SECRET_ACCESS_KEY".into(),
                S3_SECRET.into(),
            ),
            (
                "REELSMITH__DATABASE__URL".into(),
                format!("postgres://app:{DB_PASSWORD}@db.example:5432/reelsmith"),
            ),
        ],
        ..Sources::default()
    };
    Config::load(&sources).unwrap()
}

fn assert_no_secret(text: &str) {
    for secret in [SMTP_PASSWORD, S3_SECRET, DB_PASSWORD] {
        assert!(!text.contains(secret), "secret {secret} leaked in:\n{text}");
    }
}

#[test]
fn the_values_are_loaded_and_reachable_through_expose() {
    let config = config_with_secrets();
    assert_eq!(
        config.email.smtp.password.as_ref().unwrap().expose(),
        SMTP_PASSWORD
    );
    assert_eq!(
        config
            .storage
            .s3
            .secret_access_key
            .as_ref()
            .unwrap()
            .expose(),
        S3_SECRET
    );
    assert!(config.database.url.expose().contains(DB_PASSWORD));
    assert!(config.validate().is_empty(), "{:?}", config.validate());
}

#[test]
fn debug_and_display_mask_secrets() {
    let config = config_with_secrets();
    let debug = format!("{config:?}");
    assert_no_secret(&debug);
    assert!(debug.contains(MASK));
    assert_no_secret(&format!("{config:#?}"));
    let secret = Secret::from("plain-value");
    assert_eq!(format!("{secret}"), MASK);
    assert_eq!(format!("{secret:?}"), MASK);
    assert_no_secret(&config.database.url.to_string());
    assert_eq!(
        config.database.url.to_string(),
        "postgres://app:********@db.example:5432/reelsmith"
    );
}

#[test]
fn the_masked_toml_masks_secrets_and_shows_the_rest() {
    let toml = config_with_secrets().to_masked_toml();
    assert_no_secret(&toml);
    assert!(toml.contains("password = \"********\""), "{toml}");
    assert!(toml.contains("secret_access_key = \"********\""), "{toml}");
    assert!(toml.contains("access_key_id = \"AKID\""), "{toml}");
    assert!(toml.contains("host = \"mail.example\""), "{toml}");
}

#[test]
fn error_messages_never_quote_a_secret() {
    // A secret under a misspelt key: the error names the key, not the value.
    let misspelt = Sources {
        env: vec![(
            "REELSMITH__EMAIL__SMTP__PASSWROD".into(),
            SMTP_PASSWORD.into(),
        )],
        ..Sources::default()
    };
    let error = Config::load(&misspelt).unwrap_err();
    assert!(error.to_string().contains("email.smtp.passwrod"));
    assert_no_secret(&error.to_string());
    assert_no_secret(&format!("{error:?}"));

    // A secret given where a table is expected.
    let dir = tempfile::tempdir().unwrap();
    let wrong_shape = dir.path().join("a.toml");
    std::fs::write(
        &wrong_shape,
        format!("[email]\nsmtp = \"{SMTP_PASSWORD}\"\n"),
    )
    .unwrap();
    let error = Config::load(&Sources::default().with_config_file(&wrong_shape)).unwrap_err();
    assert_no_secret(&error.to_string());

    // A syntax error on the line holding the secret (unquoted): no source snippet is echoed.
    let syntax = dir.path().join("b.toml");
    std::fs::write(
        &syntax,
        format!("[email.smtp]\npassword = {SMTP_PASSWORD}\n"),
    )
    .unwrap();
    let error = Config::load(&Sources::default().with_config_file(&syntax)).unwrap_err();
    assert_eq!(reelsmith_core::ErrorCode::code(&error), "config.syntax");
    assert_no_secret(&error.to_string());
    assert_no_secret(&format!("{error:?}"));

    // Validation problems about secret-bearing settings.
    let mut config = config_with_secrets();
    config.database.url =
        reelsmith_config::DatabaseUrl::new(format!("postgres://app:{DB_PASSWORD}@/no-host"));
    config.email.smtp.tls = reelsmith_config::SmtpTls::None;
    let problems = config.validate();
    assert!(!problems.is_empty());
    for problem in &problems {
        assert_no_secret(&problem.to_string());
    }
}

/// A password pasted into any URL setting is masked by `config check`, whatever the field: a
/// provider's `base_url`, the S3 endpoint, the public address, the database URL.
#[test]
fn passwords_inside_url_settings_are_masked() {
    const PROVIDER_PW: &str = "comfy-pw-Tr5sW2";
    const ENDPOINT_PW: &str = "minio-pw-Qa81Zx";
    const JWKS_PW: &str = "jwks-pw-Lm20Po";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("reelsmith.toml");
    std::fs::write(
        &file,
        format!(
            "[database]\nurl = \"postgres://app:{DB_PASSWORD}@db.example/reelsmith\"\n\
             [storage]\nbackend = \"s3\"\n[storage.s3]\nbucket = \"b\"\n\
             endpoint = \"https://minio:{ENDPOINT_PW}@s3.example:9000\"\n\
             [providers.comfyui]\nbase_url = \"https://user:{PROVIDER_PW}@comfy.example/api\"\n\
             workflow_file = \"wf.json\"\n\
             [providers.fal]\nkey = \"k\"\n\
             webhook_jwks_url = \"https://jw:{JWKS_PW}@keys.example/jwks\"\n"
        ),
    )
    .unwrap();
    let config = Config::load(&Sources::default().with_config_file(&file)).unwrap();
    // The settings keep their value for use.
    assert!(config
        .providers
        .comfyui
        .base_url
        .as_deref()
        .unwrap()
        .contains(PROVIDER_PW));
    let toml = config.to_masked_toml();
    for secret in [PROVIDER_PW, ENDPOINT_PW, JWKS_PW, DB_PASSWORD] {
        assert!(!toml.contains(secret), "{secret} leaked in:\n{toml}");
    }
    assert!(
        toml.contains("base_url = \"https://user:********@comfy.example/api\""),
        "{toml}"
    );
    assert!(
        toml.contains("endpoint = \"https://minio:********@s3.example:9000\""),
        "{toml}"
    );
    assert!(
        toml.contains("url = \"postgres://app:********@db.example/reelsmith\""),
        "{toml}"
    );
    // The rest reads as before: sections in their order, URLs without a password untouched.
    assert!(
        toml.find("[server]").unwrap() < toml.find("[database]").unwrap(),
        "{toml}"
    );
    let plain = Config::default().to_masked_toml();
    assert_eq!(
        plain,
        toml::to_string_pretty(&Config::default()).unwrap(),
        "nothing to mask, nothing changed"
    );
}
