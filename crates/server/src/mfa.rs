//! A second factor for any account (P-SEC-5): TOTP enrolment with a QR code drawn here, its
//! confirmation by a first code, ten one-time recovery codes, and the check that gives a browser
//! session step-up for staff actions.
//!
//! Every code is refused when it is wrong, when its time step is not later than the last one
//! accepted (a replay, even inside its 90-second window), or after `staff.totp_attempts` tries;
//! each refusal is audit-logged.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use reelsmith_auth::totp::{
    generate_recovery_codes, generate_totp_secret, normalise_recovery_code, secret_to_base32,
    step_of, verify_totp,
};
use reelsmith_auth::{hash_token, provisioning_uri};
use reelsmith_store::{DataKey, RateDecision};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ClientInfo, CurrentUser};
use crate::time::rfc3339;
use crate::AppState;
use reelsmith_core::Code;

/// What a sealed secret is bound to, so it cannot be moved to another person or column.
fn seal_context(user_id: &str) -> Vec<u8> {
    format!("reelsmith:totp:{user_id}").into_bytes()
}

/// Recovery codes are stored as a digest bound to their owner.
fn recovery_digest(user_id: &str, code: &str) -> String {
    hash_token(&format!("totp-recovery:{user_id}:{code}"))
}

#[derive(Serialize)]
pub struct TotpStatus {
    pub enabled: bool,
    pub pending: bool,
    pub recovery_codes_left: i64,
    /// Whether this session has passed a TOTP check recently enough for staff actions.
    pub step_up: bool,
}

/// `GET /api/v1/me/totp`
pub async fn status(State(state): State<AppState>, caller: CurrentUser) -> ApiResult<Response> {
    let totp = state.db.totp_state(caller.id()).await?.unwrap_or_default();
    let body = TotpStatus {
        enabled: totp.enabled(),
        pending: totp.totp_pending.is_some(),
        recovery_codes_left: state.db.recovery_codes_left(caller.id()).await?,
        step_up: totp.enabled() && crate::staff::has_step_up(&state, &caller).await?,
    };
    Ok(Json(body).into_response())
}

#[derive(Serialize)]
pub struct Enrolment {
    /// The secret in base32, for typing into an app that cannot scan.
    pub secret: String,
    pub otpauth_uri: String,
    /// The QR code of `otpauth_uri` as an SVG document.
    pub qr_svg: String,
}

async fn data_key(state: &AppState, user_id: &str) -> ApiResult<DataKey> {
    state
        .media
        .keys()
        .data_key(user_id, state.clock.now())
        .await
        .map_err(|e| ApiError::fault(Code::TotpKeyUnavailable, &e))
}

/// `POST /api/v1/me/totp/enrol`: a new secret awaiting its first code. A confirmed factor
/// must be turned off (with a code) before another is enrolled, so a stolen session cannot
/// swap the authenticator.
pub async fn enrol(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
) -> ApiResult<Response> {
    let totp = state.db.totp_state(caller.id()).await?.unwrap_or_default();
    if totp.enabled() {
        return Err(ApiError::of(
            Code::TotpAlreadyEnabled,
            "an authenticator is already enrolled; turn it off with a code first",
        ));
    }
    let secret = generate_totp_secret()?;
    let key = data_key(&state, caller.id()).await?;
    let sealed = key.seal_value(&seal_context(caller.id()), &secret);
    state.db.set_totp_pending(caller.id(), &sealed).await?;
    client
        .record(&state, "mfa.enrol_started", Some(caller.id()), None)
        .await;
    let uri = provisioning_uri(&state.config.staff.totp_issuer, &caller.user.email, &secret);
    let body = Enrolment {
        secret: secret_to_base32(&secret),
        qr_svg: qr_svg(&uri)?,
        otpauth_uri: uri,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// The QR code of `text`, drawn as SVG with a quiet zone, dark on light whatever the theme.
pub fn qr_svg(text: &str) -> ApiResult<String> {
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M)
        .map_err(|e| ApiError::fault(Code::TotpQrFailed, &e))?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build())
}

