//! The simulated Freshservice API v2, rendered from the shared dataset as
//! `shared/vendor-apis.md` §1a documents it, so that a client bug fails a test.
//!
//! What is faithful: Basic auth with the API key as user name (user:password Basic is
//! refused as `unsupported_authentication_type`), the account-wide fixed-window budget
//! with `X-RateLimit-*` headers on every answer and 429 + `Retry-After` past it,
//! embedding costs (+2 credits per `include` on a list, +1 on a show), `page`/`per_page`
//! (≤ 100, else 400 `invalid_value`) with an absolute `Link: rel="next"`, the 30-day
//! default window of `/tickets` without `updated_since`, deleted and spam tickets hidden
//! unless filtered for, `/tickets/filter` with its query language, fixed 30 per page and
//! `total`, and unknown query parameters refused (a misspelt filter must not be ignored).

use super::dataset::{Dataset, SimCompany, SimContact, SimConversation, SimTicket, SimTimeEntry};
use super::{faults, Sim};
use axum::extract::{FromRequestParts, MatchedPath, OriginalUri, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use reqwest::Url;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Rows per page of `/tickets/filter`, fixed by the vendor whatever `per_page` says.
pub const FILTER_PAGE_SIZE: usize = 30;
/// Longest `/tickets/filter` query the vendor accepts.
pub const MAX_QUERY_LEN: usize = 512;
/// Conversations embedded by `include=conversations` on a show.
pub const EMBEDDED_CONVERSATIONS: usize = 10;

/// The department custom fields this tenant defines (a PUT naming another is refused).
pub const DEPARTMENT_FIELDS: &[&str] = &[
    "account_number",
    "plan_selected",
    "contract_term",
    "contract_start_date",
    "managed_users",
    "managed_devices",
    "managed_network",
    "phone_system",
    "email_system",
    "profit_or_non_profit",
    "company_main_number",
    "address",
    "company_start_date",
    "datto_portal_url",
];
/// Custom fields of type number: rendered as JSON numbers, as Freshservice does.
const NUMBER_FIELDS: &[&str] = &["managed_users", "managed_devices", "managed_network"];

/// The tenant's ticket statuses (2–5 are Freshservice's own, the rest custom ones of
/// the original tenant, peer §3.1.7).
pub const STATUS_CHOICES: &[(i64, &str)] = &[
    (2, "Open"),
    (3, "Pending"),
    (4, "Resolved"),
    (5, "Closed"),
    (8, "Scheduled"),
    (9, "Waiting on Customer"),
    (10, "Waiting on Third Party"),
    (13, "Under Investigation"),
    (15, "Job Complete - Bill"),
    (16, "Billing Complete - Close"),
    (19, "Update Needed"),
    (23, "On Hold"),
    (26, "Customer Replied"),
    (27, "Pending Hubspot"),
];
const PRIORITY_CHOICES: &[(i64, &str)] = &[(1, "Low"), (2, "Medium"), (3, "High"), (4, "Urgent")];

pub fn routes(sim: Arc<Sim>) -> Router<Arc<Sim>> {
    Router::new()
        .route("/api/v2/departments", get(list_departments))
        .route(
            "/api/v2/departments/{id}",
            get(show_department).put(update_department),
        )
        .route("/api/v2/requesters", get(list_requesters))
        .route("/api/v2/agents", get(list_agents))
        .route("/api/v2/tickets", get(list_tickets))
        .route("/api/v2/tickets/filter", get(filter_tickets))
        .route("/api/v2/tickets/{id}", get(show_ticket).put(update_ticket))
        .route(
            "/api/v2/tickets/{id}/conversations",
            get(list_conversations),
        )
        .route("/api/v2/tickets/{id}/time_entries", get(list_time_entries))
        .route("/api/v2/ticket_form_fields", get(form_fields))
        .route_layer(from_fn_with_state(sim.clone(), gate))
        .layer(from_fn_with_state(sim, faults::inject))
}

// ---------------------------------------------------------------- gate: stats, budget, auth

/// Counts the request under its route, spends its credits, checks the key, and stamps
/// the rate-limit headers on whatever the handler answers. Invalid requests count
/// against the budget, as the vendor documents.
async fn gate(State(sim): State<Arc<Sim>>, req: Request, next: Next) -> Response {
    let template = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let route = template
        .find("/api/v2")
        .map(|i| &template[i + "/api/v2".len()..])
        .unwrap_or(&template);
    sim.stats
        .count(&format!("freshservice {} {route}", req.method()));
    let cost = credits(route, req.uri().query());
    let accepted = match sim.freshservice_limit.take(cost) {
        Ok(a) => a,
        Err(wait) => {
            sim.stats
                .throttled
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut resp = (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({"message": "You have exceeded the limit of requests per minute"})),
            )
                .into_response();
            let h = resp.headers_mut();
            h.insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs()));
            stamp(h, sim.freshservice_limit.limit(), 0, cost);
            return resp;
        }
    };
    let mut resp = match authenticate(&sim, req.headers()) {
        Ok(()) => next.run(req).await,
        Err(refused) => refused.into_response(),
    };
    stamp(resp.headers_mut(), accepted.total, accepted.remaining, cost);
    resp
}

/// What a request costs: 1, plus 2 per `include` on a list or 1 per `include` on a show.
fn credits(route: &str, query: Option<&str>) -> u32 {
    let includes = query
        .map(|q| {
            url_pairs(q)
                .filter(|(k, _)| k == "include")
                .flat_map(|(_, v)| {
                    v.split(',')
                        .filter(|s| !s.trim().is_empty())
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                })
                .count() as u32
        })
        .unwrap_or(0);
    let per_include = if route == "/tickets/{id}" { 1 } else { 2 };
    1 + includes * per_include
}

