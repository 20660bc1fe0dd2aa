//! The Rust API the PSA sync, Beacon and Ledger use: upserts keyed on
//! (external_source, external_id) that keep row ids stable, and the bulk reads those
//! modules need. Nothing here is reached over HTTP directly.

use super::{
    from_row, id_list, norm_time, status_display, strip_html, year_bounds, Args, CompanyTicket,
    Ticket, CLOSED_STATUSES, SELECT,
};
use crate::db::{flag, Db};
use crate::error::{AppError, AppResult};
use sqlx::Row;
use std::collections::HashMap;

/// A ticket as a PSA reports it. Statuses and priorities are already normalised (see
/// `status_from_freshservice` and friends); times may be in any vendor format
/// `norm_time` accepts.
#[derive(Debug, Clone, Default)]
pub struct TicketUpsert {
    pub external_source: String,
    pub external_id: String,
    pub ticket_number: Option<String>,
    /// Our company row id, when the caller already knows it…
    pub company_id: Option<i64>,
    /// …else the PSA's company (department) id, matched on the company's external id.
    pub company_external_id: Option<String>,
    pub subject: Option<String>,
    pub description: Option<String>,
    /// Derived from `description` when absent.
    pub description_text: Option<String>,
    pub status: Option<String>,
    pub status_id: Option<i64>,
    /// Derived from `status` when absent.
    pub status_text: Option<String>,
    pub priority: Option<String>,
    pub priority_id: Option<i64>,
    pub ticket_type: Option<String>,
    pub source: Option<String>,
    pub category: Option<String>,
    pub requester_external_id: Option<String>,
    pub requester_email: Option<String>,
    pub requester_name: Option<String>,
    pub responder_external_id: Option<String>,
    pub group_external_id: Option<String>,
    pub group_name: Option<String>,
    pub department_external_id: Option<String>,
    pub created_at: Option<String>,
    pub last_updated_at: Option<String>,
    pub closed_at: Option<String>,
    pub resolved_at: Option<String>,
    pub fr_due_by: Option<String>,
    pub due_by: Option<String>,
    pub first_responded_at: Option<String>,
    pub agent_responded_at: Option<String>,
    pub webhook_updated_at: Option<String>,
}

/// Columns the upsert writes, in `upsert_args` order. Those in `KEEP_WHEN_NULL` keep
/// their stored value when the PSA sends nothing: the light sync and webhooks carry
/// fewer fields than a full fetch, and must not erase what a full fetch stored.
const UPSERT_COLUMNS: &[&str] = &[
    "external_source",
    "external_id",
    "ticket_number",
    "company_id",
    "subject",
    "description",
    "description_text",
    "status",
    "status_id",
    "status_text",
    "priority",
    "priority_id",
    "ticket_type",
    "source",
    "category",
    "requester_external_id",
    "requester_email",
    "requester_name",
    "contact_id",
    "responder_external_id",
    "agent_id",
    "group_external_id",
    "group_name",
    "department_external_id",
    "created_at",
    "last_updated_at",
    "closed_at",
    "resolved_at",
    "fr_due_by",
    "due_by",
    "first_responded_at",
    "agent_responded_at",
    "webhook_updated_at",
];

const KEEP_WHEN_NULL: &[&str] = &[
    "ticket_number",
    "company_id",
    "description",
    "description_text",
    "requester_external_id",
    "requester_email",
    "requester_name",
    "contact_id",
    "group_name",
    "department_external_id",
    "created_at",
    "first_responded_at",
    "agent_responded_at",
    "webhook_updated_at",
];

/// Row ids the upsert resolves from the PSA's ids.
struct Links {
    company_id: Option<i64>,
    contact_id: Option<i64>,
    agent_id: Option<i64>,
}

