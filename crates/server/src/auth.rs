//! `/api/v1/auth/*` and `/api/v1/me`: sign-up with an emailed code (P-ACC-1, P-ACC-2, P-ACC-7),
//! sign-in to one HttpOnly SameSite session cookie (P-ACC-6), sign-out, and password reset by
//! emailed code, which ends every session (P-ACC-3). Sign-up, sign-in and codes are rate-limited
//! (P-SEC-7) and security events audit-logged with IP and user agent (P-SEC-6).

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use reelsmith_auth::{
    check_age, check_strength, current_utc_year, generate_token, hash_password, hash_token,
    normalise_email, normalise_username, verify_password, AgeStatement, TokenKind,
};
use reelsmith_config::RateLimit;
use reelsmith_mail::{templates, Message};
use reelsmith_store::{
    now_ms, CodeCheck, CodePurpose, CreditKind, NewSession, NewUser, RateDecision, Role, User,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{session_lifetime_ms, ApiJson, ClientInfo, CurrentUser, SESSION_COOKIE};
use crate::time::rfc3339;
use crate::AppState;
use reelsmith_core::Code;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    pub email: String,
    pub password: String,
    pub username: String,
    pub display_name: Option<String>,
    /// "I am at least the minimum age" (P-ACC-7). Give this or `birth_year`.
    pub age_confirmed: Option<bool>,
    pub birth_year: Option<i32>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    pub email: String,
    pub code: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotRequest {
    pub email: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    pub email: String,
    pub code: String,
    pub new_password: String,
}

#[derive(Serialize, ToSchema)]
pub struct Profile {
    pub id: String,
    pub email: String,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub email_verified: bool,
    /// Processing of the account's data is paused (P-RIGHTS-4): queued jobs wait.
    pub processing_paused: bool,
    /// The person asked for product news by email (P-COMM-1); off unless they turned it on.
    pub marketing_opt_in: bool,
    /// The person asked for an email when one of their creations is ready (or fails).
    pub notify_job_finished: bool,
    pub created_at: String,
}

impl From<&User> for Profile {
    fn from(user: &User) -> Profile {
        Profile {
            id: user.id.clone(),
            email: user.email.clone(),
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            role: user.role.as_str().to_owned(),
            email_verified: user.email_verified_at.is_some(),
            processing_paused: user.processing_paused,
            marketing_opt_in: user.marketing_opt_in_at.is_some(),
            notify_job_finished: user.notify_job_finished,
            created_at: rfc3339(user.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Accepted {
    pub status: &'static str,
}

/// What a rate limit guards. Each names its bucket in the store and the configured limit it
/// counts against, together, so a call site cannot pair one bucket with another's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    SignUp,
    SignIn,
    /// Sign-in tries per account, whatever the address they come from.
    SignInAccount,
    /// Email codes sent or guessed.
    Codes,
    VerifyResend,
    EmailChange,
    /// A password asked again before a sensitive change.
    PasswordCheck,
    OidcStart,
    JobSubmission,
    Upload,
    Report,
    /// Preview frames of a look, per account.
    Preview,
}

impl Throttle {
    /// The bucket's name in the store.
    fn scope(self) -> &'static str {
        match self {
            Throttle::SignUp => "sign_up",
            Throttle::SignIn => "sign_in",
            Throttle::SignInAccount => "sign_in_account",
            Throttle::Codes => "codes",
            Throttle::VerifyResend => "verify_resend",
            Throttle::EmailChange => "email_change",
            Throttle::PasswordCheck => "password_check",
            Throttle::OidcStart => "oidc_start",
            Throttle::JobSubmission => "job_submission",
            Throttle::Upload => "upload",
            Throttle::Report => "report",
            Throttle::Preview => "preview",
        }
    }

    fn limit(self, config: &reelsmith_config::Config) -> RateLimit {
        let limits = &config.rate_limits;
        match self {
            Throttle::SignUp => limits.sign_up,
            Throttle::SignIn | Throttle::PasswordCheck | Throttle::OidcStart => limits.sign_in,
            Throttle::SignInAccount => limits.sign_in_account,
            Throttle::Codes | Throttle::VerifyResend | Throttle::EmailChange => limits.codes,
            Throttle::JobSubmission => limits.job_submission,
            Throttle::Upload => config.uploads.rate_limit,
            Throttle::Report => config.sharing.reports,
            Throttle::Preview => limits.preview,
        }
    }
}

/// Counts one try of `what` by `key` (an account id, an address, an email) and refuses it with
/// 429 and `Retry-After` once the limit is reached.
pub async fn throttle(state: &AppState, what: Throttle, key: &str) -> ApiResult<()> {
    let limit = what.limit(&state.config);
    let window_ms = i64::try_from(limit.window_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
    match state
        .db
        .rate_limit_hit(
            what.scope(),
            key,
            i64::from(limit.count),
            window_ms,
            now_ms(),
        )
        .await?
    {
        RateDecision::Allowed { .. } => Ok(()),
        RateDecision::Limited { retry_after_ms } => Err(ApiError::rate_limited(retry_after_ms)),
    }
}

/// Codes are stored as a keyed digest: the store compares digests, and binding the user and
/// purpose means a digest from one account or purpose is useless for another.
pub(crate) fn code_digest(user_id: &str, purpose: CodePurpose, code: &str) -> String {
    hash_token(&format!("email-code:{}:{user_id}:{code}", purpose.as_str()))
}

/// Creates a fresh code (the previous one stops working) and returns it for the email.
async fn issue_code(state: &AppState, user_id: &str, purpose: CodePurpose) -> ApiResult<String> {
    let code = reelsmith_auth::generate_code()?.code;
    let now = now_ms();
    let minutes = i64::from(state.config.accounts.code_minutes.max(1));
    state
        .db
        .create_email_code(
            user_id,
            purpose,
            &code_digest(user_id, purpose, &code),
            now + minutes * 60_000,
            now,
        )
        .await?;
    Ok(code)
}

/// Creates a fresh code of `purpose` for `user` and the email that carries it.
async fn code_email(state: &AppState, user: &User, purpose: CodePurpose) -> ApiResult<Message> {
    let code = issue_code(state, &user.id, purpose).await?;
    let write = match purpose {
        CodePurpose::Reset => templates::password_reset_code,
        _ => templates::verification_code,
    };
    let minutes = state.config.accounts.code_minutes;
    Ok(write(&user.email, &code, minutes, &state.branding()))
}

fn age_statement(req: &SignupRequest, minimum: u8) -> ApiResult<AgeStatement> {
    match (req.birth_year, req.age_confirmed) {
        (Some(year), _) => Ok(AgeStatement::BirthYear(year)),
        (None, Some(true)) => Ok(AgeStatement::AtLeast(minimum)),
        (None, Some(false)) => Err(reelsmith_auth::AgeError::TooYoung { minimum }.into()),
        (None, None) => Err(ApiError::of(
            Code::AuthAgeRequired,
            format!("confirm that you are at least {minimum} years old, or give your birth year"),
        )),
    }
}

pub(crate) async fn hash_in_background(password: String) -> ApiResult<String> {
    // Argon2id takes tens of milliseconds of CPU: keep it off the async workers.
    Ok(tokio::task::spawn_blocking(move || hash_password(&password)).await??)
}

#[utoipa::path(post, path = "/api/v1/auth/signup", request_body = SignupRequest, tag = "auth",
    responses((status = 201, body = Profile), (status = 409, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn signup(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<SignupRequest>,
) -> ApiResult<(StatusCode, Json<Profile>)> {
    throttle(&state, Throttle::SignUp, client.ip_key()).await?;
    let email = normalise_email(&req.email)?;
    let username = normalise_username(&req.username)?;
    check_strength(&req.password)?;
    let minimum = state.config.accounts.minimum_age;
    let statement = age_statement(&req, minimum)?;
    check_age(statement, minimum, current_utc_year())?;
    let display_name = req
        .display_name
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(&username)
        .chars()
        .take(80)
        .collect::<String>();
    let password_hash = hash_in_background(req.password).await?;
    let (birth_year, age_confirmed_min) = match statement {
        AgeStatement::BirthYear(year) => (Some(i64::from(year)), None),
        AgeStatement::AtLeast(age) => (None, Some(i64::from(age))),
    };
    let user = state
        .db
        .create_user(
            &NewUser {
                email: email.address.clone(),
                username,
                password_hash: Some(password_hash),
                display_name,
                role: Role::User,
                birth_year,
                age_confirmed_min,
            },
            now_ms(),
        )
        .await?;
    // The sign-up page links the current privacy notice and terms: that is what the person
    // agreed to, recorded so a later material change can ask again (P-COMM-2).
    state.db.accept_current_policies(&user.id, now_ms()).await?;
    let grant = state.config.credits.signup_grant;
    if grant > 0 {
        state
            .db
            .add_credits(
                &user.id,
                CreditKind::Grant,
                grant,
                "sign-up grant",
                now_ms(),
            )
            .await?;
    }
    let message = code_email(&state, &user, CodePurpose::Verify).await?;
    state.mailer.send(&message).await?;
    client
        .record(&state, "account.created", Some(&user.id), None)
        .await;
    Ok((StatusCode::CREATED, Json(Profile::from(&user))))
}

pub(crate) fn code_error(check: CodeCheck) -> ApiError {
    let (code, detail) = match check {
        CodeCheck::Expired => (
            Code::AuthCodeExpired,
            "the code has expired; ask for a new one",
        ),
        CodeCheck::TooManyAttempts => (
            Code::AuthCodeAttemptsExhausted,
            "too many wrong guesses; ask for a new code",
        ),
        _ => (Code::AuthCodeInvalid, "the code is wrong"),
    };
    ApiError::of(code, detail)
}

/// Checks `code` for the account at `email`; an unknown address answers like a wrong code.
async fn check_code(
    state: &AppState,
    email: &str,
    code: &str,
    purpose: CodePurpose,
) -> ApiResult<User> {
    let wrong = || code_error(CodeCheck::NoCode);
    let email = normalise_email(email).map_err(|_| wrong())?;
    throttle(state, Throttle::Codes, &email.canonical).await?;
    let user = state
        .db
        .user_by_email(&email.canonical)
        .await?
        .ok_or_else(wrong)?;
    let code = reelsmith_auth::code::normalise_code(code).ok_or_else(wrong)?;
    match state
        .db
        .check_email_code(
            &user.id,
            purpose,
            &code_digest(&user.id, purpose, &code),
            now_ms(),
        )
        .await?
    {
        CodeCheck::Valid => Ok(user),
        other => Err(code_error(other)),
    }
}

#[utoipa::path(post, path = "/api/v1/auth/verify", request_body = VerifyRequest, tag = "auth",
    responses((status = 200, body = Profile, description = "verified and signed in; the session cookie is set"),
        (status = 400, body = Problem), (status = 429, body = Problem)))]
pub async fn verify(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> ApiResult<Response> {
    let user = check_code(&state, &req.email, &req.code, CodePurpose::Verify).await?;
    state.db.mark_email_verified(&user.id, now_ms()).await?;
    client
        .record(&state, "email.verified", Some(&user.id), None)
        .await;
    let user = state
        .db
        .user_by_id(&user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("account"))?;
    // The code proves the person reads the address's mail, which is what a password reset asks
    // too: asking for the password again right after would add nothing but a step.
    let cookie = open_session(&state, &client, &user.id).await?;
    let detail = json!({ "by": "verification" });
    client
        .record(&state, "sign_in.succeeded", Some(&user.id), Some(detail))
        .await;
    let mut response = Json(Profile::from(&user)).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// A new session for the user: the `Set-Cookie` value that carries it.
pub(crate) async fn open_session(
    state: &AppState,
    client: &ClientInfo,
    user_id: &str,
) -> ApiResult<HeaderValue> {
    let token = generate_token(TokenKind::Session)?;
    let now = now_ms();
    state
        .db
        .create_session(
            &NewSession {
                user_id: user_id.to_owned(),
                token_hash: token.hash.clone(),
                expires_at: now + session_lifetime_ms(state),
                user_agent: client.user_agent.clone(),
                ip: client.ip.clone(),
            },
            now,
        )
        .await?;
    Ok(session_cookie_header(
        state,
        &token.secret,
        session_lifetime_ms(state) / 1000,
    ))
}

#[utoipa::path(post, path = "/api/v1/auth/verify/resend", request_body = ForgotRequest, tag = "auth",
    responses((status = 202, body = Accepted, description = "the same for every address: a new code went out if it waits for one"),
        (status = 429, body = Problem, description = "`rate_limited`: as many codes as `rate_limits.codes` allows were asked for this address")))]
pub async fn resend_verification(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<ForgotRequest>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let accepted = (StatusCode::ACCEPTED, Json(Accepted { status: "accepted" }));
    let Ok(email) = normalise_email(&req.email) else {
        return Ok(accepted);
    };
    // Limited per address whether or not it is registered, so the limit tells nothing either,
    // and one person's inbox cannot be flooded.
    throttle(&state, Throttle::VerifyResend, &email.canonical).await?;
    let user = state.db.user_by_email(&email.canonical).await?;
    if let Some(user) = user.filter(|u| !u.is_deleted() && u.email_verified_at.is_none()) {
        let message = code_email(&state, &user, CodePurpose::Verify).await?;
        if let Err(err) = state.mailer.send(&message).await {
            tracing::error!(error = %err, "could not send a verification code");
        }
        client
            .record(&state, "email.code_resent", Some(&user.id), None)
            .await;
    }
    Ok(accepted)
}

pub(crate) fn invalid_credentials() -> ApiError {
    ApiError::of(
        Code::AuthInvalidCredentials,
        "the email address or password is wrong",
    )
}

/// Whether `password` is the account's, spending the same Argon2 work when there is no account,
/// so response times do not tell which addresses are registered.
pub(crate) async fn password_matches(user: Option<&User>, password: String) -> ApiResult<bool> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = user.and_then(|u| u.password_hash.clone());
    let known = hash.is_some();
    let ok = tokio::task::spawn_blocking(move || {
        let hash = match hash {
            Some(h) => h,
            None => DUMMY
                .get_or_init(|| {
                    hash_password("not a real password, only for timing").unwrap_or_default()
                })
                .clone(),
        };
        verify_password(&password, &hash).unwrap_or(false)
    })
    .await?;
    Ok(known && ok)
}

#[utoipa::path(post, path = "/api/v1/auth/login", request_body = LoginRequest, tag = "auth",
    responses((status = 200, body = Profile, description = "signed in; the session cookie is set"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 429, body = Problem)))]
pub async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let email = normalise_email(&req.email).map_err(|_| invalid_credentials())?;
    let limit_key = format!("{}|{}", email.canonical, client.ip_key());
    throttle(&state, Throttle::SignIn, &limit_key).await?;
    // The per-address limit alone lets guesses spread over many addresses through; this one
    // counts them all, and is looser so one address cannot lock the owner out as quickly.
    throttle(&state, Throttle::SignInAccount, &email.canonical).await?;
    // A deleted account cannot sign in (P-RET-4): it is treated as unknown, with the same
    // answer and the same Argon2 work.
    let user = state
        .db
        .user_by_email(&email.canonical)
        .await?
        .filter(|u| !u.is_deleted());
    if !password_matches(user.as_ref(), req.password).await? {
        let detail = json!({ "email": email.canonical });
        client
            .record(
                &state,
                "sign_in.failed",
                user.as_ref().map(|u| u.id.as_str()),
                Some(detail),
            )
            .await;
        return Err(invalid_credentials());
    }
    let user = user.ok_or_else(invalid_credentials)?;
    // Suspension by an admin (issue 20): told only to whoever knows the password.
    if state.db.suspended_at(&user.id).await?.is_some() {
        client
            .record(&state, "sign_in.suspended", Some(&user.id), None)
            .await;
        return Err(ApiError::of(
            Code::AuthSuspended,
            "this account is suspended; contact the operator",
        ));
    }
    if user.email_verified_at.is_none() {
        client
            .record(&state, "sign_in.unverified", Some(&user.id), None)
            .await;
        return Err(ApiError::of(
            Code::AuthEmailUnverified,
            "verify your email address with the emailed code before signing in",
        ));
    }
    // A banned account (issue 19) cannot sign in again.
    if state.db.is_banned(&user.id).await? {
        return Err(ApiError::of(
            Code::AccountBanned,
            "this account was banned by a moderator",
        ));
    }
    let token = generate_token(TokenKind::Session)?;
    let now = now_ms();
    state
        .db
        .create_session(
            &NewSession {
                user_id: user.id.clone(),
                token_hash: token.hash.clone(),
                expires_at: now + session_lifetime_ms(&state),
                user_agent: client.user_agent.clone(),
                ip: client.ip.clone(),
            },
            now,
        )
        .await?;
    // The account-wide bucket is not reset: the owner signing in must not hand a guesser
    // elsewhere a fresh allowance.
    state.db.rate_limit_reset("sign_in", &limit_key).await?;
    client
        .record(&state, "sign_in.succeeded", Some(&user.id), None)
        .await;
    let cookie = session_cookie_header(&state, &token.secret, session_lifetime_ms(&state) / 1000);
    let mut response = Json(Profile::from(&user)).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// The one cookie the service sets (P-ACC-6): essential, HttpOnly, SameSite=Lax, Secure on https.
pub(crate) fn session_cookie_header(
    state: &AppState,
    value: &str,
    max_age_seconds: i64,
) -> HeaderValue {
    let secure = if state.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age_seconds}{secure}"
    );
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "the session is ended and the cookie cleared"), (status = 401, body = Problem)))]
pub async fn logout(State(state): State<AppState>, caller: CurrentUser) -> ApiResult<Response> {
    if let Some(session_id) = caller.session_id() {
        state.db.revoke_session(caller.id(), session_id).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie_header(&state, "", 0));
    Ok(response)
}

