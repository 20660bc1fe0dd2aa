//! Accepted bills: append-only snapshots.
//!
//! Accepting a bill stores, in one row, the frozen inputs, the computed bill and the
//! invoice CSV exactly as issued, who accepted it and when, the notes, and a SHA-256
//! content hash over all of it. No code path updates or deletes a snapshot row. A wrong
//! bill is voided (a row in `ledger_snapshot_voids` with the reason) and accepted again,
//! which issues the next revision of the same invoice number; both stay in the archive.
//! At most one non-voided revision exists per invoice number: a second accept is a 409,
//! and two racing accepts collide on the unique (invoice_number, revision).

use super::invoice::{self, invoice_csv};
use super::load::Loaded;
use super::model::{Bill, LineCategory};
use crate::audit::{self, Action, Change};
use crate::auth::{sha256_hex, Principal};
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::money;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

/// Columns of a snapshot without the three large texts.
const HEAD: &str = "s.id, s.company_id, s.company_account_number, s.company_name, s.invoice_number, \
    s.revision, s.billing_year, s.billing_month, s.invoice_date, s.due_date, s.billing_plan, \
    s.contract_term, s.support_level, s.total_amount, s.total_user_charges, s.total_asset_charges, \
    s.total_backup_charges, s.total_ticket_charges, s.total_line_item_charges, s.user_count, \
    s.asset_count, s.billable_hours, s.content_hash, s.created_by, s.created_at, s.notes, s.job_id, \
    v.reason AS void_reason, v.voided_by, v.voided_at";

const FROM: &str =
    "FROM ledger_snapshots s LEFT JOIN ledger_snapshot_voids v ON v.snapshot_id = s.id";

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Void {
    pub reason: String,
    pub voided_by: String,
    pub voided_at: String,
}

/// A snapshot as the archive lists it. Amounts are two-decimal strings.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Snapshot {
    pub id: i64,
    pub company_id: i64,
    pub company_account_number: String,
    pub company_name: String,
    pub invoice_number: String,
    /// 1 for the first issue; a re-issue after a void is the next revision.
    pub revision: i64,
    pub billing_year: i64,
    pub billing_month: i64,
    pub invoice_date: String,
    pub due_date: String,
    pub billing_plan: Option<String>,
    pub contract_term: Option<String>,
    pub support_level: Option<String>,
    pub total_amount: String,
    pub total_user_charges: String,
    pub total_asset_charges: String,
    pub total_backup_charges: String,
    pub total_ticket_charges: String,
    pub total_line_item_charges: String,
    pub user_count: i64,
    pub asset_count: i64,
    pub billable_hours: String,
    /// SHA-256 (hex) of invoice number, revision, inputs JSON, bill JSON and CSV.
    pub content_hash: String,
    pub created_by: String,
    pub created_at: String,
    pub notes: Option<String>,
    /// The bulk job that accepted it, if any.
    pub job_id: Option<i64>,
    /// `issued` or `voided`.
    pub status: String,
    pub void: Option<Void>,
}

fn head_from_row(r: &AnyRow) -> Result<Snapshot, sqlx::Error> {
    let m = |c: &str| -> Result<String, sqlx::Error> {
        Ok(money::from_cents(r.try_get::<i64, _>(c)?).to_string())
    };
    let void = match r.try_get::<Option<String>, _>("void_reason")? {
        Some(reason) => Some(Void {
            reason,
            voided_by: r.try_get("voided_by")?,
            voided_at: r.try_get("voided_at")?,
        }),
        None => None,
    };
    Ok(Snapshot {
        id: r.try_get("id")?,
        company_id: r.try_get("company_id")?,
        company_account_number: r.try_get("company_account_number")?,
        company_name: r.try_get("company_name")?,
        invoice_number: r.try_get("invoice_number")?,
        revision: r.try_get("revision")?,
        billing_year: r.try_get("billing_year")?,
        billing_month: r.try_get("billing_month")?,
        invoice_date: r.try_get("invoice_date")?,
        due_date: r.try_get("due_date")?,
        billing_plan: r.try_get("billing_plan")?,
        contract_term: r.try_get("contract_term")?,
        support_level: r.try_get("support_level")?,
        total_amount: m("total_amount")?,
        total_user_charges: m("total_user_charges")?,
        total_asset_charges: m("total_asset_charges")?,
        total_backup_charges: m("total_backup_charges")?,
        total_ticket_charges: m("total_ticket_charges")?,
        total_line_item_charges: m("total_line_item_charges")?,
        user_count: r.try_get("user_count")?,
        asset_count: r.try_get("asset_count")?,
        billable_hours: m("billable_hours")?,
        content_hash: r.try_get("content_hash")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        notes: r.try_get("notes")?,
        job_id: r.try_get("job_id")?,
        status: if void.is_some() { "voided" } else { "issued" }.into(),
        void,
    })
}

