//! Writes made in HiveMatrix rather than by the sync: manual tickets (shops without a
//! PSA, tests), technicians' edits, and the quick status/note update the original
//! offered. Each write validates every field first, then changes the row and records
//! the audit entry in one transaction. Nothing is pushed back to the PSA.

use super::{
    detail, from_row, hours, json_value, priority_rank, status_display, status_to_freshservice,
    strip_html, visible, Args, Ticket, TicketDetail, PRIORITIES, SELECT, STATUSES,
};
use crate::audit::{self, Action, Change};
use crate::auth::Principal;
use crate::codex::companies;
use crate::codex::patch::{self, apply_text};
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldErrors};
use crate::validate;
use serde::{Deserialize, Serialize};
use sqlx::Row;

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
