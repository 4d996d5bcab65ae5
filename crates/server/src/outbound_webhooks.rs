//! `/api/v1/tokens/{id}/webhooks`: outbound webhook endpoints, registered per API token
//! (issue 23). An endpoint hears `job.succeeded` and `job.failed` (and `job.progress` when
//! asked) about the jobs its token submits; the signing secret is shown once, at creation, and
//! stored sealed under the owner's data key. The delivery log shows every event and its last
//! attempt. Sending is the workers' job (`reelsmith_worker::webhooks`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use reelsmith_core::Code;
use reelsmith_jobs::webhooks::{check_url, new_secret, secret_context};
use reelsmith_store::{new_id, now_ms, WebhookDelivery, WebhookEndpoint};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ClientInfo, Credential, CurrentUser};
use crate::time::{opt_rfc3339, rfc3339};
use crate::AppState;

/// The longest endpoint address accepted.
const MAX_URL_CHARS: usize = 2000;
/// Deliveries one log page shows, newest first.
const LOG_LIMIT: i64 = 100;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Where events are POSTed: `https://…` on a public address.
    pub url: String,
    /// Also send `job.progress` events (several per job).
    #[serde(default)]
    pub progress_events: bool,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub token_id: String,
    pub url: String,
    /// The event types this endpoint receives.
    pub events: Vec<String>,
    pub progress_events: bool,
    pub created_at: String,
    /// Set when deliveries kept failing; a disabled endpoint receives nothing more.
    pub disabled_at: Option<String>,
    pub disabled_reason: Option<String>,
}

impl From<&WebhookEndpoint> for WebhookView {
    fn from(e: &WebhookEndpoint) -> WebhookView {
        let mut events = vec!["job.succeeded".to_owned(), "job.failed".to_owned()];
        if e.progress_events {
            events.push("job.progress".to_owned());
        }
        WebhookView {
            id: e.id.clone(),
            token_id: e.token_id.clone(),
            url: e.url.clone(),
            events,
            progress_events: e.progress_events,
            created_at: rfc3339(e.created_at),
            disabled_at: opt_rfc3339(e.disabled_at),
            disabled_reason: e.disabled_reason.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub info: WebhookView,
    /// The signing secret (`whsec_…`), shown this once: verify each delivery's
    /// `webhook-signature` with it (Standard Webhooks).
    pub secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    /// Also the `webhook-id` header, the same on every attempt.
    pub id: String,
    pub job_id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub created_at: String,
    pub last_attempt_at: Option<String>,
    /// The receiver's HTTP status at the last attempt, if it answered.
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    /// When a pending delivery is tried next.
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    /// The event as sent.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl From<&WebhookDelivery> for DeliveryView {
    fn from(d: &WebhookDelivery) -> DeliveryView {
        DeliveryView {
            id: d.id.clone(),
            job_id: d.job_id.clone(),
            event_type: d.event_type.clone(),
            status: d.status.clone(),
            attempts: d.attempts,
            created_at: rfc3339(d.created_at),
            last_attempt_at: opt_rfc3339(d.last_attempt_at),
            last_status: d.last_status,
            last_error: d.last_error.clone(),
            next_attempt_at: (d.status == "pending").then(|| rfc3339(d.next_attempt_at)),
            delivered_at: opt_rfc3339(d.delivered_at),
            payload: serde_json::from_str(&d.payload).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// Called by job submission: a job submitted with an API token is that token's, for webhooks.
pub(crate) async fn remember_token(
    state: &AppState,
    caller: &CurrentUser,
    job_id: &str,
) -> ApiResult<()> {
    if let Credential::ApiToken { id } = &caller.credential {
        state.db.record_job_token(job_id, id, now_ms()).await?;
    }
    Ok(())
}

/// The caller's live token `token_id`. An API token manages only its own endpoints; a signed-in
/// person manages those of any of their tokens.
async fn own_token(
    state: &AppState,
    caller: &CurrentUser,
    client: &ClientInfo,
    token_id: &str,
) -> ApiResult<()> {
    let allowed = match &caller.credential {
        Credential::ApiToken { id } if id != token_id => false,
        _ => state
            .db
            .list_api_tokens(caller.id())
            .await?
            .iter()
            .any(|t| t.id == token_id && t.revoked_at.is_none()),
    };
    if allowed {
        return Ok(());
    }
    let detail = json!({ "for": "webhook", "token_id": token_id });
    client
        .record(state, "access.denied", Some(caller.id()), Some(detail))
        .await;
    Err(ApiError::not_found("token"))
}

#[utoipa::path(post, path = "/api/v1/tokens/{id}/webhooks", tag = "webhooks",
    params(("id" = String, Path, description = "the API token whose jobs the endpoint hears about")),
    request_body = CreateWebhookRequest,
    responses((status = 201, body = CreatedWebhook), (status = 401, body = Problem),
        (status = 404, body = Problem, description = "`not_found`: no such live token of yours"),
        (status = 409, body = Problem, description = "`webhook.too_many`: the token has its maximum of endpoints"),
        (status = 422, body = Problem, description = "`webhook.invalid_url`")))]
pub async fn create(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(token_id): Path<String>,
    ApiJson(req): ApiJson<CreateWebhookRequest>,
) -> ApiResult<(StatusCode, Json<CreatedWebhook>)> {
    own_token(&state, &caller, &client, &token_id).await?;
    if req.url.chars().count() > MAX_URL_CHARS {
        return Err(invalid_url(format!(
            "the address is longer than {MAX_URL_CHARS} characters"
        )));
    }
    let url = check_url(&req.url, state.config.webhooks.allow_insecure)
        .map_err(|e| invalid_url(e.to_string()))?;
    let existing = state
        .db
        .list_webhook_endpoints(caller.id(), &token_id)
        .await?;
    let max = state.config.webhooks.max_endpoints_per_token as usize;
    if existing.iter().filter(|e| e.disabled_at.is_none()).count() >= max {
        return Err(ApiError::of(
            Code::WebhookTooMany,
            format!("a token has at most {max} live webhook endpoints; delete one first"),
        ));
    }
    let secret = new_secret().map_err(|e| ApiError::fault(Code::WebhookRandom, &e))?;
    let id = new_id();
    let now = now_ms();
    let key = state
        .media
        .keys()
        .data_key(caller.id(), now)
        .await
        .map_err(|e| ApiError::fault(Code::WebhookKey, &e))?;
    let sealed = key.seal_value(&secret_context(&id), secret.as_bytes());
    let endpoint = reelsmith_store::WebhookEndpoint {
        id: id.clone(),
        user_id: caller.id().to_owned(),
        token_id: token_id.clone(),
        url: url.as_str().to_owned(),
        progress_events: req.progress_events,
        created_at: now,
        disabled_at: None,
        disabled_reason: None,
    };
    state.db.create_webhook_endpoint(&endpoint, &sealed).await?;
    let detail = json!({ "webhook_id": id, "token_id": token_id });
    client
        .record(&state, "webhook.created", Some(caller.id()), Some(detail))
        .await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhook {
            info: WebhookView::from(&endpoint),
            secret,
        }),
    ))
}

