//! The SuperOps clients: [`SuperOpsPsa`] (clients, requesters, technicians, tickets) and
//! [`SuperOpsRmm`] (client sites, assets, the account-number custom field), both over
//! one GraphQL helper ([`Gql`]) on [`ApiClient`].
//!
//! SuperOps specifics (`vendor-apis.md` §1c):
//! - one endpoint, `POST <url>` (`https://api.superops.ai/msp`, EU `euapi`), with
//!   `Authorization: Bearer <token>` and `CustomerSubDomain`; a refused token is HTTP
//!   401 and a wrong subdomain HTTP 400, both final;
//! - business errors come as HTTP 200 with `errors[].extensions.clientError[]`; a rate
//!   breach (800 a minute) is one of them (`rate_limit_exceeded`), so a 200 can be a
//!   throttle: it waits `extensions.retryAfter` / `Retry-After` (or backs off) and
//!   pauses the budget, like a 429;
//! - queries are retried on throttles, 5xx, resets and garbled bodies; mutations never
//!   are (their outcome is unknown after a failure);
//! - `listInfo` paging (1-based `page`, `pageSize` 100, `hasMore` is `null` on the last
//!   page): the cursor is the next page number; listings sort by a field that never
//!   changes (`createdTime`, ids), so records updated while we page do not shift pages;
//! - times are UTC without a zone designator;
//! - statuses and priorities are tenant-defined names, mapped by meaning in
//!   `codex::tickets::codes`;
//! - a ticket's detail (the ticket, its conversations with the description first, its
//!   notes and its worklog entries) is one request with four root fields;
//! - SuperOps has no listing of deleted tickets: the deleted pass lists nothing (a
//!   ticket that vanished is marked by the light sync's detail check, which finds it
//!   gone).
//!
//! The RMM side: sites are `getClientSiteList` (each belongs to a client), the account
//! number is the client's custom field (read from one client listing, not per site),
//! devices are one account-wide `getAssetList` (or filtered by `site.id`), and pushing an account number is
//! `updateClient` with that custom field.

use super::budget::RateBudget;
use super::http::{retry_after, ApiClient, Attempt, RetryPolicy};
use super::provider::{
    Cursor, Page, ProviderError, ProviderResult, PsaAgent, PsaCompany, PsaContact, PsaConversation,
    PsaLinks, PsaProvider, PsaTicket, PsaTimeEntry, RmmDevice, RmmProvider, RmmSite, TicketDetail,
    TicketFilter,
};
use crate::codex::tickets as codes;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use reqwest::{Response, StatusCode, Url};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

pub const VENDOR: &str = "superops";
/// SuperOps' page-size ceiling; every listing asks for full pages.
pub const PAGE_SIZE: u32 = 100;
/// How long the RMM client trusts its client → account-number map by default: long
/// enough that a sync's site pass reads every client once, short enough that a later
/// job (a push of account numbers) reads them anew.
pub const ACCOUNT_CACHE: Duration = Duration::from_secs(10);

/// `[psa.superops]` / `[rmm.superops]` in `hivematrix.toml`.
#[derive(Clone)]
pub struct SuperOpsConfig {
    /// The GraphQL endpoint, `https://api.superops.ai/msp` (EU: `euapi.superops.ai`).
    pub url: String,
    pub api_token: String,
    /// The MSP's subdomain, sent as `CustomerSubDomain`.
    pub subdomain: String,
    /// The client custom-field column holding the Codex account number (`udf1text`…).
    pub account_number_field: String,
    /// Client custom-field columns → the names Codex knows them by (`udf2select =
    /// "plan_selected"`; as text `udf2select=plan_selected, …` over the settings API);
    /// unmapped columns are kept under their column name.
    pub custom_fields: BTreeMap<String, String>,
    /// Status names that are not active (the light sync lists the others).
    pub closed_statuses: Vec<String>,
    /// Where people open SuperOps' own pages (`https://<subdomain>.superops.ai`).
    pub web_url: Option<String>,
    /// The account's budget per minute (SuperOps: 800).
    pub per_minute: u32,
    /// The budget window: a minute in production; tests shorten it with the simulator's.
    pub window: Duration,
    /// How long the RMM client reuses the client account numbers it read
    /// ([`ACCOUNT_CACHE`]); not a file setting.
    pub account_cache: Duration,
}

impl SuperOpsConfig {
    pub fn new(
        url: impl Into<String>,
        api_token: impl Into<String>,
        subdomain: impl Into<String>,
    ) -> SuperOpsConfig {
        SuperOpsConfig {
            url: url.into(),
            api_token: api_token.into(),
            subdomain: subdomain.into(),
            account_number_field: "udf1text".into(),
            custom_fields: BTreeMap::new(),
            closed_statuses: vec!["Resolved".into(), "Closed".into()],
            web_url: None,
            per_minute: 800,
            window: Duration::from_secs(60),
            account_cache: ACCOUNT_CACHE,
        }
    }

    /// Reads one `[psa.superops]` / `[rmm.superops]` table: `url`, `api_token` and
    /// `subdomain` are required; the rest default as in [`SuperOpsConfig::new`].
    pub fn from_table(table: &toml::Value, section: &str) -> Result<SuperOpsConfig, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Section {
            url: Option<String>,
            api_token: String,
            subdomain: String,
            account_number_field: Option<String>,
            custom_fields: Option<TableOrText>,
            closed_statuses: Option<ListOrText>,
            web_url: Option<String>,
            per_minute: Option<u32>,
        }
        // serde's messages name fields, never values, so the token cannot leak here.
        let s: Section = table
            .clone()
            .try_into()
            .map_err(|e| format!("[{section}]: {e}"))?;
        let d = SuperOpsConfig::new(
            s.url
                .unwrap_or_else(|| "https://api.superops.ai/msp".into()),
            s.api_token,
            s.subdomain,
        );
        Ok(SuperOpsConfig {
            account_number_field: s
                .account_number_field
                .filter(|f| !f.trim().is_empty())
                .unwrap_or(d.account_number_field.clone()),
            custom_fields: match s.custom_fields {
                None => BTreeMap::new(),
                Some(TableOrText::Table(t)) => t,
                Some(TableOrText::Text(t)) => {
                    parse_pairs(&t).map_err(|e| format!("[{section}] custom_fields: {e}"))?
                }
            },
            closed_statuses: match s.closed_statuses {
                None => d.closed_statuses.clone(),
                Some(ListOrText::List(l)) => l,
                Some(ListOrText::Text(t)) => t
                    .split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect(),
            },
            web_url: s.web_url.filter(|w| !w.trim().is_empty()),
            per_minute: s.per_minute.unwrap_or(d.per_minute).max(1),
            ..d
        })
    }

    /// Whether two configurations name the same SuperOps account (and so share its
    /// 800-a-minute budget).
    pub fn same_account(&self, other: &SuperOpsConfig) -> bool {
        self.url.trim_end_matches('/') == other.url.trim_end_matches('/')
            && self.subdomain == other.subdomain
            && self.api_token == other.api_token
    }
}

