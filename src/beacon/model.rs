//! The board's vocabulary: what goes in (`BoardTicket`, `BoardSettings`, the view and the
//! agent filter) and what comes out (`Board` with its four sections of `BoardItem`s).
//! Output field names are the original's, so the legacy JSON envelopes and the pages can
//! serialise these types as they are.

use crate::time::to_db;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

/// One Codex ticket as the rules need it. Every field may be missing: a half-synced
/// ticket must still land somewhere on the board.
#[derive(Debug, Clone, Default)]
pub struct BoardTicket {
    /// The PSA's ticket id (used for links; the original's `id`).
    pub external_id: String,
    /// The PSA the ticket comes from (`freshservice`, `superops`); the original's `source`.
    pub source: String,
    pub ticket_number: Option<String>,
    pub subject: Option<String>,
    pub description_text: Option<String>,
    /// Codex status vocabulary: `open`, `pending`, `waiting_customer`, … (see `rules`).
    pub status: Option<String>,
    pub status_id: Option<i64>,
    /// The PSA's own display name for the status (preferred over the vocabulary's).
    pub status_text: Option<String>,
    /// `low`, `medium`, `high`, `urgent` or `unknown`.
    pub priority: Option<String>,
    pub priority_id: Option<i64>,
    /// `Incident` or `Service Request` (the latter is measured against `due_by`).
    pub ticket_type: Option<String>,
    /// The company's account number.
    pub company_id: Option<String>,
    pub requester_id: Option<String>,
    pub requester_email: Option<String>,
    /// The name the PSA put on the ticket.
    pub requester_name: Option<String>,
    /// The name of the Codex contact with the requester's PSA id (second choice).
    pub contact_name: Option<String>,
    /// The assigned agent's PSA id; `None` = unassigned.
    pub responder_id: Option<String>,
    /// The assigned agent's name when the agent is known and active.
    pub agent_name: Option<String>,
    pub group_id: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub last_updated_at: Option<DateTime<Utc>>,
    pub fr_due_by: Option<DateTime<Utc>>,
    pub due_by: Option<DateTime<Utc>>,
    pub first_responded_at: Option<DateTime<Utc>>,
    pub agent_responded_at: Option<DateTime<Utc>>,
    /// Time logged on the ticket (Codex keeps minutes, never float hours).
    pub minutes_spent: i64,
}

/// How long a ticket may go without an update, by normalised priority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateThresholds {
    pub urgent: TimeDelta,
    pub high: TimeDelta,
    pub medium: TimeDelta,
    pub low: TimeDelta,
    /// Any other priority value (`unknown`, or one the vocabulary does not know).
    pub unknown: TimeDelta,
}

/// Everything tunable about the board; `Default` is the original's behaviour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardSettings {
    pub update_overdue: UpdateThresholds,
    /// First response (or due date) closer than this is `sla-critical`.
    pub fr_critical: TimeDelta,
    /// … closer than this is `sla-warning`; further away is `sla-normal`.
    pub fr_warning: TimeDelta,
    /// The PSA group whose tickets form the Professional Services view; `None` = unknown
    /// (Helpdesk then shows every ticket and Professional Services none).
    pub professional_services_group_id: Option<String>,
    /// Total-active counts at which the header counter turns warning, danger, critical,
    /// emergency (ascending).
    pub alert_levels: [usize; 4],
}

impl Default for BoardSettings {
    fn default() -> Self {
        BoardSettings {
            update_overdue: UpdateThresholds {
                urgent: TimeDelta::minutes(30),
                high: TimeDelta::days(2),
                medium: TimeDelta::days(3),
                low: TimeDelta::days(4),
                unknown: TimeDelta::days(3),
            },
            fr_critical: TimeDelta::hours(4),
            fr_warning: TimeDelta::hours(12),
            professional_services_group_id: None,
            alert_levels: [90, 100, 110, 120],
        }
    }
}

/// Which tickets a board shows. `All` is for the Codex endpoint, which has no split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BoardView {
    Helpdesk,
    ProfessionalServices,
    All,
}

