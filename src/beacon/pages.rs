//! Beacon's pages: the board of each view for staff (`/beacon/helpdesk`,
//! `/beacon/professional-services`) and the TV mode for wall screens
//! (`/beacon/display/{view}?token=…`, display token, no sidebar, large type).
//!
//! The sections are an htmx fragment polled every 30 s (`…/board`); the rendered
//! fragment is kept on the shared board `Snapshot`, so a hundred open screens cost one
//! computation and one rendering per change (or per 30 s). The header counter and the
//! last-sync time ride along out of band. Subjects open a `<dialog>` with the ticket's
//! details (an htmx-loaded fragment); ticket numbers link into the PSA. Staff who may
//! start a ticket sync (admin, technician, as `POST /codex/sync/tickets`) get a button
//! that queues one through the sync module and polls the job until it ends, then
//! refreshes the board.

use super::display;
use super::feed::Snapshot;
use super::http::{board, may_read_board, page_view};
use super::model::{
    AgentFilter, AlertLevel, BoardItem, BoardSection, BoardView, SectionId, SlaClass,
};
use super::settings::{self, AlertLevels, BeaconSettings, OverdueMinutes, SettingsInput};
use crate::auth::middleware::urlencode;
use crate::codex::tickets::{list_agents, AgentQuery};
use crate::error::FieldErrors;
use crate::error::{AppError, AppResult};
use crate::http::extract::QueryParams;
use crate::http::pagination::Page as Paging;
use crate::http::AppState;
use crate::sync::jobs::{self, Job, NewJob};
use crate::web::forms::{csrf, error_summary, field_errors, Field};
use crate::web::{Access, Flash, NavItem, Page, PageCtx, Pages, PublicCtx, WebModule};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;
use std::collections::BTreeMap;

pub const MODULE: WebModule = WebModule {
    id: "beacon",
    label: "Beacon",
    href: "/beacon",
    access: Access::Staff,
    in_sidebar: true,
    items: ITEMS,
    pages,
};

const HELPDESK: &str = "/beacon/helpdesk";
const PRO_SERVICES: &str = "/beacon/professional-services";

const SETTINGS: &str = "/beacon/settings";

const ITEMS: &[NavItem] = &[
    NavItem {
        label: "Helpdesk",
        href: HELPDESK,
        access: Access::Staff,
    },
    NavItem {
        label: "Professional Services",
        href: PRO_SERVICES,
        access: Access::Staff,
    },
    NavItem {
        label: "Board settings",
        href: SETTINGS,
        access: Access::Admin,
    },
];

/// How often a board polls its fragment (the original refreshed every 60 s).
pub const POLL_SECONDS: u32 = 30;

fn pages() -> Pages {
    Pages::new()
        .get("/beacon", Access::Staff, index)
        .get(HELPDESK, Access::Staff, helpdesk)
        .get(PRO_SERVICES, Access::Staff, pro_services)
        .get("/beacon/helpdesk/board", Access::Staff, helpdesk_board)
        .get(
            "/beacon/professional-services/board",
            Access::Staff,
            pro_services_board,
        )
        .get("/beacon/tickets/{source}/{id}", Access::Staff, ticket_modal)
        .post("/beacon/sync", Access::Master, start_sync)
        .get("/beacon/sync/progress", Access::Master, sync_progress)
        .get(SETTINGS, Access::Admin, settings_page)
        .post(SETTINGS, Access::Admin, save_settings)
        .post(
            "/beacon/settings/display-tokens",
            Access::Admin,
            create_display_token,
        )
        .post(
            "/beacon/settings/display-tokens/{id}/revoke",
            Access::Admin,
            revoke_display_token,
        )
        // Wall screens: no login; the handlers demand a display token.
        .get("/beacon/display", Access::Public, display_index)
        .get("/beacon/display/{view}", Access::Public, display_page)
        .get(
            "/beacon/display/{view}/board",
            Access::Public,
            display_board,
        )
}

