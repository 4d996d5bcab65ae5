//! `/api/v1/batches` (issue 25): many jobs from many scripts with one preset and the same
//! settings, quoted as a whole and submitted all-or-nothing. Every script goes through the
//! checks a single job's goes through ([`crate::jobs::valid_spec`], consent, moderation, the
//! plan's limits); the first one refused refuses the batch, naming its index, before anything is
//! stored. The jobs are queued and their credits held in one transaction
//! ([`reelsmith_store::Db::create_batch`]), each exactly as a single submission would be.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use reelsmith_core::Code;
use reelsmith_jobs::StoredPlan;
use reelsmith_store::{now_ms, Batch, BatchOnce, Job, NewBatchJob, NewJob};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::auth::{throttle, Throttle};
use crate::error::{ApiError, Problem, PROBLEM_JSON};
use crate::extract::{ApiJson, ClientInfo, CurrentUser};
use crate::jobs::{CheckedSpec, JobView};
use crate::time::rfc3339;
use crate::AppState;

/// Batches listed at once, newest first.
const LIST_LIMIT: i64 = 50;

// Serialize: a request's digest (for its Idempotency-Key) is taken over it as parsed.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// A preset's id (`template:<id>` for an operator's template) every job starts from.
    pub preset: Option<String>,
    /// Settings for every job, over the preset's (the keys a preset may hold).
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
    /// One job each, in order; at most `[batches] max_scripts`.
    pub scripts: Vec<BatchScript>,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchScript {
    /// The job's title (by default the script's first words).
    pub title: Option<String>,
    pub script: String,
}

#[derive(Serialize, ToSchema)]
pub struct BatchQuoteJob {
    pub index: usize,
    pub credits: i64,
    /// The narration's estimated length in seconds.
    pub seconds: f64,
}

#[derive(Serialize, ToSchema)]
pub struct BatchQuote {
    pub provider: String,
    pub model: Option<String>,
    pub jobs: Vec<BatchQuoteJob>,
    /// What creating the batch reserves: the sum of its jobs' quotes.
    pub credits: i64,
    pub balance: i64,
    pub affordable: bool,
    /// The provider needs the caller's consent (P-TP-2) and has none.
    pub consent_missing: bool,
}

#[derive(Serialize, ToSchema)]
pub struct BatchView {
    pub id: String,
    pub preset: Option<String>,
    #[schema(value_type = Object)]
    pub settings: Value,
    /// Reserved when the batch was created.
    pub credits: i64,
    pub created_at: String,
    /// The batch's jobs still there, in order (a job its owner deleted leaves the batch).
    pub jobs: Vec<JobView>,
    /// How many jobs are in each state (`queued`, `running`, `succeeded`, ...).
    #[schema(value_type = Object)]
    pub counts: BTreeMap<String, usize>,
    /// 0 to 1: the mean of the jobs' progress.
    pub progress: f64,
}

fn batch_view(batch: &Batch, jobs: &[Job]) -> BatchView {
    let mut counts = BTreeMap::new();
    for job in jobs {
        *counts.entry(job.status.as_str().to_owned()).or_insert(0) += 1;
    }
    let progress = if jobs.is_empty() {
        0.0
    } else {
        jobs.iter().map(|j| j.progress).sum::<f64>() / jobs.len() as f64
    };
    BatchView {
        id: batch.id.clone(),
        preset: batch.preset_id.clone(),
        settings: batch.settings.clone(),
        credits: batch.credits,
        created_at: rfc3339(batch.created_at),
        jobs: jobs.iter().map(JobView::from).collect(),
        counts,
        progress,
    }
}

/// A refusal of the whole batch, naming the script at fault: problem+json with `index` (from 0)
/// and `cause`, the code that script alone would have been refused with.
pub struct ScriptRefused {
    index: usize,
    cause: ApiError,
}

