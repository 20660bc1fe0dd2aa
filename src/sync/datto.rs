//! The Datto RMM API v2 client: sites, their account-number variable, and devices, as
//! the vendor-neutral records of [`RmmProvider`].
//!
//! Datto specifics handled here (`vendor-apis.md` §1b): the OAuth2 password grant with
//! Datto's fixed public client, cached and re-granted once on a 401 (tokens live 100 h
//! but are revoked on key rotation); a 403 is never retried, because Datto answers a
//! persistent rate breach with a temporary IP block that retries would only prolong;
//! `max=250` pages followed through `pageDetails.nextPageUrl`, re-applying the filters
//! that URL drops; device timestamps in epoch milliseconds; and UDFs up to `udf300`.
//! Every request goes through [`ApiClient`], which keeps us under the 600-per-60-s read
//! budget and retries transient failures.

use super::budget::RateBudget;
use super::http::{standard_json, ApiClient, Attempt, RetryPolicy, StatsSnapshot};
use super::provider::{
    Cursor, Page, ProviderError, ProviderResult, RmmDevice, RmmProvider, RmmSite,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

pub const VENDOR: &str = "datto";
/// Datto's page-size ceiling; every listing asks for full pages.
pub const PAGE_SIZE: u32 = 250;
/// Datto's fixed OAuth client for the password grant.
const OAUTH_CLIENT: (&str, &str) = ("public-client", "public");
/// Above this share of its window Datto delays every reply by a second
/// (`accountCutOffRatio`); see [`budget`].
pub const CUT_OFF_RATIO: f64 = 0.9;

/// The part of an account limit we spend: up to Datto's cut-off, not the limit. Past
/// the cut-off each reply waits a second, so a caller with fewer than `rate × 1 s`
/// requests in flight (a sequential page walk: one) would crawl at one request a
/// second; below it nothing is ever delayed. The price is a tenth of the budget.
pub fn cut_off(limit: u32) -> u32 {
    ((f64::from(limit) * CUT_OFF_RATIO).floor() as u32).max(1)
}

/// The client-side budget for an account allowing `limit` requests per `window`.
pub fn budget(limit: u32, window: std::time::Duration) -> RateBudget {
    RateBudget::new(cut_off(limit), window)
}

/// `[rmm.datto]` in `hivematrix.toml`.
#[derive(Clone, Deserialize)]
#[serde(default)]
pub struct DattoConfig {
    /// Platform API URL, e.g. `https://merlot-api.centrastage.net`.
    pub url: String,
    pub api_key: String,
    pub api_secret: String,
    /// The site variable holding the company's account number (exact, case-sensitive).
    pub account_number_variable: String,
    /// The account's read budget per minute (Datto: 600).
    pub per_minute: u32,
}

impl Default for DattoConfig {
    fn default() -> Self {
        DattoConfig {
            url: "https://merlot-api.centrastage.net".into(),
            api_key: String::new(),
            api_secret: String::new(),
            account_number_variable: "AccountNumber".into(),
            per_minute: 600,
        }
    }
}

/// Secrets stay out of logs and panics.
impl std::fmt::Debug for DattoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DattoConfig")
            .field("url", &self.url)
            .field("api_key", &"<redacted>")
            .field("api_secret", &"<redacted>")
            .field("account_number_variable", &self.account_number_variable)
            .field("per_minute", &self.per_minute)
            .finish()
    }
}

/// Filters of `GET /v2/account/devices` (LIKE matches, done by Datto).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceFilter {
    pub hostname: Option<String>,
    /// Matches `deviceType.category` (Desktop, Server…).
    pub device_type: Option<String>,
    pub operating_system: Option<String>,
    pub site_name: Option<String>,
}

impl DeviceFilter {
    fn params(&self) -> Vec<(&'static str, String)> {
        [
            ("hostname", &self.hostname),
            ("deviceType", &self.device_type),
            ("operatingSystem", &self.operating_system),
            ("siteName", &self.site_name),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().filter(|v| !v.is_empty()).map(|v| (k, v)))
        .collect()
    }
}

/// A site variable (`{id, name, value, masked}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteVariable {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub masked: bool,
}

