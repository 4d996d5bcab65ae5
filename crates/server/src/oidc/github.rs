//! GitHub's side of sign-in: with the OAuth access token, `GET /user` for the stable numeric id
//! and `GET /user/emails` for the addresses, of which only the primary one, and only when GitHub
//! has verified it, is taken (GitHub's REST API, version 2022-11-28).

use super::provider::{refused, unreachable_err, Asserted, GithubEmail, GithubUser};
use crate::error::ApiError;
use reelsmith_core::Code;

const API_VERSION: &str = "2022-11-28";

async fn get<T: serde::de::DeserializeOwned>(
    api: &str,
    path: &str,
    token: &str,
) -> Result<T, ApiError> {
    let url = format!("{}{path}", api.trim_end_matches('/'));
    let response = super::provider::http_client()
        .get(&url)
        .bearer_auth(token)
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", API_VERSION)
        .send()
        .await
        .map_err(|e| unreachable_err("GitHub API", e))?;
    if !response.status().is_success() {
        return Err(unreachable_err(
            "GitHub API",
            format!("{path} answered {}", response.status()),
        ));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| unreachable_err("GitHub API", e))?;
    serde_json::from_slice(&body).map_err(|e| unreachable_err("GitHub API", e))
}

pub(crate) async fn who(api: &str, token: &str) -> Result<Asserted, ApiError> {
    let user: GithubUser = get(api, "/user", token).await?;
    let emails: Vec<GithubEmail> = get(api, "/user/emails", token).await?;
    let primary = emails.into_iter().find(|e| e.primary).ok_or_else(|| {
        refused(
            Code::OidcEmailUnverified,
            "your GitHub account has no primary email address",
        )
    })?;
    Ok(Asserted {
        subject: user.id.to_string(),
        email: Some(primary.email),
        email_verified: primary.verified,
        name: user
            .name
            .filter(|n| !n.trim().is_empty())
            .or(Some(user.login)),
    })
}
