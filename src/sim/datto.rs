//! The simulated Datto RMM API v2 (`vendor-apis.md` §1b), mounted at `/datto`: a client
//! configured with base URL `http://ADDR/datto` talks to it exactly as to
//! `https://merlot-api.centrastage.net`.
//!
//! It behaves like the vendor so that client mistakes fail tests: OAuth2 password grant
//! with Datto's fixed public client; bearer tokens that die when the `expire_tokens`
//! fault bumps [`Sim::token_epoch`]; 0-based `page` with `max` ≤ 250 (more is a 400);
//! `pageDetails.nextPageUrl` that is absolute and keeps only `max` and `page` (filters
//! are dropped, as Datto drops them); a sliding read budget ([`Sim::datto_limit`]) with
//! a 1/60-of-the-window delay on every reply above 90 % of it, 429 + `Retry-After` past
//! it, and a 403 "IP block" for the rest of the window when a caller keeps breaching;
//! per-operation write ceilings; and `/system/request_rate` reporting all of it.

use super::dataset::{Dataset, SimDevice, SimSite, SimVariable};
use super::limiter::ServerLimiter;
use super::{faults, lock, Sim};
use axum::body::Body;
use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Form, Json, Router};
use rand::Rng;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Datto's documented page-size default and ceiling (`/v2/system/pagination`).
pub const MAX_PAGE: usize = 250;
/// The portal host the simulated account lives on (links only; never called).
pub const PORTAL: &str = "https://merlot.centrastage.net";
/// `Basic base64("public-client:public")`: Datto's fixed OAuth client.
const PUBLIC_CLIENT_BASIC: &str = "cHVibGljLWNsaWVudDpwdWJsaWM=";
/// More refused requests than this inside one window and the caller is blocked (403)
/// for a whole window, as Datto blocks an IP that keeps breaching.
pub const BLOCK_AFTER_REFUSALS: usize = 10;
/// Above this share of the read budget every reply is delayed (Datto: 1 s of 60).
const CUT_OFF_RATIO: f64 = 0.9;
/// Write operations with their own ceilings, as `operationWriteStatus` names them.
pub const OP_VARIABLE_CREATE: &str = "site-variable-create";
pub const OP_VARIABLE_UPDATE: &str = "site-variable-update";
pub const OP_UDF_SET: &str = "device-udf-set";
/// Highest user-defined field a device can carry (platform build 201).
pub const MAX_UDF: u32 = 300;

/// Timestamps of accepted requests inside the window (what `request_rate` counts).
struct Usage {
    window: Duration,
    log: Mutex<VecDeque<Instant>>,
}

impl Usage {
    fn new(window: Duration) -> Usage {
        Usage {
            window,
            log: Mutex::new(VecDeque::new()),
        }
    }

    fn prune(&self, log: &mut VecDeque<Instant>, now: Instant) {
        while log
            .front()
            .is_some_and(|at| now.duration_since(*at) >= self.window)
        {
            log.pop_front();
        }
    }

    /// Records one event and returns how many the window now holds.
    fn record(&self) -> usize {
        let now = Instant::now();
        let mut log = lock(&self.log);
        self.prune(&mut log, now);
        log.push_back(now);
        log.len()
    }

    fn count(&self) -> usize {
        let mut log = lock(&self.log);
        self.prune(&mut log, Instant::now());
        log.len()
    }
}

/// A budget with its usage, for the write limits this module owns.
struct Limited {
    limiter: ServerLimiter,
    usage: Usage,
}

impl Limited {
    fn new(limit: u32, window: Duration) -> Limited {
        Limited {
            limiter: ServerLimiter::sliding(limit.max(1), window),
            usage: Usage::new(window),
        }
    }

    fn take(&self) -> Result<(), Duration> {
        self.limiter.take(1)?;
        self.usage.record();
        Ok(())
    }
}

/// What the Datto simulator keeps beyond the shared [`Sim`]: tokens, usage, blocks.
struct DattoState {
    /// Issued access tokens and the epoch they were issued under.
    tokens: Mutex<HashMap<String, u64>>,
    reads: Usage,
    refusals: Usage,
    blocked_until: Mutex<Option<Instant>>,
    writes: Limited,
    ops: BTreeMap<&'static str, Limited>,
}