/// `GET /v2/system/request_rate` (`RateStatusResponse`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RequestRate {
    pub sliding_time_window_size_seconds: u64,
    pub account_count: u64,
    pub account_rate_limit: u64,
    pub account_cut_off_ratio: f64,
    pub account_write_rate_limit: u64,
    pub account_write_count: u64,
    pub operation_write_status: BTreeMap<String, OperationStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct OperationStatus {
    pub limit: u64,
    pub count: u64,
}

/// `GET /v2/account`, the parts worth showing an admin ("connected to …, N devices").
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DattoAccount {
    pub id: i64,
    pub uid: String,
    pub name: String,
    pub currency: Option<String>,
    pub devices_status: Option<BTreeMap<String, i64>>,
}

pub struct DattoClient {
    cfg: DattoConfig,
    base: Url,
    api: ApiClient,
    /// The cached bearer token; the lock is held while granting so concurrent callers
    /// wait for one grant instead of each making their own.
    token: tokio::sync::Mutex<Option<String>>,
}

/// What one authenticated attempt came to: the value, or a 401 (re-grant and retry).
enum Reply<T> {
    Ok(T),
    Unauthorized(String),
}

impl DattoClient {
    /// A client with the configured per-minute budget and the default retry policy.
    pub fn new(cfg: DattoConfig) -> ProviderResult<DattoClient> {
        let budget = Arc::new(budget(cfg.per_minute, std::time::Duration::from_secs(60)));
        let api = ApiClient::new(VENDOR, budget, RetryPolicy::default());
        DattoClient::with_api(cfg, api)
    }