#[derive(Debug, Default, Deserialize)]
pub struct BoardQuery {
    /// An agent's PSA id, `unassigned`, or empty for everyone.
    pub agent: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct DisplayQuery {
    pub token: Option<String>,
    pub agent: Option<String>,
}

async fn index() -> Redirect {
    Redirect::to(HELPDESK)
}

async fn helpdesk(
    State(state): State<AppState>,
    ctx: PageCtx,
    QueryParams(q): QueryParams<BoardQuery>,
) -> AppResult<Page> {
    board_page(&state, &ctx, BoardView::Helpdesk, q).await
}

async fn pro_services(
    State(state): State<AppState>,
    ctx: PageCtx,
    QueryParams(q): QueryParams<BoardQuery>,
) -> AppResult<Page> {
    board_page(&state, &ctx, BoardView::ProfessionalServices, q).await
}

async fn helpdesk_board(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<BoardQuery>,
) -> AppResult<Response> {
    fragment(
        &state,
        BoardView::Helpdesk,
        &AgentFilter::parse(q.agent.as_deref()),
        Mode::Staff,
    )
    .await
}

async fn pro_services_board(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<BoardQuery>,
) -> AppResult<Response> {
    fragment(
        &state,
        BoardView::ProfessionalServices,
        &AgentFilter::parse(q.agent.as_deref()),
        Mode::Staff,
    )
    .await
}

/// Staff boards link into the PSA and open the modal; TV boards show text only.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Staff,
    Display,
}

fn view_href(view: BoardView) -> &'static str {
    match view {
        BoardView::ProfessionalServices => PRO_SERVICES,
        _ => HELPDESK,
    }
}

fn agent_query(agent: &AgentFilter) -> String {
    match agent {
        AgentFilter::All => String::new(),
        AgentFilter::Unassigned => "unassigned".into(),
        AgentFilter::Agent(id) => id.clone(),
    }
}

/// Ticket link templates of the configured PSAs, by source.
fn ticket_links(state: &AppState) -> BTreeMap<String, String> {
    state
        .sync
        .engine
        .psa_links()
        .into_iter()
        .filter_map(|(name, l)| l.map(|l| (name, l.ticket_url_template)))
        .collect()
}

fn ticket_link(links: &BTreeMap<String, String>, item: &BoardItem) -> Option<String> {
    links
        .get(&item.source)
        .map(|t| t.replace("{ticket_id}", &urlencode(&item.id)))
}

/// The original's subject cell: the first 60 characters and `...`.
fn short_subject(subject: &Option<String>) -> String {
    let s = subject.as_deref().map(str::trim).unwrap_or("");
    if s.is_empty() {
        return "(no subject)".into();
    }
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(60).collect::<String>())
    } else {
        s.to_string()
    }
}

/// `2026-12-01T13:55:00Z` → `2026-12-01 13:55 UTC`.
fn utc_text(at: &str) -> String {
    crate::time::from_db(at)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| at.to_string())
}

/// The "FR Due:" / "Due:" line under the SLA text, as the original showed it while the
/// first response is still outstanding and the clock is not comfortable.
fn due_line(item: &BoardItem) -> Option<String> {
    let quiet = matches!(
        item.sla_class,
        SlaClass::Normal | SlaClass::Responded | SlaClass::None
    );
    if quiet || item.first_responded_at_iso.is_some() {
        return None;
    }
    let service_request = item
        .ticket_type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("Service Request"));
    if service_request {
        item.due_by_str
            .as_deref()
            .map(|d| format!("Due: {}", utc_text(d)))
    } else {
        item.fr_due_by_str
            .as_deref()
            .map(|d| format!("FR Due: {}", utc_text(d)))
    }
}

fn priority_class(item: &BoardItem) -> String {
    let p = item.priority.as_deref().unwrap_or("unknown");
    let known = ["low", "medium", "high", "urgent"].contains(&p);
    format!("priority priority-{}", if known { p } else { "unknown" })
}