fn url_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .map(|u| {
            u.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
}

fn stamp(h: &mut HeaderMap, total: u32, remaining: u32, cost: u32) {
    h.insert("x-ratelimit-total", HeaderValue::from(total));
    h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    h.insert("x-ratelimit-used-currentrequest", HeaderValue::from(cost));
    h.insert(
        "x-freshservice-api-version",
        HeaderValue::from_static("latest=v2; requested=v2"),
    );
}

/// Basic auth with the API key as user name and any password.
fn authenticate(sim: &Sim, headers: &HeaderMap) -> Result<(), Refusal> {
    let refused = |code: &str, message: &str| {
        Refusal(
            StatusCode::UNAUTHORIZED,
            json!({"code": code, "message": message}),
        )
    };
    let invalid = || {
        refused(
            "invalid_credentials",
            "You have to be logged in to perform this action.",
        )
    };
    let decoded = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.get(..6)
                .filter(|p| p.eq_ignore_ascii_case("basic "))
                .map(|_| &v[6..])
        })
        .and_then(|b64| base64_decode(b64.trim()))
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(invalid)?;
    let user = decoded.split_once(':').map_or(decoded.as_str(), |(u, _)| u);
    if user == sim.config.credentials.freshservice_api_key {
        Ok(())
    } else if user.contains('@') {
        // An e-mail address as user name is the login Basic retired on 31 May 2023.
        Err(refused(
            "unsupported_authentication_type",
            "Username and password authentication is not supported. Use your API key.",
        ))
    } else {
        Err(invalid())
    }
}

/// Standard base64 (the alphabet HTTP Basic uses), padding optional.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let body = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in body.bytes() {
        acc = (acc << 6) | value(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

// ---------------------------------------------------------------- request parsing

/// A request's query parameters and the absolute URL it was made at (for `Link`).
struct Query {
    pairs: Vec<(String, String)>,
    url: Url,
}

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Refusal> {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1")
            .to_string();
        let uri = parts
            .extensions
            .get::<OriginalUri>()
            .map(|o| o.0.clone())
            .unwrap_or_else(|| parts.uri.clone());
        let pq = uri.path_and_query().map_or("/", |p| p.as_str());
        let url = Url::parse(&format!("http://{host}{pq}"))
            .map_err(|_| invalid("url", "The URL could not be read", "invalid_value"))?;
        let pairs = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Ok(Query { pairs, url })
    }
}

impl Query {
    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Refuses parameters the endpoint does not know, as Freshservice does.
    fn allow(&self, names: &[&str]) -> Result<(), Refusal> {
        match self
            .pairs
            .iter()
            .find(|(k, _)| !names.contains(&k.as_str()))
        {
            Some((k, _)) => Err(invalid(
                k,
                "Unexpected/invalid field in request",
                "invalid_field",
            )),
            None => Ok(()),
        }
    }

    /// `page` from 1 and `per_page` 1..=100 (default 30).
    fn paging(&self) -> Result<(usize, usize), Refusal> {
        let number = |name: &str, default: usize, max: usize| match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    let message = if max == usize::MAX {
                        "It should be a Positive Number".to_string()
                    } else {
                        format!("It should be a Positive Number less than or equal to {max}")
                    };
                    invalid(name, &message, "invalid_value")
                }),
        };
        Ok((number("page", 1, usize::MAX)?, number("per_page", 30, 100)?))
    }

    /// The requested embeds, each one of `allowed`.
    fn includes(&self, allowed: &[&str]) -> Result<Vec<String>, Refusal> {
        let mut out = Vec::new();
        for v in self.get("include").unwrap_or_default().split(',') {
            let v = v.trim();
            if v.is_empty() {
                continue;
            }
            if !allowed.contains(&v) {
                return Err(invalid(
                    "include",
                    &format!("It should be one of these values: '{}'", allowed.join(",")),
                    "invalid_value",
                ));
            }
            out.push(v.to_string());
        }
        Ok(out)
    }

    /// The URL of page `page` with every other parameter kept.
    fn page_url(&self, page: usize) -> String {
        let mut u = self.url.clone();
        let kept: Vec<_> = self.pairs.iter().filter(|(k, _)| k != "page").collect();
        {
            let mut q = u.query_pairs_mut();
            q.clear();
            for (k, v) in kept {
                q.append_pair(k, v);
            }
            q.append_pair("page", &page.to_string());
        }
        u.to_string()
    }
}

/// A refused request: the status and Freshservice's error body.
#[derive(Debug)]
struct Refusal(StatusCode, Value);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

/// Freshservice's validation error body.
fn invalid(field: &str, message: &str, code: &str) -> Refusal {
    Refusal(
        StatusCode::BAD_REQUEST,
        json!({
            "description": "Validation failed",
            "errors": [{"field": field, "message": message, "code": code}],
        }),
    )
}

fn not_found() -> Refusal {
    Refusal(
        StatusCode::NOT_FOUND,
        json!({"code": "record_not_found", "message": "Record not found"}),
    )
}