/// `custom_fields` as a table (`hivematrix.toml`) or as text `col=name, col=name` (the
/// settings API takes scalar values only).
#[derive(Deserialize)]
#[serde(untagged)]
enum TableOrText {
    Table(BTreeMap<String, String>),
    Text(String),
}

/// `closed_statuses` as a list or as comma-separated text.
#[derive(Deserialize)]
#[serde(untagged)]
enum ListOrText {
    List(Vec<String>),
    Text(String),
}

fn parse_pairs(text: &str) -> Result<BTreeMap<String, String>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p
                .split_once('=')
                .ok_or_else(|| format!("{p:?} is not column=name"))?;
            let (k, v) = (k.trim(), v.trim());
            if k.is_empty() || v.is_empty() {
                return Err(format!("{p:?} is not column=name"));
            }
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

impl std::fmt::Debug for SuperOpsConfig {
    // The token never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SuperOpsConfig")
            .field("url", &self.url)
            .field("api_token", &"<redacted>")
            .field("subdomain", &self.subdomain)
            .field("account_number_field", &self.account_number_field)
            .field("custom_fields", &self.custom_fields)
            .field("closed_statuses", &self.closed_statuses)
            .field("web_url", &self.web_url)
            .field("per_minute", &self.per_minute)
            .field("window", &self.window)
            .finish()
    }
}

/// The client-side budget for an account: SuperOps counts a fixed minute from a
/// request's arrival, so, as for Freshservice, our window is a little longer than the
/// vendor's (more than latency jitter) and no alignment of its windows sees a breach.
pub fn budget_for(config: &SuperOpsConfig) -> RateBudget {
    let slack = (config.window / 50).max(Duration::from_millis(25));
    RateBudget::new(config.per_minute, config.window + slack)
}

/// A GraphQL reply that arrived: the data and any business errors beside it.
#[derive(Debug, Default)]
pub struct Reply {
    pub data: Map<String, Value>,
    pub errors: Vec<Value>,
}

impl Reply {
    /// The root field `key`, `Null` when absent.
    pub fn take(&mut self, key: &str) -> Value {
        self.data.remove(key).unwrap_or(Value::Null)
    }

    /// The error reported at root field `key`, if any.
    fn error_at(&self, key: &str) -> Option<&Value> {
        self.errors.iter().find(|e| {
            e.get("path")
                .and_then(Value::as_array)
                .and_then(|p| p.first())
                .and_then(Value::as_str)
                == Some(key)
        })
    }
}

/// The one way both clients talk to SuperOps.
#[derive(Clone, Debug)]
pub struct Gql {
    endpoint: Url,
    token: String,
    subdomain: String,
    api: ApiClient,
}

impl Gql {
    pub fn new(config: &SuperOpsConfig, api: ApiClient) -> ProviderResult<Gql> {
        let endpoint = Url::parse(config.url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| {
                rejected(
                    "the configuration",
                    format!("{:?} is not an http(s) URL", config.url),
                )
            })?;
        if config.api_token.trim().is_empty() {
            return Err(rejected(
                "the configuration",
                "the API token is empty".into(),
            ));
        }
        if config.subdomain.trim().is_empty() {
            return Err(rejected(
                "the configuration",
                "the subdomain is empty".into(),
            ));
        }
        Ok(Gql {
            endpoint,
            token: config.api_token.trim().to_string(),
            subdomain: config.subdomain.trim().to_string(),
            api,
        })
    }

    pub fn api(&self) -> &ApiClient {
        &self.api
    }

    /// Runs a query (retried through throttles and transient failures). Business errors
    /// are returned beside the data for the caller to judge.
    pub async fn query(&self, what: &str, query: &str, variables: Value) -> ProviderResult<Reply> {
        self.send(what, query, variables, false).await
    }

    /// Runs a mutation, exactly once: after a failure its outcome is unknown, so it is
    /// never repeated (the caller re-reads and decides).
    pub async fn mutate(&self, what: &str, query: &str, variables: Value) -> ProviderResult<Reply> {
        self.send(what, query, variables, true).await
    }

    async fn send(
        &self,
        what: &str,
        query: &str,
        variables: Value,
        mutation: bool,
    ) -> ProviderResult<Reply> {
        let body = json!({"query": query, "variables": variables});
        let once;
        let api = if mutation {
            let mut a = self.api.clone();
            a.policy.max_attempts = 1;
            once = a;
            &once
        } else {
            &self.api
        };
        api.execute(
            1,
            |h| {
                h.post(self.endpoint.clone())
                    .bearer_auth(&self.token)
                    .header("CustomerSubDomain", &self.subdomain)
                    .json(&body)
            },
            |resp| interpret(what, resp),
        )
        .await
    }

    /// A query whose every root field must answer: a business error is final.
    async fn query_ok(&self, what: &str, query: &str, variables: Value) -> ProviderResult<Reply> {
        let reply = self.query(what, query, variables).await?;
        if let Some(e) = reply.errors.first() {
            return Err(rejected(what, error_text(e)));
        }
        Ok(reply)
    }

