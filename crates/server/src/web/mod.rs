//! The web studio: server-rendered pages (askama templates under `web/templates`, checked at
//! compile time) and a little hand-written JavaScript and CSS (`web/static`, embedded in the
//! binary) that drive the REST API with `fetch` and `EventSource`. See docs/web.md.
//!
//! The pages themselves hold no user data: they are shells that the script fills from the API,
//! so every rule the API enforces (ownership, limits, rate limits) holds for the studio too.
//! Pages for signed-in people redirect to the sign-in page when there is no valid session.

pub mod assets;
pub mod batches_page;
pub mod billing_pages;
pub mod choices;
pub mod csrf;
pub mod headers;
pub mod privacy;
pub mod storyboard_page;
pub mod unsubscribe;

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;
use crate::extract::CurrentUser;
use crate::AppState;
use reelsmith_core::Code;

/// The page routes, merged into the main router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(landing))
        .route("/signup", get(signup))
        .route("/verify", get(verify))
        .route("/signin", get(signin))
        .route("/forgot", get(forgot))
        .route("/reset", get(reset))
        .route("/privacy", get(privacy::privacy))
        .route("/terms", get(privacy::terms))
        .route(
            "/unsubscribe",
            get(unsubscribe::ask).post(unsubscribe::confirm),
        )
        .route("/create", get(create))
        .route("/creations", get(creations))
        .route("/creations/{id}", get(job))
        .route("/storyboards/{id}", get(storyboard_page::storyboard))
        .route("/batches", get(batches_page::batches))
        .route("/batches/{id}", get(batches_page::batch))
        .route("/account", get(account))
        .route("/providers", get(providers))
        .route("/credits", get(credits))
        .route("/uploads", get(uploads))
        .route("/pricing", get(billing_pages::pricing))
        .route("/billing", get(billing_pages::billing))
        .route("/static/{file}", get(assets::serve))
}

/// What every page's frame needs: its title, which navigation entry is current, and who is
/// signed in.
pub struct Chrome {
    pub title: &'static str,
    pub page: &'static str,
    pub user: Option<String>,
}

impl Chrome {
    fn new(
        title: &'static str,
        page: &'static str,
        user: &Result<CurrentUser, ApiError>,
    ) -> Chrome {
        Chrome {
            title,
            page,
            user: user.as_ref().ok().map(|u| u.user.display_name.clone()),
        }
    }

    pub fn current(&self, page: &str) -> &'static str {
        if self.page == page {
            "page"
        } else {
            "false"
        }
    }
}

pub(crate) fn render(t: impl Template) -> Response {
    match t.render() {
        Ok(html) => ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(err) => ApiError::fault(Code::WebRender, &err).into_response(),
    }
}

/// The sign-in page, coming back to `uri` afterwards.
fn to_signin(uri: &Uri) -> Response {
    let next = uri.path();
    Redirect::to(&format!("/signin?next={}", encode_path(next))).into_response()
}

/// Percent-encodes the few characters a path may hold that a query value may not.
pub(crate) fn encode_path(path: &str) -> String {
    path.chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '/' | '-' | '_' | '.' | '~' => c.to_string(),
            other => {
                let mut buf = [0u8; 4];
                other
                    .encode_utf8(&mut buf)
                    .bytes()
                    .map(|b| format!("%{b:02X}"))
                    .collect()
            }
        })
        .collect()
}

pub(crate) type Caller = Result<CurrentUser, ApiError>;

macro_rules! simple_page {
    ($fn:ident, $ty:ident, $file:literal, $title:literal, $page:literal) => {
        #[derive(Template)]
        #[template(path = $file)]
        pub struct $ty {
            pub c: Chrome,
        }

        pub async fn $fn(caller: Caller) -> Response {
            render($ty {
                c: Chrome::new($title, $page, &caller),
            })
        }
    };
}

macro_rules! private_page {
    ($fn:ident, $ty:ident, $file:literal, $title:literal, $page:literal) => {
        #[derive(Template)]
        #[template(path = $file)]
        pub struct $ty {
            pub c: Chrome,
        }

        pub async fn $fn(caller: Caller, uri: Uri) -> Response {
            if caller.is_err() {
                return to_signin(&uri);
            }
            render($ty {
                c: Chrome::new($title, $page, &caller),
            })
        }
    };
}

simple_page!(landing, Landing, "landing.html", "Reelsmith", "home");
simple_page!(
    verify,
    Verify,
    "verify.html",
    "Confirm your email",
    "verify"
);
simple_page!(forgot, Forgot, "forgot.html", "Forgot password", "forgot");
simple_page!(reset, Reset, "reset.html", "Choose a new password", "reset");

