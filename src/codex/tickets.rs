//! Tickets: the PSA's tickets mirrored into Codex with their time entries and
//! conversations, so billing (Ledger) and the ticket board (Beacon) read one local
//! copy instead of calling the PSA. Shops without a PSA (and tests) create manual
//! tickets here.
//!
//! Ids: `id` is our row id and never changes; `external_id` is the PSA's id, unique per
//! `external_source`. `/codex/api/ticket/{id}` takes the PSA id (as the original did);
//! every other path takes the row id.
//!
//! Time is stored in whole minutes (`minutes_spent`, the sum of the time entries);
//! hours are derived: `hours_spent` as an exact 2-dp decimal string and the original's
//! `total_hours_spent` as a number for its clients.

mod agents;
mod codes;
mod store;

pub use agents::{
    display_name as agent_display_name, list_agents, mark_missing_agents, upsert_agent, AgentQuery,
    AgentUpsert, PsaAgent,
};
pub use codes::*;
pub use store::{
    list_active, list_for_companies, replace_time_entries, time_entries_for_month,
    upsert_conversations, upsert_ticket, ConversationUpsert, MonthTimeEntry, TicketUpsert,
    TimeEntry,
};

use super::companies::{self, uri_str};
use super::company_scope_sql;
use super::patch::{self, apply_text};
use crate::audit::{self, Action, Change};
use crate::auth::Principal;
use crate::db::{flag, like_pattern, Db};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::http::extract::{JsonBody, QueryParams};
use crate::http::pagination::{Order, Page};
use crate::http::AppState;
use crate::validate;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, Row};
use std::collections::HashMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

type Query<'q> = sqlx::query::Query<'q, Any, AnyArguments<'q>>;

/// Bind values for SQL assembled from optional filters: each push returns its `$n`.
#[derive(Debug, Default)]
pub(crate) struct Args(Vec<Arg>);

#[derive(Debug)]
enum Arg {
    Int(i64),
    Text(String),
    OptInt(Option<i64>),
    OptText(Option<String>),
}

impl Args {
    fn push(&mut self, a: Arg) -> String {
        self.0.push(a);
        format!("${}", self.0.len())
    }
    pub(crate) fn int(&mut self, v: i64) -> String {
        self.push(Arg::Int(v))
    }
    pub(crate) fn text(&mut self, v: impl Into<String>) -> String {
        self.push(Arg::Text(v.into()))
    }
    pub(crate) fn opt_int(&mut self, v: Option<i64>) -> String {
        self.push(Arg::OptInt(v))
    }
    pub(crate) fn opt_text(&mut self, v: Option<String>) -> String {
        self.push(Arg::OptText(v))
    }
    pub(crate) fn bind<'q>(&'q self, mut q: Query<'q>) -> Query<'q> {
        for a in &self.0 {
            q = match a {
                Arg::Int(v) => q.bind(*v),
                Arg::Text(v) => q.bind(v.as_str()),
                Arg::OptInt(v) => q.bind(*v),
                Arg::OptText(v) => q.bind(v.as_deref()),
            };
        }
        q
    }
}

/// Comma-separated integer list for `IN (…)`. Only ever built from i64 values, so it
/// cannot carry user text.
fn id_list(ids: &[i64]) -> String {
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A vendor or client timestamp in stored form. Accepts RFC 3339 with any offset, a
/// bare date, and zone-less `YYYY-MM-DDTHH:MM:SS[.f]` (SuperOps' UTC format).
pub fn norm_time(s: &str) -> Option<String> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    crate::time::normalize_input(s).or_else(|| {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
            .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
            .ok()
            .map(|t| crate::time::to_db(t.and_utc()))
    })
}

/// Minutes → hours, exact to 2 dp (half to even), always shown with two decimals.
pub fn hours(minutes: i64) -> Decimal {
    let mut h = (Decimal::from(minutes) / Decimal::from(60)).round_dp(2);
    h.rescale(2);
    h
}

/// HTML → plain text the way the original did it: tags removed, the five common
/// entities decoded, whitespace collapsed.
pub fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(ch),
            _ => {}
        }
    }
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The UTC calendar year as a `[from, to)` pair of stored timestamps.
fn year_bounds(year: i32) -> AppResult<(String, String)> {
    if !(2000..=2100).contains(&year) {
        return Err(AppError::invalid("year", "must be between 2000 and 2100"));
    }
    Ok((
        format!("{year:04}-01-01T00:00:00.000000Z"),
        format!("{:04}-01-01T00:00:00.000000Z", year + 1),
    ))
}

fn json_value<T: Serialize>(v: &T) -> AppResult<serde_json::Value> {
    Ok(serde_json::to_value(v).map_err(anyhow::Error::from)?)
}

// ---------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------

/// A ticket as every API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Ticket {
    pub id: i64,
    pub external_source: String,
    pub external_id: String,
    pub ticket_number: Option<String>,
    pub company_id: Option<i64>,
    pub company_account_number: Option<String>,
    pub company_name: Option<String>,
    pub company_compliance_level: Option<String>,
    pub subject: Option<String>,
    /// HTML as received from the PSA.
    pub description: Option<String>,
    pub description_text: Option<String>,
    /// Normalised status (see `STATUSES`).
    pub status: Option<String>,
    /// The PSA's raw status code.
    pub status_id: Option<i64>,
    pub status_text: Option<String>,
    /// low, medium, high, urgent or unknown.
    pub priority: Option<String>,
    /// 1 low … 4 urgent (the Freshservice scale, also used for manual tickets).
    pub priority_id: Option<i64>,
    pub priority_text: Option<String>,
    pub ticket_type: Option<String>,
    /// The PSA's channel (email, portal, phone…), as the PSA names it.
    pub source: Option<String>,
    pub category: Option<String>,
    pub requester_external_id: Option<String>,
    pub requester_email: Option<String>,
    pub requester_name: Option<String>,
    pub contact_id: Option<i64>,
    pub responder_external_id: Option<String>,
    /// PSA agent row id (`GET /codex/api/psa/agents`).
    pub agent_id: Option<i64>,
    pub agent_name: Option<String>,
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
    pub minutes_spent: i64,
    /// Hours as an exact decimal string with 2 dp ("1.50").
    #[schema(value_type = String)]
    pub hours_spent: Decimal,
    /// The same hours as a number, for the original's clients.
    pub total_hours_spent: f64,
    pub webhook_updated_at: Option<String>,
    pub synced_at: Option<String>,
    pub deleted_at: Option<String>,
    pub row_created_at: String,
    pub row_updated_at: String,
}

