//! Ledger's JSON and file endpoints at the original's paths (`peer/ledger-beacon.md` §5),
//! under `/ledger`. Reads of bills, plans, overrides and rules are for staff; invoices,
//! exports, acceptance and the archive for billing and admin (the original let any
//! token read and change them); override writes for billing and admin; the
//! classification table for admins.

use super::invoice::{self, invoice_csv, invoice_summary, InvoiceSummary};
use super::load::{self, Loaded, Orphan};
use super::model::{Bill, BillingPeriod};
use super::snapshots::{self, SearchQuery, SearchResult, Snapshot, SnapshotDetail};
use super::store::{self, EntityKind, ManualKind};
use crate::auth::{AdminOnly, BillingWriter, Principal};
use crate::codex::companies::{self, Company};
use crate::codex::plans;
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::http::extract::{JsonBody, OptionalJsonBody, QueryParams};
use crate::http::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

type Problem = crate::error::Problem;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// `year` and `month` of the billing period (default: the current UTC month).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    pub year: Option<i32>,
    /// 1-12
    pub month: Option<u32>,
}

pub fn period_of(year: Option<i32>, month: Option<u32>) -> AppResult<BillingPeriod> {
    let now = BillingPeriod::of(chrono::Utc::now());
    let year = year.unwrap_or(now.year);
    let month = month.unwrap_or(now.month);
    if !(2000..=2100).contains(&year) {
        return Err(AppError::invalid("year", "must be 2000-2100"));
    }
    BillingPeriod::new(year, month).ok_or_else(|| AppError::invalid("month", "must be 1-12"))
}

/// A live company by account number, or 404.
pub async fn live_company(db: &Db, account_number: &str) -> AppResult<Company> {
    match companies::find(db, account_number).await? {
        Some(c) if c.deleted_at.is_none() => Ok(c),
        _ => Err(AppError::not_found(format!(
            "company {account_number} not found"
        ))),
    }
}

pub async fn load_one(db: &Db, account_number: &str, period: BillingPeriod) -> AppResult<Loaded> {
    let c = live_company(db, account_number).await?;
    load::load(db, &[c], period)
        .await?
        .pop()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("loader returned nothing")))
}

fn money(d: Decimal) -> String {
    super::engine::cents(d).to_string()
}

/// `attachment` with an ASCII fallback name and the UTF-8 name (RFC 6266).
fn disposition(name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

fn file(content_type: &'static str, name: &str, body: Vec<u8>) -> Response {
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_DISPOSITION, disposition(name));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    (StatusCode::OK, h, body).into_response()
}

const CSV: &str = "text/csv; charset=utf-8";

/// A deflated ZIP of `(name, content)`; a repeated name gets `_2`, `_3`… before `.csv`.
pub fn zip_files(files: &[(String, String)]) -> AppResult<Vec<u8>> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for (name, body) in files {
        let n = seen.entry(name.clone()).or_default();
        *n += 1;
        let name = if *n == 1 {
            name.clone()
        } else {
            match name.strip_suffix(".csv") {
                Some(stem) => format!("{stem}_{n}.csv"),
                None => format!("{name}_{n}"),
            }
        };
        w.start_file(name, opts).map_err(anyhow::Error::from)?;
        w.write_all(body.as_bytes()).map_err(anyhow::Error::from)?;
    }
    Ok(w.finish().map_err(anyhow::Error::from)?.into_inner())
}

// ---------------------------------------------------------------------------
// Bills and the dashboard
// ---------------------------------------------------------------------------

/// One company's bill for a month with everything needed to explain it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BillResponse {
    pub account_number: String,
    pub company_name: String,
    /// `YYYY-MM`
    pub billing_period: String,
    pub invoice_number: String,
    /// The bill's total (sum of its rounded lines), e.g. `"1430.00"`.
    pub total: String,
    /// Why the bill cannot be priced (no plan…); the company is still listed.
    pub error: Option<String>,
    /// Lines (quantity, rate, amount, source, rule), totals, counts, hours, backup.
    #[schema(value_type = Object)]
    pub bill: Bill,
    /// Overrides whose asset or contact is gone: reported, not applied.
    pub orphaned_overrides: Vec<Orphan>,
    /// The issued (non-voided) snapshot of this month, if accepted.
    pub archived: Option<Snapshot>,
    /// The plan's features with the company's overrides.
    #[schema(value_type = Object)]
    pub plan_features: Option<plans::EffectiveFeatures>,
}

