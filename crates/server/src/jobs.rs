//! `/api/v1/jobs`: submit a render (the CLI's spec with upload ids for paths), follow it, cancel,
//! delete it with its outputs, revise it and delete earlier revisions (P-VIS-4), and fetch its video, poster and captions.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::Stream;
use reelsmith_core::{Code, RenderSpec, ValidSpec};
use reelsmith_jobs::{plan_job_with, EventKind, JobPlan, StoredPlan};
use reelsmith_store::{
    now_ms, upload_ids_in, CancelOutcome, Job, JobError, JobEvent, JobRevision, NewJob, UploadKind,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::auth::{throttle, Throttle};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, ClientInfo, CurrentUser};
use crate::job_cost::JobCost;
use crate::range::serve_object;
use crate::time::{date, opt_rfc3339, rfc3339};
use crate::uploads::PageQuery;
use crate::AppState;

const MAX_IDEMPOTENCY_KEY: usize = 200;
/// How long a quiet event stream waits before reading its job's events anyway. Wake-ups
/// (`reelsmith_store::live`) are the rule; this only bounds how late an event can be when one is
/// lost, e.g. one written by another process on SQLite. Each stream adds up to 10 s more, so
/// streams opened together do not all read at once.
const EVENT_RECHECK: Duration = Duration::from_secs(20);
/// How long a stream waits after the database failed to answer.
const EVENT_ERROR_PAUSE: Duration = Duration::from_secs(1);
/// How many events a stream reads at once.
const EVENT_BATCH: u32 = 100;

#[derive(Serialize, ToSchema)]
pub struct ErrorView {
    pub code: String,
    pub message: String,
}

fn error_view(e: &Option<JobError>) -> Option<ErrorView> {
    e.as_ref().map(|e| ErrorView {
        code: e.code.clone(),
        message: e.message.clone(),
    })
}

#[derive(Serialize, ToSchema)]
pub struct JobView {
    pub id: String,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub status: String,
    pub stage: Option<String>,
    /// 0 to 1.
    pub progress: f64,
    pub revision: i64,
    pub created_at: String,
    pub updated_at: String,
    #[schema(value_type = Object)]
    pub params: Value,
    pub error: Option<ErrorView>,
    /// Per-job usage (P-IN-6): engine, model, time per stage, output length and size.
    #[schema(value_type = Option<Object>)]
    pub usage: Option<Value>,
    /// The job's credits, reserved, charged and refunded per revision (P-BILL-4); only in the
    /// answer for one job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<JobCost>,
    /// Only in the answer for one queued job: how many queued jobs the workers take before it
    /// (jobs of paused accounts do not count). 0 means it is next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_ahead: Option<i64>,
    /// The name its downloads get, without extension: the title's words (by default the
    /// script's first words) and the day it was made (`a-quiet-harbour-at-dawn-2026-12-05`);
    /// revisions after the first add `-r<n>`.
    pub file_stem: String,
    /// The title its owner gave it, or by default the script's first words (the ones
    /// `file_stem` is made of).
    pub title: String,
    /// Whether `title` is the default one (none set, or reset with an empty title).
    pub title_is_default: bool,
    /// The credits its stock and library pictures ask for (issue 25), also in
    /// `GET /api/v1/jobs/{id}/description.txt`.
    #[schema(value_type = Vec<Object>)]
    pub credits: Vec<reelsmith_stock::Attribution>,
    /// Whether its current revision was rendered from a storyboard, which
    /// `GET /api/v1/jobs/{id}/storyboard` shows (issue 25).
    pub storyboard: bool,
}

