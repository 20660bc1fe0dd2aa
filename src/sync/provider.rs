//! What a PSA or RMM must offer the sync engine, in vendor-neutral records.
//!
//! Each vendor client (`freshservice.rs`, `datto.rs`, …) turns its API's envelopes,
//! codes and timestamps into these types, so the engine never sees vendor JSON and a new
//! vendor (ConnectWise, NinjaOne) is one new file implementing one trait.
//!
//! Listings are paged by an opaque [`Cursor`]: the engine stores the cursor of the next
//! page in the job row after committing a page, so a killed sync resumes where it stopped,
//! whatever the vendor's paging style (page numbers, absolute next URLs, cursors).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where the next page starts. Vendors encode what they need (a page number, an
/// absolute `nextPageUrl`); the engine only stores and returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor(pub String);

/// One page of a listing. `next == None` means the listing is complete.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

/// A client company (Freshservice department, SuperOps client).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PsaCompany {
    pub external_id: String,
    pub name: String,
    pub description: Option<String>,
    /// The configured custom field (e.g. `account_number`); companies without it are
    /// reported but cannot be matched to Codex.
    pub account_number: Option<String>,
    pub domains: Vec<String>,
    pub head_user_id: Option<String>,
    pub prime_user_id: Option<String>,
    pub workspace_id: Option<i64>,
    /// Every custom field as the vendor sent it (plan, contract term, phone system…).
    pub custom_fields: BTreeMap<String, String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// A requester / client user.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PsaContact {
    pub external_id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub secondary_emails: Vec<String>,
    pub active: bool,
    pub is_agent: bool,
    pub vip_user: bool,
    pub has_logged_in: bool,
    pub mobile_phone_number: Option<String>,
    pub work_phone_number: Option<String>,
    pub address: Option<String>,
    pub job_title: Option<String>,
    /// External ids of the companies the contact belongs to.
    pub company_external_ids: Vec<String>,
    pub department_names: Vec<String>,
    pub reporting_manager_id: Option<String>,
    pub location_name: Option<String>,
    pub language: Option<String>,
    pub time_zone: Option<String>,
    pub time_format: Option<String>,
    pub background_information: Option<String>,
    pub user_number: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// A technician of the MSP.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PsaAgent {
    pub external_id: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub active: bool,
    pub job_title: Option<String>,
    pub group_ids: Vec<String>,
    pub department_ids: Vec<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// A ticket as listed, with the status and priority already in Codex's vocabulary
/// (`open`, `pending`, … and `low` … `urgent`); the vendor's own code and text are kept.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PsaTicket {
    pub external_id: String,
    pub ticket_number: Option<String>,
    pub subject: Option<String>,
    pub description_html: Option<String>,
    pub description_text: Option<String>,
    pub status: String,
    pub status_code: Option<i64>,
    pub status_text: Option<String>,
    pub priority: String,
    pub priority_code: Option<i64>,
    pub ticket_type: Option<String>,
    pub source: Option<String>,
    pub category: Option<String>,
    pub requester_external_id: Option<String>,
    pub requester_email: Option<String>,
    pub requester_name: Option<String>,
    pub responder_external_id: Option<String>,
    pub group_external_id: Option<String>,
    pub company_external_id: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub fr_due_by: Option<DateTime<Utc>>,
    pub due_by: Option<DateTime<Utc>>,
    pub first_responded_at: Option<DateTime<Utc>>,
    pub agent_responded_at: Option<DateTime<Utc>>,
}

/// Work logged on a ticket; billed in the month of `executed_at`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PsaTimeEntry {
    pub external_id: String,
    pub agent_external_id: Option<String>,
    pub minutes: i64,
    pub billable: bool,
    pub note: Option<String>,
    pub executed_at: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// A reply (`private == false`) or private note on a ticket.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PsaConversation {
    pub external_id: String,
    pub private: bool,
    pub incoming: bool,
    pub body_html: Option<String>,
    pub body_text: Option<String>,
    pub author_external_id: Option<String>,
    pub from_email: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Everything a ticket carries beyond its list entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TicketDetail {
    pub ticket: PsaTicket,
    pub time_entries: Vec<PsaTimeEntry>,
    pub conversations: Vec<PsaConversation>,
}

/// Which tickets a listing should return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TicketFilter {
    /// Everything updated at or after the instant (incremental sync; `None` = all).
    UpdatedSince(Option<DateTime<Utc>>),
    /// Only tickets in an active status (the 5-minute light sync).
    Active,
    /// Tickets the vendor reports as deleted or spam (lists exclude them otherwise).
    Deleted,
}

/// An RMM site (Datto site, SuperOps client site).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RmmSite {
    pub uid: String,
    pub name: String,
    pub description: Option<String>,
    pub portal_url: Option<String>,
}

