//! The Freshservice API v2 client: departments, requesters, agents and tickets as the
//! vendor-neutral records of [`crate::sync::provider`], in the fewest requests the
//! API allows (`shared/vendor-apis.md` §1a).
//!
//! Every listing asks for `per_page=100` and follows the `Link: rel="next"` header; the
//! [`Cursor`] is that next URL, re-based onto the configured base URL so a proxy or a
//! tampered cursor can never send the API key to another host. Tickets are listed with
//! `updated_since` (2000-01-01 for a full sync) because without it Freshservice only
//! returns tickets created in the last 30 days, and in `order_type=asc` so tickets
//! created mid-sync land on later pages instead of shifting earlier ones.

use super::budget::RateBudget;
use super::http::{standard_json, ApiClient, Attempt, RetryPolicy};
use super::provider::{
    Cursor, Page, ProviderError, ProviderResult, PsaAgent, PsaCompany, PsaContact, PsaConversation,
    PsaProvider, PsaTicket, PsaTimeEntry, TicketDetail, TicketFilter,
};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const VENDOR: &str = "freshservice";
/// The largest page Freshservice serves.
pub const PAGE_SIZE: usize = 100;
/// `/tickets/filter` pages are fixed at 30 whatever `per_page` says.
pub const FILTER_PAGE_SIZE: usize = 30;
/// `include=conversations` on a show embeds at most this many.
const EMBEDDED_CONVERSATIONS: usize = 10;
/// The floor of a full ticket sync: earlier than any Freshservice account.
const FULL_SYNC_SINCE: &str = "2000-01-01T00:00:00Z";

/// How to reach one Freshservice account (`[psa.freshservice]` in `hivematrix.toml`).
#[derive(Clone)]
pub struct FreshserviceConfig {
    /// `https://acme.freshservice.com` (or a proxy / simulator); `/api/v2` is appended.
    pub url: String,
    pub api_key: String,
    /// The department custom field holding the Codex account number.
    pub account_number_field: String,
    /// The account's "Overall" per-minute budget (Growth plan: 200).
    pub per_minute: u32,
    /// The budget window: a minute in production; tests shorten it with the simulator's.
    pub window: Duration,
    /// The shared secret Workflow Automator webhooks must present (Freshservice does not
    /// sign its calls); `None` turns the webhook off.
    pub webhook_secret: Option<String>,
}

impl FreshserviceConfig {
    pub fn new(url: impl Into<String>, api_key: impl Into<String>) -> FreshserviceConfig {
        FreshserviceConfig {
            url: url.into(),
            api_key: api_key.into(),
            account_number_field: "account_number".into(),
            per_minute: 200,
            window: Duration::from_secs(60),
            webhook_secret: None,
        }
    }
}

impl FreshserviceConfig {
    /// Reads the `[psa.freshservice]` table of `hivematrix.toml` (`Settings::psa` holds
    /// `[psa]`): `url` and `api_key` are required, `account_number_field` and
    /// `per_minute` default as in [`FreshserviceConfig::new`].
    pub fn from_psa_section(psa: &toml::Value) -> Result<FreshserviceConfig, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Section {
            url: String,
            api_key: String,
            account_number_field: Option<String>,
            per_minute: Option<u32>,
            webhook_secret: Option<String>,
        }
        let table = psa
            .get("freshservice")
            .ok_or("hivematrix.toml has no [psa.freshservice] section")?;
        // The key is never echoed: serde's messages name fields, not values.
        let s: Section = table
            .clone()
            .try_into()
            .map_err(|e| format!("[psa.freshservice]: {e}"))?;
        let defaults = FreshserviceConfig::new(s.url, s.api_key);
        Ok(FreshserviceConfig {
            account_number_field: s
                .account_number_field
                .unwrap_or(defaults.account_number_field.clone()),
            per_minute: s.per_minute.unwrap_or(defaults.per_minute).max(1),
            // A blank secret would let a blank header in: it means "not configured".
            webhook_secret: s.webhook_secret.filter(|w| !w.trim().is_empty()),
            ..defaults
        })
    }
}

impl std::fmt::Debug for FreshserviceConfig {
    // The API key and the webhook secret never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FreshserviceConfig")
            .field("url", &self.url)
            .field("api_key", &"<redacted>")
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("account_number_field", &self.account_number_field)
            .field("per_minute", &self.per_minute)
            .field("window", &self.window)
            .finish()
    }
}

#[derive(Clone, Debug)]
pub struct FreshserviceClient {
    config: FreshserviceConfig,
    /// `<url>/api/v2`, without a trailing slash.
    api_base: String,
    api: ApiClient,
}

impl FreshserviceClient {
    /// A client with its own budget of `per_minute` credits per `window`; refuses a
    /// URL that is not absolute http(s) or a blank key.
    pub fn new(config: FreshserviceConfig) -> ProviderResult<FreshserviceClient> {
        let budget = budget_for(&config);
        let api = ApiClient::new(VENDOR, Arc::new(budget), RetryPolicy::default());
        FreshserviceClient::with_api(config, api)
    }

    /// A client over an existing [`ApiClient`] (a budget shared with other jobs on the
    /// same account, which Freshservice counts account-wide, or a test retry policy);
    /// build its budget with [`budget_for`].
    pub fn with_api(
        config: FreshserviceConfig,
        api: ApiClient,
    ) -> ProviderResult<FreshserviceClient> {
        let api_base = format!("{}/api/v2", config.url.trim().trim_end_matches('/'));
        let valid = Url::parse(&api_base)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if !valid {
            return Err(rejected(
                "the configuration",
                &format!("{:?} is not an http(s) URL", config.url),
            ));
        }
        if config.api_key.trim().is_empty() {
            return Err(rejected("the configuration", "the API key is empty"));
        }
        Ok(FreshserviceClient {
            config,
            api_base,
            api,
        })
    }

    /// The HTTP client: request counters, budget and cancellation.
    pub fn api(&self) -> &ApiClient {
        &self.api
    }

