//! Field checks shared by every write path. Each returns the cleaned value or a
//! message meant for a person filling in a form.

use std::net::IpAddr;
use std::sync::LazyLock;

static EMAIL: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$").unwrap()
});
static DOMAIN: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$").unwrap()
});
static ACCOUNT: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,49}$").unwrap());
static PHONE: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"^[0-9+()./ x-]{3,50}$").unwrap());

/// Lower-cased, trimmed e-mail address.
pub fn email(s: &str) -> Result<String, String> {
    let s = s.trim().to_lowercase();
    if s.len() > 254 || !EMAIL.is_match(&s) {
        return Err("must be a valid e-mail address".into());
    }
    Ok(s)
}

/// Account numbers: 1-50 letters, digits, `-` or `_` (the PSA's six digits fit).
pub fn account_number(s: &str) -> Result<String, String> {
    let s = s.trim();
    if !ACCOUNT.is_match(s) {
        return Err("must be 1-50 letters, digits, '-' or '_'".into());
    }
    Ok(s.to_string())
}

pub fn domain(s: &str) -> Result<String, String> {
    let s = s.trim().to_lowercase();
    if s.len() > 253 || !DOMAIN.is_match(&s) {
        return Err(format!("'{s}' is not a domain name"));
    }
    Ok(s)
}

pub fn ip(s: &str) -> Result<String, String> {
    s.trim()
        .parse::<IpAddr>()
        .map(|ip| ip.to_string())
        .map_err(|_| "must be an IPv4 or IPv6 address".into())
}

pub fn phone(s: &str) -> Result<String, String> {
    let s = s.trim();
    if !PHONE.is_match(s) || !s.chars().any(|c| c.is_ascii_digit()) {
        return Err("must be a phone number (digits, spaces, + ( ) - . x)".into());
    }
    Ok(s.to_string())
}

/// http(s) URLs only: a `javascript:` link stored here would run in a browser.
pub fn url(s: &str) -> Result<String, String> {
    let s = s.trim();
    let lower = s.to_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) || s.len() > 2048 {
        return Err("must be an http(s) URL".into());
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces".into());
    }
    Ok(s.to_string())
}

pub fn date(s: &str) -> Result<String, String> {
    crate::time::parse_date(s)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .ok_or_else(|| "must be a date as YYYY-MM-DD".into())
}

pub fn timestamp(s: &str) -> Result<String, String> {
    crate::time::normalize_input(s).ok_or_else(|| "must be an RFC 3339 timestamp".into())
}

/// Trimmed text of at most `max` characters; empty is an error (use for required fields).
pub fn required_text(s: &str, max: usize) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("is required".into());
    }
    text(s, max)
}

pub fn text(s: &str, max: usize) -> Result<String, String> {
    let s = s.trim();
    if s.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if s.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err("must not contain control characters".into());
    }
    Ok(s.to_string())
}

pub fn one_of(s: &str, allowed: &[&str]) -> Result<String, String> {
    let s = s.trim();
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(s))
        .map(|a| a.to_string())
        .ok_or_else(|| format!("must be one of: {}", allowed.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_good_and_rejects_bad_values() {
        assert_eq!(email(" Bob@Example.COM ").unwrap(), "bob@example.com");
        assert!(email("bob@").is_err());
        assert!(email("a b@c.com").is_err());
        assert_eq!(account_number("100234").unwrap(), "100234");
        assert!(account_number("12 34").is_err());
        assert!(account_number("").is_err());
        assert_eq!(ip("10.0.0.1").unwrap(), "10.0.0.1");
        assert!(ip("10.0.0.256").is_err());
        assert!(url("javascript:alert(1)").is_err());
        assert!(url("https://portal.example.com/x").is_ok());
        assert!(domain("example.com").is_ok());
        assert!(domain("-bad.com").is_err());
        assert!(phone("+1 (555) 010-2030").is_ok());
        assert!(phone("call me").is_err());
        assert_eq!(one_of("HIPAA", &["standard", "hipaa"]).unwrap(), "hipaa");
        assert!(text("a\u{0}b", 10).is_err());
        assert!(required_text("  ", 10).is_err());
    }
}