#[derive(Deserialize)]
pub struct CodeRequest {
    /// A 6-digit code from the authenticator.
    #[serde(default)]
    pub code: Option<String>,
    /// One of the recovery codes, instead of `code`.
    #[serde(default)]
    pub recovery_code: Option<String>,
}

#[derive(Serialize)]
pub struct Confirmed {
    /// Shown once: they are stored only as digests.
    pub recovery_codes: Vec<String>,
}

/// `POST /api/v1/me/totp/confirm`: the first code proves the app holds the secret; the answer
/// carries the ten recovery codes, the only time they are shown.
pub async fn confirm(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    ApiJson(req): ApiJson<CodeRequest>,
) -> ApiResult<Response> {
    limit_tries(&state, &caller, &client).await?;
    let totp = state.db.totp_state(caller.id()).await?.unwrap_or_default();
    let Some(sealed) = totp.totp_pending else {
        return Err(ApiError::of(
            Code::TotpNotEnrolling,
            "start an enrolment first (POST /api/v1/me/totp/enrol)",
        ));
    };
    let secret = open_secret(&state, caller.id(), &sealed).await?;
    let code = req.code.unwrap_or_default();
    let Some(step) = verify_totp(&secret, &code, unix_seconds(&state)) else {
        return Err(refuse(&state, &caller, &client, "mfa.failed", invalid_code()).await);
    };
    let codes = generate_recovery_codes()?;
    let digests: Vec<String> = codes
        .iter()
        .map(|c| recovery_digest(caller.id(), c))
        .collect();
    let step = i64::try_from(step).unwrap_or(i64::MAX);
    if !state
        .db
        .confirm_totp(caller.id(), step, &digests, state.clock.now())
        .await?
    {
        return Err(ApiError::of(
            Code::TotpNotEnrolling,
            "the enrolment was replaced or confirmed meanwhile",
        ));
    }
    if let Some(session) = caller.session_id() {
        state
            .db
            .set_session_step_up(session, state.clock.now())
            .await?;
    }
    client
        .record(&state, "mfa.enabled", Some(caller.id()), None)
        .await;
    Ok((
        StatusCode::OK,
        Json(Confirmed {
            recovery_codes: codes,
        }),
    )
        .into_response())
}

#[derive(Serialize)]
pub struct Verified {
    /// Until when this session may take staff actions.
    pub step_up_until: String,
    pub recovery_codes_left: i64,
}

/// `POST /api/v1/me/totp/verify`: a code (or a recovery code) gives this browser session
/// step-up for `staff.step_up_minutes`.
pub async fn verify(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    ApiJson(req): ApiJson<CodeRequest>,
) -> ApiResult<Response> {
    let Some(session) = caller.session_id().map(str::to_owned) else {
        return Err(ApiError::of(
            Code::TotpSessionRequired,
            "step-up belongs to a browser session; API tokens cannot carry it",
        ));
    };
    check_code(&state, &caller, &client, &req).await?;
    let now = state.clock.now();
    state.db.set_session_step_up(&session, now).await?;
    client
        .record(&state, "mfa.verified", Some(caller.id()), None)
        .await;
    let window = i64::from(state.config.staff.step_up_minutes.max(1)) * 60_000;
    Ok(Json(Verified {
        step_up_until: rfc3339(now + window),
        recovery_codes_left: state.db.recovery_codes_left(caller.id()).await?,
    })
    .into_response())
}

