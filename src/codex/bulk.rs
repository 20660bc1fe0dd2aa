//! `GET /codex/api/companies/bulk`: every company with its assets, contacts, locations
//! and (optionally) tickets, in a fixed number of queries whatever the company count.
//!
//! The original ran one query per company and collection (P1 in `peer/codex.md` §11.3).
//! Here each collection is one query restricted to the requested page of companies
//! by a subquery, and the rows are grouped by company id in Rust. Assets, contacts and
//! tickets are read in a fixed number of parts (`company_id % 4`) so that the driver's
//! rows never exist for the whole estate at once: 11 statements, 19 with tickets, for
//! 2 companies or 2000. The statements do not share one snapshot: a record written
//! while an export runs may or may not be in it, as with any paged read. Objects have the
//! original's shapes (§2.2) because Ledger and the QuickBooks export consume them.

use super::companies::uri_str;
use super::company_scope_sql;
use crate::db::{flag, Backend, Db};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::http::extract::QueryParams;
use crate::http::pagination::{Order, Page};
use crate::http::AppState;
use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::auth::Principal;

/// Companies per response when no `limit` is given: all of them, for any real MSP.
pub const ALL_COMPANIES: i64 = 1_000_000;
pub const SORTS: &[&str] = &["name", "account_number", "created_at", "updated_at"];
/// Exports read from the database at the same time (per server process).
pub const MAX_CONCURRENT_EXPORTS: usize = 1;
/// Assets, contacts and tickets are read in this many parts (by company id).
const PARTS: u8 = 4;
static EXPORTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_CONCURRENT_EXPORTS);

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BulkQuery {
    /// Include each company's tickets with their conversations and notes
    /// (`true`/`false`, default false).
    pub include_tickets: Option<String>,
    /// Only tickets last updated in this calendar year (UTC), e.g. 2025.
    pub year: Option<String>,
    /// Only companies on this billing plan.
    pub billing_plan: Option<String>,
    /// Only companies with this compliance level (standard, hipaa, cjis).
    pub compliance_level: Option<String>,
    /// name (default), account_number, created_at, updated_at
    pub sort: Option<String>,
    pub order: Option<Order>,
    /// Companies per page (1..=1000000); default all.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// A validated bulk request; build one with [`BulkParams::parse`] or [`BulkParams::all`].
#[derive(Debug, Clone)]
pub struct BulkParams {
    /// `Some(id)` restricts the export to one company (client users).
    pub scope: Option<i64>,
    pub include_tickets: bool,
    pub year: Option<i32>,
    pub billing_plan: Option<String>,
    pub compliance_level: Option<String>,
    pub sort: &'static str,
    pub order: Order,
    pub page: Page,
}

impl BulkParams {
    /// Every company visible in `scope`, without tickets.
    pub fn all(scope: Option<i64>) -> BulkParams {
        BulkParams {
            scope,
            include_tickets: false,
            year: None,
            billing_plan: None,
            compliance_level: None,
            sort: "name",
            order: Order::Asc,
            page: Page {
                limit: ALL_COMPANIES,
                offset: 0,
            },
        }
    }

    /// Checks the query, reporting every bad parameter at once (422).
    pub fn parse(q: &BulkQuery, scope: Option<i64>) -> AppResult<BulkParams> {
        let mut e = FieldErrors::new();
        let mut p = BulkParams::all(scope);
        match q.include_tickets.as_deref().map(parse_bool) {
            None => {}
            Some(Some(b)) => p.include_tickets = b,
            Some(None) => {
                e.insert("include_tickets".into(), "must be true or false".into());
            }
        }
        match q.year.as_deref().map(parse_year) {
            None => {}
            Some(Ok(y)) => p.year = Some(y),
            Some(Err(m)) => {
                e.insert("year".into(), m);
            }
        }
        match q.sort.as_deref() {
            None => {}
            Some(s) => match SORTS.iter().find(|x| **x == s) {
                Some(x) => p.sort = x,
                None => {
                    e.insert(
                        "sort".into(),
                        format!("must be one of: {}", SORTS.join(", ")),
                    );
                }
            },
        }
        p.order = q.order.unwrap_or_default();
        p.billing_plan = non_blank(&q.billing_plan);
        p.compliance_level = non_blank(&q.compliance_level).map(|c| c.to_lowercase());
        match Page::new(q.limit, q.offset, ALL_COMPANIES, ALL_COMPANIES) {
            Ok(page) => p.page = page,
            Err(AppError::Validation(fields)) => e.extend(fields),
            Err(other) => return Err(other),
        }
        if e.is_empty() {
            Ok(p)
        } else {
            Err(AppError::Validation(e))
        }
    }

    /// `[from, to)` of the year filter in stored time form.
    fn year_bounds(&self) -> (Option<String>, Option<String>) {
        match self.year {
            Some(y) => (
                Some(format!("{y:04}-01-01T00:00:00.000000Z")),
                Some(format!("{:04}-01-01T00:00:00.000000Z", y + 1)),
            ),
            None => (None, None),
        }
    }
}

fn non_blank(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" | "" => Some(false),
        _ => None,
    }
}

