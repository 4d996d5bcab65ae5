//! Sign-in with an outside identity provider (P-ACC-4): OpenID Connect (Google, Keycloak,
//! Authentik, ...) and GitHub's OAuth 2, configured as `[[oidc]]` entries.
//!
//! `GET /auth/oidc/{provider}/start` sends the browser to the provider with a fresh `state`,
//! `nonce` and PKCE challenge, remembered in the database under the digest of `state` and bound
//! to the browser by a short-lived cookie; `GET /auth/oidc/{provider}/callback` uses that flow up
//! (once), exchanges the code, checks the ID token, and then:
//! - an identity already linked signs its account in;
//! - a verified address matching an existing account does NOT sign in or link by itself: the
//!   owner must sign in to that account first (`POST /api/v1/auth/oidc/link`), so a provider that
//!   asserts someone else's address takes nothing over;
//! - anyone else gets a new account once they choose a username and give the age statement and
//!   policy acceptance sign-up asks for (`POST /api/v1/auth/oidc/signup`).
//!
//! The provider's tokens are dropped when the callback returns: nothing of them is stored.
//! Every refusal has a stable code and is audit-logged as `oidc.refused`.

mod github;
mod provider;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use reelsmith_auth::{
    check_age, current_utc_year, hash_token, normalise_email, normalise_username, AgeStatement,
};
use reelsmith_config::OidcProviderConfig;
use reelsmith_store::{
    now_ms, CreditKind, NewUser, OidcFlow, OidcIdentity, OidcPending, Role, UnlinkOutcome, User,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ClientInfo, CurrentUser};
use crate::time::rfc3339;
use crate::AppState;
use reelsmith_core::Code;

/// The cookie that binds a sign-in under way to the browser that started it, then carries the
/// pending step; it ends with the sign-in.
pub const FLOW_COOKIE: &str = "reelsmith_oidc";
const FLOW_MINUTES: i64 = 10;
const PENDING_MINUTES: i64 = 30;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/oidc/{provider}/start", get(start))
        .route("/auth/oidc/{provider}/callback", get(callback))
        .route("/auth/oidc/finish", get(finish_page))
        .route("/api/v1/auth/oidc/providers", get(providers))
        .route("/api/v1/auth/oidc/pending", get(pending))
        .route("/api/v1/auth/oidc/signup", post(signup))
        .route("/api/v1/auth/oidc/link", post(link))
        .route("/api/v1/me/identities", get(identities))
        .route("/api/v1/me/identities/{id}", delete(unlink))
}

fn provider_config<'a>(state: &'a AppState, id: &str) -> ApiResult<&'a OidcProviderConfig> {
    state
        .config
        .oidc
        .iter()
        .find(|p| p.id == id)
        .ok_or_else(|| ApiError::not_found("identity provider"))
}

/// The redirect URI to register at the provider.
pub fn redirect_uri(state: &AppState, provider: &str) -> String {
    format!("{}/auth/oidc/{provider}/callback", state.public_url())
}

fn flow_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == FLOW_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

