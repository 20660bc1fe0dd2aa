//! The original's categorisation, rule for rule: which tickets are active, which section
//! each lands in (eight rules, first match wins), the SLA text and class, the friendly
//! ages and the sort order. Pure functions of the tickets, the settings and a clock, so
//! every threshold can be pinned by a test and one computed board can serve many screens.

use super::model::{
    AgentFilter, AlertLevel, Board, BoardItem, BoardSection, BoardSettings, BoardTicket, BoardView,
    SectionId, SlaClass,
};
use crate::time::to_db;
use chrono::{DateTime, TimeDelta, Utc};
use std::cmp::Reverse;

/// Statuses that are finished or junk; such tickets are not on the board.
pub const CLOSED_STATUSES: &[&str] = &[
    "closed",
    "resolved",
    "job_complete_bill",
    "billing_complete",
    "spam",
    "trash",
    "deleted",
];

/// Statuses measured against the first-response SLA (section 1).
const FIRST_RESPONSE_STATUSES: &[&str] = &["open", "update_needed", "pending"];

/// Display names of the Codex status vocabulary (the Freshservice names, which are also
/// the common ones).
const STATUS_NAMES: &[(&str, &str)] = &[
    ("open", "Open"),
    ("pending", "Pending"),
    ("resolved", "Resolved"),
    ("closed", "Closed"),
    ("spam", "Spam"),
    ("deleted", "Deleted"),
    ("trash", "Trash"),
    ("scheduled", "Scheduled"),
    ("waiting_customer", "Waiting on Customer"),
    ("waiting_third_party", "Waiting on Third Party"),
    ("under_investigation", "Under Investigation"),
    ("job_complete_bill", "Job Complete - Bill"),
    ("billing_complete", "Billing Complete - Close"),
    ("update_needed", "Update Needed"),
    ("on_hold", "On Hold"),
    ("customer_replied", "Customer Replied"),
    ("pending_hubspot", "Pending Hubspot"),
    ("unknown", "Unknown"),
];

/// Where a ticket goes and what its SLA cell says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub section: SectionId,
    pub sla_text: String,
    pub sla_class: SlaClass,
}

/// A present, trimmed, lower-case value (vocabulary values are compared this way so a
/// stray capital or space from a PSA does not move a ticket).
fn norm(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_ascii_lowercase)
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Whether a ticket with this status belongs on the board. A missing status is shown
/// (as `Unknown`): hiding a ticket nobody can classify would hide work.
pub fn is_active(status: &Option<String>) -> bool {
    norm(status).is_none_or(|s| !CLOSED_STATUSES.contains(&s.as_str()))
}

