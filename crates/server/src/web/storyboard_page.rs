//! The studio's storyboard page (issue 25): a shell that `web/static/storyboard.js` fills from
//! `GET /api/v1/jobs/{id}/storyboard` and edits through the API like every other private page,
//! so the API's rules (ownership, If-Match, limits) hold for it too.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::Response;

use super::{render, to_signin, Caller, Chrome};
use crate::AppState;

#[derive(Template)]
#[template(path = "storyboard.html")]
pub struct StoryboardPage {
    pub c: Chrome,
    pub id: String,
}

pub async fn storyboard(
    State(_state): State<AppState>,
    caller: Caller,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    if caller.is_err() {
        return to_signin(&uri);
    }
    // Only the id's shape is checked here; whose it is, the API answers (404 for anyone else's).
    let id: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(64)
        .collect();
    render(StoryboardPage {
        c: Chrome::new("Storyboard", "storyboard", &caller),
        id,
    })
}
