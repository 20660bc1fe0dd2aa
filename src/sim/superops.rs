//! The SuperOps MSP GraphQL API, simulated (`vendor-apis.md` §1c): `POST /msp` under
//! the `/superops` prefix, so a client's URL is `http://<sim>/superops/msp`.
//!
//! What it does as SuperOps documents it:
//! - auth: `Authorization: Bearer <token>` (wrong or missing → HTTP 401) and
//!   `CustomerSubDomain` (wrong or missing → HTTP 400);
//! - GraphQL documents with variables, several root fields and aliases
//!   ([`super::graphql`]); answers shaped by the selection set, JSON-scalar fields
//!   (`client`, `site`, `requester`…) whole; validation errors as `errors` with no data;
//! - business errors as HTTP 200 with `errors[].extensions.clientError[{code, param}]`;
//! - 800 requests per fixed minute; a breach is HTTP 200 with `clientError.code =
//!   "rate_limit_exceeded"` (and `extensions.retryAfter` in seconds, which live clients
//!   honour when present); no rate-limit headers;
//! - `ListInfoInput{page (1-based), pageSize ≤ 100, sort, condition}` and
//!   `listInfo{page, pageSize, hasMore, totalCount, sort, condition}` with `hasMore`
//!   `null` (not `false`) on the last page; conditions with dot paths and the
//!   documented operators, `joinOperator` AND/OR;
//! - UTC times without a zone designator (`2022-04-10T10:15:30`).
//!
//! Queries: getClientList, getClient, getClientUserList, getTechnicianList,
//! getTicketList, getTicket, getTicketConversationList (the DESCRIPTION first),
//! getTicketNoteList (private notes), getWorklogEntries (account-wide, filter
//! `workItem.workId`), getClientSiteList, getAssetList, getAsset. Mutation:
//! updateClient (custom fields, e.g. the account number).
//!
//! The dataset's fields map onto SuperOps' as the functions below say (ids, status and
//! priority names, custom-field columns); tests build their expectations from them.
//! Faults: the shared [`faults::inject`] layer, plus `fail_paths` matched against the
//! root field names (every operation shares one path), answered with HTTP 500.

use super::dataset::{
    Dataset, SimAgent, SimCompany, SimContact, SimDevice, SimSite, SimTicket, SimTimeEntry,
};
use super::graphql::{self, Field, OperationKind};
use super::{faults, lock, Sim};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

/// The documented page-size ceiling.
pub const MAX_PAGE_SIZE: i64 = 100;
const DEFAULT_PAGE_SIZE: i64 = 10;
/// SuperOps ticket ids are large numbers beside a small display id.
const TICKET_ID_BASE: i64 = 6_000_000_000;

/// The client custom fields as the tenant's generated column names: (the dataset's
/// name for the field, its SuperOps column).
pub const CLIENT_FIELD_COLUMNS: &[(&str, &str)] = &[
    ("account_number", "udf1text"),
    ("plan_selected", "udf2select"),
    ("contract_term", "udf3select"),
    ("contract_start_date", "udf4date"),
    ("managed_users", "udf5numeric"),
    ("managed_devices", "udf6numeric"),
    ("phone_system", "udf7select"),
    ("email_system", "udf8select"),
    ("profit_or_non_profit", "udf9radio"),
];

pub fn routes(sim: Arc<Sim>) -> Router<Arc<Sim>> {
    Router::new()
        .route("/msp", post(graphql_endpoint))
        .layer(axum::middleware::from_fn_with_state(sim, faults::inject))
}

// ------------------------------------------------------------------ the dataset in SuperOps shapes

/// `2022-04-10T10:15:30`: UTC without a zone designator.
pub fn so_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// A dataset time as SuperOps reports it (to the second).
pub fn so_instant(t: DateTime<Utc>) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(&so_time(t), "%Y-%m-%dT%H:%M:%S")
        .map(|n| n.and_utc())
        .unwrap_or(t)
}

pub fn ticket_id(t: &SimTicket) -> String {
    (TICKET_ID_BASE + t.id).to_string()
}

/// The tenant's status names for the dataset's (Freshservice-numbered) statuses.
pub fn status_name(code: i64) -> &'static str {
    match code {
        2 => "Open",
        3 => "Pending",
        4 => "Resolved",
        5 => "Closed",
        8 => "Scheduled",
        9 => "Waiting on Customer",
        10 => "Waiting on third party",
        13 => "Under Investigation",
        15 => "Job Complete - Bill",
        16 => "Billing Complete",
        19 => "Update Needed",
        23 => "On Hold",
        26 => "Customer Responded",
        _ => "In Progress",
    }
}

/// The tenant's priority names (1..4).
pub fn priority_name(code: i64) -> &'static str {
    match code {
        1 => "Low",
        2 => "Medium",
        3 => "High",
        _ => "Critical",
    }
}

/// `TicketSource` for the dataset's Freshservice source codes.
pub fn source_name(code: i64) -> &'static str {
    match code {
        1 => "EMAIL",
        2 => "FORM",
        3 => "PHONE",
        _ => "AGENT",
    }
}

