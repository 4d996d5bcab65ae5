//! `/api/v1/me` changes (P-ACC-5): the display name, the password (checked against the current
//! one; every other session ends), and the email address, which changes only once a code sent to
//! the new address is entered (the old address is told of the request). Each change is
//! audit-logged (P-SEC-6); password checks and code guesses are rate-limited per account
//! (P-SEC-7).
//!
//! Erasure and restriction: `DELETE /me` deletes the account at once (P-RET-4, P-RIGHTS-3)
//! after the password is entered again; the retention sweep purges its data later.
//! `PUT /me/processing` pauses or resumes all processing of the account's data (P-RIGHTS-4).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use reelsmith_auth::{check_strength, normalise_email};
use reelsmith_mail::templates;
use reelsmith_store::{now_ms, CodeCheck, CodePurpose, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::auth::{
    code_digest, code_error, hash_in_background, invalid_credentials, password_matches,
    session_cookie_header, throttle, Accepted, Profile, Throttle,
};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ClientInfo, CurrentUser};
use crate::time::rfc3339;
use crate::AppState;
use reelsmith_core::Code;

/// The longest display name, in characters.
pub const MAX_DISPLAY_NAME: usize = 80;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    /// 1 to 80 characters after trimming.
    pub display_name: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsernameUpdate {
    /// 3 to 30 characters: lower-case letters, digits and `_`; unique, ignoring case.
    pub username: String,
}

/// The settings of the caller's last submitted job (P-IN-6): what the Create form starts from.
#[derive(Serialize, ToSchema)]
pub struct PreferencesView {
    /// Only settings (model, provider, resolution, aspect, motion, style, captions, voice…),
    /// never a script, prompt or upload; `null` before the first job.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<serde_json::Value>,
    pub updated_at: Option<String>,
}

/// The keys of a render spec that are settings rather than content: the last-used ones are
/// remembered per user (P-IN-6). Scripts, prompts, upload ids and the seed are the job's own.
pub const PREFERENCE_KEYS: [&str; 9] = [
    "provider",
    "model",
    "resolution",
    "aspect",
    "fps",
    "motion",
    "style",
    "captions",
    "tts",
];

/// The settings part of a job's parameters.
pub fn settings_of(params: &serde_json::Value) -> serde_json::Value {
    let picked: serde_json::Map<String, serde_json::Value> = PREFERENCE_KEYS
        .iter()
        .filter_map(|k| params.get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .filter(|(_, v)| !v.is_null())
        .collect();
    serde_json::Value::Object(picked)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailChange {
    pub new_email: String,
    /// The account's current password.
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailChangeVerify {
    /// The six-digit code emailed to the new address.
    pub code: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountDeletion {
    /// The account's current password, entered again.
    pub password: String,
}

/// The answer to an account deletion.
#[derive(Serialize, ToSchema)]
pub struct DeletionScheduled {
    /// Always `deleted`: the account can no longer be used.
    pub status: &'static str,
    pub deleted_at: String,
    /// Everything the account held is purged by then (P-RET-4).
    pub purge_by: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessingUpdate {
    /// `true` pauses all processing of the account's data; `false` resumes it.
    pub paused: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationsUpdate {
    /// `true` sends an email when one of the caller's creations is ready or fails.
    pub job_finished: bool,
}

/// Checks the caller's password, counting the attempt against the per-account sign-in limit so
/// a stolen session cannot be used to guess it.
async fn check_password(
    state: &AppState,
    caller: &CurrentUser,
    client: &ClientInfo,
    password: String,
    what: &str,
) -> ApiResult<()> {
    let key = format!("account:{}", caller.id());
    throttle(state, Throttle::PasswordCheck, &key).await?;
    if !password_matches(Some(&caller.user), password).await? {
        let detail = json!({ "for": what });
        client
            .record(
                state,
                "password.check_failed",
                Some(caller.id()),
                Some(detail),
            )
            .await;
        return Err(invalid_credentials());
    }
    state.db.rate_limit_reset("password_check", &key).await?;
    Ok(())
}

async fn fresh_profile(state: &AppState, user_id: &str) -> ApiResult<Json<Profile>> {
    let user = state
        .db
        .user_by_id(user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("account"))?;
    Ok(Json(Profile::from(&user)))
}

#[utoipa::path(patch, path = "/api/v1/me", request_body = ProfileUpdate, tag = "auth",
    responses((status = 200, body = Profile), (status = 401, body = Problem), (status = 422, body = Problem)))]
pub async fn update_profile(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    ApiJson(req): ApiJson<ProfileUpdate>,
) -> ApiResult<Json<Profile>> {
    let name = req.display_name.trim();
    let length = name.chars().count();
    if length == 0 || length > MAX_DISPLAY_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::of(Code::AccountInvalidDisplayName,
            format!("the display name must be 1 to {MAX_DISPLAY_NAME} characters, without control characters"),
        ));
    }
    state
        .db
        .set_display_name(caller.id(), name, now_ms())
        .await?;
    client
        .record(&state, "profile.updated", Some(caller.id()), None)
        .await;
    fresh_profile(&state, caller.id()).await
}

#[utoipa::path(put, path = "/api/v1/me/username", request_body = UsernameUpdate, tag = "auth",
    responses((status = 200, body = Profile),
        (status = 409, body = Problem, description = "`account.username_taken`"),
        (status = 422, body = Problem, description = "a malformed or reserved username")))]