/// A company's bill for a month (the original's `GET /api/billing/{acct}`).
#[utoipa::path(get, path = "/ledger/api/billing/{account_number}", tag = "ledger",
    params(("account_number" = String, Path), PeriodQuery),
    responses((status = 200, body = BillResponse), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn get_bill(
    State(state): State<AppState>,
    who: Principal,
    Path(acct): Path<String>,
    QueryParams(q): QueryParams<PeriodQuery>,
) -> AppResult<Json<BillResponse>> {
    who.require_staff()?;
    let period = period_of(q.year, q.month)?;
    let l = load_one(&state.db, &acct, period).await?;
    let bill = l.bill();
    let number = invoice::invoice_number(&bill.account_number, period);
    let archived = snapshots::active(&state.db, &number).await?;
    let features = plans::effective_features(&state.db, l.company.id)
        .await
        .ok();
    Ok(Json(BillResponse {
        account_number: bill.account_number.clone(),
        company_name: bill.company_name.clone(),
        billing_period: period.to_string(),
        invoice_number: number,
        total: money(bill.totals.total),
        error: bill.error.clone(),
        orphaned_overrides: l.orphans,
        archived,
        plan_features: features,
        bill,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DashboardRow {
    pub company_id: i64,
    pub account_number: String,
    pub name: String,
    /// The plan billed (override or Codex), else the company's plan text.
    pub billing_plan: Option<String>,
    pub support_level: Option<String>,
    pub contract_term_length: Option<String>,
    pub contract_end_date: Option<String>,
    pub total_bill: String,
    /// The issued total of the previous month, when it was accepted.
    pub previous_total: Option<String>,
    /// `total_bill - previous_total`.
    pub change: Option<String>,
    pub workstations: u32,
    pub servers: u32,
    pub vms: u32,
    pub switches: u32,
    pub firewalls: u32,
    /// Billed users (paid and custom).
    pub users: u32,
    pub backup_tb: String,
    /// Billable hours of the month (after prepaid hours).
    pub hours: String,
    /// Hours logged in the month.
    pub logged_hours: String,
    pub error: Option<String>,
    pub warnings: Vec<String>,
    pub orphaned_overrides: usize,
    pub invoice_number: String,
    pub archived: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RevenuePoint {
    /// `YYYY-MM`
    pub period: String,
    /// Sum of issued (non-voided) invoices.
    pub total: String,
    pub invoices: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Dashboard {
    pub billing_period: String,
    pub companies: Vec<DashboardRow>,
    /// Sum of every priced company's total.
    pub total_revenue: String,
    pub company_count: usize,
    /// Companies whose bill could not be priced (they are listed with the error).
    pub error_count: usize,
    pub archived_count: usize,
    /// Issued revenue of the 12 months ending with this one.
    pub revenue_history: Vec<RevenuePoint>,
}

/// Every live company's bill for the month, one row each, computed in one batch.
pub async fn dashboard(db: &Db, period: BillingPeriod) -> AppResult<Dashboard> {
    let companies = companies::list_live(db).await?;
    let loaded = load::load(db, &companies, period).await?;
    let archived = snapshots::active_for_month(db, period.year, period.month).await?;
    let prev = if period.month == 1 {
        BillingPeriod::new(period.year - 1, 12)
    } else {
        BillingPeriod::new(period.year, period.month - 1)
    };
    let previous = match prev {
        Some(p) => snapshots::active_for_month(db, p.year, p.month).await?,
        None => Default::default(),
    };
    let mut rows = Vec::with_capacity(loaded.len());
    let mut total = Decimal::ZERO;
    for l in &loaded {
        let bill = l.bill();
        total += bill.totals.total;
        let c = &l.company;
        let prev_total = previous
            .get(&c.id)
            .and_then(|s| s.total_amount.parse::<Decimal>().ok());
        let n = &bill.counts;
        rows.push(DashboardRow {
            company_id: c.id,
            account_number: c.account_number.clone(),
            name: c.name.clone(),
            billing_plan: bill
                .plan
                .as_ref()
                .map(|p| p.plan_name.clone())
                .or_else(|| l.inputs.overrides.billing_plan.clone())
                .or_else(|| c.billing_plan.clone()),
            support_level: bill
                .plan
                .as_ref()
                .and_then(|p| p.support_level.clone())
                .or_else(|| c.support_level.clone()),
            contract_term_length: l.inputs.company.contract_term.clone(),
            contract_end_date: c.contract_end_date.clone(),
            total_bill: money(bill.totals.total),
            previous_total: prev_total.map(money),
            change: prev_total.map(|p| money(bill.totals.total - p)),
            workstations: n.workstations,
            servers: n.servers,
            vms: n.vms,
            switches: n.switches,
            firewalls: n.firewalls,
            users: n.paid_users + n.custom_users,
            backup_tb: money(bill.backup.total_tb),
            hours: money(bill.hours.billed_hours),
            logged_hours: money(bill.hours.logged_minutes / Decimal::from(60)),
            error: bill.error.clone(),
            warnings: bill.warnings.clone(),
            orphaned_overrides: l.orphans.len(),
            invoice_number: invoice::invoice_number(&c.account_number, period),
            archived: archived.contains_key(&c.id),
        });
    }
    let mut start = period;
    for _ in 0..11 {
        start = if start.month == 1 {
            BillingPeriod::new(start.year - 1, 12).unwrap_or(start)
        } else {
            BillingPeriod::new(start.year, start.month - 1).unwrap_or(start)
        };
    }
    let history =
        snapshots::revenue_by_month(db, (start.year, start.month), (period.year, period.month))
            .await?;
    let mut revenue_history = Vec::new();
    let mut p = Some(start);
    while let Some(cur) = p.filter(|c| *c <= period) {
        let found = history
            .iter()
            .find(|h| h.0 == cur.year as i64 && h.1 == cur.month as i64);
        revenue_history.push(RevenuePoint {
            period: cur.to_string(),
            total: crate::money::from_cents(found.map_or(0, |h| h.2)).to_string(),
            invoices: found.map_or(0, |h| h.3),
        });
        p = cur.next();
    }
    Ok(Dashboard {
        billing_period: period.to_string(),
        company_count: rows.len(),
        error_count: rows.iter().filter(|r| r.error.is_some()).count(),
        archived_count: rows.iter().filter(|r| r.archived).count(),
        total_revenue: money(total),
        companies: rows,
        revenue_history,
    })
}

/// The billing dashboard for a month: every live company (those without a plan too,
/// with their error), totals, month-over-month change and 12 months of revenue.
#[utoipa::path(get, path = "/ledger/api/billing/dashboard", tag = "ledger", params(PeriodQuery),
    responses((status = 200, body = Dashboard), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn get_dashboard(
    State(state): State<AppState>,
    who: Principal,
    QueryParams(q): QueryParams<PeriodQuery>,
) -> AppResult<Json<Dashboard>> {
    who.require_staff()?;
    Ok(Json(
        dashboard(&state.db, period_of(q.year, q.month)?).await?,
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlanRow {
    pub id: i64,
    pub billing_plan: String,
    pub term_length: String,
    pub support_level: String,
    #[serde(flatten)]
    pub costs: plans::Costs,
}

/// Billing plans (owned by Codex) in the original's Ledger shape.
#[utoipa::path(get, path = "/ledger/api/plans", tag = "ledger",
    responses((status = 200, body = [PlanRow]), (status = 403, body = Problem)))]
pub async fn list_plans(
    State(state): State<AppState>,
    who: Principal,
) -> AppResult<Json<Vec<PlanRow>>> {
    who.require_staff()?;
    Ok(Json(
        plans::all_plans(&state.db)
            .await?
            .into_iter()
            .map(|p| PlanRow {
                id: p.id,
                billing_plan: p.plan_name,
                term_length: p.term_length,
                support_level: p.support_level,
                costs: p.costs,
            })
            .collect(),
    ))
}

// ---------------------------------------------------------------------------
// Invoices and exports
// ---------------------------------------------------------------------------

fn not_invoiceable(e: invoice::NoInvoice) -> AppError {
    AppError::invalid("account_number", e.reason)
}

/// The invoice summary (counts of rows, total, whether it is archived).
#[utoipa::path(get, path = "/ledger/api/invoice/{account_number}/summary", tag = "ledger",
    params(("account_number" = String, Path), PeriodQuery),
    responses((status = 200, body = InvoiceSummary), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn get_summary(
    State(state): State<AppState>,
    who: Principal,
    Path(acct): Path<String>,
    QueryParams(q): QueryParams<PeriodQuery>,
) -> AppResult<Json<InvoiceSummary>> {
    who.require_billing_write()?;
    let period = period_of(q.year, q.month)?;
    let bill = load_one(&state.db, &acct, period).await?.bill();
    let archived = snapshots::active(&state.db, &invoice::invoice_number(&acct, period))
        .await?
        .is_some();
    Ok(Json(
        invoice_summary(&bill, archived).map_err(not_invoiceable)?,
    ))
}

/// The invoice CSV (nine columns), `<safe_name>_<YYYY>-<MM>.csv`. Computed live; the
/// archive serves the CSV exactly as issued.
#[utoipa::path(get, path = "/ledger/invoice/{account_number}/download", tag = "ledger",
    params(("account_number" = String, Path), PeriodQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = Problem),
              (status = 422, body = Problem)))]
pub async fn download_invoice(
    State(state): State<AppState>,
    who: Principal,
    Path(acct): Path<String>,
    QueryParams(q): QueryParams<PeriodQuery>,
) -> AppResult<Response> {
    who.require_billing_write()?;
    let period = period_of(q.year, q.month)?;
    let bill = load_one(&state.db, &acct, period).await?.bill();
    let csv = invoice_csv(&bill).map_err(not_invoiceable)?;
    Ok(file(
        CSV,
        &invoice::invoice_file_name(&bill.company_name, period),
        csv.into_bytes(),
    ))
}

/// The QuickBooks-style CSV of one company's bill, for the billing period.
#[utoipa::path(get, path = "/ledger/client/{account_number}/export/quickbooks", tag = "ledger",
    params(("account_number" = String, Path), PeriodQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = Problem),
              (status = 422, body = Problem)))]
pub async fn export_quickbooks(
    State(state): State<AppState>,
    who: Principal,
    Path(acct): Path<String>,
    QueryParams(q): QueryParams<PeriodQuery>,
) -> AppResult<Response> {
    who.require_billing_write()?;
    let period = period_of(q.year, q.month)?;
    let bill = load_one(&state.db, &acct, period).await?.bill();
    let csv = invoice::quickbooks_csv(&bill).map_err(not_invoiceable)?;
    Ok(file(
        CSV,
        &invoice::quickbooks_file_name(&acct, period),
        csv.into_bytes(),
    ))
}

/// Every priced company's invoice CSV for the month in one ZIP; companies that cannot
/// be priced are listed in `X-Ledger-Skipped` (account numbers) and never silently lost.
async fn bulk_zip(db: &Db, period: BillingPeriod, quickbooks: bool) -> AppResult<Response> {
    let companies = companies::list_live(db).await?;
    let loaded = load::load(db, &companies, period).await?;
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for l in &loaded {
        let bill = l.bill();
        let doc = if quickbooks {
            invoice::quickbooks_csv(&bill)
        } else {
            invoice_csv(&bill)
        };
        match doc {
            Ok(csv) => {
                let name = if quickbooks {
                    let safe = bill.company_name.replace(['/', ' '], "_");
                    format!("{safe}_{:04}-{:02}.csv", period.year, period.month)
                } else {
                    invoice::invoice_file_name(&bill.company_name, period)
                };
                files.push((name, csv));
            }
            Err(_) => skipped.push(bill.account_number.clone()),
        }
    }
    if files.is_empty() {
        return Err(AppError::not_found(format!(
            "no company has a bill for {period}"
        )));
    }
    let name = if quickbooks {
        format!("all_invoices_{:04}-{:02}.zip", period.year, period.month)
    } else {
        format!("invoices_{:04}-{:02}.zip", period.year, period.month)
    };
    let mut resp = file("application/zip", &name, zip_files(&files)?);
    resp.headers_mut().insert(
        "x-ledger-skipped",
        HeaderValue::from_str(&skipped.join(",")).unwrap_or(HeaderValue::from_static("")),
    );
    Ok(resp)
}

/// ZIP of every company's invoice CSV for a month (`invoices_<YYYY>-<MM>.zip`, entries
/// `<safe_name>_<YYYY>-<MM>.csv`).
#[utoipa::path(get, path = "/ledger/invoices/bulk/download", tag = "ledger", params(PeriodQuery),
    responses((status = 200, content_type = "application/zip", body = Vec<u8>), (status = 404, body = Problem)))]
pub async fn bulk_download(
    State(state): State<AppState>,
    who: Principal,
    QueryParams(q): QueryParams<PeriodQuery>,
) -> AppResult<Response> {
    who.require_billing_write()?;
    bulk_zip(&state.db, period_of(q.year, q.month)?, false).await
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct PeriodBody {
    pub year: Option<i32>,
    pub month: Option<u32>,
}

/// ZIP of every company's QuickBooks CSV (`all_invoices_<YYYY>-<MM>.zip`), for the
/// billing period (the original used today's date).
#[utoipa::path(post, path = "/ledger/export/all_bills", tag = "ledger", request_body = PeriodBody,
    responses((status = 200, content_type = "application/zip", body = Vec<u8>), (status = 404, body = Problem)))]
pub async fn export_all_bills(
    State(state): State<AppState>,
    BillingWriter(_who): BillingWriter,
    OptionalJsonBody(b): OptionalJsonBody<PeriodBody>,
) -> AppResult<Response> {
    bulk_zip(&state.db, period_of(b.year, b.month)?, true).await
}

// ---------------------------------------------------------------------------
// Acceptance and the archive
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct AcceptInput {
    pub account_number: Option<String>,
    pub year: Option<i32>,
    pub month: Option<u32>,
    pub notes: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AcceptResult {
    pub success: bool,
    pub message: String,
    pub invoice_number: String,
    pub snapshot: Snapshot,
}

/// Accepts a company's bill for a month: stores an append-only snapshot (inputs, bill,
/// invoice CSV, who, when, notes, content hash). 409 if already accepted (void first).
#[utoipa::path(post, path = "/ledger/api/bill/accept", tag = "ledger", request_body = AcceptInput,
    responses((status = 201, body = AcceptResult), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
pub async fn accept_bill(
    State(state): State<AppState>,
    BillingWriter(who): BillingWriter,
    JsonBody(input): JsonBody<AcceptInput>,
) -> AppResult<(StatusCode, Json<AcceptResult>)> {
    let mut errors = crate::error::FieldErrors::new();
    let acct = input
        .account_number
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if acct.is_none() {
        errors.insert("account_number".into(), "is required".into());
    }
    if input.year.is_none() {
        errors.insert("year".into(), "is required".into());
    }
    if input.month.is_none() {
        errors.insert("month".into(), "is required".into());
    }
    let notes = match input
        .notes
        .as_deref()
        .map(|n| crate::validate::text(n, 2000))
    {
        Some(Ok(n)) if !n.is_empty() => Some(n),
        Some(Err(m)) => {
            errors.insert("notes".into(), m);
            None
        }
        _ => None,
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let period = period_of(input.year, input.month)?;
    let l = load_one(&state.db, acct.unwrap_or_default(), period).await?;
    let snap = snapshots::accept(&state.db, &who, &l, notes).await?;
    Ok((
        StatusCode::CREATED,
        Json(AcceptResult {
            success: true,
            message: format!("bill accepted and archived as {}", snap.invoice_number),
            invoice_number: snap.invoice_number.clone(),
            snapshot: snap,
        }),
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ArchivedStatus {
    pub invoice_number: String,
    pub is_archived: bool,
    pub snapshot_id: Option<i64>,
}

#[utoipa::path(get, path = "/ledger/api/bill/check-archived/{account_number}", tag = "ledger",
    params(("account_number" = String, Path), PeriodQuery),
    responses((status = 200, body = ArchivedStatus)))]
pub async fn check_archived(
    State(state): State<AppState>,
    who: Principal,
    Path(acct): Path<String>,
    QueryParams(q): QueryParams<PeriodQuery>,
) -> AppResult<Json<ArchivedStatus>> {
    who.require_billing_write()?;
    let period = period_of(q.year, q.month)?;
    let number = invoice::invoice_number(&acct, period);
    let s = snapshots::active(&state.db, &number).await?;
    Ok(Json(ArchivedStatus {
        invoice_number: number,
        is_archived: s.is_some(),
        snapshot_id: s.map(|s| s.id),
    }))
}

/// Searches snapshots by company, period, invoice number, amount and date.
#[utoipa::path(get, path = "/ledger/archive/api/snapshots/search", tag = "ledger", params(SearchQuery),
    responses((status = 200, body = SearchResult), (status = 422, body = Problem)))]
pub async fn search_snapshots(
    State(state): State<AppState>,
    who: Principal,
    QueryParams(q): QueryParams<SearchQuery>,
) -> AppResult<Json<SearchResult>> {
    who.require_billing_write()?;
    Ok(Json(snapshots::search(&state.db, &q).await?))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CompanySnapshots {
    pub company_account_number: String,
    pub company_name: Option<String>,
    pub total_snapshots: usize,
    pub snapshots: Vec<Snapshot>,
}

#[utoipa::path(get, path = "/ledger/archive/api/snapshots/company/{account_number}", tag = "ledger",
    params(("account_number" = String, Path)), responses((status = 200, body = CompanySnapshots)))]
pub async fn company_snapshots(
    State(state): State<AppState>,
    who: Principal,
    Path(acct): Path<String>,
) -> AppResult<Json<CompanySnapshots>> {
    who.require_billing_write()?;
    let list = snapshots::for_company(&state.db, &acct).await?;
    Ok(Json(CompanySnapshots {
        company_account_number: acct,
        company_name: list.first().map(|s| s.company_name.clone()),
        total_snapshots: list.len(),
        snapshots: list,
    }))
}

async fn stored_by_id(db: &Db, id: i64) -> AppResult<snapshots::Stored> {
    snapshots::get(db, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("snapshot {id} not found")))
}

async fn stored_by_number(db: &Db, number: &str) -> AppResult<snapshots::Stored> {
    snapshots::by_invoice_number(db, number)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no snapshot for invoice {number}")))
}

fn stored_csv(s: snapshots::Stored) -> Response {
    let name = BillingPeriod::new(
        s.snapshot.billing_year as i32,
        s.snapshot.billing_month as u32,
    )
    .map(|p| invoice::invoice_file_name(&s.snapshot.company_name, p))
    .unwrap_or_else(|| format!("{}.csv", s.snapshot.invoice_number));
    file(CSV, &name, s.invoice_csv.into_bytes())
}

/// The snapshot of an invoice number (the issued revision, else the latest voided one).
#[utoipa::path(get, path = "/ledger/archive/api/snapshot/{invoice_number}", tag = "ledger",
    params(("invoice_number" = String, Path)),
    responses((status = 200, body = SnapshotDetail), (status = 404, body = Problem)))]