async fn one_id(db: &Db, sql: &str, a: &str, b: Option<&str>) -> AppResult<Option<i64>> {
    let mut q = sqlx::query(sql).bind(a);
    if let Some(b) = b {
        q = q.bind(b);
    }
    let row = q.fetch_optional(&db.pool).await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

async fn resolve_links(db: &Db, source: &str, t: &TicketUpsert) -> AppResult<Links> {
    let company_id = match (t.company_id, t.company_external_id.as_deref()) {
        (Some(id), _) => Some(id),
        (None, Some(ext)) => {
            let sql = "SELECT id FROM companies WHERE external_id = $1 \
                       AND COALESCE(external_source, psa_provider, $2) = $2 ORDER BY id LIMIT 1";
            one_id(db, sql, ext, Some(source)).await?
        }
        (None, None) => None,
    };
    let mut contact_id = None;
    if let Some(ext) = t.requester_external_id.as_deref() {
        let sql = "SELECT id FROM contacts WHERE external_id = $1 AND external_source = $2";
        contact_id = one_id(db, sql, ext, Some(source)).await?;
    }
    if let (None, Some(email)) = (contact_id, t.requester_email.as_deref()) {
        let sql = "SELECT id FROM contacts WHERE email = $1";
        contact_id = one_id(db, sql, &email.trim().to_lowercase(), None).await?;
    }
    let agent_id = match t.responder_external_id.as_deref() {
        Some(ext) => {
            let sql = "SELECT id FROM psa_agents WHERE external_id = $1 AND external_source = $2";
            one_id(db, sql, ext, Some(source)).await?
        }
        None => None,
    };
    Ok(Links {
        company_id,
        contact_id,
        agent_id,
    })
}

fn upsert_args(t: &TicketUpsert, source: &str, l: &Links, args: &mut Args) -> Vec<String> {
    let time = |v: &Option<String>| v.as_deref().and_then(norm_time);
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let description_text =
        text(&t.description_text).or_else(|| t.description.as_deref().map(strip_html));
    let status_text = text(&t.status_text).or_else(|| t.status.as_deref().map(status_display));
    vec![
        args.text(source),
        args.text(t.external_id.trim()),
        args.opt_text(text(&t.ticket_number).or_else(|| Some(t.external_id.trim().to_string()))),
        args.opt_int(l.company_id),
        args.opt_text(t.subject.clone()),
        args.opt_text(t.description.clone()),
        args.opt_text(description_text),
        args.opt_text(text(&t.status)),
        args.opt_int(t.status_id),
        args.opt_text(status_text),
        args.opt_text(text(&t.priority)),
        args.opt_int(t.priority_id),
        args.opt_text(text(&t.ticket_type)),
        args.opt_text(text(&t.source)),
        args.opt_text(text(&t.category)),
        args.opt_text(text(&t.requester_external_id)),
        args.opt_text(text(&t.requester_email).map(|e| e.to_lowercase())),
        args.opt_text(text(&t.requester_name)),
        args.opt_int(l.contact_id),
        args.opt_text(text(&t.responder_external_id)),
        args.opt_int(l.agent_id),
        args.opt_text(text(&t.group_external_id)),
        args.opt_text(text(&t.group_name)),
        args.opt_text(text(&t.department_external_id)),
        args.opt_text(time(&t.created_at)),
        args.opt_text(time(&t.last_updated_at)),
        args.opt_text(time(&t.closed_at)),
        args.opt_text(time(&t.resolved_at)),
        args.opt_text(time(&t.fr_due_by)),
        args.opt_text(time(&t.due_by)),
        args.opt_text(time(&t.first_responded_at)),
        args.opt_text(time(&t.agent_responded_at)),
        args.opt_text(time(&t.webhook_updated_at)),
    ]
}

/// Inserts or updates a ticket by (source, PSA id) and returns its stable row id.
/// Company, contact and agent are resolved from the PSA's ids; time entries,
/// conversations and local notes are left alone (see `replace_time_entries`,
/// `upsert_conversations`). A ticket seen again is no longer marked deleted.
pub async fn upsert_ticket(db: &Db, t: &TicketUpsert) -> AppResult<i64> {
    let source = t.external_source.trim().to_lowercase();
    if source.is_empty() || t.external_id.trim().is_empty() {
        return Err(AppError::BadRequest(
            "a ticket upsert needs external_source and external_id".into(),
        ));
    }
    let links = resolve_links(db, &source, t).await?;
    let mut args = Args::default();
    let marks = upsert_args(t, &source, &links, &mut args);
    let now = args.text(crate::time::now_db());
    let updates: Vec<String> = UPSERT_COLUMNS[2..]
        .iter()
        .map(|c| {
            if KEEP_WHEN_NULL.contains(c) {
                format!("{c} = COALESCE(excluded.{c}, tickets.{c})")
            } else {
                format!("{c} = excluded.{c}")
            }
        })
        .collect();
    let sql = format!(
        "INSERT INTO tickets ({}, synced_at, row_created_at, row_updated_at) VALUES ({}, {now}, {now}, {now}) \
         ON CONFLICT (external_source, external_id) DO UPDATE SET {}, synced_at = excluded.synced_at, \
         row_updated_at = excluded.row_updated_at, deleted_at = NULL RETURNING id",
        UPSERT_COLUMNS.join(", "),
        marks.join(", "),
        updates.join(", ")
    );
    let id: i64 = args
        .bind(sqlx::query(&sql))
        .fetch_one(&db.pool)
        .await?
        .try_get(0)?;
    Ok(id)
}

/// What Codex holds of these PSA tickets: row id and last update as stored, by PSA id.
/// The sync compares it with a listing to fetch details only for tickets that changed.
pub async fn stored_versions(
    db: &Db,
    source: &str,
    external_ids: &[String],
) -> AppResult<HashMap<String, (i64, Option<String>, bool)>> {
    let mut out = HashMap::new();
    for chunk in external_ids.chunks(500) {
        let mut args = Args::default();
        let src = args.text(source.trim().to_lowercase());
        let list: Vec<String> = chunk.iter().map(|e| args.text(e.clone())).collect();
        let sql = format!(
            "SELECT id, external_id, last_updated_at, deleted_at FROM tickets \
             WHERE external_source = {src} AND external_id IN ({})",
            list.join(", ")
        );
        for r in args.bind(sqlx::query(&sql)).fetch_all(&db.pool).await? {
            let deleted: Option<String> = r.try_get("deleted_at")?;
            out.insert(
                r.try_get("external_id")?,
                (
                    r.try_get("id")?,
                    r.try_get("last_updated_at")?,
                    deleted.is_some(),
                ),
            );
        }
    }
    Ok(out)
}

/// Marks these PSA tickets deleted (the PSA reported them deleted or spam, or they
/// no longer exist); rows stay so billed hours keep their ticket. Returns how many.
pub async fn mark_deleted(db: &Db, source: &str, external_ids: &[String]) -> AppResult<u64> {
    let mut n = 0;
    for chunk in external_ids.chunks(500) {
        let mut args = Args::default();
        let src = args.text(source.trim().to_lowercase());
        let now = args.text(crate::time::now_db());
        let list: Vec<String> = chunk.iter().map(|e| args.text(e.clone())).collect();
        let sql = format!(
            "UPDATE tickets SET deleted_at = {now}, row_updated_at = {now} \
             WHERE external_source = {src} AND deleted_at IS NULL AND external_id IN ({})",
            list.join(", ")
        );
        n += args
            .bind(sqlx::query(&sql))
            .execute(&db.pool)
            .await?
            .rows_affected();
    }
    Ok(n)
}

/// PSA ids of this source's live tickets in an active status (the light sync checks
/// those the PSA no longer lists as active).
pub async fn active_external_ids(db: &Db, source: &str) -> AppResult<Vec<String>> {
    let mut args = Args::default();
    let src = args.text(source.trim().to_lowercase());
    let closed: Vec<String> = CLOSED_STATUSES.iter().map(|s| args.text(*s)).collect();
    let sql = format!(
        "SELECT external_id FROM tickets WHERE external_source = {src} AND deleted_at IS NULL \
         AND (status IS NULL OR status NOT IN ({}))",
        closed.join(", ")
    );
    let rows = args.bind(sqlx::query(&sql)).fetch_all(&db.pool).await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?)
}