fn parse_year(s: &str) -> Result<i32, String> {
    match s.trim().parse::<i32>() {
        Ok(y) if (1970..=2100).contains(&y) => Ok(y),
        _ => Err("must be a year between 1970 and 2100".into()),
    }
}

// ---------------------------------------------------------------------------
// The objects, in the original's shapes
// ---------------------------------------------------------------------------

/// The 15 company fields of the original's company API, plus the row id.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BulkCompany {
    pub id: i64,
    pub account_number: String,
    pub name: String,
    pub description: Option<String>,
    pub compliance_level: String,
    pub billing_plan: Option<String>,
    pub contract_term_length: Option<String>,
    pub contract_start_date: Option<String>,
    pub contract_end_date: Option<String>,
    pub support_level: Option<String>,
    pub profit_or_non_profit: Option<String>,
    pub company_main_number: Option<String>,
    pub company_start_date: Option<String>,
    /// JSON array as a string, as the original returned it.
    pub domains: String,
    pub phone_system: Option<String>,
    pub email_system: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BulkAsset {
    pub id: i64,
    pub hostname: String,
    pub hardware_type: Option<String>,
    pub operating_system: Option<String>,
    pub device_type: Option<String>,
    pub last_logged_in_user: Option<String>,
    pub antivirus_product: Option<String>,
    pub ext_ip_address: Option<String>,
    pub int_ip_address: Option<String>,
    pub domain: Option<String>,
    pub online: bool,
    pub last_seen: Option<String>,
    /// Backup usage in TiB with two decimals, as text (the original's format).
    pub backup_usage_tb: Option<String>,
    /// The exact backup usage in bytes (0 when unknown).
    pub backup_data_bytes: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BulkContact {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub title: Option<String>,
    pub employment_type: String,
    #[serde(deserialize_with = "flag_json")]
    pub active: bool,
    pub mobile_phone_number: Option<String>,
    pub work_phone_number: Option<String>,
    /// JSON array as a string, as the original returned it.
    pub secondary_emails: String,
    /// The company's primary contact.
    #[serde(deserialize_with = "flag_json")]
    pub is_primary: bool,
}

/// An asset as the JSON aggregate delivers it (flags as 0/1, bytes raw).
#[derive(Debug, Deserialize)]
struct RawAsset {
    id: i64,
    hostname: String,
    hardware_type: Option<String>,
    operating_system: Option<String>,
    device_type: Option<String>,
    last_logged_in_user: Option<String>,
    antivirus_product: Option<String>,
    ext_ip_address: Option<String>,
    int_ip_address: Option<String>,
    domain: Option<String>,
    #[serde(deserialize_with = "flag_json")]
    online: bool,
    last_seen: Option<String>,
    backup_usage_bytes: Option<i64>,
}

impl RawAsset {
    fn into_bulk(self) -> BulkAsset {
        BulkAsset {
            id: self.id,
            hostname: self.hostname,
            hardware_type: self.hardware_type,
            operating_system: self.operating_system,
            device_type: self.device_type,
            last_logged_in_user: self.last_logged_in_user,
            antivirus_product: self.antivirus_product,
            ext_ip_address: self.ext_ip_address,
            int_ip_address: self.int_ip_address,
            domain: self.domain,
            online: self.online,
            last_seen: self.last_seen,
            backup_usage_tb: self.backup_usage_bytes.map(backup_tb),
            backup_data_bytes: self.backup_usage_bytes.unwrap_or(0),
        }
    }
}

/// Our flags are BIGINT 0/1; JSON built from them carries numbers (or booleans).
fn flag_json<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(b) => Ok(b),
        serde_json::Value::Number(n) => Ok(n.as_i64().unwrap_or(0) != 0),
        serde_json::Value::Null => Ok(false),
        other => Err(serde::de::Error::custom(format!("not a flag: {other}"))),
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BulkLocation {
    pub id: i64,
    pub name: String,
    pub address: Option<String>,
    pub phone_number: Option<String>,
}

/// A public reply (`conversations`) or a private note (`notes`) of a ticket.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BulkConversation {
    /// The PSA's id of the entry.
    pub id: String,
    /// Plain text.
    pub body: Option<String>,
    pub body_html: Option<String>,
    pub from_email: Option<String>,
    /// The PSA id of the author.
    pub user_id: Option<String>,
    pub author_name: Option<String>,
    pub incoming: bool,
    pub private: bool,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BulkTicket {
    /// Codex row id (the original's `ticket_id`).
    pub ticket_id: i64,
    /// The PSA's ticket id.
    pub external_id: String,
    pub ticket_number: Option<String>,
    pub subject: Option<String>,
    pub description: Option<String>,
    pub description_text: Option<String>,
    pub status: Option<String>,
    pub priority: Option<String>,
    pub requester_email: Option<String>,
    pub requester_name: Option<String>,
    pub created_at: Option<String>,
    pub last_updated_at: Option<String>,
    pub closed_at: Option<String>,
    /// Hours, two decimals (derived from `minutes_spent`).
    pub total_hours_spent: f64,
    pub minutes_spent: i64,
    pub conversations: Vec<BulkConversation>,
    pub notes: Vec<BulkConversation>,
}

/// One company with everything that hangs off it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CompanyBundle {
    pub company: BulkCompany,
    pub assets: Vec<BulkAsset>,
    pub contacts: Vec<BulkContact>,
    pub locations: Vec<BulkLocation>,
    /// Present only with `include_tickets=true`; newest update first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tickets: Option<Vec<BulkTicket>>,
}

