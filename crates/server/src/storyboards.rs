//! The storyboard (issue 25): a job's scenes, planned and quoted but neither queued nor
//! reserved, edited by their owner and then rendered exactly as they stand.
//!
//! `POST /api/v1/storyboards` takes a render spec and answers a draft whose id is the id of the
//! job it becomes; `GET`/`PUT /api/v1/jobs/{id}/storyboard` read and replace its scenes (the PUT
//! names the version it was edited from in `If-Match`); `POST /api/v1/jobs/{id}/render` reserves
//! the quote and queues it. Every answer carries the quote of the scenes as they stand.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use reelsmith_core::{Code, RenderSpec};
use reelsmith_jobs::{plan_storyboard_with, JobPlan, StoredPlan, Storyboard, Visual};
use reelsmith_store::{now_ms, DraftStoryboard, NewJob, ReplaceOutcome, UploadKind};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::auth::{throttle, Throttle};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, ClientInfo, CurrentUser};
use crate::jobs::{owned_job, valid_spec, JobView, RevisionQuery};
use crate::AppState;

/// One scene as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct SceneView {
    pub text: String,
    /// `{"kind": "upload", "id": …}`, `{"kind": "card"}`, `{"kind": "prompt", "prompt": …}`
    /// or `{"kind": "stock", …}`.
    #[schema(value_type = Object)]
    pub visual: Option<Visual>,
    /// The camera motion, `auto` already resolved.
    #[schema(value_type = String)]
    pub motion: reelsmith_core::Motion,
    #[schema(value_type = String)]
    pub transition: reelsmith_core::Transition,
    /// The scene's length: the narration's estimate, or once rendered the narration's own
    /// (see `seconds_from`).
    pub seconds: f64,
    /// The provider shots this scene is generated with (empty for uploads and title cards).
    pub shots: Vec<u32>,
}

/// What rendering would cost now.
#[derive(Serialize, ToSchema)]
pub struct StoryboardQuote {
    pub provider: String,
    pub model: String,
    /// What rendering reserves, and spends when the job succeeds.
    pub credits: i64,
    pub balance: i64,
    pub affordable: bool,
    /// A provider or cloud voice needs the caller's consent first (`409 consent.required`).
    pub consent_missing: bool,
}

#[derive(Serialize, ToSchema)]
pub struct StoryboardView {
    /// The draft's id, which is also the id of the job it becomes.
    pub id: String,
    /// `draft` (editable) or `rendered` (the storyboard a job revision renders).
    pub status: String,
    /// The version `If-Match` names (also sent as the `ETag` header).
    pub etag: String,
    /// The job revision it renders as, once rendered.
    pub revision: Option<i64>,
    pub scenes: Vec<SceneView>,
    /// The length of all scenes.
    pub seconds: f64,
    /// `estimate` (from the text, before anything is narrated) or `narration` (a rendered
    /// revision's lengths as its narration came out).
    pub seconds_from: String,
    pub quote: StoryboardQuote,
    /// The render spec the scenes render with (its script and media follow the scenes).
    #[schema(value_type = Object)]
    pub params: Value,
}

/// A replacement: the whole scene list, in order.
#[derive(Deserialize, ToSchema)]
pub struct StoryboardBody {
    #[schema(value_type = Vec<Object>)]
    pub scenes: Vec<Value>,
}

fn draft_etag(version: i64) -> String {
    format!("\"v{version}\"")
}

fn rendered_etag(revision: i64) -> String {
    format!("\"r{revision}\"")
}