impl DattoState {
    fn new(sim: &Sim) -> DattoState {
        let window = sim.config.limits.window;
        let per_window = sim.config.limits.datto_per_minute;
        // Datto's per-operation ceilings are 100 of a 600 window (udf-set: 600); they
        // scale with the configured budget so benchmarks keep the same proportions.
        let op_limit = (per_window / 6).max(1);
        let ops = [
            (OP_VARIABLE_CREATE, op_limit),
            (OP_VARIABLE_UPDATE, op_limit),
            (OP_UDF_SET, per_window),
        ]
        .into_iter()
        .map(|(op, limit)| (op, Limited::new(limit, window)))
        .collect();
        DattoState {
            tokens: Mutex::new(HashMap::new()),
            reads: Usage::new(window),
            refusals: Usage::new(window),
            blocked_until: Mutex::new(None),
            writes: Limited::new(per_window, window),
            ops,
        }
    }
}

/// An early answer (error) from a helper; boxed because a `Response` is large.
type Refusal = Box<Response>;

#[derive(Clone)]
struct Ctx {
    sim: Arc<Sim>,
    st: Arc<DattoState>,
}

pub fn routes(sim: Arc<Sim>) -> Router<Arc<Sim>> {
    let ctx = Ctx {
        st: Arc::new(DattoState::new(&sim)),
        sim: sim.clone(),
    };
    Router::new()
        .route("/auth/oauth/token", post(token))
        .route("/api/v2/account", get(account))
        .route("/api/v2/account/sites", get(account_sites))
        .route("/api/v2/account/devices", get(account_devices))
        .route("/api/v2/site/{uid}", get(site))
        .route("/api/v2/site/{uid}/variables", get(site_variables))
        .route("/api/v2/site/{uid}/variable", put(create_variable))
        .route("/api/v2/site/{uid}/variable/{id}", post(update_variable))
        .route("/api/v2/site/{uid}/devices", get(site_devices))
        .route("/api/v2/device/{uid}", get(device))
        .route("/api/v2/device/{uid}/udf", post(set_udfs))
        .route("/api/v2/system/request_rate", get(request_rate))
        .route("/api/v2/system/pagination", get(pagination))
        .with_state(ctx)
        .layer(axum::middleware::from_fn_with_state(sim, faults::inject))
}

/// Links the simulated portal renders for a device (the client maps them verbatim).
pub fn device_portal_url(d: &SimDevice) -> String {
    format!("{PORTAL}/csm/search?qs=uid%3A{}", d.uid)
}

pub fn device_web_remote_url(d: &SimDevice) -> String {
    format!("{PORTAL}/csm/remote/rto/{}", d.uid)
}

pub fn site_portal_url(s: &SimSite) -> String {
    format!("{PORTAL}/csm/profile/site/{}", s.id)
}

/// Datto's `deviceClass` for the dataset's categories.
pub fn device_class(d: &SimDevice) -> &'static str {
    match d.category.as_str() {
        "ESXi Host" => "esxihost",
        "Network Device" => "rmmnetworkdevice",
        _ => "device",
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "code": status.as_u16(), "message": message.into() })),
    )
        .into_response()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

fn random_hex(bytes: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.gen::<u8>()))
        .collect()
}

/// `POST /auth/oauth/token`: the password grant with the API key and secret.
async fn token(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    ctx.sim.stats.count("datto POST /auth/oauth/token");
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, cred)| cred.trim());
    if basic != Some(PUBLIC_CLIENT_BASIC) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Full authentication is required to access this resource",
        );
    }
    let Ok(Form(form)) = form else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "a form-encoded body is required",
        );
    };
    if form.get("grant_type").map(String::as_str) != Some("password") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Unsupported grant type",
        );
    }
    let creds = &ctx.sim.config.credentials;
    if form.get("username") != Some(&creds.datto_api_key)
        || form.get("password") != Some(&creds.datto_api_secret)
    {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_grant", "Bad credentials");
    }
    let access = random_hex(20);
    let epoch = ctx.sim.token_epoch.load(Ordering::SeqCst);
    lock(&ctx.st.tokens).insert(access.clone(), epoch);
    Json(json!({
        "access_token": access,
        "token_type": "bearer",
        "expires_in": 360000,
        "scope": "default",
        "jti": random_hex(16),
    }))
    .into_response()
}

