//! `Strict-Transport-Security` on every response once the service is reached over https
//! (P-SEC-3): browsers then refuse to downgrade to plain http for a year.

use axum::extract::State;
use axum::http::header::STRICT_TRANSPORT_SECURITY;
use axum::http::HeaderValue;
use axum::response::Response;

use crate::AppState;

const ONE_YEAR: &str = "max-age=31536000";

pub async fn add(State(state): State<AppState>, mut response: Response) -> Response {
    if state.secure_cookies() {
        response.headers_mut().insert(
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(ONE_YEAR),
        );
    }
    response
}
