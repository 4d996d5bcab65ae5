//! Serving stored objects with HTTP Range support (RFC 9110 §14): one range per request, which
//! is what video players ask for. A syntactically invalid Range header is ignored (the whole
//! object is sent, as the RFC allows); a valid one that misses the object is 416.

use std::ops::Range;

use axum::body::Body;
use axum::http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use reelsmith_store::{ObjectError, OwnerMedia};

use crate::error::{ApiError, ApiResult};
use reelsmith_core::Code;

/// A parsed single `bytes=` range, before the object size is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=a-b` (b inclusive) or `bytes=a-` (b = None).
    From {
        start: u64,
        end_inclusive: Option<u64>,
    },
    /// `bytes=-n`: the last n bytes.
    Suffix(u64),
}

/// `None` for a header that is absent, malformed, or asks for several ranges.
pub fn parse_range(value: &str) -> Option<ByteRange> {
    let spec = value.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let (start, end) = (start.trim(), end.trim());
    if start.is_empty() {
        return end.parse().ok().map(ByteRange::Suffix);
    }
    let start: u64 = start.parse().ok()?;
    let end_inclusive = if end.is_empty() {
        None
    } else {
        let end: u64 = end.parse().ok()?;
        if end < start {
            return None;
        }
        Some(end)
    };
    Some(ByteRange::From {
        start,
        end_inclusive,
    })
}

/// The byte span a range selects in an object of `size` bytes, or `None` when unsatisfiable.
pub fn resolve(range: ByteRange, size: u64) -> Option<Range<u64>> {
    match range {
        ByteRange::From { start, .. } if start >= size => None,
        ByteRange::From {
            start,
            end_inclusive,
        } => {
            let end = end_inclusive.map_or(size, |e| e.saturating_add(1).min(size));
            Some(start..end)
        }
        ByteRange::Suffix(0) => None,
        ByteRange::Suffix(n) => Some(size.saturating_sub(n)..size),
    }
}

fn unsatisfiable(size: u64) -> Response {
    let mut response = ApiError::of(
        Code::MediaRangeNotSatisfiable,
        format!("the requested range lies outside the {size} bytes of the object"),
    )
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
        response.headers_mut().insert(CONTENT_RANGE, value);
    }
    response
}

/// Streams `key` from storage as `content_type`, honouring a Range header in `request_headers`.
pub async fn serve_object(
    media: &OwnerMedia,
    key: &str,
    content_type: &str,
    request_headers: &HeaderMap,
) -> ApiResult<Response> {
    let info = media
        .head(key)
        .await?
        .ok_or_else(|| ApiError::not_found("object"))?;
    let requested = request_headers
        .get(RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_range);
    let span = match requested {
        None => None,
        Some(range) => match resolve(range, info.size) {
            Some(span) => Some(span),
            None => return Ok(unsatisfiable(info.size)),
        },
    };
    let reader = match media.open(key, span.clone()).await {
        Ok(reader) => reader,
        // The object changed size between the two calls.
        Err(ObjectError::RangeNotSatisfiable { size, .. }) => return Ok(unsatisfiable(size)),
        Err(err) => return Err(err.into()),
    };
    let status = if span.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let length = reader.range.end - reader.range.start;
    let mut response = (status, Body::from_stream(reader.stream)).into_response();
    let headers = response.headers_mut();
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    if let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert(CONTENT_TYPE, value);
    }
    if span.is_some() {
        let value = format!(
            "bytes {}-{}/{}",
            reader.range.start,
            reader.range.end.saturating_sub(1),
            reader.size
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(CONTENT_RANGE, value);
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_resolve_like_rfc_9110() {
        let r = |s| parse_range(s).and_then(|r| resolve(r, 1000));
        assert_eq!(r("bytes=0-99"), Some(0..100));
        assert_eq!(r("bytes=500-"), Some(500..1000));
        assert_eq!(r("bytes=-100"), Some(900..1000));
        assert_eq!(r("bytes=-5000"), Some(0..1000));
        assert_eq!(r("bytes=990-5000"), Some(990..1000));
        assert_eq!(r("bytes=1000-"), None);
        assert_eq!(r("bytes=-0"), None);
        assert_eq!(parse_range("bytes=5-1"), None);
        assert_eq!(parse_range("items=0-1"), None);
        assert_eq!(parse_range("bytes=0-1,5-6"), None);
        assert_eq!(parse_range("bytes=x-"), None);
        assert_eq!(parse_range("bytes=-"), None);
    }
}