/// `DELETE /api/v1/me/totp` with a current code: the second factor is removed.
pub async fn disable(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    ApiJson(req): ApiJson<CodeRequest>,
) -> ApiResult<Response> {
    check_code(&state, &caller, &client, &req).await?;
    state.db.clear_totp(caller.id()).await?;
    client
        .record(&state, "mfa.disabled", Some(caller.id()), None)
        .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Checks a TOTP code or a recovery code of the caller's confirmed factor, rate-limited,
/// refusing replays, auditing every refusal.
async fn check_code(
    state: &AppState,
    caller: &CurrentUser,
    client: &ClientInfo,
    req: &CodeRequest,
) -> ApiResult<()> {
    limit_tries(state, caller, client).await?;
    let totp = state.db.totp_state(caller.id()).await?.unwrap_or_default();
    let Some(sealed) = totp.totp_secret.filter(|_| totp.totp_enabled_at.is_some()) else {
        return Err(ApiError::of(
            Code::TotpNotEnrolled,
            "no authenticator is enrolled on this account",
        ));
    };
    if let Some(raw) = req
        .recovery_code
        .as_deref()
        .filter(|c| !c.trim().is_empty())
    {
        let used = match normalise_recovery_code(raw) {
            Some(code) => {
                state
                    .db
                    .use_recovery_code(
                        caller.id(),
                        &recovery_digest(caller.id(), &code),
                        state.clock.now(),
                    )
                    .await?
            }
            None => false,
        };
        if !used {
            let err = ApiError::of(
                Code::TotpInvalidRecoveryCode,
                "that recovery code is wrong or was used already",
            );
            return Err(refuse(state, caller, client, "mfa.failed", err).await);
        }
        client
            .record(state, "mfa.recovery_used", Some(caller.id()), None)
            .await;
        return Ok(());
    }
    let secret = open_secret(state, caller.id(), &sealed).await?;
    let code = req.code.as_deref().unwrap_or_default();
    let Some(step) = verify_totp(&secret, code, unix_seconds(state)) else {
        return Err(refuse(state, caller, client, "mfa.failed", invalid_code()).await);
    };
    let step = i64::try_from(step).unwrap_or(i64::MAX);
    if !state.db.accept_totp_step(caller.id(), step).await? {
        let err = ApiError::of(
            Code::TotpReplayed,
            "that code was used already; wait for the next one",
        );
        return Err(refuse(state, caller, client, "mfa.replay_refused", err).await);
    }
    Ok(())
}

fn invalid_code() -> ApiError {
    ApiError::of(
        Code::TotpInvalidCode,
        "that code is not the one the authenticator shows now",
    )
}

async fn refuse(
    state: &AppState,
    caller: &CurrentUser,
    client: &ClientInfo,
    kind: &str,
    err: ApiError,
) -> ApiError {
    let detail = json!({ "code": err.code });
    client
        .record(state, kind, Some(caller.id()), Some(detail))
        .await;
    err
}

/// `staff.totp_attempts` tries per account, wherever they come from.
async fn limit_tries(state: &AppState, caller: &CurrentUser, client: &ClientInfo) -> ApiResult<()> {
    let limit = state.config.staff.totp_attempts;
    let window_ms = i64::try_from(limit.window_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
    let decision = state
        .db
        .rate_limit_hit(
            "totp",
            caller.id(),
            i64::from(limit.count),
            window_ms,
            state.clock.now(),
        )
        .await?;
    match decision {
        RateDecision::Allowed { .. } => Ok(()),
        RateDecision::Limited { retry_after_ms } => {
            let err = ApiError {
                code: Code::TotpRateLimited,
                ..ApiError::rate_limited(retry_after_ms)
            };
            Err(refuse(state, caller, client, "mfa.rate_limited", err).await)
        }
    }
}

async fn open_secret(state: &AppState, user_id: &str, sealed: &[u8]) -> ApiResult<Vec<u8>> {
    let key = data_key(state, user_id).await?;
    key.open_value(&seal_context(user_id), sealed)
        .ok_or_else(|| {
            ApiError::fault(
                Code::TotpSecretUnreadable,
                &"the TOTP secret does not open under the account's data key",
            )
        })
}

fn unix_seconds(state: &AppState) -> u64 {
    u64::try_from(state.clock.now() / 1000).unwrap_or(0)
}

/// The current time step, for tests that must wait for a fresh code.
pub fn current_step(state: &AppState) -> u64 {
    step_of(unix_seconds(state))
}
