//! The global search (`/search?q=`, the box in every page's top bar): companies by name
//! or account number, contacts by name, e-mail or phone, assets by hostname, serial or
//! IP, tickets by their number — each through its module's function, so a client
//! finds only its own company's records. An htmx request (typing in the box)
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

/// What one search found: a few of each kind and how many there are (tickets are
/// not counted — there are many — only whether there are more than shown).
pub struct Found {
    pub companies: (Vec<companies::Company>, i64),
    pub contacts: (Vec<contacts::Contact>, i64),
    pub assets: (Vec<assets::Asset>, i64),
    pub tickets: Vec<tickets::Ticket>,
    pub more_tickets: bool,
}

/// Runs the search for a user (their scope), `per_kind` rows of each; the four
/// lookups run at once.
pub async fn find(state: &AppState, ctx: &PageCtx, q: &str, per_kind: i64) -> AppResult<Found> {
    let db = &state.db;
    let scope = ctx.principal.company_scope();
    let page = Paging::new(Some(per_kind), None, per_kind, per_kind)?;
    let s = Some(q.to_string());
    let cq = companies::CompanyQuery {
        search: s.clone(),
        ..Default::default()
    };
    let kq = contacts::ContactQuery {
        search: s.clone(),
        include_inactive: Some(true),
        ..Default::default()
    };
    let aq = assets::AssetQuery {
        search: s,
        ..Default::default()
    };
    let (companies, contacts, assets, mut tickets) = tokio::try_join!(
        companies::list(db, scope, &cq, page),
        contacts::list(db, scope, &kq, page),
        assets::list(db, scope, &aq, page),
        tickets::search_by_number(db, scope, q, per_kind + 1),
    )?;
    let more_tickets = tickets.len() as i64 > per_kind;
    tickets.truncate(per_kind as usize);
    Ok(Found {
        companies,
        contacts,
        assets,
        tickets,
        more_tickets,
    })
}

fn enc(s: &str) -> String {
    crate::auth::middleware::urlencode(s)
}

fn section(title: &str, total: i64, shown: usize, all: Option<String>, rows: Markup) -> Markup {
    section_counted(title, &total.to_string(), total, shown, all, rows)
}

fn section_counted(
    title: &str,
    label: &str,
    total: i64,
    shown: usize,
    all: Option<String>,
    rows: Markup,
) -> Markup {
    html! {
        section class="search-section" {
            h2 { (title) " " span class="muted" { "(" (label) ")" } }
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
        (section_counted("Tickets",
            &format!("{}{}", f.tickets.len(), if f.more_tickets { "+" } else { "" }),
            f.tickets.len() as i64, f.tickets.len(), None, html! {
            @for t in &f.tickets { li {
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
        html! { p class="muted" { "Type a name, e-mail, hostname, IP, account number or ticket number." } }
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