pub async fn snapshot_by_number(
    State(state): State<AppState>,
    who: Principal,
    Path(number): Path<String>,
) -> AppResult<Json<SnapshotDetail>> {
    who.require_billing_write()?;
    Ok(Json(snapshots::detail(
        stored_by_number(&state.db, &number).await?,
    )))
}

/// The stored invoice CSV of an invoice number, byte for byte as issued.
#[utoipa::path(get, path = "/ledger/archive/api/snapshot/{invoice_number}/csv", tag = "ledger",
    params(("invoice_number" = String, Path)),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = Problem)))]
pub async fn snapshot_csv_by_number(
    State(state): State<AppState>,
    who: Principal,
    Path(number): Path<String>,
) -> AppResult<Response> {
    who.require_billing_write()?;
    Ok(stored_csv(stored_by_number(&state.db, &number).await?))
}

#[utoipa::path(get, path = "/ledger/archive/api/snapshots/{id}", tag = "ledger",
    params(("id" = i64, Path)),
    responses((status = 200, body = SnapshotDetail), (status = 404, body = Problem)))]
pub async fn snapshot_by_id(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<SnapshotDetail>> {
    who.require_billing_write()?;
    Ok(Json(snapshots::detail(stored_by_id(&state.db, id).await?)))
}

#[utoipa::path(get, path = "/ledger/archive/api/snapshots/{id}/csv", tag = "ledger",
    params(("id" = i64, Path)),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = Problem)))]
