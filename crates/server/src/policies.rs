//! Policy and terms versions (P-COMM-2). Operators publish versions with `reelsmith policy
//! publish`; this module shows them, records acceptance, and keeps a user whose acceptance of a
//! material change is pending from starting new jobs until they accept it.
//!
//! Until an operator publishes a privacy version, the current one is `privacy.policy_version`
//! from the configuration, which nobody needs to accept (it is what they signed up under).

use axum::extract::State;
use axum::Json;
use reelsmith_store::{now_ms, PolicyAcceptance, PolicyKind, PolicyVersion};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ClientInfo, CurrentUser};
use crate::time::rfc3339;
use crate::AppState;
use reelsmith_core::Code;

/// One version of the privacy policy or the terms.
#[derive(Serialize, ToSchema)]
pub struct PolicyView {
    /// `privacy` or `terms`.
    pub kind: &'static str,
    pub version: String,
    /// What changed.
    pub summary: String,
    /// A material change must be accepted before the next job.
    pub material: bool,
    pub published_at: Option<String>,
    /// Where the document is shown.
    pub url: &'static str,
}

impl From<&PolicyVersion> for PolicyView {
    fn from(v: &PolicyVersion) -> PolicyView {
        PolicyView {
            kind: v.kind.as_str(),
            version: v.version.clone(),
            summary: v.summary.clone(),
            material: v.material,
            published_at: Some(rfc3339(v.published_at)),
            url: url_of(v.kind),
        }
    }
}

fn url_of(kind: PolicyKind) -> &'static str {
    match kind {
        PolicyKind::Privacy => "/privacy",
        PolicyKind::Terms => "/terms",
    }
}

/// The current documents and every version published.
#[derive(Serialize, ToSchema)]
pub struct PoliciesView {
    pub privacy: PolicyView,
    pub terms: Option<PolicyView>,
    pub history: Vec<PolicyView>,
}

#[derive(Serialize, ToSchema)]
pub struct AcceptanceView {
    pub kind: String,
    pub version: String,
    pub accepted_at: String,
}

impl From<&PolicyAcceptance> for AcceptanceView {
    fn from(a: &PolicyAcceptance) -> AcceptanceView {
        AcceptanceView {
            kind: a.kind.clone(),
            version: a.version.clone(),
            accepted_at: rfc3339(a.accepted_at),
        }
    }
}

/// What the caller must still accept, and what they accepted.
#[derive(Serialize, ToSchema)]
pub struct MyPoliciesView {
    /// Versions to accept before the next job; empty when nothing is pending.
    pub pending: Vec<PolicyView>,
    pub accepted: Vec<AcceptanceView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyAcceptanceRequest {
    /// `privacy` or `terms`.
    pub kind: String,
    /// The version being accepted: it must be the current one.
    pub version: String,
}

/// The privacy policy version in force: the newest published one, else the configuration's.
/// Consents record it (P-TP-2).
pub async fn current_privacy_version(state: &AppState) -> ApiResult<String> {
    Ok(match state.db.latest_policy(PolicyKind::Privacy).await? {
        Some(v) => v.version,
        None => state.config.privacy.policy_version.clone(),
    })
}

/// Refuses with 409 `policy.acceptance_required` while a material change waits for the user's
/// acceptance: it does not apply to them until they accept, so nothing new is processed.
pub async fn require_accepted(state: &AppState, user_id: &str) -> ApiResult<()> {
    let pending = state.db.pending_policies(user_id).await?;
    if pending.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = pending
        .iter()
        .map(|p| format!("{} {}", document_name(p.kind), p.version))
        .collect();
    Err(ApiError::of(
        Code::PolicyAcceptanceRequired,
        format!(
            "review and accept the updated {} before starting a new job",
            names.join(" and ")
        ),
    ))
}

fn document_name(kind: PolicyKind) -> &'static str {
    match kind {
        PolicyKind::Privacy => "privacy policy",
        PolicyKind::Terms => "terms",
    }
}

#[utoipa::path(get, path = "/api/v1/policies", tag = "privacy",
    responses((status = 200, body = PoliciesView)))]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<PoliciesView>> {
    let history = state.db.policy_history().await?;
    let latest = |kind| history.iter().find(|v| v.kind == kind);
    let privacy = match latest(PolicyKind::Privacy) {
        Some(v) => PolicyView::from(v),
        None => PolicyView {
            kind: "privacy",
            version: state.config.privacy.policy_version.clone(),
            summary: String::new(),
            material: false,
            published_at: None,
            url: "/privacy",
        },
    };
    Ok(Json(PoliciesView {
        privacy,
        terms: latest(PolicyKind::Terms).map(PolicyView::from),
        history: history.iter().map(PolicyView::from).collect(),
    }))
}

async fn my_policies(state: &AppState, user_id: &str) -> ApiResult<Json<MyPoliciesView>> {
    let pending = state.db.pending_policies(user_id).await?;
    let accepted = state.db.policy_acceptances_of(user_id).await?;
    Ok(Json(MyPoliciesView {
        pending: pending.iter().map(PolicyView::from).collect(),
        accepted: accepted.iter().map(AcceptanceView::from).collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/me/policies", tag = "privacy",
    responses((status = 200, body = MyPoliciesView), (status = 401, body = Problem)))]
pub async fn mine(
    State(state): State<AppState>,
    caller: CurrentUser,
) -> ApiResult<Json<MyPoliciesView>> {
    my_policies(&state, caller.id()).await
}

#[utoipa::path(post, path = "/api/v1/me/policies/accept", tag = "privacy",
    request_body = PolicyAcceptanceRequest,
    responses((status = 200, body = MyPoliciesView), (status = 401, body = Problem),
        (status = 404, body = Problem, description = "`policy.unknown`: no such version"),
        (status = 409, body = Problem, description = "`policy.not_current`: a newer version exists")))]
pub async fn accept(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    ApiJson(req): ApiJson<PolicyAcceptanceRequest>,
) -> ApiResult<Json<MyPoliciesView>> {
    let unknown = || {
        ApiError::of(
            Code::PolicyUnknown,
            format!("no {} version `{}` was published", req.kind, req.version),
        )
    };
    let kind = PolicyKind::parse(&req.kind).ok_or_else(unknown)?;
    let current = state.db.latest_policy(kind).await?.ok_or_else(unknown)?;
    if current.version != req.version {
        if state.db.policy_version(kind, &req.version).await?.is_none() {
            return Err(unknown());
        }
        // Accepting an older text would record agreement to something no longer in force.
        return Err(ApiError::of(
            Code::PolicyNotCurrent,
            format!(
                "version `{}` was replaced by `{}`: review the current one",
                req.version, current.version
            ),
        ));
    }
    state
        .db
        .accept_policy(caller.id(), kind, &current.version, now_ms())
        .await?;
    let detail = json!({ "kind": kind.as_str(), "version": current.version });
    client
        .record(&state, "policy.accepted", Some(caller.id()), Some(detail))
        .await;
    my_policies(&state, caller.id()).await
}