const SELECT: &str = "SELECT t.*, c.account_number AS company_account_number, \
    c.name AS company_name, c.compliance_level AS company_compliance_level, \
    a.first_name AS agent_first_name, a.last_name AS agent_last_name, \
    a.external_id AS agent_psa_id \
    FROM tickets t LEFT JOIN companies c ON c.id = t.company_id \
    LEFT JOIN psa_agents a ON a.id = t.agent_id";

fn agent_name(r: &AnyRow) -> Result<Option<String>, sqlx::Error> {
    let psa_id: Option<String> = r.try_get("agent_psa_id")?;
    let responder: Option<String> = r.try_get("responder_external_id")?;
    Ok(match (psa_id, responder) {
        (Some(id), _) => {
            let first: Option<String> = r.try_get("agent_first_name")?;
            let last: Option<String> = r.try_get("agent_last_name")?;
            Some(agents::display_name(first.as_deref(), last.as_deref(), &id))
        }
        // Assigned in the PSA to an agent we have not synced (yet).
        (None, Some(r)) => Some(format!("Agent {r}")),
        (None, None) => None,
    })
}

fn from_row(r: &AnyRow) -> Result<Ticket, sqlx::Error> {
    let minutes: i64 = r.try_get("minutes_spent")?;
    let h = hours(minutes);
    let priority: Option<String> = r.try_get("priority")?;
    Ok(Ticket {
        id: r.try_get("id")?,
        external_source: r.try_get("external_source")?,
        external_id: r.try_get("external_id")?,
        ticket_number: r.try_get("ticket_number")?,
        company_id: r.try_get("company_id")?,
        company_account_number: r.try_get("company_account_number")?,
        company_name: r.try_get("company_name")?,
        company_compliance_level: r.try_get("company_compliance_level")?,
        subject: r.try_get("subject")?,
        description: r.try_get("description")?,
        description_text: r.try_get("description_text")?,
        status: r.try_get("status")?,
        status_id: r.try_get("status_id")?,
        status_text: r.try_get("status_text")?,
        priority_text: priority.as_deref().map(priority_display),
        priority,
        priority_id: r.try_get("priority_id")?,
        ticket_type: r.try_get("ticket_type")?,
        source: r.try_get("source")?,
        category: r.try_get("category")?,
        requester_external_id: r.try_get("requester_external_id")?,
        requester_email: r.try_get("requester_email")?,
        requester_name: r.try_get("requester_name")?,
        contact_id: r.try_get("contact_id")?,
        agent_name: agent_name(r)?,
        responder_external_id: r.try_get("responder_external_id")?,
        agent_id: r.try_get("agent_id")?,
        group_external_id: r.try_get("group_external_id")?,
        group_name: r.try_get("group_name")?,
        department_external_id: r.try_get("department_external_id")?,
        created_at: r.try_get("created_at")?,
        last_updated_at: r.try_get("last_updated_at")?,
        closed_at: r.try_get("closed_at")?,
        resolved_at: r.try_get("resolved_at")?,
        fr_due_by: r.try_get("fr_due_by")?,
        due_by: r.try_get("due_by")?,
        first_responded_at: r.try_get("first_responded_at")?,
        agent_responded_at: r.try_get("agent_responded_at")?,
        minutes_spent: minutes,
        total_hours_spent: h.to_f64().unwrap_or(0.0),
        hours_spent: h,
        webhook_updated_at: r.try_get("webhook_updated_at")?,
        synced_at: r.try_get("synced_at")?,
        deleted_at: r.try_get("deleted_at")?,
        row_created_at: r.try_get("row_created_at")?,
        row_updated_at: r.try_get("row_updated_at")?,
    })
}

/// One logged piece of work on a ticket.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TimeEntryRow {
    pub id: i64,
    pub ticket_id: i64,
    pub external_id: String,
    pub agent_external_id: Option<String>,
    pub minutes: i64,
    #[schema(value_type = String)]
    pub hours: Decimal,
    pub billable: bool,
    pub note: Option<String>,
    pub executed_at: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

