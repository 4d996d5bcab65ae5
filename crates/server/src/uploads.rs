//! `/api/v1/uploads`: images, audio and video a user brings for their videos. The file is
//! streamed into the data folder's own temporary space (never the system's) and refused the
//! moment it passes the size limit or the owner's storage quota; then it is judged by its
//! content, never by its name or declared type: images are decoded within pixel limits, a few
//! at a time, and re-encoded with every metadata block gone before anything is stored (P-IN-3);
//! audio and video are probed, with the demuxer pinned, within duration and frame limits
//! (P-SEC-7). Objects get random names, so storage never reveals a hash of what a user uploaded
//! (P-SEC-2).

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use bytes::Bytes;
use reelsmith_config::Config;
use reelsmith_core::{Code, ErrorCode};
use reelsmith_media::probe::{probe, MediaInfo, ProbeError};
use reelsmith_media::upload::sanitize_image;
use reelsmith_store::{now_ms, upload_object_key, NewUpload, Page, Upload, UploadKind};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use utoipa::ToSchema;

use crate::auth::{throttle, Throttle};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiQuery, ClientInfo, CurrentUser};
use crate::range::serve_object;
use crate::time::rfc3339;
use crate::AppState;

#[derive(Serialize, ToSchema)]
pub struct UploadView {
    pub id: String,
    /// `image`, `audio` or `video`.
    pub kind: String,
    pub mime: String,
    pub size: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
    /// Seconds, for audio and video.
    pub duration: Option<f64>,
    pub created_at: String,
}

impl From<&Upload> for UploadView {
    fn from(u: &Upload) -> UploadView {
        UploadView {
            id: u.id.clone(),
            kind: u.kind.as_str().to_owned(),
            mime: u.mime.clone(),
            size: u.size,
            width: u.width,
            height: u.height,
            duration: u.duration_ms.map(|ms| ms as f64 / 1000.0),
            created_at: rfc3339(u.created_at),
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// At most this many (1 to 100, default 20).
    pub limit: Option<u32>,
    /// Only items older than the one with this id (the last id of the previous page).
    pub before: Option<String>,
}

impl PageQuery {
    pub fn page(&self) -> Page {
        Page {
            limit: self.limit.unwrap_or(20).clamp(1, 100),
            before: self.before.clone(),
        }
    }
}

fn too_large(limit: u64) -> ApiError {
    ApiError::of(
        Code::UploadTooLarge,
        format!("the file is larger than the limit of {limit} bytes"),
    )
}

fn quota_exceeded(quota: u64) -> ApiError {
    ApiError::of(Code::UploadQuotaExceeded,
        format!("this file would take your uploads past your storage quota of {quota} bytes: delete some first"),
    )
}

/// What one upload may still take: the per-file limit and what is left of the owner's quota.
#[derive(Clone, Copy)]
struct Budget {
    file_limit: u64,
    quota: u64,
    quota_left: u64,
}

impl Budget {
    fn check(&self, size: u64) -> ApiResult<()> {
        if size > self.file_limit {
            Err(too_large(self.file_limit))
        } else if size > self.quota_left {
            Err(quota_exceeded(self.quota))
        } else {
            Ok(())
        }
    }
}

/// Where uploads are spooled while they arrive: the data folder's own temporary space, so an
/// upload never lands in a shared system folder, and a crash leaves it where the operator's
/// retention and backups already look.
pub fn spool_dir(config: &Config) -> PathBuf {
    config.worker.temp_dir.join("uploads")
}

fn unsupported() -> ApiError {
    ApiError::of(
        Code::UploadUnsupportedType,
        "the file is not a supported image (JPEG, PNG, WebP, GIF, BMP), audio or video file",
    )
}

fn multipart_error(err: MultipartError, budget: Budget) -> ApiError {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(budget.file_limit)
    } else {
        ApiError::of(Code::UploadMalformed, err.body_text())
    }
}

/// A file spooled to disk while its size is counted. Dropping it removes the file, so every
/// refusal on the way leaves nothing behind.
struct Spooled {
    file: tempfile::NamedTempFile,
    size: u64,
}

async fn spool(mut field: Field<'_>, budget: Budget, dir: &FsPath) -> ApiResult<Spooled> {
    let spool_error = |e: std::io::Error| ApiError::fault(Code::UploadSpool, &e);
    tokio::fs::create_dir_all(dir).await.map_err(spool_error)?;
    let file = tempfile::Builder::new()
        .prefix("upload-")
        .tempfile_in(dir)
        .map_err(spool_error)?;
    let mut out = tokio::fs::File::from_std(file.reopen().map_err(spool_error)?);
    let mut size = 0u64;
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| multipart_error(e, budget))?
    {
        size += chunk.len() as u64;
        // Refused on the chunk that crosses the line: the rest of the body is never read.
        budget.check(size)?;
        out.write_all(&chunk)
            .await
            .map_err(|e| ApiError::fault(Code::UploadSpool, &e))?;
    }
    out.flush()
        .await
        .map_err(|e| ApiError::fault(Code::UploadSpool, &e))?;
    Ok(Spooled { file, size })
}

