//! The Ledger screens: the month's dashboard (every company, totals, a 12-month revenue
//! chart drawn server-side as SVG, downloads, "Accept all" with its progress), a
//! company's bill (lines, errors, accept, the override editors, orphaned overrides)
//! and the archive (search, detail, void, re-issue).
//!
//! Every action calls the same Rust functions as the JSON API (`http::dashboard`,
//! `http::load_one`, `snapshots::accept`/`void`, `store::patch_client_override`,
//! `put_entity_override`, `save_manual`, `save_line_item`, `jobs::enqueue`), so rules
//! and validation are the API's. Reads are for staff (as `GET /ledger/api/billing/…`);
//! writes, downloads and the archive for billing and admin.

use super::http::{self as api, period_of};
use super::invoice;
use super::jobs;
use super::model::{BillingPeriod, Line, Source};
use super::snapshots::{self, SearchQuery};
use super::store::{self, EntityKind, ManualKind};
use crate::auth::Role;
use crate::error::{AppError, AppResult, FieldErrors};
use crate::http::pagination::Page as Paging;
use crate::http::AppState;
use crate::web::forms::{csrf, field_errors, Field};
use crate::web::table::pager;
use crate::web::{Access, Flash, NavItem, Page, PageCtx, Pages, WebModule};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use maud::{html, Markup};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

pub const DASHBOARD: &str = "/ledger";
pub const ARCHIVE: &str = "/ledger/archive";

pub const MODULE: WebModule = WebModule {
    id: "ledger",
    label: "Ledger",
    href: DASHBOARD,
    access: Access::Staff,
    in_sidebar: true,
    items: &[
        NavItem {
            label: "Billing dashboard",
            href: DASHBOARD,
            access: Access::Staff,
        },
        NavItem {
            label: "Invoice archive",
            href: ARCHIVE,
            access: Access::Billing,
        },
    ],
    pages,
};

fn pages() -> Pages {
    Pages::new()
        .get(DASHBOARD, Access::Staff, dashboard)
        .post("/ledger/accept-all", Access::Billing, accept_all)
        .get("/ledger/jobs/{id}/progress", Access::Billing, job_progress)
        .get("/ledger/quickbooks", Access::Billing, quickbooks_zip)
        .get("/ledger/client/{account}", Access::Staff, bill_page)
        .post("/ledger/client/{account}/accept", Access::Billing, accept)
        .post(
            "/ledger/client/{account}/overrides",
            Access::Billing,
            save_client_override,
        )
        .post(
            "/ledger/client/{account}/entity-override",
            Access::Billing,
            save_entity_override,
        )
        .post(
            "/ledger/client/{account}/manual/{kind}",
            Access::Billing,
            add_manual,
        )
        .post(
            "/ledger/client/{account}/line-items",
            Access::Billing,
            add_line_item,
        )
        .post("/ledger/client/{account}/remove", Access::Billing, remove)
        .get(ARCHIVE, Access::Billing, archive)
        .get("/ledger/archive/{id}", Access::Billing, snapshot_page)
        .post("/ledger/archive/{id}/void", Access::Billing, void)
        .post("/ledger/archive/{id}/reissue", Access::Billing, reissue)
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct MonthQuery {
    /// `YYYY-MM`
    month: Option<String>,
    job: Option<i64>,
}

/// `YYYY-MM` (or nothing: the current month) as a billing period.
fn parse_month(m: Option<&str>) -> AppResult<BillingPeriod> {
    match m.map(str::trim).filter(|m| !m.is_empty()) {
        None => period_of(None, None),
        Some(m) => {
            let bad = || AppError::invalid("month", "must be YYYY-MM");
            let (y, mo) = m.split_once('-').ok_or_else(bad)?;
            let y: i32 = y.parse().map_err(|_| bad())?;
            let mo: u32 = mo.parse().map_err(|_| bad())?;
            period_of(Some(y), Some(mo))
        }
    }
}

fn prev(p: BillingPeriod) -> BillingPeriod {
    if p.month == 1 {
        BillingPeriod::new(p.year - 1, 12).unwrap_or(p)
    } else {
        BillingPeriod::new(p.year, p.month - 1).unwrap_or(p)
    }
}

fn ym(p: BillingPeriod) -> String {
    format!("year={}&month={}", p.year, p.month)
}

fn bill_href(acct: &str, p: BillingPeriod) -> String {
    format!("/ledger/client/{}?month={p}", urlencoding(acct))
}

/// Percent-encodes a path segment (account numbers are digits, but never trust that).
fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn can_write(ctx: &PageCtx) -> bool {
    matches!(ctx.principal.role, Role::Admin | Role::Billing)
}

fn source_label(s: Source) -> &'static str {
    match s {
        Source::Plan => "plan",
        Source::ClientOverride => "client override",
        Source::AssetOverride => "asset override",
        Source::UserOverride => "user override",
        Source::Manual => "manual",
        Source::CustomItem => "custom item",
        Source::TimeEntry => "time entries",
    }
}

/// Validation errors are shown on the form; other client errors (409, 404, 422 that is
/// not about a field) come back as a flash on the page; server errors are passed on.
fn flash_or_fail(e: AppError, to: &str) -> AppResult<Response> {
    if e.status().is_client_error() {
        let msg = match &e {
            AppError::Conflict(m) | AppError::NotFound(m) | AppError::BadRequest(m) => m.clone(),
            other => other.to_string(),
        };
        Ok(Flash::error(msg).redirect(to))
    } else {
        Err(e)
    }
}