    /// A client over a prepared [`ApiClient`] (a shared budget, a job's cancel flag,
    /// a test's short window and back-off).
    pub fn with_api(cfg: DattoConfig, api: ApiClient) -> ProviderResult<DattoClient> {
        let base = Url::parse(cfg.url.trim_end_matches('/'))
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| ProviderError::Rejected {
                vendor: VENDOR,
                what: "the configured URL".into(),
                detail: format!("{:?} is not an http(s) URL", cfg.url),
            })?;
        // Both halves of the key pair are needed for the token; an empty one would only
        // fail later, at the first sync.
        for (name, value) in [("api_key", &cfg.api_key), ("api_secret", &cfg.api_secret)] {
            if value.trim().is_empty() {
                return Err(ProviderError::Rejected {
                    vendor: VENDOR,
                    what: "the configuration".into(),
                    detail: format!("{name} is required"),
                });
            }
        }
        Ok(DattoClient {
            cfg,
            base,
            api,
            token: tokio::sync::Mutex::new(None),
        })
    }

    pub fn api(&self) -> &ApiClient {
        &self.api
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.api.stats.snapshot()
    }

    /// `{base}/api/v2/<segments…>`, each segment percent-encoded.
    fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("an http(s) URL has path segments")
            .pop_if_empty()
            .extend(["api", "v2"])
            .extend(segments);
        url
    }

    /// The cached token, granting one first if there is none.
    async fn token(&self) -> ProviderResult<String> {
        let mut slot = self.token.lock().await;
        if let Some(t) = slot.as_ref() {
            return Ok(t.clone());
        }
        let fresh = self.grant().await?;
        *slot = Some(fresh.clone());
        Ok(fresh)
    }

    /// Drops `stale` from the cache unless another caller already replaced it.
    async fn forget(&self, stale: &str) {
        let mut slot = self.token.lock().await;
        if slot.as_deref() == Some(stale) {
            *slot = None;
        }
    }

    /// `POST /auth/oauth/token` (password grant). Costs no read budget: Datto does not
    /// count it against the API's request rate.
    async fn grant(&self) -> ProviderResult<String> {
        #[derive(Deserialize)]
        struct Granted {
            access_token: String,
        }
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("an http(s) URL has path segments")
            .pop_if_empty()
            .extend(["auth", "oauth", "token"]);
        let form = [
            ("grant_type", "password"),
            ("username", self.cfg.api_key.as_str()),
            ("password", self.cfg.api_secret.as_str()),
        ];
        let granted: Granted = self
            .api
            .execute(
                0,
                |h| {
                    h.post(url.clone())
                        .basic_auth(OAUTH_CLIENT.0, Some(OAUTH_CLIENT.1))
                        .form(&form)
                },
                |resp| async move {
                    let status = resp.status();
                    if matches!(status, StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED) {
                        let body = resp.text().await.unwrap_or_default();
                        return Attempt::Fatal(ProviderError::Auth {
                            vendor: VENDOR,
                            detail: format!(
                                "the token grant was refused (HTTP {}): check the API key and secret; {}",
                                status.as_u16(),
                                snippet(&body)
                            ),
                        });
                    }
                    if status == StatusCode::FORBIDDEN {
                        let body = resp.text().await.unwrap_or_default();
                        return Attempt::Fatal(forbidden(&body));
                    }
                    standard_json(VENDOR, "the token grant", resp).await
                },
            )
            .await?;
        Ok(granted.access_token)
    }

    /// One authenticated call: a 401 drops the token, re-grants once and repeats the
    /// request; a second 401 is an auth failure. `want_body == false` ignores the body
    /// of a success (writes answer with an empty one).
    async fn call<T, B>(
        &self,
        cost: u32,
        what: &str,
        want_body: bool,
        build: B,
    ) -> ProviderResult<T>
    where
        T: DeserializeOwned,
        B: Fn(&reqwest::Client) -> RequestBuilder,
    {
        let mut regranted = false;
        loop {
            let token = self.token().await?;
            let reply = self
                .api
                .execute(
                    cost,
                    |h| build(h).bearer_auth(&token),
                    |resp| interpret::<T>(what, want_body, resp),
                )
                .await?;
            match reply {
                Reply::Ok(v) => return Ok(v),
                Reply::Unauthorized(detail) if !regranted => {
                    tracing::info!(vendor = VENDOR, %detail, "token refused; granting a new one");
                    self.forget(&token).await;
                    regranted = true;
                }
                Reply::Unauthorized(detail) => {
                    return Err(ProviderError::Auth {
                        vendor: VENDOR,
                        detail: format!("a freshly granted token was refused too: {detail}"),
                    })
                }
            }
        }
    }

    async fn get<T: DeserializeOwned>(&self, what: &str, url: Url) -> ProviderResult<T> {
        self.call(1, what, true, |h| h.get(url.clone())).await
    }

    async fn write(&self, what: &str, method: Method, url: Url, body: Value) -> ProviderResult<()> {
        self.call(1, what, false, |h| {
            h.request(method.clone(), url.clone()).json(&body)
        })
        .await
    }

    /// One page of a listing under `key`. The first page is `max=250&page=0` plus the
    /// filters; later ones follow the cursor (the server's `nextPageUrl`) with the
    /// filters put back, since Datto drops them from that URL.
    async fn list<R: DeserializeOwned>(
        &self,
        segments: &[&str],
        key: &str,
        filters: &[(&'static str, String)],
        cursor: Option<Cursor>,
    ) -> ProviderResult<(Vec<R>, Option<Cursor>)> {
        let endpoint = self.endpoint(segments);
        let url = match &cursor {
            None => with_params(
                endpoint,
                &[("max", PAGE_SIZE.to_string()), ("page", "0".into())],
            ),
            Some(c) => self.follow(&endpoint, &c.0)?,
        };
        let url = with_params(url, filters);
        let what = format!("the {key} listing");
        let mut body: Value = self.get(&what, url).await?;
        let next = body
            .pointer("/pageDetails/nextPageUrl")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| Cursor(s.to_string()));
        let items = match body.get_mut(key).map(Value::take) {
            Some(Value::Null) | None if next.is_none() && body.get("pageDetails").is_some() => {
                Vec::new()
            }
            Some(v) => serde_json::from_value(v).map_err(|e| rejected(&what, e.to_string()))?,
            None => return Err(rejected(&what, format!("the reply has no `{key}` array"))),
        };
        Ok((items, next))
    }

    /// The URL a cursor names. It is followed as given when it points at our configured
    /// host (the bearer token must never go elsewhere); otherwise only its `page` and
    /// `max` are taken, onto our own endpoint (a proxy that reports its inner host).
    fn follow(&self, endpoint: &Url, cursor: &str) -> ProviderResult<Url> {
        let next = Url::parse(cursor)
            .map_err(|e| rejected("a nextPageUrl", format!("{cursor:?}: {e}")))?;
        if next.origin() == self.base.origin() {
            return Ok(next);
        }
        let keep: Vec<(&'static str, String)> = next
            .query_pairs()
            .filter_map(|(k, v)| match k.as_ref() {
                "page" => Some(("page", v.into_owned())),
                "max" => Some(("max", v.into_owned())),
                _ => None,
            })
            .collect();
        Ok(with_params(endpoint.clone(), &keep))
    }

    /// `GET /v2/account`.
    pub async fn account(&self) -> ProviderResult<DattoAccount> {
        self.get("the account", self.endpoint(&["account"])).await
    }

    /// `GET /v2/system/request_rate`: the live budget as Datto counts it.
    pub async fn request_rate(&self) -> ProviderResult<RequestRate> {
        self.get(
            "the request rate",
            self.endpoint(&["system", "request_rate"]),
        )
        .await
    }

    /// Reads the account's live budget and folds it into ours (one request): a smaller
    /// account limit than configured wins, and what other integrations on the same
    /// account spent in the window is booked, so a sync sharing the account still
    /// stays under the cut-off. Datto sends no rate-limit headers; this is the only way.
    pub async fn calibrate(&self) -> ProviderResult<RequestRate> {
        let rate = self.request_rate().await?;
        let total = u32::try_from(rate.account_rate_limit)
            .ok()
            .filter(|t| *t > 0)
            .map(cut_off);
        let used = u32::try_from(rate.account_count).unwrap_or(u32::MAX);
        self.api
            .budget
            .observe(total, total.map(|t| t.saturating_sub(used)));
        Ok(rate)
    }

    /// `GET /v2/account/devices` with LIKE filters, one page per call.
    pub async fn account_devices(
        &self,
        filter: &DeviceFilter,
        cursor: Option<Cursor>,
    ) -> ProviderResult<Page<RmmDevice>> {
        let (items, next) = self
            .list::<DattoDevice>(&["account", "devices"], "devices", &filter.params(), cursor)
            .await?;
        Ok(Page {
            items: items.into_iter().map(DattoDevice::into_record).collect(),
            next,
        })
    }

    /// Every variable of the site (all pages).
    pub async fn site_variables(&self, site_uid: &str) -> ProviderResult<Vec<SiteVariable>> {
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let (items, next) = self
                .list::<SiteVariable>(&["site", site_uid, "variables"], "variables", &[], cursor)
                .await?;
            all.extend(items);
            match next {
                Some(n) => cursor = Some(n),
                None => return Ok(all),
            }
        }
    }

    fn account_variable<'a>(&self, vars: &'a [SiteVariable]) -> Option<&'a SiteVariable> {
        vars.iter()
            .find(|v| v.name == self.cfg.account_number_variable)
    }

    /// `POST /v2/device/{uid}/udf`: sets the given UDFs (`None` clears one).
    pub async fn set_device_udfs(
        &self,
        device_uid: &str,
        udfs: &BTreeMap<String, Option<String>>,
    ) -> ProviderResult<()> {
        let body =
            serde_json::to_value(udfs).map_err(|e| rejected("the UDF body", e.to_string()))?;
        let url = self.endpoint(&["device", device_uid, "udf"]);
        self.write("the UDF write", Method::POST, url, body).await
    }

    async fn create_variable(&self, site_uid: &str, value: &str) -> ProviderResult<()> {
        let url = self.endpoint(&["site", site_uid, "variable"]);
        let body = serde_json::json!({
            "name": self.cfg.account_number_variable,
            "value": value,
            "masked": false,
        });
        self.write("the site variable create", Method::PUT, url, body)
            .await
    }

    async fn update_variable(&self, site_uid: &str, id: i64, value: &str) -> ProviderResult<()> {
        let url = self.endpoint(&["site", site_uid, "variable", &id.to_string()]);
        let body = serde_json::json!({"name": self.cfg.account_number_variable, "value": value});
        self.write("the site variable update", Method::POST, url, body)
            .await
    }
}