    /// Writes the account number onto a department (creating account numbers in Codex
    /// pushes them back to the PSA). Idempotent, so retries are safe.
    pub async fn set_account_number(
        &self,
        department_id: &str,
        account: &str,
    ) -> ProviderResult<()> {
        let id = numeric_id(department_id)?;
        let url = format!("{}/departments/{id}", self.api_base);
        let mut fields = serde_json::Map::new();
        fields.insert(
            self.config.account_number_field.clone(),
            Value::from(account),
        );
        let body = serde_json::json!({ "custom_fields": fields });
        let _: Value = self
            .api
            .json(1, "department update", |h| {
                self.auth(h.put(&url)).json(&body)
            })
            .await?;
        Ok(())
    }

    /// Checks the URL and key with the cheapest authenticated call (one agent, 1 credit);
    /// a refused key is [`ProviderError::Auth`].
    pub async fn check_credentials(&self) -> ProviderResult<()> {
        let url = self.url("/agents", &[("per_page", "1"), ("page", "1")]);
        self.fetch::<Agents>("agents", &url, false).await?;
        Ok(())
    }

    /// The tenant's ticket statuses as (code, name), custom ones included.
    pub async fn status_choices(&self) -> ProviderResult<Vec<(i64, String)>> {
        #[derive(Deserialize)]
        struct Fields {
            ticket_fields: Vec<FormField>,
        }
        #[derive(Deserialize)]
        struct FormField {
            name: String,
            #[serde(default)]
            choices: Vec<Choice>,
        }
        #[derive(Deserialize)]
        struct Choice {
            id: i64,
            value: String,
        }
        let url = format!("{}/ticket_form_fields", self.api_base);
        let f: Fields = self
            .api
            .json(1, "ticket form fields", |h| self.auth(h.get(&url)))
            .await?;
        Ok(f.ticket_fields
            .into_iter()
            .filter(|f| f.name == "status")
            .flat_map(|f| f.choices)
            .map(|c| (c.id, c.value))
            .collect())
    }

    fn auth(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        // Basic with the API key as user name; the password is ignored by the vendor.
        r.basic_auth(&self.config.api_key, Some("X"))
    }

    /// `<api_base><path>?<pairs>` with the values encoded.
    fn url(&self, path: &str, pairs: &[(&str, &str)]) -> String {
        let raw = format!("{}{path}", self.api_base);
        // The base was checked at construction and paths are ours, so this parses.
        let Ok(mut u) = Url::parse(&raw) else {
            return raw;
        };
        if !pairs.is_empty() {
            u.query_pairs_mut().extend_pairs(pairs);
        }
        u.to_string()
    }

    /// A stored cursor must point into this account's API: anything else is refused
    /// rather than sent our credentials.
    fn resume(
        &self,
        cursor: Option<Cursor>,
        first: impl FnOnce() -> String,
    ) -> ProviderResult<String> {
        match cursor {
            None => Ok(first()),
            Some(Cursor(url)) if url.starts_with(&format!("{}/", self.api_base)) => Ok(url),
            Some(Cursor(url)) => Err(ProviderError::Rejected {
                vendor: VENDOR,
                what: "a listing cursor".into(),
                detail: format!("{url:?} is not under the configured Freshservice URL"),
            }),
        }
    }

    /// The `Link: rel="next"` target moved onto our base URL (the vendor writes its own
    /// host, which behind a proxy is not the one we were configured with).
    fn rebase(&self, link: &str) -> Option<String> {
        let at = link.find("/api/v2/")?;
        Some(format!(
            "{}{}",
            self.api_base,
            &link[at + "/api/v2".len()..]
        ))
    }

    /// One GET, spending what Freshservice charges for it; the body and the next page's
    /// URL, or `None` on 404 when `missing_ok`.
    async fn fetch<T: DeserializeOwned>(
        &self,
        what: &str,
        url: &str,
        missing_ok: bool,
    ) -> ProviderResult<Option<(T, Option<String>)>> {
        self.api
            .execute(
                credits(url),
                |h| self.auth(h.get(url)),
                |resp| async move {
                    if missing_ok && resp.status() == StatusCode::NOT_FOUND {
                        return Attempt::Done(None);
                    }
                    let next = resp
                        .headers()
                        .get_all(reqwest::header::LINK)
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .find_map(next_link)
                        .and_then(|l| self.rebase(&l));
                    match standard_json::<T>(VENDOR, what, resp).await {
                        Attempt::Done(v) => Attempt::Done(Some((v, next))),
                        Attempt::Throttled(d) => Attempt::Throttled(d),
                        Attempt::Transient(s) => Attempt::Transient(s),
                        Attempt::Fatal(e) => Attempt::Fatal(e),
                    }
                },
            )
            .await
    }

    async fn page<E, T>(
        &self,
        what: &str,
        cursor: Option<Cursor>,
        path: &str,
        map: impl Fn(E::Row) -> T,
    ) -> ProviderResult<Page<T>>
    where
        E: DeserializeOwned + IntoRows,
    {
        let per_page = PAGE_SIZE.to_string();
        let url = self.resume(cursor, || {
            self.url(path, &[("per_page", &per_page), ("page", "1")])
        })?;
        let (body, next) = self
            .fetch::<E>(what, &url, false)
            .await?
            .ok_or_else(|| rejected(what, "the listing answered 404"))?;
        Ok(Page {
            items: body.into_rows().into_iter().map(map).collect(),
            next: next.map(Cursor),
        })
    }

    /// Every page of a per-ticket listing; `None` if the ticket is gone.
    async fn all_pages<E: DeserializeOwned + IntoRows>(
        &self,
        what: &str,
        first: String,
    ) -> ProviderResult<Option<Vec<E::Row>>> {
        let mut rows = Vec::new();
        let mut url = Some(first);
        while let Some(u) = url {
            let Some((body, next)) = self.fetch::<E>(what, &u, true).await? else {
                return Ok(None);
            };
            rows.extend(body.into_rows());
            url = next;
        }
        Ok(Some(rows))
    }

