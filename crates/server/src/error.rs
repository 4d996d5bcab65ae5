//! Every failure the API reports is an [`ApiError`], answered as RFC 7807 problem+json
//! `{type, title, status, detail, code}`. The `code` is stable and is what clients match on; the
//! detail is for people. Errors of other modules are mapped by their own `ErrorCode`, so a new
//! variant upstream gets a sensible answer without a change here.

use axum::extract::rejection::JsonRejection;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use reelsmith_core::{Code, ErrorCode};
use serde::Serialize;

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    /// A code of the one catalogue: the server cannot answer a code clients do not know.
    pub code: Code,
    pub detail: String,
    /// Seconds to wait, sent as `Retry-After` on 429.
    pub retry_after: Option<u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem kind: `urn:reelsmith:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code, e.g. `auth.invalid_credentials`.
    pub code: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: Code, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// What anyone gets for a resource that is missing or not theirs (P-SEC-4): the two are
    /// indistinguishable.
    pub fn not_found(what: &str) -> ApiError {
        ApiError::of(Code::NotFound, format!("no such {what}"))
    }

    pub fn unauthenticated() -> ApiError {
        ApiError::of(
            Code::AuthRequired,
            "sign in, or send an API token as `Authorization: Bearer`",
        )
    }

    pub fn rate_limited(retry_after_ms: i64) -> ApiError {
        let seconds = (retry_after_ms.max(1) as u64).div_ceil(1000);
        ApiError {
            retry_after: Some(seconds),
            ..ApiError::of(
                Code::RateLimited,
                format!("too many attempts; try again in {seconds} s"),
            )
        }
    }

    pub fn internal(code: Code, err: &dyn std::fmt::Display) -> ApiError {
        // The detail of a server fault may name paths or hosts: log it, do not send it.
        tracing::error!(code = code.as_str(), error = %err, "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code,
            "the server could not complete the request",
        )
    }

    /// Maps any module error by its own code: client faults become `client_status`, the rest 500.
    pub fn from_code<E>(err: &E, client_status: StatusCode) -> ApiError
    where
        E: ErrorCode + std::fmt::Display,
    {
        if err.is_client_error() {
            ApiError::new(client_status, err.code(), err.to_string())
        } else {
            ApiError::internal(err.code(), err)
        }
    }

    /// The catalogue's answer for `code`: its status and stable string, with `detail` for people.
    pub fn of(code: Code, detail: impl Into<String>) -> ApiError {
        let status =
            StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ApiError::new(status, code, detail)
    }

    /// A server fault named by the catalogue: the cause is logged, not sent.
    pub fn fault(code: Code, err: &dyn std::fmt::Display) -> ApiError {
        ApiError::internal(code, err)
    }

    /// The same code with another status, where one code answers two situations (an unknown
    /// voice is 422 in a job, 404 as the addressed resource).
    pub fn with_status(self, status: StatusCode) -> ApiError {
        ApiError { status, ..self }
    }

    fn title(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("Error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: format!("urn:reelsmith:problem:{}", self.code),
            title: self.title().to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.as_str().to_owned(),
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (self.status, json).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl From<reelsmith_store::StoreError> for ApiError {
    fn from(err: reelsmith_store::StoreError) -> ApiError {
        use reelsmith_store::StoreError as E;
        match err {
            E::EmailTaken
            | E::UsernameTaken
            | E::JobBusy
            | E::RevisionIsCurrent
            | E::ExportInProgress => {
                ApiError::new(StatusCode::CONFLICT, err.code(), err.to_string())
            }
            E::InsufficientCredits { .. } => {
                ApiError::new(StatusCode::PAYMENT_REQUIRED, err.code(), err.to_string())
            }
            other if other.is_unavailable() => crate::readiness::database_unavailable(&other),
            other => ApiError::from_code(&other, StatusCode::BAD_REQUEST),
        }
    }
}

impl From<reelsmith_jobs::JobPlanError> for ApiError {
    fn from(err: reelsmith_jobs::JobPlanError) -> ApiError {
        ApiError::from_code(&err, StatusCode::UNPROCESSABLE_ENTITY)
    }
}

impl From<reelsmith_store::ObjectError> for ApiError {
    fn from(err: reelsmith_store::ObjectError) -> ApiError {
        use reelsmith_store::ObjectError as E;
        match err {
            E::NotFound(_) => ApiError::not_found("object"),
            E::RangeNotSatisfiable { .. } => ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                err.code(),
                err.to_string(),
            ),
            other => ApiError::internal(other.code(), &other),
        }
    }
}

impl From<reelsmith_media::image_input::ImageError> for ApiError {
    fn from(err: reelsmith_media::image_input::ImageError) -> ApiError {
        use reelsmith_media::image_input::ImageError as E;
        let status = match err {
            E::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            E::UnsupportedFormat => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::from_code(&err, status)
    }
}

impl From<reelsmith_core::SpecError> for ApiError {
    fn from(err: reelsmith_core::SpecError) -> ApiError {
        ApiError::from_code(&err, StatusCode::UNPROCESSABLE_ENTITY)
    }
}

impl From<reelsmith_auth::PasswordError> for ApiError {
    fn from(err: reelsmith_auth::PasswordError) -> ApiError {
        ApiError::from_code(&err, StatusCode::UNPROCESSABLE_ENTITY)
    }
}

impl From<reelsmith_auth::IdentityError> for ApiError {
    fn from(err: reelsmith_auth::IdentityError) -> ApiError {
        ApiError::from_code(&err, StatusCode::UNPROCESSABLE_ENTITY)
    }
}

impl From<reelsmith_auth::AgeError> for ApiError {
    fn from(err: reelsmith_auth::AgeError) -> ApiError {
        ApiError::from_code(&err, StatusCode::UNPROCESSABLE_ENTITY)
    }
}

impl From<reelsmith_auth::RandomError> for ApiError {
    fn from(err: reelsmith_auth::RandomError) -> ApiError {
        ApiError::fault(Code::AuthRandomFailed, &err)
    }
}

impl From<reelsmith_mail::MailError> for ApiError {
    fn from(err: reelsmith_mail::MailError) -> ApiError {
        ApiError::from_code(&err, StatusCode::UNPROCESSABLE_ENTITY)
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(err: tokio::task::JoinError) -> ApiError {
        ApiError::fault(Code::ServerTaskFailed, &err)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        let code = match &rejection {
            JsonRejection::MissingJsonContentType(_) => Code::RequestNotJson,
            JsonRejection::JsonDataError(_) => Code::RequestInvalidFields,
            JsonRejection::BytesRejection(_) => Code::RequestTooLarge,
            _ => Code::RequestInvalidJson,
        };
        ApiError::of(code, rejection.body_text())
    }
}