/// The client a site belongs to (sites are generated per company: its name, or the
/// name with " - Branch"). Sites of no client are not shown by SuperOps.
pub fn site_client<'a>(data: &'a Dataset, s: &SimSite) -> Option<&'a SimCompany> {
    data.companies
        .iter()
        .find(|c| s.name == c.name || s.name == format!("{} - Branch", c.name))
}

/// The company's headquarters site: its first.
pub fn hq_site(data: &Dataset, company_id: i64) -> Option<&SimSite> {
    data.sites
        .iter()
        .find(|s| site_client(data, s).is_some_and(|c| c.id == company_id))
}

pub fn asset_serial(d: &SimDevice) -> String {
    d.uid.replace('-', "")[..12].to_uppercase()
}

pub fn asset_manufacturer(d: &SimDevice) -> &'static str {
    match d.category.as_str() {
        "Laptop" if d.operating_system.starts_with("macOS") => "Apple Inc.",
        "Desktop" | "Laptop" => "Dell Inc.",
        "Server" if d.device_type == "virtual" => "VMware, Inc.",
        "Server" | "ESXi Host" => "HPE",
        _ if d.operating_system.starts_with("Cisco") => "Cisco",
        _ => "Fortinet",
    }
}

pub fn asset_model(d: &SimDevice) -> &'static str {
    match d.category.as_str() {
        "Laptop" if d.operating_system.starts_with("macOS") => "MacBook Pro",
        "Desktop" => "OptiPlex 7010",
        "Laptop" => "Latitude 5440",
        "Server" if d.device_type == "virtual" => "VMware Virtual Platform",
        "Server" | "ESXi Host" => "ProLiant DL380 Gen10",
        _ if d.operating_system.starts_with("Cisco") => "Catalyst 9200",
        _ => "FortiGate 60F",
    }
}

/// A device's UDF `udfN` as the asset custom field column `udfNtext`.
pub fn asset_udf_column(udf: &str) -> String {
    format!("{udf}text")
}

fn person(id: i64, name: String) -> Value {
    json!({"userId": id.to_string(), "name": name})
}

fn contact_name(p: &SimContact) -> String {
    format!("{} {}", p.first_name, p.last_name)
}

fn agent_name(a: &SimAgent) -> String {
    format!("{} {}", a.first_name, a.last_name)
}

fn opt_time(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(so_time(t)))
}

/// Lookups a render needs, built once per request.
struct Index<'a> {
    data: &'a Dataset,
    contacts: HashMap<i64, &'a SimContact>,
    agents: HashMap<i64, &'a SimAgent>,
    companies: HashMap<i64, &'a SimCompany>,
}