    fn tickets_url(&self, filter: Option<&str>, since: &str, include_stats: bool) -> String {
        let per_page = PAGE_SIZE.to_string();
        let mut pairs = vec![];
        if let Some(f) = filter {
            pairs.push(("filter", f));
        }
        pairs.extend([
            ("updated_since", since),
            ("order_type", "asc"),
            ("per_page", per_page.as_str()),
        ]);
        if include_stats {
            pairs.push(("include", "stats"));
        }
        pairs.push(("page", "1"));
        self.url("/tickets", &pairs)
    }

    /// Active tickets through `/tickets/filter`, which has no `Link`: the next page
    /// exists while `page × 30 < total`.
    async fn active_tickets(&self, cursor: Option<Cursor>) -> ProviderResult<Page<PsaTicket>> {
        let url = self.resume(cursor, || {
            self.url(
                "/tickets/filter",
                &[("query", &active_query()), ("page", "1")],
            )
        })?;
        let (body, _) = self
            .fetch::<FilterPage>("ticket filter", &url, false)
            .await?
            .ok_or_else(|| rejected("ticket filter", "the listing answered 404"))?;
        let page = page_number(&url);
        // An empty page before the answer's own total is a listing cut short (Freshdesk
        // caps its search at 10 pages; should Freshservice do so too), never "complete":
        // the light sync must not mark unseen tickets on a partial snapshot.
        if body.tickets.is_empty() && (page - 1) * FILTER_PAGE_SIZE < body.total {
            return Err(rejected(
                "ticket filter",
                &format!("page {page} is empty but the total is {}", body.total),
            ));
        }
        let next = (!body.tickets.is_empty() && page * FILTER_PAGE_SIZE < body.total)
            .then(|| with_page(&url, page + 1))
            .flatten();
        Ok(Page {
            items: body.tickets.into_iter().map(FsTicket::into_psa).collect(),
            next: next.map(Cursor),
        })
    }

    /// Deleted tickets, then spam ones: two listings chained by the cursor, each with
    /// `updated_since` so the 30-day default window does not hide old deletions.
    async fn deleted_tickets(&self, cursor: Option<Cursor>) -> ProviderResult<Page<PsaTicket>> {
        let url = self.resume(cursor, || {
            self.tickets_url(Some("deleted"), FULL_SYNC_SINCE, false)
        })?;
        let spam_pass = query_value(&url, "filter").as_deref() == Some("spam");
        let (body, next) = self
            .fetch::<Tickets>("deleted tickets", &url, false)
            .await?
            .ok_or_else(|| rejected("deleted tickets", "the listing answered 404"))?;
        let next = next.or_else(|| {
            (!spam_pass).then(|| self.tickets_url(Some("spam"), FULL_SYNC_SINCE, false))
        });
        // Which pass a ticket came from is what the engine needs to know, so the status
        // says it (status_code keeps the vendor's last real status).
        let (gone, gone_text) = if spam_pass { status(6) } else { status(7) };
        let items = body
            .tickets
            .into_iter()
            .map(|t| PsaTicket {
                status: gone.to_string(),
                status_text: Some(gone_text.to_string()),
                ..t.into_psa()
            })
            .collect();
        Ok(Page {
            items,
            next: next.map(Cursor),
        })
    }
}

#[async_trait]
impl PsaProvider for FreshserviceClient {
    fn request_stats(&self) -> Option<Arc<super::http::RequestStats>> {
        Some(self.api.stats.clone())
    }

    fn web_links(&self) -> Option<super::provider::PsaLinks> {
        let web = self.config.url.trim_end_matches('/');
        Some(super::provider::PsaLinks {
            name: "Freshservice".into(),
            ticket_url_template: format!("{web}/a/tickets/{{ticket_id}}"),
            company_url_template: format!("{web}/a/admin/departments/{{company_id}}"),
            contact_url_template: format!("{web}/a/requesters/{{contact_id}}"),
        })
    }

    fn source(&self) -> &'static str {
        VENDOR
    }

    async fn companies(&self, cursor: Option<Cursor>) -> ProviderResult<Page<PsaCompany>> {
        let field = self.config.account_number_field.as_str();
        self.page::<Departments, _>("departments", cursor, "/departments", |d| d.into_psa(field))
            .await
    }

    async fn contacts(&self, cursor: Option<Cursor>) -> ProviderResult<Page<PsaContact>> {
        self.page::<Requesters, _>("requesters", cursor, "/requesters", FsRequester::into_psa)
            .await
    }

    async fn agents(&self, cursor: Option<Cursor>) -> ProviderResult<Page<PsaAgent>> {
        self.page::<Agents, _>("agents", cursor, "/agents", FsAgent::into_psa)
            .await
    }

    /// `UpdatedSince` lists with `include=stats`: the embed costs +2 credits per page of
    /// 100 (3 instead of 1, i.e. 0.02 credits a ticket) and makes every listed ticket
    /// complete (resolved, closed and first-response times) without a 4-credit detail
    /// call; the engine still fetches details for time entries and conversations.
    async fn tickets(
        &self,
        filter: &TicketFilter,
        cursor: Option<Cursor>,
    ) -> ProviderResult<Page<PsaTicket>> {
        match filter {
            TicketFilter::UpdatedSince(since) => {
                let since = since.map_or_else(|| FULL_SYNC_SINCE.to_string(), vendor_time);
                let url = self.resume(cursor, || self.tickets_url(None, &since, true))?;
                let (body, next) = self
                    .fetch::<Tickets>("tickets", &url, false)
                    .await?
                    .ok_or_else(|| rejected("tickets", "the listing answered 404"))?;
                Ok(Page {
                    items: body.tickets.into_iter().map(FsTicket::into_psa).collect(),
                    next: next.map(Cursor),
                })
            }
            TicketFilter::Active => self.active_tickets(cursor).await,
            TicketFilter::Deleted => self.deleted_tickets(cursor).await,
        }
    }

    /// One show with `include=conversations,stats` (3 credits), every page of
    /// `/time_entries`, and `/conversations` only when the embedded ten may be
    /// truncated.
    async fn ticket_detail(&self, external_id: &str) -> ProviderResult<Option<TicketDetail>> {
        let id = numeric_id(external_id)?;
        let show = self.url(
            &format!("/tickets/{id}"),
            &[("include", "conversations,stats")],
        );
        let Some((ShowTicket { mut ticket }, _)) =
            self.fetch::<ShowTicket>("ticket", &show, true).await?
        else {
            return Ok(None);
        };
        let per_page = PAGE_SIZE.to_string();
        let paging = [("per_page", per_page.as_str()), ("page", "1")];
        let mut conversations = ticket.conversations.take().unwrap_or_default();
        if conversations.len() >= EMBEDDED_CONVERSATIONS {
            let first = self.url(&format!("/tickets/{id}/conversations"), &paging);
            match self
                .all_pages::<Conversations>("conversations", first)
                .await?
            {
                Some(all) => conversations = all,
                None => return Ok(None),
            }
        }
        let first = self.url(&format!("/tickets/{id}/time_entries"), &paging);
        let Some(entries) = self.all_pages::<TimeEntries>("time entries", first).await? else {
            return Ok(None);
        };
        Ok(Some(TicketDetail {
            ticket: ticket.into_psa(),
            time_entries: entries.into_iter().map(FsTimeEntry::into_psa).collect(),
            conversations: conversations
                .into_iter()
                .map(FsConversation::into_psa)
                .collect(),
        }))
    }
}