pub async fn snapshot_csv_by_id(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    who.require_billing_write()?;
    Ok(stored_csv(stored_by_id(&state.db, id).await?))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Verification {
    pub id: i64,
    pub content_hash: String,
    pub recomputed_hash: String,
    /// True when the stored content still matches its hash.
    pub valid: bool,
}

/// Recomputes a snapshot's content hash from what is stored.
#[utoipa::path(get, path = "/ledger/archive/api/snapshots/{id}/verify", tag = "ledger",
    params(("id" = i64, Path)),
    responses((status = 200, body = Verification), (status = 404, body = Problem)))]
pub async fn verify_snapshot(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<Verification>> {
    who.require_billing_write()?;
    let s = stored_by_id(&state.db, id).await?;
    let recomputed = snapshots::content_hash(
        &s.snapshot.invoice_number,
        s.snapshot.revision,
        &s.inputs_json,
        &s.bill_json,
        &s.invoice_csv,
    );
    Ok(Json(Verification {
        id,
        valid: recomputed == s.snapshot.content_hash,
        content_hash: s.snapshot.content_hash,
        recomputed_hash: recomputed,
    }))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct VoidInput {
    pub reason: Option<String>,
}

/// Voids a snapshot (reason required). It stays in the archive, marked voided, and the
/// company-month can be accepted again as the next revision.
#[utoipa::path(post, path = "/ledger/archive/api/snapshots/{id}/void", tag = "ledger",
    params(("id" = i64, Path)), request_body = VoidInput,
    responses((status = 200, body = Snapshot), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
pub async fn void_snapshot(
    State(state): State<AppState>,
    BillingWriter(who): BillingWriter,
    Path(id): Path<i64>,
    JsonBody(input): JsonBody<VoidInput>,
) -> AppResult<Json<Snapshot>> {
    Ok(Json(
        snapshots::void(&state.db, &who, id, input.reason.as_deref().unwrap_or("")).await?,
    ))
}

// ---------------------------------------------------------------------------
// Overrides
// ---------------------------------------------------------------------------

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClientOverrideResponse {
    pub account_number: String,
    pub overrides: store::ClientOverrideRow,
}

#[utoipa::path(get, path = "/ledger/api/overrides/client/{account_number}", tag = "ledger",
    params(("account_number" = String, Path)),
    responses((status = 200, body = ClientOverrideResponse), (status = 404, body = Problem)))]
pub async fn get_client_override(
    State(state): State<AppState>,
    who: Principal,
    Path(acct): Path<String>,
) -> AppResult<Json<ClientOverrideResponse>> {
    who.require_staff()?;
    let c = live_company(&state.db, &acct).await?;
    Ok(Json(ClientOverrideResponse {
        account_number: acct,
        overrides: store::client_override(&state.db, c.id).await?,
    }))
}

/// Sets (value) or clears (`null`) any of `billing_plan`, `contract_term`,
/// `support_level` and the 13 amounts; absent keys keep their value.
#[utoipa::path(put, path = "/ledger/api/overrides/client/{account_number}", tag = "ledger",
    params(("account_number" = String, Path)), request_body = Object,
    responses((status = 200, body = ClientOverrideResponse), (status = 404, body = Problem),
              (status = 422, body = Problem)))]
