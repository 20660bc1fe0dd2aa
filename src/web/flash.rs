//! Flash messages: a one-shot message carried across a redirect in a short-lived
//! cookie (`hm_flash`), shown by the next page and cleared by it. The text is rendered
//! escaped like everything else, so a forged cookie can only show its sender text.

use crate::auth::middleware::{urldecode, urlencode};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};

pub const COOKIE: &str = "hm_flash";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Success,
    Info,
    Warning,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Success => "success",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }

    fn parse(s: &str) -> Option<Level> {
        [Level::Success, Level::Info, Level::Warning, Level::Error]
            .into_iter()
            .find(|l| l.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flash {
    pub level: Level,
    pub message: String,
}

impl Flash {
    pub fn success(m: impl Into<String>) -> Flash {
        Flash {
            level: Level::Success,
            message: m.into(),
        }
    }

    pub fn info(m: impl Into<String>) -> Flash {
        Flash {
            level: Level::Info,
            message: m.into(),
        }
    }

    pub fn warning(m: impl Into<String>) -> Flash {
        Flash {
            level: Level::Warning,
            message: m.into(),
        }
    }

    pub fn error(m: impl Into<String>) -> Flash {
        Flash {
            level: Level::Error,
            message: m.into(),
        }
    }

    fn encode(&self) -> String {
        let msg: String = self.message.chars().take(500).collect();
        format!("{}.{}", self.level.as_str(), urlencode(&msg))
    }

    /// Reads the cookie value written by `encode`.
    pub fn decode(value: &str) -> Option<Flash> {
        let (level, msg) = value.split_once('.')?;
        Some(Flash {
            level: Level::parse(level)?,
            message: urldecode(msg),
        })
    }

    /// 303 See Other to `to`, showing this message on the page it lands on.
    pub fn redirect(self, to: &str) -> Response {
        let mut resp = Redirect::to(to).into_response();
        let cookie = format!(
            "{COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age=120",
            self.encode()
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
        resp
    }
}

/// The `Set-Cookie` that removes a shown flash.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("hm_flash=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_cookie() {
        let f = Flash::error("Company <b>&</b> \"x\"; saved=1");
        let v = f.encode();
        assert!(!v.contains(';') && !v.contains(' ') && !v.contains('"'));
        assert_eq!(Flash::decode(&v), Some(f));
        assert_eq!(Flash::decode("bogus.x"), None);
        assert_eq!(Flash::decode("nodot"), None);
    }
}