#[async_trait]
impl RmmProvider for DattoClient {
    fn request_stats(&self) -> Option<Arc<super::http::RequestStats>> {
        Some(self.api.stats.clone())
    }

    fn lists_all_devices(&self) -> bool {
        true
    }

    /// `GET /v2/account/devices`, unfiltered: every device carries its `siteUid`.
    async fn all_devices(&self, cursor: Option<Cursor>) -> ProviderResult<Page<RmmDevice>> {
        self.account_devices(&DeviceFilter::default(), cursor).await
    }

    fn source(&self) -> &'static str {
        VENDOR
    }

    async fn sites(&self, cursor: Option<Cursor>) -> ProviderResult<Page<RmmSite>> {
        let (items, next) = self
            .list::<DattoSite>(&["account", "sites"], "sites", &[], cursor)
            .await?;
        Ok(Page {
            items: items.into_iter().map(DattoSite::into_record).collect(),
            next,
        })
    }

    async fn site_account_number(&self, site_uid: &str) -> ProviderResult<Option<String>> {
        let vars = self.site_variables(site_uid).await?;
        // A masked variable's value is not readable over the API.
        Ok(self
            .account_variable(&vars)
            .filter(|v| !v.masked)
            .and_then(|v| v.value.clone())
            .filter(|v| !v.trim().is_empty()))
    }

    /// Creates the variable when absent, updates it when it holds another value, and
    /// makes no call when it already holds `account`.
    async fn set_site_account_number(&self, site_uid: &str, account: &str) -> ProviderResult<()> {
        let vars = self.site_variables(site_uid).await?;
        match self.account_variable(&vars) {
            Some(v) if v.value.as_deref() == Some(account) => Ok(()),
            Some(v) => self.update_variable(site_uid, v.id, account).await,
            None => match self.create_variable(site_uid, account).await {
                Ok(()) => Ok(()),
                // A create whose reply was lost and retried answers "already exists";
                // so does a variable someone added meanwhile. Look again and settle it.
                Err(ProviderError::Rejected { .. }) => {
                    let vars = self.site_variables(site_uid).await?;
                    match self.account_variable(&vars) {
                        Some(v) if v.value.as_deref() == Some(account) => Ok(()),
                        Some(v) => self.update_variable(site_uid, v.id, account).await,
                        None => self.create_variable(site_uid, account).await,
                    }
                }
                Err(e) => Err(e),
            },
        }
    }

    async fn site_devices(
        &self,
        site_uid: &str,
        cursor: Option<Cursor>,
    ) -> ProviderResult<Page<RmmDevice>> {
        let (items, next) = self
            .list::<DattoDevice>(&["site", site_uid, "devices"], "devices", &[], cursor)
            .await?;
        Ok(Page {
            items: items.into_iter().map(DattoDevice::into_record).collect(),
            next,
        })
    }
}