fn with_etag(etag: &str, status: StatusCode, view: StoryboardView) -> Response {
    let mut response = (status, Json(view)).into_response();
    if let Ok(v) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

fn spec_of(params: &Value) -> ApiResult<RenderSpec> {
    serde_json::from_value(params.clone())
        .map_err(|e| ApiError::of(Code::SpecInvalid, e.to_string()))
}

fn board_of(value: &Value) -> ApiResult<Storyboard> {
    serde_json::from_value(value.clone())
        .map_err(|e| ApiError::of(Code::StoryboardInvalid, e.to_string()))
}

fn board_error(e: &reelsmith_jobs::StoryboardError) -> ApiError {
    ApiError::from_code(e, StatusCode::UNPROCESSABLE_ENTITY)
}

fn to_value<T: Serialize>(v: &T) -> ApiResult<Value> {
    serde_json::to_value(v).map_err(|e| ApiError::fault(Code::SpecSerialise, &e))
}

/// Checks a storyboard against the spec and the caller's uploads, and plans it. Another user's
/// upload is answered exactly like a missing one (P-SEC-4).
async fn checked_board(
    state: &AppState,
    owner: &str,
    id: &str,
    spec: &RenderSpec,
    board: &mut Storyboard,
) -> ApiResult<JobPlan> {
    crate::stock_search::resolve_picks(state, owner, id, board).await?;
    board.check(spec).map_err(|e| board_error(&e))?;
    for id in board.upload_ids() {
        let upload = state
            .db
            .upload_for_owner(owner, &id)
            .await?
            .ok_or_else(|| {
                ApiError::of(
                    Code::JobUnknownUpload,
                    format!("no upload `{id}` exists among yours"),
                )
            })?;
        if upload.kind == UploadKind::Audio {
            return Err(ApiError::of(
                Code::JobMediaNotVisual,
                format!("upload `{id}` is audio; a scene shows images and videos"),
            ));
        }
    }
    let rendered = board.spec_for(spec);
    rendered.validate(&state.config.limits)?;
    Ok(plan_storyboard_with(spec, board, &state.models)?)
}

async fn quote(state: &AppState, owner: &str, plan: &JobPlan) -> ApiResult<StoryboardQuote> {
    let mut consent_missing = !plan.is_studio()
        && state
            .db
            .active_consent(owner, &plan.provider)
            .await?
            .is_none();
    if let Some(voice) = &plan.voice {
        consent_missing |= state
            .db
            .active_consent(owner, &voice.provider)
            .await?
            .is_none();
    }
    let credits = plan.cost();
    let balance = state.db.credit_balance(owner).await?;
    Ok(StoryboardQuote {
        provider: plan.provider.clone(),
        model: plan.model.clone(),
        credits,
        balance,
        affordable: balance >= credits,
        consent_missing,
    })
}

#[allow(clippy::too_many_arguments)]
async fn view(
    state: &AppState,
    owner: &str,
    id: &str,
    status: &str,
    etag: String,
    revision: Option<i64>,
    spec: &RenderSpec,
    board: &Storyboard,
    plan: &JobPlan,
    narrated: Option<Vec<f64>>,
) -> ApiResult<StoryboardView> {
    // The real lengths once the revision was narrated, when they cover every scene.
    let (seconds, seconds_from) = match narrated {
        Some(real) if real.len() == board.scenes.len() => (real, "narration"),
        _ => (board.seconds(spec), "estimate"),
    };
    let scenes = board
        .scenes
        .iter()
        .zip(&seconds)
        .enumerate()
        .map(|(i, (s, &secs))| SceneView {
            text: s.text.clone(),
            visual: s.visual.clone(),
            motion: s.motion,
            transition: s.transition,
            seconds: secs,
            shots: plan
                .scenes
                .iter()
                .find(|p| p.scene == i)
                .map(|p| p.shots.clone())
                .unwrap_or_default(),
        })
        .collect();
    Ok(StoryboardView {
        id: id.to_owned(),
        status: status.to_owned(),
        etag,
        revision,
        scenes,
        seconds: seconds.iter().sum(),
        seconds_from: seconds_from.to_owned(),
        quote: quote(state, owner, plan).await?,
        params: to_value(&board.spec_for(spec))?,
    })
}

async fn draft_view(
    state: &AppState,
    draft: &DraftStoryboard,
) -> ApiResult<(String, StoryboardView)> {
    let spec = spec_of(&draft.params)?;
    let board = board_of(&draft.storyboard)?;
    let plan = plan_storyboard_with(&spec, &board, &state.models)?;
    let etag = draft_etag(draft.version);
    let v = view(
        state,
        &draft.owner_id,
        &draft.id,
        "draft",
        etag.clone(),
        None,
        &spec,
        &board,
        &plan,
        None,
    )
    .await?;
    Ok((etag, v))
}

#[utoipa::path(post, path = "/api/v1/storyboards", tag = "storyboards",
    request_body(content = reelsmith_core::RenderSpec, description = "the render spec, as for submission"),
    responses((status = 201, body = StoryboardView, description = "a draft: planned and quoted, nothing queued or reserved; `ETag` names its version"),
        (status = 401, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    throttle(&state, Throttle::JobSubmission, caller.id()).await?;
    crate::policies::require_accepted(&state, caller.id()).await?;
    crate::moderation::screen_spec(&state, &caller, &client, &body).await?;
    let checked = valid_spec(&state, caller.id(), body).await?;
    let params = checked.params()?;
    let spec = checked.spec.into_inner();
    let mut board = Storyboard::from_spec(&spec)
        .map_err(|e| ApiError::from_code(&e, StatusCode::UNPROCESSABLE_ENTITY))?;
    // A new draft's scenes are the spec's uploads, cards and prompts: no pick to resolve.
    checked_board(&state, caller.id(), "", &spec, &mut board).await?;
    let draft = state
        .db
        .create_storyboard(caller.id(), &params, &to_value(&board)?, now_ms())
        .await?;
    let (etag, v) = draft_view(&state, &draft).await?;
    Ok(with_etag(&etag, StatusCode::CREATED, v))
}

/// A job id that is neither the caller's draft nor the caller's job.
async fn not_found(
    state: &AppState,
    caller: &CurrentUser,
    client: &ClientInfo,
    id: &str,
) -> ApiError {
    client
        .record(
            state,
            "access.denied",
            Some(caller.id()),
            Some(json!({ "job_id": id })),
        )
        .await;
    ApiError::not_found("job")
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}/storyboard", tag = "storyboards",
    params(("id" = String, Path), RevisionQuery),
    responses((status = 200, body = StoryboardView, description = "the draft, or the storyboard a revision of the job renders; `ETag` names its version"),
        (status = 404, body = Problem, description = "`not_found`, or `storyboard.none` for a job submitted without one")))]