fn section_markup(s: &BoardSection, mode: Mode, links: &BTreeMap<String, String>) -> Markup {
    let id = format!("section-{}", s.number);
    let status_header = if s.id == SectionId::Other {
        "Status"
    } else {
        "Action / SLA"
    };
    html! {
        section class="beacon-section" id=(id) aria-labelledby={ (id) "-title" } data-count=(s.tickets.len()) {
            h2 id={ (id) "-title" } { (s.title) " " span class="badge" { (s.tickets.len()) } }
            @if s.tickets.is_empty() {
                p class="empty" { "No tickets." }
            } @else {
                div class="table-wrap" {
                    table class="beacon-table" {
                        thead { tr {
                            th { "ID" } th { "Subject" } th { "Requester" } th { "Agent" }
                            th { "Priority" } th { (status_header) } th { "Updated" } th { "Created" }
                        } }
                        tbody {
                            @for t in &s.tickets {
                                @let number = t.ticket_number.clone().unwrap_or_else(|| t.id.clone());
                                tr data-ticket-id=(t.id) data-source=(t.source) {
                                    td class="mono" {
                                        @match (mode, ticket_link(links, t)) {
                                            (Mode::Staff, Some(href)) => {
                                                a href=(href) target="_blank" rel="noopener noreferrer" { (number) }
                                            }
                                            _ => { (number) }
                                        }
                                    }
                                    td class="subject" {
                                        @if mode == Mode::Staff {
                                            button type="button" class="link"
                                                hx-get={ "/beacon/tickets/" (urlencode(&t.source)) "/" (urlencode(&t.id)) }
                                                hx-target="#beacon-modal" hx-swap="innerHTML"
                                                title=(t.subject.as_deref().unwrap_or("")) {
                                                (short_subject(&t.subject))
                                            }
                                        } @else {
                                            (short_subject(&t.subject))
                                        }
                                    }
                                    td { (t.requester_name) }
                                    td { (t.agent_name) }
                                    td { span class=(priority_class(t)) { (t.priority_text) } }
                                    td {
                                        span class={ "sla " (t.sla_class.as_str()) } { (t.sla_text) }
                                        @if let Some(line) = due_line(t) {
                                            div class="muted small" { (line) }
                                        }
                                    }
                                    td { (t.updated_friendly) }
                                    td { (t.created_days_old) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn sections_markup(snapshot: &Snapshot, mode: Mode, links: &BTreeMap<String, String>) -> Markup {
    html! {
        div class="beacon-sections" {
            @for section in &snapshot.board.sections { (section_markup(section, mode, links)) }
        }
    }
}

fn mode_key(mode: Mode, fragment: bool) -> &'static str {
    match (mode, fragment) {
        (Mode::Staff, false) => "html.sections.staff",
        (Mode::Display, false) => "html.sections.display",
        (Mode::Staff, true) => "html.fragment.staff",
        (Mode::Display, true) => "html.fragment.display",
    }
}

/// The four sections for a full page (rendered once per snapshot and mode).
fn sections(snapshot: &Snapshot, mode: Mode, links: &BTreeMap<String, String>) -> Markup {
    let bytes = snapshot.rendered(mode_key(mode, false), |s| {
        sections_markup(s, mode, links).into_string()
    });
    PreEscaped(String::from_utf8_lossy(&bytes).into_owned())
}

/// The header's counter and last-sync time; `oob` when it rides in a fragment.
fn status(snapshot: &Snapshot, oob: bool) -> Markup {
    let b = &snapshot.board;
    let level = b.alert_level;
    let class = match level.css_class() {
        Some(c) => format!("beacon-count {c}"),
        None => "beacon-count".to_string(),
    };
    html! {
        div id="beacon-status" class="beacon-status" hx-swap-oob=[oob.then_some("true")] {
            span id="beacon-counter" class=(class) data-level=(level_name(level)) {
                "Total Active: " strong { (b.total_active) }
                @if level.sirens() { span class="sirens" role="img" aria-label="sirens" { "🚨🚨" } }
            }
            span class="beacon-last-sync muted" {
                "Last sync: "
                @match &snapshot.last_sync {
                    Some(t) => { time datetime=(crate::time::to_db(*t)) { (utc_text(&crate::time::to_db(*t))) } }
                    None => { "never" }
                }
            }
        }
    }
}

fn level_name(level: AlertLevel) -> &'static str {
    match level {
        AlertLevel::Normal => "normal",
        AlertLevel::Warning => "warning",
        AlertLevel::Danger => "danger",
        AlertLevel::Critical => "critical",
        AlertLevel::Emergency => "emergency",
    }
}

fn html_response(markup: impl Into<axum::body::Body>) -> Response {
    let mut resp = Html(markup.into()).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn fragment(
    state: &AppState,
    view: BoardView,
    agent: &AgentFilter,
    mode: Mode,
) -> AppResult<Response> {
    let snapshot = board(state, view, agent).await?;
    let links = ticket_links(state);
    // The polled fragment is served as the very bytes rendered once per snapshot.
    let bytes = snapshot.rendered(mode_key(mode, true), |s| {
        html! { (status(s, true)) (sections_markup(s, mode, &links)) }.into_string()
    });
    Ok(html_response(bytes))
}

async fn board_page(
    state: &AppState,
    ctx: &PageCtx,
    view: BoardView,
    q: BoardQuery,
) -> AppResult<Page> {
    let agent = AgentFilter::parse(q.agent.as_deref());
    let snapshot = board(state, view, &agent).await?;
    let links = ticket_links(state);
    let (agents, _) = list_agents(
        &state.db,
        &AgentQuery {
            active: Some(true),
            ..Default::default()
        },
        Paging::new(None, None, 1000, 1000)?,
    )
    .await?;
    let chosen = agent_query(&agent);
    let href = view_href(view);
    let src = if chosen.is_empty() {
        format!("{href}/board")
    } else {
        format!("{href}/board?agent={}", urlencode(&chosen))
    };
    let may_sync =
        Access::Master.allows(ctx.principal.role) && !state.sync.engine.psa_names().is_empty();
    let title = format!("{} board", view.name());
    let body = html! {
        div class="beacon" data-view=(view.slug()) {
            div class="beacon-header" {
                h1 { (view.name()) }
                nav class="beacon-views" aria-label="Boards" {
                    @for v in [BoardView::Helpdesk, BoardView::ProfessionalServices] {
                        a href=(view_href(v)) aria-current=[(v == view).then_some("page")] {
                            @if v == BoardView::Helpdesk { "Helpdesk" } @else { "Pro Services" }
                        }
                    }
                }
                form method="get" action=(href) class="inline" role="search" {
                    label for="agent" { "Agent" }
                    select id="agent" name="agent" data-autosubmit {
                        option value="" selected[chosen.is_empty()] { "All agents" }
                        option value="unassigned" selected[chosen == "unassigned"] { "Unassigned" }
                        @for a in &agents {
                            option value=(a.external_id) selected[chosen == a.external_id] { (a.name) }
                        }
                    }
                    noscript { button type="submit" { "Filter" } }
                }
                (status(&snapshot, false))
                div class="beacon-actions" {
                    button type="button" class="secondary" hx-get=(src) hx-target="#beacon-board" hx-swap="innerHTML" { "Refresh" }
                    @if may_sync {
                        button type="button" id="beacon-sync-button" hx-post="/beacon/sync" hx-target="#beacon-sync" hx-swap="innerHTML" { "Sync tickets" }
                    }
                    div id="beacon-sync" aria-live="polite" {}
                }
            }
            div id="beacon-board" hx-get=(src) hx-trigger={ "every " (POLL_SECONDS) "s, beacon-refresh from:body" } hx-swap="innerHTML" {
                (sections(&snapshot, Mode::Staff, &links))
            }
            dialog id="beacon-modal" class="beacon-modal" aria-label="Ticket details" {}
        }
    };
    Ok(Page::new(ctx, title)
        .crumb("Beacon", HELPDESK)
        .crumb(view.name(), href)
        .body(body))
}

/// The ticket modal's content: the board's item for that ticket (any view).
async fn ticket_modal(
    State(state): State<AppState>,
    Path((source, id)): Path<(String, String)>,
) -> AppResult<Response> {
    let snapshot = board(&state, BoardView::All, &AgentFilter::All).await?;
    let item = snapshot
        .board
        .sections
        .iter()
        .flat_map(|s| s.tickets.iter())
        .find(|t| t.source == source && t.id == id)
        .ok_or_else(|| {
            AppError::not_found(format!("ticket {id} from {source} is not on the board"))
        })?;
    let links = ticket_links(&state);
    let number = item
        .ticket_number
        .clone()
        .unwrap_or_else(|| item.id.clone());
    let created = item.created_at_str.as_deref().map(utc_text);
    let updated = item.updated_at_str.as_deref().map(utc_text);
    let body = html! {
        article class="beacon-detail" {
            header {
                h2 id="beacon-modal-title" { (number) ": " (item.subject.as_deref().unwrap_or("(no subject)")) }
            }
            dl class="beacon-facts" {
                dt { "Requester" } dd { (item.requester_name) @if let Some(e) = &item.requester_email { " (" (e) ")" } }
                dt { "Agent" } dd { (item.agent_name) }
                dt { "Priority" } dd { span class=(priority_class(item)) { (item.priority_text) } }
                dt { "Status" } dd { span class={ "sla " (item.sla_class.as_str()) } { (item.sla_text) } " · " (item.status_text) }
                dt { "Created" } dd { (created.unwrap_or_else(|| "N/A".into())) " (" (item.created_days_old) ")" }
                dt { "Last updated" } dd { (updated.unwrap_or_else(|| "N/A".into())) " (" (item.updated_friendly) ")" }
            }
            h3 { "Description" }
            div class="beacon-description" { (item.description_text.as_deref().unwrap_or("No description.")) }
            div class="actions" {
                @if let Some(href) = ticket_link(&links, item) {
                    a class="button" href=(href) target="_blank" rel="noopener noreferrer" { "Open in the PSA" }
                }
                form method="dialog" { button type="submit" class="secondary" { "Close" } }
            }
        }
    };
    Ok(html_response(body.into_string()))
}

/// Queues a ticket sync of every configured PSA (a queued one is reused) and answers
/// the progress fragment, which polls until the jobs end.
async fn start_sync(State(state): State<AppState>, ctx: PageCtx) -> AppResult<Response> {
    let providers = state.sync.engine.psa_names();
    if providers.is_empty() {
        return Err(AppError::Conflict(
            "no PSA is configured; add one in the settings first".into(),
        ));
    }
    let mut ids = Vec::new();
    for provider in &providers {
        let job = jobs::enqueue(
            &state.db,
            &NewJob {
                provider,
                kind: "tickets",
                triggered_by: "manual",
                full_sync: false,
                requested_by: Some(&ctx.principal.email),
            },
        )
        .await?;
        ids.push(job.id);
    }
    state.sync.wake();
    progress(&state, &ids).await
}

#[derive(Debug, Deserialize)]
pub struct ProgressQuery {
    /// Comma-separated job ids.
    pub jobs: String,
}

async fn sync_progress(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<ProgressQuery>,
) -> AppResult<Response> {
    let ids: Vec<i64> = q
        .jobs
        .split(',')
        .map(|s| s.trim().parse::<i64>())
        .collect::<Result<_, _>>()
        .map_err(|_| AppError::invalid("jobs", "must be comma-separated job ids"))?;
    if ids.is_empty() || ids.len() > 10 {
        return Err(AppError::invalid("jobs", "must name 1 to 10 jobs"));
    }
    progress(&state, &ids).await
}

fn job_line(job: &Job) -> String {
    let counts: Vec<String> = job
        .progress
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(collection, c)| {
                    let n = |k: &str| c.get(k).and_then(|v| v.as_i64()).unwrap_or(0);
                    format!(
                        "{collection}: {} seen, {} new, {} updated",
                        n("seen"),
                        n("created"),
                        n("updated")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut line = format!(
        "Ticket sync of {} (job {}): {}",
        job.provider, job.id, job.status
    );
    if !counts.is_empty() {
        line.push_str(&format!(" — {}", counts.join("; ")));
    }
    if let Some(e) = &job.error {
        line.push_str(&format!(" — {e}"));
    }
    line
}

/// The jobs' progress. While any runs it polls itself every 2 s; when all have ended it
/// stops and tells the board to refresh (`HX-Trigger: beacon-refresh`).
async fn progress(state: &AppState, ids: &[i64]) -> AppResult<Response> {
    let mut list = Vec::new();
    for id in ids {
        let job = jobs::get(&state.db, *id)
            .await?
            .ok_or_else(|| AppError::not_found(format!("sync job {id} not found")))?;
        list.push(job);
    }
    let running = list
        .iter()
        .any(|j| j.status == "queued" || j.status == "running");
    let ids_text = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let body = html! {
        div class="beacon-sync-progress" data-done=(if running { "false" } else { "true" })
            hx-get=[running.then(|| format!("/beacon/sync/progress?jobs={ids_text}"))]
            hx-trigger=[running.then_some("every 2s")]
            hx-swap=[running.then_some("outerHTML")] {
            @for j in &list {
                div class={ "sync-job sync-" (j.status) } { (job_line(j)) }
            }
        }
    };
    let mut resp = html_response(body.into_string());
    if !running {
        resp.headers_mut()
            .insert("hx-trigger", HeaderValue::from_static("beacon-refresh"));
    }
    Ok(resp)
}

/// `/beacon/display` → the Helpdesk display, keeping the query (the token). The
/// original's redirect lost its `/beacon` prefix behind the proxy.
async fn display_index(uri: axum::http::Uri) -> Redirect {
    match uri.query() {
        Some(q) => Redirect::to(&format!("/beacon/display/helpdesk?{q}")),
        None => Redirect::to("/beacon/display/helpdesk"),
    }
}

/// The TV page: no sidebar, large type, the board polled with the display token.
async fn display_page(
    State(state): State<AppState>,
    ctx: PublicCtx,
    Path(view): Path<String>,
    QueryParams(q): QueryParams<DisplayQuery>,
) -> AppResult<Page> {
    may_read_board(&state, ctx.principal.as_ref(), q.token.as_deref()).await?;
    let view = page_view(&view)?;
    let agent = AgentFilter::parse(q.agent.as_deref());
    let snapshot = board(&state, view, &agent).await?;
    let links = ticket_links(&state);
    let mut src = format!("/beacon/display/{}/board", view.slug());
    let mut params = Vec::new();
    if let Some(t) = q.token.as_deref().filter(|t| !t.trim().is_empty()) {
        params.push(format!("token={}", urlencode(t.trim())));
    }
    let chosen = agent_query(&agent);
    if !chosen.is_empty() {
        params.push(format!("agent={}", urlencode(&chosen)));
    }
    if !params.is_empty() {
        src = format!("{src}?{}", params.join("&"));
    }
    let body = html! {
        div class="beacon beacon-tv" data-view=(view.slug()) {
            div class="beacon-header" {
                h1 { (view.name()) }
                (status(&snapshot, false))
            }
            div id="beacon-board" hx-get=(src) hx-trigger={ "every " (POLL_SECONDS) "s" } hx-swap="innerHTML" {
                (sections(&snapshot, Mode::Display, &links))
            }
        }
    };
    Ok(Page::public(&ctx, format!("{} (TV Display)", view.name())).body(body))
}

async fn display_board(
    State(state): State<AppState>,
    ctx: PublicCtx,
    Path(view): Path<String>,
    QueryParams(q): QueryParams<DisplayQuery>,
) -> AppResult<Response> {
    may_read_board(&state, ctx.principal.as_ref(), q.token.as_deref()).await?;
    let view = page_view(&view)?;
    fragment(
        &state,
        view,
        &AgentFilter::parse(q.agent.as_deref()),
        Mode::Display,
    )
    .await
}

/// The settings form: every number as text, so a typo is a field error, not a 422
/// about the request's shape.
#[derive(Debug, Default, Deserialize)]
pub struct SettingsForm {
    urgent: String,
    high: String,
    medium: String,
    low: String,
    unknown: String,
    fr_critical: String,
    fr_warning: String,
    alert_warning: String,
    alert_danger: String,
    alert_critical: String,
    alert_emergency: String,
    #[serde(default)]
    professional_services_group: String,
}

impl SettingsForm {
    fn from_settings(s: &BeaconSettings) -> SettingsForm {
        let o = &s.update_overdue_minutes;
        let a = &s.alert_levels;
        SettingsForm {
            urgent: o.urgent.to_string(),
            high: o.high.to_string(),
            medium: o.medium.to_string(),
            low: o.low.to_string(),
            unknown: o.unknown.to_string(),
            fr_critical: s.fr_critical_minutes.to_string(),
            fr_warning: s.fr_warning_minutes.to_string(),
            alert_warning: a.warning.to_string(),
            alert_danger: a.danger.to_string(),
            alert_critical: a.critical.to_string(),
            alert_emergency: a.emergency.to_string(),
            professional_services_group: s.professional_services_group.clone().unwrap_or_default(),
        }
    }

    /// The API input, or the fields that are not whole numbers.
    fn input(&self) -> Result<SettingsInput, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut num = |key: &str, v: &str| -> i64 {
            v.trim().parse::<i64>().unwrap_or_else(|_| {
                errors.insert(key.to_string(), "must be a whole number".into());
                0
            })
        };
        let input = SettingsInput {
            update_overdue_minutes: Some(OverdueMinutes {
                urgent: num("update_overdue_minutes.urgent", &self.urgent),
                high: num("update_overdue_minutes.high", &self.high),
                medium: num("update_overdue_minutes.medium", &self.medium),
                low: num("update_overdue_minutes.low", &self.low),
                unknown: num("update_overdue_minutes.unknown", &self.unknown),
            }),
            fr_critical_minutes: Some(num("fr_critical_minutes", &self.fr_critical)),
            fr_warning_minutes: Some(num("fr_warning_minutes", &self.fr_warning)),
            alert_levels: Some(AlertLevels {
                warning: num("alert_levels.warning", &self.alert_warning),
                danger: num("alert_levels.danger", &self.alert_danger),
                critical: num("alert_levels.critical", &self.alert_critical),
                emergency: num("alert_levels.emergency", &self.alert_emergency),
            }),
            professional_services_group: Some(Some(self.professional_services_group.clone())),
        };
        if errors.is_empty() {
            Ok(input)
        } else {
            Err(errors)
        }
    }
}

async fn settings_view(
    state: &AppState,
    ctx: &PageCtx,
    form: &SettingsForm,
    errors: &FieldErrors,
    flash: Option<Flash>,
) -> AppResult<Page> {
    let current = settings::load(&state.db, settings::config_group(state)).await?;
    let tokens = display::list(&state.db).await?;
    let minutes = |name: &str, key: &str, label: &str, v: &str| {
        Field::input("number", name, label)
            .value(v)
            .error_key(key)
            .render(errors)
    };
    let mut page = Page::new(ctx, "Board settings")
        .crumb("Beacon", HELPDESK)
        .crumb("Board settings", SETTINGS);
    if let Some(f) = flash {
        page = page.flash(f);
    }
    Ok(page.body(html! {
        h1 { "Board settings" }
        div class="card" {
            (error_summary(errors))
            form method="post" action=(SETTINGS) class="stack" {
                (csrf(ctx))
                fieldset {
                    legend { "Update overdue after (minutes without an update)" }
                    (minutes("urgent", "update_overdue_minutes.urgent", "Urgent", &form.urgent))
                    (minutes("high", "update_overdue_minutes.high", "High", &form.high))
                    (minutes("medium", "update_overdue_minutes.medium", "Medium", &form.medium))
                    (minutes("low", "update_overdue_minutes.low", "Low", &form.low))
                    (minutes("unknown", "update_overdue_minutes.unknown", "Other priority", &form.unknown))
                }
                fieldset {
                    legend { "First response / due date (minutes left)" }
                    (minutes("fr_critical", "fr_critical_minutes", "Critical below", &form.fr_critical))
                    (minutes("fr_warning", "fr_warning_minutes", "Warning below", &form.fr_warning))
                }
                fieldset {
                    legend { "Header counter (active tickets)" }
                    (minutes("alert_warning", "alert_levels.warning", "Yellow from", &form.alert_warning))
                    (minutes("alert_danger", "alert_levels.danger", "Red from", &form.alert_danger))
                    (minutes("alert_critical", "alert_levels.critical", "Blinking from", &form.alert_critical))
                    (minutes("alert_emergency", "alert_levels.emergency", "Sirens from", &form.alert_emergency))
                }
                (Field::text("professional_services_group", "Professional Services group (PSA group id)")
                    .value(&form.professional_services_group)
                    .hint("Tickets of this group form the Professional Services board; empty: none.")
                    .render(errors))
                div class="actions" { button type="submit" { "Save settings" } }
            }
            p class="muted" {
                @match &current.updated_at {
                    Some(at) => { "Version " (current.version) ", changed " (utc_text(at)) " by " (current.updated_by.as_deref().unwrap_or("?")) "." }
                    None => { "The built-in defaults are in use." }
                }
            }
        }
        h2 { "Display tokens" }
        p class="muted" { "A display token lets a wall screen show the board at "
            code { "/beacon/display/helpdesk?token=…" } " without a login; it opens nothing else." }
        div class="card" {
            form method="post" action="/beacon/settings/display-tokens" class="inline" {
                (csrf(ctx))
                (Field::text("name", "Screen name").render(errors))
                button type="submit" { "Create display token" }
            }
            div class="table-wrap" {
                table {
                    thead { tr { th { "Name" } th { "Token" } th { "Created" } th { "Last used" } th { "" } } }
                    tbody {
                        @for t in &tokens {
                            tr {
                                td { (t.name) }
                                td class="mono" { (t.prefix) "…" }
                                td { (utc_text(&t.created_at)) @if let Some(by) = &t.created_by { " by " (by) } }
                                td { (t.last_used_at.as_deref().map(utc_text).unwrap_or_else(|| "never".into())) }
                                td {
                                    @if t.revoked_at.is_some() {
                                        span class="badge" { "revoked" }
                                    } @else {
                                        form method="post" action={ "/beacon/settings/display-tokens/" (t.id) "/revoke" }
                                            data-confirm="Revoke this display token? Its screens stop at their next poll." {
                                            (csrf(ctx))
                                            button type="submit" class="danger" { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @if tokens.is_empty() { p class="empty" { "No display tokens yet." } }
            }
        }
    }))
}

async fn settings_page(State(state): State<AppState>, ctx: PageCtx) -> AppResult<Page> {
    let current = settings::load(&state.db, settings::config_group(&state)).await?;
    settings_view(
        &state,
        &ctx,
        &SettingsForm::from_settings(&current),
        &FieldErrors::new(),
        None,
    )
    .await
}

async fn save_settings(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(form): Form<SettingsForm>,
) -> AppResult<Response> {
    let saved = match form.input() {
        Ok(input) => {
            settings::save(
                &state.db,
                &ctx.principal,
                settings::config_group(&state),
                &input,
            )
            .await
        }
        Err(errors) => Err(AppError::Validation(errors)),
    };
    match saved {
        Ok(_) => Ok(
            Flash::success("Board settings saved; boards use them from their next poll.")
                .redirect(SETTINGS),
        ),
        Err(e) => {
            let errors = field_errors(e)?;
            Ok(settings_view(&state, &ctx, &form, &errors, None)
                .await?
                .status(StatusCode::UNPROCESSABLE_ENTITY)
                .into_response())
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    name: String,
}

/// Creates a display token and shows it once, with the screen's URL.
async fn create_display_token(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(form): Form<TokenForm>,
) -> AppResult<Response> {
    let current = settings::load(&state.db, settings::config_group(&state)).await?;
    let values = SettingsForm::from_settings(&current);
    match display::create(&state.db, &form.name, &ctx.principal.email).await {
        Ok((_, token)) => {
            let shown = Flash::success(format!(
                "Display token created; copy it now, it is not shown again: {token} \
                 (screen URL: /beacon/display/helpdesk?token={token})"
            ));
            Ok(
                settings_view(&state, &ctx, &values, &FieldErrors::new(), Some(shown))
                    .await?
                    .into_response(),
            )
        }
        Err(e) => {
            let errors = field_errors(e)?;
            Ok(settings_view(&state, &ctx, &values, &errors, None)
                .await?
                .status(StatusCode::UNPROCESSABLE_ENTITY)
                .into_response())
        }
    }
}

async fn revoke_display_token(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    display::revoke(&state.db, id).await?;
    Ok(Flash::success("Display token revoked.").redirect(SETTINGS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_cut_at_sixty_characters() {
        assert_eq!(short_subject(&Some("short".into())), "short");
        let long = "x".repeat(61);
        assert_eq!(short_subject(&Some(long)), format!("{}...", "x".repeat(60)));
        assert_eq!(short_subject(&None), "(no subject)");
    }
}