#[utoipa::path(post, path = "/api/v1/auth/password/forgot", request_body = ForgotRequest, tag = "auth",
    responses((status = 202, body = Accepted, description = "always, whether or not the address is registered")))]
pub async fn forgot_password(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<ForgotRequest>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let accepted = (StatusCode::ACCEPTED, Json(Accepted { status: "accepted" }));
    // Same answer for every address, registered or not: no account enumeration.
    let Ok(email) = normalise_email(&req.email) else {
        return Ok(accepted);
    };
    if throttle(&state, Throttle::Codes, &email.canonical)
        .await
        .is_err()
    {
        return Ok(accepted);
    }
    // A deleted account gets no reset code: it could not sign in with the new password anyway.
    let user = state.db.user_by_email(&email.canonical).await?;
    if let Some(user) = user.filter(|u| !u.is_deleted()) {
        let message = code_email(&state, &user, CodePurpose::Reset).await?;
        if let Err(err) = state.mailer.send(&message).await {
            tracing::error!(error = %err, "could not send a password reset code");
        }
        client
            .record(&state, "password.reset_requested", Some(&user.id), None)
            .await;
    }
    Ok(accepted)
}

#[utoipa::path(post, path = "/api/v1/auth/password/reset", request_body = ResetRequest, tag = "auth",
    responses((status = 204, description = "password changed; every session ended"), (status = 400, body = Problem), (status = 422, body = Problem)))]
