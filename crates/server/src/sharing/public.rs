//! What anyone may see without signing in: the gallery ("Discover", P-VIS-2), public profiles
//! (P-ACC-5) and what a share link opens (P-VIS-3). Only visible works are reachable (see
//! `reelsmith_store::sharing`); anything else, including a token of any shape, answers 404.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use reelsmith_store::{GallerySort, PublicWork, SharedWork};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiQuery;
use crate::jobs::Output;
use crate::range::serve_object;
use crate::time::rfc3339;
use crate::AppState;
use reelsmith_core::Code;

/// Works on one gallery page.
pub const GALLERY_PAGE: u32 = 24;
/// The deepest page anyone can ask for; deep offsets cost the database more and serve nobody.
const MAX_PAGE: u32 = 200;

#[derive(Serialize, ToSchema)]
pub struct PublicWorkView {
    pub id: String,
    pub title: String,
    /// The author's username.
    pub author: String,
    pub author_display_name: String,
    pub views: i64,
    pub published_at: String,
    /// The creation details the owner chose to show; absent ones were not chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length_seconds: Option<f64>,
    pub video_url: String,
    pub poster_url: String,
    pub captions_url: Option<String>,
    pub page_url: String,
}

fn has_output(keys: &[String], output: Output) -> bool {
    let suffix = format!("/{}", output.file_name());
    keys.iter().any(|k| k.ends_with(&suffix))
}

