//! Safety (issue 19): the automated checks before any provider is called (P-SAFE-1), reports
//! from anyone (P-SAFE-3) and the moderators' queue: held jobs and reported works, approve,
//! take down with a reason shown to the owner, ban an account, legal takedown requests
//! (P-SAFE-2, P-SAFE-3). Every moderator action is audit-logged.
//!
//! Moderator routes take the console's [`RequireStaff<Moderator>`]: the role `moderator` or
//! `admin` (anyone else gets 404, as if the routes did not exist), an enrolled TOTP
//! authenticator and a step-up in this session (P-SEC-5), like every other staff action.

pub(crate) mod images;
pub mod page;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use reelsmith_safety::Verdict;
use reelsmith_store::{now_ms, NewReport, Role};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::auth::{throttle, Throttle};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ClientInfo, CurrentUser};
use crate::staff::{Moderator, RequireStaff};
use crate::time::{opt_rfc3339, rfc3339};
use crate::AppState;
use reelsmith_core::Code;

/// The longest reason or detail a report, takedown or ban takes, in characters.
const MAX_REASON_CHARS: usize = 1000;

/// The texts of a render spec the checks read: script, prompts and negative prompt.
fn spec_texts(params: &Value) -> Vec<&str> {
    let mut texts = Vec::new();
    for key in ["script", "prompt", "negative_prompt"] {
        if let Some(s) = params.get(key).and_then(Value::as_str) {
            texts.push(s);
        }
    }
    if let Some(prompts) = params.get("prompts").and_then(Value::as_array) {
        texts.extend(prompts.iter().filter_map(Value::as_str));
    }
    texts
}

fn refused(categories: &[String]) -> ApiError {
    ApiError::of(
        Code::ModerationRefused,
        format!(
            "this request breaks this server's content rules ({}); nothing was queued or charged",
            categories.join(", ")
        ),
    )
}

/// Records a refusal: the categories only, never the words (they are the person's).
async fn record_refusal(
    state: &AppState,
    caller: &CurrentUser,
    client: &ClientInfo,
    what: &str,
    categories: &[String],
) {
    let detail = json!({ "what": what, "categories": categories });
    client
        .record(state, "moderation.refused", Some(caller.id()), Some(detail))
        .await;
}

/// Checks a spec before anything is queued (P-SAFE-1): a refusal is an error (recorded, nothing
/// queued, charged or sent); `Some(categories)` means the job is to be held for review.
pub(crate) async fn screen_spec(
    state: &AppState,
    caller: &CurrentUser,
    client: &ClientInfo,
    params: &Value,
) -> ApiResult<Option<Vec<String>>> {
    match state.rules.check(spec_texts(params)) {
        Verdict::Allow => Ok(None),
        Verdict::Hold { categories } => Ok(Some(categories)),
        Verdict::Refuse { categories } => {
            record_refusal(state, caller, client, "job", &categories).await;
            Err(refused(&categories))
        }
    }
}

/// Holds a just-queued job for review, recording why.
pub(crate) async fn hold(
    state: &AppState,
    caller: &CurrentUser,
    client: &ClientInfo,
    job_id: &str,
    categories: &[String],
) -> ApiResult<()> {
    state
        .db
        .hold_job(job_id, caller.id(), categories, now_ms())
        .await?;
    let detail = json!({ "job_id": job_id, "categories": categories });
    client
        .record(state, "moderation.held", Some(caller.id()), Some(detail))
        .await;
    Ok(())
}

/// Checks a title alone (renaming): only refusing rules apply to what stays private.
pub(crate) async fn screen_title(
    state: &AppState,
    caller: &CurrentUser,
    client: &ClientInfo,
    title: &str,
) -> ApiResult<()> {
    if let Verdict::Refuse { categories } = state.rules.check([title]) {
        record_refusal(state, caller, client, "title", &categories).await;
        return Err(refused(&categories));
    }
    Ok(())
}

/// Checks what publishing makes public: every rule, the holding ones too.
pub(crate) async fn screen_public(
    state: &AppState,
    caller: &CurrentUser,
    client: &ClientInfo,
    title: &str,
    params: &Value,
) -> ApiResult<()> {
    let mut texts = spec_texts(params);
    texts.push(title);
    match state.rules.check(texts) {
        Verdict::Allow => Ok(()),
        Verdict::Hold { categories } | Verdict::Refuse { categories } => {
            record_refusal(state, caller, client, "publication", &categories).await;
            Err(refused(&categories))
        }
    }
}

