//! Time as stored and shown: UTC in the database as fixed-width RFC 3339 text
//! (`2026-11-23T01:52:27.123456Z`), so that text order is time order on SQLite and
//! PostgreSQL alike.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

/// Current time in the one stored form.
pub fn now_db() -> String {
    to_db(Utc::now())
}

pub fn to_db(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn from_db(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Parses a timestamp given by a client or vendor (RFC 3339 with any offset, or a
/// bare date) and returns it in stored form; `None` when it is not a time.
pub fn normalize_input(s: &str) -> Option<String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(to_db(t.with_timezone(&Utc)));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(to_db(d.and_hms_opt(0, 0, 0)?.and_utc()));
    }
    None
}

/// Validates a calendar date (`YYYY-MM-DD`).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_sorts_like_time() {
        let a = normalize_input("2026-01-02T03:04:05+02:00").unwrap();
        let b = normalize_input("2026-01-02T02:04:06Z").unwrap();
        assert_eq!(a, "2026-01-02T01:04:05.000000Z");
        assert!(a < b);
        assert_eq!(a.len(), b.len());
    }

    #[test]
    fn bare_dates_are_midnight_utc_and_junk_is_rejected() {
        assert_eq!(
            normalize_input("2025-12-31").unwrap(),
            "2025-12-31T00:00:00.000000Z"
        );
        assert!(normalize_input("yesterday").is_none());
    }
}