    /// One page of a listing at `root` (`getClientList`…) whose records sit under
    /// `key` (`clients`…). `nested` puts the `ListInfoInput` under `input.listInfo`
    /// (the `Get…ListInput` types) instead of being the input itself.
    async fn page(
        &self,
        root: &str,
        key: &str,
        fields: &str,
        list: ListQuery,
        cursor: Option<Cursor>,
    ) -> ProviderResult<(Vec<Value>, Option<Cursor>)> {
        let page = match &cursor {
            None => 1,
            Some(c) => c.0.parse::<u32>().ok().filter(|p| *p >= 1).ok_or_else(|| {
                rejected(root, format!("a stored cursor {:?} is not a page", c.0))
            })?,
        };
        let mut li = json!({"page": page, "pageSize": PAGE_SIZE, "sort": list.sort});
        if let Some(c) = list.condition {
            li["condition"] = c;
        }
        let (ty, input) = match list.nested {
            Some(ty) => (ty, json!({"listInfo": li})),
            None => ("ListInfoInput!", li),
        };
        let query = format!(
            "query {root}($input: {ty}) {{ {root}(input: $input) {{ {key} {{ {fields} }} listInfo {{ page pageSize hasMore totalCount }} }} }}"
        );
        let mut reply = self
            .query_ok(
                &format!("the {root} listing"),
                &query,
                json!({"input": input}),
            )
            .await?;
        let mut body = reply.take(root);
        let items = match body.get_mut(key).map(Value::take) {
            Some(Value::Array(items)) => items,
            Some(Value::Null) | None if body.get("listInfo").is_some() => Vec::new(),
            _ => return Err(rejected(root, format!("the reply has no `{key}` list"))),
        };
        let info = body.get("listInfo").cloned().unwrap_or(Value::Null);
        let has_more = info.get("hasMore").and_then(Value::as_bool) == Some(true);
        let total = info.get("totalCount").and_then(Value::as_u64);
        let size = info
            .get("pageSize")
            .and_then(Value::as_u64)
            .unwrap_or(u64::from(PAGE_SIZE));
        // `hasMore` is `null` on the last page; a reply without it still pages on while
        // the total says more records follow.
        let more = has_more
            || (info.get("hasMore").is_none_or(Value::is_null)
                && !items.is_empty()
                && total.is_some_and(|t| t > u64::from(page) * size));
        let next = more.then(|| Cursor((page + 1).to_string()));
        Ok((items, next))
    }
}

/// How a listing is asked for.
struct ListQuery {
    sort: Value,
    condition: Option<Value>,
    /// The `Get…ListInput!` type when the list input is nested under `listInfo`.
    nested: Option<&'static str>,
}

impl ListQuery {
    fn by(attribute: &str) -> ListQuery {
        ListQuery {
            sort: json!([{"attribute": attribute, "order": "ASC"}]),
            condition: None,
            nested: None,
        }
    }

    fn nested(mut self, ty: &'static str) -> ListQuery {
        self.nested = Some(ty);
        self
    }

    fn when(mut self, condition: Value) -> ListQuery {
        self.condition = Some(condition);
        self
    }
}

/// Judges one response. 401 and 400 are SuperOps' auth answers (token, subdomain);
/// a 200 carrying `rate_limit_exceeded` is a throttle.
async fn interpret(what: &str, resp: Response) -> Attempt<Reply> {
    let status = resp.status();
    let header_wait = retry_after(resp.headers());
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        let body = resp.text().await.unwrap_or_default();
        return Attempt::Fatal(ProviderError::Auth {
            vendor: VENDOR,
            detail: format!(
                "HTTP {}: the API token was refused (create one under Settings > My Profile > API token). {}",
                status.as_u16(),
                snippet(&body)
            ),
        });
    }
    if status == StatusCode::BAD_REQUEST {
        let body = resp.text().await.unwrap_or_default();
        return Attempt::Fatal(ProviderError::Auth {
            vendor: VENDOR,
            detail: format!(
                "HTTP 400: SuperOps refused the request; a wrong subdomain (CustomerSubDomain) answers so. {}",
                snippet(&body)
            ),
        });
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Attempt::Throttled(header_wait);
    }
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        let body = resp.text().await.unwrap_or_default();
        return Attempt::Transient(format!("HTTP {} {}", status.as_u16(), snippet(&body)));
    }
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        return Attempt::Fatal(rejected(
            what,
            format!("HTTP {} {}", status.as_u16(), snippet(&body)),
        ));
    }
    let bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => return Attempt::Transient(format!("reading the body failed: {e}")),
    };
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(default)]
        data: Option<Map<String, Value>>,
        #[serde(default)]
        errors: Option<Vec<Value>>,
    }
    let env: Envelope = match serde_json::from_slice(&bytes) {
        Ok(e) => e,
        // Truncated or garbled: a transport fault more often than a schema change.
        Err(e) => return Attempt::Transient(format!("malformed JSON from {what}: {e}")),
    };
    let errors = env.errors.unwrap_or_default();
    if let Some(wait) = errors.iter().find_map(throttle) {
        return Attempt::Throttled(wait.or(header_wait));
    }
    if errors.iter().any(is_transient) {
        return Attempt::Transient(errors.first().map(error_text).unwrap_or_default());
    }
    match env.data {
        Some(data) => Attempt::Done(Reply { data, errors }),
        // No data at all: the document was refused (validation) — final.
        None => Attempt::Fatal(rejected(
            what,
            errors
                .first()
                .map(error_text)
                .unwrap_or_else(|| "the reply has neither data nor errors".into()),
        )),
    }
}

fn client_codes(e: &Value) -> Vec<String> {
    let mut codes: Vec<String> = e
        .pointer("/extensions/clientError")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|c| c.get("code").and_then(Value::as_str))
                .map(str::to_lowercase)
                .collect()
        })
        .unwrap_or_default();
    if let Some(c) = e.pointer("/extensions/code").and_then(Value::as_str) {
        codes.push(c.to_lowercase());
    }
    codes
}

/// `Some(wait)` when the error is a rate-limit refusal (`wait` from
/// `extensions.retryAfter` when given).
fn throttle(e: &Value) -> Option<Option<Duration>> {
    let limited = client_codes(e)
        .iter()
        .any(|c| c == "rate_limit_exceeded" || c == "too_many_requests" || c.contains("throttl"));
    if !limited {
        return None;
    }
    let wait = e
        .pointer("/extensions/retryAfter")
        .and_then(|v| v.as_f64().or_else(|| v.as_str()?.trim().parse().ok()))
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64);
    Some(wait)
}

fn is_transient(e: &Value) -> bool {
    client_codes(e)
        .iter()
        .any(|c| c.contains("timeout") || c.contains("temporar") || c == "internal_error")
}

fn error_text(e: &Value) -> String {
    let msg = e
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("an error");
    let codes = client_codes(e);
    if codes.is_empty() {
        msg.to_string()
    } else {
        format!("{msg} ({})", codes.join(", "))
    }
}

