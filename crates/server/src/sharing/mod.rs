//! Sharing (issue 19): what an owner does with a finished creation — unlisted share links
//! (P-VIS-3), publishing to the public gallery (P-VIS-2) — and the profile's avatar (P-ACC-5).
//! What anonymous visitors see is in [`public`]; the pages in [`pages`].
//!
//! Every owner route answers a job that is not the caller's exactly like one that does not
//! exist (P-SEC-4).

pub mod pages;
pub mod public;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use data_encoding::BASE64URL_NOPAD;
use reelsmith_store::{now_ms, JobStatus, Publication, ShareLink, ShownDetails};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ClientInfo, CurrentUser};
use crate::jobs::{clean_title, owned_job};
use crate::time::{opt_rfc3339, rfc3339};
use crate::AppState;
use reelsmith_core::Code;

/// Random bytes in a share token: 256 bits, far above the 128 the promise asks.
const SHARE_TOKEN_BYTES: usize = 32;
/// Its length as unpadded base64url.
const SHARE_TOKEN_CHARS: usize = 43;
/// The longest a share link may be asked to live, whatever the operator allows.
const MAX_SHARE_DAYS: u32 = 3650;
const DAY_MS: i64 = 86_400_000;

/// A fresh share token and the hash that is stored.
fn new_share_token() -> ApiResult<(String, String)> {
    let bytes = reelsmith_auth::random::bytes::<SHARE_TOKEN_BYTES>()?;
    let token = BASE64URL_NOPAD.encode(&bytes);
    let hash = share_token_hash(&token);
    Ok((token, hash))
}

fn share_token_hash(token: &str) -> String {
    reelsmith_auth::hash_token(&format!("share:{token}"))
}

/// The stored hash of a presented token, or `None` when it cannot be one of ours: any other
/// shape costs no database lookup and answers like an unknown token.
pub(crate) fn presented_share_hash(token: &str) -> Option<String> {
    (token.len() == SHARE_TOKEN_CHARS
        && BASE64URL_NOPAD
            .decode(token.as_bytes())
            .is_ok_and(|b| b.len() == SHARE_TOKEN_BYTES))
    .then(|| share_token_hash(token))
}