/// A snapshot with its stored calculation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SnapshotDetail {
    #[serde(flatten)]
    pub snapshot: Snapshot,
    /// The bill exactly as computed at acceptance.
    #[schema(value_type = Object)]
    pub billing_data: serde_json::Value,
    /// The frozen inputs the bill was computed from.
    #[schema(value_type = Object)]
    pub inputs: serde_json::Value,
}

/// Stored texts of a snapshot.
pub struct Stored {
    pub snapshot: Snapshot,
    pub inputs_json: String,
    pub bill_json: String,
    pub invoice_csv: String,
}

pub fn content_hash(
    invoice_number: &str,
    revision: i64,
    inputs: &str,
    bill: &str,
    csv: &str,
) -> String {
    sha256_hex(&format!(
        "{invoice_number}\n{revision}\n{inputs}\n{bill}\n{csv}"
    ))
}

fn cents(d: rust_decimal::Decimal) -> i64 {
    money::to_cents(d).unwrap_or(0)
}

/// The active (non-voided) snapshot of an invoice number, if any.
pub async fn active(db: &Db, invoice_number: &str) -> AppResult<Option<Snapshot>> {
    let sql = format!(
        "SELECT {HEAD} {FROM} WHERE s.invoice_number = $1 AND v.snapshot_id IS NULL \
         ORDER BY s.revision DESC"
    );
    let row = sqlx::query(&sql)
        .bind(invoice_number)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|r| head_from_row(&r)).transpose()?)
}

/// Active snapshots of a month, by company id (for the dashboard).
pub async fn active_for_month(
    db: &Db,
    year: i32,
    month: u32,
) -> AppResult<std::collections::HashMap<i64, Snapshot>> {
    let sql = format!(
        "SELECT {HEAD} {FROM} WHERE s.billing_year = $1 AND s.billing_month = $2 \
         AND v.snapshot_id IS NULL"
    );
    let rows = sqlx::query(&sql)
        .bind(year as i64)
        .bind(month as i64)
        .fetch_all(&db.pool)
        .await?;
    let mut out = std::collections::HashMap::new();
    for r in rows {
        let s = head_from_row(&r)?;
        out.insert(s.company_id, s);
    }
    Ok(out)
}