fn rejected(what: &str, detail: String) -> ProviderError {
    ProviderError::Rejected {
        vendor: VENDOR,
        what: what.to_string(),
        detail,
    }
}

fn snippet(body: &str) -> String {
    body.chars().take(300).collect()
}

// ------------------------------------------------------------------ value helpers

/// A SuperOps time: UTC without a zone (`2022-04-10T10:15:30`), or RFC 3339 when a
/// field carries an offset anyway.
pub fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    let s = v.as_str()?.trim();
    if s.is_empty() {
        return None;
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
        .map(|n| n.and_utc())
        .ok()
        .or_else(|| {
            DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        })
}

/// The zone-less UTC form SuperOps filters take.
pub fn vendor_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn field(v: &Value, key: &str) -> Option<String> {
    text(v.get(key).unwrap_or(&Value::Null))
}

/// `{id, name}`-style JSON scalars: the id under `key`.
fn ref_id(v: &Value, obj: &str, key: &str) -> Option<String> {
    v.get(obj).and_then(|o| field(o, key))
}

/// A JSON scalar that is a name, or an object carrying one.
fn name_of(v: &Value) -> Option<String> {
    match v {
        Value::Object(o) => o.get("name").and_then(text),
        other => text(other),
    }
}

fn split_name(name: Option<String>) -> (Option<String>, Option<String>) {
    match name {
        Some(n) => match n.trim().split_once(' ') {
            Some((f, l)) => (Some(f.to_string()), Some(l.trim().to_string())),
            None => (Some(n.trim().to_string()), None),
        },
        None => (None, None),
    }
}

/// Custom fields as text (multi-selects joined with ", ").
fn custom_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| {
                    let s = match v {
                        Value::Array(items) => {
                            let parts: Vec<String> = items.iter().filter_map(text).collect();
                            (!parts.is_empty()).then(|| parts.join(", "))
                        }
                        other => text(other),
                    }?;
                    Some((k.clone(), s))
                })
                .collect()
        })
        .unwrap_or_default()
}

// ------------------------------------------------------------------ the PSA

const CLIENT_FIELDS: &str =
    "accountId name stage status emailDomains primaryContact secondaryContact hqSite customFields";
const USER_FIELDS: &str = "userId firstName lastName name email contactNumber site client";
const TECH_FIELDS: &str = "userId firstName lastName name email designation groups";
const TICKET_FIELDS: &str = "ticketId displayId subject requestType ticketType source client site requester techGroup technician status priority category createdTime updatedTime firstResponseDueTime firstResponseTime resolutionDueTime resolutionTime";
const WORKLOG_FIELDS: &str = "itemId billable qty billDateTime technician notes workItem";

/// SuperOps PSA: clients → companies, client users → contacts, technicians → agents,
/// tickets with their conversations, notes and worklogs.
pub struct SuperOpsPsa {
    config: SuperOpsConfig,
    gql: Gql,
}

impl SuperOpsPsa {
    pub fn new(config: SuperOpsConfig) -> ProviderResult<SuperOpsPsa> {
        let api = ApiClient::new(
            VENDOR,
            Arc::new(budget_for(&config)),
            RetryPolicy::default(),
        );
        SuperOpsPsa::with_api(config, api)
    }

    /// A client over a prepared [`ApiClient`] (the budget shared with the RMM client of
    /// the same account, a test's retry policy).
    pub fn with_api(config: SuperOpsConfig, api: ApiClient) -> ProviderResult<SuperOpsPsa> {
        let gql = Gql::new(&config, api)?;
        Ok(SuperOpsPsa { config, gql })
    }

    pub fn api(&self) -> &ApiClient {
        self.gql.api()
    }

    fn company(&self, c: &Value) -> Option<PsaCompany> {
        let external_id = field(c, "accountId")?;
        let raw = custom_map(c.get("customFields").unwrap_or(&Value::Null));
        let account_number = raw
            .get(&self.config.account_number_field)
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty());
        let custom_fields = raw
            .into_iter()
            .map(|(k, v)| {
                let name = if k == self.config.account_number_field {
                    "account_number".to_string()
                } else {
                    self.config.custom_fields.get(&k).cloned().unwrap_or(k)
                };
                (name, v)
            })
            .collect();
        let domains = c
            .get("emailDomains")
            .and_then(Value::as_array)
            .map(|d| d.iter().filter_map(text).collect())
            .unwrap_or_default();
        Some(PsaCompany {
            external_id,
            name: field(c, "name").unwrap_or_default(),
            description: None,
            account_number,
            domains,
            head_user_id: ref_id(c, "primaryContact", "userId"),
            prime_user_id: ref_id(c, "secondaryContact", "userId"),
            workspace_id: None,
            custom_fields,
            created_at: None,
            updated_at: None,
        })
    }

    fn ticket(&self, t: &Value) -> Option<PsaTicket> {
        let status_text = field(t, "status");
        let status = status_text
            .as_deref()
            .map_or("unknown", codes::status_from_superops)
            .to_string();
        let priority = field(t, "priority")
            .as_deref()
            .map_or("unknown", codes::priority_from_superops)
            .to_string();
        let resolved_at = parse_time(t.get("resolutionTime").unwrap_or(&Value::Null));
        Some(PsaTicket {
            external_id: field(t, "ticketId")?,
            ticket_number: field(t, "displayId"),
            subject: field(t, "subject"),
            description_html: None,
            description_text: None,
            priority_code: codes::priority_rank(&priority),
            // SuperOps keeps no separate closed time: a closed ticket's resolution time
            // is when it was closed.
            closed_at: (status == "closed").then_some(resolved_at).flatten(),
            resolved_at,
            status,
            status_code: None,
            status_text,
            priority,
            ticket_type: field(t, "requestType").or_else(|| field(t, "ticketType")),
            source: field(t, "source"),
            category: field(t, "category"),
            requester_external_id: ref_id(t, "requester", "userId"),
            requester_email: ref_id(t, "requester", "email"),
            requester_name: ref_id(t, "requester", "name"),
            responder_external_id: ref_id(t, "technician", "userId"),
            group_external_id: ref_id(t, "techGroup", "groupId"),
            company_external_id: ref_id(t, "client", "accountId"),
            created_at: parse_time(t.get("createdTime").unwrap_or(&Value::Null)),
            updated_at: parse_time(t.get("updatedTime").unwrap_or(&Value::Null)),
            fr_due_by: parse_time(t.get("firstResponseDueTime").unwrap_or(&Value::Null)),
            due_by: parse_time(t.get("resolutionDueTime").unwrap_or(&Value::Null)),
            first_responded_at: parse_time(t.get("firstResponseTime").unwrap_or(&Value::Null)),
            agent_responded_at: parse_time(t.get("firstResponseTime").unwrap_or(&Value::Null)),
        })
    }

    /// Further worklog pages of one ticket (the detail request carries the first).
    async fn more_worklogs(&self, ticket_id: &str, mut page: u32) -> ProviderResult<Vec<Value>> {
        let mut out = Vec::new();
        loop {
            let list = ListQuery::by("billDateTime")
                .when(worklog_condition(ticket_id))
                .nested("GetWorklogEntriesInput!");
            let (items, next) = self
                .gql
                .page(
                    "getWorklogEntries",
                    "entries",
                    WORKLOG_FIELDS,
                    list,
                    Some(Cursor(page.to_string())),
                )
                .await?;
            out.extend(items);
            match next {
                Some(_) => page += 1,
                None => return Ok(out),
            }
        }
    }
}