/// The result of [`export`]: one page of bundles, the number of matching companies and
/// the number of SQL statements it took (constant, whatever the company count).
#[derive(Debug)]
pub struct BulkExport {
    pub companies: Vec<CompanyBundle>,
    pub total: i64,
    pub queries: usize,
}

// ---------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------

/// Which parameters a statement uses: `$1..$2` filters, `$3..$4` the page,
/// `$5..$6` the ticket year.
#[derive(Clone, Copy)]
enum Binds {
    Filter,
    Page,
    Year,
}

/// One export run. Every statement goes through [`Run::rows`], which counts it.
struct Run<'a> {
    db: &'a Db,
    p: &'a BulkParams,
    queries: AtomicUsize,
}

impl Run<'_> {
    async fn rows(&self, sql: &str, binds: Binds) -> AppResult<Vec<AnyRow>> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        let mut q = sqlx::query(sql)
            .bind(&self.p.billing_plan)
            .bind(&self.p.compliance_level);
        if matches!(binds, Binds::Page | Binds::Year) {
            q = q.bind(self.p.page.limit).bind(self.p.page.offset);
        }
        if matches!(binds, Binds::Year) {
            let (from, to) = self.p.year_bounds();
            q = q.bind(from).bind(to);
        }
        let started = std::time::Instant::now();
        let rows = q.fetch_all(&self.db.pool).await?;
        let ms = started.elapsed().as_millis() as u64;
        let columns = sql.split(" FROM ").next().unwrap_or("");
        tracing::debug!(rows = rows.len(), ms, sql = columns, "bulk query");
        Ok(rows)
    }

    fn filter(&self) -> String {
        format!(
            "c.deleted_at IS NULL {} AND ($1 IS NULL OR c.billing_plan = $1) \
             AND ($2 IS NULL OR c.compliance_level = $2)",
            company_scope_sql("c.id", self.p.scope)
        )
    }

    fn order_by(&self) -> String {
        let o = self.p.order.sql();
        format!("ORDER BY c.{} {o}, c.id {o}", self.p.sort)
    }

    /// The ids of the requested page of companies, as a subquery.
    fn page_ids(&self) -> String {
        format!(
            "SELECT c.id FROM companies c WHERE {} {} LIMIT $3 OFFSET $4",
            self.filter(),
            self.order_by()
        )
    }

    fn ticket_filter(&self, part: u8) -> String {
        format!(
            "t.deleted_at IS NULL AND {} AND t.company_id IN ({}) \
             AND ($5 IS NULL OR (t.last_updated_at >= $5 AND t.last_updated_at < $6))",
            Self::part_filter("t.company_id", part),
            self.page_ids()
        )
    }

    async fn total(&self) -> AppResult<i64> {
        let sql = format!("SELECT COUNT(*) FROM companies c WHERE {}", self.filter());
        let rows = self.rows(&sql, Binds::Filter).await?;
        Ok(rows.first().map(|r| r.try_get(0)).transpose()?.unwrap_or(0))
    }

    async fn companies(&self) -> AppResult<Vec<BulkCompany>> {
        let sql = format!(
            "SELECT c.id, c.account_number, c.name, c.description, c.compliance_level, c.billing_plan, \
             c.contract_term_length, c.contract_start_date, c.contract_end_date, c.support_level, \
             c.profit_or_non_profit, c.company_main_number, c.company_start_date, c.domains, \
             c.phone_system, c.email_system FROM companies c WHERE {} {} LIMIT $3 OFFSET $4",
            self.filter(),
            self.order_by()
        );
        let rows = self.rows(&sql, Binds::Page).await?;
        Ok(rows.iter().map(company).collect::<Result<_, _>>()?)
    }

    /// One part of the page's companies (`company_id % PARTS = part`).
    fn part_filter(column: &str, part: u8) -> String {
        format!("{column} % {PARTS} = {part}")
    }

    async fn assets_part(&self, part: u8) -> AppResult<Grouped<BulkAsset>> {
        let from = format!(
            "FROM assets a WHERE a.deleted_at IS NULL AND {} AND a.company_id IN ({})",
            Self::part_filter("a.company_id", part),
            self.page_ids()
        );
        let cols = [
            ("id", "a.id"),
            ("hostname", "a.hostname"),
            ("hardware_type", "a.hardware_type"),
            ("operating_system", "a.operating_system"),
            ("device_type", "a.device_type"),
            ("last_logged_in_user", "a.last_logged_in_user"),
            ("antivirus_product", "a.antivirus_product"),
            ("ext_ip_address", "a.ext_ip_address"),
            ("int_ip_address", "a.int_ip_address"),
            ("domain", "a.domain"),
            ("online", "a.online"),
            ("last_seen", "a.last_seen"),
            ("backup_usage_bytes", "a.backup_usage_bytes"),
        ];
        let mut groups: Grouped<RawAsset> = self.json_groups("a.company_id", &cols, &from).await?;
        Ok(groups
            .drain()
            .map(|(company, mut list)| {
                list.sort_by(|x, y| (&x.hostname, x.id).cmp(&(&y.hostname, y.id)));
                (company, list.into_iter().map(RawAsset::into_bulk).collect())
            })
            .collect())
    }

    async fn contacts_part(&self, part: u8) -> AppResult<Grouped<BulkContact>> {
        let from = format!(
            "FROM contact_companies cc JOIN contacts k ON k.id = cc.contact_id \
             WHERE k.deleted_at IS NULL AND {} AND cc.company_id IN ({})",
            Self::part_filter("cc.company_id", part),
            self.page_ids()
        );
        let cols = [
            ("id", "k.id"),
            ("name", "k.name"),
            ("email", "k.email"),
            ("title", "k.job_title"),
            ("employment_type", "k.employment_type"),
            ("active", "k.active"),
            ("mobile_phone_number", "k.mobile_phone_number"),
            ("work_phone_number", "k.work_phone_number"),
            ("secondary_emails", "k.secondary_emails"),
            ("is_primary", "cc.is_primary"),
        ];
        let mut groups: Grouped<BulkContact> =
            self.json_groups("cc.company_id", &cols, &from).await?;
        for list in groups.values_mut() {
            list.sort_by(|x, y| (&x.name, x.id).cmp(&(&y.name, y.id)));
        }
        Ok(groups)
    }

    /// Reads records as one JSON array per company instead of one row per record. With
    /// tens of thousands of rows the `Any` driver's per-value copying dominates (25,000
    /// assets: ~450 ms through the driver, ~20 ms in SQLite itself); both databases build
    /// the JSON in C, so the driver carries one value per company. The SQL differs only
    /// in the aggregate's name. Order inside a group is restored by the caller.
    async fn json_groups<T: serde::de::DeserializeOwned>(
        &self,
        group_col: &str,
        cols: &[(&str, &str)],
        from: &str,
    ) -> AppResult<Grouped<T>> {
        let pairs: Vec<String> = cols.iter().map(|(k, _)| format!("'{k}', {k}")).collect();
        let inner: Vec<String> = cols.iter().map(|(k, e)| format!("{e} AS {k}")).collect();
        let agg = match self.db.backend {
            Backend::Sqlite => format!("json_group_array(json_object({}))", pairs.join(", ")),
            Backend::Postgres => format!("json_agg(json_build_object({}))::text", pairs.join(", ")),
        };
        let sql = format!(
            "SELECT g, {agg} AS j FROM (SELECT {group_col} AS g, {} {from}) s GROUP BY g",
            inner.join(", ")
        );
        let mut out = Grouped::new();
        for r in self.rows(&sql, Binds::Page).await? {
            let g: i64 = r.try_get("g")?;
            let j: String = r.try_get("j")?;
            let list: Vec<T> = serde_json::from_str(&j).map_err(|e| {
                AppError::Internal(anyhow::anyhow!("bulk JSON of company {g}: {e}"))
            })?;
            out.insert(g, list);
        }
        Ok(out)
    }

    async fn locations(&self) -> AppResult<Grouped<BulkLocation>> {
        let sql = format!(
            "SELECT l.company_id, l.id, l.name, l.address, l.phone_number FROM locations l \
             WHERE l.company_id IN ({}) ORDER BY l.name, l.id",
            self.page_ids()
        );
        group(&self.rows(&sql, Binds::Page).await?, "company_id", location)
    }

    /// Tickets of one part of the companies with their conversations and notes.
    async fn tickets_part(&self, part: u8) -> AppResult<Grouped<BulkTicket>> {
        let conv_sql = format!(
            "SELECT v.ticket_id, v.external_id, v.kind, v.body, v.body_text, v.author_external_id, \
             v.author_name, v.from_email, v.incoming, v.created_at, v.updated_at \
             FROM ticket_conversations v WHERE v.ticket_id IN (SELECT t.id FROM tickets t WHERE {}) \
             ORDER BY v.created_at, v.id",
            self.ticket_filter(part)
        );
        let ticket_sql = format!(
            "SELECT t.company_id, t.id, t.external_id, t.ticket_number, t.subject, t.description, \
             t.description_text, t.status, t.priority, t.requester_email, t.requester_name, t.created_at, \
             t.last_updated_at, t.closed_at, t.minutes_spent FROM tickets t WHERE {} \
             ORDER BY t.last_updated_at DESC, t.id DESC",
            self.ticket_filter(part)
        );
        let (conv_rows, ticket_rows) = tokio::try_join!(
            self.rows(&conv_sql, Binds::Year),
            self.rows(&ticket_sql, Binds::Year)
        )?;
        let mut convs = group(&conv_rows, "ticket_id", conversation)?;
        let mut out = group(&ticket_rows, "company_id", ticket)?;
        for t in out.values_mut().flatten() {
            for c in convs.remove(&t.ticket_id).unwrap_or_default() {
                if c.private {
                    t.notes.push(c);
                } else {
                    t.conversations.push(c);
                }
            }
        }
        Ok(out)
    }
}