impl<'a> Index<'a> {
    fn new(data: &'a Dataset) -> Index<'a> {
        Index {
            data,
            contacts: data.contacts.iter().map(|c| (c.id, c)).collect(),
            agents: data.agents.iter().map(|a| (a.id, a)).collect(),
            companies: data.companies.iter().map(|c| (c.id, c)).collect(),
        }
    }

    fn client_ref(&self, company_id: Option<i64>) -> Value {
        company_id.and_then(|id| self.companies.get(&id)).map_or(
            Value::Null,
            |c| json!({"accountId": c.id.to_string(), "name": c.name}),
        )
    }

    fn site_ref(&self, company_id: Option<i64>) -> Value {
        company_id.and_then(|id| hq_site(self.data, id)).map_or(
            Value::Null,
            |s| json!({"id": s.id.to_string(), "name": s.name}),
        )
    }

    /// Anyone who can write on a ticket: a technician or a client user.
    fn user(&self, id: i64, with_email: bool) -> Value {
        if let Some(a) = self.agents.get(&id) {
            let mut v = person(a.id, agent_name(a));
            if with_email {
                v["email"] = json!(a.email);
            }
            return v;
        }
        match self.contacts.get(&id) {
            Some(p) => {
                let mut v = person(p.id, contact_name(p));
                if with_email {
                    v["email"] = json!(p.primary_email);
                }
                v
            }
            None => Value::Null,
        }
    }

    fn client(&self, c: &SimCompany) -> Value {
        let mut custom = Map::new();
        for (name, column) in CLIENT_FIELD_COLUMNS {
            if let Some(v) = c.custom_fields.get(*name) {
                custom.insert(column.to_string(), json!(v));
            }
        }
        let contact = |id: Option<i64>| {
            id.and_then(|id| self.contacts.get(&id))
                .map_or(Value::Null, |p| person(p.id, contact_name(p)))
        };
        json!({
            "accountId": c.id.to_string(),
            "name": c.name,
            "stage": "Active",
            "status": "Paid",
            "emailDomains": c.domains,
            "accountManager": Value::Null,
            "primaryContact": contact(c.head_user_id),
            "secondaryContact": contact(c.prime_user_id),
            "hqSite": self.site_ref(Some(c.id)),
            "technicianGroups": Value::Null,
            "customFields": custom,
        })
    }

    fn client_user(&self, p: &SimContact) -> Value {
        let company = p.department_ids.first().copied();
        json!({
            "userId": p.id.to_string(),
            "firstName": p.first_name,
            "lastName": p.last_name,
            "name": contact_name(p),
            "email": p.primary_email,
            "contactNumber": p.work_phone_number,
            "reportingManager": Value::Null,
            "site": self.site_ref(company),
            "role": {"roleId": "3", "name": "Requester"},
            "client": self.client_ref(company),
            "customFields": {},
        })
    }

    fn technician(&self, a: &SimAgent) -> Value {
        let groups: Vec<Value> = a
            .group_ids
            .iter()
            .filter_map(|g| self.data.groups.iter().find(|x| x.id == *g))
            .map(|g| json!({"groupId": g.id.to_string(), "name": g.name}))
            .collect();
        json!({
            "userId": a.id.to_string(),
            "firstName": a.first_name,
            "lastName": a.last_name,
            "name": agent_name(a),
            "email": a.email,
            "contactNumber": Value::Null,
            "emailSignature": Value::Null,
            "designation": {"id": "1", "name": a.job_title},
            "businessFunction": Value::Null,
            "team": Value::Null,
            "reportingManager": Value::Null,
            "role": {"roleId": "2", "name": "Technician"},
            "groups": groups,
        })
    }

    fn ticket(&self, t: &SimTicket) -> Value {
        let group = t
            .group_id
            .and_then(|g| self.data.groups.iter().find(|x| x.id == g))
            .map_or(
                Value::Null,
                |g| json!({"groupId": g.id.to_string(), "name": g.name}),
            );
        let technician = t
            .responder_id
            .and_then(|id| self.agents.get(&id))
            .map_or(Value::Null, |a| person(a.id, agent_name(a)));
        let requester = self
            .contacts
            .get(&t.requester_id)
            .map_or(Value::Null, |p| person(p.id, contact_name(p)));
        let minutes: i64 = t.time_entries.iter().map(|e| e.minutes).sum();
        json!({
            "ticketId": ticket_id(t),
            "displayId": t.id.to_string(),
            "subject": t.subject,
            "ticketType": t.ticket_type,
            "requestType": t.ticket_type,
            "source": source_name(t.source),
            "client": self.client_ref(t.department_id),
            "site": self.site_ref(t.department_id),
            "requester": requester,
            "additionalRequester": Value::Null,
            "followers": Value::Null,
            "techGroup": group,
            "technician": technician,
            "status": status_name(t.status),
            "priority": priority_name(t.priority),
            "impact": Value::Null,
            "urgency": Value::Null,
            "category": Value::Null,
            "subcategory": Value::Null,
            "cause": Value::Null,
            "subcause": Value::Null,
            "resolutionCode": Value::Null,
            "approvalStatus": Value::Null,
            "sla": {"id": "1", "name": "Standard SLA"},
            "createdTime": so_time(t.created_at),
            "updatedTime": so_time(t.updated_at),
            "firstResponseDueTime": so_time(t.fr_due_by),
            "firstResponseTime": opt_time(t.first_responded_at),
            "firstResponseViolated": t.first_responded_at.is_some_and(|f| f > t.fr_due_by),
            "resolutionDueTime": so_time(t.due_by),
            "resolutionTime": opt_time(t.resolved_at),
            "resolutionViolated": t.resolved_at.is_some_and(|r| r > t.due_by),
            "customFields": {},
            "worklogTimespent": format!("{:.2}", minutes as f64 / 60.0),
        })
    }

    /// The description first (SuperOps keeps it as the first message), then replies.
    fn conversations(&self, t: &SimTicket) -> Value {
        let mut out = vec![json!({
            "conversationId": format!("{}0", ticket_id(t)),
            "content": t.description_html,
            "time": so_time(t.created_at),
            "user": self.user(t.requester_id, true),
            "toUsers": [], "ccUsers": [], "bccUsers": [], "attachments": [],
            "type": "DESCRIPTION",
        })];
        for c in t.conversations.iter().filter(|c| !c.private) {
            let mut user = self.user(c.user_id, true);
            if c.incoming && user.is_object() {
                user["email"] = json!(c.from_email);
            }
            out.push(json!({
                "conversationId": c.id.to_string(),
                "content": c.body_html,
                "time": so_time(c.created_at),
                "user": user,
                "toUsers": [], "ccUsers": [], "bccUsers": [], "attachments": [],
                "type": if c.incoming { "REQ_REPLY" } else { "TECH_REPLY" },
            }));
        }
        Value::Array(out)
    }

    fn notes(&self, t: &SimTicket) -> Value {
        Value::Array(
            t.conversations
                .iter()
                .filter(|c| c.private)
                .map(|c| {
                    json!({
                        "noteId": c.id.to_string(),
                        "addedBy": self.user(c.user_id, false),
                        "addedOn": so_time(c.created_at),
                        "content": c.body_html,
                        "attachments": [],
                        "privacyType": "PRIVATE",
                    })
                })
                .collect(),
        )
    }

    fn worklog(&self, t: &SimTicket, e: &SimTimeEntry) -> Value {
        json!({
            "itemId": e.id.to_string(),
            "status": "NOT_INVOICED",
            "serviceItem": {"itemId": "1", "name": "Remote Support"},
            "billable": e.billable,
            "afterHours": false,
            "qty": hours_text(e.minutes),
            "revisedQuantity": Value::Null,
            "unitPrice": "125.00",
            "billDateTime": so_time(e.executed_at),
            "technician": self
                .agents
                .get(&e.agent_id)
                .map_or(Value::Null, |a| person(a.id, agent_name(a))),
            "notes": e.note,
            "workItem": {"workId": ticket_id(t), "module": "TICKET"},
        })
    }

    fn site(&self, s: &SimSite, c: &SimCompany) -> Value {
        let hq = hq_site(self.data, c.id).is_some_and(|h| h.id == s.id);
        json!({
            "id": s.id.to_string(),
            "name": s.name,
            "timezoneCode": "America/New_York",
            "working24x7": false,
            "businessHour": Value::Null,
            "holidayList": Value::Null,
            "line1": Value::Null, "line2": Value::Null, "line3": Value::Null,
            "city": Value::Null, "postalCode": Value::Null, "countryCode": "US",
            "stateCode": Value::Null, "contactNumber": Value::Null,
            "client": {"accountId": c.id.to_string(), "name": c.name},
            "hq": hq,
        })
    }

    fn asset(&self, d: &SimDevice, s: &SimSite, c: &SimCompany) -> Value {
        let custom: Map<String, Value> = d
            .udfs
            .iter()
            .map(|(k, v)| (asset_udf_column(k), json!(v)))
            .collect();
        let family = if d.operating_system.starts_with("Microsoft") {
            "Windows"
        } else if d.operating_system.starts_with("macOS") {
            "macOS"
        } else {
            "Other"
        };
        let class = match d.category.as_str() {
            "Desktop" | "Laptop" => "Workstation",
            "Server" => "Server",
            "ESXi Host" => "Hypervisor",
            _ => "Network Device",
        };
        json!({
            "assetId": d.id.to_string(),
            "name": d.hostname,
            "assetClass": {"classId": "1", "name": class},
            "client": {"accountId": c.id.to_string(), "name": c.name},
            "site": {"id": s.id.to_string(), "name": s.name},
            "requester": Value::Null,
            "primaryMac": Value::Null,
            "loggedInUser": d.last_logged_in_user,
            "serialNumber": asset_serial(d),
            "manufacturer": asset_manufacturer(d),
            "model": asset_model(d),
            "hostName": d.hostname,
            "publicIp": d.ext_ip_address,
            "gateway": Value::Null,
            "platform": d.operating_system,
            "domain": d.domain,
            "status": if d.online { "Online" } else { "Offline" },
            "sysUptime": (d.last_seen - d.last_reboot).num_seconds().to_string(),
            "lastCommunicatedTime": so_time(d.last_seen),
            "agentVersion": "1.24.3",
            "platformFamily": family,
            "platformCategory": d.device_type,
            "platformVersion": Value::Null,
            "patchStatus": d.patch_status,
            "warrantyExpiryDate": d.warranty_date,
            "purchasedDate": d.creation_date.format("%Y-%m-%d").to_string(),
            "customFields": custom,
            "lastReportedTime": so_time(d.last_audit_date),
            "deviceCategory": d.category,
        })
    }
}

/// Minutes as SuperOps' hours quantity, to four decimals, trailing zeros trimmed.
pub fn hours_text(minutes: i64) -> String {
    let s = format!("{:.4}", minutes as f64 / 60.0);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

// ------------------------------------------------------------------ the endpoint

/// A business error (`clientError`), answered with HTTP 200 beside the data.
struct ClientError {
    message: String,
    code: &'static str,
    param: Value,
}

fn client_error(code: &'static str, message: impl Into<String>, param: Value) -> ClientError {
    ClientError {
        message: message.into(),
        code,
        param,
    }
}

fn gql_errors(errors: Vec<Value>) -> Response {
    (
        StatusCode::OK,
        Json(json!({"data": Value::Null, "errors": errors})),
    )
        .into_response()
}

fn validation(message: impl Into<String>) -> Response {
    gql_errors(vec![json!({
        "message": message.into(),
        "extensions": {"classification": "ValidationError"},
    })])
}

async fn graphql_endpoint(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let creds = &sim.config.credentials;
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let parsed: Result<Value, _> = serde_json::from_slice(&body);
    let op_label = parsed
        .as_ref()
        .ok()
        .and_then(|b| b.get("query").and_then(Value::as_str))
        .map(root_label)
        .unwrap_or_else(|| "?".into());
    sim.stats.count(&format!("superops {op_label}"));
    if token != Some(creds.superops_api_token.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "Invalid API token"})),
        )
            .into_response();
    }
    let sub = headers
        .get("customersubdomain")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    if sub != Some(creds.superops_subdomain.as_str()) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"message": "Invalid CustomerSubDomain"})),
        )
            .into_response();
    }
    if let Err(wait) = sim.superops_limit.take(1) {
        sim.stats
            .throttled
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return gql_errors(vec![json!({
            "message": "Rate limit exceeded. Please retry after some time.",
            "extensions": {
                "clientError": [{"code": "rate_limit_exceeded", "param": {}}],
                "retryAfter": wait.as_secs(),
            },
        })]);
    }
    let Ok(body) = parsed else {
        return validation("the request body is not JSON");
    };
    let Some(query) = body.get("query").and_then(Value::as_str) else {
        return validation("the request has no query");
    };
    let variables = body
        .get("variables")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let op = match graphql::parse(
        query,
        body.get("operationName").and_then(Value::as_str),
        &variables,
    ) {
        Ok(op) => op,
        Err(e) => {
            return gql_errors(vec![json!({
                "message": format!("Invalid Syntax: {e}"),
                "extensions": {"classification": "InvalidSyntax"},
            })])
        }
    };
    let fail = sim.faults().fail_paths;
    if op
        .fields
        .iter()
        .any(|f| fail.iter().any(|p| p.contains(&f.name)))
    {
        sim.stats
            .faults_injected
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"message": "simulated server error"})),
        )
            .into_response();
    }
    let mut data = Map::new();
    let mut errors = Vec::new();
    for f in &op.fields {
        let resolved = match op.kind {
            OperationKind::Query => query_field(&sim, f),
            OperationKind::Mutation => mutation_field(&sim, f),
        };
        match resolved {
            Ok((value, type_name)) => match graphql::project(&value, &f.selection, type_name) {
                Ok(v) => {
                    data.insert(f.key().to_string(), v);
                }
                Err(e) => return validation(e),
            },
            Err(Resolve::Invalid(e)) => return validation(e),
            Err(Resolve::Client(e)) => {
                data.insert(f.key().to_string(), Value::Null);
                errors.push(json!({
                    "message": e.message,
                    "path": [f.key()],
                    "extensions": {"clientError": [{"code": e.code, "param": e.param}]},
                }));
            }
        }
    }
    let mut out = json!({ "data": data });
    if !errors.is_empty() {
        out["errors"] = Value::Array(errors);
    }
    (StatusCode::OK, Json(out)).into_response()
}