/// One page of `rows` under `key`, with `Link: rel="next"` while more remain.
fn paged(q: &Query, key: &str, rows: Vec<Value>) -> Result<Response, Refusal> {
    let (page, per_page) = q.paging()?;
    let start = (page - 1).saturating_mul(per_page);
    let more = start.saturating_add(per_page) < rows.len();
    let items: Vec<Value> = rows.into_iter().skip(start).take(per_page).collect();
    let mut resp = Json(Value::Object(Map::from_iter([(
        key.to_string(),
        Value::Array(items),
    )])))
    .into_response();
    if more {
        let link = format!("<{}>; rel=\"next\"", q.page_url(page + 1));
        if let Ok(v) = HeaderValue::from_str(&link) {
            resp.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(resp)
}

// ---------------------------------------------------------------- rendering

/// The vendor's timestamp form, `YYYY-MM-DDTHH:MM:SSZ`.
pub fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Departments carry milliseconds in the vendor's samples (`2019-04-04T04:45:15.983Z`).
pub fn ts_millis(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn opt_ts(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(ts(t)))
}

/// The plain text Freshservice derives from an HTML body (`description_text`,
/// `body_text`): tags dropped, line breaks kept, the common entities decoded.
pub fn text_of(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        let Some(j) = rest[i..].find('>') else {
            rest = "";
            break;
        };
        let tag = rest[i + 1..i + j].to_ascii_lowercase();
        if tag.starts_with("br") || tag == "/p" || tag == "/div" {
            out.push('\n');
        }
        rest = &rest[i + j + 1..];
    }
    out.push_str(rest);
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    decoded.trim().to_string()
}

fn custom_value(name: &str, v: &str) -> Value {
    if NUMBER_FIELDS.contains(&name) {
        if let Ok(n) = v.parse::<i64>() {
            return json!(n);
        }
    }
    json!(v)
}

fn department_json(c: &SimCompany) -> Value {
    // Every field the tenant defines is present; unset ones are null.
    let custom: Map<String, Value> = DEPARTMENT_FIELDS
        .iter()
        .map(|f| {
            let v = c
                .custom_fields
                .get(*f)
                .map_or(Value::Null, |v| custom_value(f, v));
            (f.to_string(), v)
        })
        .chain(
            c.custom_fields
                .iter()
                .filter(|(k, _)| !DEPARTMENT_FIELDS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), json!(v))),
        )
        .collect();
    json!({
        "id": c.id,
        "workspace_id": c.workspace_id,
        "name": c.name,
        "description": c.description,
        "head_user_id": c.head_user_id,
        "prime_user_id": c.prime_user_id,
        "domains": c.domains,
        "custom_fields": custom,
        "created_at": ts_millis(c.created_at),
        "updated_at": ts_millis(c.updated_at),
    })
}

fn requester_json(p: &SimContact, d: &Dataset) -> Value {
    let names: Vec<&str> = p
        .department_ids
        .iter()
        .filter_map(|id| d.company(*id).map(|c| c.name.as_str()))
        .collect();
    json!({
        "id": p.id,
        "first_name": p.first_name,
        "last_name": p.last_name,
        "job_title": p.job_title,
        "primary_email": p.primary_email,
        "secondary_emails": p.secondary_emails,
        "work_phone_number": p.work_phone_number,
        "mobile_phone_number": p.mobile_phone_number,
        "department_ids": p.department_ids,
        "department_names": names,
        "can_see_all_tickets_from_associated_departments": false,
        "reporting_manager_id": null,
        "address": p.address,
        "time_zone": p.time_zone,
        "time_format": "12h",
        "language": p.language,
        "location_id": null,
        "location_name": p.location_name,
        "background_information": null,
        "custom_fields": {"user_number": p.user_number},
        "active": p.active,
        "has_logged_in": p.has_logged_in,
        "is_agent": false,
        "vip_user": p.vip_user,
        "external_id": null,
        "created_at": ts(p.created_at),
        "updated_at": ts(p.updated_at),
    })
}

fn agent_json(a: &super::dataset::SimAgent) -> Value {
    json!({
        "id": a.id,
        "first_name": a.first_name,
        "last_name": a.last_name,
        "occasional": false,
        "active": a.active,
        "email": a.email,
        "job_title": a.job_title,
        "department_ids": [],
        "member_of": a.group_ids,
        "observer_of": [],
        "roles": [],
        "location_id": null,
        "reporting_manager_id": null,
        "time_zone": "Eastern Time (US & Canada)",
        "language": "en",
        "has_logged_in": a.active,
        "created_at": ts(a.created_at),
        "updated_at": ts(a.updated_at),
    })
}

fn stats_json(t: &SimTicket) -> Value {
    let secs = |at: Option<DateTime<Utc>>| at.map(|at| (at - t.created_at).num_seconds());
    json!({
        "ticket_id": t.id,
        "created_at": ts(t.created_at),
        "updated_at": ts(t.updated_at),
        "opened_at": null,
        "group_escalated": false,
        "inbound_count": t.conversations.iter().filter(|c| c.incoming).count(),
        "outbound_count": t.conversations.iter().filter(|c| !c.incoming).count(),
        "status_updated_at": ts(t.updated_at),
        "pending_since": null,
        "reopened_at": null,
        "requester_responded_at": null,
        "first_responded_at": opt_ts(t.first_responded_at),
        "agent_responded_at": opt_ts(t.agent_responded_at),
        "resolved_at": opt_ts(t.resolved_at),
        "closed_at": opt_ts(t.closed_at),
        "first_resp_time_in_secs": secs(t.first_responded_at),
        "resolution_time_in_secs": secs(t.resolved_at),
    })
}

fn conversation_json(ticket: i64, c: &SimConversation) -> Value {
    json!({
        "id": c.id,
        "ticket_id": ticket,
        "body": c.body_html,
        "body_text": text_of(&c.body_html),
        "incoming": c.incoming,
        "private": c.private,
        "source": if c.private { 2 } else { 0 },
        "user_id": c.user_id,
        "support_email": null,
        "to_emails": [],
        "from_email": c.from_email,
        "cc_emails": [],
        "bcc_emails": [],
        "attachments": [],
        "created_at": ts(c.created_at),
        "updated_at": ts(c.updated_at),
    })
}

/// `time_spent` as the vendor writes it, `hh:mm`.
pub fn hh_mm(minutes: i64) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn time_entry_json(e: &SimTimeEntry) -> Value {
    json!({
        "id": e.id,
        "workspace_id": 2,
        "agent_id": e.agent_id,
        "time_spent": hh_mm(e.minutes),
        "billable": e.billable,
        "note": e.note,
        "executed_at": ts(e.executed_at),
        "start_time": ts(e.executed_at),
        "timer_running": false,
        "task_id": null,
        "custom_fields": {},
        "created_at": ts(e.created_at),
        "updated_at": ts(e.updated_at),
    })
}