type Grouped<T> = HashMap<i64, Vec<T>>;

/// Groups rows by the id in `key`, keeping their order.
fn group<T>(
    rows: &[AnyRow],
    key: &str,
    map: fn(&AnyRow) -> Result<T, sqlx::Error>,
) -> AppResult<Grouped<T>> {
    let mut out: Grouped<T> = HashMap::new();
    for r in rows {
        out.entry(r.try_get(key)?).or_default().push(map(r)?);
    }
    Ok(out)
}

fn company(r: &AnyRow) -> Result<BulkCompany, sqlx::Error> {
    Ok(BulkCompany {
        id: r.try_get("id")?,
        account_number: r.try_get("account_number")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        compliance_level: r.try_get("compliance_level")?,
        billing_plan: r.try_get("billing_plan")?,
        contract_term_length: r.try_get("contract_term_length")?,
        contract_start_date: r.try_get("contract_start_date")?,
        contract_end_date: r.try_get("contract_end_date")?,
        support_level: r.try_get("support_level")?,
        profit_or_non_profit: r.try_get("profit_or_non_profit")?,
        company_main_number: r.try_get("company_main_number")?,
        company_start_date: r.try_get("company_start_date")?,
        domains: r.try_get("domains")?,
        phone_system: r.try_get("phone_system")?,
        email_system: r.try_get("email_system")?,
    })
}