pub async fn set_username(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    ApiJson(req): ApiJson<UsernameUpdate>,
) -> ApiResult<Json<Profile>> {
    let username = reelsmith_auth::normalise_username(&req.username)?;
    if username == caller.user.username {
        return fresh_profile(&state, caller.id()).await;
    }
    state
        .db
        .set_username(caller.id(), &username, now_ms())
        .await?;
    let detail = json!({ "from": &caller.user.username, "to": &username });
    client
        .record(
            &state,
            "profile.username_changed",
            Some(caller.id()),
            Some(detail),
        )
        .await;
    fresh_profile(&state, caller.id()).await
}

#[utoipa::path(get, path = "/api/v1/me/preferences", tag = "auth",
    responses((status = 200, body = PreferencesView), (status = 401, body = Problem)))]
pub async fn preferences(
    State(state): State<AppState>,
    caller: CurrentUser,
) -> ApiResult<Json<PreferencesView>> {
    let stored = state.db.preferences(caller.id()).await?;
    Ok(Json(PreferencesView {
        updated_at: stored.as_ref().map(|(_, at)| rfc3339(*at)),
        settings: stored.map(|(settings, _)| settings),
    }))
}

#[utoipa::path(post, path = "/api/v1/me/password", request_body = PasswordChange, tag = "auth",
    responses((status = 204, description = "password changed; every other session ended"),
        (status = 401, body = Problem, description = "`auth.invalid_credentials`: the current password is wrong"),
        (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn change_password(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    ApiJson(req): ApiJson<PasswordChange>,
) -> ApiResult<StatusCode> {
    check_password(&state, &caller, &client, req.current_password, "password").await?;
    check_strength(&req.new_password)?;
    let hash = hash_in_background(req.new_password).await?;
    let now = now_ms();
    state.db.set_password_hash(caller.id(), &hash, now).await?;
    // The caller's own session stays; with an API token, every session ends.
    let ended = match caller.session_id() {
        Some(keep) => state.db.revoke_other_sessions(caller.id(), keep).await?,
        None => state.db.revoke_all_sessions(caller.id()).await?,
    };
    // Every API token ends as well (P-ACC-3), the caller's own included: a token minted by
    // someone who knew the old password must not outlive it.
    let tokens = state.db.revoke_all_api_tokens(caller.id(), now).await?;
    let detail = json!({ "sessions_ended": ended, "tokens_revoked": tokens });
    client
        .record(&state, "password.changed", Some(caller.id()), Some(detail))
        .await;
    let event = reelsmith_mail::SecurityEvent::PasswordChanged {
        when: rfc3339(now),
        ip: client.ip.clone().unwrap_or_else(|| "unknown".into()),
    };
    let notice = templates::security_notice(&caller.user.email, &event, &state.branding());
    if let Err(err) = state.mailer.send(&notice).await {
        tracing::error!(error = %err, "could not send the password change notice");
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/me/email", request_body = EmailChange, tag = "auth",
    responses((status = 202, body = Accepted, description = "a code went to the new address; nothing changes until it is entered"),
        (status = 401, body = Problem), (status = 409, body = Problem, description = "`account.email_taken`"),
        (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn request_email_change(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    ApiJson(req): ApiJson<EmailChange>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    check_password(&state, &caller, &client, req.password, "email_change").await?;
    let email = normalise_email(&req.new_email)?;
    if let Some(holder) = state.db.user_by_email(&email.canonical).await? {
        if holder.id == caller.id() {
            return Err(ApiError::of(
                Code::AccountEmailUnchanged,
                "this is already the account's email address",
            ));
        }
        return Err(StoreError::EmailTaken.into());
    }
    // Sending codes costs mail; the same per-account limit as code guesses.
    throttle(&state, Throttle::EmailChange, caller.id()).await?;
    let code = reelsmith_auth::generate_code()?.code;
    let now = now_ms();
    let minutes = i64::from(state.config.accounts.code_minutes.max(1));
    let purpose = CodePurpose::ChangeEmail;
    state
        .db
        .create_email_change_code(
            caller.id(),
            &email.address,
            &code_digest(caller.id(), purpose, &code),
            now + minutes * 60_000,
            now,
        )
        .await?;
    let message = templates::email_change_code(
        &email.address,
        &code,
        state.config.accounts.code_minutes,
        &state.branding(),
    );
    state.mailer.send(&message).await?;
    let event = reelsmith_mail::SecurityEvent::EmailChangeRequested {
        when: rfc3339(now),
        ip: client.ip.clone().unwrap_or_else(|| "unknown".into()),
        new_email: email.address.clone(),
    };
    let notice = templates::security_notice(&caller.user.email, &event, &state.branding());
    if let Err(err) = state.mailer.send(&notice).await {
        tracing::error!(error = %err, "could not send the email change notice");
    }
    let detail = json!({ "new_email": email.address });
    client
        .record(
            &state,
            "email.change_requested",
            Some(caller.id()),
            Some(detail),
        )
        .await;
    Ok((StatusCode::ACCEPTED, Json(Accepted { status: "accepted" })))
}

#[utoipa::path(post, path = "/api/v1/me/email/verify", request_body = EmailChangeVerify, tag = "auth",
    responses((status = 200, body = Profile, description = "the new address is the account's"),
        (status = 400, body = Problem, description = "`auth.code_invalid`, `auth.code_expired` or `auth.code_attempts_exhausted`"),
        (status = 409, body = Problem, description = "`account.email_taken`: another account took the address meanwhile"),
        (status = 429, body = Problem)))]
pub async fn verify_email_change(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    ApiJson(req): ApiJson<EmailChangeVerify>,
) -> ApiResult<Json<Profile>> {
    throttle(&state, Throttle::Codes, &format!("account:{}", caller.id())).await?;
    let wrong = || code_error(CodeCheck::NoCode);
    let code = reelsmith_auth::code::normalise_code(&req.code).ok_or_else(wrong)?;
    let purpose = CodePurpose::ChangeEmail;
    let (check, new_email) = state
        .db
        .check_email_change_code(
            caller.id(),
            &code_digest(caller.id(), purpose, &code),
            now_ms(),
        )
        .await?;
    let new_email = match (check, new_email) {
        (CodeCheck::Valid, Some(address)) => address,
        (CodeCheck::Valid, None) => return Err(wrong()),
        (other, _) => return Err(code_error(other)),
    };
    let old_email = caller.user.email.clone();
    match state.db.set_email(caller.id(), &new_email, now_ms()).await {
        Ok(_) => {}
        Err(StoreError::EmailTaken) => {
            let detail = json!({ "new_email": new_email });
            client
                .record(
                    &state,
                    "email.change_conflict",
                    Some(caller.id()),
                    Some(detail),
                )
                .await;
            return Err(StoreError::EmailTaken.into());
        }
        Err(err) => return Err(err.into()),
    }
    let detail = json!({ "old_email": old_email, "new_email": new_email });
    client
        .record(&state, "email.changed", Some(caller.id()), Some(detail))
        .await;
    fresh_profile(&state, caller.id()).await
}

#[utoipa::path(delete, path = "/api/v1/me", request_body = AccountDeletion, tag = "auth",
    responses((status = 202, body = DeletionScheduled, description = "the account is deleted: every session and API token ended, sign-in impossible; its data is purged by `purge_by`"),
        (status = 401, body = Problem, description = "`auth.invalid_credentials`: the password is wrong; nothing changed"),
        (status = 429, body = Problem)))]
pub async fn delete_account(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    ApiJson(req): ApiJson<AccountDeletion>,
) -> ApiResult<Response> {
    check_password(&state, &caller, &client, req.password, "account_deletion").await?;
    let now = now_ms();
    // Ends every session and token and cancels queued and running jobs in one transaction,
    // so nothing done with the account's credentials can follow this answer.
    state.db.mark_user_deleted(caller.id(), now).await?;
    let purge_by = rfc3339(now + i64::from(state.config.retention.purge_days) * 86_400_000);
    let detail = json!({ "purge_by": purge_by });
    client
        .record(&state, "account.deleted", Some(caller.id()), Some(detail))
        .await;
    let message = templates::account_deleted(
        &caller.user.email,
        &rfc3339(now),
        &purge_by,
        &state.branding(),
    );
    if let Err(err) = state.mailer.send(&message).await {
        // The deletion stands either way: an unsent confirmation must not keep an account alive.
        tracing::error!(error = %err, "could not send the account deletion confirmation");
    }
    let body = DeletionScheduled {
        status: "deleted",
        deleted_at: rfc3339(now),
        purge_by,
    };
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    // The session behind the cookie is gone already; clearing the cookie tidies the browser.
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie_header(&state, "", 0));
    Ok(response)
}

#[utoipa::path(put, path = "/api/v1/me/processing", request_body = ProcessingUpdate, tag = "auth",
    responses((status = 200, body = Profile, description = "the account's processing state; while paused, queued jobs wait and nothing is processed or sent anywhere"),
        (status = 401, body = Problem), (status = 422, body = Problem)))]
