//! Tables of records with server-side paging and sorting: a page shows `limit` rows
//! from `offset` (the same `http::pagination::Page` the JSON lists use), never the
//! whole set. Links keep the other query parameters (search, filters).
//!
//! ```ignore
//! let page = Page::new(q.limit, q.offset, 50, 500)?;
//! html! {
//!     table { thead { tr {
//!         (sort_header("Name", "name", &sort, order, &ctx.path_and_query))
//!     } } tbody { … } }
//!     (pager(total, &page, &ctx.path_and_query))
//! }
//! ```

use crate::auth::middleware::{urldecode, urlencode};
use crate::http::pagination::{Order, Page};
use maud::{html, Markup};

/// Page sizes offered under every table.
pub const PAGE_SIZES: [i64; 3] = [25, 50, 100];

/// `path_and_query` with the given parameters set (`Some`) or removed (`None`); the
/// others are kept in their order.
pub fn with_params(path_and_query: &str, changes: &[(&str, Option<&str>)]) -> String {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (urldecode(k), urldecode(v))
        })
        .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
        .collect();
    for (k, v) in changes {
        if let Some(v) = v {
            pairs.push((k.to_string(), v.to_string()));
        }
    }
    if pairs.is_empty() {
        return path.to_string();
    }
    let q: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect();
    format!("{path}?{}", q.join("&"))
}

/// A column header that sorts by `key`; clicking the current column flips the order.
/// Changing the sort goes back to the first page.
pub fn sort_header(
    label: &str,
    key: &str,
    current: &str,
    order: Order,
    path_and_query: &str,
) -> Markup {
    let active = current == key;
    let next = if active && order == Order::Asc {
        "desc"
    } else {
        "asc"
    };
    let href = with_params(
        path_and_query,
        &[("sort", Some(key)), ("order", Some(next)), ("offset", None)],
    );
    let aria = active.then_some(if order == Order::Asc {
        "ascending"
    } else {
        "descending"
    });
    html! {
        th aria-sort=[aria] { a href=(href) aria-sort=[aria] { (label) } }
    }
}

/// "Showing 51–100 of 500", first/previous/next/last, and the page sizes.
pub fn pager(total: i64, page: &Page, path_and_query: &str) -> Markup {
    let first_row = if total == 0 { 0 } else { page.offset + 1 };
    let last_row = (page.offset + page.limit).min(total);
    let link = |offset: i64| {
        let o = offset.to_string();
        with_params(path_and_query, &[("offset", Some(&o))])
    };
    let last_offset = if total == 0 {
        0
    } else {
        ((total - 1) / page.limit) * page.limit
    };
    let has_prev = page.offset > 0;
    let has_next = page.offset + page.limit < total;
    html! {
        nav class="pager" aria-label="Pages" {
            span class="count" { "Showing " (first_row) "–" (last_row) " of " (total) }
            @if has_prev {
                a href=(link(0)) rel="first" { "First" }
                a href=(link((page.offset - page.limit).max(0))) rel="prev" { "Previous" }
            } @else {
                span class="off" { "First" } span class="off" { "Previous" }
            }
            @if has_next {
                a href=(link(page.offset + page.limit)) rel="next" { "Next" }
                a href=(link(last_offset)) rel="last" { "Last" }
            } @else {
                span class="off" { "Next" } span class="off" { "Last" }
            }
            span class="muted" { "Rows:" }
            @for n in PAGE_SIZES {
                @let s = n.to_string();
                @if n == page.limit {
                    span class="off" aria-current="true" { (n) }
                } @else {
                    a href=(with_params(path_and_query, &[("limit", Some(&s)), ("offset", None)])) { (n) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_other_parameters() {
        assert_eq!(
            with_params("/c?search=a%20b&offset=50", &[("offset", Some("100"))]),
            "/c?search=a%20b&offset=100"
        );
        assert_eq!(with_params("/c?offset=5", &[("offset", None)]), "/c");
        let p = Page::new(Some(50), Some(50), 50, 500).unwrap();
        let html = pager(120, &p, "/c?search=x&offset=50").into_string();
        assert!(html.contains("Showing 51–100 of 120"), "{html}");
        assert!(html.contains("href=\"/c?search=x&amp;offset=100\" rel=\"next\""));
        assert!(html.contains("href=\"/c?search=x&amp;offset=100\" rel=\"last\""));
        assert!(html.contains("href=\"/c?search=x&amp;offset=0\" rel=\"prev\""));
        let h = sort_header("Name", "name", "name", Order::Asc, "/c?offset=50").into_string();
        assert!(h.contains("/c?sort=name&amp;order=desc"), "{h}");
        assert!(h.contains("ascending"));
    }
}