/// A managed device.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RmmDevice {
    /// The RMM's stable device id (Datto `uid`): the asset's external key.
    pub uid: String,
    pub site_uid: String,
    pub site_name: Option<String>,
    pub hostname: String,
    pub description: Option<String>,
    /// Datto `deviceType.category` (desktop, laptop, server, esxihost…).
    pub category: Option<String>,
    /// Datto `deviceType.type` (physical, virtual…).
    pub device_type: Option<String>,
    pub operating_system: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub serial_number: Option<String>,
    pub int_ip_address: Option<String>,
    pub ext_ip_address: Option<String>,
    pub domain: Option<String>,
    pub last_logged_in_user: Option<String>,
    pub online: bool,
    pub last_seen: Option<DateTime<Utc>>,
    pub last_reboot: Option<DateTime<Utc>>,
    pub last_audit_date: Option<DateTime<Utc>>,
    pub antivirus_product: Option<String>,
    pub antivirus_status: Option<String>,
    pub patch_status: Option<String>,
    pub portal_url: Option<String>,
    pub web_remote_url: Option<String>,
    pub warranty_date: Option<String>,
    /// Every non-empty user-defined field, `udf1` … `udf300`.
    pub udfs: BTreeMap<String, String>,
}

/// How a vendor call failed, classified for the engine.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Credentials were refused (401, or 403 that is not a throttle): no retry.
    #[error("the {vendor} API refused the credentials: {detail}")]
    Auth {
        vendor: &'static str,
        detail: String,
    },
    /// The vendor kept failing or throttling beyond the retry budget.
    #[error(
        "the {vendor} API kept failing after {attempts} attempts over {elapsed_secs} s: {last}"
    )]
    GaveUp {
        vendor: &'static str,
        attempts: u32,
        elapsed_secs: u64,
        last: String,
    },
    /// A request the vendor rejects for good (400, 404 on a listing, a schema we cannot read).
    #[error("the {vendor} API rejected {what}: {detail}")]
    Rejected {
        vendor: &'static str,
        what: String,
        detail: String,
    },
    /// The sync was cancelled while waiting.
    #[error("cancelled")]
    Cancelled,
}

pub type ProviderResult<T> = Result<T, ProviderError>;

/// Link templates into a PSA's web pages; `{ticket_id}`, `{company_id}` and
/// `{contact_id}` are replaced with the PSA's own ids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PsaLinks {
    pub name: String,
    pub ticket_url_template: String,
    pub company_url_template: String,
    pub contact_url_template: String,
}

/// A professional-services automation tool: companies, contacts, agents, tickets.
#[async_trait]
pub trait PsaProvider: Send + Sync {
    /// `freshservice`, `superops`: the `external_source` of every record it yields.
    fn source(&self) -> &'static str;
    /// The client's request counters (cumulative), for a job's request figures.
    fn request_stats(&self) -> Option<std::sync::Arc<super::http::RequestStats>> {
        None
    }
    /// Where people open the PSA's own pages: `{url}` in the link templates of
    /// `/codex/api/psa/config` (tickets, companies, contacts).
    fn web_links(&self) -> Option<PsaLinks> {
        None
    }
    async fn companies(&self, cursor: Option<Cursor>) -> ProviderResult<Page<PsaCompany>>;
    async fn contacts(&self, cursor: Option<Cursor>) -> ProviderResult<Page<PsaContact>>;
    async fn agents(&self, cursor: Option<Cursor>) -> ProviderResult<Page<PsaAgent>>;
    async fn tickets(
        &self,
        filter: &TicketFilter,
        cursor: Option<Cursor>,
    ) -> ProviderResult<Page<PsaTicket>>;
    /// The ticket with its time entries and conversations; `None` if it no longer exists.
    async fn ticket_detail(&self, external_id: &str) -> ProviderResult<Option<TicketDetail>>;
}

/// A remote monitoring and management tool: sites and devices.
#[async_trait]
pub trait RmmProvider: Send + Sync {
    fn source(&self) -> &'static str;
    /// The client's request counters (cumulative), for a job's request figures.
    fn request_stats(&self) -> Option<std::sync::Arc<super::http::RequestStats>> {
        None
    }
    async fn sites(&self, cursor: Option<Cursor>) -> ProviderResult<Page<RmmSite>>;
    /// The account number stored on the site (Datto: a site variable), if any.
    async fn site_account_number(&self, site_uid: &str) -> ProviderResult<Option<String>>;
    /// Writes the account number onto the site, creating or updating the variable.
    async fn set_site_account_number(&self, site_uid: &str, account: &str) -> ProviderResult<()>;
    async fn site_devices(
        &self,
        site_uid: &str,
        cursor: Option<Cursor>,
    ) -> ProviderResult<Page<RmmDevice>>;
    /// Whether [`RmmProvider::all_devices`] works: one account-wide device listing costs
    /// far fewer requests than a listing per site (Datto: 58 instead of 99 for 1,200
    /// devices in 41 sites).
    fn lists_all_devices(&self) -> bool {
        false
    }
    /// Every device of the account, each with its `site_uid`, one page per call.
    async fn all_devices(&self, _cursor: Option<Cursor>) -> ProviderResult<Page<RmmDevice>> {
        Err(ProviderError::Rejected {
            vendor: "rmm",
            what: "an account-wide device listing".into(),
            detail: "this RMM lists devices per site only".into(),
        })
    }
}
