//! Talking to identity providers: the authorization request (PKCE, `state`, `nonce`) and, back
//! from it, the code exchange and who the provider says the person is. OpenID Connect providers
//! are found by discovery and their ID tokens checked by the `openidconnect` crate (signature
//! against the provider's published keys, issuer, audience, expiry, nonce); GitHub, which is
//! OAuth 2 only, answers through its user and emails API.
//!
//! The provider's tokens live only in this module's locals: nothing returned from here holds one.

use std::time::Duration;

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthUrl, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse, TokenUrl,
};
use reelsmith_config::{OidcPreset, OidcProviderConfig};
use serde::Deserialize;

use crate::error::ApiError;
use reelsmith_core::Code;

/// Who the provider says signed in.
#[derive(Debug, Clone)]
pub(crate) struct Asserted {
    /// The provider's stable id for the person.
    pub subject: String,
    pub email: Option<String>,
    /// The provider vouches that the person owns `email`.
    pub email_verified: bool,
    pub name: Option<String>,
}

/// An authorization request ready to send the browser to.
pub(crate) struct Started {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// A refusal of what came back from a provider, with its stable code.
pub(crate) fn refused(code: Code, detail: impl Into<String>) -> ApiError {
    ApiError::of(code, detail)
}

fn unreachable(what: &str, err: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %err, "identity provider: {what}");
    refused(
        Code::OidcProviderUnreachable,
        format!("the identity provider could not be used ({what}: {err})"),
    )
}

/// A client per sign-in: no redirects followed (a provider that redirects its token endpoint is
/// refused rather than followed somewhere else), and bounded waits. Not shared in a static, since
/// a pooled connection belongs to the runtime that opened it.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .user_agent("Reelsmith")
        .build()
        .unwrap_or_default()
}

fn redirect_url(redirect: &str) -> Result<RedirectUrl, ApiError> {
    RedirectUrl::new(redirect.to_owned()).map_err(|e| unreachable("redirect URL", e))
}

async fn discover(
    cfg: &OidcProviderConfig,
    http: &reqwest::Client,
) -> Result<CoreProviderMetadata, ApiError> {
    let issuer = cfg
        .effective_issuer()
        .ok_or_else(|| unreachable("configuration", "no issuer"))?;
    let issuer = IssuerUrl::new(issuer).map_err(|e| unreachable("issuer URL", e))?;
    CoreProviderMetadata::discover_async(issuer, http)
        .await
        .map_err(|e| unreachable("discovery", e))
}

fn scopes(cfg: &OidcProviderConfig) -> Vec<Scope> {
    let base: &[&str] = match cfg.preset {
        Some(OidcPreset::Github) => &["read:user", "user:email"],
        _ => &["email", "profile"],
    };
    base.iter()
        .map(|s| s.to_string())
        .chain(cfg.scopes.iter().cloned())
        .map(Scope::new)
        .collect()
}

/// Where to send the browser, with a fresh state, nonce and PKCE verifier to remember.
pub(crate) async fn start(cfg: &OidcProviderConfig, redirect: &str) -> Result<Started, ApiError> {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let client_id = ClientId::new(cfg.client_id.clone());
    let secret = ClientSecret::new(cfg.client_secret.expose().clone());
    if cfg.preset == Some(OidcPreset::Github) {
        let client = oauth_client(cfg, client_id, secret, redirect)?;
        let (url, state) = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(scopes(cfg))
            .set_pkce_challenge(challenge)
            .url();
        return Ok(Started {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: Nonce::new_random().secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        });
    }
    let http = http();
    let metadata = discover(cfg, &http).await?;
    let client = CoreClient::from_provider_metadata(metadata, client_id, Some(secret))
        .set_redirect_uri(redirect_url(redirect)?);
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scopes(scopes(cfg))
        .set_pkce_challenge(challenge)
        .url();
    Ok(Started {
        url: url.to_string(),
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
    })
}