/// The client-side budget for an account.
///
/// Freshservice counts a fixed minute from a request's *arrival*; we log a request
/// when we *send* it. A request sent one window after an older one can still arrive
/// inside the server's old window when it travels faster than the older one did, and
/// then two windows' worth land in one (measured: 429s under 15 ms of jitter). Keeping
/// our window longer than the vendor's by more than the latency jitter rules that out
/// for any alignment of the server's windows; the cost is the slack's share of the
/// rate (2 % of a minute is 1.2 s, far above real jitter).
pub fn budget_for(config: &FreshserviceConfig) -> RateBudget {
    let slack = (config.window / 50).max(Duration::from_millis(25));
    RateBudget::new(config.per_minute, config.window + slack)
}

fn rejected(what: &str, detail: &str) -> ProviderError {
    ProviderError::Rejected {
        vendor: VENDOR,
        what: what.into(),
        detail: detail.into(),
    }
}

/// Ids go into URL paths: only digits are let through.
fn numeric_id(id: &str) -> ProviderResult<u64> {
    id.parse::<u64>()
        .map_err(|_| rejected("an id", &format!("{id:?} is not a Freshservice id")))
}

/// What Freshservice charges for a GET of `url`: 1 credit, plus 1 per embed on a
/// single ticket or 2 per embed on a list.
pub fn credits(url: &str) -> u32 {
    let Ok(u) = Url::parse(url) else { return 1 };
    let includes = u
        .query_pairs()
        .filter(|(k, _)| k == "include")
        .map(|(_, v)| v.split(',').filter(|s| !s.trim().is_empty()).count() as u32)
        .sum::<u32>();
    let segments: Vec<&str> = u.path().split('/').filter(|s| !s.is_empty()).collect();
    let is_show = matches!(segments.as_slice(), [.., "tickets", id] if id.bytes().all(|b| b.is_ascii_digit()));
    1 + includes * if is_show { 1 } else { 2 }
}

/// The `rel="next"` target of one `Link` header value, if any.
pub fn next_link(header: &str) -> Option<String> {
    let mut rest = header;
    while let Some(open) = rest.find('<') {
        let close = open + rest[open..].find('>')?;
        let target = &rest[open + 1..close];
        let params_end = rest[close..].find('<').map_or(rest.len(), |i| close + i);
        let params = &rest[close + 1..params_end];
        let is_next = params.split(';').any(|p| {
            let p = p.trim().trim_start_matches(',').trim();
            p.strip_prefix("rel=")
                .map(|v| v.trim_matches('"').split_whitespace().any(|r| r == "next"))
                .unwrap_or(false)
        });
        if is_next {
            return Some(target.to_string());
        }
        rest = &rest[params_end..];
    }
    None
}

fn query_value(url: &str, name: &str) -> Option<String> {
    Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn page_number(url: &str) -> usize {
    query_value(url, "page")
        .and_then(|p| p.parse().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1)
}

/// `url` with `page` set to `page`, every other parameter kept.
fn with_page(url: &str, page: usize) -> Option<String> {
    let mut u = Url::parse(url).ok()?;
    let kept: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| k != "page")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    u.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("page", &page.to_string());
    Some(u.to_string())
}

/// The `/tickets/filter` query for every active status, wrapped in double quotes as
/// the endpoint requires.
pub fn active_query() -> String {
    let terms: Vec<String> = ACTIVE_STATUS_CODES
        .iter()
        .map(|c| format!("status:{c}"))
        .collect();
    format!("\"({})\"", terms.join(" OR "))
}

/// Timestamps as Freshservice takes them; sub-seconds are cut, which can only widen
/// an `updated_since` window (the overlap an incremental sync wants).
fn vendor_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

// ---------------------------------------------------------------- normalisation

/// Freshservice status codes of the tenant (peer §3.1.7): (code, Codex status, display
/// text, active). 2–5 are the vendor's; the rest are the original tenant's custom ones.
pub const STATUSES: &[(i64, &str, &str, bool)] = &[
    (2, "open", "Open", true),
    (3, "pending", "Pending", true),
    (4, "resolved", "Resolved", false),
    (5, "closed", "Closed", false),
    (6, "spam", "Spam", false),
    (7, "deleted", "Deleted", false),
    (8, "scheduled", "Scheduled", true),
    (9, "waiting_customer", "Waiting on Customer", true),
    (10, "waiting_third_party", "Waiting on Third Party", true),
    (13, "under_investigation", "Under Investigation", true),
    (15, "job_complete_bill", "Job Complete - Bill", false),
    (16, "billing_complete", "Billing Complete - Close", false),
    (19, "update_needed", "Update Needed", true),
    (23, "on_hold", "On Hold", true),
    (26, "customer_replied", "Customer Replied", true),
    (27, "pending_hubspot", "Pending Hubspot", true),
];