#[derive(Template)]
#[template(path = "create.html")]
pub struct Create {
    pub c: Chrome,
    /// The script's word limit, shown before anyone reaches it.
    pub max_words: usize,
    pub settings: choices::SettingsChoices,
}

pub async fn create(State(state): State<AppState>, caller: Caller, uri: Uri) -> Response {
    if caller.is_err() {
        return to_signin(&uri);
    }
    render(Create {
        c: Chrome::new("Create a video", "create", &caller),
        max_words: state.config.limits.max_script_words,
        settings: choices::SettingsChoices::new(),
    })
}
private_page!(
    creations,
    Creations,
    "creations.html",
    "My creations",
    "creations"
);
private_page!(
    providers,
    Providers,
    "providers.html",
    "AI providers",
    "providers"
);
private_page!(credits, Credits, "credits.html", "Credits", "credits");
private_page!(uploads, Uploads, "uploads.html", "My uploads", "uploads");

#[derive(Template)]
#[template(path = "account.html")]
pub struct Account {
    pub c: Chrome,
    /// Days between an account's deletion and its purge, as the page promises (P-RET-4).
    pub purge_days: u32,
}

pub async fn account(State(state): State<AppState>, caller: Caller, uri: Uri) -> Response {
    if caller.is_err() {
        return to_signin(&uri);
    }
    render(Account {
        c: Chrome::new("Account", "account", &caller),
        purge_days: state.config.retention.purge_days,
    })
}

#[derive(Template)]
#[template(path = "signin.html")]
pub struct Signin {
    pub c: Chrome,
    /// Where to go after signing in: a same-origin path, or empty for the default page.
    pub next: String,
}

#[derive(serde::Deserialize)]
pub struct SigninQuery {
    next: Option<String>,
}

/// The sign-in page. `next` is checked here, where it is read, and only a path on this site
/// reaches the page (the script checks it again before following it).
pub async fn signin(caller: Caller, query: Result<Query<SigninQuery>, QueryRejection>) -> Response {
    let next = query
        .ok()
        .and_then(|Query(q)| q.next)
        .and_then(|raw| reelsmith_auth::same_origin_path(&raw))
        .unwrap_or_default();
    render(Signin {
        c: Chrome::new("Sign in", "signin", &caller),
        next,
    })
}

#[derive(Template)]
#[template(path = "signup.html")]
pub struct Signup {
    pub c: Chrome,
    pub minimum_age: u8,
}

pub async fn signup(State(state): State<AppState>, caller: Caller) -> Response {
    render(Signup {
        c: Chrome::new("Sign up", "signup", &caller),
        minimum_age: state.config.accounts.minimum_age,
    })
}

#[derive(Template)]
#[template(path = "job.html")]
pub struct Job {
    pub c: Chrome,
    pub job_id: String,
    pub max_words: usize,
    pub settings: choices::SettingsChoices,
}

pub async fn job(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let Ok(user) = &caller else {
        return to_signin(&uri);
    };
    // A deleted creation's link (from a "ready" email, say) and another person's answer alike:
    // a page that says so, not a shell stuck loading (P-SEC-4 holds: nothing tells them apart).
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let found = valid
        && match state.db.job_for_owner(user.id(), &id).await {
            Ok(job) => job.is_some(),
            Err(err) => return ApiError::from(err).into_response(),
        };
    if !found {
        return not_found_page(
            &caller,
            "This creation does not exist",
            "It may have been deleted, or the link is not quite right.",
        );
    }
    render(Job {
        c: Chrome::new("Creation", "creations", &caller),
        job_id: id,
        max_words: state.config.limits.max_script_words,
        settings: choices::SettingsChoices::new(),
    })
}

#[derive(Template)]
#[template(path = "not_found.html")]
pub struct NotFound {
    pub c: Chrome,
    pub heading: &'static str,
    pub detail: &'static str,
}

fn not_found_page(caller: &Caller, heading: &'static str, detail: &'static str) -> Response {
    let mut response = render(NotFound {
        c: Chrome::new("Not found", "not-found", caller),
        heading,
        detail,
    });
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

/// Any path nothing else answers: an HTML page for a browser navigating there, and the API's
/// problem+json for everything else (API clients, `fetch`, anything under `/api/`).
pub async fn fallback(caller: Caller, uri: Uri, headers: HeaderMap) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html && !uri.path().starts_with("/api/") {
        not_found_page(
            &caller,
            "There is no page here",
            "The address may be mistyped, or the page has moved.",
        )
    } else {
        ApiError::not_found("resource").into_response()
    }
}