pub(crate) fn public_view(w: &PublicWork) -> PublicWorkView {
    let str_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let engine = w.shown.engine.then(|| {
        str_of(&w.params, "provider")
            .or_else(|| w.usage.as_ref().and_then(|u| str_of(u, "engine")))
            .unwrap_or_else(|| "studio".to_owned())
    });
    let model = w
        .shown
        .model
        .then(|| {
            str_of(&w.params, "model").or_else(|| w.usage.as_ref().and_then(|u| str_of(u, "model")))
        })
        .flatten();
    let length_seconds = w
        .shown
        .length
        .then(|| {
            w.usage
                .as_ref()
                .and_then(|u| u.get("output_seconds"))
                .and_then(Value::as_f64)
        })
        .flatten();
    let base = format!("/api/v1/gallery/{}", w.job_id);
    PublicWorkView {
        id: w.job_id.clone(),
        title: w.title.clone(),
        author: w.username.clone(),
        author_display_name: w.display_name.clone(),
        views: w.views,
        published_at: rfc3339(w.published_at),
        script: w
            .shown
            .prompt
            .then(|| str_of(&w.params, "script"))
            .flatten(),
        prompt: w
            .shown
            .prompt
            .then(|| str_of(&w.params, "prompt"))
            .flatten(),
        engine,
        model,
        length_seconds,
        video_url: format!("{base}/video"),
        poster_url: format!("{base}/poster"),
        captions_url: has_output(&w.output_keys, Output::CaptionsVtt)
            .then(|| format!("{base}/captions.vtt")),
        page_url: format!("/discover/{}", w.job_id),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GalleryQuery {
    /// `newest` (default) or `most_viewed`.
    pub sort: Option<String>,
    /// 1-based page of 24 works (at most 200).
    pub page: Option<u32>,
}

impl GalleryQuery {
    pub(crate) fn sort(&self) -> ApiResult<GallerySort> {
        match self.sort.as_deref() {
            None | Some("newest") => Ok(GallerySort::Newest),
            Some("most_viewed") => Ok(GallerySort::MostViewed),
            Some(_) => Err(ApiError::of(
                Code::GallerySortInvalid,
                "sort is `newest` or `most_viewed`",
            )),
        }
    }

    pub(crate) fn page(&self) -> ApiResult<u32> {
        match self.page.unwrap_or(1) {
            p @ 1..=MAX_PAGE => Ok(p),
            _ => Err(ApiError::of(
                Code::GalleryPageInvalid,
                format!("page is from 1 to {MAX_PAGE}"),
            )),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct GalleryPage {
    pub works: Vec<PublicWorkView>,
    pub page: u32,
    /// Whether a next page may hold more.
    pub more: bool,
}

/// One page of visible works, asking one more than a page to know whether more follow.
pub(crate) async fn gallery_page(
    state: &AppState,
    sort: GallerySort,
    owner: Option<&str>,
    page: u32,
) -> ApiResult<(Vec<PublicWork>, bool)> {
    if !state.config.sharing.gallery {
        return Ok((Vec::new(), false));
    }
    let offset = (page - 1) * GALLERY_PAGE;
    let mut works = match owner {
        None => state.db.gallery(sort, GALLERY_PAGE + 1, offset).await?,
        Some(o) => state.db.works_of(o, GALLERY_PAGE + 1, offset).await?,
    };
    let more = works.len() > GALLERY_PAGE as usize;
    works.truncate(GALLERY_PAGE as usize);
    Ok((works, more))
}

#[utoipa::path(get, path = "/api/v1/gallery", tag = "sharing", params(GalleryQuery), security(()),
    responses((status = 200, body = GalleryPage), (status = 400, body = Problem)))]
pub async fn gallery(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<GalleryQuery>,
) -> ApiResult<Json<GalleryPage>> {
    let page = query.page()?;
    let (works, more) = gallery_page(&state, query.sort()?, None, page).await?;
    Ok(Json(GalleryPage {
        works: works.iter().map(public_view).collect(),
        page,
        more,
    }))
}

/// A visible work, or 404 (the gallery turned off hides every work).
pub(crate) async fn visible_work(state: &AppState, id: &str) -> ApiResult<PublicWork> {
    if !state.config.sharing.gallery || !plausible_id(id) {
        return Err(ApiError::not_found("work"));
    }
    state
        .db
        .public_work(id)
        .await?
        .ok_or_else(|| ApiError::not_found("work"))
}

/// Ids are UUIDs: anything else is answered without a lookup.
pub(crate) fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

#[utoipa::path(get, path = "/api/v1/gallery/{id}", tag = "sharing", params(("id" = String, Path)), security(()),
    responses((status = 200, body = PublicWorkView), (status = 404, body = Problem)))]
pub async fn work(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<PublicWorkView>> {
    let work = visible_work(&state, &id).await?;
    Ok(Json(public_view(&work)))
}

/// Streams one output of a visible revision, sealed under its owner's key, with ranges.
async fn serve_public_output(
    state: &AppState,
    owner_id: &str,
    keys: &[String],
    output: Output,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let suffix = format!("/{}", output.file_name());
    let key = keys
        .iter()
        .find(|k| k.ends_with(&suffix))
        .ok_or_else(|| ApiError::not_found("file"))?;
    let media = state.media.for_owner(owner_id).await?;
    serve_object(&media, key, output_content_type(output), headers).await
}

fn output_content_type(output: Output) -> &'static str {
    match output {
        Output::Video => "video/mp4",
        Output::Poster => "image/jpeg",
        Output::CaptionsVtt => "text/vtt; charset=utf-8",
        Output::CaptionsSrt => "application/x-subrip; charset=utf-8",
    }
}

fn output_named(name: &str) -> Option<Output> {
    match name {
        "video" => Some(Output::Video),
        "poster" => Some(Output::Poster),
        "captions.vtt" => Some(Output::CaptionsVtt),
        _ => None,
    }
}

#[utoipa::path(get, path = "/api/v1/gallery/{id}/{file}", tag = "sharing", security(()),
    params(("id" = String, Path), ("file" = String, Path, description = "`video`, `poster` or `captions.vtt`")),
    responses((status = 200, content_type = "application/octet-stream", description = "the published file: `video` (`video/mp4`), `poster` (`image/jpeg`) or `captions.vtt` (`text/vtt`)"), (status = 206, content_type = "application/octet-stream", description = "a byte range"), (status = 404, body = Problem), (status = 416, body = Problem)))]