/// Which budget a request spends from.
#[derive(Clone, Copy)]
enum Spend {
    Read,
    Write(&'static str),
}

/// The checks in front of every `/api/v2` handler: count, IP block, bearer token,
/// budget (429 past it, a block after persistent breaching), cut-off delay.
async fn gate(ctx: &Ctx, headers: &HeaderMap, route: &str, spend: Spend) -> Result<(), Refusal> {
    ctx.sim.stats.count(&format!("datto {route}"));
    if lock(&ctx.st.blocked_until).is_some_and(|until| Instant::now() < until) {
        return Err(Box::new(error(
            StatusCode::FORBIDDEN,
            "Access denied: your IP address is temporarily blocked after repeatedly exceeding the request rate limit",
        )));
    }
    check_bearer(ctx, headers)?;
    let window = ctx.sim.config.limits.window;
    let taken = match spend {
        Spend::Read => ctx.sim.datto_limit.take(1).map(|accepted| {
            ctx.st.reads.record();
            f64::from(accepted.total - accepted.remaining) / f64::from(accepted.total)
        }),
        Spend::Write(op) => take_write(&ctx.st, op),
    };
    match taken {
        Ok(share) => {
            if share > CUT_OFF_RATIO {
                tokio::time::sleep(window / 60).await;
            }
            Ok(())
        }
        Err(wait) => Err(Box::new(refuse(ctx, wait))),
    }
}

fn check_bearer(ctx: &Ctx, headers: &HeaderMap) -> Result<(), Refusal> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    let Some(token) = token else {
        return Err(Box::new(oauth_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Full authentication is required to access this resource",
        )));
    };
    let epoch = ctx.sim.token_epoch.load(Ordering::SeqCst);
    match lock(&ctx.st.tokens).get(&token) {
        Some(issued) if *issued == epoch => Ok(()),
        Some(_) => Err(Box::new(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "Access token expired",
        ))),
        None => Err(Box::new(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "Invalid access token",
        ))),
    }
}

/// A write spends from its operation's ceiling and from the account's write budget.
fn take_write(st: &DattoState, op: &'static str) -> Result<f64, Duration> {
    if let Some(limited) = st.ops.get(op) {
        limited.take()?;
    }
    st.writes.take()?;
    let total = st.writes.limiter.limit().max(1);
    Ok(st.writes.usage.count() as f64 / f64::from(total))
}

fn refuse(ctx: &Ctx, wait: Duration) -> Response {
    ctx.sim.stats.throttled.fetch_add(1, Ordering::Relaxed);
    if ctx.st.refusals.record() > BLOCK_AFTER_REFUSALS {
        *lock(&ctx.st.blocked_until) = Some(Instant::now() + ctx.sim.config.limits.window);
    }
    let mut resp = error(
        StatusCode::TOO_MANY_REQUESTS,
        "Request rate limit exceeded, please retry later",
    );
    resp.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(wait.as_secs().max(1)),
    );
    resp
}

/// `page` (0-based) and `max` (1..=250) from the query, or Datto's 400.
fn paging(q: &HashMap<String, String>) -> Result<(usize, usize), Refusal> {
    let page = match q.get("page") {
        None => 0,
        Some(p) => p
            .parse::<usize>()
            .map_err(|_| Box::new(error(StatusCode::BAD_REQUEST, format!("Invalid page: {p}"))))?,
    };
    let max = match q.get("max") {
        None => MAX_PAGE,
        Some(m) => match m.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                return Err(Box::new(error(
                    StatusCode::BAD_REQUEST,
                    format!("Invalid max: {m}; the page size must be between 1 and {MAX_PAGE}"),
                )))
            }
        },
    };
    Ok((page, max))
}

/// The absolute URL of another page of this listing: only `max` and `page`, as Datto.
fn page_url(uri: &OriginalUri, headers: &HeaderMap, max: usize, page: usize) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}{}?max={max}&page={page}", uri.0.path())
}