pub async fn set_processing(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    ApiJson(req): ApiJson<ProcessingUpdate>,
) -> ApiResult<Json<Profile>> {
    state
        .db
        .set_processing_paused(caller.id(), req.paused, now_ms())
        .await?;
    let kind = if req.paused {
        "processing.paused"
    } else {
        "processing.resumed"
    };
    client.record(&state, kind, Some(caller.id()), None).await;
    if !req.paused {
        // Jobs that waited become claimable again: wake PostgreSQL listeners instead of
        // leaving them to the next poll.
        for job in state.db.queued_job_ids_of(caller.id()).await? {
            state.db.notify_job_queued(&job).await?;
        }
    }
    fresh_profile(&state, caller.id()).await
}

#[utoipa::path(put, path = "/api/v1/me/notifications", request_body = NotificationsUpdate, tag = "auth",
    responses((status = 200, body = Profile, description = "the account with `notify_job_finished`"),
        (status = 401, body = Problem), (status = 422, body = Problem)))]
pub async fn set_notifications(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiJson(req): ApiJson<NotificationsUpdate>,
) -> ApiResult<Json<Profile>> {
    state
        .db
        .set_notify_job_finished(caller.id(), req.job_finished, now_ms())
        .await?;
    fresh_profile(&state, caller.id()).await
}