pub async fn put_client_override(
    State(state): State<AppState>,
    BillingWriter(who): BillingWriter,
    Path(acct): Path<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> AppResult<Json<ClientOverrideResponse>> {
    let c = live_company(&state.db, &acct).await?;
    Ok(Json(ClientOverrideResponse {
        overrides: store::patch_client_override(&state.db, &who, c.id, &body).await?,
        account_number: acct,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Message {
    pub message: String,
}

fn message(m: impl Into<String>) -> Json<Message> {
    Json(Message { message: m.into() })
}

#[utoipa::path(delete, path = "/ledger/api/overrides/client/{account_number}", tag = "ledger",
    params(("account_number" = String, Path)),
    responses((status = 200, body = Message), (status = 404, body = Problem)))]
pub async fn delete_client_override(
    State(state): State<AppState>,
    who: Principal,
    Path(acct): Path<String>,
) -> AppResult<Json<Message>> {
    who.require_billing_write()?;
    let c = live_company(&state.db, &acct).await?;
    let removed = store::delete_client_override(&state.db, &who, c.id).await?;
    Ok(message(if removed {
        "client overrides removed"
    } else {
        "no client overrides to remove"
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OverrideResponse {
    #[serde(rename = "override")]
    pub value: Option<store::EntityOverride>,
    /// Set when the override no longer points at a live record of its company.
    pub orphaned: bool,
}

/// The company an asset or contact belongs to now (None: deleted or unknown).
async fn owner(db: &Db, kind: EntityKind, id: i64) -> AppResult<Option<Vec<i64>>> {
    Ok(match kind {
        EntityKind::Asset => crate::codex::assets::get(db, id)
            .await?
            .filter(|a| a.deleted_at.is_none())
            .map(|a| vec![a.company_id]),
        EntityKind::User => crate::codex::contacts::get_by_id(db, id)
            .await?
            .filter(|c| c.deleted_at.is_none())
            .map(|c| c.companies.iter().map(|l| l.company_id).collect()),
    })
}

async fn get_entity(db: &Db, kind: EntityKind, id: i64) -> AppResult<Json<OverrideResponse>> {
    let value = store::entity_override(db, kind, id).await?;
    let orphaned = match &value {
        Some(o) => !owner(db, kind, id)
            .await?
            .is_some_and(|c| c.contains(&o.company_id)),
        None => false,
    };
    Ok(Json(OverrideResponse { value, orphaned }))
}

async fn put_entity(
    db: &Db,
    who: &Principal,
    kind: EntityKind,
    id: i64,
    input: &store::OverrideInput,
) -> AppResult<Json<OverrideResponse>> {
    let what = if kind == EntityKind::Asset {
        "asset"
    } else {
        "contact"
    };
    let companies = owner(db, kind, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("{what} {id} not found")))?;
    let company_id = *companies
        .first()
        .ok_or_else(|| AppError::invalid("id", format!("{what} {id} belongs to no company")))?;
    let value = store::put_entity_override(db, who, kind, id, company_id, input).await?;
    Ok(Json(OverrideResponse {
        value: Some(value),
        orphaned: false,
    }))
}

async fn delete_entity(
    db: &Db,
    who: &Principal,
    kind: EntityKind,
    id: i64,
) -> AppResult<Json<Message>> {
    if store::delete_entity_override(db, who, kind, id).await? {
        Ok(message("override removed"))
    } else {
        Err(AppError::not_found(format!("no override for id {id}")))
    }
}

#[utoipa::path(get, path = "/ledger/api/overrides/asset/{id}", tag = "ledger", params(("id" = i64, Path)),
    responses((status = 200, body = OverrideResponse)))]
pub async fn get_asset_override(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<OverrideResponse>> {
    who.require_staff()?;
    get_entity(&state.db, EntityKind::Asset, id).await
}

/// Forces an asset's billing type (Workstation, Server, VM, Switch, Firewall, No Charge,
/// Custom with `custom_cost`).
#[utoipa::path(put, path = "/ledger/api/overrides/asset/{id}", tag = "ledger", params(("id" = i64, Path)),
    request_body = store::OverrideInput,
    responses((status = 200, body = OverrideResponse), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put_asset_override(
    State(state): State<AppState>,
    BillingWriter(who): BillingWriter,
    Path(id): Path<i64>,
    JsonBody(input): JsonBody<store::OverrideInput>,
) -> AppResult<Json<OverrideResponse>> {
    put_entity(&state.db, &who, EntityKind::Asset, id, &input).await
}

#[utoipa::path(delete, path = "/ledger/api/overrides/asset/{id}", tag = "ledger", params(("id" = i64, Path)),
    responses((status = 200, body = Message), (status = 404, body = Problem)))]
pub async fn delete_asset_override(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<Message>> {
    who.require_billing_write()?;
    delete_entity(&state.db, &who, EntityKind::Asset, id).await
}

#[utoipa::path(get, path = "/ledger/api/overrides/user/{id}", tag = "ledger", params(("id" = i64, Path)),
    responses((status = 200, body = OverrideResponse)))]
pub async fn get_user_override(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<OverrideResponse>> {
    who.require_staff()?;
    get_entity(&state.db, EntityKind::User, id).await
}

/// Forces how a contact is billed (Paid, No Charge, Custom with `custom_cost`).
#[utoipa::path(put, path = "/ledger/api/overrides/user/{id}", tag = "ledger", params(("id" = i64, Path)),
    request_body = store::OverrideInput,
    responses((status = 200, body = OverrideResponse), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put_user_override(
    State(state): State<AppState>,
    BillingWriter(who): BillingWriter,
    Path(id): Path<i64>,
    JsonBody(input): JsonBody<store::OverrideInput>,
) -> AppResult<Json<OverrideResponse>> {
    put_entity(&state.db, &who, EntityKind::User, id, &input).await
}

#[utoipa::path(delete, path = "/ledger/api/overrides/user/{id}", tag = "ledger", params(("id" = i64, Path)),
    responses((status = 200, body = Message), (status = 404, body = Problem)))]
pub async fn delete_user_override(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<Message>> {
    who.require_billing_write()?;
    delete_entity(&state.db, &who, EntityKind::User, id).await
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ManualList {
    pub account_number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manual_assets: Option<Vec<store::ManualRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manual_users: Option<Vec<store::ManualRow>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Created<T> {
    pub message: String,
    pub id: i64,
    pub item: T,
}

async fn list_manual(db: &Db, kind: ManualKind, acct: String) -> AppResult<Json<ManualList>> {
    let c = live_company(db, &acct).await?;
    let rows = store::manual_rows(db, kind, Some(&[c.id])).await?;
    Ok(Json(match kind {
        ManualKind::Asset => ManualList {
            account_number: acct,
            manual_assets: Some(rows),
            manual_users: None,
        },
        ManualKind::User => ManualList {
            account_number: acct,
            manual_assets: None,
            manual_users: Some(rows),
        },
    }))
}

#[utoipa::path(get, path = "/ledger/api/overrides/manual-assets/{account_number}", tag = "ledger",
    params(("account_number" = String, Path)), responses((status = 200, body = ManualList)))]
pub async fn list_manual_assets(
    State(state): State<AppState>,
    who: Principal,
    Path(acct): Path<String>,
) -> AppResult<Json<ManualList>> {
    who.require_staff()?;
    list_manual(&state.db, ManualKind::Asset, acct).await
}

/// Adds a device not in Codex: `hostname`, `billing_type`, `custom_cost` (Custom), `notes`.
#[utoipa::path(post, path = "/ledger/api/overrides/manual-assets/{account_number}", tag = "ledger",
    params(("account_number" = String, Path)), request_body = store::ManualInput,
    responses((status = 201, body = store::ManualRow), (status = 422, body = Problem)))]
pub async fn create_manual_asset(
    State(state): State<AppState>,
    BillingWriter(who): BillingWriter,
    Path(acct): Path<String>,
    JsonBody(input): JsonBody<store::ManualInput>,
) -> AppResult<(StatusCode, Json<store::ManualRow>)> {
    let c = live_company(&state.db, &acct).await?;
    let row = store::save_manual(&state.db, &who, ManualKind::Asset, c.id, None, &input).await?;
    Ok((StatusCode::CREATED, Json(row)))
}

#[utoipa::path(put, path = "/ledger/api/overrides/manual-assets/{account_number}/{id}", tag = "ledger",
    params(("account_number" = String, Path), ("id" = i64, Path)), request_body = store::ManualInput,
    responses((status = 200, body = store::ManualRow), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update_manual_asset(
    State(state): State<AppState>,
    BillingWriter(who): BillingWriter,
    Path((acct, id)): Path<(String, i64)>,
    JsonBody(input): JsonBody<store::ManualInput>,
) -> AppResult<Json<store::ManualRow>> {
    let c = live_company(&state.db, &acct).await?;
    Ok(Json(
        store::save_manual(&state.db, &who, ManualKind::Asset, c.id, Some(id), &input).await?,
    ))
}

#[utoipa::path(delete, path = "/ledger/api/overrides/manual-assets/{account_number}/{id}", tag = "ledger",
    params(("account_number" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = Message), (status = 404, body = Problem)))]
pub async fn delete_manual_asset(
    State(state): State<AppState>,
    who: Principal,
    Path((acct, id)): Path<(String, i64)>,
) -> AppResult<Json<Message>> {
    who.require_billing_write()?;
    let c = live_company(&state.db, &acct).await?;
    store::delete_manual(&state.db, &who, ManualKind::Asset, c.id, id).await?;
    Ok(message("manual asset removed"))
}

#[utoipa::path(get, path = "/ledger/api/overrides/manual-users/{account_number}", tag = "ledger",
    params(("account_number" = String, Path)), responses((status = 200, body = ManualList)))]
