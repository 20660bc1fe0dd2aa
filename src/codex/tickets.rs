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
//!
//! Layout: this file holds the model and the reads; `codes` the status/priority
//! vocabulary and PSA mappings; `store` the upserts and bulk reads for sync, Beacon and
//! Ledger; `edit` the writes made here; `http` the handlers; `agents` the PSA agents.

mod agents;
mod codes;
mod edit;
mod http;
pub mod store;

pub use agents::{
    display_name as agent_display_name, list_agents, mark_missing_agents, upsert_agent, AgentQuery,
    AgentUpsert, PsaAgent,
};
pub use codes::*;
pub use edit::{
    create_manual, quick_update, update_manual, TicketInput, TicketUpdate, TicketUpdateResult,
    TICKET_TYPES,
};
pub use http::{PsaTicket, TicketPage};
pub use store::{
    active_external_ids, list_active, list_for_companies, mark_deleted, replace_time_entries,
    stored_versions, time_entries_for_month, upsert_conversations, upsert_ticket,
    ConversationUpsert, MonthTimeEntry, TicketUpsert, TimeEntry,
};

use super::company_scope_sql;
use crate::auth::Principal;
use crate::db::{flag, like_pattern, Db};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::http::pagination::{Order, Page};
use crate::http::AppState;
use crate::validate;
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

/// Open (not closed, not deleted) tickets per company for the given companies, in one
/// grouped query (list pages).
pub async fn open_count_by_company(db: &Db, company_ids: &[i64]) -> AppResult<HashMap<i64, i64>> {
    if company_ids.is_empty() {
        return Ok(HashMap::new());
    }
    // The closed statuses are our own constants, not user text.
    let closed: Vec<String> = codes::CLOSED_STATUSES
        .iter()
        .map(|s| format!("'{s}'"))
        .collect();
    let sql = format!(
        "SELECT company_id, COUNT(*) FROM tickets WHERE company_id IN ({}) \
         AND deleted_at IS NULL AND (status IS NULL OR status NOT IN ({})) GROUP BY company_id",
        super::ids_sql(company_ids),
        closed.join(",")
    );
    super::counts_by_company(db, &sql).await
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

/// Tickets whose number is `q` (as the PSA shows it, `INC-1042`, any case, or the PSA's
/// id), most recently updated first, at most `limit`: two index lookups, for the global
/// search box (a subject search over every ticket would scan them all).
pub async fn search_by_number(
    db: &Db,
    scope: Option<i64>,
    q: &str,
    limit: i64,
) -> AppResult<Vec<Ticket>> {
    let q = q.trim().trim_start_matches('#');
    if q.is_empty() {
        return Ok(vec![]);
    }
    let sql = format!(
        "{SELECT} WHERE (upper(t.ticket_number) = upper($1) OR t.external_id = $1) \
         AND t.deleted_at IS NULL {scope} {order} LIMIT $2",
        scope = company_scope_sql("t.company_id", scope),
        order = order_by("t.last_updated_at", Order::Desc),
    );
    let rows = sqlx::query(&sql)
        .bind(q)
        .bind(limit)
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
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

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(http::list_tickets, http::create_ticket))
        .routes(routes!(http::get_ticket_by_row, http::update_ticket))
        .route(
            "/codex/api/tickets/{id}",
            axum::routing::patch(http::update_ticket),
        )
        .routes(routes!(http::get_ticket))
        .routes(routes!(http::post_ticket_update))
        .routes(routes!(http::list_company_tickets))
        .routes(routes!(agents::psa_agents))
        .routes(routes!(http::psa_tickets))
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