/// One page of `items` in Datto's envelope under `key`.
fn envelope(
    uri: &OriginalUri,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    key: &str,
    items: Vec<Value>,
) -> Response {
    let (page, max) = match paging(q) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let total = items.len();
    let start = page.saturating_mul(max).min(total);
    let chunk: Vec<Value> = items.into_iter().skip(start).take(max).collect();
    let next = (start + chunk.len() < total).then(|| page_url(uri, headers, max, page + 1));
    let prev = (page > 0).then(|| page_url(uri, headers, max, page - 1));
    let mut body = Map::new();
    body.insert(
        "pageDetails".into(),
        json!({"count": chunk.len(), "totalCount": total, "prevPageUrl": prev, "nextPageUrl": next}),
    );
    body.insert(key.into(), Value::Array(chunk));
    Json(Value::Object(body)).into_response()
}

/// Datto's LIKE filters: case-insensitive, `%` as wildcard, a plain term matches anywhere.
pub fn like(value: &str, pattern: &str) -> bool {
    let value = value.to_lowercase();
    let pattern = pattern.to_lowercase();
    if !pattern.contains('%') {
        return value.contains(&pattern);
    }
    let parts: Vec<&str> = pattern.split('%').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !value.starts_with(first) || !value.ends_with(last) || value.len() < first.len() + last.len()
    {
        return false;
    }
    let mut rest = &value[first.len()..value.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

fn filter_matches(q: &HashMap<String, String>, key: &str, value: &str) -> bool {
    q.get(key)
        .filter(|p| !p.is_empty())
        .is_none_or(|p| like(value, p))
}

fn epoch_ms(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

/// A device as DATTO-OAS `Device` (timestamps as epoch milliseconds, as the live API).
fn render_device(d: &SimDevice, site: Option<&SimSite>) -> Value {
    let mut udf = Map::new();
    for n in 1..=30 {
        udf.insert(format!("udf{n}"), Value::Null);
    }
    for (k, v) in &d.udfs {
        udf.insert(k.clone(), json!(v));
    }
    let pending = d.id % 7;
    json!({
        "id": d.id,
        "uid": d.uid,
        "siteId": site.map(|s| s.id),
        "siteUid": d.site_uid,
        "siteName": site.map(|s| s.name.clone()),
        "deviceType": {"category": d.category, "type": d.device_type},
        "hostname": d.hostname,
        "intIpAddress": d.int_ip_address,
        "extIpAddress": d.ext_ip_address,
        "operatingSystem": d.operating_system,
        "lastLoggedInUser": d.last_logged_in_user,
        "domain": d.domain,
        "cagVersion": "4.4.2200.2200",
        "displayVersion": "4.4.2200",
        "description": d.description,
        "a64Bit": true,
        "rebootRequired": d.patch_status == "RebootRequired",
        "online": d.online,
        "suspended": false,
        "deleted": d.deleted,
        "lastSeen": epoch_ms(d.last_seen),
        "lastReboot": epoch_ms(d.last_reboot),
        "lastAuditDate": epoch_ms(d.last_audit_date),
        "creationDate": epoch_ms(d.creation_date),
        "udf": udf,
        "snmpEnabled": d.category == "Network Device",
        "deviceClass": device_class(d),
        "portalUrl": device_portal_url(d),
        "webRemoteUrl": device_web_remote_url(d),
        "warrantyDate": d.warranty_date,
        "antivirus": {"antivirusProduct": d.antivirus_product, "antivirusStatus": d.antivirus_status},
        "patchManagement": {
            "patchStatus": d.patch_status,
            "patchesApprovedPending": if d.patch_status == "ApprovedPending" { pending + 1 } else { 0 },
            "patchesNotApproved": pending,
            "patchesInstalled": 40 + d.id % 60,
        },
        "softwareStatus": "Compliant",
    })
}

fn device_counts<'a>(devices: impl Iterator<Item = &'a SimDevice>) -> (usize, usize) {
    devices
        .filter(|d| !d.deleted)
        .fold((0, 0), |(all, online), d| {
            (all + 1, online + usize::from(d.online))
        })
}

fn render_site(data: &Dataset, s: &SimSite) -> Value {
    let (all, online) = device_counts(data.devices.iter().filter(|d| d.site_uid == s.uid));
    json!({
        "id": s.id,
        "uid": s.uid,
        "accountUid": account_uid(),
        "name": s.name,
        "description": s.description,
        "notes": Value::Null,
        "onDemand": false,
        "splashtopAutoInstall": false,
        "devicesStatus": {
            "numberOfDevices": all,
            "numberOfOnlineDevices": online,
            "numberOfOfflineDevices": all - online,
        },
        "autotaskCompanyName": Value::Null,
        "autotaskCompanyId": Value::Null,
        "portalUrl": site_portal_url(s),
    })
}

fn render_variable(v: &SimVariable) -> Value {
    // Masked variables never show their value over the API.
    let value = if v.masked {
        json!("*****")
    } else {
        json!(v.value)
    };
    json!({"id": v.id, "name": v.name, "value": value, "masked": v.masked})
}

fn account_uid() -> &'static str {
    "sim-account-0001"
}

async fn account(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    if let Err(r) = gate(&ctx, &headers, "GET /api/v2/account", Spend::Read).await {
        return *r;
    }
    let data = ctx.sim.data();
    let (all, online) = device_counts(data.devices.iter());
    Json(json!({
        "id": 1,
        "uid": account_uid(),
        "name": "Simulated MSP",
        "currency": "USD",
        "descriptor": {"billingEmail": "billing@msp.example", "deviceLimit": 5000, "timeZone": "UTC"},
        "devicesStatus": {
            "numberOfDevices": all,
            "numberOfOnlineDevices": online,
            "numberOfOfflineDevices": all - online,
            "numberOfOnDemandDevices": 0,
            "numberOfManagedDevices": all,
        },
    }))
    .into_response()
}

async fn account_sites(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    uri: OriginalUri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = gate(&ctx, &headers, "GET /api/v2/account/sites", Spend::Read).await {
        return *r;
    }
    let items = {
        let data = ctx.sim.data();
        data.sites
            .iter()
            .filter(|s| filter_matches(&q, "siteName", &s.name))
            .map(|s| render_site(&data, s))
            .collect()
    };
    envelope(&uri, &headers, &q, "sites", items)
}

async fn site(State(ctx): State<Ctx>, headers: HeaderMap, Path(uid): Path<String>) -> Response {
    if let Err(r) = gate(&ctx, &headers, "GET /api/v2/site/{uid}", Spend::Read).await {
        return *r;
    }
    let data = ctx.sim.data();
    match data.sites.iter().find(|s| s.uid == uid) {
        Some(s) => Json(render_site(&data, s)).into_response(),
        None => site_not_found(&uid),
    }
}

fn site_not_found(uid: &str) -> Response {
    error(StatusCode::NOT_FOUND, format!("Site {uid} not found"))
}

async fn site_variables(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    uri: OriginalUri,
    Path(uid): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = gate(
        &ctx,
        &headers,
        "GET /api/v2/site/{uid}/variables",
        Spend::Read,
    )
    .await
    {
        return *r;
    }
    let items = {
        let data = ctx.sim.data();
        match data.sites.iter().find(|s| s.uid == uid) {
            Some(s) => s.variables.iter().map(render_variable).collect(),
            None => return site_not_found(&uid),
        }
    };
    envelope(&uri, &headers, &q, "variables", items)
}

async fn site_devices(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    uri: OriginalUri,
    Path(uid): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = gate(
        &ctx,
        &headers,
        "GET /api/v2/site/{uid}/devices",
        Spend::Read,
    )
    .await
    {
        return *r;
    }
    // `filterId` names a device filter defined in the portal; the simulator has none,
    // so it is accepted and ignored.
    let items = {
        let data = ctx.sim.data();
        let Some(site) = data.sites.iter().find(|s| s.uid == uid) else {
            return site_not_found(&uid);
        };
        data.devices
            .iter()
            .filter(|d| d.site_uid == uid && !d.deleted)
            .map(|d| render_device(d, Some(site)))
            .collect()
    };
    envelope(&uri, &headers, &q, "devices", items)
}

async fn account_devices(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    uri: OriginalUri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = gate(&ctx, &headers, "GET /api/v2/account/devices", Spend::Read).await {
        return *r;
    }
    let items = {
        let data = ctx.sim.data();
        let sites: HashMap<&str, &SimSite> =
            data.sites.iter().map(|s| (s.uid.as_str(), s)).collect();
        data.devices
            .iter()
            .filter(|d| !d.deleted)
            .filter(|d| {
                let site_name = sites.get(d.site_uid.as_str()).map_or("", |s| &s.name);
                filter_matches(&q, "hostname", &d.hostname)
                    && filter_matches(&q, "deviceType", &d.category)
                    && filter_matches(&q, "operatingSystem", &d.operating_system)
                    && filter_matches(&q, "siteName", site_name)
            })
            .map(|d| render_device(d, sites.get(d.site_uid.as_str()).copied()))
            .collect()
    };
    envelope(&uri, &headers, &q, "devices", items)
}

async fn device(State(ctx): State<Ctx>, headers: HeaderMap, Path(uid): Path<String>) -> Response {
    if let Err(r) = gate(&ctx, &headers, "GET /api/v2/device/{uid}", Spend::Read).await {
        return *r;
    }
    let data = ctx.sim.data();
    match data.devices.iter().find(|d| d.uid == uid) {
        Some(d) => {
            let site = data.sites.iter().find(|s| s.uid == d.site_uid);
            Json(render_device(d, site)).into_response()
        }
        None => error(StatusCode::NOT_FOUND, format!("Device {uid} not found")),
    }
}

async fn request_rate(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    if let Err(r) = gate(
        &ctx,
        &headers,
        "GET /api/v2/system/request_rate",
        Spend::Read,
    )
    .await
    {
        return *r;
    }
    let st = &ctx.st;
    let ops: Map<String, Value> = st
        .ops
        .iter()
        .map(|(op, l)| {
            (
                op.to_string(),
                json!({"limit": l.limiter.limit(), "count": l.usage.count()}),
            )
        })
        .collect();
    Json(json!({
        "slidingTimeWindowSizeSeconds": ctx.sim.config.limits.window.as_secs(),
        "accountCount": st.reads.count(),
        "accountRateLimit": ctx.sim.datto_limit.limit(),
        "accountCutOffRatio": CUT_OFF_RATIO,
        "accountWriteRateLimit": st.writes.limiter.limit(),
        "accountWriteCount": st.writes.usage.count(),
        "operationWriteStatus": ops,
    }))
    .into_response()
}

async fn pagination(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    if let Err(r) = gate(&ctx, &headers, "GET /api/v2/system/pagination", Spend::Read).await {
        return *r;
    }
    Json(json!({"max": MAX_PAGE})).into_response()
}

/// A JSON object body, or Datto's 400.
fn object(body: Result<Json<Value>, JsonRejection>) -> Result<Map<String, Value>, Refusal> {
    match body {
        Ok(Json(Value::Object(m))) => Ok(m),
        Ok(_) => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "a JSON object is required",
        ))),
        Err(e) => Err(Box::new(error(StatusCode::BAD_REQUEST, e.body_text()))),
    }
}

