//! The studio's static files, embedded in the binary so `reelsmith serve` needs no files at run
//! time.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

const FILES: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../../../web/static/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../web/static/app.js"),
    ),
    (
        "admin.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../web/static/admin.js"),
    ),
    (
        "sharing.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../web/static/sharing.js"),
    ),
    (
        "look.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../web/static/look.js"),
    ),
    (
        "billing.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../web/static/billing.js"),
    ),
    (
        "storyboard.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../web/static/storyboard.js"),
    ),
    (
        "presets.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../web/static/presets.js"),
    ),
    (
        "credits.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../web/static/credits.js"),
    ),
    (
        "oidc.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../web/static/oidc.js"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_str!("../../../../web/static/icon.svg"),
    ),
];

pub async fn serve(Path(file): Path<String>) -> Response {
    if file == "errors.js" {
        return crate::error_codes::script();
    }
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, mime, body)) => (
            [
                (header::CONTENT_TYPE, *mime),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => ApiError::not_found("file").into_response(),
    }
}