pub async fn get(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<RevisionQuery>,
) -> ApiResult<Response> {
    if let Some(draft) = state.db.storyboard_for_owner(caller.id(), &id).await? {
        let (etag, v) = draft_view(&state, &draft).await?;
        return Ok(with_etag(&etag, StatusCode::OK, v));
    }
    let Ok(job) = owned_job(&state, &caller, &client, &id).await else {
        return Err(ApiError::not_found("job"));
    };
    let revision = query.revision.unwrap_or(job.current_revision);
    let record = state
        .db
        .revision_plan(caller.id(), &id, revision)
        .await?
        .ok_or_else(|| ApiError::not_found("revision"))?;
    let stored = record
        .map(|r| StoredPlan::read(&r))
        .transpose()
        .map_err(|e| ApiError::fault(Code::StoreCorrupt, &e))?;
    let Some((plan, Some(board))) = stored.map(|s| (s.plan, s.storyboard)) else {
        return Err(ApiError::of(
            Code::StoryboardNone,
            format!("revision {revision} of this job was submitted without a storyboard"),
        ));
    };
    let rev = state
        .db
        .revision_for_owner(caller.id(), &id, revision)
        .await?
        .ok_or_else(|| ApiError::not_found("revision"))?;
    let spec = spec_of(&rev.params)?;
    let narrated = rev
        .usage
        .as_ref()
        .and_then(|u| u.get("scene_seconds"))
        .and_then(|s| serde_json::from_value::<Vec<f64>>(s.clone()).ok());
    let etag = rendered_etag(revision);
    let v = view(
        &state,
        caller.id(),
        &id,
        "rendered",
        etag.clone(),
        Some(revision),
        &spec,
        &board,
        &plan,
        narrated,
    )
    .await?;
    Ok(with_etag(&etag, StatusCode::OK, v))
}

/// The version `If-Match` names: `"v3"` (or a weak `W/"v3"`).
fn if_match(headers: &HeaderMap) -> ApiResult<Option<i64>> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Err(ApiError::of(
            Code::StoryboardPreconditionRequired,
            "send `If-Match` with the ETag of the storyboard you edited",
        ));
    };
    let text = value.to_str().unwrap_or_default().trim();
    let text = text.strip_prefix("W/").unwrap_or(text);
    Ok(text
        .trim_matches('"')
        .strip_prefix('v')
        .and_then(|n| n.parse::<i64>().ok()))
}

fn stale(current: i64) -> ApiError {
    ApiError::of(
        Code::StoryboardStale,
        format!(
            "the storyboard is now at {} (saved elsewhere since you read it); reload it and \
             make your changes again",
            draft_etag(current)
        ),
    )
}

/// A draft that is no longer there: rendered already (409), or not the caller's (404).
pub(crate) async fn gone(
    state: &AppState,
    caller: &CurrentUser,
    client: &ClientInfo,
    id: &str,
) -> ApiError {
    match state.db.job_for_owner(caller.id(), id).await {
        Ok(Some(_)) => ApiError::of(
            Code::StoryboardRendered,
            "this storyboard has been rendered; revise the job instead",
        ),
        _ => not_found(state, caller, client, id).await,
    }
}

#[utoipa::path(put, path = "/api/v1/jobs/{id}/storyboard", tag = "storyboards",
    params(("id" = String, Path), ("If-Match" = String, Header, description = "the ETag of the version edited")),
    request_body = StoryboardBody,
    responses((status = 200, body = StoryboardView, description = "replaced; the new `ETag` and quote"),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "`storyboard.rendered`"),
        (status = 412, body = Problem, description = "`storyboard.stale`: saved elsewhere since; nothing was changed"),
        (status = 422, body = Problem), (status = 428, body = Problem, description = "`storyboard.precondition_required`")))]