fn flow_cookie_header(state: &AppState, value: &str, max_age_seconds: i64) -> HeaderValue {
    let secure = if state.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    // Lax: the provider's redirect back is a top-level navigation, which Lax cookies follow.
    let cookie = format!(
        "{FLOW_COOKIE}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age_seconds}{secure}"
    );
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn random_secret() -> ApiResult<String> {
    Ok(hex::encode(reelsmith_auth::random::bytes::<32>()?))
}

fn see_other(location: &str, cookies: Vec<HeaderValue>) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

#[derive(Deserialize)]
pub struct StartQuery {
    /// Link the provider to the signed-in account instead of signing in.
    #[serde(default)]
    link: bool,
}

/// `GET /auth/oidc/{provider}/start`: off to the provider.
pub async fn start(
    State(state): State<AppState>,
    Path(provider_id): Path<String>,
    Query(query): Query<StartQuery>,
    client: ClientInfo,
    caller: Result<CurrentUser, ApiError>,
) -> ApiResult<Response> {
    let cfg = provider_config(&state, &provider_id)?;
    crate::auth::throttle(&state, crate::auth::Throttle::OidcStart, client.ip_key()).await?;
    let link_user_id = if query.link {
        Some(caller?.user.id)
    } else {
        None
    };
    let started = provider::start(cfg, &redirect_uri(&state, &cfg.id)).await?;
    let browser = random_secret()?;
    let now = now_ms();
    state
        .db
        .oidc_flow_create(&OidcFlow {
            state_hash: hash_token(&started.state),
            provider: cfg.id.clone(),
            browser_hash: hash_token(&browser),
            nonce: started.nonce,
            pkce_verifier: started.pkce_verifier,
            link_user_id,
            created_at: now,
            expires_at: now + FLOW_MINUTES * 60_000,
        })
        .await?;
    Ok(see_other(
        &started.url,
        vec![flow_cookie_header(&state, &browser, FLOW_MINUTES * 60)],
    ))
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

/// Where a callback ends.
enum Outcome {
    SignedIn(User),
    /// A new account waits for its username etc.; or an existing account for its owner's sign-in.
    Pending {
        token: String,
    },
    Linked,
}

/// `GET /auth/oidc/{provider}/callback`: the provider sends the browser back here.
pub async fn callback(
    State(state): State<AppState>,
    Path(provider_id): Path<String>,
    Query(query): Query<CallbackQuery>,
    headers: HeaderMap,
    client: ClientInfo,
) -> ApiResult<Response> {
    let mut user_id = None;
    let outcome = complete(
        &state,
        &provider_id,
        &query,
        &headers,
        &client,
        &mut user_id,
    )
    .await;
    let clear = flow_cookie_header(&state, "", 0);
    match outcome {
        Ok(Outcome::SignedIn(user)) => {
            let session = crate::auth::open_session(&state, &client, &user.id).await?;
            let detail = json!({ "by": provider_id });
            client
                .record(&state, "sign_in.succeeded", Some(&user.id), Some(detail))
                .await;
            Ok(see_other("/create", vec![clear, session]))
        }
        Ok(Outcome::Pending { token }) => Ok(see_other(
            "/auth/oidc/finish",
            vec![flow_cookie_header(&state, &token, PENDING_MINUTES * 60)],
        )),
        Ok(Outcome::Linked) => Ok(see_other("/account", vec![clear])),
        Err(err) => {
            let detail = json!({ "provider": provider_id, "code": err.code });
            client
                .record(&state, "oidc.refused", user_id.as_deref(), Some(detail))
                .await;
            // A browser lands on the sign-in page, which says what went wrong; API clients get
            // the problem itself.
            let wants_html = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/html"));
            if wants_html {
                return Ok(see_other(
                    &format!("/signin?oidc_error={}", err.code),
                    vec![clear],
                ));
            }
            let mut response = err.into_response();
            response.headers_mut().append(header::SET_COOKIE, clear);
            Ok(response)
        }
    }
}

fn state_invalid() -> ApiError {
    ApiError::of(
        Code::OidcStateInvalid,
        "this sign-in was not started here, was already used or has expired; start again",
    )
}

async fn complete(
    state: &AppState,
    provider_id: &str,
    query: &CallbackQuery,
    headers: &HeaderMap,
    client: &ClientInfo,
    user_id: &mut Option<String>,
) -> ApiResult<Outcome> {
    let cfg = provider_config(state, provider_id)?;
    let now = now_ms();
    let flow_state = query.state.as_deref().ok_or_else(state_invalid)?;
    let flow = state
        .db
        .oidc_flow_take(&hash_token(flow_state), now)
        .await?
        .ok_or_else(state_invalid)?;
    *user_id = flow.link_user_id.clone();
    let browser_matches = flow_cookie(headers).is_some_and(|cookie| {
        reelsmith_store::secret::digests_equal(&hash_token(cookie), &flow.browser_hash)
    });
    if flow.provider != cfg.id || !browser_matches {
        return Err(state_invalid());
    }
    if let Some(error) = &query.error {
        return Err(provider::refused(
            Code::OidcProviderError,
            format!("the identity provider did not sign you in ({error})"),
        ));
    }
    let code = query.code.as_deref().ok_or_else(state_invalid)?;
    let asserted = provider::finish(
        cfg,
        &redirect_uri(state, &cfg.id),
        code,
        &flow.nonce,
        &flow.pkce_verifier,
    )
    .await?;
    let email = match (&asserted.email, asserted.email_verified) {
        (Some(email), true) => normalise_email(email).map_err(|_| {
            provider::refused(
                Code::OidcEmailUnverified,
                "the provider gave no usable email address",
            )
        })?,
        _ => {
            return Err(provider::refused(
                Code::OidcEmailUnverified,
                "the identity provider has not verified your email address",
            ))
        }
    };
    let known = state
        .db
        .oidc_identity_by_subject(&cfg.id, &asserted.subject)
        .await?;
    if let Some(linking) = &flow.link_user_id {
        return match known {
            Some(identity) if &identity.user_id == linking => Ok(Outcome::Linked),
            Some(_) => Err(identity_taken()),
            None => {
                state
                    .db
                    .oidc_link(linking, &cfg.id, &asserted.subject, &email.address, now)
                    .await?
                    .ok_or_else(identity_taken)?;
                let detail = json!({ "provider": cfg.id });
                client
                    .record(state, "oidc.linked", Some(linking), Some(detail))
                    .await;
                Ok(Outcome::Linked)
            }
        };
    }
    if let Some(identity) = known {
        *user_id = Some(identity.user_id.clone());
        let user = state
            .db
            .user_by_id(&identity.user_id)
            .await?
            .filter(|u| !u.is_deleted())
            .ok_or_else(account_unavailable)?;
        state
            .db
            .oidc_identity_used(&identity.id, &email.address, now)
            .await?;
        return Ok(Outcome::SignedIn(user));
    }
    let existing = state.db.user_by_email(&email.canonical).await?;
    if existing.as_ref().is_some_and(User::is_deleted) {
        return Err(account_unavailable());
    }
    let token = random_secret()?;
    state
        .db
        .oidc_pending_create(&OidcPending {
            token_hash: hash_token(&token),
            provider: cfg.id.clone(),
            subject: asserted.subject.clone(),
            email: email.address.clone(),
            display_name: asserted
                .name
                .as_deref()
                .map(str::trim)
                .unwrap_or("")
                .chars()
                .take(80)
                .collect(),
            link_user_id: existing.map(|u| u.id),
            created_at: now,
            expires_at: now + PENDING_MINUTES * 60_000,
        })
        .await?;
    Ok(Outcome::Pending { token })
}

fn identity_taken() -> ApiError {
    ApiError::of(
        Code::OidcIdentityTaken,
        "this provider account is already linked to another account",
    )
}

fn account_unavailable() -> ApiError {
    ApiError::of(
        Code::OidcAccountUnavailable,
        "the account for this address has been deleted",
    )
}

fn no_pending() -> ApiError {
    ApiError::of(
        Code::OidcNoPending,
        "no sign-in with an identity provider is waiting in this browser; start again",
    )
}

async fn pending_step(state: &AppState, headers: &HeaderMap) -> ApiResult<OidcPending> {
    let token = flow_cookie(headers).ok_or_else(no_pending)?;
    state
        .db
        .oidc_pending(&hash_token(token), now_ms())
        .await?
        .ok_or_else(no_pending)
}

#[derive(Serialize)]
pub struct ProviderView {
    pub id: String,
    pub name: String,
    /// Where the sign-in button goes.
    pub start_url: String,
}

/// `GET /api/v1/auth/oidc/providers`: the sign-in buttons.
pub async fn providers(State(state): State<AppState>) -> Json<Vec<ProviderView>> {
    Json(
        state
            .config
            .oidc
            .iter()
            .map(|p| ProviderView {
                id: p.id.clone(),
                name: p.display_name(),
                start_url: format!("/auth/oidc/{}/start", p.id),
            })
            .collect(),
    )
}

#[derive(Serialize)]
pub struct PendingView {
    pub provider: String,
    pub provider_name: String,
    pub email: String,
    pub display_name: String,
    /// `create`: choose a username; `link`: sign in to the account with this address first.
    pub action: &'static str,
}

/// `GET /api/v1/auth/oidc/pending`: what the follow-up page asks for.
pub async fn pending(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Json<PendingView>> {
    let step = pending_step(&state, &headers).await?;
    let provider_name = provider_config(&state, &step.provider)
        .map(OidcProviderConfig::display_name)
        .unwrap_or_else(|_| step.provider.clone());
    Ok(Json(PendingView {
        provider: step.provider,
        provider_name,
        email: step.email,
        display_name: step.display_name,
        action: if step.link_user_id.is_some() {
            "link"
        } else {
            "create"
        },
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSignupRequest {
    pub username: String,
    pub display_name: Option<String>,
    /// "I am at least the minimum age" (P-ACC-7). Give this or `birth_year`.
    pub age_confirmed: Option<bool>,
    pub birth_year: Option<i32>,
    /// The person accepts the privacy notice and terms the page links.
    pub accept_policies: bool,
}

/// `POST /api/v1/auth/oidc/signup`: the account a first sign-in asked for.
pub async fn signup(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: ClientInfo,
    ApiJson(req): ApiJson<OidcSignupRequest>,
) -> ApiResult<Response> {
    crate::auth::throttle(&state, crate::auth::Throttle::SignUp, client.ip_key()).await?;
    let step = pending_step(&state, &headers).await?;
    if step.link_user_id.is_some() {
        return Err(no_pending());
    }
    let username = normalise_username(&req.username)?;
    let minimum = state.config.accounts.minimum_age;
    let statement = match (req.birth_year, req.age_confirmed) {
        (Some(year), _) => AgeStatement::BirthYear(year),
        (None, Some(true)) => AgeStatement::AtLeast(minimum),
        (None, Some(false)) => return Err(reelsmith_auth::AgeError::TooYoung { minimum }.into()),
        (None, None) => {
            return Err(ApiError::of(
                Code::AuthAgeRequired,
                format!(
                    "confirm that you are at least {minimum} years old, or give your birth year"
                ),
            ))
        }
    };
    check_age(statement, minimum, current_utc_year())?;
    if !req.accept_policies {
        return Err(ApiError::of(
            Code::AuthPoliciesRequired,
            "accept the privacy notice and the terms to create an account",
        ));
    }
    let display_name: String = req
        .display_name
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .or(Some(step.display_name.as_str()).filter(|s| !s.is_empty()))
        .unwrap_or(&username)
        .chars()
        .take(80)
        .collect();
    let (birth_year, age_confirmed_min) = match statement {
        AgeStatement::BirthYear(year) => (Some(i64::from(year)), None),
        AgeStatement::AtLeast(age) => (None, Some(i64::from(age))),
    };
    let now = now_ms();
    let user = state
        .db
        .oidc_create_user(
            &step.token_hash,
            &NewUser {
                email: step.email.clone(),
                username,
                password_hash: None,
                display_name,
                role: Role::User,
                birth_year,
                age_confirmed_min,
            },
            now,
        )
        .await?
        .ok_or_else(no_pending)?;
    state.db.accept_current_policies(&user.id, now).await?;
    let grant = state.config.credits.signup_grant;
    if grant > 0 {
        state
            .db
            .add_credits(&user.id, CreditKind::Grant, grant, "sign-up grant", now)
            .await?;
    }
    let detail = json!({ "by": step.provider });
    client
        .record(&state, "account.created", Some(&user.id), Some(detail))
        .await;
    let session = crate::auth::open_session(&state, &client, &user.id).await?;
    let mut response =
        (StatusCode::CREATED, Json(crate::auth::Profile::from(&user))).into_response();
    response.headers_mut().append(header::SET_COOKIE, session);
    response
        .headers_mut()
        .append(header::SET_COOKIE, flow_cookie_header(&state, "", 0));
    Ok(response)
}

/// `POST /api/v1/auth/oidc/link`: the owner of the account whose address the provider asserted
/// has signed in to it; now the identity is linked.
pub async fn link(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: ClientInfo,
    caller: CurrentUser,
) -> ApiResult<Response> {
    let token = flow_cookie(&headers).ok_or_else(no_pending)?;
    let Some(identity) = state
        .db
        .oidc_link_pending(&hash_token(token), caller.id(), now_ms())
        .await?
    else {
        let detail = json!({ "code": "oidc.no_pending" });
        client
            .record(&state, "oidc.refused", Some(caller.id()), Some(detail))
            .await;
        return Err(no_pending());
    };
    let detail = json!({ "provider": identity.provider });
    client
        .record(&state, "oidc.linked", Some(caller.id()), Some(detail))
        .await;
    let mut response = Json(identity_view(&state, identity)).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, flow_cookie_header(&state, "", 0));
    Ok(response)
}

#[derive(Serialize)]
pub struct IdentityView {
    pub id: String,
    pub provider: String,
    pub provider_name: String,
    pub email: String,
    pub linked_at: String,
    pub last_used_at: String,
}

fn identity_view(state: &AppState, identity: OidcIdentity) -> IdentityView {
    let provider_name = provider_config(state, &identity.provider)
        .map(OidcProviderConfig::display_name)
        .unwrap_or_else(|_| identity.provider.clone());
    IdentityView {
        id: identity.id,
        provider: identity.provider,
        provider_name,
        email: identity.email,
        linked_at: rfc3339(identity.created_at),
        last_used_at: rfc3339(identity.last_used_at),
    }
}

/// `GET /api/v1/me/identities`: the Account page's list.
pub async fn identities(
    State(state): State<AppState>,
    caller: CurrentUser,
) -> ApiResult<Json<Vec<IdentityView>>> {
    let list = state.db.oidc_identities_of(caller.id()).await?;
    Ok(Json(
        list.into_iter().map(|i| identity_view(&state, i)).collect(),
    ))
}

/// `DELETE /api/v1/me/identities/{id}`: allowed while a password or another identity remains.
pub async fn unlink(
    State(state): State<AppState>,
    Path(id): Path<String>,
    client: ClientInfo,
    caller: CurrentUser,
) -> ApiResult<StatusCode> {
    match state.db.oidc_unlink(caller.id(), &id).await? {
        UnlinkOutcome::Unlinked => {
            let detail = json!({ "identity": id });
            client
                .record(&state, "oidc.unlinked", Some(caller.id()), Some(detail))
                .await;
            Ok(StatusCode::NO_CONTENT)
        }
        UnlinkOutcome::NotFound => Err(ApiError::not_found("identity")),
        UnlinkOutcome::LastSignInMethod => Err(ApiError::of(
            Code::OidcLastSignInMethod,
            "set a password or link another provider first: this is the only way into the account",
        )),
    }
}

#[derive(askama::Template)]
#[template(path = "oidc_finish.html")]
pub struct FinishPage {
    pub c: crate::web::Chrome,
    pub minimum_age: u8,
}

/// `GET /auth/oidc/finish`: the short follow-up page after a first sign-in; the script fills it
/// from `GET /api/v1/auth/oidc/pending`.
pub async fn finish_page(State(state): State<AppState>) -> Response {
    crate::web::render(FinishPage {
        c: crate::web::Chrome {
            title: "Finish signing in",
            page: "oidc-finish",
            user: None,
        },
        minimum_age: state.config.accounts.minimum_age,
    })
}