fn string_field(body: &Map<String, Value>, key: &str) -> Result<Option<String>, Refusal> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            format!("{key} must be a string"),
        ))),
    }
}

/// `PUT /api/v2/site/{uid}/variable`: creates a variable; the name must be new.
async fn create_variable(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(uid): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    let route = "PUT /api/v2/site/{uid}/variable";
    if let Err(r) = gate(&ctx, &headers, route, Spend::Write(OP_VARIABLE_CREATE)).await {
        return *r;
    }
    let parsed = object(body).and_then(|b| {
        let name = string_field(&b, "name")?.filter(|n| !n.trim().is_empty());
        let value = string_field(&b, "value")?;
        let masked = b.get("masked").and_then(Value::as_bool).unwrap_or(false);
        match (name, value) {
            (Some(n), Some(v)) => Ok((n, v, masked)),
            _ => Err(Box::new(error(
                StatusCode::BAD_REQUEST,
                "name and value are required",
            ))),
        }
    });
    let (name, value, masked) = match parsed {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let mut data = ctx.sim.data();
    let next_id = next_variable_id(&data);
    let Some(site) = data.sites.iter_mut().find(|s| s.uid == uid) else {
        return site_not_found(&uid);
    };
    if site.variables.iter().any(|v| v.name == name) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("A variable named {name} already exists on this site"),
        );
    }
    site.variables.push(SimVariable {
        id: next_id,
        name,
        value,
        masked,
    });
    StatusCode::OK.into_response()
}