/// TiB with two decimals, the original's `backup_usage_tb` text (the assets API's
/// rule, half to even on exact decimals).
pub use super::assets::backup_tb;

fn location(r: &AnyRow) -> Result<BulkLocation, sqlx::Error> {
    Ok(BulkLocation {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        address: r.try_get("address")?,
        phone_number: r.try_get("phone_number")?,
    })
}

fn conversation(r: &AnyRow) -> Result<BulkConversation, sqlx::Error> {
    let kind: String = r.try_get("kind")?;
    Ok(BulkConversation {
        id: r.try_get("external_id")?,
        body: r.try_get("body_text")?,
        body_html: r.try_get("body")?,
        from_email: r.try_get("from_email")?,
        user_id: r.try_get("author_external_id")?,
        author_name: r.try_get("author_name")?,
        incoming: flag(r, "incoming")?,
        private: kind == "note",
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Minutes → hours rounded to two decimals.
pub fn hours(minutes: i64) -> f64 {
    (minutes as f64 / 60.0 * 100.0).round() / 100.0
}

fn ticket(r: &AnyRow) -> Result<BulkTicket, sqlx::Error> {
    let minutes: i64 = r.try_get("minutes_spent")?;
    Ok(BulkTicket {
        ticket_id: r.try_get("id")?,
        external_id: r.try_get("external_id")?,
        ticket_number: r.try_get("ticket_number")?,
        subject: r.try_get("subject")?,
        description: r.try_get("description")?,
        description_text: r.try_get("description_text")?,
        status: r.try_get("status")?,
        priority: r.try_get("priority")?,
        requester_email: r.try_get("requester_email")?,
        requester_name: r.try_get("requester_name")?,
        created_at: r.try_get("created_at")?,
        last_updated_at: r.try_get("last_updated_at")?,
        closed_at: r.try_get("closed_at")?,
        total_hours_spent: hours(minutes),
        minutes_spent: minutes,
        conversations: vec![],
        notes: vec![],
    })
}

/// Everything nested per company, for one page of companies. Other modules (Ledger's
/// dashboards and exports) call this in-process instead of going over HTTP.
pub async fn export(db: &Db, p: &BulkParams) -> AppResult<BulkExport> {
    // An export holds the whole estate in memory for a moment (the driver's rows are
    // about 1 KB each); queueing them keeps the server's memory flat however many
    // consumers ask at once. One export already keeps two cores busy (the halves
    // above), so running more at a time would not finish any sooner.
    let _permit = EXPORTS
        .acquire()
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    let run = Run {
        db,
        p,
        queries: AtomicUsize::new(0),
    };
    let (total, companies, mut locations) =
        tokio::try_join!(run.total(), run.companies(), run.locations())?;
    let (mut assets, mut contacts) = (Grouped::new(), Grouped::new());
    let mut tickets = p.include_tickets.then(Grouped::new);
    // A fixed number of parts, read two statements at a time: the driver's rows
    // (about 1 KB each) then exist for a quarter of the estate at once, not all of it.
    for part in 0..PARTS {
        let (a, c) = tokio::try_join!(run.assets_part(part), run.contacts_part(part))?;
        assets.extend(a);
        contacts.extend(c);
        if let Some(t) = tickets.as_mut() {
            t.extend(run.tickets_part(part).await?);
        }
    }
    let bundles = companies
        .into_iter()
        .map(|c| CompanyBundle {
            assets: assets.remove(&c.id).unwrap_or_default(),
            contacts: contacts.remove(&c.id).unwrap_or_default(),
            locations: locations.remove(&c.id).unwrap_or_default(),
            tickets: tickets
                .as_mut()
                .map(|t| t.remove(&c.id).unwrap_or_default()),
            company: c,
        })
        .collect();
    Ok(BulkExport {
        companies: bundles,
        total,
        queries: run.queries.load(Ordering::Relaxed),
    })
}

/// The bundles as a JSON array, serialised a few at a time while the response is
/// sent: the whole document never exists as one buffer, and each bundle is freed once
/// written (the estate with two years of tickets is easily 100 MB of JSON).
struct JsonArrayBody {
    items: std::vec::IntoIter<CompanyBundle>,
    written: usize,
    done: bool,
}

const FRAME_BYTES: usize = 64 * 1024;

impl JsonArrayBody {
    fn next_chunk(&mut self) -> Result<Vec<u8>, serde_json::Error> {
        let mut buf = Vec::with_capacity(FRAME_BYTES + 4096);
        if self.written == 0 {
            buf.push(b'[');
        }
        while buf.len() < FRAME_BYTES {
            let Some(item) = self.items.next() else {
                buf.push(b']');
                self.done = true;
                break;
            };
            if self.written > 0 {
                buf.push(b',');
            }
            serde_json::to_writer(&mut buf, &item)?;
            self.written += 1;
        }
        Ok(buf)
    }
}

impl hyper::body::Body for JsonArrayBody {
    type Data = axum::body::Bytes;
    type Error = serde_json::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if this.done {
            return std::task::Poll::Ready(None);
        }
        let chunk = this
            .next_chunk()
            .map(|b| hyper::body::Frame::data(axum::body::Bytes::from(b)));
        std::task::Poll::Ready(Some(chunk))
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

/// Everything, nested per company, ordered by company name. Clients get only their
/// own company. `X-Total-Count` is the number of matching companies.
#[utoipa::path(get, path = "/codex/api/companies/bulk", tag = "codex", params(BulkQuery),
    responses((status = 200, body = [CompanyBundle],
               headers(("X-Total-Count" = i64, description = "matching companies"))),
              (status = 401, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn bulk_companies(
    State(state): State<AppState>,
    who: Principal,
    OriginalUri(uri): OriginalUri,
    QueryParams(q): QueryParams<BulkQuery>,
) -> AppResult<(HeaderMap, axum::response::Response)> {
    let p = BulkParams::parse(&q, who.company_scope())?;
    let out = export(&state.db, &p).await?;
    let mut headers = p.page.headers(out.total, uri_str(&uri));
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    let body = JsonArrayBody {
        items: out.companies.into_iter(),
        written: 0,
        done: false,
    };
    Ok((
        headers,
        axum::response::Response::new(axum::body::Body::new(body)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_checked_together() {
        let q = BulkQuery {
            include_tickets: Some("maybe".into()),
            year: Some("20x5".into()),
            sort: Some("hostname".into()),
            limit: Some(0),
            ..BulkQuery::default()
        };
        let Err(AppError::Validation(e)) = BulkParams::parse(&q, None) else {
            panic!("expected a validation error");
        };
        let fields: Vec<_> = e.keys().map(String::as_str).collect();
        assert_eq!(fields, ["include_tickets", "limit", "sort", "year"]);
        let ok = BulkParams::parse(
            &BulkQuery {
                include_tickets: Some("True".into()),
                year: Some("2025".into()),
                ..BulkQuery::default()
            },
            Some(3),
        )
        .unwrap();
        assert!(ok.include_tickets);
        assert_eq!(ok.scope, Some(3));
        assert_eq!(ok.page.limit, ALL_COMPANIES);
        assert_eq!(
            ok.year_bounds(),
            (
                Some("2025-01-01T00:00:00.000000Z".into()),
                Some("2026-01-01T00:00:00.000000Z".into())
            )
        );
        assert!(parse_year("1969").is_err() && parse_year("2101").is_err());
    }

    fn bundle(i: i64) -> CompanyBundle {
        CompanyBundle {
            company: BulkCompany {
                id: i,
                account_number: format!("{i:06}"),
                name: format!("Company {i}"),
                description: Some("x".repeat(1000)),
                compliance_level: "standard".into(),
                billing_plan: None,
                contract_term_length: None,
                contract_start_date: None,
                contract_end_date: None,
                support_level: None,
                profit_or_non_profit: None,
                company_main_number: None,
                company_start_date: None,
                domains: "[]".into(),
                phone_system: None,
                email_system: None,
            },
            assets: vec![],
            contacts: vec![],
            locations: vec![],
            tickets: None,
        }
    }

    /// All frames of a streamed body of `n` bundles, and how many frames there were.
    fn stream(n: i64) -> (Vec<u8>, usize) {
        let mut body = JsonArrayBody {
            items: (0..n).map(bundle).collect::<Vec<_>>().into_iter(),
            written: 0,
            done: false,
        };
        let (mut all, mut frames) = (Vec::new(), 0);
        while !body.done {
            all.extend(body.next_chunk().unwrap());
            frames += 1;
        }
        (all, frames)
    }

    #[test]
    fn streamed_body_is_one_json_array() {
        for n in [0, 1, 2, 300] {
            let (bytes, frames) = stream(n);
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let list = v.as_array().unwrap();
            assert_eq!(list.len(), n as usize);
            assert_eq!(
                list.last().map(|b| b["company"]["id"].clone()),
                (n > 0).then(|| (n - 1).into())
            );
            assert!(
                frames >= 1 && (n < 300 || frames > 1),
                "{n} bundles in {frames} frames"
            );
        }
    }

    #[test]
    fn units() {
        assert_eq!(backup_tb(1_099_511_627_776), "1.00");
        assert_eq!(backup_tb(1_649_267_441_664), "1.50");
        assert_eq!(hours(90), 1.5);
        assert_eq!(hours(20), 0.33);
    }
}
