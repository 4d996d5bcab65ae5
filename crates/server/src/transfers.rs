//! `GET /api/v1/jobs/{id}/transfers`: the job's transfer log (P-TP-4), every request that carried
//! the owner's data to a third-party provider, with what was sent (described, never the content)
//! and the provider's request id. Another user's job answers 404 like a missing one.
//! `GET /api/v1/me/transfers`: the account's whole transfer log, including transfers that
//! belong to no job (the script writer).

use axum::extract::{Path, State};
use axum::Json;
use reelsmith_store::Transfer;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::{ApiResult, Problem};
use crate::extract::ApiQuery;
use crate::extract::{ClientInfo, CurrentUser};
use crate::jobs::owned_job;
use crate::time::rfc3339;
use crate::uploads::PageQuery;
use crate::AppState;

#[derive(Serialize, ToSchema)]
pub struct TransferView {
    pub id: String,
    /// The job the transfer was for; `null` for one that belongs to no job (a script written
    /// from a topic).
    pub job_id: Option<String>,
    pub revision: i64,
    pub provider: String,
    pub model: String,
    /// `shot`, `transcription`, `script` or `speech` (a cloud voice).
    pub purpose: String,
    /// What went out: field names, lengths, upload ids and byte counts, not the content.
    #[schema(value_type = Object)]
    pub sent: Value,
    /// The provider's id for the request, once it accepted it.
    pub request_id: Option<String>,
    /// `sending` (logged before the request left), `accepted` or `failed`.
    pub status: String,
    /// How an accepted request ended: `delivered`, or the error code it ended with
    /// (`provider.refused`, `provider.failed`, ...); `null` while pending.
    pub outcome: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Transfer> for TransferView {
    fn from(t: &Transfer) -> TransferView {
        TransferView {
            id: t.id.clone(),
            job_id: t.job_id.clone(),
            revision: t.revision,
            provider: t.provider.clone(),
            model: t.model.clone(),
            purpose: t.purpose.clone(),
            sent: t.sent.clone(),
            request_id: t.request_id.clone(),
            status: t.status.clone(),
            outcome: t.outcome.clone(),
            created_at: rfc3339(t.created_at),
            updated_at: rfc3339(t.updated_at),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}/transfers", tag = "jobs", params(("id" = String, Path)),
    responses((status = 200, body = [TransferView], description = "oldest first"), (status = 404, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<TransferView>>> {
    owned_job(&state, &caller, &client, &id).await?;
    let transfers = state.db.transfers_for_job(caller.id(), &id).await?;
    Ok(Json(transfers.iter().map(TransferView::from).collect()))
}

#[utoipa::path(get, path = "/api/v1/me/transfers", tag = "privacy", params(PageQuery),
    responses((status = 200, body = [TransferView], description = "newest first"), (status = 401, body = Problem)))]
pub async fn mine(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Vec<TransferView>>> {
    let transfers = state.db.transfers_page(caller.id(), &query.page()).await?;
    Ok(Json(transfers.iter().map(TransferView::from).collect()))
}
