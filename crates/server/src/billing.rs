//! Plans, purchases and invoices through the API (issue 18; P-BILL-2, P-BILL-3): the public price
//! list, the caller's plan with its limits and payments, starting a hosted checkout, the Stripe
//! Customer Portal, the plan limits checked where jobs are accepted, and the operator's credit
//! grants. The processors' webhooks are in [`crate::billing_webhooks`].

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use reelsmith_billing::limits::{self, JobFacts};
use reelsmith_billing::{creem::CreemClient, effective_plan, stripe as stripe_api};
use reelsmith_config::{Plan, PlanKind, PlanLimits, Processor};
use reelsmith_core::{Choice, Code, RenderSpec, ValidSpec};
use reelsmith_jobs::JobPlan;
use reelsmith_store::{new_id, now_ms, Checkout, CreditKind, CreditOnce, Payment, Role};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ClientInfo, CurrentUser};
use crate::time::rfc3339;
use crate::AppState;

/// A plan as the price list shows it.
#[derive(Serialize, ToSchema)]
pub struct PlanView {
    pub id: String,
    pub name: String,
    /// `free`, `subscription` or `lifetime`.
    pub kind: String,
    /// `month` or `year` for subscriptions.
    pub interval: Option<String>,
    pub price_cents: i64,
    pub currency: String,
    /// Per month (free, subscription) or once (lifetime).
    pub credits: i64,
    #[schema(value_type = Object)]
    pub limits: PlanLimits,
    /// It can be bought here now (a processor is configured and sells it).
    pub for_sale: bool,
}

#[derive(Serialize, ToSchema)]
pub struct PackView {
    pub id: String,
    pub credits: i64,
    pub price_cents: i64,
    pub currency: String,
    pub for_sale: bool,
}

#[derive(Serialize, ToSchema)]
pub struct PriceList {
    /// `none`, `stripe` or `creem`.
    pub processor: String,
    /// False: nothing can be bought; credits come from plans and the operator.
    pub purchases_enabled: bool,
    pub plans: Vec<PlanView>,
    pub packs: Vec<PackView>,
}

fn sold_by(state: &AppState, stripe: &Option<String>, creem: &Option<String>) -> bool {
    let b = &state.config.billing;
    b.purchases_enabled()
        && match b.processor {
            Processor::Stripe => stripe.is_some(),
            Processor::Creem => creem.is_some(),
            Processor::None => false,
        }
}

fn plan_view(state: &AppState, p: &Plan) -> PlanView {
    PlanView {
        id: p.id.clone(),
        name: p.name.clone(),
        kind: serde_json::to_value(p.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        interval: p.interval.and_then(|i| {
            serde_json::to_value(i)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
        }),
        price_cents: p.price_cents,
        currency: p.currency.clone(),
        credits: p.credits,
        limits: p.limits.clone(),
        for_sale: p.kind != PlanKind::Free && sold_by(state, &p.stripe_price, &p.creem_product),
    }
}

pub(crate) fn price_list(state: &AppState) -> PriceList {
    let b = &state.config.billing;
    PriceList {
        processor: b.processor.as_str().to_owned(),
        purchases_enabled: b.purchases_enabled(),
        plans: b.plans.iter().map(|p| plan_view(state, p)).collect(),
        packs: b
            .packs
            .iter()
            .map(|p| PackView {
                id: p.id.clone(),
                credits: p.credits,
                price_cents: p.price_cents,
                currency: p.currency.clone(),
                for_sale: sold_by(state, &p.stripe_price, &p.creem_product),
            })
            .collect(),
    }
}

#[utoipa::path(get, path = "/api/v1/billing/plans", tag = "billing",
    responses((status = 200, body = PriceList)))]
pub async fn plans(State(state): State<AppState>) -> Json<PriceList> {
    Json(price_list(&state))
}