/// `waiting_third_party` → `Waiting Third Party`: the original's last-resort name.
fn title_case(value: &str) -> String {
    value
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_uppercase()
                    .chain(chars.flat_map(char::to_lowercase))
                    .collect()
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The status as shown: the PSA's own name (so SuperOps tickets read as in SuperOps),
/// else the vocabulary's, else the value title-cased, else `Unknown`.
pub fn status_display(ticket: &BoardTicket) -> String {
    if let Some(text) = non_empty(&ticket.status_text) {
        return text.to_string();
    }
    let Some(status) = norm(&ticket.status) else {
        return "Unknown".to_string();
    };
    STATUS_NAMES
        .iter()
        .find(|(key, _)| *key == status)
        .map_or_else(|| title_case(&status), |(_, name)| name.to_string())
}

/// The priority as shown: `Low`/`Medium`/`High`/`Urgent`, other values title-cased,
/// missing = `Unknown`.
pub fn priority_display(priority: &Option<String>) -> String {
    norm(priority).map_or_else(|| "Unknown".to_string(), |p| title_case(&p))
}

/// The update threshold for a ticket; `None` when the ticket has no priority, which the
/// original never counts as overdue.
pub fn update_threshold(priority: &Option<String>, settings: &BoardSettings) -> Option<TimeDelta> {
    let t = &settings.update_overdue;
    norm(priority).map(|p| match p.as_str() {
        "urgent" => t.urgent,
        "high" => t.high,
        "medium" => t.medium,
        "low" => t.low,
        _ => t.unknown,
    })
}

/// No update for strictly longer than the priority's threshold.
pub fn is_update_overdue(
    ticket: &BoardTicket,
    now: DateTime<Utc>,
    settings: &BoardSettings,
) -> bool {
    match (
        ticket.last_updated_at,
        update_threshold(&ticket.priority, settings),
    ) {
        (Some(updated), Some(threshold)) => now - updated > threshold,
        _ => false,
    }
}

/// How long ago, coarsely: `3d ago`, `5h ago`, `12m ago`, `Just now`, `in the future`,
/// `N/A` (whole units, rounded down).
pub fn time_since(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(at) = at else {
        return "N/A".to_string();
    };
    let diff = now - at;
    if diff < TimeDelta::zero() {
        "in the future".to_string()
    } else if diff.num_days() >= 1 {
        format!("{}d ago", diff.num_days())
    } else if diff.num_hours() >= 1 {
        format!("{}h ago", diff.num_hours())
    } else if diff.num_minutes() >= 1 {
        format!("{}m ago", diff.num_minutes())
    } else {
        "Just now".to_string()
    }
}

/// Age in calendar days (UTC dates, not 24-hour periods): `Today`, `1 day old`,
/// `N days old`, `Future Date`, `N/A`.
pub fn days_old(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(at) = at else {
        return "N/A".to_string();
    };
    match (now.date_naive() - at.date_naive()).num_days() {
        d if d < 0 => "Future Date".to_string(),
        0 => "Today".to_string(),
        1 => "1 day old".to_string(),
        d => format!("{d} days old"),
    }
}

/// A span as the SLA cell shows it, without sign: `2.5 days` (from 48 h), `3.0 hours`
/// (from 1 h), `12 min`, `40 sec`. Rounding is half-to-even on the float value, as
/// Python's format did.
pub fn format_amount(span: TimeDelta) -> String {
    let span = span.abs();
    let seconds = span
        .num_microseconds()
        .map_or(span.num_seconds() as f64, |us| us as f64 / 1e6);
    let hours = seconds / 3600.0;
    if span >= TimeDelta::days(2) {
        format!("{:.1} days", hours / 24.0)
    } else if span >= TimeDelta::hours(1) {
        format!("{hours:.1} hours")
    } else if span >= TimeDelta::minutes(1) {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{seconds:.0} sec")
    }
}

fn is_service_request(ticket: &BoardTicket) -> bool {
    non_empty(&ticket.ticket_type).is_some_and(|t| t.eq_ignore_ascii_case("Service Request"))
}

/// The first-response SLA cell of a ticket nobody has answered yet. Service requests are
/// measured against `due_by` (prefix `Due`), everything else against `fr_due_by` (`FR`).
pub fn first_response_sla(
    ticket: &BoardTicket,
    now: DateTime<Utc>,
    settings: &BoardSettings,
) -> (String, SlaClass) {
    let (prefix, target) = if is_service_request(ticket) {
        ("Due", ticket.due_by)
    } else {
        ("FR", ticket.fr_due_by)
    };
    let Some(target) = target else {
        return (format!("No {prefix} Due Date"), SlaClass::None);
    };
    let remaining = target - now;
    let amount = format_amount(remaining);
    if remaining < TimeDelta::zero() {
        return (format!("{prefix} Overdue by {amount}"), SlaClass::Overdue);
    }
    let class = if remaining < settings.fr_critical {
        SlaClass::Critical
    } else if remaining < settings.fr_warning {
        SlaClass::Warning
    } else {
        SlaClass::Normal
    };
    (format!("{amount} for {prefix}"), class)
}

fn verdict(section: SectionId, sla_text: String, sla_class: SlaClass) -> Verdict {
    Verdict {
        section,
        sla_text,
        sla_class,
    }
}

/// The eight rules, in the original's order; the first that matches decides.
pub fn categorise(ticket: &BoardTicket, now: DateTime<Utc>, settings: &BoardSettings) -> Verdict {
    let status = norm(&ticket.status).unwrap_or_default();
    let updated = time_since(ticket.last_updated_at, now);
    if status == "customer_replied" {
        return verdict(
            SectionId::CustomerReplied,
            format!("Customer Replied ({updated})"),
            SlaClass::Warning,
        );
    }
    if status == "pending_hubspot" {
        return verdict(
            SectionId::Other,
            format!("Pending Hubspot ({updated})"),
            SlaClass::None,
        );
    }
    let shown = status_display(ticket);
    if is_update_overdue(ticket, now, settings) {
        return verdict(
            SectionId::Overdue,
            format!("Update Overdue ({shown}, {updated})"),
            SlaClass::Critical,
        );
    }
    if FIRST_RESPONSE_STATUSES.contains(&status.as_str()) {
        let (text, class) = match ticket.first_responded_at {
            None => first_response_sla(ticket, now, settings),
            Some(_) => (format!("{shown} (FR Met)"), SlaClass::Responded),
        };
        return verdict(SectionId::Open, text, class);
    }
    match status.as_str() {
        "waiting_customer" => verdict(
            SectionId::Other,
            waiting_on_customer(ticket.agent_responded_at, now),
            SlaClass::Responded,
        ),
        "on_hold" => verdict(
            SectionId::Other,
            format!("On Hold ({updated})"),
            SlaClass::None,
        ),
        _ => verdict(
            SectionId::Other,
            format!("{shown} ({updated})"),
            SlaClass::InProgress,
        ),
    }
}

fn waiting_on_customer(agent_responded_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match agent_responded_at {
        Some(at) => format!("Waiting on Customer (Agent: {})", time_since(Some(at), now)),
        None => "Waiting on Customer".to_string(),
    }
}

/// Whether the ticket belongs to the view. Professional Services is the configured PSA
/// group; Helpdesk is everything else, including tickets without a group.
pub fn in_view(ticket: &BoardTicket, view: BoardView, settings: &BoardSettings) -> bool {
    let ps_group = non_empty(&settings.professional_services_group_id);
    let is_ps = ps_group.is_some_and(|ps| non_empty(&ticket.group_id) == Some(ps));
    match view {
        BoardView::All => true,
        BoardView::Helpdesk => !is_ps,
        BoardView::ProfessionalServices => is_ps,
    }
}

pub fn matches_agent(ticket: &BoardTicket, filter: &AgentFilter) -> bool {
    let responder = non_empty(&ticket.responder_id);
    match filter {
        AgentFilter::All => true,
        AgentFilter::Unassigned => responder.is_none(),
        AgentFilter::Agent(id) => responder == Some(id.trim()),
    }
}

/// The sort rank of a ticket's priority, higher first. The normalised priority decides
/// when known (so a PSA without numeric ids sorts correctly); otherwise the raw id, and a
/// missing or zero id counts as 1, as in the original.
pub fn priority_rank(ticket: &BoardTicket) -> i64 {
    let by_name = match norm(&ticket.priority).as_deref() {
        Some("urgent") => Some(4),
        Some("high") => Some(3),
        Some("medium") => Some(2),
        Some("low") => Some(1),
        _ => None,
    };
    by_name
        .or(ticket.priority_id.filter(|&id| id != 0))
        .unwrap_or(1)
}

/// Agent name: the known name, else `Agent <id>`, else `Unassigned`.
fn agent_name(ticket: &BoardTicket) -> String {
    match (
        non_empty(&ticket.agent_name),
        non_empty(&ticket.responder_id),
    ) {
        (Some(name), _) => name.to_string(),
        (None, Some(id)) => format!("Agent {id}"),
        (None, None) => "Unassigned".to_string(),
    }
}

/// Requester: the ticket's name, else the contact's, else `Requester <id>`, else `N/A`.
fn requester_name(ticket: &BoardTicket) -> String {
    non_empty(&ticket.requester_name)
        .or_else(|| non_empty(&ticket.contact_name))
        .map(str::to_string)
        .or_else(|| non_empty(&ticket.requester_id).map(|id| format!("Requester {id}")))
        .unwrap_or_else(|| "N/A".to_string())
}

/// Minutes as hours with two decimals (display only; Codex keeps the minutes).
fn hours(minutes: i64) -> f64 {
    (minutes as f64 / 60.0 * 100.0).round() / 100.0
}

fn item(ticket: &BoardTicket, verdict: Verdict, now: DateTime<Utc>) -> BoardItem {
    let t = ticket;
    BoardItem {
        id: t.external_id.clone(),
        ticket_number: t.ticket_number.clone(),
        subject: t.subject.clone(),
        description_text: t.description_text.clone(),
        status: t.status.clone(),
        status_id: t.status_id,
        status_text: status_display(t),
        priority: t.priority.clone(),
        priority_id: t.priority_id,
        priority_raw: t.priority_id,
        priority_text: priority_display(&t.priority),
        kind: t.ticket_type.clone(),
        ticket_type: t.ticket_type.clone(),
        company_id: t.company_id.clone(),
        requester_id: t.requester_id.clone(),
        requester_email: t.requester_email.clone(),
        requester_name: requester_name(t),
        responder_id: t.responder_id.clone(),
        agent_name: agent_name(t),
        group_id: t.group_id.clone(),
        source: t.source.clone(),
        created_at_str: t.created_at.map(to_db),
        updated_at_str: t.last_updated_at.map(to_db),
        fr_due_by_str: t.fr_due_by.map(to_db),
        due_by_str: t.due_by.map(to_db),
        first_responded_at_iso: t.first_responded_at.map(to_db),
        agent_responded_at: t.agent_responded_at.map(to_db),
        updated_friendly: time_since(t.last_updated_at, now),
        created_days_old: days_old(t.created_at, now),
        agent_responded_friendly: time_since(t.agent_responded_at, now),
        sla_text: verdict.sla_text,
        sla_class: verdict.sla_class,
        total_hours_spent: hours(t.minutes_spent),
    }
}

/// Highest priority first, then stalest first (no update time sorts first, as the
/// original's empty string did); the PSA id breaks ties so the order never flickers.
fn sort_section(rows: &mut [(&BoardTicket, BoardItem)]) {
    rows.sort_by(|(a, _), (b, _)| {
        let key = |t: &BoardTicket| (Reverse(priority_rank(t)), t.last_updated_at);
        key(a)
            .cmp(&key(b))
            .then_with(|| a.external_id.cmp(&b.external_id))
    });
}

/// The board for one view and agent filter at `now`: active tickets only, categorised
/// into the four sections, each sorted.
pub fn build_board(
    tickets: &[BoardTicket],
    now: DateTime<Utc>,
    settings: &BoardSettings,
    view: BoardView,
    agent: &AgentFilter,
) -> Board {
    let mut buckets: [Vec<(&BoardTicket, BoardItem)>; 4] = Default::default();
    let shown = tickets
        .iter()
        .filter(|t| is_active(&t.status) && in_view(t, view, settings) && matches_agent(t, agent));
    for ticket in shown {
        let verdict = categorise(ticket, now, settings);
        let slot = usize::from(verdict.section.number() - 1);
        buckets[slot].push((ticket, item(ticket, verdict, now)));
    }
    let total_active = buckets.iter().map(Vec::len).sum();
    let sections = SectionId::ALL
        .into_iter()
        .zip(buckets)
        .map(|(id, mut rows)| {
            sort_section(&mut rows);
            BoardSection {
                id,
                number: id.number(),
                title: view.section_title(id),
                tickets: rows.into_iter().map(|(_, item)| item).collect(),
            }
        })
        .collect();
    Board {
        view,
        view_name: view.name().to_string(),
        generated_at: to_db(now),
        sections,
        total_active,
        alert_level: AlertLevel::for_total(total_active, &settings.alert_levels),
    }
}