impl BoardView {
    /// The URL slug (`/beacon/{slug}`).
    pub fn slug(self) -> &'static str {
        match self {
            BoardView::Helpdesk => "helpdesk",
            BoardView::ProfessionalServices => "professional-services",
            BoardView::All => "all",
        }
    }

    /// The name shown in titles.
    pub fn name(self) -> &'static str {
        match self {
            BoardView::Helpdesk => "Helpdesk",
            BoardView::ProfessionalServices => "Professional Services",
            BoardView::All => "All",
        }
    }

    /// Parses a URL slug; `None` for anything else (the page answers 404).
    pub fn from_slug(slug: &str) -> Option<BoardView> {
        [
            BoardView::Helpdesk,
            BoardView::ProfessionalServices,
            BoardView::All,
        ]
        .into_iter()
        .find(|v| v.slug() == slug)
    }

    /// The title of section 1..=4, e.g. `Open Helpdesk Tickets`.
    pub fn section_title(self, section: SectionId) -> String {
        // The unsplit view reads "Open Tickets", not "Open All Tickets".
        let view = match self {
            BoardView::All => String::new(),
            v => format!("{} ", v.name()),
        };
        match section {
            SectionId::Open => format!("Open {view}Tickets"),
            SectionId::CustomerReplied => "Customer Replied".to_string(),
            SectionId::Overdue => "Needs Agent / Update Overdue".to_string(),
            SectionId::Other => format!("Other Active {view}Tickets"),
        }
    }
}

/// Whose tickets a board shows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AgentFilter {
    #[default]
    All,
    /// Tickets without a responder (the original could not filter these).
    Unassigned,
    /// Tickets whose responder has this PSA id.
    Agent(String),
}

impl AgentFilter {
    /// The query parameter's value: absent or empty = all, `unassigned` (any case) =
    /// no responder, anything else = that agent's PSA id.
    pub fn parse(value: Option<&str>) -> AgentFilter {
        match value.map(str::trim) {
            None | Some("") => AgentFilter::All,
            Some(v) if v.eq_ignore_ascii_case("unassigned") => AgentFilter::Unassigned,
            Some(v) => AgentFilter::Agent(v.to_string()),
        }
    }
}

/// The four sections, numbered as the original numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SectionId {
    /// S1: open / pending / update needed, with the first-response SLA.
    Open,
    /// S2: the customer replied; an agent must act.
    CustomerReplied,
    /// S3: no update within the priority's threshold.
    Overdue,
    /// S4: waiting on someone else, on hold, everything else.
    Other,
}

impl SectionId {
    pub const ALL: [SectionId; 4] = [
        SectionId::Open,
        SectionId::CustomerReplied,
        SectionId::Overdue,
        SectionId::Other,
    ];

    /// 1..=4.
    pub fn number(self) -> u8 {
        match self {
            SectionId::Open => 1,
            SectionId::CustomerReplied => 2,
            SectionId::Overdue => 3,
            SectionId::Other => 4,
        }
    }
}

/// The CSS class that colours a ticket's SLA cell (the original's strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub enum SlaClass {
    #[serde(rename = "sla-overdue")]
    Overdue,
    #[serde(rename = "sla-critical")]
    Critical,
    #[serde(rename = "sla-warning")]
    Warning,
    #[serde(rename = "sla-normal")]
    Normal,
    #[serde(rename = "sla-responded")]
    Responded,
    #[serde(rename = "sla-none")]
    None,
    #[serde(rename = "sla-in-progress")]
    InProgress,
}

impl SlaClass {
    pub fn as_str(self) -> &'static str {
        match self {
            SlaClass::Overdue => "sla-overdue",
            SlaClass::Critical => "sla-critical",
            SlaClass::Warning => "sla-warning",
            SlaClass::Normal => "sla-normal",
            SlaClass::Responded => "sla-responded",
            SlaClass::None => "sla-none",
            SlaClass::InProgress => "sla-in-progress",
        }
    }
}

/// The header counter's state, from the total number of active tickets on the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertLevel {
    Normal,
    /// Yellow.
    Warning,
    /// Solid red.
    Danger,
    /// Red, blinking.
    Critical,
    /// Red, blinking, with sirens.
    Emergency,
}

impl AlertLevel {
    /// The level for `total` active tickets given the ascending `levels`.
    pub fn for_total(total: usize, levels: &[usize; 4]) -> AlertLevel {
        let reached = levels.iter().filter(|&&l| total >= l).count();
        [
            AlertLevel::Normal,
            AlertLevel::Warning,
            AlertLevel::Danger,
            AlertLevel::Critical,
            AlertLevel::Emergency,
        ][reached]
    }

    /// The original's counter class (`None` when the counter is not highlighted).
    pub fn css_class(self) -> Option<&'static str> {
        match self {
            AlertLevel::Normal => None,
            AlertLevel::Warning => Some("count-warning"),
            AlertLevel::Danger => Some("count-danger"),
            AlertLevel::Critical => Some("count-critical"),
            AlertLevel::Emergency => Some("count-emergency"),
        }
    }

    /// Whether the sirens beside the counter are on.
    pub fn sirens(self) -> bool {
        self == AlertLevel::Emergency
    }
}

