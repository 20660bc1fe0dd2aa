//! Times on pages: the database holds UTC (`crate::time`), every page shows it in the
//! user's time zone preference (`Preferences::time_zone`, an IANA name), with the zone's
//! abbreviation so a reader never has to guess.
//!
//! ```ignore
//! td { (web::time::local(&ctx, &company.updated_at)) }
//! ```

use super::context::PageCtx;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// The user's zone (UTC when the stored name is unknown, e.g. after a tzdata change).
pub fn zone(ctx: &PageCtx) -> Tz {
    ctx.prefs.time_zone.parse().unwrap_or(Tz::UTC)
}

/// `2026-12-01 14:05 CET` for a stored UTC time; text that is not a time is shown as
/// it is (vendor fields sometimes hold free text).
pub fn in_zone(tz: Tz, utc: &str) -> String {
    match parse(utc) {
        Some(t) => t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string(),
        None => utc.to_string(),
    }
}

/// `in_zone` in the signed-in user's zone.
pub fn local(ctx: &PageCtx, utc: &str) -> String {
    in_zone(zone(ctx), utc)
}

/// Like `local` for optional fields: empty when absent.
pub fn local_opt(ctx: &PageCtx, utc: Option<&str>) -> String {
    utc.map(|t| local(ctx, t)).unwrap_or_default()
}

fn parse(s: &str) -> Option<DateTime<Utc>> {
    crate::time::from_db(s.trim())
}

/// Zones offered in the settings form: the common ones first, then every IANA name.
pub fn choices() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|t| t.name())
        .filter(|n| n.contains('/') || *n == "UTC")
        .filter(|n| !n.starts_with("Etc/") && !n.starts_with("SystemV/"))
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_is_shown_in_the_zone_with_its_abbreviation() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(
            in_zone(berlin, "2026-12-01T13:05:00.000000Z"),
            "2026-12-01 14:05 CET"
        );
        assert_eq!(
            in_zone(berlin, "2026-07-01T13:05:00.000000Z"),
            "2026-07-01 15:05 CEST"
        );
        let ny: Tz = "America/New_York".parse().unwrap();
        assert_eq!(in_zone(ny, "2026-01-01T03:00:00Z"), "2025-12-31 22:00 EST");
        assert_eq!(in_zone(Tz::UTC, "not a time"), "not a time");
        assert!(choices().contains(&"Europe/Berlin"));
        assert!(choices().contains(&"UTC"));
    }
}
