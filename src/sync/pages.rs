//! The Data Sync Center (admin): provider settings with write-only secrets, a button
//! per sync, live progress of running jobs (an htmx fragment that polls itself every
//! 2 s while anything is queued or running, and stops when all is done), the job
//! history with output and errors, and the schedules.
//!
//! Every action calls the same Rust functions as the JSON API (`settings::apply`,
//! `routes::trigger`, `schedule::set`), so validation and rules are the API's.

use super::jobs::{self, Job, JobQuery};
use super::schedule::{self, ScheduleInput};
use super::settings::{self, ProviderView};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::http::pagination::Page as Paging;
use crate::http::AppState;
use crate::web::forms::{csrf, field_errors, Field};
use crate::web::time::{in_zone, local, zone};
use crate::web::{Access, Flash, NavItem, Page, PageCtx, Pages, WebModule};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use chrono_tz::Tz;
use maud::{html, Markup};
use std::collections::HashMap;

pub const CENTER: &str = "/codex/admin/sync";
const PANEL: &str = "/codex/admin/sync/panel";
const RUN: &str = "/codex/admin/sync/run";

pub const MODULE: WebModule = WebModule {
    id: "sync",
    label: "Data sync",
    href: CENTER,
    access: Access::Admin,
    in_sidebar: true,
    items: &[NavItem {
        label: "Data Sync Center",
        href: CENTER,
        access: Access::Admin,
    }],
    pages,
};

fn pages() -> Pages {
    Pages::new()
        .get(CENTER, Access::Admin, center)
        .get(PANEL, Access::Admin, panel)
        .post(RUN, Access::Admin, run)
        .get("/codex/admin/sync/jobs/{id}", Access::Admin, job_page)
        .post(
            "/codex/admin/sync/providers/{side}/{provider}",
            Access::Admin,
            save_provider,
        )
        .post(
            "/codex/admin/sync/providers/{side}/{provider}/remove",
            Access::Admin,
            remove_provider,
        )
        .post(
            "/codex/admin/sync/schedules/{provider}/{kind}",
            Access::Admin,
            save_schedule,
        )
}

/// The settings a form shows for each provider: (key, label, hint). Secrets are the
/// keys `settings::is_secret` names; tables and lists stay in hivematrix.toml.
fn form_fields(
    side: &str,
    provider: &str,
) -> &'static [(&'static str, &'static str, &'static str)] {
    match (side, provider) {
        ("psa", "freshservice") => &[
            ("url", "URL", "https://acme.freshservice.com"),
            ("api_key", "API key", ""),
            (
                "account_number_field",
                "Account number field",
                "department custom field, default account_number",
            ),
            (
                "per_minute",
                "Requests per minute",
                "your plan's budget, default 200",
            ),
            (
                "webhook_secret",
                "Webhook secret",
                "what Workflow Automator sends; empty turns the webhook off",
            ),
        ],
        ("psa", "superops") => &[
            (
                "url",
                "API URL",
                "https://api.superops.ai/msp (EU: euapi.superops.ai)",
            ),
            ("api_token", "API token", ""),
            ("subdomain", "Subdomain", "sent as CustomerSubDomain"),
            (
                "account_number_field",
                "Account number field",
                "client custom-field column, default udf1text",
            ),
            (
                "custom_fields",
                "Custom-field columns",
                "column=name, e.g. udf2select=plan_selected, udf3select=contract_term",
            ),
            (
                "closed_statuses",
                "Closed statuses",
                "status names that are not active, default Resolved, Closed",
            ),
            ("per_minute", "Requests per minute", "default 800"),
        ],
        ("rmm", "datto") => &[
            ("url", "API URL", "https://merlot-api.centrastage.net"),
            ("api_key", "API key", ""),
            ("api_secret", "API secret", ""),
            (
                "account_number_variable",
                "Account number site variable",
                "default AccountNumber",
            ),
            ("per_minute", "Requests per minute", "default 600"),
        ],
        ("rmm", "superops") => &[
            ("url", "API URL", "https://api.superops.ai/msp"),
            ("api_token", "API token", ""),
            ("subdomain", "Subdomain", "sent as CustomerSubDomain"),
            (
                "account_number_field",
                "Account number field",
                "client custom-field column, default udf1text",
            ),
            (
                "per_minute",
                "Requests per minute",
                "default 800, shared with the PSA of the same account",
            ),
        ],
        _ => &[],
    }
}

