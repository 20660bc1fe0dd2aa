//! Typed settings: defaults, then `hivematrix.toml` (path from `--config`), then
//! environment variables. Secrets in here are never logged (`Debug` is hand-written).

use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Where the SQLite file, uploads and secret files live.
    pub data_dir: PathBuf,
    /// `postgres://…` to run on PostgreSQL; unset means SQLite in `data_dir`.
    pub database_url: Option<String>,
    pub listen: String,
    pub rate_limit: RateLimitSettings,
    pub session: SessionSettings,
    /// Largest accepted request body in bytes (413 above it).
    pub max_body_bytes: usize,
    /// Sections owned by later modules (PSA/RMM providers…) are kept as raw TOML so
    /// that one config file serves every version of the binary.
    pub psa: Option<toml::Value>,
    pub rmm: Option<toml::Value>,
    pub beacon: BeaconSettings,
    /// `[oidc]`: single sign-on with an OpenID Connect provider (off when absent).
    pub oidc: Option<crate::auth::oidc::OidcSettings>,
}

/// `[beacon]`: which PSA group's tickets form the Professional Services board.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BeaconSettings {
    /// The PSA group id; unset = Helpdesk shows every ticket.
    pub professional_services_group: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Sustained requests per minute per user (or client address); 0 turns limiting off.
    pub per_minute: u32,
    /// Requests allowed in a burst above the sustained rate.
    pub burst: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionSettings {
    pub ttl_hours: i64,
    /// Mark cookies `Secure`; turn on when served over HTTPS.
    pub secure_cookies: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: PathBuf::from("hivematrix-data"),
            database_url: None,
            listen: "127.0.0.1:5010".into(),
            rate_limit: RateLimitSettings::default(),
            session: SessionSettings::default(),
            max_body_bytes: 16 * 1024 * 1024,
            psa: None,
            rmm: None,
            beacon: BeaconSettings::default(),
            oidc: None,
        }
    }
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        // 50 requests a second sustained per user is far above what a person clicks and
        // enough for scripts that page through the bulk APIs.
        RateLimitSettings {
            per_minute: 3000,
            burst: 500,
        }
    }
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            ttl_hours: 12,
            secure_cookies: false,
        }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("data_dir", &self.data_dir)
            .field(
                "database",
                &self
                    .database_url
                    .as_deref()
                    .map(redact_url)
                    .unwrap_or_else(|| "sqlite".into()),
            )
            .field("listen", &self.listen)
            .field("rate_limit", &self.rate_limit)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Settings {
    /// Loads settings: the file (if given or if `hivematrix.toml` exists in the current
    /// directory), then environment overrides, then the command-line data dir.
    pub fn load(config: Option<&Path>, data_dir: Option<&Path>) -> anyhow::Result<Settings> {
        let mut s = match config {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| anyhow::anyhow!("cannot read config {}: {e}", p.display()))?;
                toml::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("invalid config {}: {e}", p.display()))?
            }
            None => Settings::default(),
        };
        if let Ok(url) = std::env::var("DATABASE_URL") {
            if !url.trim().is_empty() {
                s.database_url = Some(url);
            }
        }
        if let Ok(v) = std::env::var("HIVEMATRIX_DATA_DIR") {
            s.data_dir = PathBuf::from(v);
        }
        if let Ok(v) = std::env::var("HIVEMATRIX_LISTEN") {
            s.listen = v;
        }
        if let Ok(v) = std::env::var("HIVEMATRIX_RATE_LIMIT_PER_MINUTE") {
            s.rate_limit.per_minute = v.parse().map_err(|_| {
                anyhow::anyhow!("HIVEMATRIX_RATE_LIMIT_PER_MINUTE must be a number")
            })?;
        }
        if let Some(d) = data_dir {
            s.data_dir = d.to_path_buf();
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show_in_debug_output() {
        let s = Settings {
            database_url: Some("postgres://hm:s3cret@db/hm".into()),
            ..Settings::default()
        };
        let shown = format!("{s:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("postgres://hm:***@db/hm"));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(toml::from_str::<Settings>("listn = \"x\"").is_err());
        let s: Settings =
            toml::from_str("listen = \"0.0.0.0:80\"\n[rate_limit]\nper_minute = 10").unwrap();
        assert_eq!(s.listen, "0.0.0.0:80");
        assert_eq!(s.rate_limit.per_minute, 10);
        assert_eq!(s.rate_limit.burst, 500);
    }
}