/// The one file of the form; a second file field is refused rather than silently dropped.
async fn receive_file(
    multipart: &mut Multipart,
    budget: Budget,
    dir: &FsPath,
) -> ApiResult<Spooled> {
    let mut spooled = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e, budget))?
    {
        if field.file_name().is_none() && field.name() != Some("file") {
            continue; // ordinary form fields carry nothing we use
        }
        if spooled.is_some() {
            return Err(ApiError::of(
                Code::UploadTooManyFiles,
                "send exactly one file per upload",
            ));
        }
        spooled = Some(spool(field, budget, dir).await?);
    }
    let spooled =
        spooled.ok_or_else(|| ApiError::of(Code::UploadNoFile, "the form has no file field"))?;
    if spooled.size == 0 {
        return Err(ApiError::of(Code::UploadEmpty, "the file is empty"));
    }
    Ok(spooled)
}

/// Magic numbers of the image formats the engine decodes.
fn looks_like_image(head: &[u8]) -> bool {
    head.starts_with(&[0xFF, 0xD8, 0xFF])
        || head.starts_with(b"\x89PNG\r\n\x1a\n")
        || head.starts_with(b"GIF87a")
        || head.starts_with(b"GIF89a")
        || (head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP")
        || head.starts_with(b"BM")
}

/// Containers we accept for audio and video, as ffprobe names them. ffprobe opens far more
/// (text shown as a "tty" video, image sequences, playlists that reference other files); only
/// real media containers get through.
const MEDIA_CONTAINERS: &[(&str, &str)] = &[
    ("mov", "video/mp4"),
    ("mp4", "video/mp4"),
    ("m4a", "audio/mp4"),
    ("matroska", "video/x-matroska"),
    ("webm", "video/webm"),
    ("avi", "video/x-msvideo"),
    ("mp3", "audio/mpeg"),
    ("wav", "audio/wav"),
    ("ogg", "audio/ogg"),
    ("flac", "audio/flac"),
    ("aac", "audio/aac"),
];

fn container_mime(format_name: &str) -> Option<&'static str> {
    format_name.split(',').find_map(|name| {
        MEDIA_CONTAINERS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, m)| *m)
    })
}

struct Described {
    kind: UploadKind,
    mime: String,
    width: Option<i64>,
    height: Option<i64>,
    duration_ms: Option<i64>,
}