pub async fn work_file(
    State(state): State<AppState>,
    Path((id, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    async {
        let output = output_named(&file).ok_or_else(|| ApiError::not_found("file"))?;
        let work = visible_work(&state, &id).await?;
        serve_public_output(&state, &work.owner_id, &work.output_keys, output, &headers).await
    }
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// What a share token opens now, or 404 for every other case (malformed, unknown, revoked,
/// expired, taken down, owner deleted or banned, sharing turned off) alike.
pub(crate) async fn shared(state: &AppState, token: &str) -> ApiResult<SharedWork> {
    let not_found = || ApiError::not_found("share link");
    if !state.config.sharing.share_links {
        return Err(not_found());
    }
    let hash = super::presented_share_hash(token).ok_or_else(not_found)?;
    state
        .db
        .shared_work(&hash, state.clock.now())
        .await?
        .ok_or_else(not_found)
}

pub async fn shared_file(
    State(state): State<AppState>,
    Path((token, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    async {
        let output = output_named(&file).ok_or_else(|| ApiError::not_found("file"))?;
        let work = shared(&state, &token).await?;
        serve_public_output(&state, &work.owner_id, &work.output_keys, output, &headers).await
    }
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

#[derive(Serialize, ToSchema)]
pub struct ProfileView {
    pub username: String,
    pub display_name: String,
    pub avatar_url: Option<String>,
    pub works: Vec<PublicWorkView>,
    pub page: u32,
    pub more: bool,
}

pub(crate) struct PublicProfile {
    pub user: reelsmith_store::User,
    pub has_avatar: bool,
}

pub(crate) async fn public_profile(state: &AppState, username: &str) -> ApiResult<PublicProfile> {
    let not_found = || ApiError::not_found("profile");
    if username.is_empty() || username.len() > 64 {
        return Err(not_found());
    }
    let id = state
        .db
        .public_user_id(username)
        .await?
        .ok_or_else(not_found)?;
    let user = state.db.user_by_id(&id).await?.ok_or_else(not_found)?;
    let has_avatar = state.db.avatar_of(&id).await?.is_some();
    Ok(PublicProfile { user, has_avatar })
}

#[utoipa::path(get, path = "/api/v1/profiles/{username}", tag = "sharing", security(()),
    params(("username" = String, Path), GalleryQuery),
    responses((status = 200, body = ProfileView), (status = 404, body = Problem)))]
pub async fn profile(
    State(state): State<AppState>,
    Path(username): Path<String>,
    ApiQuery(query): ApiQuery<GalleryQuery>,
) -> ApiResult<Json<ProfileView>> {
    let page = query.page()?;
    let p = public_profile(&state, &username).await?;
    let (works, more) = gallery_page(&state, GallerySort::Newest, Some(&p.user.id), page).await?;
    Ok(Json(ProfileView {
        avatar_url: p
            .has_avatar
            .then(|| format!("/api/v1/profiles/{}/avatar", p.user.username)),
        username: p.user.username,
        display_name: p.user.display_name,
        works: works.iter().map(public_view).collect(),
        page,
        more,
    }))
}

#[utoipa::path(get, path = "/api/v1/profiles/{username}/avatar", tag = "sharing", security(()),
    params(("username" = String, Path)),
    responses((status = 200, content_type = "image/jpeg"), (status = 404, body = Problem)))]
pub async fn avatar(
    State(state): State<AppState>,
    Path(username): Path<String>,
    headers: HeaderMap,
) -> Response {
    async {
        let p = public_profile(&state, &username).await?;
        let upload = state
            .db
            .avatar_of(&p.user.id)
            .await?
            .ok_or_else(|| ApiError::not_found("avatar"))?;
        let media = state.media.for_owner(&p.user.id).await?;
        serve_object(&media, &upload.object_key, &upload.mime, &headers).await
    }
    .await
    .unwrap_or_else(IntoResponse::into_response)
}