/// The statuses the light sync lists (the "Active filter?" column of §3.1.7).
pub const ACTIVE_STATUS_CODES: &[i64] = &[2, 3, 8, 9, 10, 13, 19, 23, 26, 27];

/// A status code in Codex's vocabulary and its display text; `unknown` otherwise.
pub fn status(code: i64) -> (&'static str, &'static str) {
    STATUSES
        .iter()
        .find(|s| s.0 == code)
        .map_or(("unknown", "Unknown"), |s| (s.1, s.2))
}

/// Priority 1..4 as Codex names it.
pub fn priority(code: i64) -> &'static str {
    match code {
        1 => "low",
        2 => "medium",
        3 => "high",
        4 => "urgent",
        _ => "unknown",
    }
}

/// A ticket's `source` code by name (the vendor's "Ticket Properties" table).
pub fn source(code: i64) -> String {
    let name = match code {
        1 => "email",
        2 => "portal",
        3 => "phone",
        4 => "chat",
        5 => "feedback_widget",
        6 => "yammer",
        7 => "aws_cloudwatch",
        8 => "pagerduty",
        9 => "walkup",
        10 => "slack",
        11 => "chatbot",
        12 => "workplace",
        13 => "employee_onboarding",
        14 => "alerts",
        15 => "ms_teams",
        18 => "employee_offboarding",
        other => return other.to_string(),
    };
    name.to_string()
}

/// `time_spent` (`hh:mm`, or `hh:mm:ss` rounded to the nearest minute) in minutes.
pub fn time_spent_minutes(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.trim().split(':').collect();
    let num = |p: &str| {
        (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse::<i64>().ok())
            .flatten()
    };
    match parts.as_slice() {
        [h, m] => {
            let m = num(m).filter(|m| *m < 60)?;
            Some(num(h)? * 60 + m)
        }
        [h, m, sec] => {
            let m = num(m).filter(|m| *m < 60)?;
            let sec = num(sec).filter(|s| *s < 60)?;
            Some(num(h)? * 60 + m + i64::from(sec >= 30))
        }
        _ => None,
    }
}

/// Plain text of an HTML body: scripts and styles dropped, tags removed (block ends
/// and `<br>` become line breaks), entities decoded, blank runs collapsed.
pub fn html_to_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        let Some(len) = rest[open..].find('>') else {
            // A lone '<' is text, not a tag.
            text.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let tag = rest[open + 1..open + len].trim().to_ascii_lowercase();
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        rest = &rest[open + len + 1..];
        if (name == "script" || name == "style") && !tag.starts_with('/') {
            let close = format!("</{name}");
            let end = rest.to_ascii_lowercase().find(&close).unwrap_or(rest.len());
            rest = &rest[end..];
            continue;
        }
        let block = matches!(
            name.as_str(),
            "br" | "p"
                | "div"
                | "li"
                | "tr"
                | "h1"
                | "h2"
                | "h3"
                | "h4"
                | "h5"
                | "h6"
                | "blockquote"
        );
        if block {
            text.push('\n');
        }
    }
    text.push_str(rest);
    let decoded = decode_entities(&text);
    decoded
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let entity = rest[1..]
            .find(';')
            .filter(|end| *end <= 10)
            .map(|end| &rest[1..=end]);
        let decoded = entity.and_then(|e| match e {
            "nbsp" => Some(' '),
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => e
                .strip_prefix("#x")
                .or_else(|| e.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| e.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        });
        match (entity, decoded) {
            (Some(e), Some(c)) => {
                out.push(c);
                rest = &rest[e.len() + 2..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A vendor timestamp: RFC 3339 with `Z`, an offset or milliseconds; a bare date is
/// midnight UTC. Anything else is `None`.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

// ---------------------------------------------------------------- wire types

fn time_field<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    Ok(Option::<String>::deserialize(d)?
        .as_deref()
        .and_then(parse_time))
}

/// Ids arrive as numbers; Codex keys them as strings.
fn id_text(v: Option<i64>) -> Option<String> {
    v.map(|v| v.to_string())
}

/// Empty strings are absent values.
fn text(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

/// A custom field's value as text (numbers and booleans too); null is absent.
fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => text(Some(s.clone())),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        other => Some(other.to_string()),
    }
}

/// A listing envelope (`{"departments": […]}`) and its rows.
trait IntoRows {
    type Row;
    fn into_rows(self) -> Vec<Self::Row>;
}

macro_rules! envelope {
    ($name:ident, $field:ident, $row:ty) => {
        #[derive(Deserialize)]
        struct $name {
            $field: Vec<$row>,
        }
        impl IntoRows for $name {
            type Row = $row;
            fn into_rows(self) -> Vec<$row> {
                self.$field
            }
        }
    };
}

envelope!(Departments, departments, FsDepartment);
envelope!(Requesters, requesters, FsRequester);
envelope!(Agents, agents, FsAgent);
envelope!(Tickets, tickets, FsTicket);
envelope!(Conversations, conversations, FsConversation);
envelope!(TimeEntries, time_entries, FsTimeEntry);

#[derive(Deserialize)]
struct FilterPage {
    tickets: Vec<FsTicket>,
    total: usize,
}

#[derive(Deserialize)]
struct ShowTicket {
    ticket: FsTicket,
}

#[derive(Deserialize)]
struct FsDepartment {
    id: i64,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    workspace_id: Option<i64>,
    #[serde(default)]
    head_user_id: Option<i64>,
    #[serde(default)]
    prime_user_id: Option<i64>,
    #[serde(default)]
    domains: Option<Vec<String>>,
    #[serde(default)]
    custom_fields: Option<serde_json::Map<String, Value>>,
    #[serde(default, deserialize_with = "time_field")]
    created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "time_field")]
    updated_at: Option<DateTime<Utc>>,
}