#[derive(Serialize, ToSchema)]
pub struct ShareLinkView {
    pub id: String,
    /// The pinned revision, or null: always the latest finished one.
    pub revision: Option<i64>,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    /// `active`, `expired` or `revoked`.
    pub state: String,
    pub views: i64,
    pub created_at: String,
    /// Only in the answer that created it: the link itself, shown once (only its hash is kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

fn share_view(link: &ShareLink, now: i64) -> ShareLinkView {
    let state = if link.revoked_at.is_some() {
        "revoked"
    } else if link.expires_at.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "active"
    };
    ShareLinkView {
        id: link.id.clone(),
        revision: link.revision,
        expires_at: opt_rfc3339(link.expires_at),
        revoked_at: opt_rfc3339(link.revoked_at),
        state: state.to_owned(),
        views: link.views,
        created_at: rfc3339(link.created_at),
        url: None,
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShareLink {
    /// A revision to pin; omitted or null: always the latest finished revision.
    pub revision: Option<i64>,
    /// Days until the link stops working (1 to 3650); omitted: the operator's longest
    /// (`sharing.share_link_max_days`), or never when that is 0.
    pub expires_in_days: Option<u32>,
}

fn sharing_off() -> ApiError {
    ApiError::of(
        Code::ShareDisabled,
        "share links are turned off on this server",
    )
}

/// A job that is the caller's and has finished at least once; otherwise 404 or 409.
async fn finished_job(
    state: &AppState,
    caller: &CurrentUser,
    client: &ClientInfo,
    id: &str,
) -> ApiResult<reelsmith_store::Job> {
    let job = owned_job(state, caller, client, id).await?;
    let revisions = state.db.list_revisions(caller.id(), id).await?;
    if !revisions.iter().any(|r| r.status == JobStatus::Succeeded) {
        return Err(ApiError::of(
            Code::JobNotFinished,
            "only a finished creation can be shared or published",
        ));
    }
    Ok(job)
}

#[utoipa::path(post, path = "/api/v1/jobs/{id}/shares", tag = "sharing", params(("id" = String, Path)),
    request_body = NewShareLink,
    responses((status = 201, body = ShareLinkView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_share(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewShareLink>,
) -> ApiResult<(StatusCode, Json<ShareLinkView>)> {
    if !state.config.sharing.share_links {
        return Err(sharing_off());
    }
    finished_job(&state, &caller, &client, &id).await?;
    let max_days = state.config.sharing.share_link_max_days;
    let days = match (body.expires_in_days, max_days) {
        (Some(d), _) if d == 0 || d > MAX_SHARE_DAYS => {
            return Err(ApiError::of(
                Code::ShareExpiryInvalid,
                format!("expires_in_days is from 1 to {MAX_SHARE_DAYS}"),
            ))
        }
        (Some(d), m) if m > 0 && d > m => {
            return Err(ApiError::of(
                Code::ShareExpiryTooLong,
                format!("share links on this server live at most {m} days"),
            ))
        }
        (Some(d), _) => Some(d),
        (None, 0) => None,
        (None, m) => Some(m),
    };
    let now = state.clock.now();
    let expires_at = days.map(|d| now + i64::from(d) * DAY_MS);
    let (token, hash) = new_share_token()?;
    let link = state
        .db
        .create_share_link(caller.id(), &id, &hash, body.revision, expires_at, now)
        .await?
        .ok_or_else(|| {
            ApiError::of(
                Code::ShareRevisionNotFinished,
                "that revision does not exist or has not finished",
            )
        })?;
    let detail = json!({ "job_id": id, "share_id": link.id });
    client
        .record(&state, "share.created", Some(caller.id()), Some(detail))
        .await;
    let mut view = share_view(&link, now);
    view.url = Some(format!("{}/s/{token}", state.public_url()));
    Ok((StatusCode::CREATED, Json(view)))
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}/shares", tag = "sharing", params(("id" = String, Path)),
    responses((status = 200, body = [ShareLinkView]), (status = 404, body = Problem)))]
pub async fn list_shares(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ShareLinkView>>> {
    owned_job(&state, &caller, &client, &id).await?;
    let now = state.clock.now();
    let links = state.db.share_links_of(caller.id(), &id).await?;
    Ok(Json(links.iter().map(|l| share_view(l, now)).collect()))
}

#[utoipa::path(delete, path = "/api/v1/jobs/{id}/shares/{share_id}", tag = "sharing",
    params(("id" = String, Path), ("share_id" = String, Path)),
    responses((status = 200, body = ShareLinkView), (status = 404, body = Problem)))]
pub async fn revoke_share(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path((id, share_id)): Path<(String, String)>,
) -> ApiResult<Json<ShareLinkView>> {
    owned_job(&state, &caller, &client, &id).await?;
    let now = state.clock.now();
    let link = state
        .db
        .revoke_share_link(caller.id(), &share_id, now)
        .await?
        .filter(|l| l.job_id == id)
        .ok_or_else(|| ApiError::not_found("share link"))?;
    let detail = json!({ "job_id": id, "share_id": share_id });
    client
        .record(&state, "share.revoked", Some(caller.id()), Some(detail))
        .await;
    Ok(Json(share_view(&link, now)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// The title the gallery shows (1 to 120 characters, plain text).
    pub title: String,
    /// Show the script and prompts.
    #[serde(default)]
    pub show_prompt: bool,
    /// Show the engine (the studio, or the provider).
    #[serde(default)]
    pub show_engine: bool,
    /// Show the model.
    #[serde(default)]
    pub show_model: bool,
    /// Show the video's length.
    #[serde(default)]
    pub show_length: bool,
}

#[derive(Serialize, ToSchema)]
pub struct TakedownView {
    /// Why a moderator took the work out of public view.
    pub reason: String,
    pub at: String,
}

#[derive(Serialize, ToSchema)]
pub struct PublicationView {
    pub published: bool,
    pub revision: Option<i64>,
    pub title: Option<String>,
    pub show_prompt: bool,
    pub show_engine: bool,
    pub show_model: bool,
    pub show_length: bool,
    pub views: i64,
    pub published_at: Option<String>,
    /// The public page, when published and visible.
    pub url: Option<String>,
    /// Set when a moderator took the work down: nothing of it is public, whatever else says.
    pub takedown: Option<TakedownView>,
    /// Set while the automated checks hold the job for a moderator's review.
    pub held_for_review: bool,
}

async fn publication_view(
    state: &AppState,
    owner: &str,
    job_id: &str,
    publication: Option<Publication>,
) -> ApiResult<PublicationView> {
    let takedown = state
        .db
        .takedown_for_owner(owner, job_id)
        .await?
        .map(|t| TakedownView {
            reason: t.reason,
            at: rfc3339(t.created_at),
        });
    let held_for_review = state.db.job_is_held(job_id).await?;
    let p = publication.as_ref();
    Ok(PublicationView {
        published: p.is_some(),
        revision: p.map(|p| p.revision),
        title: p.map(|p| p.title.clone()),
        show_prompt: p.is_some_and(|p| p.shown.prompt),
        show_engine: p.is_some_and(|p| p.shown.engine),
        show_model: p.is_some_and(|p| p.shown.model),
        show_length: p.is_some_and(|p| p.shown.length),
        views: p.map_or(0, |p| p.views),
        published_at: p.map(|p| rfc3339(p.published_at)),
        url: p
            .filter(|_| takedown.is_none())
            .map(|p| format!("{}/discover/{}", state.public_url(), p.job_id)),
        takedown,
        held_for_review,
    })
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}/publication", tag = "sharing", params(("id" = String, Path)),
    responses((status = 200, body = PublicationView), (status = 404, body = Problem)))]
pub async fn get_publication(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<Json<PublicationView>> {
    owned_job(&state, &caller, &client, &id).await?;
    let publication = state.db.publication_for_owner(caller.id(), &id).await?;
    Ok(Json(
        publication_view(&state, caller.id(), &id, publication).await?,
    ))
}

#[utoipa::path(put, path = "/api/v1/jobs/{id}/publication", tag = "sharing", params(("id" = String, Path)),
    request_body = PublishRequest,
    responses((status = 200, body = PublicationView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn publish(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PublishRequest>,
) -> ApiResult<Json<PublicationView>> {
    if !state.config.sharing.gallery {
        return Err(ApiError::of(
            Code::GalleryDisabled,
            "the public gallery is turned off on this server",
        ));
    }
    let job = finished_job(&state, &caller, &client, &id).await?;
    let title = clean_title(&body.title)?.ok_or_else(|| {
        ApiError::of(Code::GalleryTitleRequired, "a published work needs a title")
    })?;
    if state
        .db
        .takedown_for_owner(caller.id(), &id)
        .await?
        .is_some()
    {
        return Err(ApiError::of(
            Code::GalleryTakenDown,
            "a moderator took this work down; it cannot be published again",
        ));
    }
    // The newest finished revision is the one published.
    let revision = state
        .db
        .list_revisions(caller.id(), &id)
        .await?
        .into_iter()
        .filter(|r| r.status == JobStatus::Succeeded)
        .map(|r| r.revision)
        .max()
        .ok_or_else(|| ApiError::not_found("job"))?;
    let rev = state
        .db
        .revision_for_owner(caller.id(), &id, revision)
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    // What becomes public is checked against every rule, the holding ones too (P-SAFE-1).
    crate::moderation::screen_public(&state, &caller, &client, &title, &rev.params).await?;
    let shown = ShownDetails {
        prompt: body.show_prompt,
        engine: body.show_engine,
        model: body.show_model,
        length: body.show_length,
    };
    let now = now_ms();
    if !state
        .db
        .publish_job(caller.id(), &job.id, revision, &title, shown, now)
        .await?
    {
        return Err(ApiError::not_found("job"));
    }
    let detail = json!({ "job_id": id, "revision": revision });
    client
        .record(&state, "gallery.published", Some(caller.id()), Some(detail))
        .await;
    let publication = state.db.publication_for_owner(caller.id(), &id).await?;
    Ok(Json(
        publication_view(&state, caller.id(), &id, publication).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/jobs/{id}/publication", tag = "sharing", params(("id" = String, Path)),
    responses((status = 200, body = PublicationView), (status = 404, body = Problem)))]
pub async fn unpublish(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<Json<PublicationView>> {
    owned_job(&state, &caller, &client, &id).await?;
    if state.db.unpublish_job(caller.id(), &id).await? {
        let detail = json!({ "job_id": id });
        client
            .record(
                &state,
                "gallery.unpublished",
                Some(caller.id()),
                Some(detail),
            )
            .await;
    }
    Ok(Json(
        publication_view(&state, caller.id(), &id, None).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AvatarRequest {
    /// One of the caller's image uploads (already cleaned of metadata and re-encoded like every
    /// upload); null removes the avatar.
    pub upload_id: Option<String>,
}

#[utoipa::path(put, path = "/api/v1/me/avatar", tag = "sharing", request_body = AvatarRequest,
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn set_avatar(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    ApiJson(body): ApiJson<AvatarRequest>,
) -> ApiResult<StatusCode> {
    if !state
        .db
        .set_avatar(caller.id(), body.upload_id.as_deref(), now_ms())
        .await?
    {
        return Err(ApiError::not_found("image upload"));
    }
    let detail = json!({ "removed": body.upload_id.is_none() });
    client
        .record(
            &state,
            "profile.avatar_changed",
            Some(caller.id()),
            Some(detail),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// What the privacy page says about sharing and moderation, from the live settings.
pub struct PrivacySharing {
    pub gallery: bool,
    pub share_links: bool,
    /// 0: links live until revoked.
    pub share_link_max_days: u32,
    pub reports_per_hour: u32,
    /// The automated checks' categories: (name, "refused" or "held for review").
    pub rule_categories: Vec<(String, &'static str)>,
    pub operator_rules: bool,
    /// The image classifier's checked classes, when one is in use (empty: none).
    pub image_categories: Vec<String>,
}

impl PrivacySharing {
    pub fn of(state: &AppState) -> PrivacySharing {
        let s = &state.config.sharing;
        let per_hour = if s.reports.window_seconds == 0 {
            s.reports.count
        } else {
            let hours = s.reports.window_seconds.div_ceil(3600).max(1);
            u32::try_from(u64::from(s.reports.count) / hours).unwrap_or(u32::MAX)
        };
        PrivacySharing {
            gallery: s.gallery,
            share_links: s.share_links,
            share_link_max_days: s.share_link_max_days,
            reports_per_hour: per_hour,
            rule_categories: state
                .rules
                .current()
                .categories()
                .map(|(name, action)| {
                    let what = match action {
                        reelsmith_safety::Action::Refuse => "refused",
                        reelsmith_safety::Action::Hold => "held for review",
                    };
                    (name.replace('_', " "), what)
                })
                .collect(),
            operator_rules: s.moderation_rules_file.is_some(),
            image_categories: match &state.image_check {
                Some(_) => {
                    let c = &s.image_check;
                    let mut labels: Vec<String> = c
                        .refuse
                        .keys()
                        .chain(c.hold.keys())
                        .map(|l| l.replace('_', " "))
                        .collect();
                    labels.sort();
                    labels.dedup();
                    labels
                }
                None => Vec::new(),
            },
        }
    }
}