fn money_cell(s: &str) -> Markup {
    html! { td class="num" { (s) } }
}

// ---------------------------------------------------------------------------
// Dashboard
// ---------------------------------------------------------------------------

async fn dashboard(
    State(state): State<AppState>,
    ctx: PageCtx,
    Query(q): Query<MonthQuery>,
) -> AppResult<Page> {
    let period = parse_month(q.month.as_deref())?;
    let d = api::dashboard(&state.db, period).await?;
    let job = match q.job {
        Some(id) if can_write(&ctx) => jobs::get(&state.db, id).await?,
        _ => None,
    };
    let write = can_write(&ctx);
    let max = d
        .revenue_history
        .iter()
        .filter_map(|r| r.total.parse::<Decimal>().ok())
        .max()
        .unwrap_or(Decimal::ZERO);
    Ok(Page::new(&ctx, format!("Billing {period}"))
        .crumb("Ledger", DASHBOARD)
        .body(html! {
            h1 { "Billing for " (period) }
            form method="get" action=(DASHBOARD) class="inline" {
                (Field::input("month", "month", "Month").value(period.to_string()).render(&FieldErrors::new()))
                button type="submit" { "Show" }
                a href={ (DASHBOARD) "?month=" (prev(period)) } { "← " (prev(period)) }
                @if let Some(n) = period.next() { a href={ (DASHBOARD) "?month=" (n) } { (n) " →" } }
            }
            div class="cards" {
                div class="card" { h3 { "Total" } p class="num" id="total-revenue" { (d.total_revenue) } }
                div class="card" { h3 { "Companies" } p { (d.company_count) } }
                div class="card" { h3 { "Cannot be billed" } p { (d.error_count) } }
                div class="card" { h3 { "Accepted" } p { (d.archived_count) " of " (d.company_count) } }
            }
            @if write {
                div class="actions" {
                    a class="button" href={ "/ledger/invoices/bulk/download?" (ym(period)) } { "Download invoice ZIP" }
                    a class="button" href={ "/ledger/quickbooks?month=" (period) } { "Download QuickBooks ZIP" }
                    form method="post" action="/ledger/accept-all" class="inline" {
                        (csrf(&ctx))
                        input type="hidden" name="month" value=(period.to_string());
                        button type="submit" { "Accept all" }
                    }
                    a href=(ARCHIVE) { "Invoice archive" }
                }
            }
            @if let Some(j) = &job { (job_panel(j)) }
            section class="card" aria-labelledby="rev-h" {
                h2 id="rev-h" { "Issued revenue, last 12 months" }
                (revenue_chart(&d.revenue_history, max))
            }
            p class="muted" { "Billing plans, their features and options are managed in Codex: "
                a href="/codex/billing-plans" { "Billing plans" } "." }
            div class="table-wrap" {
                table {
                    thead { tr {
                        th { "Company" } th { "Account" } th { "Plan" } th { "Users" } th { "Assets" }
                        th { "Hours" } th { "Total" } th { "Change" } th { "Status" }
                    } }
                    tbody {
                        @for r in &d.companies {
                            tr {
                                td { a href=(bill_href(&r.account_number, period)) { (r.name) } }
                                td class="mono" { (r.account_number) }
                                td { (r.billing_plan.as_deref().unwrap_or("—")) }
                                td class="num" { (r.users) }
                                td class="num" { (r.workstations + r.servers + r.vms + r.switches + r.firewalls) }
                                (money_cell(&r.hours))
                                (money_cell(&r.total_bill))
                                td class="num" { (r.change.as_deref().unwrap_or("—")) }
                                td {
                                    @if let Some(e) = &r.error { span class="error" { (e) } }
                                    @else if r.archived { span class="badge" { "accepted" } }
                                    @else { span class="muted" { "open" } }
                                    @if r.orphaned_overrides > 0 { " " span class="badge" { (r.orphaned_overrides) " orphaned" } }
                                }
                            }
                        }
                    }
                    tfoot { tr {
                        th { "Total" } td {} td {}
                        td class="num" { (d.companies.iter().map(|r| r.users).sum::<u32>()) }
                        td class="num" { (d.companies.iter().map(|r| r.workstations + r.servers + r.vms + r.switches + r.firewalls).sum::<u32>()) }
                        td {} td class="num" { strong { (d.total_revenue) } } td {} td {}
                    } }
                }
            }
        }))
}

/// Bars of issued revenue per month, drawn on the server (no script, no library).
fn revenue_chart(points: &[api::RevenuePoint], max: Decimal) -> Markup {
    let (w, h, bar) = (600i64, 160i64, 50i64);
    let height = |t: &str| -> i64 {
        let v = t.parse::<Decimal>().unwrap_or(Decimal::ZERO);
        if max <= Decimal::ZERO {
            0
        } else {
            use rust_decimal::prelude::ToPrimitive;
            (v / max * Decimal::from(h - 30))
                .round()
                .to_i64()
                .unwrap_or(0)
        }
    };
    html! {
        svg class="chart" viewBox={ "0 0 " (w) " " (h) } role="img" aria-label="Issued revenue per month" {
            @for (i, p) in points.iter().enumerate() {
                @let bh = height(&p.total);
                @let x = i as i64 * bar;
                g {
                    title { (p.period) ": " (p.total) " (" (p.invoices) " invoices)" }
                    rect x=(x + 5) y=(h - 15 - bh) width=(bar - 10) height=(bh) fill="currentColor" {}
                    text x=(x + bar / 2) y=(h - 2) text-anchor="middle" font-size="10" fill="currentColor" { (&p.period[2..]) }
                }
            }
        }
    }
}