fn title(side: &str, provider: &str) -> String {
    let name = match provider {
        "freshservice" => "Freshservice",
        "superops" => "SuperOps",
        "datto" => "Datto RMM",
        other => other,
    };
    format!("{name} ({})", side.to_uppercase())
}

/// Which card's form failed, with its errors (the page shows them there).
struct FormErrors<'a> {
    side: &'a str,
    provider: &'a str,
    errors: FieldErrors,
}

async fn center(State(state): State<AppState>, ctx: PageCtx) -> AppResult<Page> {
    center_view(&state, &ctx, None).await
}

async fn center_view(
    state: &AppState,
    ctx: &PageCtx,
    failed: Option<FormErrors<'_>>,
) -> AppResult<Page> {
    let views = settings::views(state).await?;
    let schedules = schedule::list(&state.db).await?;
    let psa = state.sync.engine.psa_names();
    let rmm = state.sync.engine.rmm_names();
    let tz = zone(ctx);
    let panel = jobs_panel(state, tz, None).await?;
    Ok(Page::new(ctx, "Data Sync Center")
        .crumb("Codex", "/codex")
        .crumb("Data Sync Center", CENTER)
        .body(html! {
            h1 { "Data Sync Center" }
            section class="card" aria-labelledby="run-h" {
                h2 id="run-h" { "Run a sync" }
                @if psa.is_empty() && rmm.is_empty() {
                    p class="empty" { "No PSA or RMM is configured yet: enter one under Providers below." }
                }
                @for p in &psa {
                    (run_form(ctx, p, &[
                        ("base", "Sync PSA (companies, contacts, agents)"),
                        ("tickets", "Sync tickets"),
                        ("tickets_full", "Full ticket history"),
                        ("tickets_light", "Light sync (active tickets)"),
                    ]))
                }
                @for r in &rmm {
                    (run_form(ctx, r, &[
                        ("rmm", "Sync RMM (sites, devices)"),
                        ("push_account_numbers", "Push account numbers to RMM"),
                    ]))
                }
            }
            (panel)
            section aria-labelledby="prov-h" {
                h2 id="prov-h" { "Providers" }
                p class="muted" {
                    "Values entered here overlay hivematrix.toml and reach every app node within seconds. "
                    "Secrets are never shown: leave a secret blank to keep it."
                }
                div class="cards cards-wide" {
                    @for v in &views {
                        @let errors = failed.as_ref()
                            .filter(|f| f.side == v.side && f.provider == v.provider)
                            .map(|f| &f.errors);
                        (provider_card(ctx, v, errors))
                    }
                }
            }
            section class="card" aria-labelledby="sched-h" {
                h2 id="sched-h" { "Schedules" }
                p class="muted" { "Cron expressions are in UTC; next runs are shown in your time zone." }
                @if schedules.is_empty() {
                    p class="empty" { "Schedules appear when a provider is configured." }
                } @else {
                    div class="table-wrap" {
                        table {
                            thead { tr { th { "Provider" } th { "Kind" } th { "Cron" } th { "Enabled" } th { "Next run" } th {} } }
                            tbody {
                                @for s in &schedules {
                                    @let form_id = format!("sched-{}-{}", s.provider, s.kind);
                                    tr {
                                        td { (s.provider) }
                                        td { (s.kind) }
                                        td { input form=(form_id) name="cron" value=(s.cron) aria-label={ "Cron for " (s.provider) " " (s.kind) } class="mono"; }
                                        td { input form=(form_id) type="checkbox" name="enabled" value="1" checked[s.enabled] aria-label="Enabled"; }
                                        td class="mono" { (tz_opt(tz, s.next_run_at.as_deref())) }
                                        td {
                                            form id=(form_id) method="post" action={ "/codex/admin/sync/schedules/" (s.provider) "/" (s.kind) } {
                                                (csrf(ctx))
                                                button type="submit" { "Save" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }))
}

fn run_form(ctx: &PageCtx, provider: &str, buttons: &[(&str, &str)]) -> Markup {
    html! {
        form method="post" action=(RUN) hx-post=(RUN) hx-target="#sync-jobs" hx-swap="outerHTML" class="inline" {
            (csrf(ctx))
            input type="hidden" name="provider" value=(provider);
            strong { (provider) }
            @for (kind, label) in buttons {
                button type="submit" name="kind" value=(kind) { (label) }
            }
        }
    }
}

fn provider_card(ctx: &PageCtx, v: &ProviderView, errors: Option<&FieldErrors>) -> Markup {
    let tz = zone(ctx);
    let none = FieldErrors::new();
    let errors = errors.unwrap_or(&none);
    let action = format!("/codex/admin/sync/providers/{}/{}", v.side, v.provider);
    let status = match (v.active, v.configured) {
        (true, _) => "active",
        (false, true) => "configured, not running",
        (false, false) => "not configured",
    };
    html! {
        div class="card" id={ "provider-" (v.side) "-" (v.provider) } {
            h3 { (title(&v.side, &v.provider)) " " span class="badge" { (status) } }
            p class="muted" { "Settings from: " (v.source)
                @if let Some(at) = &v.updated_at { " · changed " (in_zone(tz, at)) @if let Some(by) = &v.updated_by { " by " (by) } } }
            @if let Some(e) = errors.get("settings").or_else(|| errors.get("provider")) {
                div class="flash flash-error" role="alert" { (e) }
            }
            form method="post" action=(action) class="stack" {
                (csrf(ctx))
                @for (key, label, hint) in form_fields(&v.side, &v.provider) {
                    @if settings::is_secret(key) {
                        @let set = v.secrets.get(*key).copied().unwrap_or(false);
                        (Field::input("password", key, label)
                            .hint(if set { "set; leave blank to keep".to_string() } else { "not set".to_string() })
                            .render(errors))
                    } @else {
                        @let value = v.settings.get(*key).map(|j| match j {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        }).unwrap_or_default();
                        @let field = Field::text(key, label).value(value);
                        (if hint.is_empty() { field } else { field.hint(*hint) }.render(errors))
                    }
                }
                div class="actions" { button type="submit" { "Save " (title(&v.side, &v.provider)) } }
            }
            @if v.source.contains("database") {
                form method="post" action={ (action) "/remove" } {
                    (csrf(ctx))
                    button type="submit" class="secondary" { "Remove stored settings" }
                }
            }
        }
    }
}

/// The jobs panel: running and queued jobs with their counters, then the recent
/// history. While anything is unfinished it re-fetches itself every 2 s.
async fn jobs_panel(state: &AppState, tz: Tz, notice: Option<&str>) -> AppResult<Markup> {
    let page = Paging::new(Some(15), None, 15, 15)?;
    let (recent, _) = jobs::list(&state.db, &JobQuery::default(), page).await?;
    Ok(render_panel(&recent, notice, tz))
}

fn render_panel(recent: &[Job], notice: Option<&str>, tz: Tz) -> Markup {
    let live = recent.iter().any(|j| j.finished_at.is_none());
    html! {
        section id="sync-jobs" class="card" aria-live="polite" aria-labelledby="jobs-h"
            hx-get=[live.then_some(PANEL)] hx-trigger=[live.then_some("every 2s")] hx-swap=[live.then_some("outerHTML")] {
            h2 id="jobs-h" { "Jobs" @if live { " " span class="badge" { "running" } } }
            @if let Some(n) = notice { div class="flash flash-success" role="status" { (n) } }
            @for j in recent.iter().filter(|j| j.finished_at.is_none()) {
                div class="job-live" {
                    strong { "#" (j.id) " " (j.provider) " " (j.kind) } " — " (j.status)
                    " · " (j.requests) " requests"
                    (progress_line(j))
                }
            }
            @if recent.is_empty() {
                p class="empty" { "No sync has run yet." }
            } @else {
                div class="table-wrap" {
                    table {
                        thead { tr { th { "Job" } th { "Provider" } th { "Kind" } th { "Status" } th { "Started" } th { "Finished" } th { "Requests" } th { "Result" } } }
                        tbody {
                            @for j in recent {
                                tr {
                                    td { a href={ "/codex/admin/sync/jobs/" (j.id) } { "#" (j.id) } }
                                    td { (j.provider) }
                                    td { (j.kind) @if j.full_sync { " (full)" } }
                                    td { span class={ "badge status-" (j.status) } { (j.status) } }
                                    td class="mono" { (tz_opt(tz, j.started_at.as_deref())) }
                                    td class="mono" { (tz_opt(tz, j.finished_at.as_deref())) }
                                    td { (j.requests) }
                                    td { @if let Some(e) = &j.error { span class="error" { (e) } } @else { (progress_line(j)) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn tz_opt(tz: Tz, at: Option<&str>) -> String {
    at.map(|t| in_zone(tz, t)).unwrap_or_else(|| "—".into())
}

/// `companies 40 (3 new, 1 changed) · contacts …` from a job's progress counters.
fn progress_line(j: &Job) -> Markup {
    let Some(map) = j.progress.as_object() else {
        return html! {};
    };
    let n = |c: &serde_json::Value, k: &str| c.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
    html! {
        span class="muted" {
            @for (i, (name, c)) in map.iter().enumerate() {
                @if i > 0 { " · " }
                (name) " " (n(c, "seen"))
                @if n(c, "created") + n(c, "updated") + n(c, "missing") + n(c, "failed") > 0 {
                    " (" (n(c, "created")) " new, " (n(c, "updated")) " changed"
                    @if n(c, "missing") > 0 { ", " (n(c, "missing")) " gone" }
                    @if n(c, "failed") > 0 { ", " (n(c, "failed")) " failed" }
                    ")"
                }
            }
        }
    }
}

async fn panel(State(state): State<AppState>, ctx: PageCtx) -> AppResult<Html<String>> {
    Ok(Html(
        jobs_panel(&state, zone(&ctx), None).await?.into_string(),
    ))
}

#[derive(Debug, serde::Deserialize)]
struct RunForm {
    provider: String,
    kind: String,
}

/// A sync button: queues the job; htmx gets the refreshed panel, a plain form a redirect.
async fn run(
    State(state): State<AppState>,
    ctx: PageCtx,
    headers: HeaderMap,
    Form(form): Form<RunForm>,
) -> AppResult<Response> {
    let (kind, full, side) = match form.kind.as_str() {
        "base" => ("base", false, "PSA"),
        "tickets" => ("tickets", false, "PSA"),
        "tickets_full" => ("tickets", true, "PSA"),
        "tickets_light" => ("tickets_light", false, "PSA"),
        "rmm" => ("rmm", false, "RMM"),
        "push_account_numbers" => ("push_account_numbers", false, "RMM"),
        other => {
            return Err(AppError::invalid(
                "kind",
                format!("{other} is not a sync kind"),
            ))
        }
    };
    let configured = match side {
        "PSA" => state.sync.engine.psa_names(),
        _ => state.sync.engine.rmm_names(),
    };
    let provider = super::routes::pick_provider(&configured, Some(&form.provider), side)?;
    let (_, axum::Json(t)) =
        super::routes::trigger(&state, &ctx.principal, provider, kind, full).await?;
    if headers.contains_key("hx-request") {
        let panel = jobs_panel(&state, zone(&ctx), Some(&t.message)).await?;
        return Ok(Html(panel.into_string()).into_response());
    }
    Ok(Flash::success(t.message).redirect(CENTER))
}

async fn job_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
) -> AppResult<Page> {
    let j = jobs::get(&state.db, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no sync job {id}")))?;
    let n = |c: &serde_json::Value, k: &str| c.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
    let empty = serde_json::Map::new();
    let collections = j.progress.as_object().unwrap_or(&empty);
    Ok(Page::new(&ctx, format!("Sync job {id}"))
        .crumb("Data Sync Center", CENTER)
        .crumb(format!("Job {id}"), format!("/codex/admin/sync/jobs/{id}"))
        .body(html! {
            h1 { "Sync job " (id) ": " (j.provider) " " (j.kind) @if j.full_sync { " (full)" } }
            div class="card" {
                p { span class={ "badge status-" (j.status) } { (j.status) }
                    " · triggered by " (j.triggered_by)
                    @if let Some(by) = &j.requested_by { " (" (by) ")" }
                    @if let Some(node) = &j.node_id { " · node " span class="mono" { (node) } } }
                p class="mono" { "queued " (local(&ctx, &j.created_at))
                    @if let Some(s) = &j.started_at { " · started " (local(&ctx, s)) }
                    @if let Some(f) = &j.finished_at { " · finished " (local(&ctx, f)) } }
                p { (j.requests) " requests, " (j.throttled) " throttled, " (j.retries) " retries" }
                @if let Some(e) = &j.error { div class="flash flash-error" role="alert" { (e) } }
            }
            @if !collections.is_empty() {
                div class="table-wrap" {
                    table {
                        thead { tr { th { "Collection" } th { "Seen" } th { "New" } th { "Changed" } th { "Unchanged" } th { "Gone upstream" } th { "Skipped" } th { "Failed" } } }
                        tbody {
                            @for (name, c) in collections {
                                tr { td { (name) } td { (n(c, "seen")) } td { (n(c, "created")) } td { (n(c, "updated")) }
                                     td { (n(c, "unchanged")) } td { (n(c, "missing")) } td { (n(c, "skipped")) } td { (n(c, "failed")) } }
                            }
                        }
                    }
                }
            }
            @if let Some(out) = &j.output {
                h2 { "Output" }
                pre class="card" { (out) }
            }
        }))
}

/// A provider form: blank secrets are kept, blank plain values drop the stored one.
async fn save_provider(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path((side, provider)): Path<(String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> AppResult<Response> {
    let mut input = serde_json::Map::new();
    for (key, _, _) in form_fields(&side, &provider) {
        let value = form.get(*key).map(|v| v.trim()).unwrap_or("");
        if settings::is_secret(key) {
            if !value.is_empty() {
                input.insert(key.to_string(), value.into());
            }
        } else if value.is_empty() {
            input.insert(key.to_string(), serde_json::Value::Null);
        } else if let Some(n) = value.parse::<i64>().ok().filter(|_| *key == "per_minute") {
            input.insert(key.to_string(), n.into());
        } else {
            input.insert(key.to_string(), value.into());
        }
    }
    match settings::apply(&state, &ctx.principal, &side, &provider, &input).await {
        Ok(_) => Ok(
            Flash::success(format!("{} saved.", title(&side, &provider)))
                .redirect(&format!("{CENTER}#provider-{side}-{provider}")),
        ),
        Err(e) => {
            let errors = field_errors(e)?;
            let failed = FormErrors {
                side: &side,
                provider: &provider,
                errors,
            };
            Ok(center_view(&state, &ctx, Some(failed))
                .await?
                .status(StatusCode::UNPROCESSABLE_ENTITY)
                .into_response())
        }
    }
}

async fn remove_provider(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path((side, provider)): Path<(String, String)>,
) -> AppResult<Response> {
    settings::remove(&state, &ctx.principal, &side, &provider).await?;
    Ok(Flash::success(format!(
        "Stored settings of {} removed.",
        title(&side, &provider)
    ))
    .redirect(CENTER))
}

#[derive(Debug, serde::Deserialize)]
struct ScheduleForm {
    cron: String,
    enabled: Option<String>,
}

async fn save_schedule(
    State(state): State<AppState>,
    Path((provider, kind)): Path<(String, String)>,
    Form(form): Form<ScheduleForm>,
) -> AppResult<Response> {
    let input = ScheduleInput {
        cron: Some(form.cron),
        enabled: Some(form.enabled.is_some()),
    };
    match schedule::set(&state, &provider, &kind, &input).await {
        Ok(s) => Ok(Flash::success(format!(
            "Schedule of {provider} {kind} saved: {}{}.",
            s.cron,
            if s.enabled { "" } else { " (disabled)" }
        ))
        .redirect(CENTER)),
        Err(AppError::Validation(errors)) => {
            let msg = errors
                .values()
                .next()
                .cloned()
                .unwrap_or_else(|| "is not valid".into());
            Ok(Flash::error(format!(
                "Schedule of {provider} {kind} not saved: cron {msg}."
            ))
            .redirect(CENTER))
        }
        Err(e) => Err(e),
    }
}
