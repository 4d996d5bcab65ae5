//! Credits (P-BILL-1, P-BILL-4): `GET /api/v1/me/credits` (the balance and the ledger it is the
//! sum of), `POST /api/v1/jobs/quote` (what a spec would cost before it is submitted) and the
//! per-job cost shown on the job.

use axum::extract::State;
use axum::Json;
use reelsmith_jobs::SceneShots;
use reelsmith_store::LedgerEntry;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, CurrentUser};
pub use crate::job_cost::{HoldView, JobCost};
use crate::jobs::valid_spec;
use crate::time::rfc3339;
use crate::uploads::PageQuery;
use crate::AppState;

/// One change of the balance.
#[derive(Serialize, ToSchema)]
pub struct LedgerView {
    pub id: String,
    /// `grant`, `purchase`, `spend` or `refund`.
    pub kind: String,
    /// Positive for grants, purchases and refunds, negative for spends.
    pub amount: i64,
    pub job_id: Option<String>,
    pub revision: Option<i64>,
    pub note: String,
    pub created_at: String,
}

impl From<&LedgerEntry> for LedgerView {
    fn from(e: &LedgerEntry) -> LedgerView {
        LedgerView {
            id: e.id.clone(),
            kind: e.kind.as_str().to_owned(),
            amount: e.amount,
            job_id: e.job_id.clone(),
            revision: e.revision,
            note: e.note.clone(),
            created_at: rfc3339(e.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreditsView {
    /// The sum of the whole ledger (not only of this page); never negative.
    pub balance: i64,
    /// Credits still to be taken back after a refund or chargeback that the balance could not
    /// cover; the next credits received pay it first (P-BILL-1).
    pub owed: i64,
    /// Newest first; pass the last entry's id as `before` for the next page.
    pub ledger: Vec<LedgerView>,
}

#[utoipa::path(get, path = "/api/v1/me/credits", tag = "credits", params(PageQuery),
    responses((status = 200, body = CreditsView), (status = 401, body = Problem)))]
pub async fn mine(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<CreditsView>> {
    let page = query.page();
    let balance = state.db.credit_balance(caller.id()).await?;
    let owed = state.db.credits_owed(caller.id()).await?;
    let ledger = state
        .db
        .credit_ledger(caller.id(), page.limit, page.before.as_deref())
        .await?;
    Ok(Json(CreditsView {
        balance,
        owed,
        ledger: ledger.iter().map(LedgerView::from).collect(),
    }))
}

/// The shots of one scene, as the quote plans them.
#[derive(Serialize, ToSchema)]
pub struct QuoteScene {
    pub scene: usize,
    /// `text-to-video`, `image-to-video` or `text-to-image`.
    pub kind: String,
    /// The visual prompt sent to the provider for this scene.
    pub prompt: String,
    /// Index into `media` of the image sent for image-to-video.
    pub image: Option<usize>,
    /// Shot lengths in seconds (0 for a still image).
    pub shots: Vec<u32>,
    /// The narration's estimated length in seconds.
    pub seconds: f64,
}

impl From<&SceneShots> for QuoteScene {
    fn from(s: &SceneShots) -> QuoteScene {
        let kind = serde_json::to_value(s.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        QuoteScene {
            scene: s.scene,
            kind,
            prompt: s.prompt.clone(),
            image: s.image,
            shots: s.shots.clone(),
            seconds: s.seconds,
        }
    }
}

/// What a job would cost, and whether it can be submitted now.
#[derive(Serialize, ToSchema)]
pub struct QuoteView {
    pub provider: String,
    pub model: String,
    /// Empty for the studio engine, which generates no shots.
    pub scenes: Vec<QuoteScene>,
    /// The registry's price of every planned shot: what submission reserves.
    pub credits: i64,
    pub balance: i64,
    /// The balance covers the cost.
    pub affordable: bool,
    /// The provider needs the caller's consent (P-TP-2) and has none: submission would answer
    /// `409 consent.required`.
    pub consent_missing: bool,
    /// The caller's plan (issue 18) and its limits, shown beside the cost.
    pub plan: String,
    #[schema(value_type = Object)]
    pub plan_limits: reelsmith_config::PlanLimits,
    /// The stable code submission would refuse with under the plan (`plan.max_resolution`, ...).
    pub plan_refusal: Option<String>,
    /// Why, naming the plan and the limit.
    pub plan_refusal_detail: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/jobs/quote", tag = "jobs",
    request_body(content = reelsmith_core::RenderSpec, description = "the render spec, as for submission"),
    responses((status = 200, body = QuoteView),
        (status = 422, body = Problem, description = "the spec is refused as submission would refuse it (`provider.not_configured`, `provider.unknown_model`, `job.unknown_upload`, …)")))]
pub async fn quote(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<QuoteView>> {
    let checked = valid_spec(&state, caller.id(), body).await?;
    let plan = &checked.plan;
    let mut consent_missing = !plan.is_studio()
        && state
            .db
            .active_consent(caller.id(), &plan.provider)
            .await?
            .is_none();
    if let Some(voice) = &plan.voice {
        consent_missing |= state
            .db
            .active_consent(caller.id(), &voice.provider)
            .await?
            .is_none();
    }
    let cost = plan.cost();
    let balance = state.db.credit_balance(caller.id()).await?;
    let (billing_plan, broken) =
        crate::billing::plan_check(&state, caller.id(), &checked.spec, plan).await?;
    Ok(Json(QuoteView {
        provider: plan.provider.clone(),
        model: plan.model.clone(),
        scenes: plan.scenes.iter().map(QuoteScene::from).collect(),
        credits: cost,
        balance,
        affordable: balance >= cost,
        consent_missing,
        plan: billing_plan.name.clone(),
        plan_limits: billing_plan.limits.clone(),
        plan_refusal: broken.as_ref().map(|e| e.code().as_str().to_owned()),
        plan_refusal_detail: broken.as_ref().map(ToString::to_string),
    }))
}