fn next_variable_id(data: &Dataset) -> i64 {
    data.sites
        .iter()
        .flat_map(|s| s.variables.iter().map(|v| v.id))
        .max()
        .unwrap_or(7000)
        + 1
}

/// `POST /api/v2/site/{uid}/variable/{id}`: updates a variable's name and/or value.
async fn update_variable(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path((uid, id)): Path<(String, String)>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    let route = "POST /api/v2/site/{uid}/variable/{id}";
    if let Err(r) = gate(&ctx, &headers, route, Spend::Write(OP_VARIABLE_UPDATE)).await {
        return *r;
    }
    let parsed =
        object(body).and_then(|b| Ok((string_field(&b, "name")?, string_field(&b, "value")?)));
    let (name, value) = match parsed {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let mut data = ctx.sim.data();
    let Some(site) = data.sites.iter_mut().find(|s| s.uid == uid) else {
        return site_not_found(&uid);
    };
    let id: Option<i64> = id.parse().ok();
    let Some(pos) = site.variables.iter().position(|v| Some(v.id) == id) else {
        return error(StatusCode::NOT_FOUND, "Variable not found");
    };
    if let Some(n) = &name {
        if n.trim().is_empty()
            || site
                .variables
                .iter()
                .any(|v| &v.name == n && Some(v.id) != id)
        {
            return error(
                StatusCode::BAD_REQUEST,
                format!("Invalid variable name: {n}"),
            );
        }
    }
    let var = &mut site.variables[pos];
    if let Some(n) = name {
        var.name = n;
    }
    if let Some(v) = value {
        var.value = v;
    }
    StatusCode::OK.into_response()
}

/// `udfN` with 1 ≤ N ≤ 300, or `None`.
fn udf_number(key: &str) -> Option<u32> {
    let n: u32 = key.strip_prefix("udf")?.parse().ok()?;
    (1..=MAX_UDF).contains(&n).then_some(n)
}

/// `POST /api/v2/device/{uid}/udf`: sets the given UDFs; null or "" clears one.
async fn set_udfs(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(uid): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    if let Err(r) = gate(
        &ctx,
        &headers,
        "POST /api/v2/device/{uid}/udf",
        Spend::Write(OP_UDF_SET),
    )
    .await
    {
        return *r;
    }
    let body = match object(body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let mut changes = Vec::new();
    for (k, v) in &body {
        if udf_number(k).is_none() {
            return error(StatusCode::BAD_REQUEST, format!("Unknown field {k}"));
        }
        match v {
            Value::Null => changes.push((k.clone(), None)),
            Value::String(s) => {
                changes.push((k.clone(), Some(s.clone()).filter(|s| !s.is_empty())))
            }
            _ => return error(StatusCode::BAD_REQUEST, format!("{k} must be a string")),
        }
    }
    let mut data = ctx.sim.data();
    let Some(device) = data.devices.iter_mut().find(|d| d.uid == uid && !d.deleted) else {
        return error(StatusCode::NOT_FOUND, format!("Device {uid} not found"));
    };
    for (k, v) in changes {
        match v {
            Some(v) => device.udfs.insert(k, v),
            None => device.udfs.remove(&k),
        };
    }
    (StatusCode::OK, Body::empty()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_filters_are_case_insensitive_with_wildcards() {
        assert!(like("ALDER-WS0001", "ws0"));
        assert!(like("ALDER-WS0001", "alder%0001"));
        assert!(like("ALDER-WS0001", "%ws%"));
        assert!(!like("ALDER-WS0001", "ws%"));
        assert!(!like("ALDER-WS0001", "%0002"));
        assert!(like("anything", ""));
    }

    #[test]
    fn udf_numbers_stop_at_three_hundred() {
        assert_eq!(udf_number("udf1"), Some(1));
        assert_eq!(udf_number("udf300"), Some(300));
        assert_eq!(udf_number("udf301"), None);
        assert_eq!(udf_number("udf0"), None);
        assert_eq!(udf_number("name"), None);
    }

    #[test]
    fn paging_defaults_and_rejects_oversized_pages() {
        let q = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>()
        };
        assert_eq!(paging(&q(&[])).ok(), Some((0, 250)));
        assert_eq!(
            paging(&q(&[("page", "3"), ("max", "10")])).ok(),
            Some((3, 10))
        );
        assert!(paging(&q(&[("max", "251")])).is_err());
        assert!(paging(&q(&[("max", "0")])).is_err());
        assert!(paging(&q(&[("page", "-1")])).is_err());
    }
}