/// One payment, as the processor reported it.
#[derive(Serialize, ToSchema)]
pub struct PaymentView {
    pub id: String,
    pub processor: String,
    /// The processor's checkout session, order or invoice id.
    pub reference: String,
    pub item: String,
    pub description: String,
    pub amount_cents: i64,
    pub currency: String,
    /// Tax as the processor reported it; absent when it reported none.
    pub tax_cents: Option<i64>,
    /// The processor's receipt or hosted invoice.
    pub receipt_url: Option<String>,
    pub credits: i64,
    pub refunded_cents: i64,
    pub credits_taken_back: i64,
    pub created_at: String,
}

impl From<&Payment> for PaymentView {
    fn from(p: &Payment) -> PaymentView {
        PaymentView {
            id: p.id.clone(),
            processor: p.processor.clone(),
            reference: p.external_id.clone(),
            item: p.item.clone(),
            description: p.description.clone(),
            amount_cents: p.amount_cents,
            currency: p.currency.clone(),
            tax_cents: p.tax_cents,
            receipt_url: p.receipt_url.clone(),
            credits: p.credits,
            refunded_cents: p.refunded_cents,
            credits_taken_back: p.credits_reversed,
            created_at: rfc3339(p.created_at),
        }
    }
}

/// The caller's plan, balance and payments.
#[derive(Serialize, ToSchema)]
pub struct MyBilling {
    pub plan: PlanView,
    /// `active`, `past_due` or `canceled`; `active` for the default plan.
    pub status: String,
    /// When the paid period ends (a subscription renews or, if cancelled, ends then).
    pub period_end: Option<String>,
    pub cancel_at_period_end: bool,
    /// The plan a downgrade switches to at `period_end`.
    pub pending_plan: Option<String>,
    pub balance: i64,
    pub purchases_enabled: bool,
    /// The processor's portal can manage this subscription.
    pub can_manage: bool,
    pub payments: Vec<PaymentView>,
}

#[utoipa::path(get, path = "/api/v1/me/billing", tag = "billing",
    responses((status = 200, body = MyBilling), (status = 401, body = Problem)))]
