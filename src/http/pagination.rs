//! Pagination shared by every list endpoint: `limit` and `offset`, capped, and the
//! total in the `X-Total-Count` header plus a `Link: rel="next"` when there is more.

use crate::error::AppError;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

impl Page {
    /// Checks `limit` (1..=max, default `default`) and `offset` (≥ 0).
    pub fn new(
        limit: Option<i64>,
        offset: Option<i64>,
        default: i64,
        max: i64,
    ) -> Result<Page, AppError> {
        let limit = limit.unwrap_or(default);
        if !(1..=max).contains(&limit) {
            return Err(AppError::invalid(
                "limit",
                format!("must be between 1 and {max}"),
            ));
        }
        let offset = offset.unwrap_or(0);
        if offset < 0 {
            return Err(AppError::invalid("offset", "must be 0 or more"));
        }
        Ok(Page { limit, offset })
    }

    /// `X-Total-Count`, and `Link` to the next page when one exists.
    pub fn headers(&self, total: i64, path_and_query: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            HeaderName::from_static("x-total-count"),
            HeaderValue::from(total),
        );
        if self.offset + self.limit < total {
            let next = with_offset(path_and_query, self.offset + self.limit, self.limit);
            if let Ok(v) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")) {
                h.insert(axum::http::header::LINK, v);
            }
        }
        h
    }
}

fn with_offset(path_and_query: &str, offset: i64, limit: i64) -> String {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut parts: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("offset=") && !p.starts_with("limit="))
        .map(str::to_string)
        .collect();
    parts.push(format!("limit={limit}"));
    parts.push(format!("offset={offset}"));
    format!("{path}?{}", parts.join("&"))
}

/// `asc` / `desc`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    #[default]
    Asc,
    Desc,
}

impl Order {
    pub fn sql(self) -> &'static str {
        match self {
            Order::Asc => "ASC",
            Order::Desc => "DESC",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_and_links() {
        assert!(Page::new(Some(0), None, 50, 500).is_err());
        assert!(Page::new(Some(501), None, 50, 500).is_err());
        assert!(Page::new(None, Some(-1), 50, 500).is_err());
        let p = Page::new(Some(10), Some(0), 50, 500).unwrap();
        let h = p.headers(25, "/x?search=a&offset=0");
        assert_eq!(h["x-total-count"], "25");
        assert_eq!(h["link"], "</x?search=a&limit=10&offset=10>; rel=\"next\"");
        assert!(p.headers(10, "/x").get("link").is_none());
    }
}
