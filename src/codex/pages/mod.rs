//! Codex's pages (`/codex…`), on the shared layout (`crate::web`). They call the same
//! Rust functions as the JSON API, so lists, scoping and validation are the API's.
//!
//! `companies`, `contacts`, `assets` (list, detail, add/edit/delete), `plans` (billing
//! plans and feature options, export/import), `search` (the
//! layout's global search, `/search`); here the dashboard, the audit log and the small
//! helpers they share.

pub mod assets;
pub mod companies;
pub mod contacts;
pub mod plans;
pub mod search;

use crate::audit::{self, AuditQuery};
use crate::codex::{self as cx, tickets};
use crate::error::{AppResult, FieldErrors};
use crate::http::extract::QueryParams;
use crate::http::pagination::Page as Paging;
use crate::http::AppState;
use crate::web::forms::Field;
use crate::web::table::pager;
use crate::web::{Access, NavItem, Page, PageCtx, Pages, WebModule};
use axum::extract::State;
use maud::html;

pub const MODULE: WebModule = WebModule {
    id: "codex",
    label: "Codex",
    href: "/codex",
    access: Access::Scoped,
    in_sidebar: true,
    items: ITEMS,
    pages,
};

/// Codex's sidebar links (each page that exists adds its line).
const ITEMS: &[NavItem] = &[
    NavItem {
        label: "Companies",
        href: "/codex/companies",
        access: Access::Scoped,
    },
    NavItem {
        label: "Contacts",
        href: "/codex/contacts",
        access: Access::Scoped,
    },
    NavItem {
        label: "Assets",
        href: "/codex/assets",
        access: Access::Scoped,
    },
    NavItem {
        label: "Billing plans",
        href: "/codex/billing-plans",
        access: Access::Staff,
    },
    NavItem {
        label: "Audit log",
        href: "/codex/audit",
        access: Access::Admin,
    },
];

fn pages() -> Pages {
    let p = Pages::new().get("/codex", Access::Scoped, dashboard).get(
        "/codex/audit",
        Access::Admin,
        audit_log,
    );
    let p = companies::register(p);
    let p = contacts::register(p);
    let p = assets::register(p);
    let p = plans::register(p);
    search::register(p)
}

/// A trimmed, non-empty query or form value.
pub(crate) fn nonblank(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// `asc`/`desc` from a query string (anything else: the list's default).
pub(crate) fn order_param(v: &Option<String>) -> Option<crate::http::pagination::Order> {
    use crate::http::pagination::Order;
    match v.as_deref().map(str::trim) {
        Some("desc") => Some(Order::Desc),
        Some("asc") => Some(Order::Asc),
        _ => None,
    }
}

/// The value, or a dash for a missing one.
pub(crate) fn or_dash(v: Option<&str>) -> &str {
    match v {
        Some(s) if !s.trim().is_empty() => s,
        _ => "—",
    }
}

/// May this user add, edit and delete master data (admin, technician)?
pub(crate) fn can_write(ctx: &PageCtx) -> bool {
    ctx.principal.require_master_write().is_ok()
}

/// A form value as a patch: present (even empty, which clears) or absent.
pub(crate) fn patch_of(v: &Option<String>) -> Option<Option<String>> {
    v.as_ref().map(|s| Some(s.clone()))
}

/// `checked` state for a checkbox whose form also sent its hidden marker.
pub(crate) fn ticked(v: &Option<String>) -> bool {
    matches!(v.as_deref(), Some("1") | Some("on") | Some("true"))
}

/// Counts of what Codex holds (a client's own company only).
async fn dashboard(State(state): State<AppState>, ctx: PageCtx) -> AppResult<Page> {
    let db = &state.db;
    let scope = ctx.principal.company_scope();
    let one = Paging::new(Some(1), None, 1, 1)?;
    let (_, companies) = cx::companies::list(db, scope, &Default::default(), one).await?;
    let (_, contacts) = cx::contacts::list(db, scope, &Default::default(), one).await?;
    let (_, assets) = cx::assets::list(db, scope, &Default::default(), one).await?;
    let (_, tickets) = tickets::list(db, scope, &Default::default(), one).await?;
    let plans = if scope.is_none() {
        Some(
            cx::plans::list_plans_page(db, &Default::default(), one)
                .await?
                .1,
        )
    } else {
        None
    };
    let tile = |label: &str, n: i64| {
        html! { div class="card" { div class="stat" { (n) } div class="muted" { (label) } } }
    };
    Ok(Page::new(&ctx, "Codex")
        .crumb("Codex", "/codex")
        .body(html! {
            h1 { "Codex" }
            div class="cards" {
                (tile("Companies", companies))
                (tile("Contacts", contacts))
                (tile("Assets", assets))
                (tile("Tickets", tickets))
                @if let Some(n) = plans { (tile("Billing plans", n)) }
            }
        }))
}

/// The audit log (admin): who changed what, newest first, filtered like the API.
async fn audit_log(
    State(state): State<AppState>,
    ctx: PageCtx,
    QueryParams(q): QueryParams<AuditQuery>,
) -> AppResult<Page> {
    let page = Paging::new(q.limit, q.offset, 50, 500)?;
    // Empty filter fields (a submitted blank form) mean no filter.
    let blank = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    let q = AuditQuery {
        entity: blank(&q.entity),
        entity_id: blank(&q.entity_id),
        actor: blank(&q.actor),
        action: blank(&q.action),
        since: blank(&q.since),
        until: blank(&q.until),
        ..q
    };
    let (entries, total) = audit::query(&state.db, &q, page).await?;
    let none = FieldErrors::new();
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    Ok(Page::new(&ctx, "Audit log")
        .crumb("Codex", "/codex")
        .crumb("Audit log", "/codex/audit")
        .body(html! {
            h1 { "Audit log" }
            form method="get" action="/codex/audit" class="inline card" role="search" {
                (Field::text("entity", "Entity").value(v(&q.entity)).render(&none))
                (Field::text("entity_id", "Entity id").value(v(&q.entity_id)).render(&none))
                (Field::input("email", "actor", "User e-mail").value(v(&q.actor)).render(&none))
                (Field::select("action", "Action", [("", "Any"), ("create", "Create"), ("update", "Update"), ("delete", "Delete")])
                    .value(v(&q.action)).render(&none))
                button type="submit" { "Filter" }
            }
            div class="table-wrap" {
                table {
                    thead { tr { th { "When" } th { "User" } th { "Action" } th { "Entity" } th { "Id" } th { "Correlation id" } } }
                    tbody {
                        @for e in &entries {
                            tr {
                                td class="mono" { (crate::web::time::local(&ctx, &e.at)) }
                                td { (e.actor_email.as_deref().unwrap_or(e.module.as_str())) }
                                td { span class="badge" { (e.action) } }
                                td { (e.entity) }
                                td class="mono" { (e.entity_id) }
                                td class="mono" { (e.correlation_id.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
                @if entries.is_empty() { p class="empty" { "No changes match." } }
            }
            (pager(total, &page, &ctx.path_and_query))
        }))
}
