//! The global search (`/search?q=`, the box in every page's top bar): companies by name
//! or account number, contacts by name, e-mail or phone, assets by hostname, serial or
//! IP, tickets by number, subject or requester — each through its list function, so a
//! client finds only its own company's records. An htmx request (typing in the box)
//! gets a short dropdown fragment instead of the page.

use super::or_dash;
use crate::codex::{assets, companies, contacts, tickets};
use crate::error::AppResult;
use crate::http::extract::QueryParams;
use crate::http::pagination::Page as Paging;
use crate::http::AppState;
use crate::web::layout::fragment;
use crate::web::{Access, Page, PageCtx, Pages};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;

pub const PATH: &str = "/search";

pub fn register(p: Pages) -> Pages {
    p.get(PATH, Access::Scoped, search)
}

#[derive(Debug, Default, Deserialize)]
pub struct SearchParams {
    q: Option<String>,
}

/// What one search found: a few of each kind and how many there are.
pub struct Found {
    pub companies: (Vec<companies::Company>, i64),
    pub contacts: (Vec<contacts::Contact>, i64),
    pub assets: (Vec<assets::Asset>, i64),
    pub tickets: (Vec<tickets::Ticket>, i64),
}

/// Runs the search for a user (their scope), `per_kind` rows of each.
pub async fn find(state: &AppState, ctx: &PageCtx, q: &str, per_kind: i64) -> AppResult<Found> {
    let db = &state.db;
    let scope = ctx.principal.company_scope();
    let page = Paging::new(Some(per_kind), None, per_kind, per_kind)?;
    let s = Some(q.to_string());
    let companies = companies::list(
        db,
        scope,
        &companies::CompanyQuery {
            search: s.clone(),
            ..Default::default()
        },
        page,
    )
    .await?;
    let contacts = contacts::list(
        db,
        scope,
        &contacts::ContactQuery {
            search: s.clone(),
            include_inactive: Some(true),
            ..Default::default()
        },
        page,
    )
    .await?;
    let assets = assets::list(
        db,
        scope,
        &assets::AssetQuery {
            search: s.clone(),
            ..Default::default()
        },
        page,
    )
    .await?;
    let tickets = tickets::list(
        db,
        scope,
        &tickets::TicketQuery {
            search: s,
            ..Default::default()
        },
        page,
    )
    .await?;
    Ok(Found {
        companies,
        contacts,
        assets,
        tickets,
    })
}

fn enc(s: &str) -> String {
    crate::auth::middleware::urlencode(s)
}

fn section(title: &str, total: i64, shown: usize, all: Option<String>, rows: Markup) -> Markup {
    html! {
        section class="search-section" {
            h2 { (title) " " span class="muted" { "(" (total) ")" } }
            @if total == 0 { p class="muted" { "Nothing found." } }
            @else {
                ul class="results" { (rows) }
                @if total > shown as i64 {
                    @if let Some(href) = all { p { a href=(href) { "All " (total) " " (title.to_lowercase()) } } }
                }
            }
        }
    }
}

fn ticket_href(t: &tickets::Ticket) -> Option<String> {
    t.company_account_number
        .as_deref()
        .map(|a| format!("{}?tab=tickets", super::companies::href(a)))
}

fn results(f: &Found, q: &str) -> Markup {
    let q = enc(q);
    html! {
        (section("Companies", f.companies.1, f.companies.0.len(), Some(format!("/codex/companies?search={q}")), html! {
            @for c in &f.companies.0 { li {
                a href=(super::companies::href(&c.account_number)) { (c.name) }
                " " span class="mono muted" { (c.account_number) }
            } }
        }))
        (section("Contacts", f.contacts.1, f.contacts.0.len(), Some(format!("/codex/contacts?search={q}&include_inactive=1")), html! {
            @for c in &f.contacts.0 { li {
                a href=(super::contacts::href(c.id)) { (c.name) }
                " " span class="muted" { (c.email) }
            } }
        }))
        (section("Assets", f.assets.1, f.assets.0.len(), Some(format!("/codex/assets?search={q}")), html! {
            @for a in &f.assets.0 { li {
                a href=(super::assets::href(a.id)) { (a.hostname) }
                " " span class="muted" { (a.company_name) }
            } }
        }))
        (section("Tickets", f.tickets.1, f.tickets.0.len(), None, html! {
            @for t in &f.tickets.0 { li {
                @let number = t.ticket_number.clone().unwrap_or_else(|| t.external_id.clone());
                @if let Some(h) = ticket_href(t) { a href=(h) { "#" (number) } } @else { "#" (number) }
                " " (or_dash(t.subject.as_deref()))
                " " span class="muted" { (t.company_name.as_deref().unwrap_or("")) }
            } }
        }))
    }
}

async fn search(
    State(state): State<AppState>,
    ctx: PageCtx,
    headers: HeaderMap,
    QueryParams(p): QueryParams<SearchParams>,
) -> AppResult<Response> {
    let q: String = p.q.unwrap_or_default().trim().chars().take(100).collect();
    let htmx = headers.contains_key("hx-request");
    if htmx {
        if q.chars().count() < 2 {
            return Ok(fragment(html! {}));
        }
        let f = find(&state, &ctx, &q, 5).await?;
        return Ok(fragment(html! {
            div class="card suggest-card" {
                (results(&f, &q))
                p { a href={ (PATH) "?q=" (enc(&q)) } { "All results for “" (q) "”" } }
            }
        }));
    }
    let body = if q.is_empty() {
        html! { p class="muted" { "Type a name, e-mail, hostname, account number or ticket number." } }
    } else {
        let f = find(&state, &ctx, &q, 10).await?;
        results(&f, &q)
    };
    Ok(Page::new(&ctx, "Search")
        .crumb("Search", PATH)
        .body(html! {
            h1 { "Search" @if !q.is_empty() { " for “" (q) "”" } }
            div class="search-results" { (body) }
        })
        .into_response())
}