/// The stats label of a document: its root field names (before any parse), e.g.
/// `getTicket+getTicketConversationList`.
fn root_label(query: &str) -> String {
    match graphql::parse(query, None, &Map::new()) {
        Ok(op) => op
            .fields
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join("+"),
        Err(_) => "invalid".into(),
    }
}

enum Resolve {
    /// The document asks for something the schema does not have.
    Invalid(String),
    Client(ClientError),
}

impl From<ClientError> for Resolve {
    fn from(e: ClientError) -> Self {
        Resolve::Client(e)
    }
}

fn input(f: &Field) -> Map<String, Value> {
    f.args
        .get("input")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn id_arg(input: &Map<String, Value>, key: &'static str) -> Result<String, Resolve> {
    match input.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(client_error(
            "invalid_param",
            format!("{key} is required"),
            json!({"attribute": key}),
        )
        .into()),
    }
}

fn query_field(sim: &Sim, f: &Field) -> Result<(Value, &'static str), Resolve> {
    let data = sim.data();
    let ix = Index::new(&data);
    let input = input(f);
    let live_tickets = || data.tickets.iter().filter(|t| !t.deleted && !t.spam);
    Ok(match f.name.as_str() {
        "getClientList" => {
            let items = data.companies.iter().map(|c| ix.client(c)).collect();
            (listing(items, &input, "clients")?, "ClientList")
        }
        "getClient" => {
            let id = id_arg(&input, "accountId")?;
            let c = data
                .companies
                .iter()
                .find(|c| c.id.to_string() == id)
                .ok_or_else(|| not_found("client", "accountId"))?;
            (ix.client(c), "Client")
        }
        "getClientUserList" => {
            let client = input.get("clientId").and_then(Value::as_str);
            let items = data
                .contacts
                .iter()
                .filter(|p| {
                    client.is_none_or(|id| {
                        p.department_ids.first().map(i64::to_string).as_deref() == Some(id)
                    })
                })
                .map(|p| ix.client_user(p))
                .collect();
            (
                listing(items, &list_info(&input), "userList")?,
                "ClientUserList",
            )
        }
        "getTechnicianList" => {
            let items = data
                .agents
                .iter()
                .filter(|a| a.active)
                .map(|a| ix.technician(a))
                .collect();
            (listing(items, &input, "userList")?, "TechnicianList")
        }
        "getTicketList" => {
            let items = live_tickets().map(|t| ix.ticket(t)).collect();
            (listing(items, &input, "tickets")?, "TicketList")
        }
        "getTicket" => {
            let t = find_ticket(&data, &input)?;
            (ix.ticket(t), "Ticket")
        }
        "getTicketConversationList" => {
            let t = find_ticket(&data, &input)?;
            (ix.conversations(t), "TicketConversation")
        }
        "getTicketNoteList" => {
            let t = find_ticket(&data, &input)?;
            (ix.notes(t), "TicketNote")
        }
        "getWorklogEntries" => {
            if let Some(m) = input.get("module").and_then(Value::as_str) {
                if m != "TICKET" && m != "PROJECT" {
                    return Err(Resolve::Invalid(format!("invalid WorkModule {m:?}")));
                }
            }
            // The usual filter, one ticket's entries, is answered without rendering the
            // account's; the condition is still applied to what is rendered.
            let li = list_info(&input);
            let one = li.get("condition").and_then(|c| {
                let simple = c.get("attribute").and_then(Value::as_str) == Some("workItem.workId")
                    && c.get("operator").and_then(Value::as_str) == Some("is");
                simple.then(|| c.get("value").and_then(as_text)).flatten()
            });
            let items = live_tickets()
                .filter(|t| one.as_deref().is_none_or(|id| ticket_id(t) == id))
                .flat_map(|t| t.time_entries.iter().map(move |e| (t, e)))
                .map(|(t, e)| ix.worklog(t, e))
                .collect();
            (
                listing(items, &list_info(&input), "entries")?,
                "WorklogEntryList",
            )
        }
        "getClientSiteList" => {
            let client = input.get("clientId").and_then(Value::as_str);
            let items = data
                .sites
                .iter()
                .filter_map(|s| site_client(&data, s).map(|c| (s, c)))
                .filter(|(_, c)| client.is_none_or(|id| c.id.to_string() == id))
                .map(|(s, c)| ix.site(s, c))
                .collect();
            (
                listing(items, &list_info(&input), "sites")?,
                "ClientSiteList",
            )
        }
        "getAssetList" => {
            let sites: HashMap<&str, (&SimSite, &SimCompany)> = data
                .sites
                .iter()
                .filter_map(|s| site_client(&data, s).map(|c| (s.uid.as_str(), (s, c))))
                .collect();
            let items = data
                .devices
                .iter()
                .filter(|d| !d.deleted)
                .filter_map(|d| {
                    sites
                        .get(d.site_uid.as_str())
                        .map(|(s, c)| ix.asset(d, s, c))
                })
                .collect();
            (listing(items, &input, "assets")?, "AssetList")
        }
        "getAsset" => {
            let id = id_arg(&input, "assetId")?;
            let d = data
                .devices
                .iter()
                .find(|d| !d.deleted && d.id.to_string() == id)
                .ok_or_else(|| not_found("asset", "assetId"))?;
            let (s, c) = data
                .sites
                .iter()
                .find(|s| s.uid == d.site_uid)
                .and_then(|s| site_client(&data, s).map(|c| (s, c)))
                .ok_or_else(|| not_found("asset", "assetId"))?;
            (ix.asset(d, s, c), "Asset")
        }
        other => {
            return Err(Resolve::Invalid(format!(
                "Field '{other}' in type 'Query' is undefined"
            )))
        }
    })
}