fn describe_media(info: &MediaInfo, limits: &reelsmith_core::Limits) -> ApiResult<Described> {
    let max_seconds = limits.max_media_seconds;
    let mime = container_mime(&info.format_name).ok_or_else(unsupported)?;
    let (kind, mime) = match (info.video(), info.audio()) {
        (Some(_), _) => (UploadKind::Video, mime.replace("audio/", "video/")),
        (None, Some(_)) => (UploadKind::Audio, mime.replace("video/", "audio/")),
        (None, None) => {
            return Err(ApiError::of(
                Code::UploadNoStreams,
                "the file holds no audio or video stream",
            ))
        }
    };
    let duration = info
        .best_duration()
        .filter(|d| d.is_finite() && *d > 0.0)
        .ok_or_else(|| {
            ApiError::of(
                Code::UploadUnknownDuration,
                "the file's duration cannot be read",
            )
        })?;
    if duration > max_seconds {
        return Err(ApiError::of(
            Code::UploadTooLong,
            format!("the file lasts {duration:.1} s, more than the limit of {max_seconds} s"),
        ));
    }
    let video = info.video();
    if let Some(v) = video {
        // The engine refuses a clip over the frame limit; refusing it here means the user
        // learns it now, not from a failed job.
        let frames = v
            .frame_count
            .map(|n| n as f64)
            .or_else(|| v.frame_rate.map(|fps| fps * v.duration.unwrap_or(duration)));
        if let Some(frames) = frames.filter(|f| *f > limits.max_clip_frames as f64) {
            return Err(ApiError::of(
                Code::UploadTooManyFrames,
                format!(
                    "the clip has {frames:.0} frames, more than the limit of {}",
                    limits.max_clip_frames
                ),
            ));
        }
    }
    Ok(Described {
        kind,
        mime,
        width: video.and_then(|v| v.width).map(i64::from),
        height: video.and_then(|v| v.height).map(i64::from),
        duration_ms: Some((duration * 1000.0).round() as i64),
    })
}

async fn store_image(
    state: &AppState,
    caller: &CurrentUser,
    client: &ClientInfo,
    path: &FsPath,
    budget: Budget,
) -> ApiResult<NewUpload> {
    let owner = caller.id();
    // Decoding is where an image costs memory (hundreds of MB for a large one): only a few run
    // at once, and the file is read only once a permit is held.
    let _permit = Arc::clone(&state.decode_permits)
        .acquire_owned()
        .await
        .map_err(|e| ApiError::fault(Code::UploadDecodePermit, &e))?;
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| ApiError::fault(Code::UploadSpool, &e))?;
    let limits = state.config.limits.clone();
    let clean = tokio::task::spawn_blocking(move || sanitize_image(&bytes, &limits)).await??;
    // The re-encoded image is what is stored and counted.
    budget.check(clean.bytes.len() as u64)?;
    crate::moderation::images::screen_image(state, caller, client, &clean.bytes).await?;
    let key = upload_object_key(owner);
    let size = clean.bytes.len() as i64;
    state
        .media
        .for_owner(owner)
        .await?
        .put_bytes(&key, Bytes::from(clean.bytes))
        .await?;
    Ok(NewUpload {
        owner_id: owner.to_owned(),
        kind: UploadKind::Image,
        object_key: key,
        size,
        mime: clean.mime.to_owned(),
        width: Some(i64::from(clean.width)),
        height: Some(i64::from(clean.height)),
        duration_ms: None,
    })
}

async fn store_media(
    state: &AppState,
    caller: &CurrentUser,
    client: &ClientInfo,
    spooled: Spooled,
) -> ApiResult<NewUpload> {
    let owner = caller.id();
    let path = spooled.file.path().to_owned();
    let info = tokio::task::spawn_blocking(move || probe(&path)).await?;
    let info = match info {
        Ok(info) => info,
        Err(ProbeError::Unreadable(_)) => return Err(unsupported()),
        Err(err) => return Err(ApiError::internal(err.code(), &err)),
    };
    let described = describe_media(&info, &state.config.limits)?;
    if described.kind == UploadKind::Video {
        let (file, duration) = (spooled.file.path(), described.duration_ms);
        crate::moderation::images::screen_video(state, caller, client, file, duration).await?;
    }
    let key = upload_object_key(owner);
    state
        .media
        .for_owner(owner)
        .await?
        .put_file(&key, spooled.file.path())
        .await?;
    Ok(NewUpload {
        owner_id: owner.to_owned(),
        kind: described.kind,
        object_key: key,
        size: spooled.size as i64,
        mime: described.mime,
        width: described.width,
        height: described.height,
        duration_ms: described.duration_ms,
    })
}

/// The multipart form `POST /api/v1/uploads` takes: one part named `file`. Only for the
/// OpenAPI document; the handler reads the parts itself.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The file's bytes; its type is sniffed from the content, not taken from the part's header.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

