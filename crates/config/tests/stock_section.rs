//! `[stock]` (issue 25): its keys are secrets that never print (P-TP-5), unknown keys are
//! refused, and `Config::validate` (what `reelsmith config check` runs) reports bad values.

use reelsmith_config::{Config, ConfigError, Secret, Sources};

const PEXELS_KEY: &str = "pexels-live-Qw8zX2";
const PIXABAY_KEY: &str = "pixabay-live-Lk3vB7";

fn keys(config: &Config) -> Vec<String> {
    config.validate().into_iter().map(|p| p.key).collect()
}

#[test]
fn p_tp_5_stock_keys_load_and_never_print() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        format!("[stock]\npexels_key = \"{PEXELS_KEY}\"\nmax_clip_seconds = 30\n"),
    )
    .unwrap();
    let sources = Sources {
        env: vec![("REELSMITH__STOCK__PIXABAY_KEY".into(), PIXABAY_KEY.into())],
        ..Sources::default()
    }
    .with_config_file(&file);
    let config = Config::load(&sources).unwrap();
    assert_eq!(
        config.stock.pexels_key.as_ref().unwrap().expose(),
        PEXELS_KEY
    );
    assert_eq!(
        config.stock.pixabay_key.as_ref().unwrap().expose(),
        PIXABAY_KEY
    );
    assert_eq!(config.stock.max_clip_seconds, 30);
    let shown = format!(
        "{config:?}\n{}\n{:?}",
        config.to_masked_toml(),
        config.validate()
    );
    for key in [PEXELS_KEY, PIXABAY_KEY] {
        assert!(!shown.contains(key), "{key} leaked");
    }
    assert!(config.validate().is_empty(), "{:?}", config.validate());
}

#[test]
fn an_unknown_stock_key_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "[stock]\nunsplash_key = \"x\"\n").unwrap();
    let error = Config::load(&Sources::default().with_config_file(&file)).unwrap_err();
    assert!(
        matches!(&error, ConfigError::UnknownKey { key, .. } if key == "stock.unsplash_key"),
        "{error}"
    );
}

#[test]
fn bad_stock_values_are_reported_with_their_keys() {
    let mut config = Config::default();
    config.stock.max_download_mib = 0;
    config.stock.max_clip_seconds = 7200;
    config.stock.results_per_search = 500;
    config.stock.pexels_base_url = Some("ftp://api.example".into());
    config.stock.pixabay_key = Some(Secret::from("  "));
    let dir = tempfile::tempdir().unwrap();
    config.stock.library = Some(dir.path().join("missing"));
    let mut found = keys(&config);
    found.dedup();
    assert_eq!(
        found,
        [
            "stock.max_download_mib",
            "stock.max_clip_seconds",
            "stock.results_per_search",
            "stock.pexels_base_url",
            "stock.pixabay_key",
            "stock.library",
        ]
    );
    // A folder without its library.toml is refused too; with one, accepted.
    config = Config::default();
    config.stock.library = Some(dir.path().to_path_buf());
    assert_eq!(keys(&config), ["stock.library"]);
    std::fs::write(dir.path().join("library.toml"), "").unwrap();
    assert!(keys(&config).is_empty());
}
