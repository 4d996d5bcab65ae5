//! Cross-site request forgery protection, modelled on Go's `net/http.CrossOriginProtection`.
//!
//! For every unsafe request (anything but GET, HEAD and OPTIONS) that a browser could have sent
//! on its own, i.e. one without an `Authorization` header:
//! - `Sec-Fetch-Site: same-origin` or `none` (typed by the user) is allowed; any other value
//!   (`same-site`, `cross-site`) is refused;
//! - without `Sec-Fetch-Site`, an `Origin` header must name the same host as `Host`;
//! - a request with neither header did not come from a modern browser (curl, the CLI, scripts)
//!   and is allowed, so API clients with a cookie or a token keep working.
//!
//! A refusal is 403 problem+json with the stable code `csrf.cross_origin`.

use axum::extract::Request;
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The stable code of a refused cross-origin request.
pub const CROSS_ORIGIN: &str = reelsmith_core::Code::CsrfCrossOrigin.as_str();

/// Why a request was judged cross-origin, or `None` when it may go on.
pub fn verdict(method: &Method, headers: &HeaderMap) -> Option<&'static str> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    // A browser never attaches `Authorization` by itself: such a request carries its own proof.
    if headers.contains_key(header::AUTHORIZATION) {
        return None;
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.to_str().unwrap_or("") {
            "same-origin" | "none" => None,
            _ => Some("Sec-Fetch-Site says the request came from another site"),
        };
    }
    // Neither header: not a browser, so not a forgery.
    let origin = headers.get(header::ORIGIN)?.to_str().unwrap_or("");
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !host.is_empty() && origin_host(origin) == Some(host) {
        None
    } else {
        Some("the Origin header names another site")
    }
}

/// `scheme://host[:port]` → `host[:port]`; `None` for `null` and anything malformed.
fn origin_host(origin: &str) -> Option<&str> {
    let (scheme, rest) = origin.split_once("://")?;
    if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.contains('/') {
        return None;
    }
    Some(rest)
}

/// The middleware: refuses cross-origin unsafe requests before any handler runs.
pub async fn protect(request: Request, next: Next) -> Response {
    // An unsubscribe token can only ever unsubscribe, and mail clients send RFC 8058 one-click
    // requests from wherever they run: there is nothing to forge.
    if request.uri().path() == "/unsubscribe" {
        return next.run(request).await;
    }
    if let Some(reason) = verdict(request.method(), request.headers()) {
        tracing::warn!(method = %request.method(), uri = %request.uri().path(), reason, "cross-origin request refused");
        return ApiError::of(
            reelsmith_core::Code::CsrfCrossOrigin,
            format!("{reason}; cross-site requests are refused"),
        )
        .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn safe_methods_always_pass() {
        let h = headers(&[("sec-fetch-site", "cross-site")]);
        for m in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert_eq!(verdict(&m, &h), None);
        }
    }

    #[test]
    fn sec_fetch_site_decides_when_present() {
        for ok in ["same-origin", "none"] {
            let h = headers(&[("sec-fetch-site", ok), ("origin", "https://evil.example")]);
            assert_eq!(verdict(&Method::POST, &h), None, "{ok}");
        }
        for bad in ["cross-site", "same-site", "garbage"] {
            let h = headers(&[("sec-fetch-site", bad), ("host", "a.example")]);
            assert!(verdict(&Method::POST, &h).is_some(), "{bad}");
            assert!(verdict(&Method::DELETE, &h).is_some(), "{bad}");
        }
    }

    #[test]
    fn origin_must_match_host_without_sec_fetch_site() {
        let same = headers(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert_eq!(verdict(&Method::POST, &same), None);
        let other = headers(&[
            ("origin", "http://evil.example"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert!(verdict(&Method::POST, &other).is_some());
        let port = headers(&[
            ("origin", "http://127.0.0.1:9999"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert!(verdict(&Method::PUT, &port).is_some());
        let null = headers(&[("origin", "null"), ("host", "127.0.0.1:8080")]);
        assert!(verdict(&Method::POST, &null).is_some());
    }

    #[test]
    fn no_browser_headers_or_a_token_pass() {
        assert_eq!(verdict(&Method::POST, &HeaderMap::new()), None);
        let bearer = headers(&[
            ("authorization", "Bearer rs_api_x"),
            ("sec-fetch-site", "cross-site"),
        ]);
        assert_eq!(verdict(&Method::POST, &bearer), None);
    }
}