impl FsDepartment {
    fn into_psa(self, account_field: &str) -> PsaCompany {
        let custom_fields: BTreeMap<String, String> = self
            .custom_fields
            .unwrap_or_default()
            .iter()
            .filter_map(|(k, v)| value_text(v).map(|v| (k.clone(), v)))
            .collect();
        PsaCompany {
            external_id: self.id.to_string(),
            name: self.name,
            description: text(self.description),
            account_number: custom_fields.get(account_field).cloned(),
            domains: self.domains.unwrap_or_default(),
            head_user_id: id_text(self.head_user_id),
            prime_user_id: id_text(self.prime_user_id),
            workspace_id: self.workspace_id,
            custom_fields,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

#[derive(Deserialize)]
struct FsRequester {
    id: i64,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    primary_email: Option<String>,
    #[serde(default)]
    secondary_emails: Option<Vec<String>>,
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    is_agent: Option<bool>,
    #[serde(default)]
    vip_user: Option<bool>,
    #[serde(default)]
    has_logged_in: Option<bool>,
    #[serde(default)]
    mobile_phone_number: Option<String>,
    #[serde(default)]
    work_phone_number: Option<String>,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    job_title: Option<String>,
    #[serde(default)]
    department_ids: Option<Vec<i64>>,
    #[serde(default)]
    department_names: Option<Vec<String>>,
    #[serde(default)]
    reporting_manager_id: Option<i64>,
    #[serde(default)]
    location_name: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default)]
    time_format: Option<String>,
    #[serde(default)]
    background_information: Option<String>,
    #[serde(default)]
    custom_fields: Option<serde_json::Map<String, Value>>,
    #[serde(default, deserialize_with = "time_field")]
    created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "time_field")]
    updated_at: Option<DateTime<Utc>>,
}

impl FsRequester {
    fn into_psa(self) -> PsaContact {
        let user_number = self
            .custom_fields
            .as_ref()
            .and_then(|c| c.get("user_number"))
            .and_then(value_text);
        PsaContact {
            external_id: self.id.to_string(),
            first_name: text(self.first_name),
            last_name: text(self.last_name),
            email: text(self.primary_email),
            secondary_emails: self.secondary_emails.unwrap_or_default(),
            // Freshservice omits `active` only for active requesters.
            active: self.active.unwrap_or(true),
            is_agent: self.is_agent.unwrap_or(false),
            vip_user: self.vip_user.unwrap_or(false),
            has_logged_in: self.has_logged_in.unwrap_or(false),
            mobile_phone_number: text(self.mobile_phone_number),
            work_phone_number: text(self.work_phone_number),
            address: text(self.address),
            job_title: text(self.job_title),
            company_external_ids: self
                .department_ids
                .unwrap_or_default()
                .iter()
                .map(i64::to_string)
                .collect(),
            department_names: self.department_names.unwrap_or_default(),
            reporting_manager_id: id_text(self.reporting_manager_id),
            location_name: text(self.location_name),
            language: text(self.language),
            time_zone: text(self.time_zone),
            time_format: text(self.time_format),
            background_information: text(self.background_information),
            user_number,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

#[derive(Deserialize)]
struct FsAgent {
    id: i64,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    job_title: Option<String>,
    /// Group membership since 2023 (`group_ids` was removed).
    #[serde(default)]
    member_of: Option<Vec<i64>>,
    #[serde(default)]
    department_ids: Option<Vec<i64>>,
    #[serde(default, deserialize_with = "time_field")]
    created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "time_field")]
    updated_at: Option<DateTime<Utc>>,
}

impl FsAgent {
    fn into_psa(self) -> PsaAgent {
        let ids = |v: Option<Vec<i64>>| v.unwrap_or_default().iter().map(i64::to_string).collect();
        PsaAgent {
            external_id: self.id.to_string(),
            email: text(self.email),
            first_name: text(self.first_name),
            last_name: text(self.last_name),
            active: self.active.unwrap_or(true),
            job_title: text(self.job_title),
            group_ids: ids(self.member_of),
            department_ids: ids(self.department_ids),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

#[derive(Deserialize, Default)]
struct FsStats {
    #[serde(default, deserialize_with = "time_field")]
    first_responded_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "time_field")]
    agent_responded_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "time_field")]
    resolved_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "time_field")]
    closed_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct FsRequesterEmbed {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

#[derive(Deserialize)]
struct FsTicket {
    id: i64,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    description_text: Option<String>,
    status: i64,
    #[serde(default)]
    priority: Option<i64>,
    #[serde(default, rename = "type")]
    ticket_type: Option<String>,
    #[serde(default)]
    source: Option<i64>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    requester_id: Option<i64>,
    #[serde(default)]
    responder_id: Option<i64>,
    #[serde(default)]
    group_id: Option<i64>,
    #[serde(default)]
    department_id: Option<i64>,
    #[serde(default, deserialize_with = "time_field")]
    created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "time_field")]
    updated_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "time_field")]
    fr_due_by: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "time_field")]
    due_by: Option<DateTime<Utc>>,
    #[serde(default)]
    stats: Option<FsStats>,
    #[serde(default)]
    requester: Option<FsRequesterEmbed>,
    #[serde(default)]
    conversations: Option<Vec<FsConversation>>,
}