fn worklog_condition(ticket_id: &str) -> Value {
    json!({"attribute": "workItem.workId", "operator": "is", "value": ticket_id})
}

fn time_entry(e: &Value) -> Option<PsaTimeEntry> {
    let hours: f64 = field(e, "qty")?.trim().parse().ok()?;
    Some(PsaTimeEntry {
        external_id: field(e, "itemId")?,
        agent_external_id: ref_id(e, "technician", "userId"),
        minutes: (hours * 60.0).round() as i64,
        billable: e.get("billable").and_then(Value::as_bool).unwrap_or(false),
        note: field(e, "notes"),
        executed_at: parse_time(e.get("billDateTime").unwrap_or(&Value::Null)),
        created_at: None,
        updated_at: None,
    })
}

#[async_trait]
impl PsaProvider for SuperOpsPsa {
    fn source(&self) -> &'static str {
        VENDOR
    }

    fn request_stats(&self) -> Option<Arc<super::http::RequestStats>> {
        Some(self.gql.api.stats.clone())
    }

    fn web_links(&self) -> Option<PsaLinks> {
        let web = self
            .config
            .web_url
            .clone()
            .unwrap_or_else(|| format!("https://{}.superops.ai", self.config.subdomain));
        let web = web.trim_end_matches('/');
        Some(PsaLinks {
            name: "SuperOps".into(),
            ticket_url_template: format!("{web}/#/tickets/{{ticket_id}}/details"),
            company_url_template: format!("{web}/#/clients/{{company_id}}/details"),
            contact_url_template: format!("{web}/#/requesters/{{contact_id}}/details"),
        })
    }

    async fn companies(&self, cursor: Option<Cursor>) -> ProviderResult<Page<PsaCompany>> {
        let (items, next) = self
            .gql
            .page(
                "getClientList",
                "clients",
                CLIENT_FIELDS,
                ListQuery::by("accountId"),
                cursor,
            )
            .await?;
        Ok(Page {
            items: items.iter().filter_map(|c| self.company(c)).collect(),
            next,
        })
    }

    async fn contacts(&self, cursor: Option<Cursor>) -> ProviderResult<Page<PsaContact>> {
        let list = ListQuery::by("userId").nested("GetClientUserListInput!");
        let (items, next) = self
            .gql
            .page("getClientUserList", "userList", USER_FIELDS, list, cursor)
            .await?;
        let items = items
            .iter()
            .filter_map(|u| {
                let (first, last) = match (field(u, "firstName"), field(u, "lastName")) {
                    (None, None) => split_name(field(u, "name")),
                    fl => fl,
                };
                Some(PsaContact {
                    external_id: field(u, "userId")?,
                    first_name: first,
                    last_name: last,
                    email: field(u, "email"),
                    // Listed users are active; SuperOps lists no archived ones here.
                    active: true,
                    work_phone_number: field(u, "contactNumber"),
                    company_external_ids: ref_id(u, "client", "accountId").into_iter().collect(),
                    department_names: ref_id(u, "client", "name").into_iter().collect(),
                    location_name: ref_id(u, "site", "name"),
                    ..PsaContact::default()
                })
            })
            .collect();
        Ok(Page { items, next })
    }

    async fn agents(&self, cursor: Option<Cursor>) -> ProviderResult<Page<PsaAgent>> {
        let (items, next) = self
            .gql
            .page(
                "getTechnicianList",
                "userList",
                TECH_FIELDS,
                ListQuery::by("userId"),
                cursor,
            )
            .await?;
        let items = items
            .iter()
            .filter_map(|a| {
                let (first, last) = match (field(a, "firstName"), field(a, "lastName")) {
                    (None, None) => split_name(field(a, "name")),
                    fl => fl,
                };
                let group_ids = a
                    .get("groups")
                    .and_then(Value::as_array)
                    .map(|g| g.iter().filter_map(|g| field(g, "groupId")).collect())
                    .unwrap_or_default();
                Some(PsaAgent {
                    external_id: field(a, "userId")?,
                    email: field(a, "email"),
                    first_name: first,
                    last_name: last,
                    active: true,
                    job_title: a.get("designation").and_then(name_of),
                    group_ids,
                    ..PsaAgent::default()
                })
            })
            .collect();
        Ok(Page { items, next })
    }

    /// `UpdatedSince`: `updatedTime after (since − 1 s)` (the filter is exclusive and
    /// to the second), sorted by `createdTime`, which updates do not move. `Active`:
    /// every status but the configured closed ones (tickets whose status still maps to
    /// a closed one are dropped). `Deleted`: SuperOps lists none; nothing to fetch.
    async fn tickets(
        &self,
        filter: &TicketFilter,
        cursor: Option<Cursor>,
    ) -> ProviderResult<Page<PsaTicket>> {
        let condition = match filter {
            TicketFilter::Deleted => {
                return Ok(Page {
                    items: Vec::new(),
                    next: None,
                })
            }
            TicketFilter::UpdatedSince(None) => None,
            TicketFilter::UpdatedSince(Some(since)) => Some(json!({
                "attribute": "updatedTime",
                "operator": "after",
                "value": vendor_time(*since - chrono::Duration::seconds(1)),
            })),
            TicketFilter::Active => Some(json!({
                "attribute": "status",
                "operator": "notIncludes",
                "value": self.config.closed_statuses,
            })),
        };
        let mut list = ListQuery::by("createdTime");
        if let Some(c) = condition {
            list = list.when(c);
        }
        let (items, next) = self
            .gql
            .page("getTicketList", "tickets", TICKET_FIELDS, list, cursor)
            .await?;
        let mut items: Vec<PsaTicket> = items.iter().filter_map(|t| self.ticket(t)).collect();
        if *filter == TicketFilter::Active {
            items.retain(|t| !codes::is_closed(&t.status));
        }
        Ok(Page { items, next })
    }

    /// One request: the ticket, its conversations (the first, type DESCRIPTION, is the
    /// description), its notes and its worklog entries; more worklog pages only when a
    /// ticket has over 100 entries.
    async fn ticket_detail(&self, external_id: &str) -> ProviderResult<Option<TicketDetail>> {
        let query = format!(
            "query ticketDetail($t: TicketIdentifierInput!, $w: GetWorklogEntriesInput!) {{ \
             getTicket(input: $t) {{ {TICKET_FIELDS} }} \
             getTicketConversationList(input: $t) {{ conversationId content time user type }} \
             getTicketNoteList(input: $t) {{ noteId addedBy addedOn content privacyType }} \
             getWorklogEntries(input: $w) {{ entries {{ {WORKLOG_FIELDS} }} listInfo {{ page pageSize hasMore totalCount }} }} }}"
        );
        let vars = json!({
            "t": {"ticketId": external_id},
            "w": {"module": "TICKET", "listInfo": {
                "page": 1, "pageSize": PAGE_SIZE,
                "sort": [{"attribute": "billDateTime", "order": "ASC"}],
                "condition": worklog_condition(external_id),
            }},
        });
        let what = format!("ticket {external_id}");
        let mut reply = self.gql.query(&what, &query, vars).await?;
        let raw = reply.take("getTicket");
        if raw.is_null() {
            // Gone (SuperOps answers `not_found` at the field): no ticket.
            if reply.error_at("getTicket").is_some() || reply.errors.is_empty() {
                return Ok(None);
            }
        }
        if let Some(e) = reply.errors.first() {
            return Err(rejected(&what, error_text(e)));
        }
        let mut ticket = self
            .ticket(&raw)
            .ok_or_else(|| rejected(&what, "the ticket has no ticketId".into()))?;
        let mut conversations = Vec::new();
        for c in reply
            .take("getTicketConversationList")
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let kind = field(&c, "type").unwrap_or_default();
            let body = field(&c, "content");
            if kind == "DESCRIPTION" {
                ticket.description_text = body.as_deref().map(codes::strip_html);
                ticket.description_html = body;
                if ticket.requester_email.is_none() {
                    ticket.requester_email = ref_id(&c, "user", "email");
                }
                continue;
            }
            let incoming = kind == "REQ_REPLY";
            let Some(id) = field(&c, "conversationId") else {
                continue;
            };
            let at = parse_time(c.get("time").unwrap_or(&Value::Null));
            conversations.push(PsaConversation {
                external_id: id,
                private: false,
                incoming,
                body_text: body.as_deref().map(codes::strip_html),
                body_html: body,
                author_external_id: ref_id(&c, "user", "userId"),
                from_email: if incoming {
                    ref_id(&c, "user", "email")
                } else {
                    None
                },
                created_at: at,
                updated_at: at,
            });
        }
        for n in reply
            .take("getTicketNoteList")
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let Some(id) = field(&n, "noteId") else {
                continue;
            };
            let body = field(&n, "content");
            let at = parse_time(n.get("addedOn").unwrap_or(&Value::Null));
            conversations.push(PsaConversation {
                external_id: id,
                private: field(&n, "privacyType").as_deref() != Some("PUBLIC"),
                incoming: false,
                body_text: body.as_deref().map(codes::strip_html),
                body_html: body,
                author_external_id: ref_id(&n, "addedBy", "userId"),
                from_email: None,
                created_at: at,
                updated_at: at,
            });
        }
        let mut worklogs = reply.take("getWorklogEntries");
        let mut entries = match worklogs.get_mut("entries").map(Value::take) {
            Some(Value::Array(e)) => e,
            _ => Vec::new(),
        };
        if worklogs
            .pointer("/listInfo/hasMore")
            .and_then(Value::as_bool)
            == Some(true)
        {
            entries.extend(self.more_worklogs(external_id, 2).await?);
        }
        // The filter is the server's; keep only this ticket's entries regardless.
        let time_entries = entries
            .iter()
            .filter(|e| ref_id(e, "workItem", "workId").is_none_or(|w| w == external_id))
            .filter_map(time_entry)
            .collect();
        Ok(Some(TicketDetail {
            ticket,
            time_entries,
            conversations,
        }))
    }
}