pub async fn mine(
    State(state): State<AppState>,
    caller: CurrentUser,
) -> ApiResult<Json<MyBilling>> {
    let row = state.db.user_plan(caller.id()).await?;
    let plan = effective_plan(&state.config.billing, row.as_ref());
    let payments = state.db.payments(caller.id()).await?;
    Ok(Json(MyBilling {
        plan: plan_view(&state, plan),
        status: row
            .as_ref()
            .map_or_else(|| "active".to_owned(), |r| r.status.clone()),
        period_end: row.as_ref().and_then(|r| r.period_end).map(rfc3339),
        cancel_at_period_end: row.as_ref().is_some_and(|r| r.cancel_at_period_end != 0),
        pending_plan: row.as_ref().and_then(|r| r.pending_plan.clone()),
        balance: state.db.credit_balance(caller.id()).await?,
        purchases_enabled: state.config.billing.purchases_enabled(),
        can_manage: state.config.billing.processor == Processor::Stripe
            && state.config.billing.purchases_enabled()
            && row.as_ref().is_some_and(|r| {
                r.customer_id.is_some() && r.processor.as_deref() == Some("stripe")
            }),
        payments: payments.iter().map(PaymentView::from).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutBody {
    /// A plan id (not the free one) or a credit pack id.
    pub item: String,
}

#[derive(Serialize, ToSchema)]
pub struct CheckoutView {
    pub checkout_id: String,
    /// The processor's hosted payment page: send the browser there.
    pub url: String,
}

fn purchases_off() -> ApiError {
    ApiError::of(
        Code::BillingPurchasesOff,
        "purchases are off on this server: credits come from plans and the operator",
    )
}

fn processor_down(err: &dyn std::fmt::Display) -> ApiError {
    tracing::warn!(error = %err, "payment processor unavailable for a checkout");
    ApiError::of(
        Code::BillingProcessorUnavailable,
        "the payment processor cannot be reached right now; nothing was charged, try again later",
    )
}

#[utoipa::path(post, path = "/api/v1/me/billing/checkout", tag = "billing",
    request_body = CheckoutBody,
    responses((status = 201, body = CheckoutView),
        (status = 409, body = Problem, description = "`billing.purchases_off`, `billing.already_lifetime`"),
        (status = 422, body = Problem, description = "`billing.unknown_item`, `billing.item_not_for_sale`"),
        (status = 503, body = Problem, description = "`billing.processor_unavailable`")))]
pub async fn checkout(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiJson(body): ApiJson<CheckoutBody>,
) -> ApiResult<(StatusCode, Json<CheckoutView>)> {
    let b = &state.config.billing;
    if !b.purchases_enabled() {
        return Err(purchases_off());
    }
    let (kind, stripe_price, creem_product, subscription) = if let Some(pack) = b.pack(&body.item) {
        ("pack", &pack.stripe_price, &pack.creem_product, false)
    } else if let Some(plan) = b.plan(&body.item).filter(|p| p.kind != PlanKind::Free) {
        (
            "plan",
            &plan.stripe_price,
            &plan.creem_product,
            plan.kind == PlanKind::Subscription,
        )
    } else {
        return Err(ApiError::of(
            Code::BillingUnknownItem,
            format!("no plan or credit pack `{}` is sold here", body.item),
        ));
    };
    let current = state.db.user_plan(caller.id()).await?;
    if kind == "plan"
        && current
            .as_ref()
            .and_then(|r| b.plan(&r.plan))
            .is_some_and(|p| p.kind == PlanKind::Lifetime)
    {
        return Err(ApiError::of(
            Code::BillingAlreadyLifetime,
            "you have the Lifetime plan already; credit packs can still be bought",
        ));
    }
    let not_for_sale = || {
        ApiError::of(
            Code::BillingItemNotForSale,
            format!("`{}` has no price at the payment processor", body.item),
        )
    };
    let user = state
        .db
        .user_by_id(caller.id())
        .await?
        .filter(|u| !u.is_deleted())
        .ok_or_else(|| ApiError::of(Code::BillingAccountDeleted, "this account is deleted"))?;
    let now = now_ms();
    let row = Checkout {
        id: new_id(),
        user_id: Some(caller.id().to_owned()),
        processor: b.processor.as_str().to_owned(),
        item_kind: kind.to_owned(),
        item: body.item.clone(),
        session_id: None,
        status: "open".into(),
        created_at: now,
        expires_at: now + i64::from(b.checkout_minutes) * 60_000,
    };
    let base = state.public_url();
    let success = format!("{base}/billing?checkout={}", row.id);
    let cancel = format!("{base}/billing?checkout={}&cancelled=1", row.id);
    let (session_id, url) = match b.processor {
        Processor::Stripe => {
            let price = stripe_price.as_deref().ok_or_else(not_for_sale)?;
            state.db.create_checkout(&row).await?;
            let client = stripe_client(&state).ok_or_else(purchases_off)?;
            // Stripe accepts 30 minutes to 24 hours; our lifetime is clamped into that.
            let minutes = i64::from(b.checkout_minutes).clamp(31, 24 * 60);
            let session = client
                .create_checkout(&stripe_api::CheckoutRequest {
                    mode: if subscription {
                        stripe_api::Mode::Subscription
                    } else {
                        stripe_api::Mode::Payment
                    },
                    price,
                    reference: &row.id,
                    customer_email: Some(&user.email),
                    customer: current.as_ref().and_then(|r| {
                        (r.processor.as_deref() == Some("stripe"))
                            .then_some(r.customer_id.as_deref())
                            .flatten()
                    }),
                    success_url: &success,
                    cancel_url: &cancel,
                    expires_at: Some(now / 1000 + minutes * 60),
                })
                .await;
            match session {
                Ok(s) => (s.id, s.url),
                Err(e) => {
                    state.db.expire_checkouts_by_id(&row.id).await?;
                    return Err(processor_down(&e));
                }
            }
        }
        Processor::Creem => {
            let product = creem_product.as_deref().ok_or_else(not_for_sale)?;
            state.db.create_checkout(&row).await?;
            let c = &b.creem;
            let key = c.api_key.as_ref().ok_or_else(purchases_off)?;
            let client = CreemClient::new(&c.api_base, key.expose());
            match client
                .create_checkout(product, &row.id, Some(&user.email), &success)
                .await
            {
                Ok(s) => (s.id, s.checkout_url),
                Err(e) => {
                    state.db.expire_checkouts_by_id(&row.id).await?;
                    return Err(processor_down(&e));
                }
            }
        }
        Processor::None => return Err(purchases_off()),
    };
    state.db.set_checkout_session(&row.id, &session_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(CheckoutView {
            checkout_id: row.id,
            url,
        }),
    ))
}

pub(crate) fn stripe_client(state: &AppState) -> Option<stripe_api::StripeClient> {
    let s = &state.config.billing.stripe;
    let key = s.secret_key.as_ref()?;
    Some(stripe_api::StripeClient::new(&s.api_base, key.expose()))
}

#[derive(Serialize, ToSchema)]
pub struct PortalView {
    pub url: String,
}

#[utoipa::path(post, path = "/api/v1/me/billing/portal", tag = "billing",
    responses((status = 200, body = PortalView),
        (status = 409, body = Problem, description = "`billing.no_subscription`, `billing.purchases_off`"),
        (status = 503, body = Problem)))]
