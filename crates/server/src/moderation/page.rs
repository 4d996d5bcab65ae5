//! `/moderation`: the moderators' queue page (held jobs, reported works, legal requests),
//! rendered on the server; its buttons call the moderation API (`/static/sharing.js`).
//! Anyone but a moderator or admin gets the not-found page; staff without an enrolled
//! authenticator or a step-up in this session are sent to enrol or to the check first
//! ([`RequireStaff`]).

use askama::Template;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use super::{queue_view, HeldJobView, LegalRequestView, ReportedWorkView};
use crate::error::ApiError;
use crate::staff::{Moderator, RequireStaff};
use crate::web::Chrome;
use crate::AppState;
use reelsmith_core::Code;

#[derive(Template)]
#[template(path = "moderation.html")]
pub struct Moderation {
    pub c: Chrome,
    pub held: Vec<HeldJobView>,
    pub reported: Vec<ReportedWorkView>,
    pub legal: Vec<LegalRequestView>,
}

pub async fn moderation_page(
    State(state): State<AppState>,
    staff: RequireStaff<Moderator>,
) -> Response {
    let result = async {
        let moderator = staff.user;
        let queue = queue_view(&state).await?;
        let legal = state
            .db
            .legal_requests(100)
            .await?
            .into_iter()
            .map(super::legal_view)
            .collect();
        Ok::<_, ApiError>(Moderation {
            c: Chrome {
                title: "Moderation",
                page: "moderation",
                user: Some(moderator.user.display_name.clone()),
            },
            held: queue.held,
            reported: queue.reported,
            legal,
        })
    }
    .await;
    match result {
        Ok(page) => match page.render() {
            Ok(html) => ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
            Err(err) => ApiError::fault(Code::WebRender, &err).into_response(),
        },
        Err(e) => e.into_response(),
    }
}