fn job_panel(j: &jobs::Job) -> Markup {
    let live = j.finished_at.is_none();
    let href = format!("/ledger/jobs/{}/progress", j.id);
    html! {
        section id="ledger-job" class="card" aria-live="polite"
            hx-get=[live.then_some(href.as_str())] hx-trigger=[live.then_some("every 2s")] hx-swap=[live.then_some("outerHTML")] {
            h2 { "Accept all: job " (j.id) " " span class={ "badge status-" (j.status) } { (j.status) } }
            p { (j.accepted) " accepted, " (j.skipped) " skipped, " (j.failed) " failed of " (j.total_companies) }
            @if let Some(e) = &j.error { div class="flash flash-error" role="alert" { (e) } }
            @let problems: Vec<_> = j.results.iter().filter(|r| r.status != "accepted").collect();
            @if !problems.is_empty() {
                ul { @for r in problems { li { (r.company_name) " (" (r.account_number) "): " (r.status)
                    @if let Some(m) = &r.message { " — " (m) } } } }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
struct MonthForm {
    month: Option<String>,
}

async fn accept_all(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(f): Form<MonthForm>,
) -> AppResult<Response> {
    let period = parse_month(f.month.as_deref())?;
    let job = jobs::enqueue(
        &state.db,
        "manual",
        period,
        None,
        Some(&ctx.principal.email),
    )
    .await?;
    let db = state.db.clone();
    tokio::spawn(async move {
        if let Err(e) = jobs::run_queued(&db).await {
            tracing::error!(error = %e, "ledger jobs failed");
        }
    });
    Ok(Flash::success(format!(
        "Accepting every bill of {period} (job {}).",
        job.id
    ))
    .redirect(&format!("{DASHBOARD}?month={period}&job={}", job.id)))
}

async fn job_progress(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<Html<String>> {
    let j = jobs::get(&state.db, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("job {id} not found")))?;
    Ok(Html(job_panel(&j).into_string()))
}

async fn quickbooks_zip(
    State(state): State<AppState>,
    ctx: PageCtx,
    Query(q): Query<MonthQuery>,
) -> AppResult<Response> {
    let p = parse_month(q.month.as_deref())?;
    api::export_all_bills(
        State(state),
        crate::auth::BillingWriter(ctx.principal),
        crate::http::extract::OptionalJsonBody(api::PeriodBody {
            year: Some(p.year),
            month: Some(p.month),
        }),
    )
    .await
}

// ---------------------------------------------------------------------------
// A company's bill
// ---------------------------------------------------------------------------

/// Which form failed (its key) and why, plus what the user typed.
#[derive(Default)]
struct Failed {
    form: String,
    errors: FieldErrors,
    input: HashMap<String, String>,
}

impl Failed {
    fn errors_for(&self, form: &str) -> FieldErrors {
        if self.form == form {
            self.errors.clone()
        } else {
            FieldErrors::new()
        }
    }
    fn value(&self, form: &str, key: &str) -> Option<&str> {
        (self.form == form)
            .then(|| self.input.get(key).map(String::as_str))
            .flatten()
    }
}

async fn bill_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(acct): Path<String>,
    Query(q): Query<MonthQuery>,
) -> AppResult<Page> {
    let period = parse_month(q.month.as_deref())?;
    bill_view(&state, &ctx, &acct, period, &Failed::default()).await
}

const ASSET_TYPES: [&str; 7] = [
    "Workstation",
    "Server",
    "VM",
    "Switch",
    "Firewall",
    "No Charge",
    "Custom",
];
const USER_TYPES: [&str; 3] = ["Paid", "No Charge", "Custom"];

async fn bill_view(
    state: &AppState,
    ctx: &PageCtx,
    acct: &str,
    period: BillingPeriod,
    failed: &Failed,
) -> AppResult<Page> {
    let l = api::load_one(&state.db, acct, period).await?;
    let bill = l.bill();
    let number = invoice::invoice_number(&bill.account_number, period);
    let archived = snapshots::active(&state.db, &number).await?;
    let cid = l.company.id;
    let client = store::client_override(&state.db, cid).await?;
    let manual_assets = store::manual_rows(&state.db, ManualKind::Asset, Some(&[cid])).await?;
    let manual_users = store::manual_rows(&state.db, ManualKind::User, Some(&[cid])).await?;
    let items = store::line_items(&state.db, Some(&[cid])).await?;
    let write = can_write(ctx);
    let base = format!("/ledger/client/{}", urlencoding(acct));
    let here = format!("{base}?month={period}");
    let is_entity = |l: &&Line, cat: super::model::LineCategory| {
        l.category == cat && l.source != Source::Manual && l.ref_id.is_some()
    };
    let assets: Vec<&Line> = bill
        .lines
        .iter()
        .filter(|x| is_entity(x, super::model::LineCategory::Asset))
        .collect();
    let users: Vec<&Line> = bill
        .lines
        .iter()
        .filter(|x| is_entity(x, super::model::LineCategory::User))
        .collect();
    let status = if failed.form.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let month_field = html! { input type="hidden" name="month" value=(period.to_string()); };
    Ok(Page::new(ctx, format!("{} {period}", bill.company_name))
        .crumb("Ledger", format!("{DASHBOARD}?month={period}"))
        .crumb(bill.company_name.clone(), here.clone())
        .status(status)
        .body(html! {
            h1 { (bill.company_name) " — " (period) }
            p class="muted" { "Account " span class="mono" { (bill.account_number) } " · invoice " span class="mono" { (number) }
                @if let Some(p) = &bill.plan { " · plan " (p.plan_name) } }
            div class="actions" {
                a href={ (base) "?month=" (prev(period)) } { "← " (prev(period)) }
                @if let Some(n) = period.next() { a href={ (base) "?month=" (n) } { (n) " →" } }
                @if write && bill.error.is_none() {
                    a class="button" href={ "/ledger/invoice/" (urlencoding(acct)) "/download?" (ym(period)) } { "Download CSV" }
                }
            }
            @if let Some(e) = &bill.error { div class="flash flash-error" role="alert" id="bill-error" { (e) } }
            @for w in &bill.warnings { div class="flash flash-warning" role="status" { (w) } }
            div class="table-wrap" {
                table {
                    thead { tr { th { "Item" } th { "Type" } th { "Quantity" } th { "Rate" } th { "Amount" } th { "Source" } th { "Rule" } } }
                    tbody {
                        @for line in &bill.lines {
                            tr {
                                td { (line.name) @if !line.description.is_empty() { br; span class="muted" { (line.description) } } }
                                td { (line.kind) }
                                td class="num" { (line.quantity) }
                                td class="num" { (line.rate) }
                                td class="num" { (line.amount) }
                                td { (source_label(line.source)) }
                                td class="muted" { (line.rule) }
                            }
                        }
                    }
                    tfoot { tr { th colspan="4" { "Total" } td class="num" { strong id="bill-total" { (bill.totals.total) } } td {} td {} } }
                }
            }
            section class="card" aria-labelledby="acc-h" {
                h2 id="acc-h" { "Acceptance" }
                @if let Some(s) = &archived {
                    p { "Accepted as " a href={ "/ledger/archive/" (s.id) } { (s.invoice_number) " rev " (s.revision) }
                        " by " (s.created_by) " at " (s.created_at) " — total " (s.total_amount) }
                } @else if write && bill.error.is_none() {
                    form method="post" action={ (base) "/accept" } class="stack" {
                        (csrf(ctx)) (month_field)
                        (Field::textarea("notes", "Notes").value(failed.value("accept", "notes").unwrap_or("")).render(&failed.errors_for("accept")))
                        button type="submit" { "Accept bill" }
                    }
                } @else {
                    p class="muted" { "Not accepted." }
                }
            }
            @if !l.orphans.is_empty() {
                section class="card" aria-labelledby="orph-h" {
                    h2 id="orph-h" { "Orphaned overrides (not applied)" }
                    ul { @for o in &l.orphans { li { (o.kind) " " (o.id) ": " (o.billing_type)
                        @if let Some(c) = &o.custom_cost { " " (c) } " — " (o.reason)
                        @if write { " "
                            form method="post" action={ (base) "/remove" } class="inline" {
                                (csrf(ctx)) (month_field)
                                input type="hidden" name="kind" value={ (o.kind) "-override" };
                                input type="hidden" name="id" value=(o.id);
                                button type="submit" class="secondary" { "Remove" }
                            }
                        } } } }
                }
            }
            @if write {
                section class="card" aria-labelledby="rates-h" id="client-overrides" {
                    h2 id="rates-h" { "Client rates, plan and term" }
                    p class="muted" { "Empty = the plan's value." }
                    @let errs = failed.errors_for("client");
                    form method="post" action={ (base) "/overrides" } class="stack" {
                        (csrf(ctx)) (month_field)
                        @for (key, cur) in [("billing_plan", &client.billing_plan), ("contract_term", &client.contract_term), ("support_level", &client.support_level)] {
                            (Field::text(key, key).value(failed.value("client", key).or(cur.as_deref()).unwrap_or("")).render(&errs))
                        }
                        @for key in store::RATE_FIELDS {
                            @let cur = client.rates.get(key).cloned().flatten();
                            (Field::text(key, key).value(failed.value("client", key).or(cur.as_deref()).unwrap_or("")).render(&errs))
                        }
                        button type="submit" { "Save client overrides" }
                    }
                }
                section class="card" aria-labelledby="ent-h" {
                    h2 id="ent-h" { "Per-asset and per-user billing" }
                    @if assets.is_empty() && users.is_empty() { p class="empty" { "No assets or users on this bill." } }
                    @for (kind, lines, types) in [("asset", &assets, &ASSET_TYPES[..]), ("user", &users, &USER_TYPES[..])] {
                        @for line in lines.iter() {
                            @let id = line.ref_id.unwrap_or_default();
                            @let key = format!("{kind}-{id}");
                            @let errs = failed.errors_for(&key);
                            form method="post" action={ (base) "/entity-override" } class="inline" id={ "ov-" (key) } {
                                (csrf(ctx)) (month_field)
                                input type="hidden" name="kind" value=(kind);
                                input type="hidden" name="id" value=(id);
                                strong { (line.name) } " (" (line.kind) ")"
                                select name="billing_type" aria-label={ "Billing type of " (line.name) } {
                                    @for t in types { option value=(t) selected[*t == line.kind] { (t) } }
                                }
                                input name="custom_cost" aria-label={ "Custom cost of " (line.name) } placeholder="custom cost"
                                    value=(failed.value(&key, "custom_cost").unwrap_or(""));
                                button type="submit" { "Override" }
                                @for (f, m) in &errs { span class="error" role="alert" { (f) " " (m) } }
                            }
                            @if matches!(line.source, Source::AssetOverride | Source::UserOverride) {
                                form method="post" action={ (base) "/remove" } class="inline" {
                                    (csrf(ctx)) (month_field)
                                    input type="hidden" name="kind" value={ (kind) "-override" };
                                    input type="hidden" name="id" value=(id);
                                    button type="submit" class="secondary" aria-label={ "Clear the override of " (line.name) } { "Clear override" }
                                }
                            }
                        }
                    }
                }
                @for (kind, label, name_key, rows, types) in [
                    ("assets", "Manual assets", "hostname", &manual_assets, &ASSET_TYPES[..]),
                    ("users", "Manual users", "full_name", &manual_users, &USER_TYPES[..]),
                ] {
                    section class="card" id={ "manual-" (kind) } {
                        h2 { (label) }
                        @if !rows.is_empty() {
                            ul { @for r in rows.iter() { li { (r.label) " — " (r.billing_type)
                                @if let Some(c) = &r.custom_cost { " " (c) }
                                @if let Some(n) = &r.notes { " · " span class="muted" { (n) } } " "
                                form method="post" action={ (base) "/remove" } class="inline" {
                                    (csrf(ctx)) (month_field)
                                    input type="hidden" name="kind" value={ "manual-" (kind) };
                                    input type="hidden" name="id" value=(r.id);
                                    button type="submit" class="secondary" { "Remove" }
                                }
                            } } }
                        }
                        @let form = format!("manual-{kind}");
                        @let errs = failed.errors_for(&form);
                        form method="post" action={ (base) "/manual/" (kind) } class="inline" {
                            (csrf(ctx)) (month_field)
                            (Field::text(name_key, if kind == "assets" { "Hostname" } else { "Full name" }).value(failed.value(&form, name_key).unwrap_or("")).render(&errs))
                            (Field::select("billing_type", "Billing type", types.iter().map(|t| (*t, *t))).value(failed.value(&form, "billing_type").unwrap_or(types[0])).render(&errs))
                            (Field::text("custom_cost", "Custom cost").value(failed.value(&form, "custom_cost").unwrap_or("")).render(&errs))
                            (Field::text("notes", "Notes").value(failed.value(&form, "notes").unwrap_or("")).render(&errs))
                            button type="submit" { "Add" }
                        }
                    }
                }
                section class="card" id="line-items" {
                    h2 { "Custom line items" }
                    @if !items.is_empty() {
                        ul { @for i in &items { li { (i.name) " — " (i.cadence) " " (i.fee)
                            @if let Some(d) = &i.description { " · " span class="muted" { (d) } } " "
                            form method="post" action={ (base) "/remove" } class="inline" {
                                (csrf(ctx)) (month_field)
                                input type="hidden" name="kind" value="line-item";
                                input type="hidden" name="id" value=(i.id);
                                button type="submit" class="secondary" { "Remove" }
                            }
                        } } }
                    }
                    @let errs = failed.errors_for("line-item");
                    @let v = |k: &str| failed.value("line-item", k).unwrap_or("").to_string();
                    form method="post" action={ (base) "/line-items" } class="inline" {
                        (csrf(ctx)) (month_field)
                        (Field::text("name", "Name").value(v("name")).render(&errs))
                        (Field::text("description", "Description").value(v("description")).render(&errs))
                        (Field::select("cadence", "Cadence", [("monthly", "Monthly"), ("one_off", "One-off"), ("yearly", "Yearly")]).value(v("cadence")).render(&errs))
                        (Field::text("fee", "Fee").value(v("fee")).error_key("monthly_fee").error_key("one_off_fee").error_key("yearly_fee").render(&errs))
                        (Field::text("one_off_year", "One-off year").value(v("one_off_year")).render(&errs))
                        (Field::text("one_off_month", "One-off month").value(v("one_off_month")).render(&errs))
                        (Field::text("yearly_bill_month", "Yearly bill month").value(v("yearly_bill_month")).render(&errs))
                        button type="submit" { "Add line item" }
                    }
                }
            }
        }))
}

type FormMap = HashMap<String, String>;

fn form_period(f: &FormMap) -> AppResult<BillingPeriod> {
    parse_month(f.get("month").map(String::as_str))
}

/// Re-renders the bill with the failed form's errors (422), or passes the error on.
async fn fail(
    state: &AppState,
    ctx: &PageCtx,
    acct: &str,
    period: BillingPeriod,
    form: &str,
    e: AppError,
    input: FormMap,
) -> AppResult<Response> {
    let here = bill_href(acct, period);
    match field_errors(e) {
        Ok(errors) => {
            let failed = Failed {
                form: form.into(),
                errors,
                input,
            };
            Ok(bill_view(state, ctx, acct, period, &failed)
                .await?
                .into_response())
        }
        Err(e) => flash_or_fail(e, &here),
    }
}

async fn accept(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(acct): Path<String>,
    Form(f): Form<FormMap>,
) -> AppResult<Response> {
    let period = form_period(&f)?;
    let notes = f.get("notes").map(|n| n.trim()).unwrap_or("");
    let notes = match crate::validate::text(notes, 2000) {
        Ok(n) if !n.is_empty() => Some(n),
        Ok(_) => None,
        Err(m) => {
            let e = AppError::invalid("notes", m);
            return fail(&state, &ctx, &acct, period, "accept", e, f).await;
        }
    };
    let l = api::load_one(&state.db, &acct, period).await?;
    match snapshots::accept(&state.db, &ctx.principal, &l, notes).await {
        Ok(s) => Ok(Flash::success(format!(
            "Bill accepted and archived as {} (revision {}).",
            s.invoice_number, s.revision
        ))
        .redirect(&bill_href(&acct, period))),
        Err(e) => fail(&state, &ctx, &acct, period, "accept", e, f).await,
    }
}

async fn save_client_override(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(acct): Path<String>,
    Form(f): Form<FormMap>,
) -> AppResult<Response> {
    let period = form_period(&f)?;
    let c = api::live_company(&state.db, &acct).await?;
    let mut body = Map::new();
    for key in ["billing_plan", "contract_term", "support_level"]
        .into_iter()
        .chain(store::RATE_FIELDS)
    {
        if let Some(v) = f.get(key) {
            body.insert(key.into(), Value::String(v.trim().to_string()));
        }
    }
    match store::patch_client_override(&state.db, &ctx.principal, c.id, &body).await {
        Ok(_) => Ok(Flash::success("Client overrides saved.")
            .redirect(&format!("{}#client-overrides", bill_href(&acct, period)))),
        Err(e) => fail(&state, &ctx, &acct, period, "client", e, f).await,
    }
}

fn opt_string(f: &FormMap, k: &str) -> Option<String> {
    f.get(k)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn opt_value(f: &FormMap, k: &str) -> Option<Value> {
    opt_string(f, k).map(Value::String)
}

async fn save_entity_override(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(acct): Path<String>,
    Form(f): Form<FormMap>,
) -> AppResult<Response> {
    let period = form_period(&f)?;
    let c = api::live_company(&state.db, &acct).await?;
    let kind = match f.get("kind").map(String::as_str) {
        Some("asset") => EntityKind::Asset,
        Some("user") => EntityKind::User,
        _ => return Err(AppError::invalid("kind", "must be asset or user")),
    };
    let id: i64 = f
        .get("id")
        .and_then(|i| i.parse().ok())
        .ok_or_else(|| AppError::invalid("id", "must be a number"))?;
    let form = format!("{}-{id}", f.get("kind").map(String::as_str).unwrap_or(""));
    let input = store::OverrideInput {
        billing_type: opt_string(&f, "billing_type"),
        custom_cost: opt_value(&f, "custom_cost"),
    };
    match store::put_entity_override(&state.db, &ctx.principal, kind, id, c.id, &input).await {
        Ok(_) => Ok(Flash::success("Override saved.").redirect(&bill_href(&acct, period))),
        Err(e) => fail(&state, &ctx, &acct, period, &form, e, f).await,
    }
}

async fn add_manual(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path((acct, kind)): Path<(String, String)>,
    Form(f): Form<FormMap>,
) -> AppResult<Response> {
    let period = form_period(&f)?;
    let c = api::live_company(&state.db, &acct).await?;
    let mk = match kind.as_str() {
        "assets" => ManualKind::Asset,
        "users" => ManualKind::User,
        _ => return Err(AppError::not_found("no such manual list")),
    };
    let input = store::ManualInput {
        hostname: (mk == ManualKind::Asset)
            .then(|| opt_string(&f, "hostname"))
            .flatten(),
        full_name: (mk == ManualKind::User)
            .then(|| opt_string(&f, "full_name"))
            .flatten(),
        billing_type: opt_string(&f, "billing_type"),
        custom_cost: opt_value(&f, "custom_cost"),
        notes: opt_string(&f, "notes"),
    };
    let form = format!("manual-{kind}");
    match store::save_manual(&state.db, &ctx.principal, mk, c.id, None, &input).await {
        Ok(r) => Ok(Flash::success(format!("{} added.", r.label))
            .redirect(&format!("{}#{form}", bill_href(&acct, period)))),
        Err(e) => fail(&state, &ctx, &acct, period, &form, e, f).await,
    }
}

async fn add_line_item(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(acct): Path<String>,
    Form(f): Form<FormMap>,
) -> AppResult<Response> {
    let period = form_period(&f)?;
    let c = api::live_company(&state.db, &acct).await?;
    let mut errors = FieldErrors::new();
    let mut int = |k: &str| -> Option<i64> {
        let v = opt_string(&f, k)?;
        match v.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                errors.insert(k.into(), "must be a whole number".into());
                None
            }
        }
    };
    let (oy, om, ybm) = (
        int("one_off_year"),
        int("one_off_month"),
        int("yearly_bill_month"),
    );
    let fee = opt_value(&f, "fee");
    let cadence = f.get("cadence").map(String::as_str).unwrap_or("monthly");
    if fee.is_none() {
        errors.insert("fee".into(), "is required".into());
    }
    let mut input = store::LineItemInput {
        name: opt_string(&f, "name"),
        description: opt_string(&f, "description"),
        ..Default::default()
    };
    match cadence {
        "monthly" => input.monthly_fee = fee,
        "one_off" => {
            input.one_off_fee = fee;
            input.one_off_year = oy;
            input.one_off_month = om;
        }
        "yearly" => {
            input.yearly_fee = fee;
            input.yearly_bill_month = ybm;
        }
        _ => {
            errors.insert(
                "cadence".into(),
                "must be monthly, one_off or yearly".into(),
            );
        }
    }
    let result = if errors.is_empty() {
        store::save_line_item(&state.db, &ctx.principal, c.id, None, &input).await
    } else {
        Err(AppError::Validation(errors))
    };
    match result {
        Ok(r) => Ok(Flash::success(format!("Line item {} added.", r.name))
            .redirect(&format!("{}#line-items", bill_href(&acct, period)))),
        Err(e) => fail(&state, &ctx, &acct, period, "line-item", e, f).await,
    }
}

async fn remove(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(acct): Path<String>,
    Form(f): Form<FormMap>,
) -> AppResult<Response> {
    let period = form_period(&f)?;
    let here = bill_href(&acct, period);
    let c = api::live_company(&state.db, &acct).await?;
    let id: i64 = f
        .get("id")
        .and_then(|i| i.parse().ok())
        .ok_or_else(|| AppError::invalid("id", "must be a number"))?;
    let db = &state.db;
    let who = &ctx.principal;
    let done = match f.get("kind").map(String::as_str) {
        Some("line-item") => store::delete_line_item(db, who, c.id, id).await,
        Some("manual-assets") => store::delete_manual(db, who, ManualKind::Asset, c.id, id).await,
        Some("manual-users") => store::delete_manual(db, who, ManualKind::User, c.id, id).await,
        Some(k @ ("asset-override" | "user-override")) => {
            let kind = if k == "asset-override" {
                EntityKind::Asset
            } else {
                EntityKind::User
            };
            // Only this company's overrides may be removed from its page.
            match store::entity_override(db, kind, id).await? {
                Some(o) if o.company_id == c.id => store::delete_entity_override(db, who, kind, id)
                    .await
                    .map(|_| ()),
                _ => Err(AppError::not_found(format!("no override for id {id}"))),
            }
        }
        _ => Err(AppError::invalid(
            "kind",
            "is not something that can be removed",
        )),
    };
    match done {
        Ok(()) => Ok(Flash::success("Removed.").redirect(&here)),
        Err(e) => flash_or_fail(e, &here),
    }
}

// ---------------------------------------------------------------------------
// Archive
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct ArchiveQuery {
    company: Option<String>,
    /// `YYYY-MM`
    period: Option<String>,
    invoice_number: Option<String>,
    min_amount: Option<String>,
    max_amount: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

fn blank(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

async fn archive(
    State(state): State<AppState>,
    ctx: PageCtx,
    Query(q): Query<ArchiveQuery>,
) -> AppResult<Response> {
    let paging = Paging::new(q.limit, q.offset, 25, 100)?;
    let mut errors = FieldErrors::new();
    let (year, month) = match blank(&q.period) {
        None => (None, None),
        Some(p) => match parse_month(Some(&p)) {
            Ok(p) => (Some(p.year as i64), Some(p.month as i64)),
            Err(_) => {
                errors.insert("period".into(), "must be YYYY-MM".into());
                (None, None)
            }
        },
    };
    let sq = SearchQuery {
        company: blank(&q.company),
        year,
        month,
        invoice_number: blank(&q.invoice_number),
        min_amount: blank(&q.min_amount),
        max_amount: blank(&q.max_amount),
        status: blank(&q.status),
        limit: Some(paging.limit),
        offset: Some(paging.offset),
        ..Default::default()
    };
    let result = if errors.is_empty() {
        match snapshots::search(&state.db, &sq).await {
            Ok(r) => Some(r),
            Err(e) => {
                errors = field_errors(e)?;
                None
            }
        }
    } else {
        None
    };
    let v = |s: &Option<String>| s.clone().unwrap_or_default();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(Page::new(&ctx, "Invoice archive")
        .crumb("Ledger", DASHBOARD)
        .crumb("Archive", ARCHIVE)
        .status(status)
        .body(html! {
            h1 { "Invoice archive" }
            form method="get" action=(ARCHIVE) class="inline" {
                (Field::text("company", "Company").value(v(&q.company)).render(&errors))
                (Field::text("period", "Period (YYYY-MM)").value(v(&q.period)).error_key("year").error_key("month").render(&errors))
                (Field::text("invoice_number", "Invoice number").value(v(&q.invoice_number)).render(&errors))
                (Field::text("min_amount", "Min amount").value(v(&q.min_amount)).render(&errors))
                (Field::text("max_amount", "Max amount").value(v(&q.max_amount)).render(&errors))
                (Field::select("status", "Status", [("all", "All"), ("issued", "Issued"), ("voided", "Voided")]).value(v(&q.status)).render(&errors))
                button type="submit" { "Search" }
            }
            @if let Some(r) = &result {
                @if r.results.is_empty() { p class="empty" { "No snapshot matches." } } @else {
                    div class="table-wrap" { table {
                        thead { tr { th { "Invoice" } th { "Rev" } th { "Company" } th { "Period" } th { "Total" } th { "Accepted" } th { "Status" } } }
                        tbody { @for s in &r.results { tr {
                            td { a href={ "/ledger/archive/" (s.id) } class="mono" { (s.invoice_number) } }
                            td { (s.revision) }
                            td { (s.company_name) " " span class="muted mono" { (s.company_account_number) } }
                            td { (format!("{:04}-{:02}", s.billing_year, s.billing_month)) }
                            td class="num" { (s.total_amount) }
                            td class="mono" { (s.created_at) " " (s.created_by) }
                            td { span class={ "badge status-" (s.status) } { (s.status) } }
                        } } }
                    } }
                    (pager(r.total, &paging, &ctx.path_and_query))
                }
            }
        })
        .into_response())
}

async fn snapshot_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
) -> AppResult<Page> {
    snapshot_view(&state, &ctx, id, &FieldErrors::new(), "").await
}

async fn snapshot_view(
    state: &AppState,
    ctx: &PageCtx,
    id: i64,
    errors: &FieldErrors,
    reason: &str,
) -> AppResult<Page> {
    let stored = snapshots::get(&state.db, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("snapshot {id} not found")))?;
    let s = &stored.snapshot;
    let period = format!("{:04}-{:02}", s.billing_year, s.billing_month);
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let issued_again = snapshots::active(&state.db, &s.invoice_number).await?;
    Ok(Page::new(ctx, format!("Invoice {}", s.invoice_number))
        .crumb("Archive", ARCHIVE)
        .crumb(s.invoice_number.clone(), format!("/ledger/archive/{id}"))
        .status(status)
        .body(html! {
            h1 { "Invoice " (s.invoice_number) " rev " (s.revision) " " span class={ "badge status-" (s.status) } { (s.status) } }
            div class="card" {
                p { (s.company_name) " (" a href=(format!("/ledger/client/{}?month={period}", urlencoding(&s.company_account_number))) { (s.company_account_number) } ") · " (period) }
                p { "Invoice date " (s.invoice_date) " · due " (s.due_date) }
                p { "Total " strong id="snapshot-total" { (s.total_amount) } " (users " (s.total_user_charges) ", assets " (s.total_asset_charges)
                    ", backup " (s.total_backup_charges) ", hours " (s.total_ticket_charges) ", items " (s.total_line_item_charges) ")" }
                p class="muted" { "Accepted by " (s.created_by) " at " (s.created_at)
                    @if let Some(j) = s.job_id { " (job " (j) ")" } }
                @if let Some(n) = &s.notes { p { "Notes: " (n) } }
                p class="muted mono" { "SHA-256 " (s.content_hash) }
                @if let Some(v) = &s.void { div class="flash flash-warning" role="status" { "Voided by " (v.voided_by) " at " (v.voided_at) ": " (v.reason) } }
                div class="actions" { a class="button" href={ "/ledger/archive/api/snapshots/" (id) "/csv" } { "Download stored CSV" } }
            }
            @if s.void.is_none() {
                section class="card" {
                    h2 { "Void" }
                    form method="post" action={ "/ledger/archive/" (id) "/void" } class="stack" {
                        (csrf(ctx))
                        (Field::textarea("reason", "Reason").value(reason).required().render(errors))
                        button type="submit" class="danger" { "Void invoice" }
                    }
                }
            } @else if issued_again.is_none() {
                section class="card" {
                    h2 { "Re-issue" }
                    p class="muted" { "Accepts the company's current bill for " (period) " as the next revision." }
                    form method="post" action={ "/ledger/archive/" (id) "/reissue" } {
                        (csrf(ctx))
                        button type="submit" { "Re-issue" }
                    }
                }
            } @else if let Some(a) = &issued_again {
                p { "Re-issued as " a href={ "/ledger/archive/" (a.id) } { "revision " (a.revision) } "." }
            }
        }))
}

#[derive(Debug, Deserialize)]
struct VoidForm {
    reason: Option<String>,
}

async fn void(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Form(f): Form<VoidForm>,
) -> AppResult<Response> {
    let reason = f.reason.unwrap_or_default();
    let to = format!("/ledger/archive/{id}");
    match snapshots::void(&state.db, &ctx.principal, id, reason.trim()).await {
        Ok(s) => Ok(Flash::success(format!("{} voided.", s.invoice_number)).redirect(&to)),
        Err(AppError::Validation(errors)) => Ok(snapshot_view(&state, &ctx, id, &errors, &reason)
            .await?
            .into_response()),
        Err(e) => flash_or_fail(e, &to),
    }
}

async fn reissue(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let to = format!("/ledger/archive/{id}");
    let stored = snapshots::get(&state.db, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("snapshot {id} not found")))?;
    let s = stored.snapshot;
    let period = period_of(Some(s.billing_year as i32), Some(s.billing_month as u32))?;
    let l = match api::load_one(&state.db, &s.company_account_number, period).await {
        Ok(l) => l,
        Err(e) => return flash_or_fail(e, &to),
    };
    let notes = Some(format!("re-issue of revision {}", s.revision));
    match snapshots::accept(&state.db, &ctx.principal, &l, notes).await {
        Ok(n) => Ok(Flash::success(format!(
            "{} re-issued as revision {}.",
            n.invoice_number, n.revision
        ))
        .redirect(&format!("/ledger/archive/{}", n.id))),
        Err(e) => flash_or_fail(e, &to),
    }
}