impl IntoResponse for ScriptRefused {
    fn into_response(self) -> Response {
        let code = Code::BatchInvalidScript;
        let body = json!({
            "type": format!("urn:reelsmith:problem:{}", code.as_str()),
            "title": "Unprocessable Entity",
            "status": code.status(),
            "detail": format!(
                "script number {} (index {}): {} (nothing was created)",
                self.index + 1,
                self.index,
                self.cause.detail
            ),
            "code": code.as_str(),
            "index": self.index,
            "cause": self.cause.code.as_str(),
        });
        let mut response = (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

/// Why a batch request is refused: as a single job would be, or naming the script at fault.
pub enum Refusal {
    Api(ApiError),
    Script(ScriptRefused),
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Refusal {
        Refusal::Api(e)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Api(e) => e.into_response(),
            Refusal::Script(s) => s.into_response(),
        }
    }
}

type BatchResult<T> = Result<T, Refusal>;

/// A failure of script `index`: a 422 is the script's (or the settings') fault and names it;
/// anything else (a missing consent, the database) is answered as a single job would be.
fn at(index: usize) -> impl Fn(ApiError) -> Refusal {
    move |cause| {
        if cause.status == StatusCode::UNPROCESSABLE_ENTITY {
            Refusal::Script(ScriptRefused { index, cause })
        } else {
            Refusal::Api(cause)
        }
    }
}

/// The settings every job gets (the preset's under the request's), and each script's spec
/// body, after the batch-wide bounds.
async fn bodies(
    state: &AppState,
    owner: &str,
    request: &BatchRequest,
) -> BatchResult<(Value, Vec<Value>)> {
    let max = state.config.batches.max_scripts;
    if request.scripts.is_empty() {
        return Err(ApiError::of(Code::BatchEmpty, "a batch needs at least one script").into());
    }
    if request.scripts.len() > max {
        return Err(ApiError::of(
            Code::BatchTooManyScripts,
            format!(
                "a batch holds at most {max} scripts; this one has {}: nothing was created",
                request.scripts.len()
            ),
        )
        .into());
    }
    let own = request
        .settings
        .clone()
        .unwrap_or(Value::Object(Map::new()));
    let own = crate::presets::settings_object(own, Code::BatchInvalidSettings)?;
    let mut settings = Value::Object(own);
    if let Some(preset) = &request.preset {
        let mut named = Map::new();
        named.insert("preset".into(), Value::String(preset.clone()));
        let with_preset = crate::presets::overlay(Value::Object(named), settings);
        settings = crate::presets::apply(state, owner, with_preset).await?;
    }
    let specs = request
        .scripts
        .iter()
        .map(|s| crate::presets::overlay(settings.clone(), json!({ "script": s.script })))
        .collect();
    Ok((settings, specs))
}

#[utoipa::path(post, path = "/api/v1/batches/quote", tag = "batches", request_body = BatchRequest,
    responses((status = 200, body = BatchQuote),
        (status = 413, body = Problem, description = "`request.too_large`: the body is over `[batches] max_request_kib`"),
        (status = 422, body = Problem, description = "`batch.empty`, `batch.too_many_scripts`, `batch.invalid_settings`, `preset.unknown`, or `batch.invalid_script` with `index` and `cause`")))]