#[utoipa::path(post, path = "/api/v1/uploads", tag = "uploads",
    request_body(content_type = "multipart/form-data", content = UploadForm, description = "one file field"),
    responses((status = 201, body = UploadView), (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<UploadView>)> {
    let mut multipart =
        multipart.map_err(|r| ApiError::of(Code::UploadNotMultipart, r.body_text()))?;
    let file_limit = state.config.limits.max_file_bytes;
    // A declared length past the limit is refused before one byte of the body is read.
    if declared_length(&headers).is_some_and(|n| n > file_limit + crate::MULTIPART_OVERHEAD as u64)
    {
        return Err(too_large(file_limit));
    }
    throttle(&state, Throttle::Upload, caller.id())
        .await
        .map_err(|e| match e.code {
            Code::RateLimited => ApiError {
                code: Code::UploadRateLimited,
                detail: format!("too many uploads; {}", e.detail),
                ..e
            },
            _ => e,
        })?;
    let quota = state.config.uploads.quota_bytes;
    let used = u64::try_from(state.db.upload_bytes_of(caller.id()).await?).unwrap_or(0);
    let budget = Budget {
        file_limit,
        quota,
        quota_left: quota.saturating_sub(used),
    };
    if budget.quota_left == 0 {
        return Err(quota_exceeded(quota));
    }
    let spooled = receive_file(&mut multipart, budget, &spool_dir(&state.config)).await?;
    let mut head = [0u8; 16];
    let head_len = {
        use std::io::Read;
        let mut f = spooled
            .file
            .reopen()
            .map_err(|e| ApiError::fault(Code::UploadSpool, &e))?;
        f.read(&mut head)
            .map_err(|e| ApiError::fault(Code::UploadSpool, &e))?
    };
    let new = if looks_like_image(&head[..head_len]) {
        store_image(&state, &caller, &client, spooled.file.path(), budget).await?
    } else {
        store_media(&state, &caller, &client, spooled).await?
    };
    let upload = state.db.create_upload(&new, now_ms()).await?;
    Ok((StatusCode::CREATED, Json(UploadView::from(&upload))))
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(axum::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

#[utoipa::path(get, path = "/api/v1/uploads", tag = "uploads", params(PageQuery),
    responses((status = 200, body = [UploadView]), (status = 401, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Vec<UploadView>>> {
    let uploads = state.db.list_uploads(caller.id(), &query.page()).await?;
    Ok(Json(uploads.iter().map(UploadView::from).collect()))
}

pub async fn owned_upload(
    state: &AppState,
    caller: &CurrentUser,
    client: &ClientInfo,
    id: &str,
) -> ApiResult<Upload> {
    match state.db.upload_for_owner(caller.id(), id).await? {
        Some(upload) => Ok(upload),
        None => Err(client.hidden(state, caller.id(), "upload", id).await),
    }
}

#[utoipa::path(get, path = "/api/v1/uploads/{id}", tag = "uploads", params(("id" = String, Path)),
    responses((status = 200, body = UploadView), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<Json<UploadView>> {
    let upload = owned_upload(&state, &caller, &client, &id).await?;
    Ok(Json(UploadView::from(&upload)))
}

#[utoipa::path(get, path = "/api/v1/uploads/{id}/content", tag = "uploads", params(("id" = String, Path)),
    responses((status = 200, content_type = "application/octet-stream", description = "the stored, cleaned bytes, with the type sniffed at upload (`image/png`, `image/jpeg`, `audio/wav`, `video/mp4`, …)"), (status = 206, content_type = "application/octet-stream", description = "a byte range"), (status = 404, body = Problem)))]
pub async fn content(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let upload = owned_upload(&state, &caller, &client, &id).await?;
    let media = state.media.for_owner(&upload.owner_id).await?;
    serve_object(&media, &upload.object_key, &upload.mime, &headers).await
}

#[utoipa::path(delete, path = "/api/v1/uploads/{id}", tag = "uploads", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let Some(upload) = state.db.delete_upload(caller.id(), &id).await? else {
        return Err(client.hidden(&state, caller.id(), "upload", &id).await);
    };
    // Content addressing shares one object between identical uploads of the same owner.
    if !state.db.object_key_referenced(&upload.object_key).await? {
        state.media.delete(&upload.object_key).await?;
    }
    let detail = json!({ "upload_id": id });
    client
        .record(&state, "upload.deleted", Some(caller.id()), Some(detail))
        .await;
    Ok(StatusCode::NO_CONTENT)
}