fn invalid_url(detail: String) -> ApiError {
    ApiError::of(Code::WebhookInvalidUrl, detail)
}

#[utoipa::path(get, path = "/api/v1/tokens/{id}/webhooks", tag = "webhooks",
    params(("id" = String, Path)),
    responses((status = 200, body = [WebhookView]), (status = 401, body = Problem),
        (status = 404, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(token_id): Path<String>,
) -> ApiResult<Json<Vec<WebhookView>>> {
    own_token(&state, &caller, &client, &token_id).await?;
    let endpoints = state
        .db
        .list_webhook_endpoints(caller.id(), &token_id)
        .await?;
    Ok(Json(endpoints.iter().map(WebhookView::from).collect()))
}

/// The owner's endpoint `webhook_id` on their token `token_id`.
async fn own_endpoint(
    state: &AppState,
    caller: &CurrentUser,
    client: &ClientInfo,
    token_id: &str,
    webhook_id: &str,
) -> ApiResult<WebhookEndpoint> {
    own_token(state, caller, client, token_id).await?;
    match state
        .db
        .webhook_endpoint_for_owner(caller.id(), webhook_id)
        .await?
    {
        Some(e) if e.token_id == token_id => Ok(e),
        _ => Err(ApiError::not_found("webhook")),
    }
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}/webhooks/{webhook_id}", tag = "webhooks",
    params(("id" = String, Path), ("webhook_id" = String, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path((token_id, webhook_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    own_endpoint(&state, &caller, &client, &token_id, &webhook_id).await?;
    state
        .db
        .delete_webhook_endpoint(caller.id(), &webhook_id)
        .await?;
    let detail = json!({ "webhook_id": webhook_id });
    client
        .record(&state, "webhook.deleted", Some(caller.id()), Some(detail))
        .await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/tokens/{id}/webhooks/{webhook_id}/deliveries", tag = "webhooks",
    params(("id" = String, Path), ("webhook_id" = String, Path)),
    responses((status = 200, body = [DeliveryView], description = "the newest 100, newest first"),
        (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn deliveries(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path((token_id, webhook_id)): Path<(String, String)>,
) -> ApiResult<Json<Vec<DeliveryView>>> {
    own_endpoint(&state, &caller, &client, &token_id, &webhook_id).await?;
    let log = state
        .db
        .list_webhook_deliveries(&webhook_id, LOG_LIMIT)
        .await?;
    Ok(Json(log.iter().map(DeliveryView::from).collect()))
}