fn ordered_conversations(t: &SimTicket) -> Vec<&SimConversation> {
    let mut c: Vec<&SimConversation> = t.conversations.iter().collect();
    c.sort_by_key(|c| (c.created_at, c.id));
    c
}

fn ticket_json(t: &SimTicket, d: &Dataset, includes: &[String]) -> Value {
    let active = !matches!(t.status, 4 | 5 | 15 | 16);
    let mut v = json!({
        "id": t.id,
        "workspace_id": 2,
        "subject": t.subject,
        "description": t.description_html,
        "description_text": text_of(&t.description_html),
        "status": t.status,
        "priority": t.priority,
        "urgency": 1,
        "impact": 1,
        "type": t.ticket_type,
        "source": t.source,
        "category": null,
        "sub_category": null,
        "item_category": null,
        "requester_id": t.requester_id,
        "requested_for_id": t.requester_id,
        "responder_id": t.responder_id,
        "group_id": t.group_id,
        "department_id": t.department_id,
        "email_config_id": null,
        "to_emails": null,
        "cc_emails": [],
        "fwd_emails": [],
        "reply_cc_emails": [],
        "tags": [],
        "spam": t.spam,
        "deleted": t.deleted,
        "is_escalated": active && t.due_by < Utc::now(),
        "fr_escalated": active && t.first_responded_at.is_none() && t.fr_due_by < Utc::now(),
        "created_at": ts(t.created_at),
        "updated_at": ts(t.updated_at),
        "fr_due_by": ts(t.fr_due_by),
        "due_by": ts(t.due_by),
        "custom_fields": {},
    });
    for inc in includes {
        let embedded = match inc.as_str() {
            "stats" => stats_json(t),
            "requester" => {
                d.contacts
                    .iter()
                    .find(|p| p.id == t.requester_id)
                    .map_or(Value::Null, |p| {
                        json!({
                            "id": p.id,
                            "name": format!("{} {}", p.first_name, p.last_name),
                            "email": p.primary_email,
                            "mobile": p.mobile_phone_number,
                            "phone": p.work_phone_number,
                        })
                    })
            }
            "conversations" => Value::Array(
                ordered_conversations(t)
                    .into_iter()
                    .take(EMBEDDED_CONVERSATIONS)
                    .map(|c| conversation_json(t.id, c))
                    .collect(),
            ),
            _ => continue,
        };
        v[inc.as_str()] = embedded;
    }
    v
}

// ---------------------------------------------------------------- handlers

async fn list_departments(State(sim): State<Arc<Sim>>, q: Query) -> Result<Response, Refusal> {
    q.allow(&["page", "per_page", "workspace_id"])?;
    // MSP edition: without `workspace_id` only workspace 2 is listed.
    let workspace = match q.get("workspace_id") {
        None => 2,
        Some(v) => v
            .parse::<i64>()
            .map_err(|_| invalid("workspace_id", "It should be a Number", "datatype_mismatch"))?,
    };
    let d = sim.data();
    let mut rows: Vec<&SimCompany> = d
        .companies
        .iter()
        .filter(|c| c.workspace_id == workspace)
        .collect();
    // Documented order: created_at descending.
    rows.sort_by_key(|c| std::cmp::Reverse((c.created_at, c.id)));
    paged(
        &q,
        "departments",
        rows.into_iter().map(department_json).collect(),
    )
}

async fn show_department(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, Refusal> {
    q.allow(&[])?;
    let d = sim.data();
    let c = id
        .parse::<i64>()
        .ok()
        .and_then(|id| d.company(id))
        .ok_or_else(not_found)?;
    Ok(Json(json!({"department": department_json(c)})).into_response())
}

/// Writes department fields (how account numbers get into the PSA): every custom field
/// must be one the tenant defines, values are strings, numbers or null (clears).
async fn update_department(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    body: Option<Json<Value>>,
) -> Result<Response, Refusal> {
    let Some(Json(Value::Object(body))) = body else {
        return Err(invalid("body", "Invalid JSON body", "invalid_json"));
    };
    let mut d = sim.data();
    let idx = id
        .parse::<i64>()
        .ok()
        .and_then(|id| d.companies.iter().position(|c| c.id == id))
        .ok_or_else(not_found)?;
    let changes = department_changes(&body)?;
    let c = &mut d.companies[idx];
    for (field, value) in changes {
        match field.as_str() {
            "name" => c.name = value.unwrap_or_default(),
            "description" => c.description = value,
            custom => {
                if custom == "account_number" {
                    c.account_number = value.clone();
                }
                match value {
                    Some(v) => c.custom_fields.insert(custom.to_string(), v),
                    None => c.custom_fields.remove(custom),
                };
            }
        }
    }
    c.updated_at = Utc::now();
    Ok(Json(json!({"department": department_json(c)})).into_response())
}

/// Validates a department PUT body into (field, new value) pairs.
fn department_changes(body: &Map<String, Value>) -> Result<Vec<(String, Option<String>)>, Refusal> {
    let text = |field: &str, v: &Value| match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        _ => Err(invalid(field, "It should be a String", "datatype_mismatch")),
    };
    let mut out = Vec::new();
    for (k, v) in body {
        match k.as_str() {
            "name" | "description" => out.push((k.clone(), text(k, v)?)),
            "custom_fields" => {
                let Value::Object(fields) = v else {
                    return Err(invalid(k, "It should be a Hash", "datatype_mismatch"));
                };
                for (f, fv) in fields {
                    if !DEPARTMENT_FIELDS.contains(&f.as_str()) {
                        return Err(invalid(
                            f,
                            "Unexpected/invalid field in request",
                            "invalid_field",
                        ));
                    }
                    out.push((f.clone(), text(f, fv)?));
                }
            }
            _ => {
                return Err(invalid(
                    k,
                    "Unexpected/invalid field in request",
                    "invalid_field",
                ))
            }
        }
    }
    if out
        .iter()
        .any(|(k, v)| k == "name" && v.as_deref().unwrap_or("").is_empty())
    {
        return Err(invalid("name", "It should not be blank", "missing_field"));
    }
    Ok(out)
}

