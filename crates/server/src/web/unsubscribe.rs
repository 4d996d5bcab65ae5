//! `/unsubscribe`: leaving marketing email without signing in (P-RIGHTS-4, P-COMM-1).
//!
//! Every marketing email links to `/unsubscribe?token=…` and names the same address in
//! `List-Unsubscribe`, with `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
//! A GET only asks, because mail scanners follow links; the POST (the page's button, or the mail
//! client's one-click request) unsubscribes. The token can do nothing else, which is why it may
//! work without a session, and why the route is exempt from the cross-origin check.

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Form;
use reelsmith_store::now_ms;
use serde::Deserialize;
use serde_json::json;

use super::{render, Caller, Chrome};
use crate::error::ApiError;
use crate::extract::ClientInfo;
use crate::AppState;

#[derive(Deserialize, Default)]
pub struct TokenParam {
    #[serde(default)]
    pub token: String,
}

#[derive(Template)]
#[template(path = "unsubscribe.html")]
pub struct Unsubscribe {
    pub c: Chrome,
    /// `ask`, `done` or `unknown`.
    pub state: &'static str,
    pub token: String,
}

fn page(caller: &Caller, state: &'static str, token: String) -> Response {
    let status = if state == "unknown" {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    let mut response = render(Unsubscribe {
        c: Chrome::new("Unsubscribe", "unsubscribe", caller),
        state,
        token,
    });
    *response.status_mut() = status;
    response
}

pub async fn ask(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<TokenParam>,
) -> Response {
    match state.db.unsubscribe_token_exists(&q.token).await {
        Ok(true) => page(&caller, "ask", q.token),
        Ok(false) => page(&caller, "unknown", String::new()),
        Err(err) => ApiError::from(err).into_response(),
    }
}

/// The token comes in the query (one-click requests POST to the link itself, with the body
/// `List-Unsubscribe=One-Click`) or in the page's form.
pub async fn confirm(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    Query(q): Query<TokenParam>,
    form: Result<Form<TokenParam>, FormRejection>,
) -> Response {
    let token = if q.token.is_empty() {
        form.map(|Form(f)| f.token).unwrap_or_default()
    } else {
        q.token
    };
    match state.db.unsubscribe_by_token(&token, now_ms()).await {
        Ok(Some(user_id)) => {
            let detail = json!({ "via": "unsubscribe_link" });
            client
                .record(&state, "marketing.opted_out", Some(&user_id), Some(detail))
                .await;
            page(&caller, "done", String::new())
        }
        Ok(None) => page(&caller, "unknown", String::new()),
        Err(err) => ApiError::from(err).into_response(),
    }
}