/// One row on the board, with the original's field names.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BoardItem {
    /// The PSA ticket id (links go to `<PSA ticket base URL><id>`).
    pub id: String,
    pub ticket_number: Option<String>,
    pub subject: Option<String>,
    pub description_text: Option<String>,
    pub status: Option<String>,
    pub status_id: Option<i64>,
    pub status_text: String,
    pub priority: Option<String>,
    pub priority_id: Option<i64>,
    /// Same as `priority_id` (the original's sort key for the priority column).
    pub priority_raw: Option<i64>,
    pub priority_text: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub ticket_type: Option<String>,
    pub company_id: Option<String>,
    pub requester_id: Option<String>,
    pub requester_email: Option<String>,
    pub requester_name: String,
    pub responder_id: Option<String>,
    pub agent_name: String,
    pub group_id: Option<String>,
    pub source: String,
    pub created_at_str: Option<String>,
    pub updated_at_str: Option<String>,
    pub fr_due_by_str: Option<String>,
    pub due_by_str: Option<String>,
    pub first_responded_at_iso: Option<String>,
    pub agent_responded_at: Option<String>,
    pub updated_friendly: String,
    pub created_days_old: String,
    pub agent_responded_friendly: String,
    pub sla_text: String,
    pub sla_class: SlaClass,
    pub total_hours_spent: f64,
}

/// One of the four sections, already sorted.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BoardSection {
    pub id: SectionId,
    /// 1..=4.
    pub number: u8,
    pub title: String,
    pub tickets: Vec<BoardItem>,
}

/// A categorised board for one view and agent filter at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Board {
    pub view: BoardView,
    pub view_name: String,
    /// The clock the board was computed with (the ages are relative to it).
    pub generated_at: String,
    /// Always four, in order S1..S4.
    pub sections: Vec<BoardSection>,
    /// Tickets on this board (after the view and agent filter).
    pub total_active: usize,
    pub alert_level: AlertLevel,
}

impl Board {
    /// The section with this id.
    pub fn section(&self, id: SectionId) -> &BoardSection {
        &self.sections[usize::from(id.number() - 1)]
    }

    fn items(&self, id: SectionId) -> &[BoardItem] {
        &self.section(id).tickets
    }

    /// The original Codex `/api/tickets/active` body.
    pub fn codex_envelope(&self, last_sync_time: Option<DateTime<Utc>>) -> CodexEnvelope<'_> {
        CodexEnvelope {
            section1: self.items(SectionId::Open),
            section2: self.items(SectionId::CustomerReplied),
            section3: self.items(SectionId::Overdue),
            section4: self.items(SectionId::Other),
            total_active: self.total_active,
            last_updated: &self.generated_at,
            last_sync_time: last_sync_time.map(to_db),
        }
    }

    /// The original Beacon `/api/tickets/{view}` body; the time shown is the last sync
    /// when known, else the board's own clock.
    pub fn beacon_envelope(&self, last_sync_time: Option<DateTime<Utc>>) -> BeaconEnvelope<'_> {
        let title = |id| &self.section(id).title;
        BeaconEnvelope {
            s1_items: self.items(SectionId::Open),
            s2_items: self.items(SectionId::CustomerReplied),
            s3_items: self.items(SectionId::Overdue),
            s4_items: self.items(SectionId::Other),
            total_active_items: self.total_active,
            dashboard_generated_time_iso: last_sync_time
                .map(to_db)
                .unwrap_or_else(|| self.generated_at.clone()),
            view: &self.view_name,
            section1_name_js: title(SectionId::Open),
            section2_name_js: title(SectionId::CustomerReplied),
            section3_name_js: title(SectionId::Overdue),
            section4_name_js: title(SectionId::Other),
            alert_level: self.alert_level,
        }
    }
}

/// `{section1..4, total_active, last_updated, last_sync_time}` as Codex sent it.
#[derive(Debug, Serialize)]
pub struct CodexEnvelope<'a> {
    pub section1: &'a [BoardItem],
    pub section2: &'a [BoardItem],
    pub section3: &'a [BoardItem],
    pub section4: &'a [BoardItem],
    pub total_active: usize,
    pub last_updated: &'a str,
    pub last_sync_time: Option<String>,
}

/// `{s1_items.., total_active_items, dashboard_generated_time_iso, view, sectionN_name_js}`
/// as Beacon sent it, plus the header's alert level.
#[derive(Debug, Serialize)]
pub struct BeaconEnvelope<'a> {
    pub s1_items: &'a [BoardItem],
    pub s2_items: &'a [BoardItem],
    pub s3_items: &'a [BoardItem],
    pub s4_items: &'a [BoardItem],
    pub total_active_items: usize,
    pub dashboard_generated_time_iso: String,
    pub view: &'a str,
    pub section1_name_js: &'a str,
    pub section2_name_js: &'a str,
    pub section3_name_js: &'a str,
    pub section4_name_js: &'a str,
    pub alert_level: AlertLevel,
}