/// Judges one authenticated response: 401 → re-grant, 403 → final (with which one it
/// probably was), success without a wanted body → done, the rest by the shared rules.
async fn interpret<T: DeserializeOwned>(
    what: &str,
    want_body: bool,
    resp: Response,
) -> Attempt<Reply<T>> {
    let status = resp.status();
    if status == StatusCode::UNAUTHORIZED {
        let body = resp.text().await.unwrap_or_default();
        return Attempt::Done(Reply::Unauthorized(format!("HTTP 401 {}", snippet(&body))));
    }
    if status == StatusCode::FORBIDDEN {
        let body = resp.text().await.unwrap_or_default();
        return Attempt::Fatal(forbidden(&body));
    }
    if status.is_success() && !want_body {
        return match serde_json::from_value::<T>(Value::Null) {
            Ok(v) => Attempt::Done(Reply::Ok(v)),
            Err(e) => Attempt::Fatal(rejected(what, e.to_string())),
        };
    }
    match standard_json::<T>(VENDOR, what, resp).await {
        Attempt::Done(v) => Attempt::Done(Reply::Ok(v)),
        Attempt::Throttled(d) => Attempt::Throttled(d),
        Attempt::Transient(s) => Attempt::Transient(s),
        Attempt::Fatal(e) => Attempt::Fatal(e),
    }
}

