//! The studio's batch pages (issue 25): `/batches`, where a CSV or JSON file of scripts becomes
//! one batch with a preset and its whole quote, and `/batches/{id}`, the batch's progress.
//! Shells that `web/static/presets.js` fills from the API, like every private page.

use askama::Template;
use axum::extract::Path;
use axum::http::Uri;
use axum::response::Response;

use super::{render, to_signin, Caller, Chrome};

#[derive(Template)]
#[template(path = "batches.html")]
pub struct BatchesPage {
    pub c: Chrome,
    /// Empty on the upload page; the batch's id on its progress page.
    pub id: String,
}

pub async fn batches(caller: Caller, uri: Uri) -> Response {
    page(caller, uri, String::new())
}

pub async fn batch(caller: Caller, uri: Uri, Path(id): Path<String>) -> Response {
    // Only the id's shape is checked here; whose it is, the API answers (404 for anyone else's).
    let id = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(64)
        .collect();
    page(caller, uri, id)
}

fn page(caller: Caller, uri: Uri, id: String) -> Response {
    if caller.is_err() {
        return to_signin(&uri);
    }
    render(BatchesPage {
        c: Chrome::new("Batches", "batches", &caller),
        id,
    })
}