fn time_entry_from_row(r: &AnyRow) -> Result<TimeEntryRow, sqlx::Error> {
    let minutes: i64 = r.try_get("minutes")?;
    Ok(TimeEntryRow {
        id: r.try_get("id")?,
        ticket_id: r.try_get("ticket_id")?,
        external_id: r.try_get("external_id")?,
        agent_external_id: r.try_get("agent_external_id")?,
        minutes,
        hours: hours(minutes),
        billable: flag(r, "billable")?,
        note: r.try_get("note")?,
        executed_at: r.try_get("executed_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// A public reply (`conversations`) or a private note (`notes`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Conversation {
    pub id: i64,
    pub ticket_id: i64,
    pub external_id: String,
    pub private: bool,
    /// HTML as received.
    pub body: Option<String>,
    pub body_text: Option<String>,
    pub author_external_id: Option<String>,
    pub author_name: Option<String>,
    /// Set for notes written in HiveMatrix: the local user's id.
    pub author_user_id: Option<i64>,
    pub from_email: Option<String>,
    pub incoming: bool,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

fn conversation_from_row(r: &AnyRow) -> Result<Conversation, sqlx::Error> {
    let kind: String = r.try_get("kind")?;
    Ok(Conversation {
        id: r.try_get("id")?,
        ticket_id: r.try_get("ticket_id")?,
        external_id: r.try_get("external_id")?,
        private: kind == "note",
        body: r.try_get("body")?,
        body_text: r.try_get("body_text")?,
        author_external_id: r.try_get("author_external_id")?,
        author_name: r.try_get("author_name")?,
        author_user_id: r.try_get("author_user_id")?,
        from_email: r.try_get("from_email")?,
        incoming: flag(r, "incoming")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// A ticket with its time entries, public conversations and private notes.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketDetail {
    #[serde(flatten)]
    pub ticket: Ticket,
    pub time_entries: Vec<TimeEntryRow>,
    pub conversations: Vec<Conversation>,
    pub notes: Vec<Conversation>,
}

/// The original's per-company ticket object (`/companies/{acct}/tickets`, bulk).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CompanyTicket {
    /// Our row id (the original's `ticket_id`).
    pub ticket_id: i64,
    pub external_source: String,
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
    pub minutes_spent: i64,
    #[schema(value_type = String)]
    pub hours_spent: Decimal,
    pub total_hours_spent: f64,
    pub conversations: Vec<Conversation>,
    pub notes: Vec<Conversation>,
}

impl From<Ticket> for CompanyTicket {
    fn from(t: Ticket) -> Self {
        CompanyTicket {
            ticket_id: t.id,
            external_source: t.external_source,
            external_id: t.external_id,
            ticket_number: t.ticket_number,
            subject: t.subject,
            description: t.description,
            description_text: t.description_text,
            status: t.status,
            priority: t.priority,
            requester_email: t.requester_email,
            requester_name: t.requester_name,
            created_at: t.created_at,
            last_updated_at: t.last_updated_at,
            closed_at: t.closed_at,
            minutes_spent: t.minutes_spent,
            hours_spent: t.hours_spent,
            total_hours_spent: t.total_hours_spent,
            conversations: vec![],
            notes: vec![],
        }
    }
}

// ---------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------

pub async fn get_by_id(db: &Db, id: i64) -> AppResult<Option<Ticket>> {
    let sql = format!("{SELECT} WHERE t.id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&db.pool).await?;
    Ok(row.map(|r| from_row(&r)).transpose()?)
}

/// The ticket a caller may see, or 404 (also when it belongs to another company).
pub async fn visible(db: &Db, who: &Principal, id: i64) -> AppResult<Ticket> {
    match get_by_id(db, id).await? {
        Some(t) if visible_to(who, &t) => Ok(t),
        _ => Err(AppError::not_found(format!("ticket {id} not found"))),
    }
}

fn visible_to(who: &Principal, t: &Ticket) -> bool {
    match who.company_scope() {
        None => true,
        Some(c) => t.company_id == Some(c),
    }
}

/// Looks a ticket up by its PSA id. With `source` the key is exact; without it, an id
/// that two PSAs share is a 409 naming the sources to choose from.
pub async fn find_by_external(
    db: &Db,
    who: &Principal,
    external_id: &str,
    source: Option<&str>,
) -> AppResult<Ticket> {
    let mut args = Args::default();
    let id = args.text(external_id.trim());
    let mut sql = format!(
        "{SELECT} WHERE t.external_id = {id} {}",
        company_scope_sql("t.company_id", who.company_scope())
    );
    if let Some(s) = source.filter(|s| !s.trim().is_empty()) {
        let s = args.text(s.trim().to_lowercase());
        sql.push_str(&format!(" AND t.external_source = {s}"));
    }
    sql.push_str(" ORDER BY t.external_source LIMIT 10");
    let rows = args.bind(sqlx::query(&sql)).fetch_all(&db.pool).await?;
    let mut found: Vec<Ticket> = rows.iter().map(from_row).collect::<Result<_, _>>()?;
    match found.len() {
        0 => Err(AppError::not_found(format!(
            "ticket {external_id} not found"
        ))),
        1 => Ok(found.remove(0)),
        _ => {
            let sources: Vec<String> = found.into_iter().map(|t| t.external_source).collect();
            Err(AppError::Conflict(format!(
                "ticket id {external_id} exists in several PSAs ({}); add ?source=",
                sources.join(", ")
            )))
        }
    }
}

/// Time entries, conversations and notes of one ticket.
pub async fn detail(db: &Db, ticket: Ticket) -> AppResult<TicketDetail> {
    let entries = sqlx::query(
        "SELECT * FROM ticket_time_entries WHERE ticket_id = $1 ORDER BY executed_at, id",
    )
    .bind(ticket.id)
    .fetch_all(&db.pool)
    .await?;
    let time_entries = entries
        .iter()
        .map(time_entry_from_row)
        .collect::<Result<_, _>>()?;
    let mut convs = conversations_for(db, &format!("tc.ticket_id = {}", ticket.id)).await?;
    let (conversations, notes) = convs.remove(&ticket.id).unwrap_or_default();
    Ok(TicketDetail {
        ticket,
        time_entries,
        conversations,
        notes,
    })
}

/// Conversations and notes of the tickets matching `cond` (SQL over `tc` and `t`,
/// built only from integers), grouped by ticket id, oldest first: one query.
async fn conversations_for(
    db: &Db,
    cond: &str,
) -> AppResult<HashMap<i64, (Vec<Conversation>, Vec<Conversation>)>> {
    let sql = format!(
        "SELECT tc.* FROM ticket_conversations tc JOIN tickets t ON t.id = tc.ticket_id \
         WHERE {cond} ORDER BY tc.ticket_id, tc.created_at, tc.id"
    );
    let rows = sqlx::query(&sql).fetch_all(&db.pool).await?;
    let mut out: HashMap<i64, (Vec<Conversation>, Vec<Conversation>)> = HashMap::new();
    for r in &rows {
        let c = conversation_from_row(r)?;
        let slot = out.entry(c.ticket_id).or_default();
        if c.private {
            slot.1.push(c);
        } else {
            slot.0.push(c);
        }
    }
    Ok(out)
}

/// Fills `conversations` and `notes` of company tickets (one query for all of them).
async fn attach_conversations(db: &Db, tickets: &mut [CompanyTicket], cond: &str) -> AppResult<()> {
    if tickets.is_empty() {
        return Ok(());
    }
    let mut convs = conversations_for(db, cond).await?;
    for t in tickets {
        if let Some((c, n)) = convs.remove(&t.ticket_id) {
            t.conversations = c;
            t.notes = n;
        }
    }
    Ok(())
}

/// Filters of `GET /codex/api/tickets`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TicketQuery {
    /// Company account number (the original's name for it).
    pub company_id: Option<String>,
    /// Comma-separated statuses.
    pub status: Option<String>,
    /// Comma-separated priorities.
    pub priority: Option<String>,
    /// PSA agent row id, or `unassigned`.
    pub agent: Option<String>,
    /// PSA group id.
    pub group: Option<String>,
    /// PSA the ticket comes from (freshservice, superops, manual…).
    pub source: Option<String>,
    /// Last updated at or after (RFC 3339 or YYYY-MM-DD).
    pub updated_since: Option<String>,
    /// Created at or after (RFC 3339 or YYYY-MM-DD).
    pub created_from: Option<String>,
    /// Created at or before (RFC 3339, or YYYY-MM-DD for the whole day).
    pub created_to: Option<String>,
    /// Matches subject, ticket number and requester e-mail (case-insensitive).
    pub search: Option<String>,
    /// Include tickets marked deleted.
    pub include_deleted: Option<bool>,
    /// last_updated_at (default), created_at, priority_id, status, ticket_number
    pub sort: Option<String>,
    /// Default desc for times and priority, asc otherwise.
    pub order: Option<Order>,
    /// 1..=1000, default 50.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

const SORTS: &[&str] = &[
    "last_updated_at",
    "created_at",
    "priority_id",
    "status",
    "ticket_number",
];

/// Validates a comma list against a vocabulary, adding `col IN (…)` to the filter.
fn in_vocabulary(
    e: &mut FieldErrors,
    args: &mut Args,
    filter: &mut String,
    (name, col): (&str, &str),
    raw: Option<&str>,
    vocabulary: &[&str],
) {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return;
    };
    let mut marks = vec![];
    for v in raw.split(',').map(str::trim).filter(|v| !v.is_empty()) {
        match validate::one_of(v, vocabulary) {
            Ok(v) => marks.push(args.text(v)),
            Err(m) => {
                e.insert(name.into(), m);
                return;
            }
        }
    }
    if !marks.is_empty() {
        filter.push_str(&format!(" AND {col} IN ({})", marks.join(", ")));
    }
}

/// A timestamp filter: `name` must be RFC 3339 or a date; `end_of_day` makes a bare
/// date inclusive of that whole day.
fn time_bound(
    e: &mut FieldErrors,
    args: &mut Args,
    filter: &mut String,
    (name, cond): (&str, &str),
    raw: Option<&str>,
    end_of_day: bool,
) {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return;
    };
    let bound = match crate::time::parse_date(raw) {
        Some(d) if end_of_day => d
            .succ_opt()
            .and_then(|n| n.and_hms_opt(0, 0, 0))
            .map(|t| (crate::time::to_db(t.and_utc()), "<")),
        _ => crate::time::normalize_input(raw).map(|t| (t, if end_of_day { "<=" } else { ">=" })),
    };
    match bound {
        Some((t, op)) => {
            let p = args.text(t);
            filter.push_str(&format!(" AND {cond} {op} {p}"));
        }
        None => {
            e.insert(
                name.into(),
                "must be an RFC 3339 timestamp or YYYY-MM-DD".into(),
            );
        }
    }
}

/// The WHERE clause of a ticket list (every field error at once).
fn ticket_filter(
    db: &Db,
    scope: Option<i64>,
    q: &TicketQuery,
    args: &mut Args,
) -> AppResult<String> {
    let mut e = FieldErrors::new();
    let mut f = format!("WHERE 1 = 1 {}", company_scope_sql("t.company_id", scope));
    if !q.include_deleted.unwrap_or(false) {
        f.push_str(" AND t.deleted_at IS NULL");
    }
    if let Some(acct) = q.company_id.as_deref().filter(|s| !s.trim().is_empty()) {
        let p = args.text(acct.trim());
        f.push_str(&format!(
            " AND t.company_id = (SELECT id FROM companies WHERE account_number = {p})"
        ));
    }
    in_vocabulary(
        &mut e,
        args,
        &mut f,
        ("status", "t.status"),
        q.status.as_deref(),
        STATUSES,
    );
    in_vocabulary(
        &mut e,
        args,
        &mut f,
        ("priority", "t.priority"),
        q.priority.as_deref(),
        PRIORITIES,
    );
    match q.agent.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => {}
        Some(a) if a.eq_ignore_ascii_case("unassigned") => f.push_str(" AND t.agent_id IS NULL"),
        Some(a) => match a.parse::<i64>() {
            Ok(id) => {
                let p = args.int(id);
                f.push_str(&format!(" AND t.agent_id = {p}"));
            }
            Err(_) => {
                e.insert("agent".into(), "must be an agent id or 'unassigned'".into());
            }
        },
    }
    for (val, col) in [
        (&q.group, "t.group_external_id"),
        (&q.source, "t.external_source"),
    ] {
        if let Some(v) = val.as_deref().filter(|s| !s.trim().is_empty()) {
            let p = args.text(v.trim().to_string());
            f.push_str(&format!(" AND {col} = {p}"));
        }
    }
    let since = ("updated_since", "t.last_updated_at");
    time_bound(
        &mut e,
        args,
        &mut f,
        since,
        q.updated_since.as_deref(),
        false,
    );
    let from = ("created_from", "t.created_at");
    time_bound(&mut e, args, &mut f, from, q.created_from.as_deref(), false);
    let to = ("created_to", "t.created_at");
    time_bound(&mut e, args, &mut f, to, q.created_to.as_deref(), true);
    if let Some(s) = q.search.as_deref().filter(|s| !s.trim().is_empty()) {
        let p = args.text(like_pattern(s.trim()));
        let il = db.ilike();
        f.push_str(&format!(
            " AND (t.subject {il} {p} ESCAPE '\\' OR t.ticket_number {il} {p} ESCAPE '\\' \
             OR t.requester_email {il} {p} ESCAPE '\\')"
        ));
    }
    if let Some(s) = q.sort.as_deref().filter(|s| !SORTS.contains(s)) {
        e.insert(
            "sort".into(),
            format!("'{s}' is not one of: {}", SORTS.join(", ")),
        );
    }
    if e.is_empty() {
        Ok(f)
    } else {
        Err(AppError::Validation(e))
    }
}

/// `ORDER BY` with NULLs last on both backends (they disagree by default). Written as
/// `NULLS LAST` rather than an expression so SQLite can still walk the column's index.
fn order_by(col: &str, order: Order) -> String {
    let dir = order.sql();
    format!("ORDER BY {col} {dir} NULLS LAST, t.id {dir}")
}

/// Tickets matching `q` that the scope allows, and how many there are in total.
pub async fn list(
    db: &Db,
    scope: Option<i64>,
    q: &TicketQuery,
    page: Page,
) -> AppResult<(Vec<Ticket>, i64)> {
    let mut args = Args::default();
    let filter = ticket_filter(db, scope, q, &mut args)?;
    // The filter only names `t` columns, so the count needs no join (and, with
    // `tickets_live`, no table scan).
    let count_sql = format!("SELECT COUNT(*) FROM tickets t {filter}");
    let total: i64 = args
        .bind(sqlx::query(&count_sql))
        .fetch_one(&db.pool)
        .await?
        .try_get(0)?;
    let sort = q.sort.as_deref().unwrap_or("last_updated_at");
    let default_order = match sort {
        "status" | "ticket_number" => Order::Asc,
        _ => Order::Desc,
    };
    let order = order_by(&format!("t.{sort}"), q.order.unwrap_or(default_order));
    let limit = args.int(page.limit);
    let offset = args.int(page.offset);
    let sql = format!("{SELECT} {filter} {order} LIMIT {limit} OFFSET {offset}");
    let rows = args.bind(sqlx::query(&sql)).fetch_all(&db.pool).await?;
    Ok((rows.iter().map(from_row).collect::<Result<_, _>>()?, total))
}

/// One page of a company's tickets (newest update first) with their conversations and
/// notes, optionally limited to a UTC calendar year of `last_updated_at`.
pub async fn company_tickets(
    db: &Db,
    company_id: i64,
    year: Option<i32>,
    page: Page,
) -> AppResult<(Vec<CompanyTicket>, i64)> {
    let mut args = Args::default();
    let mut filter = format!("WHERE t.company_id = {company_id} AND t.deleted_at IS NULL");
    if let Some(y) = year {
        let (from, to) = year_bounds(y)?;
        let (from, to) = (args.text(from), args.text(to));
        filter.push_str(&format!(
            " AND t.last_updated_at >= {from} AND t.last_updated_at < {to}"
        ));
    }
    let total: i64 = args
        .bind(sqlx::query(&format!(
            "SELECT COUNT(*) FROM tickets t {filter}"
        )))
        .fetch_one(&db.pool)
        .await?
        .try_get(0)?;
    let (limit, offset) = (args.int(page.limit), args.int(page.offset));
    let sql = format!(
        "{SELECT} {filter} {} LIMIT {limit} OFFSET {offset}",
        order_by("t.last_updated_at", Order::Desc)
    );
    let rows = args.bind(sqlx::query(&sql)).fetch_all(&db.pool).await?;
    let mut list: Vec<CompanyTicket> = rows
        .iter()
        .map(|r| from_row(r).map(CompanyTicket::from))
        .collect::<Result<_, _>>()?;
    let ids: Vec<i64> = list.iter().map(|t| t.ticket_id).collect();
    let cond = format!("tc.ticket_id IN ({})", id_list(&ids));
    attach_conversations(db, &mut list, &cond).await?;
    Ok((list, total))
}

// ---------------------------------------------------------------------------
// Manual writes
// ---------------------------------------------------------------------------

pub const TICKET_TYPES: &[&str] = &["Incident", "Service Request"];

/// Fields a technician may set on a ticket. Absent fields stay as they are; `null` or
/// `""` clears a field.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketInput {
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub subject: Option<Option<String>>,
    /// HTML or plain text; `description_text` is derived from it.
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// One of `STATUSES` (default open).
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub status: Option<Option<String>>,
    /// low, medium, high, urgent (default medium).
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub priority: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub company_account_number: Option<Option<String>>,
    /// PSA agent row id; null unassigns.
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<i64>)]
    pub agent_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub group_external_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub group_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub requester_email: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub requester_name: Option<Option<String>>,
    /// Incident or Service Request.
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub ticket_type: Option<Option<String>>,
    /// RFC 3339
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub due_by: Option<Option<String>>,
    /// RFC 3339
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub fr_due_by: Option<Option<String>>,
}

