//! Precedence of the layers, parsing of environment values, and rejection of unknown keys.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use reelsmith_config::{
    Config, ConfigError, EmailTransport, SmtpTls, Sources, StorageBackend, CONFIG_FILE_NAME,
};
use reelsmith_core::ErrorCode;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn defaults_need_no_file_and_place_everything_in_the_data_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sources = Sources::default().with_override("server.data_dir", data.to_str().unwrap());
    let config = Config::load(&sources).unwrap();
    assert_eq!(config.server.listen, addr("127.0.0.1:8080"));
    assert_eq!(config.server.data_dir, data);
    assert_eq!(
        config.database.url.expose(),
        format!("sqlite://{}", data.join("reelsmith.db").display())
    );
    assert_eq!(config.storage.backend, StorageBackend::Local);
    assert_eq!(config.storage.local_path, data.join("media"));
    assert_eq!(config.email.transport, EmailTransport::Outbox);
    assert_eq!(config.email.outbox_dir, data.join("outbox"));
    assert_eq!(config.worker.temp_dir, data.join("tmp"));
    assert_eq!(config.accounts.minimum_age, 13);
    assert_eq!(config.accounts.code_minutes, 15);
    assert_eq!(config.accounts.code_attempts, 5);
    assert_eq!(config.render.x264_preset, "veryfast");
    assert!(config.validate().is_empty(), "{:?}", config.validate());
}

#[test]
fn each_layer_overrides_the_one_before() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "custom.toml",
        r#"
[server]
listen = "127.0.0.1:1001"
public_url = "https://file.example"

[worker]
concurrency = 3
lease_seconds = 100

[render]
crf = 30
"#,
    );
    let sources = Sources {
        config_file: Some(file),
        env: env(&[
            ("REELSMITH__SERVER__LISTEN", "127.0.0.1:1002"),
            ("REELSMITH__WORKER__CONCURRENCY", "5"),
            ("PATH", "/usr/bin"),
        ]),
        overrides: vec![("server.listen".into(), "127.0.0.1:1003".into())],
    };
    let config = Config::load(&sources).unwrap();
    // Flag beats environment beats file beats default.
    assert_eq!(config.server.listen, addr("127.0.0.1:1003"));
    assert_eq!(config.worker.concurrency, 5);
    assert_eq!(config.worker.lease_seconds, 100);
    assert_eq!(
        config.server.public_url.as_deref(),
        Some("https://file.example")
    );
    assert_eq!(config.render.crf, 30);
    // Untouched keys of a section that the file set keep their defaults.
    assert_eq!(config.worker.heartbeat_seconds, 15);
    assert_eq!(config.render.x264_preset, "veryfast");
}

#[test]
fn the_file_in_the_data_folder_is_read_when_no_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        CONFIG_FILE_NAME,
        "[accounts]\nminimum_age = 16\n[database]\nmax_connections = 3\n",
    );
    let sources = Sources {
        env: env(&[("REELSMITH__SERVER__DATA_DIR", dir.path().to_str().unwrap())]),
        ..Sources::default()
    };
    let config = Config::load(&sources).unwrap();
    assert_eq!(config.accounts.minimum_age, 16);
    assert_eq!(config.database.max_connections, 3);
    // The data-relative default of a section the file touched still follows the data folder.
    assert!(config
        .database
        .url
        .expose()
        .ends_with(&format!("{}/reelsmith.db", dir.path().display())));
}

#[test]
fn a_data_folder_set_in_the_file_moves_the_derived_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = dir.path().join("elsewhere");
    let file = write(
        dir.path(),
        "c.toml",
        &format!("[server]\ndata_dir = {:?}\n", elsewhere.to_str().unwrap()),
    );
    let config = Config::load(&Sources::default().with_config_file(file)).unwrap();
    assert_eq!(config.storage.local_path, elsewhere.join("media"));
    assert_eq!(config.email.outbox_dir, elsewhere.join("outbox"));
}

#[test]
fn environment_values_are_parsed_into_numbers_bools_enums_and_nested_keys() {
    let sources = Sources {
        env: env(&[
            ("REELSMITH__SERVER__TRUST_PROXY_HEADERS", "true"),
            ("REELSMITH__WORKER__MAX_ATTEMPTS", "7"),
            ("REELSMITH__LIMITS__MAX_MEDIA_SECONDS", "12.5"),
            ("REELSMITH__STORAGE__BACKEND", "s3"),
            ("REELSMITH__STORAGE__S3__BUCKET", "videos"),
            ("REELSMITH__STORAGE__S3__PATH_STYLE", "yes"),
            ("REELSMITH__EMAIL__TRANSPORT", "smtp"),
            ("REELSMITH__EMAIL__SMTP__HOST", "mail.example"),
            ("REELSMITH__EMAIL__SMTP__TLS", "tls"),
            ("REELSMITH__EMAIL__SMTP__USERNAME", "1234"),
            // Stays text: a numeric-looking password must keep its leading zeros.
            ("REELSMITH__EMAIL__SMTP__PASSWORD", "007"),
            ("REELSMITH__RATE_LIMITS__SIGN_IN__COUNT", "3"),
        ]),
        ..Sources::default()
    };
    let config = Config::load(&sources).unwrap();
    assert!(config.server.trust_proxy_headers);
    assert_eq!(config.worker.max_attempts, 7);
    assert_eq!(config.limits.max_media_seconds, 12.5);
    assert_eq!(config.storage.backend, StorageBackend::S3);
    assert_eq!(config.storage.s3.bucket.as_deref(), Some("videos"));
    assert!(config.storage.s3.path_style);
    assert_eq!(config.email.transport, EmailTransport::Smtp);
    assert_eq!(config.email.smtp.tls, SmtpTls::Tls);
    assert_eq!(config.email.smtp.effective_port(), 465);
    assert_eq!(config.email.smtp.username.as_deref(), Some("1234"));
    assert_eq!(config.email.smtp.password.as_ref().unwrap().expose(), "007");
    assert_eq!(config.rate_limits.sign_in.count, 3);
    assert_eq!(config.rate_limits.sign_in.window_seconds, 900);
}