pub async fn list_manual_users(
    State(state): State<AppState>,
    who: Principal,
    Path(acct): Path<String>,
) -> AppResult<Json<ManualList>> {
    who.require_staff()?;
    list_manual(&state.db, ManualKind::User, acct).await
}

/// Adds a user not in Codex: `full_name`, `billing_type`, `custom_cost` (Custom), `notes`.
#[utoipa::path(post, path = "/ledger/api/overrides/manual-users/{account_number}", tag = "ledger",
    params(("account_number" = String, Path)), request_body = store::ManualInput,
    responses((status = 201, body = store::ManualRow), (status = 422, body = Problem)))]
pub async fn create_manual_user(
    State(state): State<AppState>,
    BillingWriter(who): BillingWriter,
    Path(acct): Path<String>,
    JsonBody(input): JsonBody<store::ManualInput>,
) -> AppResult<(StatusCode, Json<store::ManualRow>)> {
    let c = live_company(&state.db, &acct).await?;
    let row = store::save_manual(&state.db, &who, ManualKind::User, c.id, None, &input).await?;
    Ok((StatusCode::CREATED, Json(row)))
}

#[utoipa::path(put, path = "/ledger/api/overrides/manual-users/{account_number}/{id}", tag = "ledger",
    params(("account_number" = String, Path), ("id" = i64, Path)), request_body = store::ManualInput,
    responses((status = 200, body = store::ManualRow), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update_manual_user(
    State(state): State<AppState>,
    BillingWriter(who): BillingWriter,
    Path((acct, id)): Path<(String, i64)>,
    JsonBody(input): JsonBody<store::ManualInput>,
) -> AppResult<Json<store::ManualRow>> {
    let c = live_company(&state.db, &acct).await?;
    Ok(Json(
        store::save_manual(&state.db, &who, ManualKind::User, c.id, Some(id), &input).await?,
    ))
}

#[utoipa::path(delete, path = "/ledger/api/overrides/manual-users/{account_number}/{id}", tag = "ledger",
    params(("account_number" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = Message), (status = 404, body = Problem)))]