fn one_of(list: &'static [&'static str]) -> impl Fn(&str) -> Result<String, String> {
    move |s| validate::one_of(s, list)
}

/// Statuses a person may set: everything but `unknown`.
fn settable_status(s: &str) -> Result<String, String> {
    validate::one_of(s, &STATUSES[..STATUSES.len() - 1])
}

fn settable_priority(s: &str) -> Result<String, String> {
    validate::one_of(s, &PRIORITIES[..PRIORITIES.len() - 1])
}

/// Sets status and the fields that follow from it (text, closed/resolved times).
fn set_status(t: &mut Ticket, status: Option<String>, now: &str) {
    if t.status == status {
        return;
    }
    t.status_text = status.as_deref().map(status_display);
    t.status_id = status.as_deref().and_then(status_to_freshservice);
    let stamp = |on: bool, cur: &mut Option<String>| {
        *cur = if on {
            cur.clone().or(Some(now.into()))
        } else {
            None
        };
    };
    stamp(status.as_deref() == Some("closed"), &mut t.closed_at);
    stamp(status.as_deref() == Some("resolved"), &mut t.resolved_at);
    t.status = status;
}

/// Applies `input` to `t`, collecting every field error.
async fn apply(db: &Db, t: &mut Ticket, input: &TicketInput, now: &str) -> AppResult<()> {
    let mut e = FieldErrors::new();
    if input.subject.is_some() {
        let mut subject = t.subject.clone().unwrap_or_default();
        patch::apply_required(
            &mut e,
            "subject",
            &mut subject,
            &input.subject,
            patch::required(500),
        );
        t.subject = Some(subject);
    }
    if input.description.is_some() {
        apply_text(
            &mut e,
            "description",
            &mut t.description,
            &input.description,
            patch::text(100_000),
        );
        t.description_text = t.description.as_deref().map(strip_html);
    }
    let mut status = t.status.clone();
    apply_text(
        &mut e,
        "status",
        &mut status,
        &input.status,
        settable_status,
    );
    set_status(t, status, now);
    if input.priority.is_some() {
        apply_text(
            &mut e,
            "priority",
            &mut t.priority,
            &input.priority,
            settable_priority,
        );
        t.priority_id = t.priority.as_deref().and_then(priority_rank);
    }
    apply_text(
        &mut e,
        "group_external_id",
        &mut t.group_external_id,
        &input.group_external_id,
        patch::text(100),
    );
    apply_text(
        &mut e,
        "group_name",
        &mut t.group_name,
        &input.group_name,
        patch::text(150),
    );
    apply_text(
        &mut e,
        "requester_email",
        &mut t.requester_email,
        &input.requester_email,
        validate::email,
    );
    apply_text(
        &mut e,
        "requester_name",
        &mut t.requester_name,
        &input.requester_name,
        patch::text(150),
    );
    apply_text(
        &mut e,
        "ticket_type",
        &mut t.ticket_type,
        &input.ticket_type,
        one_of(TICKET_TYPES),
    );
    apply_text(
        &mut e,
        "due_by",
        &mut t.due_by,
        &input.due_by,
        validate::timestamp,
    );
    apply_text(
        &mut e,
        "fr_due_by",
        &mut t.fr_due_by,
        &input.fr_due_by,
        validate::timestamp,
    );
    let mut acct = t.company_account_number.clone();
    apply_text(
        &mut e,
        "company_account_number",
        &mut acct,
        &input.company_account_number,
        validate::account_number,
    );
    if acct != t.company_account_number {
        t.company_id = match acct.as_deref() {
            None => None,
            Some(a) => match companies::find(db, a).await? {
                Some(c) if c.deleted_at.is_none() => Some(c.id),
                _ => {
                    e.insert(
                        "company_account_number".into(),
                        format!("no company with account number {a}"),
                    );
                    None
                }
            },
        };
    }
    match input.agent_id {
        None => {}
        Some(None) => {
            t.agent_id = None;
            t.responder_external_id = None;
        }
        Some(Some(id)) => match agent_psa_id(db, id).await? {
            Some(psa_id) => {
                t.agent_id = Some(id);
                t.responder_external_id = Some(psa_id);
            }
            None => {
                e.insert("agent_id".into(), format!("no PSA agent with id {id}"));
            }
        },
    }
    if e.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(e))
    }
}

