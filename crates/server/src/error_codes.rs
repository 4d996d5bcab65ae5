//! The error-code catalogue ([`reelsmith_core::Code`]) as the API serves it: `GET /api/v1/errors`
//! for scripts and clients, and `/static/errors.js` for the studio, whose scripts name codes by
//! the catalogue's names instead of copying their strings.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use reelsmith_core::Code;
use serde::Serialize;

/// One code of the catalogue.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorCodeEntry {
    /// The stable string an error's `code` carries, e.g. `auth.required`.
    pub code: &'static str,
    /// The HTTP status the API answers it with.
    pub status: u16,
    /// What it means, for people.
    pub meaning: &'static str,
}

/// Every error code the API answers or a job fails with.
#[utoipa::path(get, path = "/api/v1/errors", tag = "errors",
    responses((status = 200, body = [ErrorCodeEntry], description = "every code, its status and meaning")))]
pub async fn list() -> Json<Vec<ErrorCodeEntry>> {
    Json(
        Code::ALL
            .iter()
            .map(|c| ErrorCodeEntry {
                code: c.as_str(),
                status: c.status(),
                meaning: c.meaning(),
            })
            .collect(),
    )
}

static SCRIPT: LazyLock<String> = LazyLock::new(Code::js_module);

/// `/static/errors.js`: `window.ERROR_CODES`, loaded before the studio's scripts.
pub fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SCRIPT.as_str(),
    )
        .into_response()
}

/// The catalogue's route in the OpenAPI document, merged into [`crate::openapi::ApiDoc`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(list), components(schemas(ErrorCodeEntry)))]
pub struct ErrorCodesDoc;