async fn list_requesters(State(sim): State<Arc<Sim>>, q: Query) -> Result<Response, Refusal> {
    q.allow(&["page", "per_page", "email"])?;
    let d = sim.data();
    let email = q.get("email").map(str::to_lowercase);
    let rows = d
        .contacts
        .iter()
        .filter(|p| {
            email.as_ref().is_none_or(|e| {
                p.primary_email.as_deref().map(str::to_lowercase).as_ref() == Some(e)
            })
        })
        .map(|p| requester_json(p, &d))
        .collect();
    paged(&q, "requesters", rows)
}

async fn list_agents(State(sim): State<Arc<Sim>>, q: Query) -> Result<Response, Refusal> {
    q.allow(&["page", "per_page", "email", "active"])?;
    let active = match q.get("active") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            return Err(invalid(
                "active",
                "It should be a Boolean",
                "datatype_mismatch",
            ))
        }
    };
    let d = sim.data();
    let rows = d
        .agents
        .iter()
        .filter(|a| active.is_none_or(|want| a.active == want))
        .filter(|a| {
            q.get("email")
                .is_none_or(|e| a.email.eq_ignore_ascii_case(e))
        })
        .map(agent_json)
        .collect();
    paged(&q, "agents", rows)
}

fn parse_instant(field: &str, v: &str) -> Result<DateTime<Utc>, Refusal> {
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            invalid(
                field,
                "It should be in the 'YYYY-MM-DDTHH:MM:SSZ' format",
                "invalid_value",
            )
        })
}

async fn list_tickets(State(sim): State<Arc<Sim>>, q: Query) -> Result<Response, Refusal> {
    q.allow(&[
        "page",
        "per_page",
        "updated_since",
        "order_type",
        "filter",
        "include",
        "requester_id",
        "type",
    ])?;
    let includes = q.includes(&["stats", "requester"])?;
    let since = q
        .get("updated_since")
        .map(|v| parse_instant("updated_since", v))
        .transpose()?;
    let descending = match q.get("order_type") {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(_) => {
            return Err(invalid(
                "order_type",
                "It should be one of these values: 'asc,desc'",
                "invalid_value",
            ))
        }
    };
    let (want_deleted, want_spam) = match q.get("filter") {
        None => (false, false),
        Some("deleted") => (true, false),
        Some("spam") => (false, true),
        Some(_) => {
            return Err(invalid(
                "filter",
                "It should be one of these values: 'deleted,spam'",
                "invalid_value",
            ))
        }
    };
    let requester = q
        .get("requester_id")
        .map(|v| v.parse::<i64>())
        .transpose()
        .map_err(|_| invalid("requester_id", "It should be a Number", "datatype_mismatch"))?;
    // The documented trap: with no `updated_since` only tickets created in the last
    // 30 days (of the real clock) are listed.
    let created_after = since.is_none().then(|| Utc::now() - Duration::days(30));
    let d = sim.data();
    let mut rows: Vec<&SimTicket> = d
        .tickets
        .iter()
        .filter(|t| t.deleted == want_deleted && (t.spam == want_spam || want_deleted))
        .filter(|t| since.is_none_or(|s| t.updated_at.timestamp() >= s.timestamp()))
        .filter(|t| created_after.is_none_or(|c| t.created_at >= c))
        .filter(|t| requester.is_none_or(|r| t.requester_id == r))
        .filter(|t| q.get("type").is_none_or(|ty| t.ticket_type == ty))
        .collect();
    rows.sort_by_key(|t| (t.created_at, t.id));
    if descending {
        rows.reverse();
    }
    let rendered = rows
        .into_iter()
        .map(|t| ticket_json(t, &d, &includes))
        .collect();
    paged(&q, "tickets", rendered)
}

/// `/tickets/filter`: the query language over live tickets, 30 per page, `total`.
async fn filter_tickets(State(sim): State<Arc<Sim>>, q: Query) -> Result<Response, Refusal> {
    // `per_page` is accepted and ignored: the page size is fixed at 30.
    q.allow(&["query", "page", "per_page", "workspace_id"])?;
    let raw = q
        .get("query")
        .ok_or_else(|| invalid("query", "It should not be blank", "missing_field"))?;
    let inner = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .ok_or_else(|| {
            invalid(
                "query",
                "The query should be enclosed in double quotes",
                "invalid_value",
            )
        })?;
    if inner.chars().count() > MAX_QUERY_LEN {
        return Err(invalid(
            "query",
            "It should not be longer than 512 characters",
            "invalid_value",
        ));
    }
    let expr = filter::parse(inner).map_err(|e| invalid("query", &e, "invalid_value"))?;
    let page =
        match q.get("page") {
            None => 1,
            Some(v) => v.parse::<usize>().ok().filter(|p| *p >= 1).ok_or_else(|| {
                invalid("page", "It should be a Positive Number", "invalid_value")
            })?,
        };
    let d = sim.data();
    let mut rows: Vec<&SimTicket> = d
        .tickets
        .iter()
        .filter(|t| !t.deleted && !t.spam && expr.matches(t))
        .collect();
    rows.sort_by_key(|t| std::cmp::Reverse((t.created_at, t.id)));
    let total = rows.len();
    let items: Vec<Value> = rows
        .into_iter()
        .skip((page - 1).saturating_mul(FILTER_PAGE_SIZE))
        .take(FILTER_PAGE_SIZE)
        .map(|t| ticket_json(t, &d, &[]))
        .collect();
    Ok(Json(json!({"tickets": items, "total": total})).into_response())
}

/// A live (not deleted) ticket by its path id.
fn live_ticket<'a>(d: &'a Dataset, id: &str) -> Result<&'a SimTicket, Refusal> {
    id.parse::<i64>()
        .ok()
        .and_then(|id| d.tickets.iter().find(|t| t.id == id))
        .filter(|t| !t.deleted)
        .ok_or_else(not_found)
}