pub async fn reset_password(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<ResetRequest>,
) -> ApiResult<StatusCode> {
    check_strength(&req.new_password)?;
    let user = check_code(&state, &req.email, &req.code, CodePurpose::Reset).await?;
    let hash = hash_in_background(req.new_password).await?;
    let now = now_ms();
    state.db.set_password_hash(&user.id, &hash, now).await?;
    let ended = state.db.revoke_all_sessions(&user.id).await?;
    // Whoever forced the reset may have minted tokens with the old password: they end too.
    let tokens = state.db.revoke_all_api_tokens(&user.id, now).await?;
    // Holding the emailed code proves ownership of the address as well as verification does.
    state.db.mark_email_verified(&user.id, now).await?;
    let detail = json!({ "sessions_ended": ended, "tokens_revoked": tokens });
    client
        .record(&state, "password.reset", Some(&user.id), Some(detail))
        .await;
    let event = reelsmith_mail::SecurityEvent::PasswordChanged {
        when: rfc3339(now),
        ip: client.ip.clone().unwrap_or_else(|| "unknown".into()),
    };
    let notice = templates::security_notice(&user.email, &event, &state.branding());
    if let Err(err) = state.mailer.send(&notice).await {
        tracing::error!(error = %err, "could not send the password change notice");
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/me", tag = "auth", responses((status = 200, body = Profile), (status = 401, body = Problem)))]
pub async fn me(caller: CurrentUser) -> Json<Profile> {
    Json(Profile::from(&caller.user))
}