fn not_found(what: &str, attribute: &'static str) -> Resolve {
    client_error(
        "not_found",
        format!("The {what} does not exist"),
        json!({"attribute": attribute}),
    )
    .into()
}

fn find_ticket<'a>(
    data: &'a Dataset,
    input: &Map<String, Value>,
) -> Result<&'a SimTicket, Resolve> {
    let id = id_arg(input, "ticketId")?;
    data.tickets
        .iter()
        .find(|t| !t.deleted && !t.spam && ticket_id(t) == id)
        .ok_or_else(|| not_found("ticket", "ticketId"))
}

/// `GetClientSiteListInput` and friends nest the `ListInfoInput` under `listInfo`.
fn list_info(input: &Map<String, Value>) -> Map<String, Value> {
    input
        .get("listInfo")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn mutation_field(sim: &Sim, f: &Field) -> Result<(Value, &'static str), Resolve> {
    match f.name.as_str() {
        "updateClient" => {
            let input = input(f);
            let id = id_arg(&input, "accountId")?;
            let mut data = sim.data();
            let Some(idx) = data.companies.iter().position(|c| c.id.to_string() == id) else {
                return Err(not_found("client", "accountId"));
            };
            let mut changes = Vec::new();
            if let Some(custom) = input.get("customFields") {
                let Some(custom) = custom.as_object() else {
                    return Err(client_error(
                        "invalid_param",
                        "customFields must be a JSON object",
                        json!({"attribute": "customFields"}),
                    )
                    .into());
                };
                for (column, value) in custom {
                    let Some((name, _)) = CLIENT_FIELD_COLUMNS.iter().find(|(_, c)| c == column)
                    else {
                        return Err(client_error(
                            "invalid_param",
                            format!("unknown custom field {column}"),
                            json!({"attribute": column}),
                        )
                        .into());
                    };
                    let text = match value {
                        Value::String(s) => Some(s.clone()),
                        Value::Null => None,
                        other => Some(other.to_string()),
                    };
                    changes.push((name.to_string(), text));
                }
            }
            if let Some(name) = input.get("name").and_then(Value::as_str) {
                data.companies[idx].name = name.to_string();
            }
            let c = &mut data.companies[idx];
            for (name, text) in changes {
                if name == "account_number" {
                    c.account_number = text.clone();
                }
                match text {
                    Some(t) => {
                        c.custom_fields.insert(name, t);
                    }
                    None => {
                        c.custom_fields.remove(&name);
                    }
                }
            }
            c.updated_at = Utc::now();
            let ix = Index::new(&data);
            Ok((ix.client(&data.companies[idx]), "Client"))
        }
        other => Err(Resolve::Invalid(format!(
            "Field '{other}' in type 'Mutation' is undefined"
        ))),
    }
}

// ------------------------------------------------------------------ listInfo: filter, sort, page

/// One page of `items` (every record of the type) by a `ListInfoInput`, under `key`.
fn listing(items: Vec<Value>, li: &Map<String, Value>, key: &str) -> Result<Value, Resolve> {
    let page = match li.get("page") {
        None | Some(Value::Null) => 1,
        Some(v) => v.as_i64().filter(|p| *p >= 1).ok_or_else(|| {
            client_error(
                "invalid_param",
                "page must be 1 or more",
                json!({"attribute": "page"}),
            )
        })?,
    };
    let page_size = match li.get("pageSize") {
        None | Some(Value::Null) => DEFAULT_PAGE_SIZE,
        Some(v) => v
            .as_i64()
            .filter(|s| (1..=MAX_PAGE_SIZE).contains(s))
            .ok_or_else(|| {
                client_error(
                    "invalid_param",
                    format!("pageSize must be between 1 and {MAX_PAGE_SIZE}"),
                    json!({"attribute": "pageSize"}),
                )
            })?,
    };
    let condition = li.get("condition").filter(|c| !c.is_null());
    let mut rows = Vec::with_capacity(items.len());
    for item in items {
        let keep = match condition {
            Some(c) => matches(&item, c).map_err(|e| {
                Resolve::Client(client_error(
                    "invalid_param",
                    e,
                    json!({"attribute": "condition"}),
                ))
            })?,
            None => true,
        };
        if keep {
            rows.push(item);
        }
    }
    if let Some(sorts) = li.get("sort").and_then(Value::as_array) {
        // Stable: records equal on every key keep their id order.
        rows.sort_by(|a, b| {
            for s in sorts {
                let attr = s.get("attribute").and_then(Value::as_str).unwrap_or("");
                let desc = s
                    .get("order")
                    .and_then(Value::as_str)
                    .is_some_and(|o| o.eq_ignore_ascii_case("DESC"));
                let ord = compare(lookup(a, attr), lookup(b, attr));
                let ord = if desc { ord.reverse() } else { ord };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            Ordering::Equal
        });
    }
    let total = rows.len() as i64;
    let start = ((page - 1) * page_size).min(total) as usize;
    let chunk: Vec<Value> = rows
        .into_iter()
        .skip(start)
        .take(page_size as usize)
        .collect();
    let has_more = (page * page_size < total).then_some(true);
    Ok(json!({
        key: chunk,
        "listInfo": {
            "page": page,
            "pageSize": page_size,
            "hasMore": has_more,
            "totalCount": total,
            "sort": li.get("sort").cloned().unwrap_or(Value::Null),
            "condition": condition.cloned().unwrap_or(Value::Null),
        },
    }))
}

/// A dot path (`technician.email`) into a record.
fn lookup<'a>(v: &'a Value, path: &str) -> &'a Value {
    let mut cur = v;
    for part in path.split('.') {
        cur = cur.get(part).unwrap_or(&Value::Null);
    }
    cur
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Numbers (also numeric strings such as ids) by value, else text; nulls first.
fn compare(a: &Value, b: &Value) -> Ordering {
    let num = |v: &Value| as_text(v).and_then(|s| s.parse::<f64>().ok());
    match (num(a), num(b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => as_text(a).cmp(&as_text(b)),
    }
}

/// A SuperOps time (zone-less UTC) or an RFC 3339 one.
fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    let s = v.as_str()?.trim();
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|n| n.and_utc())
        })
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|n| n.and_utc())
        })
}

