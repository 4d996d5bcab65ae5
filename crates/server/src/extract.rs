//! Extractors: who is calling (session cookie or bearer token), from where, and JSON bodies
//! whose rejections are problem+json like every other error.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, COOKIE, USER_AGENT};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use reelsmith_auth::{hash_token, TokenKind};
use reelsmith_store::{now_ms, NewAuditEntry, User};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use reelsmith_core::Code;

pub const SESSION_COOKIE: &str = "reelsmith_session";

/// A session's expiry slides forward on use, but at most once a minute per session, so reads
/// do not each cost a database write.
const TOUCH_EVERY_MS: i64 = 60_000;

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Session { id: String },
    ApiToken { id: String },
}

/// The signed-in caller. Extracting it refuses anonymous requests with 401.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    pub credential: Credential,
}

impl CurrentUser {
    pub fn id(&self) -> &str {
        &self.user.id
    }

    pub fn session_id(&self) -> Option<&str> {
        match &self.credential {
            Credential::Session { id } => Some(id),
            Credential::ApiToken { .. } => None,
        }
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        if let Some(user) = parts.extensions.get::<CurrentUser>() {
            return Ok(user.clone());
        }
        let (user, token_touched) = authenticate(&parts.headers, state).await?;
        if token_touched {
            // API-token use is a security event (P-SEC-6), recorded as often as the token's
            // last-used time is (every TOKEN_TOUCH_EVERY_MS), not on every request.
            let client = ClientInfo::from_request_parts(parts, state)
                .await
                .unwrap_or_default();
            let detail = match &user.credential {
                Credential::ApiToken { id } => Some(serde_json::json!({ "token_id": id })),
                Credential::Session { .. } => None,
            };
            client
                .record(state, "api_token.used", Some(user.id()), detail)
                .await;
        }
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

/// The caller, and whether an API token's last-used time was just updated.
async fn authenticate(headers: &HeaderMap, state: &AppState) -> ApiResult<(CurrentUser, bool)> {
    let now = now_ms();
    if let Some(token) = bearer_token(headers) {
        // A malformed token is refused before any lookup.
        if TokenKind::of(token) != Some(TokenKind::Api) {
            return Err(ApiError::unauthenticated());
        }
        let (token, user, touched) = state
            .db
            .use_api_token(&hash_token(token), now)
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        return Ok((
            CurrentUser {
                user,
                credential: Credential::ApiToken { id: token.id },
            },
            touched,
        ));
    }
    let token = session_cookie(headers).ok_or_else(ApiError::unauthenticated)?;
    if TokenKind::of(token) != Some(TokenKind::Session) {
        return Err(ApiError::unauthenticated());
    }
    let (session, user) = state
        .db
        .session_by_token_hash(&hash_token(token), now)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    if now - session.last_seen_at > TOUCH_EVERY_MS {
        let expires = now + session_lifetime_ms(state);
        state.db.touch_session(&session.id, expires, now).await?;
    }
    Ok((
        CurrentUser {
            user,
            credential: Credential::Session { id: session.id },
        },
        false,
    ))
}

pub fn session_lifetime_ms(state: &AppState) -> i64 {
    i64::from(state.config.accounts.session_days.max(1)) * 86_400_000
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
}

/// Where a request came from, for audit entries and rate-limit keys.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// The rate-limit key for "this client": its address, or one shared bucket when unknown.
    pub fn ip_key(&self) -> &str {
        self.ip.as_deref().unwrap_or("unknown")
    }

    pub fn audit(
        &self,
        kind: &str,
        user_id: Option<&str>,
        detail: Option<serde_json::Value>,
    ) -> NewAuditEntry {
        NewAuditEntry {
            kind: kind.to_owned(),
            user_id: user_id.map(str::to_owned),
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
            detail,
        }
    }

    /// Writes an audit entry of what `user_id` did from this client (see [`audit`]): one call
    /// for the entry and its writing, so a handler's audit line says only what is particular.
    pub async fn record(
        &self,
        state: &AppState,
        kind: &str,
        user_id: Option<&str>,
        detail: Option<serde_json::Value>,
    ) {
        audit(state, self.audit(kind, user_id, detail)).await;
    }

    /// Refuses `user_id` a `what` (`job`, `upload`, ...) with `id` that is not theirs, exactly as
    /// if it did not exist (P-SEC-4), and records the try as `access.denied`.
    pub async fn hidden(
        &self,
        state: &AppState,
        user_id: &str,
        what: &'static str,
        id: &str,
    ) -> crate::error::ApiError {
        let detail = serde_json::json!({ format!("{what}_id"): id });
        self.record(state, "access.denied", Some(user_id), Some(detail))
            .await;
        crate::error::ApiError::not_found(what)
    }
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let forwarded = state
            .config
            .server
            .trust_proxy_headers
            .then(|| parts.headers.get("x-forwarded-for"))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string());
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(512).collect());
        Ok(ClientInfo {
            ip: forwarded.or(peer),
            user_agent,
        })
    }
}

/// `axum::Json` with its rejections turned into problem+json.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> ApiResult<Self> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        Ok(ApiJson(value))
    }
}

/// Writes an audit entry; a failure to audit is logged, and does not undo what happened.
pub async fn audit(state: &AppState, entry: NewAuditEntry) {
    if let Err(err) = state.db.audit(&entry, now_ms()).await {
        tracing::error!(kind = %entry.kind, error = %err, "could not write audit entry");
    }
}

/// `axum::extract::Query` with its rejections turned into problem+json.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state)
                .await
                .map_err(|r| ApiError::of(Code::RequestInvalidQuery, r.body_text()))?;
        Ok(ApiQuery(value))
    }
}
