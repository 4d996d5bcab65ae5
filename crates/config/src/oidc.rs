//! Sign-in with an outside identity provider (P-ACC-4): each `[[oidc]]` entry is one button on the
//! sign-in page. `preset = "google"` and `preset = "github"` fill in the provider's addresses;
//! without a preset the entry is any OpenID Connect provider found by discovery from `issuer`
//! (Keycloak, Authentik, Zitadel, ...).

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// Google's issuer: its discovery document lives under it.
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";
pub const GITHUB_AUTHORIZE_URL: &str = "https://github.com/login/oauth/authorize";
pub const GITHUB_TOKEN_URL: &str = "https://github.com/login/oauth/access_token";
pub const GITHUB_API_URL: &str = "https://api.github.com";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OidcPreset {
    Google,
    /// GitHub is OAuth 2 without OpenID Connect: the person comes from its user and emails API.
    Github,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderConfig {
    /// The provider's name in URLs (`/auth/oidc/<id>/callback`) and in the database: lowercase
    /// letters, digits and `-`. Changing it orphans the identities linked through it.
    pub id: String,
    /// What the sign-in button says; the preset's name or the id when unset.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub preset: Option<OidcPreset>,
    /// The OpenID issuer; required without a preset. Discovery reads
    /// `<issuer>/.well-known/openid-configuration`.
    #[serde(default)]
    pub issuer: Option<String>,
    pub client_id: String,
    pub client_secret: Secret<String>,
    /// Scopes asked besides `openid email profile` (GitHub: besides `read:user user:email`).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// GitHub only: other addresses for its OAuth and API endpoints (GitHub Enterprise Server).
    #[serde(default)]
    pub authorize_url: Option<String>,
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub api_url: Option<String>,
}

impl OidcProviderConfig {
    pub fn display_name(&self) -> String {
        match (&self.name, self.preset) {
            (Some(name), _) => name.clone(),
            (None, Some(OidcPreset::Google)) => "Google".into(),
            (None, Some(OidcPreset::Github)) => "GitHub".into(),
            (None, None) => self.id.clone(),
        }
    }

    /// The issuer discovery starts from: the configured one, else the preset's.
    pub fn effective_issuer(&self) -> Option<String> {
        match (&self.issuer, self.preset) {
            (Some(issuer), _) => Some(issuer.trim_end_matches('/').to_owned()),
            (None, Some(OidcPreset::Google)) => Some(GOOGLE_ISSUER.to_owned()),
            _ => None,
        }
    }
}

/// Problems with the `[[oidc]]` entries, as `(key, message)`.
pub fn problems(entries: &[OidcProviderConfig]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let key = |k: &str| format!("oidc[{i}].{k}");
        let id_ok = !entry.id.is_empty()
            && entry.id.len() <= 40
            && entry
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !id_ok {
            out.push((
                key("id"),
                "must be 1-40 lowercase letters, digits or `-`".into(),
            ));
        }
        if entries[..i].iter().any(|e| e.id == entry.id) {
            out.push((
                key("id"),
                format!("`{}` is used by another entry", entry.id),
            ));
        }
        if entry.client_id.trim().is_empty() {
            out.push((key("client_id"), "must not be empty".into()));
        }
        if entry.client_secret.expose().is_empty() {
            out.push((key("client_secret"), "must not be empty".into()));
        }
        match entry.preset {
            Some(OidcPreset::Github) => {
                if entry.issuer.is_some() {
                    out.push((
                        key("issuer"),
                        "GitHub is not an OpenID issuer: leave it unset".into(),
                    ));
                }
            }
            _ => match entry.effective_issuer() {
                None => out.push((key("issuer"), "required without a preset".into())),
                Some(issuer) if !is_http_url(&issuer) => {
                    out.push((key("issuer"), "must be an http:// or https:// URL".into()))
                }
                Some(_) => {}
            },
        }
        for (name, url) in [
            ("authorize_url", &entry.authorize_url),
            ("token_url", &entry.token_url),
            ("api_url", &entry.api_url),
        ] {
            if let Some(url) = url {
                if entry.preset != Some(OidcPreset::Github) {
                    out.push((key(name), "only for `preset = \"github\"`".into()));
                } else if !is_http_url(url) {
                    out.push((key(name), "must be an http:// or https:// URL".into()));
                }
            }
        }
    }
    out
}

fn is_http_url(s: &str) -> bool {
    s.strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
}