/// Datto answers both a missing permission and a temporary IP block (after persistent
/// rate breaches) with 403; the body tells them apart when it mentions the block.
fn forbidden(body: &str) -> ProviderError {
    let lower = body.to_lowercase();
    let detail = if lower.contains("block") {
        format!(
            "HTTP 403: Datto has temporarily blocked this IP address after repeated rate-limit \
             breaches; not retried (retries extend the block), try again later. {}",
            snippet(body)
        )
    } else {
        format!(
            "HTTP 403: permission denied for this API user (or a temporary IP block, which \
             Datto reports with the same status); not retried. {}",
            snippet(body)
        )
    };
    ProviderError::Auth {
        vendor: VENDOR,
        detail,
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

/// `url` with each `(key, value)` set, replacing any value the URL already had.
fn with_params(mut url: Url, params: &[(&'static str, String)]) -> Url {
    if params.is_empty() {
        return url;
    }
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !params.iter().any(|(p, _)| p == k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
    url
}

/// Datto timestamps: epoch milliseconds in practice, RFC 3339 where the spec's
/// `date-time` is honoured; anything else is treated as absent.
fn timestamp(v: &Option<Value>) -> Option<DateTime<Utc>> {
    match v.as_ref()? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .and_then(DateTime::from_timestamp_millis),
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_millis)
            .or_else(|| {
                DateTime::parse_from_rfc3339(s.trim())
                    .ok()
                    .map(|t| t.with_timezone(&Utc))
            }),
        _ => None,
    }
}

fn text(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

/// Every non-empty `udfN` (1 ≤ N ≤ 300); numbers are kept as their text.
fn udfs(raw: BTreeMap<String, Value>) -> BTreeMap<String, String> {
    raw.into_iter()
        .filter(|(k, _)| {
            k.strip_prefix("udf")
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| (1..=300).contains(&n))
        })
        .filter_map(|(k, v)| {
            let s = match v {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return None,
            };
            (!s.is_empty()).then_some((k, s))
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DattoSite {
    uid: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    portal_url: Option<String>,
}

impl DattoSite {
    fn into_record(self) -> RmmSite {
        RmmSite {
            uid: self.uid,
            name: self.name.unwrap_or_default(),
            description: text(self.description),
            portal_url: text(self.portal_url),
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct DeviceType {
    category: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Antivirus {
    antivirus_product: Option<String>,
    antivirus_status: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct PatchManagement {
    patch_status: Option<String>,
}

/// DATTO-OAS `Device`, the fields we keep.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct DattoDevice {
    uid: String,
    site_uid: String,
    site_name: Option<String>,
    device_type: Option<DeviceType>,
    hostname: Option<String>,
    int_ip_address: Option<String>,
    ext_ip_address: Option<String>,
    operating_system: Option<String>,
    last_logged_in_user: Option<String>,
    domain: Option<String>,
    description: Option<String>,
    online: Option<bool>,
    last_seen: Option<Value>,
    last_reboot: Option<Value>,
    last_audit_date: Option<Value>,
    udf: Option<BTreeMap<String, Value>>,
    antivirus: Option<Antivirus>,
    patch_management: Option<PatchManagement>,
    portal_url: Option<String>,
    web_remote_url: Option<String>,
    warranty_date: Option<String>,
}

impl DattoDevice {
    fn into_record(self) -> RmmDevice {
        let kind = self.device_type.unwrap_or_default();
        let av = self.antivirus.unwrap_or_default();
        RmmDevice {
            uid: self.uid,
            site_uid: self.site_uid,
            site_name: text(self.site_name),
            hostname: self.hostname.unwrap_or_default(),
            description: text(self.description),
            category: text(kind.category),
            device_type: text(kind.kind),
            operating_system: text(self.operating_system),
            // Manufacturer, model and serial live in the audit endpoint, one call per
            // device; the listing does not carry them.
            manufacturer: None,
            model: None,
            serial_number: None,
            int_ip_address: text(self.int_ip_address),
            ext_ip_address: text(self.ext_ip_address),
            domain: text(self.domain),
            last_logged_in_user: text(self.last_logged_in_user),
            online: self.online.unwrap_or(false),
            last_seen: timestamp(&self.last_seen),
            last_reboot: timestamp(&self.last_reboot),
            last_audit_date: timestamp(&self.last_audit_date),
            antivirus_product: text(av.antivirus_product),
            antivirus_status: text(av.antivirus_status),
            patch_status: text(self.patch_management.and_then(|p| p.patch_status)),
            portal_url: text(self.portal_url),
            web_remote_url: text(self.web_remote_url),
            warranty_date: text(self.warranty_date),
            udfs: udfs(self.udf.unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_dropped_from_next_page_urls_are_put_back() {
        let next = Url::parse("https://x.example/api/v2/account/devices?max=250&page=1").unwrap();
        let url = with_params(
            next,
            &[("hostname", "WS".into()), ("siteName", "A&B".into())],
        );
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            [
                ("max", "250"),
                ("page", "1"),
                ("hostname", "WS"),
                ("siteName", "A&B")
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        // A value the server kept is replaced, not duplicated.
        let url = with_params(url, &[("hostname", "SRV".into())]);
        assert_eq!(
            url.query_pairs().filter(|(k, _)| k == "hostname").count(),
            1
        );
        assert!(url.as_str().ends_with("hostname=SRV"));
    }

    #[test]
    fn cursors_to_another_host_keep_only_page_and_max() {
        let c = DattoClient::new(DattoConfig {
            url: "https://api.example/prefix".into(),
            api_key: "k".into(),
            api_secret: "s".into(),
            ..DattoConfig::default()
        })
        .unwrap();
        let endpoint = c.endpoint(&["site", "a b", "devices"]);
        assert_eq!(
            endpoint.as_str(),
            "https://api.example/prefix/api/v2/site/a%20b/devices"
        );
        let same = c
            .follow(
                &endpoint,
                "https://api.example/prefix/api/v2/site/x/devices?max=250&page=2",
            )
            .unwrap();
        assert_eq!(same.query(), Some("max=250&page=2"));
        let other = c
            .follow(
                &endpoint,
                "https://evil.example/steal?page=3&max=250&token=1",
            )
            .unwrap();
        assert_eq!(other.host_str(), Some("api.example"));
        assert_eq!(other.query(), Some("page=3&max=250"));
        assert!(c.follow(&endpoint, "not a url").is_err());
    }

    #[test]
    fn devices_map_epoch_milliseconds_and_every_udf() {
        let raw = json!({
            "uid": "d1", "siteUid": "s1", "siteName": "Alder", "hostname": "ALDER-WS1",
            "deviceType": {"category": "Desktop", "type": "physical"},
            "lastSeen": 1735689600000i64, "lastReboot": "1735689600123",
            "lastAuditDate": "2025-01-01T00:00:00Z", "description": "",
            "udf": {"udf1": "a", "udf2": null, "udf3": "", "udf150": "b", "udf300": 7, "udf301": "x"},
            "antivirus": {"antivirusProduct": "Datto EDR", "antivirusStatus": "NotRunning"},
            "patchManagement": {"patchStatus": "FullyPatched"},
            "online": true
        });
        let d: DattoDevice = serde_json::from_value(raw).unwrap();
        let r = d.into_record();
        let at = DateTime::from_timestamp_millis(1_735_689_600_000).unwrap();
        assert_eq!(r.last_seen, Some(at));
        assert_eq!(
            r.last_reboot,
            DateTime::from_timestamp_millis(1_735_689_600_123)
        );
        assert_eq!(r.last_audit_date, Some(at));
        assert_eq!(r.description, None);
        assert_eq!(r.category.as_deref(), Some("Desktop"));
        assert_eq!(r.device_type.as_deref(), Some("physical"));
        assert_eq!(r.patch_status.as_deref(), Some("FullyPatched"));
        assert_eq!(r.antivirus_status.as_deref(), Some("NotRunning"));
        let keys: Vec<&str> = r.udfs.keys().map(String::as_str).collect();
        assert_eq!(keys, ["udf1", "udf150", "udf300"]);
        assert_eq!(r.udfs["udf300"], "7");
    }

    #[test]
    fn a_403_says_whether_it_was_an_ip_block() {
        let block = forbidden(r#"{"message":"your IP address is temporarily blocked"}"#);
        assert!(
            block.to_string().contains("blocked this IP address"),
            "{block}"
        );
        let perm = forbidden(r#"{"message":"Access is denied"}"#);
        assert!(perm.to_string().contains("permission denied"), "{perm}");
    }

    #[test]
    fn a_key_pair_with_an_empty_half_is_refused() {
        let cfg = |key: &str, secret: &str| DattoConfig {
            api_key: key.into(),
            api_secret: secret.into(),
            ..DattoConfig::default()
        };
        let err = DattoClient::new(cfg("k", " ")).err().unwrap();
        assert!(err.to_string().contains("api_secret is required"), "{err}");
        let err = DattoClient::new(cfg("", "s")).err().unwrap();
        assert!(err.to_string().contains("api_key is required"), "{err}");
        assert!(DattoClient::new(cfg("k", "s")).is_ok());
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let cfg = DattoConfig {
            api_key: "KEY123".into(),
            api_secret: "SECRET456".into(),
            ..DattoConfig::default()
        };
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("KEY123") && !shown.contains("SECRET456"));
    }
}
