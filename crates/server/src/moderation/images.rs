//! The image classifier at the upload door (P-SAFE-1, `[sharing.image_check]`): an image, or
//! the middle frame of a video, that the classifier refuses is not stored, with
//! `moderation.image_refused` and a record of the categories. A borderline upload is stored:
//! the job that uses it is held for review by the worker's own check, before any provider is
//! called (crates/worker/src/image_check.rs).

use std::path::{Path, PathBuf};

use reelsmith_core::Code;
use reelsmith_media::image_input::{decode_image, load_image, StillImage};
use reelsmith_safety::Verdict;

use super::record_refusal;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ClientInfo, CurrentUser};
use crate::AppState;

/// What the classifier refuses, as the uploader is told.
fn refused(categories: &[String]) -> ApiError {
    ApiError::of(
        Code::ModerationImageRefused,
        format!(
            "this file breaks this server's content rules ({}); it was not stored",
            categories.join(", ")
        ),
    )
}

/// An image upload's cleaned bytes (the re-encoded image that would be stored).
pub(crate) async fn screen_image(
    state: &AppState,
    caller: &CurrentUser,
    client: &ClientInfo,
    clean: &[u8],
) -> ApiResult<()> {
    if state.image_check.is_none() {
        return Ok(());
    }
    let (bytes, limits) = (clean.to_vec(), state.config.limits.clone());
    let still = tokio::task::spawn_blocking(move || decode_image(&bytes, &limits))
        .await?
        .map_err(|e| ApiError::fault(Code::ModerationImageCheckFailed, &e))?;
    screen(state, caller, client, still).await
}

/// An audio or video upload: its middle frame, when it has pictures.
pub(crate) async fn screen_video(
    state: &AppState,
    caller: &CurrentUser,
    client: &ClientInfo,
    file: &Path,
    duration_ms: Option<i64>,
) -> ApiResult<()> {
    if state.image_check.is_none() {
        return Ok(());
    }
    let frame = tempfile::Builder::new()
        .suffix(".jpg")
        .tempfile_in(crate::uploads::spool_dir(&state.config))
        .map_err(|e| ApiError::fault(Code::ModerationImageCheckFailed, &e))?;
    let (video, out, limits): (PathBuf, PathBuf, _) = (
        file.to_path_buf(),
        frame.path().to_path_buf(),
        state.config.limits.clone(),
    );
    let middle = duration_ms.unwrap_or(0) as f64 / 2000.0;
    let still = tokio::task::spawn_blocking(move || {
        reelsmith_media::encode::write_poster(&video, middle, &out)
            .map_err(|e| e.to_string())
            .and_then(|()| load_image(&out, &limits).map_err(|e| e.to_string()))
    })
    .await?
    .map_err(|e| ApiError::fault(Code::ModerationImageCheckFailed, &e))?;
    screen(state, caller, client, still).await
}

async fn screen(
    state: &AppState,
    caller: &CurrentUser,
    client: &ClientInfo,
    still: StillImage,
) -> ApiResult<()> {
    let Some(classifier) = state.image_check.clone() else {
        return Ok(());
    };
    let verdict = tokio::task::spawn_blocking(move || {
        classifier.check(still.width, still.height, &still.rgb)
    })
    .await?
    .map_err(|e| ApiError::fault(Code::ModerationImageCheckFailed, &e))?;
    if let Verdict::Refuse { categories } = verdict {
        record_refusal(state, caller, client, "upload", &categories).await;
        return Err(refused(&categories));
    }
    Ok(())
}