/// Evaluates a `RuleConditionInput` (or an `{joinOperator, operands}` group).
fn matches(item: &Value, cond: &Value) -> Result<bool, String> {
    if let Some(join) = cond.get("joinOperator").and_then(Value::as_str) {
        let operands = cond
            .get("operands")
            .and_then(Value::as_array)
            .ok_or("a joinOperator needs operands")?;
        let mut results = operands.iter().map(|o| matches(item, o));
        return match join.to_ascii_uppercase().as_str() {
            "AND" => results.try_fold(true, |acc, r| r.map(|r| acc && r)),
            "OR" => results.try_fold(false, |acc, r| r.map(|r| acc || r)),
            other => Err(format!("unknown joinOperator {other:?}")),
        };
    }
    let attr = cond
        .get("attribute")
        .and_then(Value::as_str)
        .ok_or("a condition needs an attribute")?;
    let op = cond
        .get("operator")
        .and_then(Value::as_str)
        .ok_or("a condition needs an operator")?;
    let want = cond.get("value").unwrap_or(&Value::Null);
    let got = lookup(item, attr);
    let got_text = as_text(got);
    let text = |v: &Value| as_text(v).unwrap_or_default().to_lowercase();
    let list = || -> Result<Vec<String>, String> {
        match want {
            Value::Array(vs) => Ok(vs.iter().map(text).collect()),
            Value::Null => Err(format!("{op} needs a value")),
            v => Ok(vec![text(v)]),
        }
    };
    let time = |v: &Value| parse_time(v).ok_or_else(|| format!("{v} is not a date-time"));
    let g = got_text.clone().unwrap_or_default().to_lowercase();
    Ok(match op {
        "is" => got_text.is_some() && g == text(want),
        "isNot" => g != text(want),
        "isEmpty" => got_text.as_deref().is_none_or(str::is_empty),
        "isNotEmpty" => got_text.as_deref().is_some_and(|s| !s.is_empty()),
        "startsWith" => g.starts_with(&text(want)),
        "endsWith" => g.ends_with(&text(want)),
        "contains" => g.contains(&text(want)),
        "notContains" => !g.contains(&text(want)),
        "includes" => list()?.contains(&g),
        "notIncludes" => !list()?.contains(&g),
        "greaterThan" | "lessThan" | "greaterThanOrEqual" | "lessThanOrEqual" => {
            let ord = compare(got, want);
            match op {
                "greaterThan" => ord == Ordering::Greater,
                "lessThan" => ord == Ordering::Less,
                "greaterThanOrEqual" => ord != Ordering::Less,
                _ => ord != Ordering::Greater,
            }
        }
        "after" | "before" | "on" | "between" => {
            let Some(at) = parse_time(got) else {
                return Ok(false);
            };
            match op {
                "after" => at > time(want)?,
                "before" => at < time(want)?,
                "on" => at.date_naive() == time(want)?.date_naive(),
                _ => {
                    let bounds = want
                        .as_array()
                        .filter(|b| b.len() == 2)
                        .ok_or("between needs two values")?;
                    at >= time(&bounds[0])? && at <= time(&bounds[1])?
                }
            }
        }
        other => return Err(format!("unknown operator {other:?}")),
    })
}