/// One time entry as the PSA reports it.
#[derive(Debug, Clone, Default)]
pub struct TimeEntry {
    pub external_id: String,
    pub agent_external_id: Option<String>,
    pub minutes: i64,
    pub billable: bool,
    pub note: Option<String>,
    /// When the work was done (Ledger bills by this).
    pub executed_at: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// Makes a ticket's time entries exactly `entries` (upserted by PSA id, so surviving
/// entries keep their row ids; others are removed) and recomputes `minutes_spent`,
/// in one transaction. Returns the new total in minutes.
pub async fn replace_time_entries(
    db: &Db,
    ticket_id: i64,
    entries: &[TimeEntry],
) -> AppResult<i64> {
    if let Some(bad) = entries
        .iter()
        .find(|e| e.minutes < 0 || e.external_id.trim().is_empty())
    {
        return Err(AppError::BadRequest(format!(
            "time entry '{}' needs an id and non-negative minutes",
            bad.external_id
        )));
    }
    ensure_ticket(db, ticket_id).await?;
    let mut tx = db.pool.begin().await?;
    for e in entries {
        sqlx::query(
            "INSERT INTO ticket_time_entries (ticket_id, external_id, agent_external_id, minutes, billable, \
             note, executed_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (ticket_id, external_id) DO UPDATE SET agent_external_id = excluded.agent_external_id, \
             minutes = excluded.minutes, billable = excluded.billable, note = excluded.note, \
             executed_at = excluded.executed_at, created_at = excluded.created_at, updated_at = excluded.updated_at",
        )
        .bind(ticket_id)
        .bind(e.external_id.trim())
        .bind(&e.agent_external_id)
        .bind(e.minutes)
        .bind(e.billable as i64)
        .bind(&e.note)
        .bind(e.executed_at.as_deref().and_then(norm_time))
        .bind(e.created_at.as_deref().and_then(norm_time))
        .bind(e.updated_at.as_deref().and_then(norm_time))
        .execute(&mut *tx)
        .await?;
    }
    let mut args = Args::default();
    let tid = args.int(ticket_id);
    let keep = if entries.is_empty() {
        String::new()
    } else {
        let ids: Vec<String> = entries
            .iter()
            .map(|e| args.text(e.external_id.trim()))
            .collect();
        format!("AND external_id NOT IN ({})", ids.join(", "))
    };
    let sql = format!("DELETE FROM ticket_time_entries WHERE ticket_id = {tid} {keep}");
    args.bind(sqlx::query(&sql)).execute(&mut *tx).await?;
    let minutes: i64 = sqlx::query(
        "SELECT CAST(COALESCE(SUM(minutes), 0) AS BIGINT) FROM ticket_time_entries WHERE ticket_id = $1",
    )
    .bind(ticket_id)
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    sqlx::query("UPDATE tickets SET minutes_spent = $1, row_updated_at = $2 WHERE id = $3")
        .bind(minutes)
        .bind(crate::time::now_db())
        .bind(ticket_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(minutes)
}

async fn ensure_ticket(db: &Db, ticket_id: i64) -> AppResult<()> {
    let found = sqlx::query("SELECT id FROM tickets WHERE id = $1")
        .bind(ticket_id)
        .fetch_optional(&db.pool)
        .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(AppError::not_found(format!("ticket {ticket_id} not found"))),
    }
}

/// A PSA conversation entry: a public reply, or a private note.
#[derive(Debug, Clone, Default)]
pub struct ConversationUpsert {
    pub external_id: String,
    pub private: bool,
    /// HTML.
    pub body: Option<String>,
    /// Derived from `body` when absent.
    pub body_text: Option<String>,
    pub author_external_id: Option<String>,
    pub author_name: Option<String>,
    pub from_email: Option<String>,
    pub incoming: bool,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// Inserts or updates conversations by PSA id. Nothing is removed, so notes written in
/// HiveMatrix survive every sync. Returns how many were written.
pub async fn upsert_conversations(
    db: &Db,
    ticket_id: i64,
    items: &[ConversationUpsert],
) -> AppResult<usize> {
    ensure_ticket(db, ticket_id).await?;
    let mut tx = db.pool.begin().await?;
    for c in items {
        let text = c
            .body_text
            .clone()
            .or_else(|| c.body.as_deref().map(strip_html));
        sqlx::query(
            "INSERT INTO ticket_conversations (ticket_id, external_id, kind, body, body_text, author_external_id, \
             author_name, from_email, incoming, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (ticket_id, external_id) DO UPDATE SET kind = excluded.kind, body = excluded.body, \
             body_text = excluded.body_text, author_external_id = excluded.author_external_id, \
             author_name = excluded.author_name, from_email = excluded.from_email, incoming = excluded.incoming, \
             created_at = excluded.created_at, updated_at = excluded.updated_at",
        )
        .bind(ticket_id)
        .bind(c.external_id.trim())
        .bind(if c.private { "note" } else { "conversation" })
        .bind(&c.body)
        .bind(text)
        .bind(&c.author_external_id)
        .bind(&c.author_name)
        .bind(c.from_email.as_ref().map(|e| e.trim().to_lowercase()))
        .bind(c.incoming as i64)
        .bind(c.created_at.as_deref().and_then(norm_time))
        .bind(c.updated_at.as_deref().and_then(norm_time))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(items.len())
}

/// A time entry with its ticket's keys, for billing.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MonthTimeEntry {
    pub id: i64,
    pub ticket_id: i64,
    pub ticket_external_source: String,
    pub ticket_external_id: String,
    pub ticket_number: Option<String>,
    pub ticket_subject: Option<String>,
    pub company_id: Option<i64>,
    pub external_id: String,
    pub agent_external_id: Option<String>,
    pub minutes: i64,
    pub billable: bool,
    pub note: Option<String>,
    pub executed_at: Option<String>,
}

/// Time entries done (`executed_at`) in a UTC calendar month, for the given companies
/// (`None`: all), ordered by company, time. Ledger bills time in the month it was done.
pub async fn time_entries_for_month(
    db: &Db,
    company_ids: Option<&[i64]>,
    year: i32,
    month: u32,
) -> AppResult<Vec<MonthTimeEntry>> {
    let start = chrono::NaiveDate::from_ymd_opt(year, month, 1)
        .ok_or_else(|| AppError::invalid("month", "must be a valid year and month"))?;
    let end = start
        .checked_add_months(chrono::Months::new(1))
        .ok_or_else(|| AppError::invalid("month", "must be a valid year and month"))?;
    let stamp = |d: chrono::NaiveDate| {
        crate::time::to_db(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
    };
    let scope = match company_ids {
        None => String::new(),
        Some([]) => return Ok(vec![]),
        Some(ids) => format!("AND t.company_id IN ({})", id_list(ids)),
    };
    let sql = format!(
        "SELECT e.*, t.external_source AS t_source, t.external_id AS t_external_id, \
         t.ticket_number AS t_number, t.subject AS t_subject, t.company_id AS t_company_id \
         FROM ticket_time_entries e JOIN tickets t ON t.id = e.ticket_id \
         WHERE e.executed_at >= $1 AND e.executed_at < $2 AND t.deleted_at IS NULL {scope} \
         ORDER BY t.company_id, e.executed_at, e.id"
    );
    let rows = sqlx::query(&sql)
        .bind(stamp(start))
        .bind(stamp(end))
        .fetch_all(&db.pool)
        .await?;
    let entry = |r: &sqlx::any::AnyRow| -> Result<MonthTimeEntry, sqlx::Error> {
        Ok(MonthTimeEntry {
            id: r.try_get("id")?,
            ticket_id: r.try_get("ticket_id")?,
            ticket_external_source: r.try_get("t_source")?,
            ticket_external_id: r.try_get("t_external_id")?,
            ticket_number: r.try_get("t_number")?,
            ticket_subject: r.try_get("t_subject")?,
            company_id: r.try_get("t_company_id")?,
            external_id: r.try_get("external_id")?,
            agent_external_id: r.try_get("agent_external_id")?,
            minutes: r.try_get("minutes")?,
            billable: flag(r, "billable")?,
            note: r.try_get("note")?,
            executed_at: r.try_get("executed_at")?,
        })
    };
    Ok(rows.iter().map(entry).collect::<Result<_, _>>()?)
}

/// The most active tickets `list_active` returns; a board never shows more.
pub const ACTIVE_CAP: i64 = 10_000;

/// Tickets still in play (status outside `CLOSED_STATUSES`; a missing status counts as
/// active so a half-filled webhook ticket is not hidden), highest priority first, then
/// least recently updated. For Beacon.
pub async fn list_active(db: &Db) -> AppResult<Vec<Ticket>> {
    let closed: Vec<String> = CLOSED_STATUSES.iter().map(|s| format!("'{s}'")).collect();
    let sql = format!(
        "{SELECT} WHERE t.deleted_at IS NULL AND COALESCE(t.status, 'unknown') NOT IN ({}) \
         ORDER BY COALESCE(t.priority_id, 1) DESC, t.last_updated_at ASC NULLS LAST, t.id \
         LIMIT {ACTIVE_CAP}",
        closed.join(", ")
    );
    let rows = sqlx::query(&sql).fetch_all(&db.pool).await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// Every live ticket of the given companies (optionally one UTC year of
/// `last_updated_at`), with conversations and notes, grouped by company id: two
/// queries whatever the number of companies. For the bulk endpoint.
pub async fn list_for_companies(
    db: &Db,
    company_ids: &[i64],
    year: Option<i32>,
) -> AppResult<HashMap<i64, Vec<CompanyTicket>>> {
    if company_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut cond = format!(
        "t.company_id IN ({}) AND t.deleted_at IS NULL",
        id_list(company_ids)
    );
    if let Some(y) = year {
        let (from, to) = year_bounds(y)?;
        // Both bounds are generated from an integer year, never client text.
        cond.push_str(&format!(
            " AND t.last_updated_at >= '{from}' AND t.last_updated_at < '{to}'"
        ));
    }
    let sql = format!(
        "{SELECT} WHERE {cond} ORDER BY t.company_id, t.last_updated_at DESC NULLS LAST, t.id DESC"
    );
    let rows = sqlx::query(&sql).fetch_all(&db.pool).await?;
    let mut owners = Vec::with_capacity(rows.len());
    let mut all = Vec::with_capacity(rows.len());
    for r in &rows {
        let t = from_row(r)?;
        owners.push(t.company_id.unwrap_or_default());
        all.push(CompanyTicket::from(t));
    }
    super::attach_conversations(db, &mut all, &cond).await?;
    let mut out: HashMap<i64, Vec<CompanyTicket>> = HashMap::new();
    for (company, t) in owners.into_iter().zip(all) {
        out.entry(company).or_default().push(t);
    }
    Ok(out)
}

/// A cheap fingerprint of the ticket table (row count and newest row write): it
/// changes whenever a sync, webhook or manual edit writes a ticket, so a computed board
/// can be shared until it does. Works across app nodes because it is read from the
/// database, not from this node's memory.
pub async fn change_signature(db: &Db) -> AppResult<(i64, Option<String>)> {
    let row = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n, MAX(row_updated_at) AS newest FROM tickets",
    )
    .fetch_one(&db.pool)
    .await?;
    Ok((row.try_get("n")?, row.try_get("newest")?))
}