/// Issued revenue per month over a range of months (active snapshots only):
/// `(year, month, total cents, count)`.
pub async fn revenue_by_month(
    db: &Db,
    from: (i32, u32),
    to: (i32, u32),
) -> AppResult<Vec<(i64, i64, i64, i64)>> {
    let key = |y: i32, m: u32| y as i64 * 100 + m as i64;
    let rows = sqlx::query(
        "SELECT s.billing_year, s.billing_month, CAST(SUM(s.total_amount) AS BIGINT), COUNT(*) \
         FROM ledger_snapshots s LEFT JOIN ledger_snapshot_voids v ON v.snapshot_id = s.id \
         WHERE v.snapshot_id IS NULL AND s.billing_year * 100 + s.billing_month >= $1 \
         AND s.billing_year * 100 + s.billing_month <= $2 \
         GROUP BY s.billing_year, s.billing_month ORDER BY s.billing_year, s.billing_month",
    )
    .bind(key(from.0, from.1))
    .bind(key(to.0, to.1))
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Accepts a company's bill: stores the snapshot. 422 when the bill cannot be invoiced
/// (no plan…), 409 when a non-voided snapshot of the invoice number exists.
pub async fn accept(
    db: &Db,
    who: &Principal,
    loaded: &Loaded,
    notes: Option<String>,
) -> AppResult<Snapshot> {
    let bill = loaded.bill();
    accept_bill(db, Some(who), &who.email, loaded, &bill, notes, None).await
}

/// Stores `bill` (computed from `loaded`) as a snapshot. `who` is the user for the audit
/// log (none for scheduled jobs); `created_by` is recorded on the snapshot.
pub async fn accept_bill(
    db: &Db,
    who: Option<&Principal>,
    created_by: &str,
    loaded: &Loaded,
    bill: &Bill,
    notes: Option<String>,
    job_id: Option<i64>,
) -> AppResult<Snapshot> {
    let csv = invoice_csv(bill).map_err(|e| AppError::invalid("account_number", e.reason))?;
    let header =
        invoice::invoice_header(bill).map_err(|e| AppError::invalid("account_number", e.reason))?;
    let inputs_json = serde_json::to_string(&loaded.inputs).map_err(anyhow::Error::from)?;
    let bill_json = serde_json::to_string(bill).map_err(anyhow::Error::from)?;
    let rows = invoice::invoice_rows(bill);
    let count = |c: LineCategory| rows.iter().filter(|r| r.category == c).count() as i64;
    let plan = bill.plan.as_ref();
    let now = crate::time::now_db();
    let mut tx = db.pool.begin().await?;
    let prior = sqlx::query(
        "SELECT s.id, s.revision, v.snapshot_id AS voided FROM ledger_snapshots s \
         LEFT JOIN ledger_snapshot_voids v ON v.snapshot_id = s.id \
         WHERE s.invoice_number = $1 ORDER BY s.revision",
    )
    .bind(&header.invoice_number)
    .fetch_all(&mut *tx)
    .await?;
    let mut revision = 1;
    for r in &prior {
        let rev: i64 = r.try_get("revision")?;
        revision = revision.max(rev + 1);
        if r.try_get::<Option<i64>, _>("voided")?.is_none() {
            let id: i64 = r.try_get("id")?;
            return Err(AppError::Conflict(format!(
                "this bill has already been archived as {} (snapshot {id}); void it to re-issue",
                header.invoice_number
            )));
        }
    }
    let hash = content_hash(
        &header.invoice_number,
        revision,
        &inputs_json,
        &bill_json,
        &csv,
    );
    let id: i64 = sqlx::query(
        "INSERT INTO ledger_snapshots (company_id, company_account_number, company_name, invoice_number, \
         revision, billing_year, billing_month, invoice_date, due_date, billing_plan, contract_term, \
         support_level, total_amount, total_user_charges, total_asset_charges, total_backup_charges, \
         total_ticket_charges, total_line_item_charges, user_count, asset_count, billable_hours, \
         inputs_json, bill_json, invoice_csv, content_hash, created_by, created_at, notes, job_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, \
         $20, $21, $22, $23, $24, $25, $26, $27, $28, $29) RETURNING id",
    )
    .bind(bill.company_id)
    .bind(&bill.account_number)
    .bind(&header.customer)
    .bind(&header.invoice_number)
    .bind(revision)
    .bind(bill.period.year as i64)
    .bind(bill.period.month as i64)
    .bind(header.invoice_date.to_string())
    .bind(header.due_date.to_string())
    .bind(plan.map(|p| p.plan_name.clone()))
    .bind(plan.map(|p| p.term_length.clone()))
    .bind(plan.and_then(|p| p.support_level.clone()))
    .bind(cents(bill.totals.total))
    .bind(cents(bill.totals.users))
    .bind(cents(bill.totals.assets))
    .bind(cents(bill.totals.backup))
    .bind(cents(bill.totals.hours))
    .bind(cents(bill.totals.line_items))
    .bind(count(LineCategory::User))
    .bind(count(LineCategory::Asset))
    .bind(cents(bill.hours.billed_hours))
    .bind(&inputs_json)
    .bind(&bill_json)
    .bind(&csv)
    .bind(&hash)
    .bind(created_by)
    .bind(&now)
    .bind(&notes)
    .bind(job_id)
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    let sql = format!("SELECT {HEAD} {FROM} WHERE s.id = $1");
    let snap = head_from_row(&sqlx::query(&sql).bind(id).fetch_one(&mut *tx).await?)?;
    audit::record(
        &mut tx,
        who,
        Change {
            module: "ledger",
            action: Action::Create,
            entity: "snapshot",
            entity_id: id.to_string(),
            before: None,
            after: Some(serde_json::to_value(&snap).map_err(anyhow::Error::from)?),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(snap)
}

pub async fn get(db: &Db, id: i64) -> AppResult<Option<Stored>> {
    let sql =
        format!("SELECT {HEAD}, s.inputs_json, s.bill_json, s.invoice_csv {FROM} WHERE s.id = $1");
    let Some(r) = sqlx::query(&sql).bind(id).fetch_optional(&db.pool).await? else {
        return Ok(None);
    };
    Ok(Some(Stored {
        snapshot: head_from_row(&r)?,
        inputs_json: r.try_get("inputs_json")?,
        bill_json: r.try_get("bill_json")?,
        invoice_csv: r.try_get("invoice_csv")?,
    }))
}

/// The snapshot of an invoice number: the active revision, else the latest.
pub async fn by_invoice_number(db: &Db, invoice_number: &str) -> AppResult<Option<Stored>> {
    let row = sqlx::query(
        "SELECT s.id FROM ledger_snapshots s LEFT JOIN ledger_snapshot_voids v ON v.snapshot_id = s.id \
         WHERE s.invoice_number = $1 ORDER BY CASE WHEN v.snapshot_id IS NULL THEN 0 ELSE 1 END, \
         s.revision DESC",
    )
    .bind(invoice_number)
    .fetch_optional(&db.pool)
    .await?;
    match row {
        Some(r) => get(db, r.try_get(0)?).await,
        None => Ok(None),
    }
}

pub fn detail(s: Stored) -> SnapshotDetail {
    SnapshotDetail {
        billing_data: serde_json::from_str(&s.bill_json).unwrap_or_default(),
        inputs: serde_json::from_str(&s.inputs_json).unwrap_or_default(),
        snapshot: s.snapshot,
    }
}

/// Voids a snapshot (reason required). A voided snapshot stays, marked, forever.
pub async fn void(db: &Db, who: &Principal, id: i64, reason: &str) -> AppResult<Snapshot> {
    let reason =
        crate::validate::required_text(reason, 2000).map_err(|m| AppError::invalid("reason", m))?;
    let Some(before) = get(db, id).await? else {
        return Err(AppError::not_found(format!("snapshot {id} not found")));
    };
    if before.snapshot.void.is_some() {
        return Err(AppError::Conflict(format!(
            "snapshot {id} is already voided"
        )));
    }
    let mut tx = db.pool.begin().await?;
    sqlx::query(
        "INSERT INTO ledger_snapshot_voids (snapshot_id, reason, voided_by, voided_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(&reason)
    .bind(&who.email)
    .bind(crate::time::now_db())
    .execute(&mut *tx)
    .await?;
    let sql = format!("SELECT {HEAD} {FROM} WHERE s.id = $1");
    let after = head_from_row(&sqlx::query(&sql).bind(id).fetch_one(&mut *tx).await?)?;
    audit::record(
        &mut tx,
        Some(who),
        Change {
            module: "ledger",
            action: Action::Update,
            entity: "snapshot_void",
            entity_id: id.to_string(),
            before: Some(serde_json::to_value(&before.snapshot).map_err(anyhow::Error::from)?),
            after: Some(serde_json::to_value(&after).map_err(anyhow::Error::from)?),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Archive search filters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Exact account number.
    pub account_number: Option<String>,
    /// Part of the company name (case-insensitive).
    pub company: Option<String>,
    pub year: Option<i64>,
    pub month: Option<i64>,
    /// Exact invoice number.
    pub invoice_number: Option<String>,
    /// Total at least this amount (e.g. `100.00`).
    pub min_amount: Option<String>,
    /// Total at most this amount.
    pub max_amount: Option<String>,
    /// Accepted on or after this date (`YYYY-MM-DD`).
    pub from_date: Option<String>,
    /// Accepted on or before this date (`YYYY-MM-DD`, inclusive).
    pub to_date: Option<String>,
    /// `issued`, `voided` or `all` (default).
    pub status: Option<String>,
    /// 1..=1000, default 100.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchResult {
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    pub results: Vec<Snapshot>,
}

fn amount(field: &str, v: &Option<String>) -> AppResult<Option<i64>> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => super::store::parse_amount(&serde_json::Value::String(s.into()), true)
            .map(Some)
            .map_err(|m| AppError::invalid(field, m)),
    }
}

fn day(field: &str, v: &Option<String>, end: bool) -> AppResult<Option<String>> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => {
            let d = crate::time::parse_date(s)
                .ok_or_else(|| AppError::invalid(field, "must be a date YYYY-MM-DD"))?;
            let d = if end { d.succ_opt().unwrap_or(d) } else { d };
            Ok(Some(crate::time::to_db(
                d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
            )))
        }
    }
}

pub async fn search(db: &Db, q: &SearchQuery) -> AppResult<SearchResult> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::invalid("limit", "must be 1-1000"));
    }
    let offset = q.offset.unwrap_or(0);
    if offset < 0 {
        return Err(AppError::invalid("offset", "must not be negative"));
    }
    if let Some(m) = q.month {
        if !(1..=12).contains(&m) {
            return Err(AppError::invalid("month", "must be 1-12"));
        }
    }
    let status = q.status.as_deref().unwrap_or("all");
    let status_sql = match status {
        "all" => "",
        "issued" => "AND v.snapshot_id IS NULL",
        "voided" => "AND v.snapshot_id IS NOT NULL",
        _ => return Err(AppError::invalid("status", "must be issued, voided or all")),
    };
    let min = amount("min_amount", &q.min_amount)?;
    let max = amount("max_amount", &q.max_amount)?;
    let from = day("from_date", &q.from_date, false)?;
    let to = day("to_date", &q.to_date, true)?;
    let company = q
        .company
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(crate::db::like_pattern);
    let ilike = db.ilike();
    let filter = format!(
        "WHERE ($1 IS NULL OR s.company_account_number = $1) \
         AND ($2 IS NULL OR s.company_name {ilike} $2 ESCAPE '\\') \
         AND ($3 IS NULL OR s.billing_year = $3) AND ($4 IS NULL OR s.billing_month = $4) \
         AND ($5 IS NULL OR s.invoice_number = $5) AND ($6 IS NULL OR s.total_amount >= $6) \
         AND ($7 IS NULL OR s.total_amount <= $7) AND ($8 IS NULL OR s.created_at >= $8) \
         AND ($9 IS NULL OR s.created_at < $9) {status_sql}"
    );
    macro_rules! bind_all {
        ($q:expr) => {
            $q.bind(&q.account_number)
                .bind(&company)
                .bind(q.year)
                .bind(q.month)
                .bind(&q.invoice_number)
                .bind(min)
                .bind(max)
                .bind(&from)
                .bind(&to)
        };
    }
    let count_sql = format!("SELECT COUNT(*) {FROM} {filter}");
    let total: i64 = bind_all!(sqlx::query(&count_sql))
        .fetch_one(&db.pool)
        .await?
        .try_get(0)?;
    let sql = format!(
        "SELECT {HEAD} {FROM} {filter} ORDER BY s.created_at DESC, s.id DESC LIMIT $10 OFFSET $11"
    );
    let rows = bind_all!(sqlx::query(&sql))
        .bind(limit)
        .bind(offset)
        .fetch_all(&db.pool)
        .await?;
    Ok(SearchResult {
        total,
        limit,
        offset,
        results: rows.iter().map(head_from_row).collect::<Result<_, _>>()?,
    })
}

/// Every snapshot of a company, newest period first.
pub async fn for_company(db: &Db, account_number: &str) -> AppResult<Vec<Snapshot>> {
    let sql = format!(
        "SELECT {HEAD} {FROM} WHERE s.company_account_number = $1 \
         ORDER BY s.billing_year DESC, s.billing_month DESC, s.revision DESC"
    );
    let rows = sqlx::query(&sql)
        .bind(account_number)
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.iter().map(head_from_row).collect::<Result<_, _>>()?)
}
