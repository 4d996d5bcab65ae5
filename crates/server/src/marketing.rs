//! Marketing email consent (P-COMM-1, P-RIGHTS-4): off until the person turns it on, and
//! turned off again from the Account page or, signed in or not, from the link in any marketing
//! email (`/unsubscribe`, see `web::unsubscribe`).

use axum::extract::State;
use axum::Json;
use reelsmith_store::now_ms;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Profile;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ClientInfo, CurrentUser};
use crate::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarketingUpdate {
    /// `true` asks for product news by email; `false` stops it.
    pub opt_in: bool,
}

/// A fresh unsubscribe token: 24 random bytes as hex, only ever good for unsubscribing.
pub fn new_unsubscribe_token() -> ApiResult<String> {
    Ok(hex::encode(reelsmith_auth::random::bytes::<24>()?))
}

#[utoipa::path(put, path = "/api/v1/me/marketing", request_body = MarketingUpdate, tag = "privacy",
    responses((status = 200, body = Profile), (status = 401, body = Problem), (status = 422, body = Problem)))]
pub async fn set(
    State(state): State<AppState>,
    caller: CurrentUser,
    client: ClientInfo,
    ApiJson(req): ApiJson<MarketingUpdate>,
) -> ApiResult<Json<Profile>> {
    let token = new_unsubscribe_token()?;
    state
        .db
        .set_marketing_opt_in(caller.id(), req.opt_in, &token, now_ms())
        .await?;
    let kind = if req.opt_in {
        "marketing.opted_in"
    } else {
        "marketing.opted_out"
    };
    client.record(&state, kind, Some(caller.id()), None).await;
    let user = state
        .db
        .user_by_id(caller.id())
        .await?
        .ok_or_else(|| ApiError::not_found("account"))?;
    Ok(Json(Profile::from(&user)))
}