pub async fn replace(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let expected = if_match(&headers)?;
    let Some(draft) = state.db.storyboard_for_owner(caller.id(), &id).await? else {
        return Err(gone(&state, &caller, &client, &id).await);
    };
    if expected != Some(draft.version) {
        return Err(stale(draft.version));
    }
    let scenes = body
        .get("scenes")
        .filter(|s| s.is_array())
        .ok_or_else(|| ApiError::of(Code::StoryboardInvalid, "send `{\"scenes\": [...]}`"))?;
    let mut board = board_of(&json!({ "scenes": scenes }))?;
    let spec = spec_of(&draft.params)?;
    checked_board(&state, caller.id(), &id, &spec, &mut board).await?;
    crate::moderation::screen_spec(&state, &caller, &client, &to_value(&board.spec_for(&spec))?)
        .await?;
    let outcome = state
        .db
        .replace_storyboard(
            caller.id(),
            &id,
            draft.version,
            &draft.params,
            &to_value(&board)?,
            now_ms(),
        )
        .await?;
    match outcome {
        ReplaceOutcome::Replaced(draft) => {
            let (etag, v) = draft_view(&state, &draft).await?;
            Ok(with_etag(&etag, StatusCode::OK, v))
        }
        ReplaceOutcome::Stale { current } => Err(stale(current)),
        ReplaceOutcome::Missing => Err(gone(&state, &caller, &client, &id).await),
    }
}

#[utoipa::path(delete, path = "/api/v1/jobs/{id}/storyboard", tag = "storyboards",
    params(("id" = String, Path)),
    responses((status = 204, description = "the draft is gone; nothing was reserved"),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "`storyboard.rendered`: delete the job instead")))]
pub async fn delete(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if state.db.delete_storyboard(caller.id(), &id).await? {
        state.db.delete_stock_offers(caller.id(), &id).await?;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(gone(&state, &caller, &client, &id).await)
    }
}

#[utoipa::path(post, path = "/api/v1/jobs/{id}/render", tag = "storyboards",
    params(("id" = String, Path)),
    responses((status = 201, body = JobView, description = "queued, the quote reserved"),
        (status = 200, body = JobView, description = "rendered already: the job"),
        (status = 402, body = Problem, description = "`credits.insufficient`: nothing was queued or reserved, the draft is unchanged"),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn render(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<JobView>)> {
    let Some(draft) = state.db.storyboard_for_owner(caller.id(), &id).await? else {
        return match state.db.job_for_owner(caller.id(), &id).await? {
            Some(job) => Ok((StatusCode::OK, Json(JobView::from(&job)))),
            None => Err(not_found(&state, &caller, &client, &id).await),
        };
    };
    crate::policies::require_accepted(&state, caller.id()).await?;
    let spec = spec_of(&draft.params)?;
    let mut board = board_of(&draft.storyboard)?;
    // Checked again: an upload deleted, a provider unconfigured or a price changed since.
    let plan = checked_board(&state, caller.id(), &id, &spec, &mut board).await?;
    let params = to_value(&board.spec_for(&spec))?;
    let held = crate::moderation::screen_spec(&state, &caller, &client, &params).await?;
    // The spec's own checks (voice, sound, provider configured) on what will render.
    let checked = valid_spec(&state, caller.id(), params.clone()).await?;
    if !plan.is_studio() {
        crate::jobs::provider_is_usable(&state, caller.id(), &plan.provider).await?;
    }
    if let Some(voice) = &plan.voice {
        crate::cloud_voices::voice_is_usable(&state, caller.id(), &voice.provider).await?;
    }
    let billing_plan =
        crate::billing::enforce_plan(&state, caller.id(), &checked.spec, &plan).await?;
    let cost = plan.cost();
    let submitted = state
        .db
        .render_storyboard(
            &id,
            &NewJob {
                owner_id: caller.id().to_owned(),
                params,
                idempotency_key: None,
                cost,
            },
            &StoredPlan::with_storyboard(plan, board).to_value(),
            crate::billing::active_jobs_cap(&billing_plan),
            now_ms(),
        )
        .await
        .map_err(|e| crate::billing::limit_reached(&billing_plan, e))?;
    let Some(submitted) = submitted else {
        // Rendered by a request that won the race: its job is the answer.
        return match state.db.job_for_owner(caller.id(), &id).await? {
            Some(job) => Ok((StatusCode::OK, Json(JobView::from(&job)))),
            None => Err(not_found(&state, &caller, &client, &id).await),
        };
    };
    // The stock searches made for the draft join the job's transfer log (P-TP-4).
    state
        .db
        .attach_draft_transfers(caller.id(), &submitted.job.id)
        .await?;
    crate::outbound_webhooks::remember_token(&state, &caller, &submitted.job.id).await?;
    if let Some(categories) = &held {
        crate::moderation::hold(&state, &caller, &client, &submitted.job.id, categories).await?;
    }
    Ok((StatusCode::CREATED, Json(JobView::from(&submitted.job))))
}