pub async fn portal(
    State(state): State<AppState>,
    caller: CurrentUser,
) -> ApiResult<Json<PortalView>> {
    if state.config.billing.processor != Processor::Stripe
        || !state.config.billing.purchases_enabled()
    {
        return Err(purchases_off());
    }
    let customer = state
        .db
        .user_plan(caller.id())
        .await?
        .filter(|r| r.processor.as_deref() == Some("stripe"))
        .and_then(|r| r.customer_id)
        .ok_or_else(|| {
            ApiError::of(
                Code::BillingNoSubscription,
                "there is no subscription to manage",
            )
        })?;
    let client = stripe_client(&state).ok_or_else(purchases_off)?;
    let url = client
        .portal(&customer, &format!("{}/billing", state.public_url()))
        .await
        .map_err(|e| processor_down(&e))?;
    Ok(Json(PortalView { url }))
}

/// The job's facts as its plan limits them, from the checked spec and its shot plan.
fn job_facts<'a>(spec: &'a RenderSpec, resolution: &'a str, plan: &'a JobPlan) -> JobFacts<'a> {
    let seconds = if plan.scenes.is_empty() {
        // The studio engine's estimate: the narration at the voice's rate.
        let words = spec.script.split_whitespace().count() as f64;
        words / (f64::from(spec.tts.rate.max(1)) / 60.0)
    } else {
        plan.scenes.iter().map(|s| s.seconds).sum()
    };
    JobFacts {
        resolution,
        seconds,
        provider: &plan.provider,
        active_jobs: 0,
    }
}

/// The caller's plan, and the first of its limits the job breaks.
pub(crate) async fn plan_check(
    state: &AppState,
    owner: &str,
    spec: &ValidSpec,
    plan: &JobPlan,
) -> ApiResult<(Plan, Option<limits::LimitError>)> {
    let row = state.db.user_plan(owner).await?;
    let billing_plan = effective_plan(&state.config.billing, row.as_ref()).clone();
    let mut facts = job_facts(spec, spec.resolution.name(), plan);
    facts.active_jobs = state.db.active_job_count(owner).await?;
    let broken = limits::check(&billing_plan, &facts).err();
    Ok((billing_plan, broken))
}

/// Refuse a job the caller's plan does not allow (`plan.max_resolution`,
/// `plan.max_video_seconds`, `plan.provider_not_allowed`, `plan.concurrent_jobs`), before
/// anything is queued or reserved; returns the plan. The concurrent-jobs count read here gives
/// the early answer; [`active_jobs_cap`] is checked again atomically with the job's insert, so
/// parallel submissions cannot overshoot it.
pub(crate) async fn enforce_plan(
    state: &AppState,
    owner: &str,
    spec: &ValidSpec,
    plan: &JobPlan,
) -> ApiResult<Plan> {
    match plan_check(state, owner, spec, plan).await? {
        (_, Some(e)) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            e.code(),
            e.to_string(),
        )),
        (plan, None) => Ok(plan),
    }
}

