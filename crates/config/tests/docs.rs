//! docs/configuration.md documents every key: a key added to the code without documentation
//! fails this test.

use std::path::Path;

use reelsmith_config::{Config, DatabaseUrl, Secret};

fn every_key_set() -> Config {
    let mut config = Config::default();
    config.server.public_url = Some("https://v.example".into());
    config.server.tls.cert = Some("c.pem".into());
    config.server.tls.key = Some("k.pem".into());
    config.database.url = DatabaseUrl::new("postgres://u:p@h/d");
    config.storage.s3.endpoint = Some("https://s3.example".into());
    config.storage.s3.bucket = Some("b".into());
    config.storage.s3.access_key_id = Some("a".into());
    config.storage.s3.secret_access_key = Some(Secret::from("s"));
    config.email.smtp.host = Some("h".into());
    config.email.smtp.port = Some(25);
    config.email.smtp.username = Some("u".into());
    config.email.smtp.password = Some(Secret::from("p"));
    config.email.smtp.ca_file = Some("ca.pem".into());
    config.retention.video_days = Some(30);
    config.worker.metrics_listen = Some("127.0.0.1:9464".parse().unwrap());
    let p = &mut config.providers;
    for account in [
        &mut p.fal,
        &mut p.replicate,
        &mut p.veo,
        &mut p.atlas,
        &mut p.kie,
        &mut p.comfyui,
        &mut p.openai,
    ] {
        account.key = Some(Secret::from("k"));
        account.base_url = Some("https://api.example".into());
        account.download_hosts = vec!["cdn.example".into()];
    }
    p.fal.webhook_jwks_url = Some("https://keys.example".into());
    p.replicate.webhook_secret = Some(Secret::from("whsec_x"));
    p.kie.webhook_secret = Some(Secret::from("hmac"));
    p.comfyui.workflow_file = Some("workflow.json".into());
    p.openai.chat_model = Some("m".into());
    p.openai.transcribe_voice = true;
    config.speech.piper_home = Some("/opt/piper".into());
    config.speech.piper_voices = Some("/srv/voices".into());
    config.stock.pexels_key = Some(Secret::from("k"));
    config.stock.pixabay_key = Some(Secret::from("k"));
    config.stock.pexels_base_url = Some("https://api.example".into());
    config.stock.pixabay_base_url = Some("https://api.example".into());
    config.stock.library = Some("/srv/library".into());
    config
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut Vec<String>) {
    match value {
        toml::Value::Table(table) => {
            for (key, child) in table {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, child, out);
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

#[test]
fn every_key_is_documented_with_its_environment_variable() {
    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    let doc = std::fs::read_to_string(&doc_path).expect("docs/configuration.md exists");
    let table: toml::Value = toml::from_str(&every_key_set().to_masked_toml()).unwrap();
    let mut keys = Vec::new();
    flatten("", &table, &mut keys);
    assert!(keys.len() > 50, "{keys:?}");
    let mut missing = Vec::new();
    for key in &keys {
        let env = format!(
            "REELSMITH__{}",
            key.split('.')
                .map(str::to_ascii_uppercase)
                .collect::<Vec<_>>()
                .join("__")
        );
        if !doc.contains(&format!("`{key}`")) || !doc.contains(&env) {
            missing.push(key.clone());
        }
    }
    assert!(missing.is_empty(), "undocumented keys: {missing:?}");
}