pub async fn quote(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiJson(request): ApiJson<BatchRequest>,
) -> Result<Json<BatchQuote>, Refusal> {
    let (_, specs) = bodies(&state, caller.id(), &request).await?;
    let mut jobs = Vec::with_capacity(specs.len());
    let mut first: Option<CheckedSpec> = None;
    for (index, body) in specs.into_iter().enumerate() {
        let checked = crate::jobs::valid_spec(&state, caller.id(), body)
            .await
            .map_err(at(index))?;
        jobs.push(BatchQuoteJob {
            index,
            credits: checked.plan.cost(),
            seconds: checked.plan.scenes.iter().map(|s| s.seconds).sum(),
        });
        first.get_or_insert(checked);
    }
    let Some(first) = first else {
        return Err(ApiError::of(Code::BatchEmpty, "a batch needs at least one script").into());
    };
    let plan = &first.plan;
    let mut consent_missing = !plan.is_studio()
        && state
            .db
            .active_consent(caller.id(), &plan.provider)
            .await
            .map_err(ApiError::from)?
            .is_none();
    if let Some(voice) = &plan.voice {
        consent_missing |= state
            .db
            .active_consent(caller.id(), &voice.provider)
            .await
            .map_err(ApiError::from)?
            .is_none();
    }
    let credits = jobs.iter().map(|j| j.credits).sum();
    let balance = state
        .db
        .credit_balance(caller.id())
        .await
        .map_err(ApiError::from)?;
    Ok(Json(BatchQuote {
        provider: plan.provider.clone(),
        model: Some(plan.model.clone()).filter(|m| !m.is_empty()),
        jobs,
        credits,
        balance,
        affordable: balance >= credits,
        consent_missing,
    }))
}

