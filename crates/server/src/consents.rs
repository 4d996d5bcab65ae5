//! `/api/v1/me/consents`: the caller's opt-in per third-party provider (P-TP-2), given under the
//! privacy policy version in force and withdrawable at any time; every change is audited.
//! A withdrawal stops every transfer that has not started yet (the worker asks right before
//! each one).

use axum::extract::{Path, State};
use axum::Json;
use reelsmith_store::{now_ms, Consent};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ClientInfo, CurrentUser};
use crate::providers::{
    assistant_enabled, is_third_party, label, provider_names, ConsentState, ASSISTANT,
};
use crate::time::{opt_rfc3339, rfc3339};
use crate::AppState;

/// One grant, with its withdrawal once withdrawn.
#[derive(Serialize, ToSchema)]
pub struct ConsentRecord {
    pub id: String,
    pub provider: String,
    pub policy_version: String,
    pub granted_at: String,
    pub withdrawn_at: Option<String>,
}

impl From<&Consent> for ConsentRecord {
    fn from(c: &Consent) -> ConsentRecord {
        ConsentRecord {
            id: c.id.clone(),
            provider: c.provider.clone(),
            policy_version: c.policy_version.clone(),
            granted_at: rfc3339(c.granted_at),
            withdrawn_at: opt_rfc3339(c.withdrawn_at),
        }
    }
}

/// The caller's consent for one provider.
#[derive(Serialize, ToSchema)]
pub struct ProviderConsent {
    pub provider: String,
    pub label: &'static str,
    #[serde(flatten)]
    pub consent: ConsentState,
}

#[derive(Serialize, ToSchema)]
pub struct ConsentsView {
    /// The privacy policy version a consent given now is recorded under.
    pub policy_version: String,
    /// Every provider configured on this server, with the caller's current state.
    pub providers: Vec<ProviderConsent>,
    /// Every grant the caller ever gave, newest first, for any provider.
    pub history: Vec<ConsentRecord>,
}

fn provider_consent(provider: &str, history: &[Consent]) -> ProviderConsent {
    ProviderConsent {
        provider: provider.to_owned(),
        label: label(provider),
        consent: ConsentState::of(provider, history),
    }
}

#[utoipa::path(get, path = "/api/v1/me/consents", tag = "consents",
    responses((status = 200, body = ConsentsView), (status = 401, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: CurrentUser,
) -> ApiResult<Json<ConsentsView>> {
    let history = state.db.consents_for_user(caller.id()).await?;
    let providers = provider_names()
        .into_iter()
        .chain([ASSISTANT])
        .chain(crate::stock_search::STOCK_PROVIDERS)
        .filter(|p| consentable(&state.config, p))
        .map(|p| provider_consent(p, &history))
        .collect();
    Ok(Json(ConsentsView {
        policy_version: state.config.privacy.policy_version.clone(),
        providers,
        history: history.iter().map(ConsentRecord::from).collect(),
    }))
}

#[utoipa::path(put, path = "/api/v1/me/consents/{provider}", tag = "consents",
    params(("provider" = String, Path, description = "a configured provider: `fal`, `replicate`, `veo`, `atlas`, `kie` or `comfyui`")),
    responses((status = 200, body = ProviderConsent, description = "consent given under the current policy version"),
        (status = 404, body = Problem, description = "no such provider is configured on this server")))]
pub async fn grant(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(provider): Path<String>,
) -> ApiResult<Json<ProviderConsent>> {
    if !consentable(&state.config, &provider) {
        return Err(ApiError::not_found("provider"));
    }
    let version = &crate::policies::current_privacy_version(&state).await?;
    let consent = state
        .db
        .grant_consent(caller.id(), &provider, version, now_ms())
        .await?;
    let detail =
        json!({ "provider": provider, "policy_version": version, "consent_id": consent.id });
    client
        .record(&state, "consent.granted", Some(caller.id()), Some(detail))
        .await;
    Ok(Json(provider_consent(&provider, &[consent])))
}

#[utoipa::path(delete, path = "/api/v1/me/consents/{provider}", tag = "consents",
    params(("provider" = String, Path)),
    responses((status = 200, body = ProviderConsent, description = "no consent is active for the provider any more (also when there was none)"),
        (status = 404, body = Problem, description = "no such provider")))]
pub async fn withdraw(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(provider): Path<String>,
) -> ApiResult<Json<ProviderConsent>> {
    // A provider the operator has since switched off can still be withdrawn from.
    if !is_third_party(&provider) {
        return Err(ApiError::not_found("provider"));
    }
    let withdrawn = state
        .db
        .withdraw_consent(caller.id(), &provider, now_ms())
        .await?;
    if withdrawn {
        let detail = json!({ "provider": provider });
        client
            .record(&state, "consent.withdrawn", Some(caller.id()), Some(detail))
            .await;
    }
    let history = state.db.consents_for_user(caller.id()).await?;
    Ok(Json(provider_consent(&provider, &history)))
}

/// A provider a user can consent to now: a configured shot provider, or the assistant when one
/// of its uses is switched on.
fn consentable(config: &reelsmith_config::Config, provider: &str) -> bool {
    if provider == ASSISTANT {
        return assistant_enabled(config);
    }
    if crate::stock_search::is_stock_provider(provider) {
        return crate::stock_search::stock_configured(&config.stock, provider);
    }
    is_third_party(provider) && config.providers.is_enabled(provider)
}
