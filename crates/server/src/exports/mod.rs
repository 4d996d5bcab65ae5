//! `/api/v1/me/exports`: the account export (P-RIGHTS-1). One request starts building a ZIP of
//! everything held about the caller (see [`archive`]); the list shows its state; once ready it
//! downloads from a link that works for `retention.export_hours`, then answers 410. Requesting
//! and downloading are audited (P-SEC-6). Another user's export answers 404 like a missing one.

pub mod archive;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Json;
use reelsmith_store::{Export, ExportStatus};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ClientInfo, CurrentUser};
use crate::range::serve_object;
use crate::time::{date, opt_rfc3339, rfc3339};
use crate::AppState;
use reelsmith_core::Code;

/// One export as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct ExportView {
    pub id: String,
    /// `building`, `ready` or `failed`.
    pub status: &'static str,
    pub created_at: String,
    pub ready_at: Option<String>,
    /// When the download link stops working; `null` until ready.
    pub expires_at: Option<String>,
    /// Whether the link has expired (the archive is then deleted by the next retention sweep).
    pub expired: bool,
    /// The archive's size in bytes, once ready.
    pub size: Option<i64>,
    /// Why the build failed, a stable code (`failed` only).
    pub error: Option<String>,
    /// Where to download the ZIP: present while ready and not expired.
    pub download_url: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ExportList {
    /// Newest first.
    pub items: Vec<ExportView>,
}

impl ExportView {
    fn new(export: &Export, now: i64) -> ExportView {
        let downloadable = export.downloadable(now);
        ExportView {
            id: export.id.clone(),
            status: export.status.as_str(),
            created_at: rfc3339(export.created_at),
            ready_at: opt_rfc3339(export.ready_at),
            expires_at: opt_rfc3339(export.expires_at),
            expired: export.status == ExportStatus::Ready && !downloadable,
            size: export.size,
            error: export.error_code.clone(),
            download_url: downloadable
                .then(|| format!("/api/v1/me/exports/{}/download", export.id)),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/me/exports", tag = "auth",
    responses((status = 202, body = ExportView, description = "the archive is being built; poll `GET /api/v1/me/exports` for its link"),
        (status = 401, body = Problem),
        (status = 409, body = Problem, description = "`export.in_progress`: an export is already being built")))]
pub async fn create(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
) -> ApiResult<(StatusCode, Json<ExportView>)> {
    let now = state.clock.now();
    let export = state.db.create_export(caller.id(), now).await?;
    let detail = json!({ "export_id": export.id });
    client
        .record(
            &state,
            "account.export_requested",
            Some(caller.id()),
            Some(detail),
        )
        .await;
    // Built in the background: an archive of many videos takes longer than a request should.
    tokio::spawn(archive::run(state.clone(), export.clone()));
    Ok((StatusCode::ACCEPTED, Json(ExportView::new(&export, now))))
}

#[utoipa::path(get, path = "/api/v1/me/exports", tag = "auth",
    responses((status = 200, body = ExportList), (status = 401, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: CurrentUser,
) -> ApiResult<Json<ExportList>> {
    let now = state.clock.now();
    let items = state
        .db
        .list_exports(caller.id())
        .await?
        .iter()
        .map(|e| ExportView::new(e, now))
        .collect();
    Ok(Json(ExportList { items }))
}

#[utoipa::path(get, path = "/api/v1/me/exports/{id}/download", tag = "auth", params(("id" = String, Path)),
    responses((status = 200, content_type = "application/zip", description = "the ZIP archive, as an attachment"),
        (status = 404, body = Problem, description = "no such export of the caller's"),
        (status = 409, body = Problem, description = "`export.not_ready` while building, `export.failed` when the build failed"),
        (status = 410, body = Problem, description = "`export.expired`: the link's lifetime has passed; request a new export")))]
pub async fn download(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let Some(export) = state.db.export_for_owner(caller.id(), &id).await? else {
        return Err(client.hidden(&state, caller.id(), "export", &id).await);
    };
    let key = match (&export.status, &export.object_key) {
        (ExportStatus::Building, _) => {
            return Err(ApiError::of(
                Code::ExportNotReady,
                "the archive is still being built",
            ))
        }
        (ExportStatus::Failed, _) | (ExportStatus::Ready, None) => {
            return Err(ApiError::of(
                Code::ExportFailed,
                "the archive could not be built; request a new export",
            ))
        }
        (ExportStatus::Ready, Some(key)) => key.clone(),
    };
    if !export.downloadable(state.clock.now()) {
        return Err(ApiError::of(
            Code::ExportExpired,
            "this export's download link has expired; request a new export",
        ));
    }
    let media = state.media.for_owner(caller.id()).await?;
    let mut response = serve_object(&media, &key, "application/zip", &headers).await?;
    let name = format!(
        "attachment; filename=\"reelsmith-export-{}.zip\"",
        date(export.ready_at.unwrap_or(export.created_at))
    );
    if let Ok(value) = HeaderValue::from_str(&name) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    let detail = json!({ "export_id": export.id });
    client
        .record(
            &state,
            "account.export_downloaded",
            Some(caller.id()),
            Some(detail),
        )
        .await;
    Ok(response)
}