// ------------------------------------------------------------------ the RMM

const SITE_FIELDS: &str = "id name client hq";
const ASSET_FIELDS: &str = "assetId name assetClass client site loggedInUser serialNumber manufacturer model hostName publicIp platform domain status sysUptime lastCommunicatedTime patchStatus warrantyExpiryDate customFields lastReportedTime deviceCategory platformCategory";

#[derive(Default)]
struct RmmCache {
    /// Site id → client accountId.
    site_client: HashMap<String, String>,
    /// Client accountId → its account-number custom field.
    accounts: HashMap<String, Option<String>>,
    accounts_at: Option<tokio::time::Instant>,
}

/// SuperOps RMM: client sites and their assets; the account number lives on the
/// site's client.
pub struct SuperOpsRmm {
    config: SuperOpsConfig,
    gql: Gql,
    cache: tokio::sync::Mutex<RmmCache>,
}

impl SuperOpsRmm {
    pub fn new(config: SuperOpsConfig) -> ProviderResult<SuperOpsRmm> {
        let api = ApiClient::new(
            VENDOR,
            Arc::new(budget_for(&config)),
            RetryPolicy::default(),
        );
        SuperOpsRmm::with_api(config, api)
    }

    pub fn with_api(config: SuperOpsConfig, api: ApiClient) -> ProviderResult<SuperOpsRmm> {
        let gql = Gql::new(&config, api)?;
        Ok(SuperOpsRmm {
            config,
            gql,
            cache: tokio::sync::Mutex::new(RmmCache::default()),
        })
    }

    pub fn api(&self) -> &ApiClient {
        self.gql.api()
    }

