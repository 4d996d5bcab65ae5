//! `POST /api/v1/preview/frame` (issue 25): one still frame of a look (caption style, colour
//! style, title background) drawn by the render's own code, for the studio's live preview, so
//! what the user sees is what the render burns in. Nothing is stored or charged.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use reelsmith_core::RenderSpec;
use reelsmith_media::preview::{preview_image, PreviewFormat};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{throttle, Throttle};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, CurrentUser};
use crate::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FrameRequest {
    /// The settings to preview, as a job's spec; its `script` is the sample text the captions
    /// show (at most 500 characters), read at an even 0.35 s a word.
    pub spec: RenderSpec,
    /// Seconds into the sample (0 to 60; default 1).
    #[serde(default = "default_time")]
    pub time: f64,
    #[serde(default)]
    pub format: ImageFormat,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    #[default]
    Png,
    Jpeg,
}

fn default_time() -> f64 {
    1.0
}

#[utoipa::path(post, path = "/api/v1/preview/frame", tag = "jobs", request_body = FrameRequest,
    responses(
        (status = 200, description = "the frame", content_type = "image/png"),
        (status = 401, body = Problem, description = "`auth.required`"),
        (status = 422, body = Problem, description = "a spec that does not validate, `captions.font_missing`, `preview.invalid_time` or `preview.text_too_long`"),
        (status = 429, body = Problem, description = "`rate_limited`: more frames than `rate_limits.preview` allows")))]
pub async fn frame(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiJson(body): ApiJson<FrameRequest>,
) -> ApiResult<Response> {
    throttle(&state, Throttle::Preview, caller.id()).await?;
    let limits = state.config.limits.clone();
    let format = match body.format {
        ImageFormat::Png => PreviewFormat::Png,
        ImageFormat::Jpeg => PreviewFormat::Jpeg,
    };
    // A frame is tens of milliseconds of drawing: off the async workers.
    let bytes =
        tokio::task::spawn_blocking(move || preview_image(&body.spec, body.time, format, &limits))
            .await?
            .map_err(|e| ApiError::from_code(&e, StatusCode::UNPROCESSABLE_ENTITY))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        bytes,
    )
        .into_response())
}

/// The fonts a caption style may name.
#[derive(Debug, Serialize, ToSchema)]
pub struct FontList {
    /// Installed font names, sorted; the embedded default (DejaVu Sans Bold) is used when a
    /// style names none.
    pub fonts: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/fonts", tag = "jobs",
    responses(
        (status = 200, body = FontList, description = "the fonts installed on this server"),
        (status = 401, body = Problem, description = "`auth.required`")))]
pub async fn fonts(_caller: CurrentUser) -> ApiResult<axum::Json<FontList>> {
    // A walk of the font folders: a few milliseconds, off the async workers.
    let fonts = tokio::task::spawn_blocking(|| {
        reelsmith_media::text::font::installed_fonts(&reelsmith_media::text::font::font_dirs())
    })
    .await?;
    Ok(axum::Json(FontList { fonts }))
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(frame, fonts), components(schemas(FontList)))]
pub struct PreviewApi;
