//! `/api/v1/sessions`: the caller's signed-in sessions, the current one marked, each revocable.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use reelsmith_store::now_ms;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ClientInfo, CurrentUser};
use crate::time::rfc3339;
use crate::AppState;
use reelsmith_core::Code;

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    pub created_at: String,
    pub last_seen_at: String,
    pub expires_at: String,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// True for the session this request was made with.
    pub current: bool,
}

#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions",
    responses((status = 200, body = [SessionView]), (status = 401, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: CurrentUser,
) -> ApiResult<Json<Vec<SessionView>>> {
    let sessions = state.db.list_sessions(caller.id(), now_ms()).await?;
    let current = caller.session_id();
    Ok(Json(
        sessions
            .into_iter()
            .map(|s| SessionView {
                current: current == Some(s.id.as_str()),
                id: s.id,
                created_at: rfc3339(s.created_at),
                last_seen_at: rfc3339(s.last_seen_at),
                expires_at: rfc3339(s.expires_at),
                user_agent: s.user_agent,
                ip: s.ip,
            })
            .collect(),
    ))
}

#[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "sessions", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if !state.db.revoke_session(caller.id(), &id).await? {
        return Err(client.hidden(&state, caller.id(), "session", &id).await);
    }
    let detail = json!({ "session_id": id });
    client
        .record(&state, "session.revoked", Some(caller.id()), Some(detail))
        .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct RevokedSessions {
    /// How many sessions ended.
    pub revoked: u64,
}

#[utoipa::path(post, path = "/api/v1/sessions/revoke-others", tag = "sessions",
    responses((status = 200, body = RevokedSessions, description = "every session but this one has ended"),
        (status = 409, body = Problem, description = "`session.required`: an API token has no session of its own to keep")))]
pub async fn revoke_others(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
) -> ApiResult<Json<RevokedSessions>> {
    // With a token there is no "this session" to keep; ending every one would surprise.
    let Some(current) = caller.session_id() else {
        return Err(ApiError::of(
            Code::SessionRequired,
            "sign out everywhere else needs a signed-in session, not an API token",
        ));
    };
    let revoked = state.db.revoke_other_sessions(caller.id(), current).await?;
    let detail = json!({ "sessions": revoked });
    client
        .record(
            &state,
            "session.revoked_others",
            Some(caller.id()),
            Some(detail),
        )
        .await;
    Ok(Json(RevokedSessions { revoked }))
}