/// Exchange the code and find out who signed in.
pub(crate) async fn finish(
    cfg: &OidcProviderConfig,
    redirect: &str,
    code: &str,
    nonce: &str,
    pkce_verifier: &str,
) -> Result<Asserted, ApiError> {
    let client_id = ClientId::new(cfg.client_id.clone());
    let secret = ClientSecret::new(cfg.client_secret.expose().clone());
    let code = AuthorizationCode::new(code.to_owned());
    let verifier = PkceCodeVerifier::new(pkce_verifier.to_owned());
    if cfg.preset == Some(OidcPreset::Github) {
        let client = oauth_client(cfg, client_id, secret, redirect)?;
        let http = http();
        let token = client
            .exchange_code(code)
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .map_err(|e| {
                refused(
                    Code::OidcCodeRefused,
                    format!("GitHub refused the code: {e}"),
                )
            })?;
        let api = cfg
            .api_url
            .as_deref()
            .unwrap_or(reelsmith_config::oidc::GITHUB_API_URL);
        return super::github::who(api, token.access_token().secret()).await;
    }
    let http = http();
    let metadata = discover(cfg, &http).await?;
    let client = CoreClient::from_provider_metadata(metadata, client_id, Some(secret))
        .set_redirect_uri(redirect_url(redirect)?);
    let token = client
        .exchange_code(code)
        .map_err(|e| unreachable("token endpoint", e))?
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .map_err(|e| {
            refused(
                Code::OidcCodeRefused,
                format!("the provider refused the code: {e}"),
            )
        })?;
    let id_token = token
        .id_token()
        .ok_or_else(|| refused(Code::OidcTokenInvalid, "the provider sent no ID token"))?;
    let claims = id_token
        .claims(&client.id_token_verifier(), &Nonce::new(nonce.to_owned()))
        .map_err(claims_refused)?;
    let mut asserted = Asserted {
        subject: claims.subject().as_str().to_owned(),
        email: claims.email().map(|e| e.as_str().to_owned()),
        email_verified: claims.email_verified().unwrap_or(false),
        name: claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned()),
    };
    // Some providers put the address only behind the userinfo endpoint; the crate checks its
    // subject is the ID token's.
    if asserted.email.is_none() {
        if let Ok(request) =
            client.user_info(token.access_token().clone(), Some(claims.subject().clone()))
        {
            let info: openidconnect::core::CoreUserInfoClaims = request
                .request_async(&http)
                .await
                .map_err(|e| unreachable("userinfo", e))?;
            asserted.email = info.email().map(|e| e.as_str().to_owned());
            asserted.email_verified = info.email_verified().unwrap_or(false);
        }
    }
    Ok(asserted)
}

fn claims_refused(err: ClaimsVerificationError) -> ApiError {
    let (code, detail) = match &err {
        ClaimsVerificationError::Expired(_) => (
            Code::OidcTokenExpired,
            "the provider's ID token has expired",
        ),
        ClaimsVerificationError::InvalidNonce(_) => (
            Code::OidcNonceMismatch,
            "the ID token was not issued for this sign-in (its nonce differs)",
        ),
        ClaimsVerificationError::SignatureVerification(_) => (
            Code::OidcSignatureInvalid,
            "the ID token is not signed by one of the provider's published keys",
        ),
        _ => (
            Code::OidcTokenInvalid,
            "the ID token's issuer, audience or claims are not this provider's",
        ),
    };
    tracing::warn!(error = %err, code = code.as_str(), "ID token refused");
    refused(code, detail)
}

type GithubClient = oauth2::basic::BasicClient<
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

fn oauth_client(
    cfg: &OidcProviderConfig,
    client_id: ClientId,
    secret: ClientSecret,
    redirect: &str,
) -> Result<GithubClient, ApiError> {
    let auth = cfg
        .authorize_url
        .clone()
        .unwrap_or_else(|| reelsmith_config::oidc::GITHUB_AUTHORIZE_URL.to_owned());
    let token = cfg
        .token_url
        .clone()
        .unwrap_or_else(|| reelsmith_config::oidc::GITHUB_TOKEN_URL.to_owned());
    // GitHub documents the client credentials as form fields, not HTTP basic auth.
    Ok(oauth2::basic::BasicClient::new(client_id)
        .set_client_secret(secret)
        .set_auth_type(oauth2::AuthType::RequestBody)
        .set_auth_uri(AuthUrl::new(auth).map_err(|e| unreachable("authorize URL", e))?)
        .set_token_uri(TokenUrl::new(token).map_err(|e| unreachable("token URL", e))?)
        .set_redirect_uri(redirect_url(redirect)?))
}

/// GitHub's `/user` answer, the part used.
#[derive(Deserialize)]
pub(crate) struct GithubUser {
    pub id: i64,
    pub login: String,
    pub name: Option<String>,
}

/// One entry of GitHub's `/user/emails`.
#[derive(Deserialize)]
pub(crate) struct GithubEmail {
    pub email: String,
    pub primary: bool,
    pub verified: bool,
}

pub(crate) fn http_client() -> reqwest::Client {
    http()
}

pub(crate) fn unreachable_err(what: &str, err: impl std::fmt::Display) -> ApiError {
    unreachable(what, err)
}