/// The whole sim's SuperOps view of a dataset (used by tests and the benchmark to
/// count what a full sync should fetch).
pub fn visible_counts(sim: &Sim) -> (usize, usize) {
    let data = lock(&sim.data);
    let sites = data
        .sites
        .iter()
        .filter(|s| site_client(&data, s).is_some())
        .count();
    let tickets = data
        .tickets
        .iter()
        .filter(|t| !t.deleted && !t.spam)
        .count();
    (sites, tickets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_exact_enough_for_five_minute_steps() {
        assert_eq!(hours_text(60), "1");
        assert_eq!(hours_text(90), "1.5");
        assert_eq!(hours_text(5), "0.0833");
        for m in (5..=240).step_by(5) {
            let back = (hours_text(m).parse::<f64>().unwrap() * 60.0).round() as i64;
            assert_eq!(back, m);
        }
    }

    #[test]
    fn listings_page_filter_and_sort() {
        let items: Vec<Value> = (1..=25)
            .map(|i| json!({"id": i.to_string(), "t": format!("2025-01-{i:02}T00:00:00"), "who": {"email": format!("u{i}@x")}}))
            .collect();
        let li = json!({"page": 2, "pageSize": 10, "sort": [{"attribute": "id", "order": "DESC"}]});
        let page = listing(items.clone(), li.as_object().unwrap(), "rows")
            .ok()
            .unwrap();
        let ids: Vec<&str> = page["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            ["15", "14", "13", "12", "11", "10", "9", "8", "7", "6"]
        );
        assert_eq!(page["listInfo"]["hasMore"], true);
        let last = listing(
            items.clone(),
            json!({"page": 3, "pageSize": 10}).as_object().unwrap(),
            "rows",
        )
        .ok()
        .unwrap();
        assert_eq!(last["rows"].as_array().unwrap().len(), 5);
        assert!(
            last["listInfo"]["hasMore"].is_null(),
            "null, not false, on the last page"
        );
        let cond = json!({"condition": {"joinOperator": "AND", "operands": [
            {"attribute": "t", "operator": "after", "value": "2025-01-20T00:00:00"},
            {"attribute": "who.email", "operator": "isNot", "value": "u22@x"}
        ]}, "pageSize": 100});
        let hit = listing(items.clone(), cond.as_object().unwrap(), "rows")
            .ok()
            .unwrap();
        assert_eq!(hit["listInfo"]["totalCount"], 4);
        assert!(listing(items, json!({"pageSize": 101}).as_object().unwrap(), "rows").is_err());
    }
}