/// The plan's concurrent-jobs limit, as the store's submission takes it.
pub(crate) fn active_jobs_cap(plan: &Plan) -> Option<i64> {
    Some(i64::from(plan.limits.concurrent_jobs))
}

/// The store's atomic refusal, in the words of the plan check.
pub(crate) fn limit_reached(plan: &Plan, err: reelsmith_store::StoreError) -> ApiError {
    match err {
        reelsmith_store::StoreError::ActiveJobLimit { .. } => {
            let e = limits::LimitError {
                plan: plan.id.clone(),
                plan_name: plan.name.clone(),
                limit: "concurrent_jobs",
                allowed: format!(
                    "{} job(s) queued or running at once",
                    plan.limits.concurrent_jobs
                ),
                asked: "one more".into(),
            };
            ApiError::new(StatusCode::FORBIDDEN, e.code(), e.to_string())
        }
        other => other.into(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorCredits {
    /// The user's email or id.
    pub user: String,
    /// Positive number of credits.
    pub amount: i64,
    /// `grant` (a gift) or `refund` (credits given back, e.g. for a bad result).
    pub kind: String,
    /// Why; kept in the ledger note and the audit log.
    pub reason: String,
}

#[utoipa::path(post, path = "/api/v1/admin/credits", tag = "billing",
    request_body = OperatorCredits,
    params(("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key changes nothing")),
    responses((status = 201, body = Object), (status = 200, body = Object, description = "an earlier request with this key"),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn operator_credits(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    headers: HeaderMap,
    ApiJson(body): ApiJson<OperatorCredits>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let admin = state.db.user_by_id(caller.id()).await?;
    if !admin.is_some_and(|u| u.role == Role::Admin) {
        return Err(ApiError::of(
            Code::AdminRequired,
            "only an administrator may grant or refund credits",
        ));
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty() && k.len() <= 200)
        .map(str::to_owned);
    let outcome = grant_by_operator(
        &state.db,
        &body,
        caller.id(),
        key.as_deref(),
        client.audit("credits.operator", None, None),
    )
    .await?;
    let status = if outcome["created"] == json!(true) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(outcome)))
}

/// Grant or refund credits as the operator `by` (a user id, or `cli`), audit-logged with who and
/// why. Shared by the admin API and `reelsmith credits`.
pub async fn grant_by_operator(
    db: &reelsmith_store::Db,
    body: &OperatorCredits,
    by: &str,
    key: Option<&str>,
    mut audit: reelsmith_store::NewAuditEntry,
) -> ApiResult<Value> {
    let kind = match body.kind.as_str() {
        "grant" => CreditKind::Grant,
        "refund" => CreditKind::Refund,
        _ => {
            return Err(ApiError::of(
                Code::CreditsInvalidKind,
                "kind must be `grant` or `refund`",
            ))
        }
    };
    if body.amount <= 0 || body.amount > 100_000_000 {
        return Err(ApiError::of(
            Code::CreditsInvalidAmount,
            "amount must be a positive number of credits",
        ));
    }
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::of(
            Code::CreditsReasonRequired,
            "say why, in 1 to 500 characters",
        ));
    }
    let user = match db.user_by_id(&body.user).await? {
        Some(u) => Some(u),
        None => db.user_by_email(&body.user).await?,
    }
    .filter(|u| !u.is_deleted())
    .ok_or_else(|| ApiError::of(Code::UserNotFound, "no such user (by email or id)"))?;
    let key = format!(
        "operator:{}",
        key.map_or_else(new_id, |k| format!("{by}:{k}"))
    );
    let now = now_ms();
    let created = db
        .add_credits_once(
            &CreditOnce {
                user_id: user.id.clone(),
                kind,
                amount: body.amount,
                note: format!("by the operator: {reason}"),
                key,
            },
            now,
        )
        .await?;
    if created {
        audit.kind = format!("credits.{}", body.kind);
        audit.user_id = Some(user.id.clone());
        audit.detail = Some(json!({ "by": by, "amount": body.amount, "reason": reason }));
        db.audit(&audit, now).await?;
    }
    Ok(json!({
        "created": created,
        "user_id": user.id,
        "balance": db.credit_balance(&user.id).await?,
    }))
}