async fn show_ticket(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, Refusal> {
    q.allow(&["include"])?;
    let includes = q.includes(&["conversations", "stats", "requester"])?;
    let d = sim.data();
    let t = live_ticket(&d, &id)?;
    Ok(Json(json!({"ticket": ticket_json(t, &d, &includes)})).into_response())
}

/// `PUT /api/v2/tickets/{id}`: an agent changes a ticket upstream (subject, status,
/// priority, responder). Tests and demos use it to change what the next sync sees; the
/// ticket's `updated_at` moves to now, as Freshservice's does.
async fn update_ticket(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    body: Option<Json<Value>>,
) -> Result<Response, Refusal> {
    let Some(Json(Value::Object(body))) = body else {
        return Err(invalid("body", "Invalid JSON body", "invalid_json"));
    };
    let mut d = sim.data();
    let idx = id
        .parse::<i64>()
        .ok()
        .and_then(|id| d.tickets.iter().position(|t| t.id == id && !t.deleted))
        .ok_or_else(not_found)?;
    let int = |field: &str, v: &Value| {
        v.as_i64()
            .ok_or_else(|| invalid(field, "It should be a/an Integer", "datatype_mismatch"))
    };
    let mut subject = None;
    let mut status = None;
    let mut priority = None;
    let mut responder = None;
    for (field, v) in &body {
        match field.as_str() {
            "subject" => {
                subject = Some(
                    v.as_str()
                        .filter(|s| !s.trim().is_empty())
                        .ok_or_else(|| invalid(field, "It should not be blank", "missing_field"))?
                        .to_string(),
                )
            }
            "status" => {
                let n = int(field, v)?;
                if !STATUS_CHOICES.iter().any(|(id, _)| *id == n) {
                    return Err(invalid(
                        field,
                        "It should be one of the statuses",
                        "invalid_value",
                    ));
                }
                status = Some(n);
            }
            "priority" => {
                let n = int(field, v)?;
                if !(1..=4).contains(&n) {
                    return Err(invalid(
                        field,
                        "It should be one of 1, 2, 3, 4",
                        "invalid_value",
                    ));
                }
                priority = Some(n);
            }
            "responder_id" => {
                responder = Some(if v.is_null() {
                    None
                } else {
                    Some(int(field, v)?)
                })
            }
            _ => {
                return Err(invalid(
                    field,
                    "Unexpected/invalid field in request",
                    "invalid_field",
                ))
            }
        }
    }
    let now = Utc::now();
    let t = &mut d.tickets[idx];
    if let Some(s) = subject {
        t.subject = s;
    }
    if let Some(s) = status {
        t.status = s;
        if matches!(s, 4 | 5) && t.resolved_at.is_none() {
            t.resolved_at = Some(now);
        }
    }
    if let Some(p) = priority {
        t.priority = p;
    }
    if let Some(r) = responder {
        t.responder_id = r;
    }
    t.updated_at = now;
    let d = &*d;
    let t = &d.tickets[idx];
    Ok(Json(json!({"ticket": ticket_json(t, d, &[])})).into_response())
}

async fn list_conversations(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, Refusal> {
    q.allow(&["page", "per_page"])?;
    let d = sim.data();
    let t = live_ticket(&d, &id)?;
    let rows = ordered_conversations(t)
        .into_iter()
        .map(|c| conversation_json(t.id, c))
        .collect();
    paged(&q, "conversations", rows)
}

async fn list_time_entries(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    q: Query,
) -> Result<Response, Refusal> {
    q.allow(&["page", "per_page"])?;
    let d = sim.data();
    let t = live_ticket(&d, &id)?;
    let mut entries: Vec<&SimTimeEntry> = t.time_entries.iter().collect();
    entries.sort_by_key(|e| (e.created_at, e.id));
    paged(
        &q,
        "time_entries",
        entries.into_iter().map(time_entry_json).collect(),
    )
}

async fn form_fields(q: Query) -> Result<Response, Refusal> {
    q.allow(&[])?;
    let choices = |list: &[(i64, &str)]| {
        list.iter()
            .map(|(id, name)| json!({"id": id, "value": name}))
            .collect::<Vec<_>>()
    };
    let source = [
        (1, "Email"),
        (2, "Portal"),
        (3, "Phone"),
        (4, "Chat"),
        (5, "Feedback widget"),
        (9, "Walkup"),
    ];
    Ok(Json(json!({"ticket_fields": [
        {"id": 1, "name": "status", "label": "Status", "field_type": "default_status",
         "required": true, "default_field": true, "choices": choices(STATUS_CHOICES)},
        {"id": 2, "name": "priority", "label": "Priority", "field_type": "default_priority",
         "required": true, "default_field": true, "choices": choices(PRIORITY_CHOICES)},
        {"id": 3, "name": "source", "label": "Source", "field_type": "default_source",
         "required": false, "default_field": true, "choices": choices(&source)},
    ]}))
    .into_response())
}

// ---------------------------------------------------------------- the filter language

/// `/tickets/filter` queries: `field:value`, `field:>value` (≥), `field:<value` (≤),
/// `AND`, `OR` (AND binds tighter) and parentheses; values are integers, `null` or
/// quoted dates (`'2026-01-01'`, `'2026-01-01T10:00:00Z'`).
pub mod filter {
    use super::SimTicket;
    use chrono::{DateTime, NaiveDate, Utc};

    #[derive(Clone, Debug, PartialEq)]
    pub enum Expr {
        Or(Vec<Expr>),
        And(Vec<Expr>),
        Cond(Field, Op, Operand),
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Field {
        Status,
        Priority,
        GroupId,
        AgentId,
        DepartmentId,
        RequesterId,
        CreatedAt,
        UpdatedAt,
        DueBy,
        FrDueBy,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Op {
        Eq,
        AtLeast,
        AtMost,
    }

    #[derive(Clone, Debug, PartialEq)]
    pub enum Operand {
        Int(i64),
        Null,
        /// An instant; `date_only` makes `:` match the whole day.
        Time {
            at: DateTime<Utc>,
            date_only: bool,
        },
    }

    #[derive(Clone, Debug, PartialEq)]
    enum Tok {
        Open,
        Close,
        And,
        Or,
        Colon,
        Gt,
        Lt,
        Word(String),
        Int(i64),
        Quoted(String),
    }

    fn tokens(s: &str) -> Result<Vec<Tok>, String> {
        let chars: Vec<char> = s.chars().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match c {
                c if c.is_whitespace() => i += 1,
                '(' | ')' | ':' | '>' | '<' => {
                    out.push(match c {
                        '(' => Tok::Open,
                        ')' => Tok::Close,
                        ':' => Tok::Colon,
                        '>' => Tok::Gt,
                        _ => Tok::Lt,
                    });
                    i += 1;
                }
                '\'' => {
                    let end = chars[i + 1..]
                        .iter()
                        .position(|c| *c == '\'')
                        .ok_or("unterminated quoted value")?;
                    out.push(Tok::Quoted(chars[i + 1..i + 1 + end].iter().collect()));
                    i += end + 2;
                }
                c if c.is_ascii_digit() || c == '-' => {
                    let len = chars[i + 1..]
                        .iter()
                        .take_while(|c| c.is_ascii_digit())
                        .count();
                    let text: String = chars[i..=i + len].iter().collect();
                    out.push(Tok::Int(
                        text.parse().map_err(|_| format!("bad number '{text}'"))?,
                    ));
                    i += len + 1;
                }
                c if c.is_ascii_alphabetic() || c == '_' => {
                    let len = chars[i..]
                        .iter()
                        .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                        .count();
                    let word: String = chars[i..i + len].iter().collect();
                    out.push(match word.as_str() {
                        "AND" => Tok::And,
                        "OR" => Tok::Or,
                        _ => Tok::Word(word),
                    });
                    i += len;
                }
                other => return Err(format!("unexpected character '{other}'")),
            }
        }
        Ok(out)
    }

    struct Parser {
        toks: Vec<Tok>,
        at: usize,
    }

    impl Parser {
        fn peek(&self) -> Option<&Tok> {
            self.toks.get(self.at)
        }

        fn next(&mut self) -> Option<Tok> {
            let t = self.toks.get(self.at).cloned();
            self.at += 1;
            t
        }

        fn or(&mut self) -> Result<Expr, String> {
            let mut terms = vec![self.and()?];
            while self.peek() == Some(&Tok::Or) {
                self.at += 1;
                terms.push(self.and()?);
            }
            Ok(if terms.len() == 1 {
                terms.remove(0)
            } else {
                Expr::Or(terms)
            })
        }

        fn and(&mut self) -> Result<Expr, String> {
            let mut terms = vec![self.primary()?];
            while self.peek() == Some(&Tok::And) {
                self.at += 1;
                terms.push(self.primary()?);
            }
            Ok(if terms.len() == 1 {
                terms.remove(0)
            } else {
                Expr::And(terms)
            })
        }

        fn primary(&mut self) -> Result<Expr, String> {
            match self.next() {
                Some(Tok::Open) => {
                    let e = self.or()?;
                    match self.next() {
                        Some(Tok::Close) => Ok(e),
                        _ => Err("missing ')'".into()),
                    }
                }
                Some(Tok::Word(name)) => self.condition(&name),
                other => Err(format!("expected a condition, found {other:?}")),
            }
        }

        fn condition(&mut self, name: &str) -> Result<Expr, String> {
            let field = field(name)?;
            if self.next() != Some(Tok::Colon) {
                return Err(format!("expected ':' after '{name}'"));
            }
            let op = match self.peek() {
                Some(Tok::Gt) => Op::AtLeast,
                Some(Tok::Lt) => Op::AtMost,
                _ => Op::Eq,
            };
            if op != Op::Eq {
                self.at += 1;
            }
            let value = match (self.next(), field.is_time()) {
                (Some(Tok::Word(w)), _) if w == "null" && op == Op::Eq => Operand::Null,
                (Some(Tok::Int(n)), false) => Operand::Int(n),
                (Some(Tok::Quoted(q)), true) => time(&q)?,
                (other, _) => return Err(format!("invalid value for '{name}': {other:?}")),
            };
            Ok(Expr::Cond(field, op, value))
        }
    }

    fn field(name: &str) -> Result<Field, String> {
        Ok(match name {
            "status" => Field::Status,
            "priority" => Field::Priority,
            "group_id" => Field::GroupId,
            "agent_id" => Field::AgentId,
            "department_id" => Field::DepartmentId,
            "requester_id" => Field::RequesterId,
            "created_at" => Field::CreatedAt,
            "updated_at" => Field::UpdatedAt,
            "due_by" => Field::DueBy,
            "fr_due_by" => Field::FrDueBy,
            other => return Err(format!("unknown field '{other}'")),
        })
    }

    fn time(s: &str) -> Result<Operand, String> {
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            let at = d.and_hms_opt(0, 0, 0).ok_or("bad date")?.and_utc();
            return Ok(Operand::Time {
                at,
                date_only: true,
            });
        }
        DateTime::parse_from_rfc3339(s)
            .map(|t| Operand::Time {
                at: t.with_timezone(&Utc),
                date_only: false,
            })
            .map_err(|_| format!("invalid date '{s}'"))
    }

    impl Field {
        fn is_time(self) -> bool {
            matches!(
                self,
                Field::CreatedAt | Field::UpdatedAt | Field::DueBy | Field::FrDueBy
            )
        }
    }

    /// Parses a query (the text inside the double quotes).
    pub fn parse(query: &str) -> Result<Expr, String> {
        let toks = tokens(query)?;
        if toks.is_empty() {
            return Err("the query is empty".into());
        }
        let mut p = Parser { toks, at: 0 };
        let e = p.or()?;
        if p.at != p.toks.len() {
            return Err(format!("unexpected {:?}", p.toks[p.at]));
        }
        Ok(e)
    }

    impl Expr {
        pub fn matches(&self, t: &SimTicket) -> bool {
            match self {
                Expr::Or(v) => v.iter().any(|e| e.matches(t)),
                Expr::And(v) => v.iter().all(|e| e.matches(t)),
                Expr::Cond(f, op, value) => cond(t, *f, *op, value),
            }
        }
    }

    fn cond(t: &SimTicket, f: Field, op: Op, value: &Operand) -> bool {
        let number = match f {
            Field::Status => Some(Some(t.status)),
            Field::Priority => Some(Some(t.priority)),
            Field::GroupId => Some(t.group_id),
            Field::AgentId => Some(t.responder_id),
            Field::DepartmentId => Some(t.department_id),
            Field::RequesterId => Some(Some(t.requester_id)),
            _ => None,
        };
        let instant = match f {
            Field::CreatedAt => Some(t.created_at),
            Field::UpdatedAt => Some(t.updated_at),
            Field::DueBy => Some(t.due_by),
            Field::FrDueBy => Some(t.fr_due_by),
            _ => None,
        };
        match (value, number, instant) {
            (Operand::Null, Some(n), _) => n.is_none(),
            (Operand::Null, None, _) => false,
            (Operand::Int(want), Some(Some(have)), _) => compare(have, *want, op),
            (Operand::Time { at, date_only }, _, Some(have)) => {
                if op == Op::Eq && *date_only {
                    have.date_naive() == at.date_naive()
                } else {
                    compare(have.timestamp(), at.timestamp(), op)
                }
            }
            _ => false,
        }
    }

    fn compare(have: i64, want: i64, op: Op) -> bool {
        match op {
            Op::Eq => have == want,
            Op::AtLeast => have >= want,
            Op::AtMost => have <= want,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::filter::{parse, Expr, Field, Op, Operand};
    use super::*;
    use crate::sim::dataset::anchor;

    fn ticket(status: i64, group: Option<i64>, updated_days_ago: i64) -> SimTicket {
        let at = anchor() - Duration::days(updated_days_ago);
        SimTicket {
            id: 1,
            subject: "s".into(),
            description_html: String::new(),
            status,
            priority: 2,
            ticket_type: "Incident".into(),
            source: 1,
            requester_id: 5,
            responder_id: None,
            group_id: group,
            department_id: Some(9),
            created_at: at - Duration::days(1),
            updated_at: at,
            fr_due_by: at,
            due_by: at,
            first_responded_at: None,
            agent_responded_at: None,
            resolved_at: None,
            closed_at: None,
            deleted: false,
            spam: false,
            time_entries: vec![],
            conversations: vec![],
        }
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_group() {
        let e = parse("status:2 OR status:3 AND priority:4").unwrap();
        assert_eq!(
            e,
            Expr::Or(vec![
                Expr::Cond(Field::Status, Op::Eq, Operand::Int(2)),
                Expr::And(vec![
                    Expr::Cond(Field::Status, Op::Eq, Operand::Int(3)),
                    Expr::Cond(Field::Priority, Op::Eq, Operand::Int(4)),
                ]),
            ])
        );
        let e = parse("(status:2 OR status:3) AND group_id:7").unwrap();
        assert!(e.matches(&ticket(3, Some(7), 0)));
        assert!(!e.matches(&ticket(3, Some(8), 0)));
        assert!(!e.matches(&ticket(5, Some(7), 0)));
    }

    #[test]
    fn dates_compare_inclusively_and_null_matches_missing_values() {
        let t = ticket(2, None, 10);
        let day = (anchor() - Duration::days(10))
            .format("%Y-%m-%d")
            .to_string();
        let exact = ts(anchor() - Duration::days(10));
        assert!(parse(&format!("updated_at:>'{exact}'"))
            .unwrap()
            .matches(&t));
        assert!(parse(&format!("updated_at:<'{exact}'"))
            .unwrap()
            .matches(&t));
        assert!(parse(&format!("updated_at:'{day}'")).unwrap().matches(&t));
        assert!(!parse("updated_at:>'2026-01-01T00:00:00Z'")
            .unwrap()
            .matches(&t));
        assert!(parse("created_at:>'2000-01-01'").unwrap().matches(&t));
        assert!(parse("group_id:null").unwrap().matches(&t));
        assert!(!parse("agent_id:5").unwrap().matches(&t));
        assert!(parse("priority:>2 AND priority:<2").unwrap().matches(&t));
    }

    #[test]
    fn malformed_queries_are_refused() {
        for bad in [
            "",
            "status",
            "status:",
            "status:'2'",
            "updated_at:>5",
            "colour:2",
            "(status:2",
            "status:2)",
            "status:2 OR",
            "status:2 and status:3",
            "updated_at:>'yesterday'",
            "updated_at:>'2026-01-01",
            "status:2 status:3",
            "status:>null",
            "status:2;",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn credits_follow_the_embedding_rules() {
        assert_eq!(credits("/tickets", None), 1);
        assert_eq!(credits("/tickets", Some("include=stats&per_page=100")), 3);
        assert_eq!(credits("/tickets", Some("include=stats%2Crequester")), 5);
        assert_eq!(
            credits("/tickets/{id}", Some("include=conversations,stats")),
            3
        );
    }

    #[test]
    fn base64_and_text_helpers() {
        assert_eq!(base64_decode("a2V5Olg=").unwrap(), b"key:X");
        assert_eq!(base64_decode("a2V5Olg").unwrap(), b"key:X");
        assert!(base64_decode("a2V5*lg=").is_none());
        assert_eq!(
            text_of("<p>Hi &amp; bye<br/>next</p>"),
            "Hi & bye\nnext".to_string()
        );
        assert_eq!(hh_mm(125), "02:05");
    }
}
