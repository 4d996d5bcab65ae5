//! The public pages: a share link's player (`/s/{token}`), the gallery (`/discover`), a public
//! work (`/discover/{id}`) and a profile (`/u/{username}`). Unlike the studio's shells they are
//! rendered on the server with their content, so a link pasted into a chat gets its Open Graph
//! and Twitter card preview (title, poster, video) without running any script.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use reelsmith_store::GallerySort;

use super::public::{
    gallery_page, public_profile, public_view, shared, visible_work, GalleryQuery, PublicWorkView,
};
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::jobs::Output;
use crate::web::{Caller, Chrome};
use crate::AppState;
use reelsmith_core::Code;

fn chrome(title: &'static str, page: &'static str, caller: &Caller) -> Chrome {
    Chrome {
        title,
        page,
        user: caller.as_ref().ok().map(|u| u.user.display_name.clone()),
    }
}

fn render(t: impl Template, cache: &'static str) -> Response {
    match t.render() {
        Ok(html) => ([(header::CACHE_CONTROL, cache)], Html(html)).into_response(),
        Err(err) => ApiError::fault(Code::WebRender, &err).into_response(),
    }
}

#[derive(Template)]
#[template(path = "public_missing.html")]
pub struct Missing {
    pub c: Chrome,
    pub heading: &'static str,
}

/// The one answer for every link that does not open: unknown, revoked, expired or taken down
/// look the same (P-VIS-3).
fn missing(caller: &Caller, heading: &'static str) -> Response {
    let mut r = render(
        Missing {
            c: chrome("Not found", "not-found", caller),
            heading,
        },
        "no-store",
    );
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

/// What the preview tags of a page say.
pub struct Preview {
    pub title: String,
    pub url: String,
    pub poster: String,
    pub video: String,
}

#[derive(Template)]
#[template(path = "shared.html")]
pub struct Shared {
    pub c: Chrome,
    pub og: Preview,
    pub token: String,
    pub has_captions: bool,
}

pub async fn shared_page(
    State(state): State<AppState>,
    caller: Caller,
    Path(token): Path<String>,
) -> Response {
    let work = match shared(&state, &token).await {
        Ok(w) => w,
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            return missing(&caller, "This link does not open anything")
        }
        Err(e) => return e.into_response(),
    };
    if let Err(err) = state.db.count_share_view(&work.link_id).await {
        tracing::warn!(error = %err, "cannot count a share link view");
    }
    let title = work.title.clone().unwrap_or_else(|| {
        crate::jobs::job_title(&reelsmith_store::Job {
            params: work.params.clone(),
            title: None,
            ..placeholder_job()
        })
    });
    let base = state.public_url();
    let has_captions = work
        .output_keys
        .iter()
        .any(|k| k.ends_with(&format!("/{}", Output::CaptionsVtt.file_name())));
    render(
        Shared {
            c: chrome("Shared video", "shared", &caller),
            og: Preview {
                title,
                url: format!("{base}/s/{token}"),
                poster: format!("{base}/s/{token}/poster"),
                video: format!("{base}/s/{token}/video"),
            },
            token,
            has_captions,
        },
        // The page changes when the link is revoked: never kept by a shared cache.
        "no-store",
    )
}

/// A job with only what `job_title` reads filled in.
fn placeholder_job() -> reelsmith_store::Job {
    reelsmith_store::Job {
        id: String::new(),
        owner_id: String::new(),
        status: reelsmith_store::JobStatus::Succeeded,
        stage: None,
        progress: 1.0,
        params: serde_json::Value::Null,
        error: None,
        usage: None,
        idempotency_key: None,
        current_revision: 1,
        attempts: 0,
        next_attempt_at: 0,
        lease_owner: None,
        lease_expires_at: None,
        created_at: 0,
        updated_at: 0,
        title: None,
        plan: None,
    }
}

#[derive(Template)]
#[template(path = "discover.html")]
pub struct Discover {
    pub c: Chrome,
    pub works: Vec<PublicWorkView>,
    pub most_viewed: bool,
    pub page: u32,
    pub more: bool,
    pub enabled: bool,
}

impl Discover {
    fn sort_param(&self) -> &'static str {
        if self.most_viewed {
            "most_viewed"
        } else {
            "newest"
        }
    }

    pub fn prev_href(&self) -> String {
        format!(
            "/discover?sort={}&page={}",
            self.sort_param(),
            self.page - 1
        )
    }

    pub fn next_href(&self) -> String {
        format!(
            "/discover?sort={}&page={}",
            self.sort_param(),
            self.page + 1
        )
    }
}

pub async fn discover(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<ApiQuery<GalleryQuery>, ApiError>,
) -> Response {
    let result = async {
        let ApiQuery(query) = query?;
        let sort = query.sort()?;
        let page = query.page()?;
        let (works, more) = gallery_page(&state, sort, None, page).await?;
        Ok::<_, ApiError>(Discover {
            c: chrome("Discover", "discover", &caller),
            works: works.iter().map(public_view).collect(),
            most_viewed: sort == GallerySort::MostViewed,
            page,
            more,
            enabled: state.config.sharing.gallery,
        })
    }
    .await;
    match result {
        Ok(page) => render(page, "no-store"),
        Err(e) => e.into_response(),
    }
}

#[derive(Template)]
#[template(path = "work.html")]
pub struct Work {
    pub c: Chrome,
    pub og: Preview,
    pub w: PublicWorkView,
}

pub async fn work_page(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    let work = match visible_work(&state, &id).await {
        Ok(w) => w,
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            return missing(&caller, "This work is not public")
        }
        Err(e) => return e.into_response(),
    };
    if let Err(err) = state.db.count_public_view(&work.job_id).await {
        tracing::warn!(error = %err, "cannot count a public view");
    }
    let w = public_view(&work);
    let base = state.public_url();
    render(
        Work {
            c: chrome("Discover", "discover", &caller),
            og: Preview {
                title: w.title.clone(),
                url: format!("{base}{}", w.page_url),
                poster: format!("{base}{}", w.poster_url),
                video: format!("{base}{}", w.video_url),
            },
            w,
        },
        "no-store",
    )
}

#[derive(Template)]
#[template(path = "profile.html")]
pub struct Profile {
    pub c: Chrome,
    pub username: String,
    pub display_name: String,
    pub avatar_url: Option<String>,
    pub works: Vec<PublicWorkView>,
    pub page: u32,
    pub more: bool,
}

pub async fn profile_page(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
    query: Result<ApiQuery<GalleryQuery>, ApiError>,
) -> Response {
    let result = async {
        let ApiQuery(query) = query?;
        let page = query.page()?;
        let p = public_profile(&state, &username).await?;
        let (works, more) =
            gallery_page(&state, GallerySort::Newest, Some(&p.user.id), page).await?;
        Ok::<_, ApiError>(Profile {
            c: chrome("Profile", "profile", &caller),
            avatar_url: p
                .has_avatar
                .then(|| format!("/api/v1/profiles/{}/avatar", p.user.username)),
            username: p.user.username,
            display_name: p.user.display_name,
            works: works.iter().map(public_view).collect(),
            page,
            more,
        })
    }
    .await;
    match result {
        Ok(page) => render(page, "no-store"),
        Err(e) if e.status == StatusCode::NOT_FOUND => missing(&caller, "There is no such profile"),
        Err(e) => e.into_response(),
    }
}