#[utoipa::path(post, path = "/api/v1/batches", tag = "batches", request_body = BatchRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key and body returns the first batch and reserves nothing again; another body with it answers 422 `idempotency.mismatch`")),
    responses((status = 201, body = BatchView, description = "every job queued, the whole quote reserved"),
        (status = 200, body = BatchView, description = "an earlier batch created with this Idempotency-Key"),
        (status = 400, body = Problem, description = "`job.invalid_idempotency_key`"),
        (status = 402, body = Problem, description = "`credits.insufficient`: the balance does not cover the whole batch; nothing was created"),
        (status = 409, body = Problem, description = "`consent.required`, `policy.acceptance_required`, `plan.concurrent_jobs`"),
        (status = 413, body = Problem, description = "`request.too_large`"),
        (status = 422, body = Problem, description = "as for the quote; nothing was created"), (status = 429, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    headers: HeaderMap,
    ApiJson(request): ApiJson<BatchRequest>,
) -> Result<(StatusCode, Json<BatchView>), Refusal> {
    let key = crate::jobs::idempotency_key(&headers)?;
    throttle(&state, Throttle::JobSubmission, caller.id()).await?;
    let digest = match &key {
        Some(_) => {
            let body = serde_json::to_string(&request)
                .map_err(|e| ApiError::fault(Code::SpecSerialise, &e))?;
            Some(reelsmith_auth::hash_token(&format!("batch-request:{body}")))
        }
        None => None,
    };
    // A retry is answered before anything is checked again: its jobs may be running by now,
    // and the balance they reserved must not refuse the answer.
    if let (Some(key), Some(digest)) = (&key, &digest) {
        if let Some((batch, first)) = state
            .db
            .batch_by_idempotency_key(caller.id(), key)
            .await
            .map_err(ApiError::from)?
        {
            return earlier(&state, &batch, first.as_deref() == Some(digest.as_str())).await;
        }
    }
    crate::policies::require_accepted(&state, caller.id()).await?;
    let (settings, specs) = bodies(&state, caller.id(), &request).await?;
    let mut titles = Vec::with_capacity(specs.len());
    for script in &request.scripts {
        let title = crate::jobs::clean_title(script.title.as_deref().unwrap_or(""))?;
        if let Some(t) = &title {
            crate::moderation::screen_title(&state, &caller, &client, t).await?;
        }
        titles.push(title);
    }
    let mut jobs = Vec::with_capacity(specs.len());
    let mut held = Vec::with_capacity(specs.len());
    let mut billing_plan = None;
    for (index, body) in specs.into_iter().enumerate() {
        let held_raw = crate::moderation::screen_spec(&state, &caller, &client, &body)
            .await
            .map_err(at(index))?;
        let checked = crate::jobs::checked_spec(&state, caller.id(), body)
            .await
            .map_err(at(index))?;
        let params = checked.params()?;
        let categories = crate::moderation::screen_spec(&state, &caller, &client, &params)
            .await
            .map_err(at(index))?
            .or(held_raw);
        let plan = crate::billing::enforce_plan(&state, caller.id(), &checked.spec, &checked.plan)
            .await
            .map_err(at(index))?;
        billing_plan.get_or_insert(plan);
        held.push(categories);
        jobs.push(NewBatchJob {
            job: NewJob {
                owner_id: caller.id().to_owned(),
                params,
                idempotency_key: None,
                cost: checked.plan.cost(),
            },
            plan: StoredPlan::new(checked.plan).to_value(),
        });
    }
    let Some(billing_plan) = billing_plan else {
        return Err(ApiError::of(Code::BatchEmpty, "a batch needs at least one script").into());
    };
    let once = key
        .as_deref()
        .zip(digest.as_deref())
        .map(|(key, digest)| BatchOnce { key, digest });
    let made = state
        .db
        .create_batch(
            caller.id(),
            request.preset.as_deref(),
            &settings,
            &jobs,
            crate::billing::active_jobs_cap(&billing_plan),
            once,
            now_ms(),
        )
        .await
        .map_err(|e| crate::billing::limit_reached(&billing_plan, e))?;
    if !made.created {
        // Another request with this key won the race while this one was being checked.
        return earlier(&state, &made.batch, made.same_request).await;
    }
    let batch = made.batch;
    let mut created = state
        .db
        .batch_jobs(&batch.id)
        .await
        .map_err(ApiError::from)?;
    for ((job, title), categories) in created.iter_mut().zip(&titles).zip(&held) {
        crate::outbound_webhooks::remember_token(&state, &caller, &job.id).await?;
        if let Some(categories) = categories {
            crate::moderation::hold(&state, &caller, &client, &job.id, categories).await?;
        }
        if let Some(title) = title {
            if let Some(titled) = state
                .db
                .set_job_title(caller.id(), &job.id, Some(title))
                .await
                .map_err(ApiError::from)?
            {
                *job = titled;
            }
        }
    }
    client
        .record(
            &state,
            "batch.created",
            Some(caller.id()),
            Some(json!({ "batch_id": batch.id, "jobs": created.len(), "credits": batch.credits })),
        )
        .await;
    Ok((StatusCode::CREATED, Json(batch_view(&batch, &created))))
}

/// The answer to a retry: the batch its key created first, or `idempotency.mismatch` when that
/// key came with another request.
async fn earlier(
    state: &AppState,
    batch: &Batch,
    same_request: bool,
) -> Result<(StatusCode, Json<BatchView>), Refusal> {
    if !same_request {
        return Err(ApiError::of(
            Code::IdempotencyMismatch,
            "this Idempotency-Key was used for a different batch; use a new key for a new batch",
        )
        .into());
    }
    let jobs = state
        .db
        .batch_jobs(&batch.id)
        .await
        .map_err(ApiError::from)?;
    Ok((StatusCode::OK, Json(batch_view(batch, &jobs))))
}

#[utoipa::path(get, path = "/api/v1/batches", tag = "batches",
    responses((status = 200, body = [BatchView], description = "the caller's latest 50 batches, newest first"), (status = 401, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: CurrentUser,
) -> Result<Json<Vec<BatchView>>, ApiError> {
    let mut out = Vec::new();
    for batch in state.db.batches_of(caller.id(), LIST_LIMIT).await? {
        let jobs = state.db.batch_jobs(&batch.id).await?;
        out.push(batch_view(&batch, &jobs));
    }
    Ok(Json(out))
}

#[utoipa::path(get, path = "/api/v1/batches/{id}", tag = "batches", params(("id" = String, Path)),
    responses((status = 200, body = BatchView), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<Json<BatchView>, ApiError> {
    let Some(batch) = state.db.batch_for_owner(caller.id(), &id).await? else {
        return Err(client.hidden(&state, caller.id(), "batch", &id).await);
    };
    let jobs = state.db.batch_jobs(&batch.id).await?;
    Ok(Json(batch_view(&batch, &jobs)))
}