/// A reason or detail as given: whitespace runs become one space, control characters are
/// refused, at most [`MAX_REASON_CHARS`]. Markup is kept as text: every page escapes it.
fn clean_text(raw: &str, field: &'static str, required: bool) -> ApiResult<String> {
    if raw.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return Err(ApiError::of(
            Code::ModerationTextInvalid,
            format!("{field} cannot hold control characters"),
        ));
    }
    let text = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::of(
            Code::ModerationTextTooLong,
            format!("{field} has at most {MAX_REASON_CHARS} characters"),
        ));
    }
    if required && text.is_empty() {
        return Err(ApiError::of(
            Code::ModerationReasonRequired,
            format!("{field} is required"),
        ));
    }
    Ok(text)
}

/// The reasons a report may give.
const REPORT_REASONS: &[&str] = &[
    "illegal", "sexual", "violence", "hate", "rights", "spam", "other",
];

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    /// A public work's id (from the gallery); or give `share_token`.
    pub job_id: Option<String>,
    /// The token of a share link (the last part of its address).
    pub share_token: Option<String>,
    /// `illegal`, `sexual`, `violence`, `hate`, `rights`, `spam` or `other`.
    pub reason: String,
    /// What is wrong, in the reporter's words (at most 1000 characters).
    #[serde(default)]
    pub detail: String,
}

#[derive(Serialize, ToSchema)]
pub struct ReportReceipt {
    /// Always true: a repeated report of the same work by the same reporter is received again
    /// but counted once.
    pub received: bool,
}

#[utoipa::path(post, path = "/api/v1/reports", tag = "moderation", request_body = ReportRequest, security((), ("session_cookie" = [])),
    responses((status = 202, body = ReportReceipt), (status = 404, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn report(
    State(state): State<AppState>,
    caller: Result<CurrentUser, ApiError>,
    client: ClientInfo,
    ApiJson(body): ApiJson<ReportRequest>,
) -> ApiResult<(StatusCode, Json<ReportReceipt>)> {
    let caller = caller.ok();
    // One bucket per account when signed in, per address otherwise: a flood meets the limit
    // before it reaches the queue.
    let reporter_key = match &caller {
        Some(c) => format!("user:{}", c.id()),
        None => format!("ip:{}", client.ip_key()),
    };
    throttle(&state, Throttle::Report, &reporter_key).await?;
    if !REPORT_REASONS.contains(&body.reason.as_str()) {
        return Err(ApiError::of(
            Code::ReportReasonInvalid,
            format!("reason is one of {}", REPORT_REASONS.join(", ")),
        ));
    }
    let detail = clean_text(&body.detail, "detail", false)?;
    let (job_id, via) = match (&body.job_id, &body.share_token) {
        (Some(id), None) => (
            crate::sharing::public::visible_work(&state, id)
                .await?
                .job_id,
            "gallery",
        ),
        (None, Some(token)) => (
            crate::sharing::public::shared(&state, token).await?.job_id,
            "share",
        ),
        _ => {
            return Err(ApiError::of(
                Code::ReportTargetInvalid,
                "give exactly one of job_id and share_token",
            ))
        }
    };
    let created = state
        .db
        .record_report(
            &NewReport {
                job_id: job_id.clone(),
                via,
                reporter_key: reelsmith_auth::hash_token(&format!("reporter:{reporter_key}")),
                reporter_id: caller.as_ref().map(|c| c.id().to_owned()),
                reason: body.reason.clone(),
                detail,
            },
            now_ms(),
        )
        .await?;
    if created {
        let detail = json!({ "job_id": job_id, "via": via, "reason": body.reason });
        client
            .record(
                &state,
                "report.received",
                caller.as_ref().map(|c| c.id()),
                Some(detail),
            )
            .await;
    }
    Ok((StatusCode::ACCEPTED, Json(ReportReceipt { received: true })))
}

#[derive(Serialize, ToSchema)]
pub struct HeldJobView {
    pub job_id: String,
    pub owner: String,
    pub categories: Vec<String>,
    pub title: String,
    /// The script and prompts, for the reviewer.
    pub texts: Vec<String>,
    pub held_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct ReportedWorkView {
    pub job_id: String,
    pub owner: String,
    pub title: String,
    pub reports: i64,
    pub reasons: Vec<String>,
    pub first_reported_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct QueueView {
    pub held: Vec<HeldJobView>,
    pub reported: Vec<ReportedWorkView>,
}

pub(crate) async fn queue_view(state: &AppState) -> ApiResult<QueueView> {
    let held = state
        .db
        .held_jobs(200)
        .await?
        .into_iter()
        .map(|h| {
            let params: Value = serde_json::from_str(&h.params_json).unwrap_or(Value::Null);
            HeldJobView {
                title: h.title.clone().unwrap_or_else(|| {
                    params
                        .get("script")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .chars()
                        .take(60)
                        .collect()
                }),
                texts: spec_texts(&params).into_iter().map(str::to_owned).collect(),
                job_id: h.job_id,
                owner: h.username,
                categories: h.categories,
                held_at: rfc3339(h.created_at),
            }
        })
        .collect();
    let reported = state
        .db
        .reported_works(200)
        .await?
        .into_iter()
        .map(|r| ReportedWorkView {
            title: r.title.unwrap_or_else(|| "(untitled)".to_owned()),
            reasons: r.reasons.split(',').map(str::to_owned).collect(),
            job_id: r.job_id,
            owner: r.username,
            reports: r.reports,
            first_reported_at: rfc3339(r.first_reported_at),
        })
        .collect();
    Ok(QueueView { held, reported })
}

#[utoipa::path(get, path = "/api/v1/moderation/queue", tag = "moderation",
    responses((status = 200, body = QueueView), (status = 404, body = Problem)))]
pub async fn queue(
    State(state): State<AppState>,
    _staff: RequireStaff<Moderator>,
) -> ApiResult<Json<QueueView>> {
    Ok(Json(queue_view(&state).await?))
}

#[derive(Serialize, ToSchema)]
pub struct ActionResult {
    /// What was done: `approved`, `refused`, `taken_down`, `banned`.
    pub outcome: String,
}

async fn audit_action(
    state: &AppState,
    moderator: &CurrentUser,
    client: &ClientInfo,
    kind: &str,
    detail: Value,
) {
    client
        .record(state, kind, Some(moderator.id()), Some(detail))
        .await;
}

#[utoipa::path(post, path = "/api/v1/moderation/jobs/{id}/approve", tag = "moderation", params(("id" = String, Path)),
    responses((status = 200, body = ActionResult), (status = 404, body = Problem)))]
