//! Timestamps in API answers are RFC 3339 UTC strings; the store keeps Unix milliseconds.
//! [`Clock`] is the server's notion of "now" for what expires (export links), so tests can move
//! time forward instead of waiting.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// The wall clock plus an offset that only tests change. Clones share the offset, so advancing
/// the clock of a test's `AppState` moves the router's clock too.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// Unix milliseconds now.
    pub fn now(&self) -> i64 {
        reelsmith_store::now_ms() + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Move this clock (and every clone of it) forward by `ms` (tests).
    pub fn advance(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

/// `2024-05-01` for Unix milliseconds (UTC), for file names.
pub fn date(ms: i64) -> String {
    rfc3339(ms)[..10].to_owned()
}

use reelsmith_core::calendar::days_from_civil;
pub use reelsmith_core::calendar::rfc3339;

pub fn opt_rfc3339(ms: Option<i64>) -> Option<String> {
    ms.map(rfc3339)
}

/// Unix milliseconds for `YYYY-MM-DD` (midnight UTC) or `YYYY-MM-DDTHH:MM[:SS]Z`, as
/// operators type dates on the command line; `None` for anything else.
pub fn parse_utc(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, time) = match text.split_once('T') {
        Some((d, t)) => (d, Some(t.strip_suffix('Z')?)),
        None => (text, None),
    };
    let mut parts = date.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    let seconds = match time {
        None => 0,
        Some(t) => {
            let fields: Vec<&str> = t.split(':').collect();
            if !(2..=3).contains(&fields.len()) {
                return None;
            }
            let h: i64 = fields[0].parse().ok()?;
            let min: i64 = fields[1].parse().ok()?;
            let sec: i64 = fields.get(2).map_or(Some(0), |s| s.parse().ok())?;
            if h > 23 || min > 59 || sec > 59 || h < 0 || min < 0 || sec < 0 {
                return None;
            }
            h * 3600 + min * 60 + sec
        }
    };
    Some((days_from_civil(y, m, d) * 86_400 + seconds) * 1000)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_dates_parse_back_to_the_same_instant() {
        for ms in [0, 951_782_400_000, 1_709_251_199_000, 1_795_000_000_000] {
            let text = rfc3339(ms);
            let without_millis = format!("{}Z", &text[..19]);
            assert_eq!(parse_utc(&without_millis), Some(ms));
        }
        assert_eq!(parse_utc("2000-02-29"), Some(951_782_400_000));
        assert_eq!(parse_utc("2001-02-29"), None);
        assert_eq!(parse_utc("2024-13-01"), None);
        assert_eq!(parse_utc("2024-01-01T24:00Z"), None);
        assert_eq!(parse_utc("yesterday"), None);
    }

    #[test]
    fn known_instants_format_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339(1_709_251_199_000), "2024-02-29T23:59:59.000Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }
}