#[test]
fn a_value_of_the_wrong_type_names_the_variable() {
    let sources = Sources {
        env: env(&[("REELSMITH__WORKER__CONCURRENCY", "many")]),
        ..Sources::default()
    };
    let error = Config::load(&sources).unwrap_err();
    assert_eq!(error.code(), "config.invalid_value");
    let message = error.to_string();
    assert!(message.contains("worker.concurrency"), "{message}");
    assert!(
        message.contains("REELSMITH__WORKER__CONCURRENCY"),
        "{message}"
    );
}

#[test]
fn an_unknown_key_in_the_file_is_an_error_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "c.toml", "[server]\nlisten_adress = \"x\"\n");
    let error = Config::load(&Sources::default().with_config_file(&file)).unwrap_err();
    assert_eq!(error.code(), "config.unknown_key");
    assert!(
        matches!(&error, ConfigError::UnknownKey { key, .. } if key == "server.listen_adress"),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains(file.to_str().unwrap()), "{message}");
}

#[test]
fn an_unknown_section_is_an_error_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "c.toml", "[servers]\nlisten = \"x\"\n");
    let error = Config::load(&Sources::default().with_config_file(file)).unwrap_err();
    assert!(
        matches!(&error, ConfigError::UnknownKey { key, .. } if key == "servers"),
        "{error}"
    );
}

#[test]
fn an_unknown_environment_variable_is_an_error_with_its_name() {
    let sources = Sources {
        env: env(&[("REELSMITH__STORAGE__S3__BUKET", "videos")]),
        ..Sources::default()
    };
    let error = Config::load(&sources).unwrap_err();
    assert!(
        matches!(&error, ConfigError::UnknownKey { key, .. } if key == "storage.s3.buket"),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("REELSMITH__STORAGE__S3__BUKET"),
        "{message}"
    );
}

#[test]
fn an_unknown_flag_key_is_an_error_with_its_name() {
    let error = Config::load(&Sources::default().with_override("server.listn", "x")).unwrap_err();
    assert!(
        matches!(&error, ConfigError::UnknownKey { key, origin } if key == "server.listn" && origin.contains("flag")),
        "{error}"
    );
}

#[test]
fn a_malformed_variable_name_is_refused() {
    let sources = Sources {
        env: env(&[("REELSMITH__SERVER____LISTEN", "x")]),
        ..Sources::default()
    };
    let error = Config::load(&sources).unwrap_err();
    assert_eq!(error.code(), "config.bad_key");
}

#[test]
fn other_variables_are_ignored() {
    let sources = Sources {
        env: env(&[("REELSMITH_LOG", "debug"), ("HOME", "/root")]),
        ..Sources::default()
    };
    assert!(Config::load(&sources).is_ok());
}

#[test]
fn a_named_file_that_is_missing_is_an_error() {
    let error = Config::load(&Sources::default().with_config_file("/nonexistent/reelsmith.toml"))
        .unwrap_err();
    assert_eq!(error.code(), "config.file_unreadable");
}

#[test]
fn a_syntax_error_gives_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "c.toml", "[server]\nlisten = \n");
    let error = Config::load(&Sources::default().with_config_file(file)).unwrap_err();
    match error {
        ConfigError::FileSyntax { line, .. } => assert_eq!(line, 2),
        other => panic!("expected a syntax error, got {other}"),
    }
}

#[test]
fn the_masked_toml_round_trips_through_the_loader() {
    // What `config check` prints is itself a valid configuration file (secrets aside).
    let dir = tempfile::tempdir().unwrap();
    let sources = Sources::default()
        .with_override("server.data_dir", dir.path().to_str().unwrap())
        .with_override("server.public_url", "https://v.example")
        .with_override("render.crf", "20");
    let config = Config::load(&sources).unwrap();
    let printed = write(dir.path(), "printed.toml", &config.to_masked_toml());
    let reloaded = Config::load(&Sources::default().with_config_file(printed)).unwrap();
    assert_eq!(reloaded, config);
}

#[test]
fn the_process_environment_is_collected() {
    let sources = Sources::from_process_env();
    assert!(sources.env.iter().any(|(name, _)| name == "PATH"));
}