    fn fresh(&self, at: Option<tokio::time::Instant>) -> bool {
        at.is_some_and(|t| t.elapsed() < self.config.account_cache)
    }

    async fn site_page(
        &self,
        cursor: Option<Cursor>,
    ) -> ProviderResult<(Vec<Value>, Option<Cursor>)> {
        let list = ListQuery::by("id").nested("GetClientSiteListInput!");
        self.gql
            .page("getClientSiteList", "sites", SITE_FIELDS, list, cursor)
            .await
    }

    /// The client of a site, listing the sites once when the map is stale or lacks it.
    async fn client_of(&self, cache: &mut RmmCache, site: &str) -> ProviderResult<String> {
        // Sites do not change client; the map is refreshed only for a site it lacks.
        if !cache.site_client.contains_key(site) {
            let mut cursor = None;
            let mut map = HashMap::new();
            loop {
                let (items, next) = self.site_page(cursor).await?;
                for s in &items {
                    if let (Some(id), Some(client)) =
                        (field(s, "id"), ref_id(s, "client", "accountId"))
                    {
                        map.insert(id, client);
                    }
                }
                match next {
                    Some(n) => cursor = Some(n),
                    None => break,
                }
            }
            cache.site_client = map;
        }
        cache
            .site_client
            .get(site)
            .cloned()
            .ok_or_else(|| rejected("a site", format!("site {site} is not listed by SuperOps")))
    }

    /// Every client's account number, from one client listing (⌈clients/100⌉ requests,
    /// not one per site).
    async fn accounts(&self, cache: &mut RmmCache) -> ProviderResult<()> {
        if self.fresh(cache.accounts_at) {
            return Ok(());
        }
        let mut cursor = None;
        let mut map = HashMap::new();
        loop {
            let (items, next) = self
                .gql
                .page(
                    "getClientList",
                    "clients",
                    "accountId customFields",
                    ListQuery::by("accountId"),
                    cursor,
                )
                .await?;
            for c in &items {
                if let Some(id) = field(c, "accountId") {
                    map.insert(id, self.account_of(c));
                }
            }
            match next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        cache.accounts = map;
        cache.accounts_at = Some(tokio::time::Instant::now());
        Ok(())
    }

    fn account_of(&self, client: &Value) -> Option<String> {
        custom_map(client.get("customFields").unwrap_or(&Value::Null))
            .remove(&self.config.account_number_field)
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
    }
}

fn device(a: &Value) -> Option<RmmDevice> {
    let seen = parse_time(a.get("lastCommunicatedTime").unwrap_or(&Value::Null));
    let uptime = field(a, "sysUptime").and_then(|s| s.trim().parse::<i64>().ok());
    let udfs = custom_map(a.get("customFields").unwrap_or(&Value::Null))
        .into_iter()
        .filter_map(|(k, v)| udf_key(&k).map(|k| (k, v)))
        .collect();
    Some(RmmDevice {
        uid: field(a, "assetId")?,
        site_uid: ref_id(a, "site", "id").unwrap_or_default(),
        site_name: ref_id(a, "site", "name"),
        hostname: field(a, "hostName")
            .or_else(|| field(a, "name"))
            .unwrap_or_default(),
        description: None,
        category: a.get("deviceCategory").and_then(name_of),
        device_type: field(a, "platformCategory"),
        operating_system: field(a, "platform"),
        manufacturer: field(a, "manufacturer"),
        model: field(a, "model"),
        serial_number: field(a, "serialNumber"),
        int_ip_address: None,
        ext_ip_address: field(a, "publicIp"),
        domain: field(a, "domain"),
        last_logged_in_user: field(a, "loggedInUser"),
        online: field(a, "status").is_some_and(|s| s.eq_ignore_ascii_case("online")),
        last_seen: seen,
        // Uptime counts from the last reboot to the last contact.
        last_reboot: seen
            .zip(uptime)
            .map(|(s, u)| s - chrono::Duration::seconds(u)),
        last_audit_date: parse_time(a.get("lastReportedTime").unwrap_or(&Value::Null)),
        antivirus_product: None,
        antivirus_status: None,
        patch_status: field(a, "patchStatus"),
        portal_url: None,
        web_remote_url: None,
        warranty_date: field(a, "warrantyExpiryDate"),
        udfs,
    })
}

/// `udf6text` → `udf6` (the column's type suffix dropped), so UDFs read the same
/// whichever RMM filled them.
fn udf_key(column: &str) -> Option<String> {
    let rest = column.strip_prefix("udf")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then(|| format!("udf{digits}"))
}

#[async_trait]
impl RmmProvider for SuperOpsRmm {
    fn source(&self) -> &'static str {
        VENDOR
    }

    fn request_stats(&self) -> Option<Arc<super::http::RequestStats>> {
        Some(self.gql.api.stats.clone())
    }

    /// A fresh listing (no cursor) also forgets the cached account numbers, so each
    /// sync reads them anew.
    async fn sites(&self, cursor: Option<Cursor>) -> ProviderResult<Page<RmmSite>> {
        if cursor.is_none() {
            let mut cache = self.cache.lock().await;
            cache.accounts_at = None;
        }
        let (items, next) = self.site_page(cursor).await?;
        let mut cache = self.cache.lock().await;
        let mut out = Vec::with_capacity(items.len());
        for s in &items {
            let Some(id) = field(s, "id") else { continue };
            if let Some(client) = ref_id(s, "client", "accountId") {
                cache.site_client.insert(id.clone(), client);
            }
            out.push(RmmSite {
                uid: id,
                name: field(s, "name").unwrap_or_default(),
                description: None,
                portal_url: None,
            });
        }
        Ok(Page { items: out, next })
    }

    async fn site_account_number(&self, site_uid: &str) -> ProviderResult<Option<String>> {
        let mut cache = self.cache.lock().await;
        let client = self.client_of(&mut cache, site_uid).await?;
        self.accounts(&mut cache).await?;
        Ok(cache.accounts.get(&client).cloned().flatten())
    }