impl FsTicket {
    fn into_psa(self) -> PsaTicket {
        let (status_name, status_text) = status(self.status);
        let stats = self.stats.unwrap_or_default();
        let description_text = text(self.description_text).or_else(|| {
            self.description
                .as_deref()
                .map(html_to_text)
                .filter(|t| !t.is_empty())
        });
        PsaTicket {
            external_id: self.id.to_string(),
            ticket_number: Some(self.id.to_string()),
            subject: self.subject,
            description_html: text(self.description),
            description_text,
            status: status_name.to_string(),
            status_code: Some(self.status),
            status_text: Some(status_text.to_string()),
            priority: priority(self.priority.unwrap_or(0)).to_string(),
            priority_code: self.priority,
            ticket_type: text(self.ticket_type),
            source: self.source.map(source),
            category: text(self.category),
            requester_external_id: id_text(self.requester_id),
            requester_email: self.requester.as_ref().and_then(|r| text(r.email.clone())),
            requester_name: self.requester.and_then(|r| text(r.name)),
            responder_external_id: id_text(self.responder_id),
            group_external_id: id_text(self.group_id),
            company_external_id: id_text(self.department_id),
            created_at: self.created_at,
            updated_at: self.updated_at,
            closed_at: stats.closed_at,
            resolved_at: stats.resolved_at,
            fr_due_by: self.fr_due_by,
            due_by: self.due_by,
            first_responded_at: stats.first_responded_at,
            agent_responded_at: stats.agent_responded_at,
        }
    }
}

#[derive(Deserialize)]
struct FsConversation {
    id: i64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    body_text: Option<String>,
    #[serde(default)]
    incoming: Option<bool>,
    #[serde(default)]
    private: Option<bool>,
    #[serde(default)]
    user_id: Option<i64>,
    #[serde(default)]
    from_email: Option<String>,
    #[serde(default, deserialize_with = "time_field")]
    created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "time_field")]
    updated_at: Option<DateTime<Utc>>,
}

impl FsConversation {
    fn into_psa(self) -> PsaConversation {
        let body_text = text(self.body_text).or_else(|| {
            self.body
                .as_deref()
                .map(html_to_text)
                .filter(|t| !t.is_empty())
        });
        PsaConversation {
            external_id: self.id.to_string(),
            private: self.private.unwrap_or(false),
            incoming: self.incoming.unwrap_or(false),
            body_html: text(self.body),
            body_text,
            author_external_id: id_text(self.user_id),
            from_email: text(self.from_email),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

#[derive(Deserialize)]
struct FsTimeEntry {
    id: i64,
    #[serde(default)]
    agent_id: Option<i64>,
    #[serde(default)]
    time_spent: Option<String>,
    #[serde(default)]
    billable: Option<bool>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default, deserialize_with = "time_field")]
    executed_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "time_field")]
    created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "time_field")]
    updated_at: Option<DateTime<Utc>>,
}

