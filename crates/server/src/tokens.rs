//! `/api/v1/tokens`: API tokens for programs (P-ACC-6). The secret is shown once, at creation;
//! only its hash is stored, and lists show a short prefix to tell tokens apart.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use reelsmith_auth::{generate_token, TokenKind};
use reelsmith_store::{now_ms, ApiToken};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ClientInfo, CurrentUser};
use crate::time::{opt_rfc3339, rfc3339};
use crate::AppState;
use reelsmith_core::Code;

const MAX_NAME_CHARS: usize = 100;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl From<&ApiToken> for TokenView {
    fn from(t: &ApiToken) -> TokenView {
        TokenView {
            id: t.id.clone(),
            name: t.name.clone(),
            prefix: t.prefix.clone(),
            created_at: rfc3339(t.created_at),
            last_used_at: opt_rfc3339(t.last_used_at),
            revoked_at: opt_rfc3339(t.revoked_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub info: TokenView,
    /// The secret, shown this once: send it as `Authorization: Bearer <token>`.
    pub token: String,
}

#[utoipa::path(post, path = "/api/v1/tokens", request_body = CreateTokenRequest, tag = "tokens",
    responses((status = 201, body = CreatedToken), (status = 401, body = Problem),
        (status = 403, body = Problem, description = "`token.session_required`: called with an API token"),
        (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    ApiJson(req): ApiJson<CreateTokenRequest>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    // A leaked token must not be able to make itself permanent by minting successors that
    // survive its revocation: only a signed-in person creates tokens.
    if caller.session_id().is_none() {
        let detail = json!({ "for": "token.create" });
        client
            .record(&state, "access.denied", Some(caller.id()), Some(detail))
            .await;
        return Err(ApiError::of(
            Code::TokenSessionRequired,
            "API tokens are created by a signed-in person, not with another API token",
        ));
    }
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::of(
            Code::TokenInvalidName,
            format!("a token needs a name of 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    let secret = generate_token(TokenKind::Api)?;
    let token = state
        .db
        .create_api_token(
            caller.id(),
            name,
            &secret.hash,
            &secret.display_prefix,
            now_ms(),
        )
        .await?;
    let detail = json!({ "token_id": token.id });
    client
        .record(&state, "token.created", Some(caller.id()), Some(detail))
        .await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            info: TokenView::from(&token),
            token: secret.secret,
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, body = [TokenView]), (status = 401, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: CurrentUser,
) -> ApiResult<Json<Vec<TokenView>>> {
    let tokens = state.db.list_api_tokens(caller.id()).await?;
    Ok(Json(tokens.iter().map(TokenView::from).collect()))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if !state
        .db
        .revoke_api_token(caller.id(), &id, now_ms())
        .await?
    {
        return Err(client.hidden(&state, caller.id(), "token", &id).await);
    }
    let detail = json!({ "token_id": id });
    client
        .record(&state, "token.revoked", Some(caller.id()), Some(detail))
        .await;
    Ok(StatusCode::NO_CONTENT)
}