impl From<&Job> for JobView {
    fn from(j: &Job) -> JobView {
        // The plan is read once: the credits and the flag both come from its storyboard.
        let board = crate::stock_search::storyboard_of(j.plan.as_ref());
        JobView {
            id: j.id.clone(),
            status: j.status.as_str().to_owned(),
            stage: j.stage.clone(),
            progress: j.progress,
            revision: j.current_revision,
            created_at: rfc3339(j.created_at),
            updated_at: rfc3339(j.updated_at),
            params: j.params.clone(),
            error: error_view(&j.error),
            usage: j.usage.clone(),
            cost: None,
            queue_ahead: None,
            file_stem: file_stem(j),
            title: job_title(j),
            title_is_default: j.title.is_none(),
            credits: board.as_ref().map(|b| b.credits()).unwrap_or_default(),
            storyboard: board.is_some(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RevisionView {
    pub revision: i64,
    pub status: String,
    #[schema(value_type = Object)]
    pub params: Value,
    pub outputs: Vec<String>,
    #[schema(value_type = Option<Object>)]
    pub usage: Option<Value>,
    pub error: Option<ErrorView>,
    pub created_at: String,
    pub finished_at: Option<String>,
}

impl From<&JobRevision> for RevisionView {
    fn from(r: &JobRevision) -> RevisionView {
        RevisionView {
            revision: r.revision,
            status: r.status.as_str().to_owned(),
            params: r.params.clone(),
            outputs: r
                .output_keys
                .iter()
                .filter_map(|k| k.rsplit('/').next().map(str::to_owned))
                .collect(),
            usage: r.usage.clone(),
            error: error_view(&r.error),
            created_at: rfc3339(r.created_at),
            finished_at: opt_rfc3339(r.finished_at),
        }
    }
}

/// A valid spec, ready to queue, and its quoted cost in credits (P-BILL-4).
pub(crate) struct CheckedSpec {
    pub spec: ValidSpec,
    pub plan: JobPlan,
}

impl CheckedSpec {
    /// The spec as the job's record stores it.
    pub fn params(&self) -> ApiResult<Value> {
        serde_json::to_value(&self.spec).map_err(|e| ApiError::fault(Code::SpecSerialise, &e))
    }
}

/// Parses and checks a spec: limits (`RenderSpec::validate`), and every upload id the caller's
/// own, of a kind that fits where it is used. Another user's upload is reported exactly like a
/// missing one (P-SEC-4). A provider must be configured and consented to (P-TP-2).
pub(crate) async fn checked_spec(
    state: &AppState,
    owner: &str,
    body: Value,
) -> ApiResult<CheckedSpec> {
    let checked = valid_spec(state, owner, body).await?;
    if !checked.plan.is_studio() {
        provider_is_usable(state, owner, &checked.plan.provider).await?;
    }
    if let Some(voice) = &checked.plan.voice {
        crate::cloud_voices::voice_is_usable(state, owner, &voice.provider).await?;
    }
    Ok(checked)
}

/// Everything [`checked_spec`] checks but the consent, which the quote reports instead of
/// refusing: the spec's limits, the uploads, the plan, and that its provider is configured.
pub(crate) async fn valid_spec(
    state: &AppState,
    owner: &str,
    body: Value,
) -> ApiResult<CheckedSpec> {
    // A named preset (issue 25) fills in what the request leaves out.
    let body = crate::presets::apply(state, owner, body).await?;
    // serde reads a struct from a JSON array too (its fields in order): a spec is an object.
    if !body.is_object() {
        return Err(ApiError::of(
            Code::SpecNotAnObject,
            "the render spec must be a JSON object",
        ));
    }
    let mut spec: RenderSpec =
        serde_json::from_value(body).map_err(|e| ApiError::of(Code::SpecInvalid, e.to_string()))?;
    strip_bidi(&mut spec);
    let spec = spec.validated(&state.config.limits)?;
    if let Some(font) = &spec.caption_style.font {
        // A caption font the server does not have is refused now, before anything is reserved.
        reelsmith_media::text::Font::named_for_text(font, &spec.script)
            .map_err(|e| ApiError::from_code(&e, StatusCode::UNPROCESSABLE_ENTITY))?;
    }
    // A script of punctuation or emoji alone has nothing to speak: refused now (the engine's
    // own planner decides), not as a job that fails in the worker.
    reelsmith_media::plan::plan(&spec.script, spec.media.len())
        .map_err(|e| ApiError::from_code(&e, StatusCode::UNPROCESSABLE_ENTITY))?;
    for id in &spec.media {
        let upload = state
            .db
            .upload_for_owner(owner, id)
            .await?
            .ok_or_else(|| unknown_upload(id))?;
        if upload.kind == UploadKind::Audio {
            return Err(ApiError::of(
                Code::JobMediaNotVisual,
                format!("upload `{id}` is audio; `media` takes images and videos"),
            ));
        }
    }
    if let Some(id) = &spec.voice {
        let upload = state
            .db
            .upload_for_owner(owner, id)
            .await?
            .ok_or_else(|| unknown_upload(id))?;
        if upload.kind == UploadKind::Image {
            return Err(ApiError::of(
                Code::JobVoiceNotAudio,
                format!("upload `{id}` is an image; `voice` takes an audio or video recording"),
            ));
        }
    }
    crate::sound::check_sound(state, owner, &spec).await?;
    let plan = plan_job_with(&spec, &state.models)?;
    if plan.voice.is_none() {
        // A script no local voice can read is refused before anything is reserved.
        reelsmith_media::speech::check_voice_for_script(
            &spec.script,
            &spec.tts.voice,
            &reelsmith_jobs::speech::speech_config(&state.config),
        )
        .map_err(|e| ApiError::from_code(&e, StatusCode::UNPROCESSABLE_ENTITY))?;
    }
    if !plan.is_studio() {
        provider_is_configured(state, &plan.provider)?;
    }
    if let Some(voice) = &plan.voice {
        crate::cloud_voices::voice_is_configured(state, &voice.provider)?;
    }
    Ok(CheckedSpec { spec, plan })
}

/// Bidirectional controls go at the edge, from everything the spec will show or send as text.
fn strip_bidi(spec: &mut RenderSpec) {
    use reelsmith_media::text::strip_bidi_controls as strip;
    spec.script = strip(&spec.script);
    for prompt in spec
        .prompts
        .iter_mut()
        .chain(spec.prompt.as_mut())
        .chain(spec.negative_prompt.as_mut())
    {
        *prompt = strip(prompt);
    }
}

/// A third-party provider must be configured here and consented to by the user before a job
/// may name it (P-TP-2): refused now, nothing is queued, reserved or sent.
pub(crate) async fn provider_is_usable(
    state: &AppState,
    owner: &str,
    provider: &str,
) -> ApiResult<()> {
    provider_is_configured(state, provider)?;
    if state.db.active_consent(owner, provider).await?.is_none() {
        return Err(ApiError::of(
            Code::ConsentRequired,
            format!(
                "jobs for `{provider}` send your script (and images for image-to-video) to that \
                 company: give your consent for it on the privacy page first"
            ),
        ));
    }
    Ok(())
}

/// `provider.not_configured` unless the operator gave the provider what it needs to be called.
pub(crate) fn provider_is_configured(state: &AppState, provider: &str) -> ApiResult<()> {
    if state.config.providers.is_enabled(provider) {
        Ok(())
    } else {
        Err(ApiError::of(
            Code::ProviderNotConfigured,
            format!("provider `{provider}` is not configured on this server"),
        ))
    }
}

fn unknown_upload(id: &str) -> ApiError {
    ApiError::of(
        Code::JobUnknownUpload,
        format!("no upload `{id}` exists among yours"),
    )
}

pub(crate) fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().map(str::trim).unwrap_or_default();
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
        return Err(ApiError::of(
            Code::JobInvalidIdempotencyKey,
            format!("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
        ));
    }
    Ok(Some(key.to_owned()))
}

#[utoipa::path(post, path = "/api/v1/jobs", tag = "jobs",
    request_body(content = reelsmith_core::RenderSpec, description = "the render spec, with upload ids in `media` and `voice`"),
    params(("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key and body returns the first job; another body with it answers 422 `idempotency.mismatch`")),
    responses((status = 201, body = JobView), (status = 200, body = JobView, description = "an earlier submission with this Idempotency-Key"),
        (status = 400, body = Problem, description = "`job.invalid_idempotency_key`"),
        (status = 401, body = Problem),
        (status = 402, body = Problem, description = "`credits.insufficient`: the job costs more credits than the balance holds; nothing was queued"),
        (status = 409, body = Problem, description = "`consent.required` for a provider not consented to, or `policy.acceptance_required` for terms not yet accepted"),
        (status = 422, body = Problem), (status = 429, body = Problem),
        (status = 503, body = Problem, description = "`service.unavailable`: the database is briefly unreachable; see `Retry-After`")))]
pub async fn submit(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<JobView>)> {
    let key = idempotency_key(&headers)?;
    throttle(&state, Throttle::JobSubmission, caller.id()).await?;
    crate::policies::require_accepted(&state, caller.id()).await?;
    // The body as sent (serde_json writes a Value the same way every time), so a retry matches
    // and a reuse of the key for another request does not.
    let digest = key
        .as_ref()
        .map(|_| reelsmith_auth::hash_token(&format!("job-request:{body}")));
    // Checked as sent and as cleaned (bidi controls stripped), before anything else is done.
    let held_raw = crate::moderation::screen_spec(&state, &caller, &client, &body).await?;
    let checked = checked_spec(&state, caller.id(), body).await?;
    let params = checked.params()?;
    let held = crate::moderation::screen_spec(&state, &caller, &client, &params)
        .await?
        .or(held_raw);
    let billing_plan =
        crate::billing::enforce_plan(&state, caller.id(), &checked.spec, &checked.plan).await?;
    let submitted = state
        .db
        .submit_planned_job(
            &NewJob {
                owner_id: caller.id().to_owned(),
                params,
                idempotency_key: key,
                cost: checked.plan.cost(),
            },
            Some(&StoredPlan::new(checked.plan).to_value()),
            digest.as_deref(),
            crate::billing::active_jobs_cap(&billing_plan),
            now_ms(),
        )
        .await
        .map_err(|e| crate::billing::limit_reached(&billing_plan, e))?;
    if !submitted.same_request {
        return Err(ApiError::of(
            Code::IdempotencyMismatch,
            "this Idempotency-Key was used for a different request; use a new key for a new job",
        ));
    }
    crate::outbound_webhooks::remember_token(&state, &caller, &submitted.job.id).await?;
    if let (true, Some(categories)) = (submitted.created, &held) {
        crate::moderation::hold(&state, &caller, &client, &submitted.job.id, categories).await?;
    }
    if submitted.created {
        // The Create form starts from these next time (P-IN-6); a failure to remember them
        // must not fail the job that was queued.
        let settings = crate::account::settings_of(&submitted.job.params);
        if let Err(err) = state
            .db
            .set_preferences(caller.id(), &settings, now_ms())
            .await
        {
            tracing::warn!(error = %err, "cannot record the settings preferences");
        }
    }
    let status = if submitted.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(JobView::from(&submitted.job))))
}

