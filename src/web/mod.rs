//! The web UI: server-rendered HTML (maud, escaped by construction) with htmx, served
//! by the same binary as the API.
//!
//! - `nav` — the module registry: each module with pages adds one `WebModule` (its
//!   sidebar entry and its page routes) to `nav::modules()`. The sidebar and the
//!   home-page redirect only know registered modules, so links to modules that do not
//!   exist yet cannot appear.
//! - `pages::Pages` — a router whose every route states its `Access` rule; the rule is
//!   enforced by a route layer and listed by `page_routes()` for the role tests.
//! - `context::PageCtx` — the extractor for page handlers: principal, CSRF token,
//!   preferences, flash, correlation id.
//! - `layout::Page` — the shared layout (sidebar, breadcrumbs, flash, theme).
//! - `forms`, `table` — CSRF fields, fields with their errors, sortable headers, pagers.
//! - `errors` — HTML error pages with the correlation id for browsers (problem+json
//!   stays for everyone else).
//! - `assets` — CSS, JS and htmx embedded with `include_bytes!`, at content-hashed URLs.
//! - `core` — `/` (home-page redirect), `/settings`, the theme toggle.
//! - `time` — UTC times shown in the user's time zone.

pub mod assets;
pub mod context;
pub mod core;
pub mod errors;
pub mod flash;
pub mod forms;
pub mod layout;
pub mod nav;
pub mod pages;
pub mod table;
pub mod time;

pub use context::{PageCtx, PublicCtx};
pub use flash::Flash;
pub use layout::{Crumb, Page};
pub use nav::{NavItem, WebModule};
pub use pages::{Access, PageRoute, Pages};

use crate::http::AppState;
use axum::Router;

/// Every page route of every registered module, plus the static assets.
pub fn router() -> Router<AppState> {
    let mut r = Router::new().merge(assets::router());
    for m in nav::modules() {
        r = r.merge((m.pages)().into_router());
    }
    r
}

/// Every page route with its access rule (for the route × role table).
pub fn page_routes() -> Vec<PageRoute> {
    nav::modules()
        .iter()
        .flat_map(|m| (m.pages)().routes().to_vec())
        .collect()
}
