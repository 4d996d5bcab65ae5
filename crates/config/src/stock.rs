//! `[stock]`: stock photos and clips from Pexels and Pixabay, and the operator's media library
//! (issue 25). A stock provider is on when its key is set. Keys are [`Secret`]s: they print as
//! a mask everywhere and come only from this configuration (P-TP-5).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StockConfig {
    /// The Pexels API key (https://www.pexels.com/api/); Pexels search is off when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pexels_key: Option<Secret<String>>,
    /// The Pixabay API key (https://pixabay.com/api/docs/); Pixabay search is off when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pixabay_key: Option<Secret<String>>,
    /// Pexels' API base URL, for a proxy or a test double; the public API when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pexels_base_url: Option<String>,
    /// Pixabay's API base URL (`https://pixabay.com/api/` when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pixabay_base_url: Option<String>,
    /// A folder of licensed pictures and clips described by its `library.toml`, searched
    /// offline for every user. Unset: no library.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub library: Option<PathBuf>,
    /// Largest stock file downloaded, in MiB; a larger one is refused and nothing is kept.
    pub max_download_mib: u64,
    /// Longest stock clip downloaded, in seconds.
    pub max_clip_seconds: u64,
    /// Results asked of a provider per search (Pexels takes at most 80, Pixabay 3 to 200).
    pub results_per_search: u32,
}

impl Default for StockConfig {
    fn default() -> Self {
        StockConfig {
            pexels_key: None,
            pixabay_key: None,
            pexels_base_url: None,
            pixabay_base_url: None,
            library: None,
            max_download_mib: 100,
            max_clip_seconds: 60,
            results_per_search: 15,
        }
    }
}

impl StockConfig {
    /// Every problem with the section, as (key, message); messages never quote a key.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut check = |ok: bool, key: &str, message: String| {
            if !ok {
                out.push((format!("stock.{key}"), message));
            }
        };
        check(
            (1..=4096).contains(&self.max_download_mib),
            "max_download_mib",
            "must be between 1 and 4096".into(),
        );
        check(
            (1..=3600).contains(&self.max_clip_seconds),
            "max_clip_seconds",
            "must be between 1 and 3600".into(),
        );
        check(
            (3..=80).contains(&self.results_per_search),
            "results_per_search",
            "must be between 3 and 80 (what both providers accept)".into(),
        );
        for (key, url) in [
            ("pexels_base_url", &self.pexels_base_url),
            ("pixabay_base_url", &self.pixabay_base_url),
        ] {
            if let Some(url) = url {
                let ok = url::Url::parse(url)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
                check(ok, key, format!("`{url}` is not an http(s) URL"));
            }
        }
        for (key, secret) in [
            ("pexels_key", &self.pexels_key),
            ("pixabay_key", &self.pixabay_key),
        ] {
            if let Some(secret) = secret {
                check(
                    !secret.expose().trim().is_empty(),
                    key,
                    "is empty: remove it to turn the provider off".into(),
                );
            }
        }
        if let Some(folder) = &self.library {
            check(
                folder.is_dir(),
                "library",
                format!("{} is not a folder", folder.display()),
            );
            check(
                folder.join("library.toml").is_file(),
                "library",
                format!(
                    "{} has no library.toml describing its files",
                    folder.display()
                ),
            );
        }
        out
    }
}