    /// Writes the account number into the site's client custom field, with no call when
    /// it already holds it. The mutation is sent once; after a failure the next read
    /// tells what happened.
    async fn set_site_account_number(&self, site_uid: &str, account: &str) -> ProviderResult<()> {
        let mut cache = self.cache.lock().await;
        let client = self.client_of(&mut cache, site_uid).await?;
        self.accounts(&mut cache).await?;
        if cache.accounts.get(&client).cloned().flatten().as_deref() == Some(account) {
            return Ok(());
        }
        let field_name = self.config.account_number_field.clone();
        let mut custom = Map::new();
        custom.insert(field_name, Value::String(account.to_string()));
        let vars = json!({"input": {"accountId": client, "customFields": custom}});
        let what = format!("the account number of client {client}");
        // Whatever happens, the cache no longer knows this client's value.
        cache.accounts_at = None;
        let mut reply = self
            .gql
            .mutate(
                &what,
                "mutation updateClient($input: UpdateClientInput!) { updateClient(input: $input) { accountId customFields } }",
                vars,
            )
            .await?;
        if let Some(e) = reply.errors.first() {
            return Err(rejected(&what, error_text(e)));
        }
        let updated = reply.take("updateClient");
        match self.account_of(&updated) {
            Some(a) if a == account => Ok(()),
            other => Err(rejected(
                &what,
                format!("SuperOps answered the update with {other:?}"),
            )),
        }
    }

    /// One account-wide `getAssetList` (⌈devices/100⌉ requests) instead of a listing per
    /// site (at least one request per site).
    fn lists_all_devices(&self) -> bool {
        true
    }

    async fn all_devices(&self, cursor: Option<Cursor>) -> ProviderResult<Page<RmmDevice>> {
        let (items, next) = self
            .gql
            .page(
                "getAssetList",
                "assets",
                ASSET_FIELDS,
                ListQuery::by("assetId"),
                cursor,
            )
            .await?;
        Ok(Page {
            items: items.iter().filter_map(device).collect(),
            next,
        })
    }

    async fn site_devices(
        &self,
        site_uid: &str,
        cursor: Option<Cursor>,
    ) -> ProviderResult<Page<RmmDevice>> {
        let list = ListQuery::by("assetId").when(json!({
            "attribute": "site.id", "operator": "is", "value": site_uid,
        }));
        let (items, next) = self
            .gql
            .page("getAssetList", "assets", ASSET_FIELDS, list, cursor)
            .await?;
        Ok(Page {
            items: items.iter().filter_map(device).collect(),
            next,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_less_times_are_utc() {
        let t = parse_time(&json!("2022-04-10T10:15:30")).unwrap();
        assert_eq!(t.to_rfc3339(), "2022-04-10T10:15:30+00:00");
        let t = parse_time(&json!("2022-04-10T10:15:30.250")).unwrap();
        assert_eq!(t.timestamp_subsec_millis(), 250);
        let t = parse_time(&json!("2022-04-10T12:15:30+02:00")).unwrap();
        assert_eq!(vendor_time(t), "2022-04-10T10:15:30");
        assert!(parse_time(&json!("")).is_none());
        assert!(parse_time(&json!(null)).is_none());
    }

    #[test]
    fn rate_limit_errors_are_throttles_and_others_are_not() {
        let e = json!({"message": "Rate limit exceeded", "extensions": {
            "clientError": [{"code": "rate_limit_exceeded", "param": {}}], "retryAfter": 7}});
        assert_eq!(throttle(&e), Some(Some(Duration::from_secs(7))));
        let bare = json!({"extensions": {"clientError": [{"code": "RATE_LIMIT_EXCEEDED"}]}});
        assert_eq!(throttle(&bare), Some(None));
        let nf = json!({"message": "no", "extensions": {"clientError": [{"code": "not_found"}]}});
        assert_eq!(throttle(&nf), None);
        assert!(!is_transient(&nf));
        assert_eq!(error_text(&nf), "no (not_found)");
    }

    #[test]
    fn udf_columns_and_custom_values() {
        assert_eq!(udf_key("udf6text").as_deref(), Some("udf6"));
        assert_eq!(udf_key("udf150mselect").as_deref(), Some("udf150"));
        assert_eq!(udf_key("notes"), None);
        let m = custom_map(
            &json!({"udf1text": "a", "udf2mselect": ["x", "y"], "udf3text": "", "n": 5}),
        );
        assert_eq!(m["udf1text"], "a");
        assert_eq!(m["udf2mselect"], "x, y");
        assert_eq!(m["n"], "5");
        assert!(!m.contains_key("udf3text"));
    }

    #[test]
    fn config_from_toml_keeps_the_token_out_of_debug() {
        let t: toml::Value = toml::from_str(
            "api_token = \"TOKEN-123\"\nsubdomain = \"acme\"\naccount_number_field = \"udf4text\"\n[custom_fields]\nudf2select = \"plan_selected\"\n",
        )
        .unwrap();
        let c = SuperOpsConfig::from_table(&t, "psa.superops").unwrap();
        assert_eq!(c.url, "https://api.superops.ai/msp");
        assert_eq!(c.account_number_field, "udf4text");
        assert_eq!(c.custom_fields["udf2select"], "plan_selected");
        assert_eq!(c.per_minute, 800);
        assert!(!format!("{c:?}").contains("TOKEN-123"));
        let bad: toml::Value =
            toml::from_str("api_token = \"T\"\nsubdomain = \"a\"\napi_key = \"x\"\n").unwrap();
        let err = SuperOpsConfig::from_table(&bad, "psa.superops").unwrap_err();
        assert!(err.contains("api_key") && !err.contains("\"T\""), "{err}");
        let text: toml::Value = toml::from_str(
            "api_token = \"T\"\nsubdomain = \"a\"\ncustom_fields = \"udf2select=plan_selected, udf3select = contract_term\"\nclosed_statuses = \"Resolved, Closed, Billed\"\n",
        )
        .unwrap();
        let c = SuperOpsConfig::from_table(&text, "psa.superops").unwrap();
        assert_eq!(c.custom_fields.len(), 2);
        assert_eq!(c.custom_fields["udf3select"], "contract_term");
        assert_eq!(c.closed_statuses, ["Resolved", "Closed", "Billed"]);
        let bad: toml::Value =
            toml::from_str("api_token = \"T\"\nsubdomain = \"a\"\ncustom_fields = \"udf2\"\n")
                .unwrap();
        assert!(SuperOpsConfig::from_table(&bad, "psa.superops").is_err());
        assert!(SuperOpsPsa::new(SuperOpsConfig::new("ftp://x", "t", "s")).is_err());
        assert!(SuperOpsPsa::new(SuperOpsConfig::new("https://x/msp", " ", "s")).is_err());
    }
}