pub async fn delete_manual_user(
    State(state): State<AppState>,
    who: Principal,
    Path((acct, id)): Path<(String, i64)>,
) -> AppResult<Json<Message>> {
    who.require_billing_write()?;
    let c = live_company(&state.db, &acct).await?;
    store::delete_manual(&state.db, &who, ManualKind::User, c.id, id).await?;
    Ok(message("manual user removed"))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LineItemList {
    pub account_number: String,
    pub line_items: Vec<store::LineItemRow>,
}

#[utoipa::path(get, path = "/ledger/api/overrides/line-items/{account_number}", tag = "ledger",
    params(("account_number" = String, Path)), responses((status = 200, body = LineItemList)))]
pub async fn list_line_items(
    State(state): State<AppState>,
    who: Principal,
    Path(acct): Path<String>,
) -> AppResult<Json<LineItemList>> {
    who.require_staff()?;
    let c = live_company(&state.db, &acct).await?;
    Ok(Json(LineItemList {
        line_items: store::line_items(&state.db, Some(&[c.id])).await?,
        account_number: acct,
    }))
}

/// Adds a custom line item: `name` and exactly one of `monthly_fee`, `one_off_fee`
/// (with `one_off_year`, `one_off_month`) or `yearly_fee` (with `yearly_bill_month`).
#[utoipa::path(post, path = "/ledger/api/overrides/line-items/{account_number}", tag = "ledger",
    params(("account_number" = String, Path)), request_body = store::LineItemInput,
    responses((status = 201, body = store::LineItemRow), (status = 422, body = Problem)))]
pub async fn create_line_item(
    State(state): State<AppState>,
    BillingWriter(who): BillingWriter,
    Path(acct): Path<String>,
    JsonBody(input): JsonBody<store::LineItemInput>,
) -> AppResult<(StatusCode, Json<store::LineItemRow>)> {
    let c = live_company(&state.db, &acct).await?;
    let row = store::save_line_item(&state.db, &who, c.id, None, &input).await?;
    Ok((StatusCode::CREATED, Json(row)))
}

#[utoipa::path(put, path = "/ledger/api/overrides/line-items/{account_number}/{id}", tag = "ledger",
    params(("account_number" = String, Path), ("id" = i64, Path)), request_body = store::LineItemInput,
    responses((status = 200, body = store::LineItemRow), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update_line_item(
    State(state): State<AppState>,
    BillingWriter(who): BillingWriter,
    Path((acct, id)): Path<(String, i64)>,
    JsonBody(input): JsonBody<store::LineItemInput>,
) -> AppResult<Json<store::LineItemRow>> {
    let c = live_company(&state.db, &acct).await?;
    Ok(Json(
        store::save_line_item(&state.db, &who, c.id, Some(id), &input).await?,
    ))
}

#[utoipa::path(delete, path = "/ledger/api/overrides/line-items/{account_number}/{id}", tag = "ledger",
    params(("account_number" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = Message), (status = 404, body = Problem)))]
pub async fn delete_line_item(
    State(state): State<AppState>,
    who: Principal,
    Path((acct, id)): Path<(String, i64)>,
) -> AppResult<Json<Message>> {
    who.require_billing_write()?;
    let c = live_company(&state.db, &acct).await?;
    store::delete_line_item(&state.db, &who, c.id, id).await?;
    Ok(message("line item removed"))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeatureOverride {
    pub feature_type: String,
    pub override_enabled: bool,
    pub value: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeatureOverrides {
    pub account_number: String,
    pub feature_overrides: Vec<FeatureOverride>,
    /// The plan's features overlaid with the overrides.
    pub features: BTreeMap<String, String>,
}

fn feature_response(acct: String, e: plans::EffectiveFeatures) -> Json<FeatureOverrides> {
    Json(FeatureOverrides {
        account_number: acct,
        feature_overrides: e
            .overrides
            .iter()
            .map(|(k, v)| FeatureOverride {
                feature_type: k.clone(),
                override_enabled: true,
                value: v.clone(),
            })
            .collect(),
        features: e.features,
    })
}

/// The company's plan-feature overrides. They are stored once, by Codex (the same
/// records as `/codex/api/companies/{acct}/feature-overrides`).
#[utoipa::path(get, path = "/ledger/api/overrides/features/{account_number}", tag = "ledger",
    params(("account_number" = String, Path)), responses((status = 200, body = FeatureOverrides)))]
pub async fn get_features(
    State(state): State<AppState>,
    who: Principal,
    Path(acct): Path<String>,
) -> AppResult<Json<FeatureOverrides>> {
    who.require_staff()?;
    let c = live_company(&state.db, &acct).await?;
    Ok(feature_response(
        acct,
        plans::effective_features(&state.db, c.id).await?,
    ))
}

/// Sets `{feature_type: value}` overrides (merged into the existing ones; `null` or
/// `""` removes one).
#[utoipa::path(put, path = "/ledger/api/overrides/features/{account_number}", tag = "ledger",
    params(("account_number" = String, Path)), request_body = BTreeMap<String, String>,
    responses((status = 200, body = FeatureOverrides), (status = 422, body = Problem)))]
pub async fn put_features(
    State(state): State<AppState>,
    BillingWriter(who): BillingWriter,
    Path(acct): Path<String>,
    JsonBody(raw): JsonBody<BTreeMap<String, Option<String>>>,
) -> AppResult<Json<FeatureOverrides>> {
    let c = live_company(&state.db, &acct).await?;
    let current = plans::effective_features(&state.db, c.id).await?;
    let mut merged: BTreeMap<String, Option<String>> = current
        .overrides
        .into_iter()
        .map(|(k, v)| (k, Some(v)))
        .collect();
    merged.extend(raw);
    Ok(feature_response(
        acct,
        plans::replace_overrides(&state.db, &who, &c, &merged).await?,
    ))
}

#[utoipa::path(delete, path = "/ledger/api/overrides/features/{account_number}/{feature_type}", tag = "ledger",
    params(("account_number" = String, Path), ("feature_type" = String, Path)),
    responses((status = 200, body = FeatureOverrides), (status = 404, body = Problem)))]