pub async fn approve(
    State(state): State<AppState>,
    staff: RequireStaff<Moderator>,
    Path(id): Path<String>,
) -> ApiResult<Json<ActionResult>> {
    let (moderator, client) = staff.into_parts();
    let now = now_ms();
    let released = state.db.decide_hold(&id, true, moderator.id(), now).await?;
    let resolved = state.db.resolve_reports(&id, "approved", now).await?;
    if released.is_none() && resolved == 0 {
        return Err(ApiError::not_found("queue entry"));
    }
    audit_action(
        &state,
        &moderator,
        &client,
        "moderation.approved",
        json!({ "job_id": id, "released_hold": released.is_some(), "reports_closed": resolved }),
    )
    .await;
    Ok(Json(ActionResult {
        outcome: "approved".into(),
    }))
}

#[utoipa::path(post, path = "/api/v1/moderation/jobs/{id}/refuse", tag = "moderation", params(("id" = String, Path)),
    responses((status = 200, body = ActionResult), (status = 404, body = Problem)))]
pub async fn refuse(
    State(state): State<AppState>,
    staff: RequireStaff<Moderator>,
    Path(id): Path<String>,
) -> ApiResult<Json<ActionResult>> {
    let (moderator, client) = staff.into_parts();
    state
        .db
        .decide_hold(&id, false, moderator.id(), now_ms())
        .await?
        .ok_or_else(|| ApiError::not_found("queue entry"))?;
    audit_action(
        &state,
        &moderator,
        &client,
        "moderation.refused_held",
        json!({ "job_id": id }),
    )
    .await;
    Ok(Json(ActionResult {
        outcome: "refused".into(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    /// Shown to the owner (takedowns) and kept in the record (at most 1000 characters).
    pub reason: String,
}

/// Takes a work down, closes its reports and tells its owner by email.
async fn take_down(
    state: &AppState,
    moderator: &CurrentUser,
    client: &ClientInfo,
    job_id: &str,
    reason: &str,
    legal_id: Option<&str>,
) -> ApiResult<()> {
    let now = now_ms();
    let owner_id = state
        .db
        .take_down(job_id, reason, moderator.id(), legal_id, now)
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    state.db.resolve_reports(job_id, "taken_down", now).await?;
    audit_action(
        state,
        moderator,
        client,
        "moderation.taken_down",
        json!({ "job_id": job_id, "owner_id": owner_id, "reason": reason, "legal_id": legal_id }),
    )
    .await;
    tell_owner(state, &owner_id, job_id, reason).await;
    Ok(())
}

/// The owner's email about a takedown (transactional); a failure to send is logged, the
/// takedown stands and the studio shows the reason too.
async fn tell_owner(state: &AppState, owner_id: &str, job_id: &str, reason: &str) {
    let Ok(Some(owner)) = state.db.user_by_id(owner_id).await else {
        return;
    };
    let brand = state.branding();
    let url = format!("{}/creations/{job_id}", brand.public_url);
    let text = format!(
        "Hello {name},\n\na moderator took one of your creations out of public view: it no longer \
         appears in the gallery, on your profile or through any share link.\n\nReason: {reason}\n\n\
         You still have it in your studio: {url}\n\n-- {product}\n",
        name = if owner.display_name.is_empty() {
            &owner.username
        } else {
            &owner.display_name
        },
        product = brand.product,
    );
    let message = reelsmith_mail::Message {
        to: owner.email.clone(),
        subject: format!("A {} creation of yours was taken down", brand.product),
        text_body: text,
        html_body: None,
        headers: Vec::new(),
    };
    if let Err(err) = state.mailer.send(&message).await {
        tracing::warn!(error = %err, "cannot email the owner about a takedown");
    }
}

#[utoipa::path(post, path = "/api/v1/moderation/jobs/{id}/takedown", tag = "moderation", params(("id" = String, Path)),
    request_body = ReasonRequest,
    responses((status = 200, body = ActionResult), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn takedown(
    State(state): State<AppState>,
    staff: RequireStaff<Moderator>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReasonRequest>,
) -> ApiResult<Json<ActionResult>> {
    let (moderator, client) = staff.into_parts();
    let reason = clean_text(&body.reason, "reason", true)?;
    take_down(&state, &moderator, &client, &id, &reason, None).await?;
    Ok(Json(ActionResult {
        outcome: "taken_down".into(),
    }))
}

#[utoipa::path(post, path = "/api/v1/moderation/users/{username}/ban", tag = "moderation", params(("username" = String, Path)),
    request_body = ReasonRequest,
    responses((status = 200, body = ActionResult), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn ban(
    State(state): State<AppState>,
    staff: RequireStaff<Moderator>,
    Path(username): Path<String>,
    ApiJson(body): ApiJson<ReasonRequest>,
) -> ApiResult<Json<ActionResult>> {
    let (moderator, client) = staff.into_parts();
    let reason = clean_text(&body.reason, "reason", true)?;
    let user = state
        .db
        .user_by_username(&username)
        .await?
        .ok_or_else(|| ApiError::not_found("account"))?;
    if user.role != Role::User {
        return Err(ApiError::of(Code::ModerationCannotBanStaff,
            "moderators and admins are not banned from the queue; an admin changes their role first",
        ));
    }
    state
        .db
        .ban_user(&user.id, &reason, moderator.id(), now_ms())
        .await?;
    audit_action(
        &state,
        &moderator,
        &client,
        "moderation.banned",
        json!({ "user_id": user.id, "reason": reason }),
    )
    .await;
    Ok(Json(ActionResult {
        outcome: "banned".into(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LegalRequestBody {
    /// The work concerned, when known.
    pub job_id: Option<String>,
    /// Who sent the request (a person or an organisation).
    pub requester: String,
    pub requester_email: String,
    /// The legal basis and what is asked, as received.
    pub basis: String,
}

#[derive(Serialize, ToSchema)]
pub struct LegalRequestView {
    pub id: String,
    pub job_id: Option<String>,
    pub requester: String,
    pub requester_email: String,
    pub basis: String,
    pub received_at: String,
    /// `pending`, `taken_down` or `rejected`.
    pub decision: String,
    pub decided_at: Option<String>,
}

fn legal_view(r: reelsmith_store::LegalRequest) -> LegalRequestView {
    LegalRequestView {
        id: r.id,
        job_id: r.job_id,
        requester: r.requester,
        requester_email: r.requester_email,
        basis: r.basis,
        received_at: rfc3339(r.received_at),
        decision: r.decision,
        decided_at: opt_rfc3339(r.decided_at),
    }
}

#[utoipa::path(post, path = "/api/v1/moderation/legal", tag = "moderation", request_body = LegalRequestBody,
    responses((status = 201, body = LegalRequestView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn record_legal(
    State(state): State<AppState>,
    staff: RequireStaff<Moderator>,
    ApiJson(body): ApiJson<LegalRequestBody>,
) -> ApiResult<(StatusCode, Json<LegalRequestView>)> {
    let (moderator, client) = staff.into_parts();
    let requester = clean_text(&body.requester, "requester", true)?;
    let basis = clean_text(&body.basis, "basis", true)?;
    let email = reelsmith_auth::normalise_email(&body.requester_email).map_err(|_| {
        ApiError::of(
            Code::ModerationEmailInvalid,
            "requester_email is not an email address",
        )
    })?;
    if let Some(id) = &body.job_id {
        state
            .db
            .job_by_id(id)
            .await?
            .ok_or_else(|| ApiError::not_found("job"))?;
    }
    let request = state
        .db
        .record_legal_request(
            body.job_id.as_deref(),
            &requester,
            &email.address,
            &basis,
            now_ms(),
        )
        .await?;
    audit_action(
        &state,
        &moderator,
        &client,
        "moderation.legal_recorded",
        json!({ "legal_id": request.id, "job_id": request.job_id }),
    )
    .await;
    Ok((StatusCode::CREATED, Json(legal_view(request))))
}

#[utoipa::path(get, path = "/api/v1/moderation/legal", tag = "moderation",
    responses((status = 200, body = [LegalRequestView]), (status = 404, body = Problem)))]
pub async fn list_legal(
    State(state): State<AppState>,
    _staff: RequireStaff<Moderator>,
) -> ApiResult<Json<Vec<LegalRequestView>>> {
    let rows = state.db.legal_requests(200).await?;
    Ok(Json(rows.into_iter().map(legal_view).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LegalDecision {
    /// `taken_down` (the work is taken down with `reason`) or `rejected`.
    pub decision: String,
    /// Shown to the owner on a takedown; kept in the record either way.
    pub reason: String,
}

#[utoipa::path(post, path = "/api/v1/moderation/legal/{id}/decision", tag = "moderation", params(("id" = String, Path)),
    request_body = LegalDecision,
    responses((status = 200, body = LegalRequestView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn decide_legal(
    State(state): State<AppState>,
    staff: RequireStaff<Moderator>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<LegalDecision>,
) -> ApiResult<Json<LegalRequestView>> {
    let (moderator, client) = staff.into_parts();
    let reason = clean_text(&body.reason, "reason", true)?;
    let decision = match body.decision.as_str() {
        "taken_down" => "taken_down",
        "rejected" => "rejected",
        _ => {
            return Err(ApiError::of(
                Code::ModerationDecisionInvalid,
                "decision is `taken_down` or `rejected`",
            ))
        }
    };
    let pending = state
        .db
        .legal_requests(500)
        .await?
        .into_iter()
        .find(|r| r.id == id && r.decision == "pending")
        .ok_or_else(|| ApiError::not_found("legal request"))?;
    if decision == "taken_down" {
        let job_id = pending.job_id.as_deref().ok_or_else(|| {
            ApiError::of(
                Code::ModerationLegalWithoutWork,
                "this request names no work to take down",
            )
        })?;
        take_down(&state, &moderator, &client, job_id, &reason, Some(&id)).await?;
    }
    let decided = state
        .db
        .decide_legal_request(&id, decision, moderator.id(), now_ms())
        .await?
        .ok_or_else(|| ApiError::not_found("legal request"))?;
    audit_action(
        &state,
        &moderator,
        &client,
        "moderation.legal_decided",
        json!({ "legal_id": id, "decision": decision, "reason": reason }),
    )
    .await;
    Ok(Json(legal_view(decided)))
}