#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(PageQuery),
    responses((status = 200, body = [JobView]), (status = 401, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Vec<JobView>>> {
    let jobs = state.db.list_jobs(caller.id(), &query.page()).await?;
    Ok(Json(jobs.iter().map(JobView::from).collect()))
}

pub(crate) async fn owned_job(
    state: &AppState,
    caller: &CurrentUser,
    client: &ClientInfo,
    id: &str,
) -> ApiResult<Job> {
    match state.db.job_for_owner(caller.id(), id).await? {
        Some(job) => Ok(job),
        None => Err(client.hidden(state, caller.id(), "job", id).await),
    }
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", params(("id" = String, Path)),
    responses((status = 200, body = JobView), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<Json<JobView>> {
    // The job, its holds and its place in the queue in one query: this is the API's most read
    // answer (clients poll it).
    let Some(read) = state.db.job_read_for_owner(caller.id(), &id).await? else {
        return Err(client.hidden(&state, caller.id(), "job", &id).await);
    };
    let mut view = JobView::from(&read.job);
    view.cost = Some(JobCost::from_holds(&read.holds));
    view.queue_ahead = read.queue_ahead;
    Ok(Json(view))
}

#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs", params(("id" = String, Path)),
    responses((status = 200, body = JobView), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<Json<JobView>> {
    match state.db.cancel_job(caller.id(), &id, now_ms()).await? {
        CancelOutcome::Cancelled(job) => Ok(Json(JobView::from(&job))),
        CancelOutcome::AlreadyFinished(job) => Err(ApiError::of(
            Code::JobAlreadyFinished,
            format!("the job has already {}", job.status.as_str()),
        )),
        CancelOutcome::NotFound => Err(client.hidden(&state, caller.id(), "job", &id).await),
    }
}

#[utoipa::path(delete, path = "/api/v1/jobs/{id}", tag = "jobs", params(("id" = String, Path)),
    responses((status = 204, description = "the job, its revisions and every stored output are gone"), (status = 404, body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let used: BTreeSet<String> = state
        .db
        .list_revisions(caller.id(), &id)
        .await?
        .iter()
        .flat_map(|r| upload_ids_in(&r.params))
        .collect();
    let Some(keys) = state.db.delete_job(caller.id(), &id).await? else {
        return Err(client.hidden(&state, caller.id(), "job", &id).await);
    };
    for key in &keys {
        state.media.delete(key).await?;
    }
    let uploads = drop_unused_uploads(&state, &caller, &client, used).await?;
    let detail = json!({ "job_id": id, "objects": keys.len(), "uploads": uploads });
    client
        .record(&state, "job.deleted", Some(caller.id()), Some(detail))
        .await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/jobs/{id}/revisions", tag = "jobs", params(("id" = String, Path)),
    request_body(content = reelsmith_core::RenderSpec, description = "the new render spec"),
    responses((status = 201, body = JobView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn revise(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<JobView>)> {
    owned_job(&state, &caller, &client, &id).await?;
    throttle(&state, Throttle::JobSubmission, caller.id()).await?;
    crate::policies::require_accepted(&state, caller.id()).await?;
    // Checked as sent and as cleaned (bidi controls stripped), before anything else is done.
    let held_raw = crate::moderation::screen_spec(&state, &caller, &client, &body).await?;
    let checked = checked_spec(&state, caller.id(), body).await?;
    let params = checked.params()?;
    let held = crate::moderation::screen_spec(&state, &caller, &client, &params)
        .await?
        .or(held_raw);
    // A revision is a new render: the plan's limits apply to it as to a new job.
    crate::billing::enforce_plan(&state, caller.id(), &checked.spec, &checked.plan).await?;
    let job = state
        .db
        .add_planned_revision(
            caller.id(),
            &id,
            &params,
            Some(&StoredPlan::new(checked.plan.clone()).to_value()),
            checked.plan.cost(),
            now_ms(),
        )
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    if let Some(categories) = &held {
        crate::moderation::hold(&state, &caller, &client, &job.id, categories).await?;
    }
    Ok((StatusCode::CREATED, Json(JobView::from(&job))))
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}/revisions", tag = "jobs", params(("id" = String, Path)),
    responses((status = 200, body = [RevisionView]), (status = 404, body = Problem)))]
pub async fn revisions(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<RevisionView>>> {
    owned_job(&state, &caller, &client, &id).await?;
    let revisions = state.db.list_revisions(caller.id(), &id).await?;
    Ok(Json(revisions.iter().map(RevisionView::from).collect()))
}

#[utoipa::path(delete, path = "/api/v1/jobs/{id}/revisions/{revision}", tag = "jobs",
    params(("id" = String, Path), ("revision" = i64, Path)),
    responses((status = 204, description = "the revision and every object it stored are gone"),
        (status = 404, body = Problem, description = "`not_found`: no such job of yours, or no such revision"),
        (status = 409, body = Problem, description = "`job.revision_is_current`: delete the job instead")))]
pub async fn delete_revision(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path((id, revision)): Path<(String, i64)>,
) -> ApiResult<StatusCode> {
    // Objects first, rows last: the revision row is the only record of where its objects are,
    // so deleting it first would orphan them if a storage delete then failed. This way a
    // failure part way leaves the row (with some outputs missing, answered 404) and a retry
    // finishes the job; object deletes of missing keys succeed, so retries are safe. A
    // non-current revision is never written again (revisions only count up and a running job
    // cannot be revised), so nothing can add objects between the two steps.
    let Some(mut keys) = state
        .db
        .revision_object_keys(caller.id(), &id, revision)
        .await?
    else {
        return Err(unknown_revision(&state, &caller, &client, &id).await);
    };
    let used = state
        .db
        .revision_for_owner(caller.id(), &id, revision)
        .await?
        .map(|r| upload_ids_in(&r.params))
        .unwrap_or_default();
    // Anything else stored under the revision's folder (`jobs/{id}/r{revision}/`) goes too.
    let prefix = format!("jobs/{id}/r{revision}");
    keys.extend(state.media.list(&prefix).await?.into_iter().map(|o| o.key));
    keys.sort();
    keys.dedup();
    for key in &keys {
        state.media.delete(key).await?;
    }
    if state
        .db
        .delete_revision(caller.id(), &id, revision)
        .await?
        .is_none()
    {
        // Deleted by a concurrent request meanwhile: the outcome is the same.
        return Ok(StatusCode::NO_CONTENT);
    }
    let uploads = drop_unused_uploads(&state, &caller, &client, used).await?;
    let detail =
        json!({ "job_id": id, "revision": revision, "objects": keys.len(), "uploads": uploads });
    client
        .record(
            &state,
            "job.revision_deleted",
            Some(caller.id()),
            Some(detail),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Uploads are kept "as long as the videos made from them" (P-RET-2, under either
/// `retention.uploads` policy): when a job or revision that used some is deleted, those that no
/// other revision of the owner's names go too, object first and row last (P-RET-5). Returns how
/// many went.
async fn drop_unused_uploads(
    state: &AppState,
    caller: &CurrentUser,
    client: &ClientInfo,
    candidates: BTreeSet<String>,
) -> ApiResult<usize> {
    if candidates.is_empty() {
        return Ok(0);
    }
    let still_used = state.db.upload_ids_used_by(caller.id()).await?;
    let mut gone = 0;
    for id in candidates.difference(&still_used) {
        let Some(upload) = state.db.upload_for_owner(caller.id(), id).await? else {
            continue;
        };
        // Content addressing lets identical uploads of one owner share an object.
        if !state
            .db
            .object_key_shared(&upload.object_key, &upload.id)
            .await?
        {
            state.media.delete(&upload.object_key).await?;
        }
        if state.db.delete_upload(caller.id(), id).await?.is_some() {
            gone += 1;
            let detail = json!({ "upload_id": id, "reason": "unused" });
            client
                .record(state, "upload.deleted", Some(caller.id()), Some(detail))
                .await;
        }
    }
    Ok(gone)
}

/// Another user's job and an unknown revision of one's own answer alike (P-SEC-4).
async fn unknown_revision(
    state: &AppState,
    caller: &CurrentUser,
    client: &ClientInfo,
    id: &str,
) -> ApiError {
    if matches!(state.db.job_for_owner(caller.id(), id).await, Ok(Some(_))) {
        ApiError::not_found("revision")
    } else {
        client.hidden(state, caller.id(), "job", id).await
    }
}

fn event_json(e: &JobEvent) -> Value {
    json!({
        "id": e.id,
        "kind": e.kind,
        "stage": e.stage,
        "progress": e.progress,
        "payload": e.payload,
        "at": rfc3339(e.created_at),
    })
}

fn is_terminal(kind: &str) -> bool {
    matches!(kind, "succeeded" | "failed" | "cancelled")
}

/// Where a new follower starts: after `Last-Event-ID` when it resumes, otherwise at the latest
/// `queued` event, so an earlier revision's `succeeded` does not end the stream of the current.
async fn stream_start(state: &AppState, job_id: &str, headers: &HeaderMap) -> ApiResult<i64> {
    if let Some(last) = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
    {
        return Ok(last);
    }
    let mut after = 0;
    let mut start = 0;
    loop {
        let batch = state.db.job_events_since(job_id, after, 500).await?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        if let Some(q) = batch.iter().rev().find(|e| e.kind == EventKind::Queued) {
            start = q.id - 1;
        }
    }
    Ok(start)
}

struct Follow {
    state: AppState,
    job_id: String,
    after: i64,
    pending: std::collections::VecDeque<JobEvent>,
    done: bool,
    /// Read before waiting: at the start, and after a full batch (more may be there).
    read_now: bool,
    wake: reelsmith_store::JobEventSubscription,
    recheck: Duration,
    /// Polling instead of wake-ups, for the benchmark's before/after figure only.
    poll: Option<Duration>,
}

/// `REELSMITH_BENCH_EVENT_POLL_MS`: make streams poll every that many milliseconds as they did
/// before wake-ups existed, so `scripts/bench streams` measures both ways on one build.
fn bench_poll() -> Option<Duration> {
    static POLL: std::sync::LazyLock<Option<Duration>> = std::sync::LazyLock::new(|| {
        std::env::var("REELSMITH_BENCH_EVENT_POLL_MS")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&ms| ms > 0)
            .map(Duration::from_millis)
    });
    *POLL
}

/// [`EVENT_RECHECK`] plus a spread of up to 10 s that differs from one stream to the next.
fn recheck_interval() -> Duration {
    static OPENED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = OPENED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    EVENT_RECHECK + Duration::from_millis(n.wrapping_mul(7_919) % 10_000)
}

async fn next_event(mut f: Follow) -> Option<(Result<Event, Infallible>, Follow)> {
    loop {
        if let Some(e) = f.pending.pop_front() {
            f.after = e.id;
            f.done = is_terminal(&e.kind);
            let event = Event::default()
                .id(e.id.to_string())
                .event(e.kind.clone())
                .data(event_json(&e).to_string());
            return Some((Ok(event), f));
        }
        if f.done {
            return None;
        }
        if !f.read_now {
            match f.poll {
                Some(every) => tokio::time::sleep(every).await,
                None => tokio::select! {
                    _ = f.wake.woken(f.after) => {}
                    _ = tokio::time::sleep(f.recheck) => {}
                },
            }
        }
        // Before the read: a wake-up for an event committed while it runs is kept.
        f.wake.mark_seen();
        match f
            .state
            .db
            .job_events_since(&f.job_id, f.after, EVENT_BATCH)
            .await
        {
            Ok(batch) => {
                // A deleted job has no more events to wait for (its deletion wakes the stream).
                if batch.is_empty() && matches!(f.state.db.job_by_id(&f.job_id).await, Ok(None)) {
                    return None;
                }
                f.read_now = batch.len() >= EVENT_BATCH as usize;
                f.pending.extend(batch);
            }
            Err(err) => {
                tracing::warn!(job_id = %f.job_id, error = %err, "event stream could not read events");
                tokio::time::sleep(EVENT_ERROR_PAUSE).await;
                f.read_now = true;
            }
        }
    }
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}/events", tag = "jobs", params(("id" = String, Path)),
    responses((status = 200, content_type = "text/event-stream",
        description = "Server-Sent Events: queued, started, progress, retrying, then succeeded, failed or cancelled, which ends the stream"),
        (status = 404, body = Problem)))]
pub async fn events(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    owned_job(&state, &caller, &client, &id).await?;
    let after = stream_start(&state, &id, &headers).await?;
    let wake = state.live.subscribe(&id).await?;
    // The stream's own reads happen in this span, so a test can count them.
    let span = tracing::debug_span!("job_event_stream", job_id = %id);
    let follow = Follow {
        state,
        job_id: id,
        after,
        pending: Default::default(),
        done: false,
        read_now: true,
        wake,
        recheck: recheck_interval(),
        poll: bench_poll(),
    };
    let stream = futures::stream::unfold(follow, move |f| {
        tracing::Instrument::instrument(next_event(f), span.clone())
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RevisionQuery {
    /// An earlier revision's output (P-VIS-4); the current one by default.
    pub revision: Option<i64>,
}

/// The output files a worker records for a revision, under
/// `jobs/{job_id}/r{revision}/<name>`.
#[derive(Clone, Copy)]
pub enum Output {
    Video,
    Poster,
    CaptionsVtt,
    CaptionsSrt,
}

impl Output {
    pub fn file_name(self) -> &'static str {
        match self {
            Output::Video => "video.mp4",
            Output::Poster => "poster.jpg",
            Output::CaptionsVtt => "captions.vtt",
            Output::CaptionsSrt => "captions.srt",
        }
    }

    /// The extension a download of it is named with; the poster is never offered as one.
    fn download_extension(self) -> Option<&'static str> {
        match self {
            Output::Video => Some("mp4"),
            Output::CaptionsVtt => Some("vtt"),
            Output::CaptionsSrt => Some("srt"),
            Output::Poster => None,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Output::Video => "video/mp4",
            Output::Poster => "image/jpeg",
            Output::CaptionsVtt => "text/vtt; charset=utf-8",
            Output::CaptionsSrt => "application/x-subrip; charset=utf-8",
        }
    }
}

/// The object key the worker writes an output under.
pub fn output_key(job_id: &str, revision: i64, output: Output) -> String {
    format!("jobs/{job_id}/r{revision}/{}", output.file_name())
}

async fn serve_output(
    state: AppState,
    caller: CurrentUser,
    client: ClientInfo,
    id: String,
    query: RevisionQuery,
    headers: HeaderMap,
    output: Output,
) -> ApiResult<Response> {
    let job = owned_job(&state, &caller, &client, &id).await?;
    let revision = query.revision.unwrap_or(job.current_revision);
    let rev = state
        .db
        .revision_for_owner(caller.id(), &id, revision)
        .await?
        .ok_or_else(|| ApiError::not_found("revision"))?;
    let suffix = format!("/{}", output.file_name());
    let Some(key) = rev.output_keys.iter().find(|k| k.ends_with(&suffix)) else {
        return Err(ApiError::of(
            Code::JobOutputNotReady,
            format!(
                "revision {revision} has no {} (status {})",
                output.file_name(),
                rev.status.as_str()
            ),
        ));
    };
    // Outputs are sealed under the job owner's key; `owned_job` made sure the caller is them.
    let media = state.media.for_owner(&job.owner_id).await?;
    let mut response = serve_object(&media, key, output.content_type(), &headers).await?;
    if let Some(ext) = output.download_extension() {
        let mut stem = file_stem(&job);
        if revision > 1 {
            stem = format!("{stem}-r{revision}");
        }
        response.headers_mut().insert(
            axum::http::header::CONTENT_DISPOSITION,
            content_disposition(&format!("{stem}.{ext}")),
        );
    }
    Ok(response)
}

/// The longest title a creation takes, in characters.
pub const MAX_TITLE_CHARS: usize = 120;
/// How many words of the script make a default title (and a download name).
const DEFAULT_TITLE_WORDS: usize = 6;
/// How long a download name's words may get, in characters.
const MAX_STEM_CHARS: usize = 48;

/// A word as it goes into a file name: its letters and digits, lower-cased.
fn slug_word(word: &str) -> String {
    word.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The first words of `text` that make a name: at most six with letters or digits in them, and
/// no more than [`MAX_STEM_CHARS`] of them as a slug. Words without any are skipped.
fn first_words(text: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut slug_chars = 0;
    for word in text.split_whitespace() {
        let slug = slug_word(word).chars().count();
        if slug == 0 {
            continue;
        }
        if slug_chars + slug > MAX_STEM_CHARS {
            break;
        }
        slug_chars += slug + usize::from(!words.is_empty());
        words.push(word);
        if words.len() >= DEFAULT_TITLE_WORDS {
            break;
        }
    }
    words
}

fn script_of(job: &Job) -> &str {
    job.params
        .get("script")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The title shown for a job: its own, or the script's first words (see [`JobView::title`]).
pub fn job_title(job: &Job) -> String {
    if let Some(title) = &job.title {
        return title.clone();
    }
    let words = first_words(script_of(job));
    if words.is_empty() {
        "Untitled".to_owned()
    } else {
        words.join(" ")
    }
}

/// The title's words (or the script's first words) and the day, as a file name stem (see
/// [`JobView::file_stem`]).
pub fn file_stem(job: &Job) -> String {
    let text = job.title.as_deref().unwrap_or_else(|| script_of(job));
    let slug: Vec<String> = first_words(text).into_iter().map(slug_word).collect();
    let slug = if slug.is_empty() {
        "video".to_owned()
    } else {
        slug.join("-")
    };
    format!("{slug}-{}", date(job.created_at))
}

/// Bidirectional formatting characters: they can make a title read differently from what it
/// is (a file name "exe.mp4" shown as "mp4.exe").
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A title as given, checked: whitespace runs (tabs and line breaks too) become one space and the
/// ends are trimmed; other control and bidi-control characters are refused. `None` for an empty
/// title, which means "back to the default".
pub fn clean_title(raw: &str) -> ApiResult<Option<String>> {
    if let Some(c) = raw
        .chars()
        .find(|&c| (c.is_control() && !c.is_whitespace()) || is_bidi_control(c))
    {
        return Err(ApiError::of(
            Code::JobTitleInvalid,
            format!(
                "a title cannot hold control characters (found U+{:04X})",
                c as u32
            ),
        ));
    }
    let title = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    let chars = title.chars().count();
    if chars > MAX_TITLE_CHARS {
        return Err(ApiError::of(
            Code::JobTitleTooLong,
            format!("a title has at most {MAX_TITLE_CHARS} characters; this one has {chars}"),
        ));
    }
    Ok((!title.is_empty()).then_some(title))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobPatch {
    /// The new title, at most 120 characters; empty (or null) goes back to the default, the
    /// script's first words.
    pub title: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/jobs/{id}", tag = "jobs", params(("id" = String, Path)),
    request_body = JobPatch,
    responses((status = 200, body = JobView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<JobPatch>,
) -> ApiResult<Json<JobView>> {
    let title = clean_title(patch.title.as_deref().unwrap_or(""))?;
    if let Some(t) = &title {
        crate::moderation::screen_title(&state, &caller, &client, t).await?;
    }
    let Some(job) = state
        .db
        .set_job_title(caller.id(), &id, title.as_deref())
        .await?
    else {
        return Err(client.hidden(&state, caller.id(), "job", &id).await);
    };
    // The title itself stays out of the audit log: it is the person's words, like the script.
    let detail = json!({ "job_id": id, "default": title.is_none() });
    client
        .record(&state, "job.renamed", Some(caller.id()), Some(detail))
        .await;
    Ok(Json(JobView::from(&job)))
}

/// `inline` (the player streams it) with the name a download takes: an ASCII fallback and the
/// RFC 5987 UTF-8 form, for scripts in other alphabets.
fn content_disposition(name: &str) -> axum::http::HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    axum::http::HeaderValue::from_str(&format!(
        "inline; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| axum::http::HeaderValue::from_static("inline"))
}

macro_rules! output_handler {
    ($name:ident, $output:expr, $path:literal, $ctype:literal) => {
        #[utoipa::path(get, path = $path, tag = "jobs", params(("id" = String, Path), RevisionQuery),
            responses((status = 200, content_type = $ctype), (status = 206, content_type = $ctype, description = "a byte range"),
                (status = 404, body = Problem), (status = 416, body = Problem)))]
        pub async fn $name(
            State(state): State<AppState>,
            caller: CurrentUser,
            client: ClientInfo,
            Path(id): Path<String>,
            ApiQuery(query): ApiQuery<RevisionQuery>,
            headers: HeaderMap,
        ) -> Response {
            serve_output(state, caller, client, id, query, headers, $output)
                .await
                .unwrap_or_else(IntoResponse::into_response)
        }
    };
}

output_handler!(video, Output::Video, "/api/v1/jobs/{id}/video", "video/mp4");
output_handler!(
    poster,
    Output::Poster,
    "/api/v1/jobs/{id}/poster",
    "image/jpeg"
);
output_handler!(
    captions_vtt,
    Output::CaptionsVtt,
    "/api/v1/jobs/{id}/captions.vtt",
    "text/vtt"
);
output_handler!(
    captions_srt,
    Output::CaptionsSrt,
    "/api/v1/jobs/{id}/captions.srt",
    "application/x-subrip"
);