pub async fn delete_feature(
    State(state): State<AppState>,
    who: Principal,
    Path((acct, feature)): Path<(String, String)>,
) -> AppResult<Json<FeatureOverrides>> {
    who.require_billing_write()?;
    let c = live_company(&state.db, &acct).await?;
    let current = plans::effective_features(&state.db, c.id).await?;
    if !current.overrides.contains_key(&feature) {
        return Err(AppError::not_found(format!(
            "no override for feature {feature}"
        )));
    }
    let merged: BTreeMap<String, Option<String>> = current
        .overrides
        .into_iter()
        .filter(|(k, _)| *k != feature)
        .map(|(k, v)| (k, Some(v)))
        .collect();
    Ok(feature_response(
        acct,
        plans::replace_overrides(&state.db, &who, &c, &merged).await?,
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrphanList {
    pub count: usize,
    pub orphans: Vec<Orphan>,
}

/// Every override whose asset or contact (or company) is gone: not applied, listed here
/// and on the bill until someone removes or re-points it.
#[utoipa::path(get, path = "/ledger/api/overrides/orphans", tag = "ledger",
    responses((status = 200, body = OrphanList)))]
pub async fn list_orphans(
    State(state): State<AppState>,
    who: Principal,
) -> AppResult<Json<OrphanList>> {
    who.require_staff()?;
    let orphans = load::all_orphans(&state.db).await?;
    Ok(Json(OrphanList {
        count: orphans.len(),
        orphans,
    }))
}

// ---------------------------------------------------------------------------
// Classification rules and settings
// ---------------------------------------------------------------------------

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Rules {
    /// In order; the first rule whose criteria all match decides. Criteria are
    /// case-insensitive globs (`*`, `?`, `|` between alternatives); empty = any.
    #[schema(value_type = Vec<Object>)]
    pub rules: Vec<super::classify::ClassRule>,
    /// The class of a device no rule matches.
    pub default_class: String,
}

#[utoipa::path(get, path = "/ledger/api/classification-rules", tag = "ledger",
    responses((status = 200, body = Rules)))]
pub async fn get_rules(State(state): State<AppState>, who: Principal) -> AppResult<Json<Rules>> {
    who.require_staff()?;
    Ok(Json(Rules {
        rules: store::class_rules(&state.db).await?,
        default_class: super::classify::DEFAULT_CLASS.label().into(),
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RulesInput {
    pub rules: Vec<store::RuleInput>,
}

/// Replaces the classification table (admin).
#[utoipa::path(put, path = "/ledger/api/classification-rules", tag = "ledger", request_body = RulesInput,
    responses((status = 200, body = Rules), (status = 422, body = Problem)))]
pub async fn put_rules(
    State(state): State<AppState>,
    AdminOnly(who): AdminOnly,
    JsonBody(input): JsonBody<RulesInput>,
) -> AppResult<Json<Rules>> {
    Ok(Json(Rules {
        rules: store::replace_rules(&state.db, &who, &input.rules).await?,
        default_class: super::classify::DEFAULT_CLASS.label().into(),
    }))
}

#[derive(Debug, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct LedgerSettings {
    /// `active_only` (default) or `all_contacts`: which Codex contacts are billed users.
    pub user_rule: Option<String>,
}

#[utoipa::path(get, path = "/ledger/api/settings", tag = "ledger",
    responses((status = 200, body = LedgerSettings)))]
pub async fn get_settings(
    State(state): State<AppState>,
    who: Principal,
) -> AppResult<Json<LedgerSettings>> {
    who.require_staff()?;
    let rule = match store::user_rule(&state.db).await? {
        super::model::UserRule::ActiveOnly => "active_only",
        super::model::UserRule::AllContacts => "all_contacts",
    };
    Ok(Json(LedgerSettings {
        user_rule: Some(rule.into()),
    }))
}

#[utoipa::path(put, path = "/ledger/api/settings", tag = "ledger", request_body = LedgerSettings,
    responses((status = 200, body = LedgerSettings), (status = 422, body = Problem)))]
pub async fn put_settings(
    State(state): State<AppState>,
    BillingWriter(who): BillingWriter,
    JsonBody(input): JsonBody<LedgerSettings>,
) -> AppResult<Json<LedgerSettings>> {
    if let Some(rule) = &input.user_rule {
        let rule = crate::validate::one_of(rule, &["active_only", "all_contacts"])
            .map_err(|m| AppError::invalid("user_rule", m))?;
        let before = store::setting(&state.db, "user_rule").await?;
        let mut tx = state.db.pool.begin().await?;
        store::set_setting(&mut tx, "user_rule", &rule).await?;
        crate::audit::record(
            &mut tx,
            Some(&who),
            crate::audit::Change {
                module: "ledger",
                action: crate::audit::Action::Update,
                entity: "setting",
                entity_id: "user_rule".into(),
                before: before.map(Value::String),
                after: Some(Value::String(rule)),
            },
        )
        .await?;
        tx.commit().await?;
    }
    get_settings(State(state), who).await
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_dashboard))
        .routes(routes!(get_bill))
        .routes(routes!(list_plans))
        .routes(routes!(get_summary))
        .routes(routes!(download_invoice))
        .routes(routes!(export_quickbooks))
        .routes(routes!(bulk_download))
        .routes(routes!(export_all_bills))
        .routes(routes!(accept_bill))
        .routes(routes!(check_archived))
        .routes(routes!(search_snapshots))
        .routes(routes!(company_snapshots))
        .routes(routes!(snapshot_by_number))
        .routes(routes!(snapshot_csv_by_number))
        .routes(routes!(snapshot_by_id))
        .routes(routes!(snapshot_csv_by_id))
        .routes(routes!(verify_snapshot))
        .routes(routes!(void_snapshot))
        .routes(routes!(
            get_client_override,
            put_client_override,
            delete_client_override
        ))
        .routes(routes!(
            get_asset_override,
            put_asset_override,
            delete_asset_override
        ))
        .routes(routes!(
            get_user_override,
            put_user_override,
            delete_user_override
        ))
        .routes(routes!(list_manual_assets, create_manual_asset))
        .routes(routes!(update_manual_asset, delete_manual_asset))
        .routes(routes!(list_manual_users, create_manual_user))
        .routes(routes!(update_manual_user, delete_manual_user))
        .routes(routes!(list_line_items, create_line_item))
        .routes(routes!(update_line_item, delete_line_item))
        .routes(routes!(get_features, put_features))
        .routes(routes!(delete_feature))
        .routes(routes!(list_orphans))
        .routes(routes!(get_rules, put_rules))
        .routes(routes!(get_settings, put_settings))
        .merge(super::jobs::routes())
        .merge(super::contract::routes())
}