impl FsTimeEntry {
    fn into_psa(self) -> PsaTimeEntry {
        let spent = self.time_spent.as_deref().unwrap_or("00:00");
        let minutes = time_spent_minutes(spent).unwrap_or_else(|| {
            // Billing must notice, but one odd entry must not stop the whole sync.
            tracing::warn!(
                entry = self.id,
                time_spent = spent,
                "unreadable time_spent counted as 0"
            );
            0
        });
        PsaTimeEntry {
            external_id: self.id.to_string(),
            agent_external_id: id_text(self.agent_id),
            minutes,
            // The vendor's default is billable.
            billable: self.billable.unwrap_or(true),
            note: text(self.note),
            executed_at: self.executed_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn status_table_maps_codes_to_codex_vocabulary() {
        assert_eq!(status(2), ("open", "Open"));
        assert_eq!(status(5), ("closed", "Closed"));
        assert_eq!(status(9), ("waiting_customer", "Waiting on Customer"));
        assert_eq!(status(16), ("billing_complete", "Billing Complete - Close"));
        assert_eq!(status(27), ("pending_hubspot", "Pending Hubspot"));
        assert_eq!(status(42), ("unknown", "Unknown"));
        let active: Vec<i64> = STATUSES.iter().filter(|s| s.3).map(|s| s.0).collect();
        assert_eq!(active, ACTIVE_STATUS_CODES);
        assert_eq!(
            active_query(),
            "\"(status:2 OR status:3 OR status:8 OR status:9 OR status:10 OR status:13 \
             OR status:19 OR status:23 OR status:26 OR status:27)\""
        );
    }

    #[test]
    fn priorities_and_sources_are_named() {
        let names: Vec<&str> = (0..=5).map(priority).collect();
        assert_eq!(
            names,
            ["unknown", "low", "medium", "high", "urgent", "unknown"]
        );
        assert_eq!(source(2), "portal");
        assert_eq!(source(15), "ms_teams");
        assert_eq!(source(99), "99");
    }

    #[test]
    fn time_spent_reads_hours_and_minutes() {
        assert_eq!(time_spent_minutes("00:05"), Some(5));
        assert_eq!(time_spent_minutes("02:30"), Some(150));
        assert_eq!(time_spent_minutes("125:00"), Some(7500));
        assert_eq!(time_spent_minutes("01:02:29"), Some(62));
        assert_eq!(time_spent_minutes("01:02:30"), Some(63));
        for bad in ["", "1", "1:60", "aa:10", "-1:00", "01:02:03:04", "1.5"] {
            assert_eq!(time_spent_minutes(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn html_becomes_readable_text() {
        assert_eq!(
            html_to_text("<p>Reported by requester.<br/>Ticket 1.</p>"),
            "Reported by requester.\nTicket 1."
        );
        assert_eq!(
            html_to_text("<div>Could you restart &amp; try&nbsp;again?</div>"),
            "Could you restart & try again?"
        );
        assert_eq!(
            html_to_text("a &lt;b&gt; &quot;c&quot; &#39;d&#39; &#x41; &bogus; & e"),
            "a <b> \"c\" 'd' A &bogus; & e"
        );
        assert_eq!(
            html_to_text("<style>p{x:1}</style><script>alert(1)</script><b>x</b>  <i>y</i>"),
            "x y"
        );
        assert_eq!(html_to_text("1 < 2"), "1 < 2");
    }

    #[test]
    fn timestamps_parse_in_every_documented_form() {
        let t = Utc.with_ymd_and_hms(2017, 9, 8, 22, 34, 28).unwrap();
        assert_eq!(parse_time("2017-09-08T22:34:28Z"), Some(t));
        assert_eq!(parse_time("2017-09-09T04:04:28+05:30"), Some(t));
        assert_eq!(
            parse_time("2019-04-04T04:45:15.983Z"),
            Some(
                Utc.with_ymd_and_hms(2019, 4, 4, 4, 45, 15).unwrap()
                    + chrono::Duration::milliseconds(983)
            )
        );
        assert_eq!(parse_time("2017-09-08T22:34:28"), Some(t));
        assert_eq!(
            parse_time("2017-09-08"),
            Some(Utc.with_ymd_and_hms(2017, 9, 8, 0, 0, 0).unwrap())
        );
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn link_headers_and_credits() {
        assert_eq!(
            next_link(r#"<https://a.freshservice.com/api/v2/tickets?page=2>; rel="next""#)
                .as_deref(),
            Some("https://a.freshservice.com/api/v2/tickets?page=2")
        );
        assert_eq!(
            next_link(r#"<https://x/api/v2/t?page=1>; rel="prev", <https://x/api/v2/t?a=1,2&page=3>;rel=next"#)
                .as_deref(),
            Some("https://x/api/v2/t?a=1,2&page=3")
        );
        assert_eq!(next_link(r#"<https://x/p?page=1>; rel="prev""#), None);
        assert_eq!(credits("http://h/api/v2/departments?per_page=100"), 1);
        assert_eq!(
            credits("http://h/api/v2/tickets?include=stats&per_page=100"),
            3
        );
        assert_eq!(
            credits("http://h/api/v2/tickets/7?include=conversations%2Cstats"),
            3
        );
        assert_eq!(
            credits("http://h/api/v2/tickets/7/time_entries?per_page=100"),
            1
        );
    }

    #[test]
    fn cursors_outside_the_account_are_refused() {
        let c = FreshserviceClient::new(FreshserviceConfig::new(
            "https://acme.freshservice.com/",
            "k",
        ))
        .unwrap();
        for (url, key) in [
            ("acme.freshservice.com", "k"),
            ("ftp://x", "k"),
            ("https://x", " "),
        ] {
            let err = FreshserviceClient::new(FreshserviceConfig::new(url, key)).unwrap_err();
            assert!(matches!(err, ProviderError::Rejected { .. }), "{url}");
        }
        assert_eq!(
            c.rebase("https://other.example/api/v2/tickets?page=2")
                .as_deref(),
            Some("https://acme.freshservice.com/api/v2/tickets?page=2")
        );
        let ok = c.resume(
            Some(Cursor(
                "https://acme.freshservice.com/api/v2/agents?page=2".into(),
            )),
            String::new,
        );
        assert!(ok.is_ok());
        let bad = c.resume(
            Some(Cursor("https://evil.example/api/v2/agents?page=2".into())),
            String::new,
        );
        assert!(matches!(bad, Err(ProviderError::Rejected { .. })));
        assert!(
            !format!("{:?}", c.config).contains("\"k\""),
            "the key is redacted"
        );
    }

    #[test]
    fn configuration_reads_the_psa_section_with_defaults() {
        let psa: toml::Value = toml::from_str(
            "[freshservice]\nurl = \"https://acme.freshservice.com\"\napi_key = \"k\"\n",
        )
        .unwrap();
        let c = FreshserviceConfig::from_psa_section(&psa).unwrap();
        assert_eq!(c.url, "https://acme.freshservice.com");
        assert_eq!(
            (c.account_number_field.as_str(), c.per_minute),
            ("account_number", 200)
        );
        assert_eq!(c.webhook_secret, None);
        let psa: toml::Value = toml::from_str(
            "[freshservice]\nurl = \"u\"\napi_key = \"k\"\naccount_number_field = \"acct\"\nper_minute = 400\nwebhook_secret = \"hook-s3cret\"\n",
        )
        .unwrap();
        let c = FreshserviceConfig::from_psa_section(&psa).unwrap();
        assert_eq!(
            (c.account_number_field.as_str(), c.per_minute),
            ("acct", 400)
        );
        assert_eq!(c.webhook_secret.as_deref(), Some("hook-s3cret"));
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hook-s3cret")
                && shown.contains("webhook_secret: Some(\"<redacted>\")"),
            "{shown}"
        );
        let blank: toml::Value = toml::from_str(
            "[freshservice]\nurl = \"u\"\napi_key = \"k\"\nwebhook_secret = \"  \"\n",
        )
        .unwrap();
        assert_eq!(
            FreshserviceConfig::from_psa_section(&blank)
                .unwrap()
                .webhook_secret,
            None
        );
        for bad in [
            "[superops]\nurl = \"u\"",
            "[freshservice]\nurl = \"u\"",
            "[freshservice]\nurl = \"u\"\napi_key = \"secret-key\"\napi_keys = 1",
        ] {
            let err =
                FreshserviceConfig::from_psa_section(&toml::from_str(bad).unwrap()).unwrap_err();
            assert!(!err.contains("secret-key"), "{err}");
        }
    }

    #[test]
    fn a_ticket_without_description_text_gets_one_from_its_html() {
        let t: FsTicket = serde_json::from_value(serde_json::json!({
            "id": 12, "status": 26, "priority": 4, "source": 3,
            "description": "<p>Printer &amp; scanner<br>down</p>",
            "description_text": null, "department_id": 19000100001i64,
            "created_at": "2026-01-02T03:04:05Z", "due_by": "2026-01-02T08:34:05+05:30",
            "stats": {"closed_at": null, "resolved_at": "2026-01-03T00:00:00Z"}
        }))
        .unwrap();
        let p = t.into_psa();
        assert_eq!(
            p.description_text.as_deref(),
            Some("Printer & scanner\ndown")
        );
        assert_eq!(
            (p.status.as_str(), p.status_text.as_deref()),
            ("customer_replied", Some("Customer Replied"))
        );
        assert_eq!(p.priority, "urgent");
        assert_eq!(p.source.as_deref(), Some("phone"));
        assert_eq!(p.company_external_id.as_deref(), Some("19000100001"));
        assert_eq!(
            p.due_by,
            Some(Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap())
        );
        assert!(p.resolved_at.is_some() && p.closed_at.is_none());
    }
}