async fn agent_psa_id(db: &Db, id: i64) -> AppResult<Option<String>> {
    let row =
        sqlx::query("SELECT external_id FROM psa_agents WHERE id = $1 AND deleted_at IS NULL")
            .bind(id)
            .fetch_optional(&db.pool)
            .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// Columns a manual edit writes, in `write_args` order.
const MANUAL_COLUMNS: &[&str] = &[
    "subject",
    "description",
    "description_text",
    "status",
    "status_id",
    "status_text",
    "priority",
    "priority_id",
    "company_id",
    "agent_id",
    "responder_external_id",
    "group_external_id",
    "group_name",
    "requester_email",
    "requester_name",
    "ticket_type",
    "due_by",
    "fr_due_by",
    "closed_at",
    "resolved_at",
    "last_updated_at",
    "row_updated_at",
];

fn write_args(t: &Ticket, args: &mut Args) -> Vec<String> {
    vec![
        args.opt_text(t.subject.clone()),
        args.opt_text(t.description.clone()),
        args.opt_text(t.description_text.clone()),
        args.opt_text(t.status.clone()),
        args.opt_int(t.status_id),
        args.opt_text(t.status_text.clone()),
        args.opt_text(t.priority.clone()),
        args.opt_int(t.priority_id),
        args.opt_int(t.company_id),
        args.opt_int(t.agent_id),
        args.opt_text(t.responder_external_id.clone()),
        args.opt_text(t.group_external_id.clone()),
        args.opt_text(t.group_name.clone()),
        args.opt_text(t.requester_email.clone()),
        args.opt_text(t.requester_name.clone()),
        args.opt_text(t.ticket_type.clone()),
        args.opt_text(t.due_by.clone()),
        args.opt_text(t.fr_due_by.clone()),
        args.opt_text(t.closed_at.clone()),
        args.opt_text(t.resolved_at.clone()),
        args.opt_text(t.last_updated_at.clone()),
        args.text(t.row_updated_at.clone()),
    ]
}

async fn get_in_tx(conn: &mut sqlx::AnyConnection, id: i64) -> AppResult<Ticket> {
    let sql = format!("{SELECT} WHERE t.id = $1");
    Ok(from_row(
        &sqlx::query(&sql).bind(id).fetch_one(conn).await?,
    )?)
}

async fn record(
    conn: &mut sqlx::AnyConnection,
    who: &Principal,
    action: Action,
    before: Option<&Ticket>,
    after: &Ticket,
) -> AppResult<()> {
    let change = Change {
        module: "codex",
        action,
        entity: "ticket",
        entity_id: after.id.to_string(),
        before: before.map(json_value).transpose()?,
        after: Some(json_value(after)?),
    };
    audit::record(conn, Some(who), change).await
}

fn blank_manual(now: &str) -> Ticket {
    Ticket {
        id: 0,
        external_source: "manual".into(),
        external_id: String::new(),
        ticket_number: None,
        company_id: None,
        company_account_number: None,
        company_name: None,
        company_compliance_level: None,
        subject: None,
        description: None,
        description_text: None,
        status: None,
        status_id: None,
        status_text: None,
        priority: Some("medium".into()),
        priority_id: Some(2),
        priority_text: None,
        ticket_type: Some("Incident".into()),
        source: Some("manual".into()),
        category: None,
        requester_external_id: None,
        requester_email: None,
        requester_name: None,
        contact_id: None,
        responder_external_id: None,
        agent_id: None,
        agent_name: None,
        group_external_id: None,
        group_name: None,
        department_external_id: None,
        created_at: Some(now.into()),
        last_updated_at: Some(now.into()),
        closed_at: None,
        resolved_at: None,
        fr_due_by: None,
        due_by: None,
        first_responded_at: None,
        agent_responded_at: None,
        minutes_spent: 0,
        hours_spent: hours(0),
        total_hours_spent: 0.0,
        webhook_updated_at: None,
        synced_at: None,
        deleted_at: None,
        row_created_at: now.into(),
        row_updated_at: now.into(),
    }
}

/// Creates a manual ticket (source `manual`; its PSA id and number derive from the row id).
pub async fn create_manual(db: &Db, who: &Principal, input: &TicketInput) -> AppResult<Ticket> {
    let now = crate::time::now_db();
    let mut t = blank_manual(&now);
    set_status(&mut t, Some("open".into()), &now);
    if input.subject.is_none() {
        let mut e = FieldErrors::new();
        e.insert("subject".into(), "is required".into());
        if let Err(AppError::Validation(more)) = apply(db, &mut t, input, &now).await {
            e.extend(more);
        }
        return Err(AppError::Validation(e));
    }
    apply(db, &mut t, input, &now).await?;
    let mut args = Args::default();
    let marks = write_args(&t, &mut args);
    let placeholder = args.text(format!("pending-{}", crate::auth::random_hex(8)));
    let created = args.opt_text(t.created_at.clone());
    let sql = format!(
        "INSERT INTO tickets ({}, external_source, source, external_id, created_at, row_created_at) \
         VALUES ({}, 'manual', 'manual', {placeholder}, {created}, {created}) RETURNING id",
        MANUAL_COLUMNS.join(", "),
        marks.join(", ")
    );
    let mut tx = db.pool.begin().await?;
    let id: i64 = args
        .bind(sqlx::query(&sql))
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    sqlx::query("UPDATE tickets SET external_id = $1, ticket_number = $2 WHERE id = $3")
        .bind(id.to_string())
        .bind(format!("M-{id}"))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let after = get_in_tx(&mut tx, id).await?;
    record(&mut tx, who, Action::Create, None, &after).await?;
    tx.commit().await?;
    Ok(after)
}

/// Writes `t` (already validated) over its row, appends `note` as a private note by
/// `who`, and audits the change, all in one transaction.
async fn save(
    db: &Db,
    who: &Principal,
    before: &Ticket,
    t: &Ticket,
    note: Option<&str>,
) -> AppResult<Ticket> {
    let mut args = Args::default();
    let marks = write_args(t, &mut args);
    let sets: Vec<String> = MANUAL_COLUMNS
        .iter()
        .zip(&marks)
        .map(|(c, m)| format!("{c} = {m}"))
        .collect();
    let id = args.int(t.id);
    let sql = format!("UPDATE tickets SET {} WHERE id = {id}", sets.join(", "));
    let mut tx = db.pool.begin().await?;
    args.bind(sqlx::query(&sql)).execute(&mut *tx).await?;
    if let Some(text) = note {
        sqlx::query(
            "INSERT INTO ticket_conversations (ticket_id, external_id, kind, body, body_text, \
             author_name, author_user_id, from_email, incoming, created_at, updated_at) \
             VALUES ($1, $2, 'note', $3, $3, $4, $5, $6, 0, $7, $7)",
        )
        .bind(t.id)
        .bind(format!("local-{}", crate::auth::random_hex(8)))
        .bind(text)
        .bind(&who.name)
        .bind(who.user_id)
        .bind(&who.email)
        .bind(&t.row_updated_at)
        .execute(&mut *tx)
        .await?;
    }
    let after = get_in_tx(&mut tx, t.id).await?;
    record(&mut tx, who, Action::Update, Some(before), &after).await?;
    tx.commit().await?;
    Ok(after)
}

/// Manual edit of a ticket by row id.
pub async fn update_manual(
    db: &Db,
    who: &Principal,
    id: i64,
    input: &TicketInput,
) -> AppResult<Ticket> {
    let before = visible(db, who, id).await?;
    let now = crate::time::now_db();
    let mut t = before.clone();
    apply(db, &mut t, input, &now).await?;
    t.last_updated_at = Some(now.clone());
    t.row_updated_at = now;
    save(db, who, &before, &t, None).await
}

/// Body of `POST /codex/api/ticket/{id}/update`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketUpdate {
    /// New status (one of `STATUSES`).
    pub status: Option<String>,
    /// A private note to append (the original called it `notes`).
    #[serde(alias = "notes")]
    pub note: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TicketUpdateResult {
    pub success: bool,
    pub ticket_id: i64,
    pub message: String,
    pub ticket: TicketDetail,
}

/// Sets a status and/or appends a private note signed by the user, in one transaction.
/// Local only: nothing is pushed to the PSA.
pub async fn quick_update(
    db: &Db,
    who: &Principal,
    id: i64,
    input: &TicketUpdate,
) -> AppResult<TicketDetail> {
    let mut e = FieldErrors::new();
    let status = input
        .status
        .as_deref()
        .map(settable_status)
        .transpose()
        .map_err(|m| e.insert("status".into(), m))
        .ok()
        .flatten();
    let note = input
        .note
        .as_deref()
        .map(|n| validate::required_text(n, 10_000))
        .transpose()
        .map_err(|m| e.insert("note".into(), m))
        .ok()
        .flatten();
    if input.status.is_none() && input.note.is_none() {
        e.insert("body".into(), "give a status, a note or both".into());
    }
    if !e.is_empty() {
        return Err(AppError::Validation(e));
    }
    let before = visible(db, who, id).await?;
    let now = crate::time::now_db();
    let mut t = before.clone();
    if status.is_some() {
        set_status(&mut t, status, &now);
    }
    t.last_updated_at = Some(now.clone());
    t.row_updated_at = now;
    let after = save(db, who, &before, &t, note.as_deref()).await?;
    detail(db, after).await
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

/// The original's list envelope.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TicketPage {
    pub tickets: Vec<Ticket>,
    pub count: usize,
    pub total: i64,
    pub offset: i64,
    pub limit: i64,
}

/// Lists tickets, newest update first (clients see only their company's).
#[utoipa::path(get, path = "/codex/api/tickets", tag = "codex", params(TicketQuery),
    responses((status = 200, body = TicketPage, headers(("X-Total-Count" = i64, description = "matching tickets"))),
              (status = 401, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn list_tickets(
    State(state): State<AppState>,
    who: Principal,
    OriginalUri(uri): OriginalUri,
    QueryParams(q): QueryParams<TicketQuery>,
) -> AppResult<(HeaderMap, Json<TicketPage>)> {
    let page = Page::new(q.limit, q.offset, 50, 1000)?;
    let (tickets, total) = list(&state.db, who.company_scope(), &q, page).await?;
    let body = TicketPage {
        count: tickets.len(),
        tickets,
        total,
        offset: page.offset,
        limit: page.limit,
    };
    Ok((page.headers(total, uri_str(&uri)), Json(body)))
}

/// Creates a manual ticket (technician or admin).
#[utoipa::path(post, path = "/codex/api/tickets", tag = "codex", request_body = TicketInput,
    responses((status = 201, body = Ticket), (status = 403, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn create_ticket(
    State(state): State<AppState>,
    who: Principal,
    JsonBody(input): JsonBody<TicketInput>,
) -> AppResult<(StatusCode, Json<Ticket>)> {
    who.require_master_write()?;
    let t = create_manual(&state.db, &who, &input).await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// One ticket by row id, with time entries, conversations and notes.
#[utoipa::path(get, path = "/codex/api/tickets/{id}", tag = "codex", params(("id" = i64, Path)),
    responses((status = 200, body = TicketDetail), (status = 404, body = crate::error::Problem)))]
pub async fn get_ticket_by_row(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<TicketDetail>> {
    let t = visible(&state.db, &who, id).await?;
    Ok(Json(detail(&state.db, t).await?))
}

/// Edits status, priority, subject, agent, group… of a ticket (PUT and PATCH both patch).
#[utoipa::path(put, path = "/codex/api/tickets/{id}", tag = "codex", params(("id" = i64, Path)),
    request_body = TicketInput,
    responses((status = 200, body = Ticket), (status = 404, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn update_ticket(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
    JsonBody(input): JsonBody<TicketInput>,
) -> AppResult<Json<Ticket>> {
    who.require_master_write()?;
    Ok(Json(update_manual(&state.db, &who, id, &input).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SourceQuery {
    /// The PSA, when two PSAs share the id.
    pub source: Option<String>,
}

/// One ticket by PSA id (as the original), with time entries, conversations and notes.
#[utoipa::path(get, path = "/codex/api/ticket/{id}", tag = "codex",
    params(("id" = String, Path, description = "PSA ticket id"), SourceQuery),
    responses((status = 200, body = TicketDetail), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem, description = "id exists in several PSAs")))]
pub async fn get_ticket(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<SourceQuery>,
) -> AppResult<Json<TicketDetail>> {
    let t = find_by_external(&state.db, &who, &id, q.source.as_deref()).await?;
    Ok(Json(detail(&state.db, t).await?))
}

/// Sets a ticket's status and/or appends a private note (id = row id, as the original).
#[utoipa::path(post, path = "/codex/api/ticket/{id}/update", tag = "codex",
    params(("id" = i64, Path, description = "ticket row id")), request_body = TicketUpdate,
    responses((status = 200, body = TicketUpdateResult), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn post_ticket_update(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
    JsonBody(input): JsonBody<TicketUpdate>,
) -> AppResult<Json<TicketUpdateResult>> {
    who.require_master_write()?;
    let ticket = quick_update(&state.db, &who, id, &input).await?;
    Ok(Json(TicketUpdateResult {
        success: true,
        ticket_id: id,
        message: "Ticket updated".into(),
        ticket,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CompanyTicketQuery {
    /// UTC calendar year of `last_updated_at` (2000..=2100).
    pub year: Option<i32>,
    /// 1..=1000, default 500.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// A company's tickets with conversations and notes (the original's ticket objects).
#[utoipa::path(get, path = "/codex/api/companies/{account_number}/tickets", tag = "codex",
    params(("account_number" = String, Path), CompanyTicketQuery),
    responses((status = 200, body = [CompanyTicket], headers(("X-Total-Count" = i64, description = "matching tickets"))),
              (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn list_company_tickets(
    State(state): State<AppState>,
    who: Principal,
    Path(account_number): Path<String>,
    OriginalUri(uri): OriginalUri,
    QueryParams(q): QueryParams<CompanyTicketQuery>,
) -> AppResult<(HeaderMap, Json<Vec<CompanyTicket>>)> {
    let company = companies::visible(&state.db, &who, &account_number).await?;
    let page = Page::new(q.limit, q.offset, 500, 1000)?;
    let (list, total) = company_tickets(&state.db, company.id, q.year, page).await?;
    Ok((page.headers(total, uri_str(&uri)), Json(list)))
}

/// The original's `/api/psa/tickets` object.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PsaTicket {
    pub id: i64,
    pub external_id: String,
    pub source: String,
    pub ticket_number: Option<String>,
    pub subject: Option<String>,
    pub status: Option<String>,
    pub priority: Option<String>,
    pub company_id: Option<i64>,
    pub company_account_number: Option<String>,
    /// "Unknown" when the ticket has no company.
    pub company_name: String,
    pub requester_name: Option<String>,
    pub requester_email: Option<String>,
    pub responder_id: Option<String>,
    pub group_id: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub total_hours: f64,
}

impl From<Ticket> for PsaTicket {
    fn from(t: Ticket) -> Self {
        PsaTicket {
            id: t.id,
            external_id: t.external_id,
            source: t.external_source,
            ticket_number: t.ticket_number,
            subject: t.subject,
            status: t.status,
            priority: t.priority,
            company_id: t.company_id,
            company_account_number: t.company_account_number,
            company_name: t.company_name.unwrap_or_else(|| "Unknown".into()),
            requester_name: t.requester_name,
            requester_email: t.requester_email,
            responder_id: t.responder_external_id,
            group_id: t.group_external_id,
            created_at: t.created_at,
            updated_at: t.last_updated_at,
            total_hours: t.total_hours_spent,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PsaTicketQuery {
    pub provider: Option<String>,
    /// Comma-separated statuses.
    pub status: Option<String>,
    /// Company account number.
    pub company: Option<String>,
    /// 1..=1000, default 100.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Tickets in the original's PSA-neutral shape, newest update first.
#[utoipa::path(get, path = "/codex/api/psa/tickets", tag = "codex", params(PsaTicketQuery),
    responses((status = 200, body = [PsaTicket], headers(("X-Total-Count" = i64, description = "matching tickets"))),
              (status = 422, body = crate::error::Problem)))]
pub async fn psa_tickets(
    State(state): State<AppState>,
    who: Principal,
    OriginalUri(uri): OriginalUri,
    QueryParams(q): QueryParams<PsaTicketQuery>,
) -> AppResult<(HeaderMap, Json<Vec<PsaTicket>>)> {
    let page = Page::new(q.limit, q.offset, 100, 1000)?;
    let tq = TicketQuery {
        source: q.provider,
        status: q.status,
        company_id: q.company,
        ..TicketQuery::default()
    };
    let (list, total) = list(&state.db, who.company_scope(), &tq, page).await?;
    let list = list.into_iter().map(PsaTicket::from).collect();
    Ok((page.headers(total, uri_str(&uri)), Json(list)))
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tickets, create_ticket))
        .routes(routes!(get_ticket_by_row, update_ticket))
        .route(
            "/codex/api/tickets/{id}",
            axum::routing::patch(update_ticket),
        )
        .routes(routes!(get_ticket))
        .routes(routes!(post_ticket_update))
        .routes(routes!(list_company_tickets))
        .routes(routes!(agents::psa_agents))
        .routes(routes!(psa_tickets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_become_exact_hours() {
        assert_eq!(hours(0).to_string(), "0.00");
        assert_eq!(hours(60).to_string(), "1.00");
        assert_eq!(hours(90).to_string(), "1.50");
        assert_eq!(hours(20).to_string(), "0.33");
        assert_eq!(hours(50).to_string(), "0.83");
        assert_eq!(hours(1).to_string(), "0.02");
    }

    #[test]
    fn html_is_stripped_like_the_original() {
        assert_eq!(
            strip_html("<p>Printer&nbsp;is <b>down</b></p>\n<p>A &amp; B &lt;3</p>"),
            "Printer is down A & B <3"
        );
        assert_eq!(strip_html("plain"), "plain");
    }

    #[test]
    fn vendor_times_normalise() {
        assert_eq!(
            norm_time("2022-04-10T10:15:30").as_deref(),
            Some("2022-04-10T10:15:30.000000Z")
        );
        assert_eq!(
            norm_time("2022-04-10T12:15:30+02:00").as_deref(),
            Some("2022-04-10T10:15:30.000000Z")
        );
        assert_eq!(norm_time("soon"), None);
        assert_eq!(norm_time(""), None);
    }

    #[test]
    fn years_are_bounded() {
        assert!(year_bounds(1999).is_err());
        assert!(year_bounds(2101).is_err());
        let (a, b) = year_bounds(2025).unwrap();
        assert!(a < b && a.starts_with("2025-01-01") && b.starts_with("2026-01-01"));
    }
}
