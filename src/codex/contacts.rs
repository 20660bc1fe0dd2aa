//! Contacts: the people at client companies (PSA requesters and hand-made entries),
//! linked many-to-many to companies (one link may be primary) and to assets.
//!
//! Ledger keys per-user billing overrides on the contact's row id, so ids never change:
//! the PSA sync upserts through `upsert_from_source` (keyed on the source's id, adopting
//! a hand-made contact with the same e-mail) and `mark_missing` only sets `deleted_at`.

use super::companies::{self, uri_str};
use super::company_scope_sql;
use super::patch::{self, apply_required, apply_text};
use crate::audit::{self, Action, Change};
use crate::auth::Principal;
use crate::db::{flag, like_pattern, Db};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::http::extract::{JsonBody, QueryParams};
use crate::http::pagination::{Order, Page};
use crate::http::AppState;
use crate::validate;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, put};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeMap, HashMap, HashSet};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Most ids bound into one `IN (…)` list: far below SQLite's and PostgreSQL's limits.
const CHUNK: usize = 500;
/// Most companies or assets one write may link a contact to.
const MAX_LINKS: usize = 500;

/// One company a contact belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ContactCompany {
    pub company_id: i64,
    pub account_number: String,
    pub name: String,
    pub is_primary: bool,
}

/// A contact as every API shows it. `primary_email` and `title` repeat `email` and
/// `job_title` (the original exposed both names; we store each value once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Contact {
    pub id: i64,
    pub external_source: Option<String>,
    pub external_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub name: String,
    pub email: String,
    pub primary_email: String,
    pub secondary_emails: Vec<String>,
    pub active: bool,
    pub is_agent: bool,
    pub vip_user: bool,
    pub has_logged_in: bool,
    pub mobile_phone_number: Option<String>,
    pub work_phone_number: Option<String>,
    pub address: Option<String>,
    pub job_title: Option<String>,
    pub title: Option<String>,
    pub employment_type: String,
    pub department_ids: Vec<String>,
    pub department_names: Vec<String>,
    pub reporting_manager_id: Option<String>,
    pub location_id: Option<String>,
    pub location_name: Option<String>,
    pub work_schedule_id: Option<String>,
    pub language: String,
    pub time_zone: Option<String>,
    pub time_format: Option<String>,
    pub background_information: Option<String>,
    pub user_number: Option<String>,
    pub can_see_all_tickets_from_associated_departments: bool,
    pub can_see_all_changes_from_associated_departments: bool,
    pub psa_created_at: Option<String>,
    pub psa_updated_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub deleted_at: Option<String>,
    /// Primary company first, then by name.
    pub companies: Vec<ContactCompany>,
    /// Assets (not deleted) the contact is assigned to.
    pub asset_ids: Vec<i64>,
}

impl Contact {
    /// Keeps the alias fields equal to the values they repeat.
    fn sync_aliases(&mut self) {
        self.primary_email = self.email.clone();
        self.title = self.job_title.clone();
    }
}

/// The writable columns, in bind order for INSERT and UPDATE.
const WRITABLE: &[&str] = &[
    "external_source",
    "external_id",
    "first_name",
    "last_name",
    "name",
    "email",
    "secondary_emails",
    "active",
    "is_agent",
    "vip_user",
    "has_logged_in",
    "mobile_phone_number",
    "work_phone_number",
    "address",
    "job_title",
    "employment_type",
    "department_ids",
    "department_names",
    "reporting_manager_id",
    "location_id",
    "location_name",
    "work_schedule_id",
    "language",
    "time_zone",
    "time_format",
    "background_information",
    "user_number",
    "can_see_all_tickets_from_associated_departments",
    "can_see_all_changes_from_associated_departments",
    "psa_created_at",
    "psa_updated_at",
    "deleted_at",
];

type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind_writable<'q>(q: Query<'q>, c: &'q Contact) -> Query<'q> {
    q.bind(&c.external_source)
        .bind(&c.external_id)
        .bind(&c.first_name)
        .bind(&c.last_name)
        .bind(&c.name)
        .bind(&c.email)
        .bind(json_text(&c.secondary_emails))
        .bind(c.active as i64)
        .bind(c.is_agent as i64)
        .bind(c.vip_user as i64)
        .bind(c.has_logged_in as i64)
        .bind(&c.mobile_phone_number)
        .bind(&c.work_phone_number)
        .bind(&c.address)
        .bind(&c.job_title)
        .bind(&c.employment_type)
        .bind(json_text(&c.department_ids))
        .bind(json_text(&c.department_names))
        .bind(&c.reporting_manager_id)
        .bind(&c.location_id)
        .bind(&c.location_name)
        .bind(&c.work_schedule_id)
        .bind(&c.language)
        .bind(&c.time_zone)
        .bind(&c.time_format)
        .bind(&c.background_information)
        .bind(&c.user_number)
        .bind(c.can_see_all_tickets_from_associated_departments as i64)
        .bind(c.can_see_all_changes_from_associated_departments as i64)
        .bind(&c.psa_created_at)
        .bind(&c.psa_updated_at)
        .bind(&c.deleted_at)
}

fn json_text(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

/// Reads a stored JSON array; numbers (PSA ids) become strings, junk becomes empty.
fn json_list(s: &str) -> Vec<String> {
    serde_json::from_str::<Vec<Value>>(s)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| match v {
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect()
}

/// A contact row without its links (`companies` and `asset_ids` empty).
fn from_row(r: &AnyRow) -> Result<Contact, sqlx::Error> {
    let email: String = r.try_get("email")?;
    let job_title: Option<String> = r.try_get("job_title")?;
    Ok(Contact {
        id: r.try_get("id")?,
        external_source: r.try_get("external_source")?,
        external_id: r.try_get("external_id")?,
        first_name: r.try_get("first_name")?,
        last_name: r.try_get("last_name")?,
        name: r.try_get("name")?,
        primary_email: email.clone(),
        email,
        secondary_emails: json_list(&r.try_get::<String, _>("secondary_emails")?),
        active: flag(r, "active")?,
        is_agent: flag(r, "is_agent")?,
        vip_user: flag(r, "vip_user")?,
        has_logged_in: flag(r, "has_logged_in")?,
        mobile_phone_number: r.try_get("mobile_phone_number")?,
        work_phone_number: r.try_get("work_phone_number")?,
        address: r.try_get("address")?,
        title: job_title.clone(),
        job_title,
        employment_type: r.try_get("employment_type")?,
        department_ids: json_list(&r.try_get::<String, _>("department_ids")?),
        department_names: json_list(&r.try_get::<String, _>("department_names")?),
        reporting_manager_id: r.try_get("reporting_manager_id")?,
        location_id: r.try_get("location_id")?,
        location_name: r.try_get("location_name")?,
        work_schedule_id: r.try_get("work_schedule_id")?,
        language: r.try_get("language")?,
        time_zone: r.try_get("time_zone")?,
        time_format: r.try_get("time_format")?,
        background_information: r.try_get("background_information")?,
        user_number: r.try_get("user_number")?,
        can_see_all_tickets_from_associated_departments: flag(
            r,
            "can_see_all_tickets_from_associated_departments",
        )?,
        can_see_all_changes_from_associated_departments: flag(
            r,
            "can_see_all_changes_from_associated_departments",
        )?,
        psa_created_at: r.try_get("psa_created_at")?,
        psa_updated_at: r.try_get("psa_updated_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        deleted_at: r.try_get("deleted_at")?,
        companies: vec![],
        asset_ids: vec![],
    })
}

fn blank(now: &str) -> Contact {
    Contact {
        id: 0,
        external_source: None,
        external_id: None,
        first_name: None,
        last_name: None,
        name: String::new(),
        email: String::new(),
        primary_email: String::new(),
        secondary_emails: vec![],
        active: true,
        is_agent: false,
        vip_user: false,
        has_logged_in: false,
        mobile_phone_number: None,
        work_phone_number: None,
        address: None,
        job_title: None,
        title: None,
        employment_type: DEFAULT_EMPLOYMENT.into(),
        department_ids: vec![],
        department_names: vec![],
        reporting_manager_id: None,
        location_id: None,
        location_name: None,
        work_schedule_id: None,
        language: DEFAULT_LANGUAGE.into(),
        time_zone: None,
        time_format: None,
        background_information: None,
        user_number: None,
        can_see_all_tickets_from_associated_departments: false,
        can_see_all_changes_from_associated_departments: false,
        psa_created_at: None,
        psa_updated_at: None,
        created_at: now.into(),
        updated_at: now.into(),
        deleted_at: None,
        companies: vec![],
        asset_ids: vec![],
    }
}

const DEFAULT_EMPLOYMENT: &str = "Full Time";
const DEFAULT_LANGUAGE: &str = "en";

/// "first last" when either is set, else the e-mail's local part (the original's rule),
/// cut to the column's 150 characters.
pub fn derive_name(first: Option<&str>, last: Option<&str>, email: &str) -> String {
    let full = [first, last]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let name = if full.is_empty() {
        email.split('@').next().unwrap_or(email).to_string()
    } else {
        full
    };
    name.chars().take(150).collect()
}

fn derived_name_of(c: &Contact) -> String {
    derive_name(c.first_name.as_deref(), c.last_name.as_deref(), &c.email)
}

/// `$from, $from+1, …` for `n` bound values.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------
// Store: reads
// ---------------------------------------------------------------------------

/// Which contacts' links to load.
enum LinkFilter<'a> {
    /// These contact ids.
    Contacts(&'a [i64]),
    /// Every contact linked to one of these companies.
    OfCompanies(&'a [i64]),
}

impl LinkFilter<'_> {
    fn ids(&self) -> &[i64] {
        match self {
            LinkFilter::Contacts(ids) | LinkFilter::OfCompanies(ids) => ids,
        }
    }

    /// Condition on `{col}` (a contact id) for one chunk of `n` ids bound from `$1`.
    fn sql(&self, col: &str, n: usize) -> String {
        let ph = placeholders(1, n);
        match self {
            LinkFilter::Contacts(_) => format!("{col} IN ({ph})"),
            LinkFilter::OfCompanies(_) => format!(
                "{col} IN (SELECT contact_id FROM contact_companies WHERE company_id IN ({ph}))"
            ),
        }
    }
}

type Links = (HashMap<i64, Vec<ContactCompany>>, HashMap<i64, Vec<i64>>);

/// Company and asset links of many contacts in two queries per chunk of ids. `scope`
/// (a client's company) hides links to other companies and their assets.
async fn load_links(
    conn: &mut AnyConnection,
    filter: LinkFilter<'_>,
    scope: Option<i64>,
) -> AppResult<Links> {
    let mut companies: HashMap<i64, Vec<ContactCompany>> = HashMap::new();
    let mut assets: HashMap<i64, Vec<i64>> = HashMap::new();
    for chunk in filter.ids().chunks(CHUNK) {
        let sql = format!(
            "SELECT cc.contact_id, cc.company_id, cc.is_primary, co.account_number, co.name \
             FROM contact_companies cc JOIN companies co ON co.id = cc.company_id \
             WHERE {} {} ORDER BY cc.is_primary DESC, co.name, co.id",
            filter.sql("cc.contact_id", chunk.len()),
            company_scope_sql("cc.company_id", scope)
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            companies
                .entry(r.try_get("contact_id")?)
                .or_default()
                .push(ContactCompany {
                    company_id: r.try_get("company_id")?,
                    account_number: r.try_get("account_number")?,
                    name: r.try_get("name")?,
                    is_primary: flag(&r, "is_primary")?,
                });
        }
        let sql = format!(
            "SELECT ac.contact_id, ac.asset_id FROM asset_contacts ac \
             JOIN assets a ON a.id = ac.asset_id \
             WHERE {} AND a.deleted_at IS NULL {} ORDER BY ac.asset_id",
            filter.sql("ac.contact_id", chunk.len()),
            company_scope_sql("a.company_id", scope)
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            assets
                .entry(r.try_get("contact_id")?)
                .or_default()
                .push(r.try_get("asset_id")?);
        }
    }
    Ok((companies, assets))
}

fn attach(list: &mut [Contact], links: &Links) {
    for c in list {
        c.companies = links.0.get(&c.id).cloned().unwrap_or_default();
        c.asset_ids = links.1.get(&c.id).cloned().unwrap_or_default();
    }
}

async fn with_links(
    conn: &mut AnyConnection,
    mut list: Vec<Contact>,
    scope: Option<i64>,
) -> AppResult<Vec<Contact>> {
    let ids: Vec<i64> = list.iter().map(|c| c.id).collect();
    let links = load_links(conn, LinkFilter::Contacts(&ids), scope).await?;
    attach(&mut list, &links);
    Ok(list)
}

async fn get_in(
    conn: &mut AnyConnection,
    id: i64,
    scope: Option<i64>,
) -> AppResult<Option<Contact>> {
    let row = sqlx::query("SELECT * FROM contacts WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(c) = row.map(|r| from_row(&r)).transpose()? else {
        return Ok(None);
    };
    Ok(with_links(conn, vec![c], scope).await?.pop())
}

/// One contact with its links (deleted ones included: callers decide).
pub async fn get_by_id(db: &Db, id: i64) -> AppResult<Option<Contact>> {
    get_in(&mut *db.pool.acquire().await?, id, None).await
}

/// The contact with this e-mail (compared lower-cased, as stored), without links.
pub async fn find_by_email(db: &Db, email: &str) -> AppResult<Option<Contact>> {
    let row = sqlx::query("SELECT * FROM contacts WHERE email = $1")
        .bind(email.trim().to_lowercase())
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|r| from_row(&r)).transpose()?)
}

async fn find_by_external(db: &Db, source: &str, external_id: &str) -> AppResult<Option<Contact>> {
    let row = sqlx::query("SELECT * FROM contacts WHERE external_source = $1 AND external_id = $2")
        .bind(source)
        .bind(external_id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|r| from_row(&r)).transpose()?)
}

/// The contact a caller may see, or 404: a client sees only contacts linked to its
/// company (and only that company among their links).
pub async fn visible(db: &Db, who: &Principal, id: i64) -> AppResult<Contact> {
    let scope = who.company_scope();
    let c = get_in(&mut *db.pool.acquire().await?, id, scope).await?;
    match c {
        Some(c) if scope.is_none() || !c.companies.is_empty() => Ok(c),
        _ => Err(AppError::not_found(format!("contact {id} not found"))),
    }
}

/// A live contact of a company with the fields billing reads: (company id, contact id,
/// name, active), ordered by company and name, one query per 500 companies (for Ledger).
pub async fn billing_people(
    db: &Db,
    company_ids: &[i64],
) -> AppResult<Vec<(i64, i64, String, bool)>> {
    let mut out = Vec::new();
    for chunk in company_ids.chunks(CHUNK) {
        let sql = format!(
            "SELECT cc.company_id, c.id, c.name, c.active FROM contact_companies cc \
             JOIN contacts c ON c.id = cc.contact_id \
             WHERE cc.company_id IN ({}) AND c.deleted_at IS NULL \
             ORDER BY cc.company_id, c.name, c.id",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&db.pool).await? {
            out.push((
                r.try_get(0)?,
                r.try_get(1)?,
                r.try_get(2)?,
                flag(&r, "active")?,
            ));
        }
    }
    Ok(out)
}

/// Every live contact (inactive included) of each company, keyed by company id, in a
/// fixed number of queries per 500 companies. Ledger counts users and bulk nests them.
pub async fn list_for_companies(
    db: &Db,
    company_ids: &[i64],
) -> AppResult<BTreeMap<i64, Vec<Contact>>> {
    let mut out: BTreeMap<i64, Vec<Contact>> = BTreeMap::new();
    let mut conn = db.pool.acquire().await?;
    for chunk in company_ids.chunks(CHUNK) {
        let sql = format!(
            "SELECT cc.company_id AS link_company_id, c.* FROM contact_companies cc \
             JOIN contacts c ON c.id = cc.contact_id \
             WHERE cc.company_id IN ({}) AND c.deleted_at IS NULL \
             ORDER BY cc.company_id, c.name, c.id",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        let rows = q.fetch_all(&mut *conn).await?;
        let links = load_links(&mut conn, LinkFilter::OfCompanies(chunk), None).await?;
        for r in rows {
            let mut c = from_row(&r)?;
            attach(std::slice::from_mut(&mut c), &links);
            out.entry(r.try_get("link_company_id")?)
                .or_default()
                .push(c);
        }
    }
    Ok(out)
}

/// Active, live contacts per company for the given companies, in one grouped query
/// (list pages).
/// The names of the given contacts, in one query (Beacon's requester column: the
/// ticket listing carries only the requester's id).
pub async fn names_by_id(db: &Db, ids: &[i64]) -> AppResult<HashMap<i64, String>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT id, name FROM contacts WHERE id IN ({})",
        super::ids_sql(ids)
    );
    let rows = sqlx::query(&sql).fetch_all(&db.pool).await?;
    rows.iter()
        .map(|r| Ok((r.try_get::<i64, _>(0)?, r.try_get::<String, _>(1)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

pub async fn count_by_company(db: &Db, company_ids: &[i64]) -> AppResult<HashMap<i64, i64>> {
    if company_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT cc.company_id, COUNT(*) FROM contact_companies cc JOIN contacts c ON c.id = cc.contact_id \
         WHERE cc.company_id IN ({}) AND c.deleted_at IS NULL AND c.active = 1 GROUP BY cc.company_id",
        super::ids_sql(company_ids)
    );
    super::counts_by_company(db, &sql).await
}

/// Query for contact lists.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContactQuery {
    /// Matches name, e-mail, mobile and work phone (case-insensitive).
    pub search: Option<String>,
    /// Account number of a company the contact belongs to.
    pub company: Option<String>,
    /// Only active (true) or inactive (false) contacts; default: active only.
    pub active: Option<bool>,
    /// Include inactive contacts (when `active` is not given).
    pub include_inactive: Option<bool>,
    /// Include contacts marked deleted.
    pub include_deleted: Option<bool>,
    pub is_agent: Option<bool>,
    pub vip_user: Option<bool>,
    /// name (default), email, active, created_at, updated_at
    pub sort: Option<String>,
    pub order: Option<Order>,
    /// 1..=1000, default 100.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

const SORTS: &[&str] = &["name", "email", "active", "created_at", "updated_at"];

/// The list filter's values, bound as `$1..$6` to both the count and the page query.
struct ListBinds {
    include_deleted: i64,
    active: Option<i64>,
    is_agent: Option<i64>,
    vip_user: Option<i64>,
    search: Option<String>,
    company: Option<String>,
}

impl ListBinds {
    fn bind<'q>(&'q self, sql: &'q str) -> Query<'q> {
        sqlx::query(sql)
            .bind(self.include_deleted)
            .bind(self.active)
            .bind(self.is_agent)
            .bind(self.vip_user)
            .bind(&self.search)
            .bind(&self.company)
    }
}

/// A page of contacts (with links) and the number matching.
pub async fn list(
    db: &Db,
    scope: Option<i64>,
    q: &ContactQuery,
    page: Page,
) -> AppResult<(Vec<Contact>, i64)> {
    let sort = q.sort.as_deref().unwrap_or("name");
    if !SORTS.contains(&sort) {
        return Err(AppError::invalid(
            "sort",
            format!("must be one of: {}", SORTS.join(", ")),
        ));
    }
    let ilike = db.ilike();
    let scope_sql = match scope {
        Some(id) => format!(
            "AND EXISTS (SELECT 1 FROM contact_companies cs WHERE cs.contact_id = c.id AND cs.company_id = {id})"
        ),
        None => String::new(),
    };
    let filter = format!(
        "WHERE ($1 = 1 OR c.deleted_at IS NULL) AND ($2 IS NULL OR c.active = $2) \
         AND ($3 IS NULL OR c.is_agent = $3) AND ($4 IS NULL OR c.vip_user = $4) \
         AND ($5 IS NULL OR c.name {ilike} $5 ESCAPE '\\' OR c.email {ilike} $5 ESCAPE '\\' \
              OR c.mobile_phone_number {ilike} $5 ESCAPE '\\' OR c.work_phone_number {ilike} $5 ESCAPE '\\') \
         AND ($6 IS NULL OR c.id IN (SELECT cf.contact_id FROM contact_companies cf JOIN companies co ON co.id = cf.company_id \
              WHERE co.account_number = $6)) {scope_sql}"
    );
    let active = match (q.active, q.include_inactive.unwrap_or(false)) {
        (Some(a), _) => Some(a as i64),
        (None, true) => None,
        (None, false) => Some(1),
    };
    let binds = ListBinds {
        include_deleted: q.include_deleted.unwrap_or(false) as i64,
        active,
        is_agent: q.is_agent.map(i64::from),
        vip_user: q.vip_user.map(i64::from),
        search: q
            .search
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|s| like_pattern(s.trim())),
        company: q.company.as_deref().map(|c| c.trim().to_string()),
    };
    let count_sql = format!("SELECT COUNT(*) FROM contacts c {filter}");
    let total: i64 = binds
        .bind(&count_sql)
        .fetch_one(&db.pool)
        .await?
        .try_get(0)?;
    let order = q.order.unwrap_or_default().sql();
    let sql = format!(
        "SELECT c.* FROM contacts c {filter} ORDER BY c.{sort} {order}, c.id {order} LIMIT $7 OFFSET $8"
    );
    let rows = binds
        .bind(&sql)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&db.pool)
        .await?;
    let list = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    let list = with_links(&mut *db.pool.acquire().await?, list, scope).await?;
    Ok((list, total))
}

// ---------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------

/// Fields a client may send to create or update a contact. Absent fields stay as they
/// are; `null` or `""` clears a field.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub last_name: Option<Option<String>>,
    /// Derived from first and last name (else the e-mail's local part) unless given;
    /// `null` or `""` goes back to the derived name.
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    /// Required on create; unique (case-insensitive), stored lower-cased.
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    /// Alias of `email`.
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub primary_email: Option<Option<String>>,
    /// Array of e-mail addresses, or a comma-separated string as the original took.
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<Vec<String>>)]
    pub secondary_emails: Option<Option<Value>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub job_title: Option<Option<String>>,
    /// Alias of `job_title`.
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub mobile_phone_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub work_phone_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub address: Option<Option<String>>,
    /// Default `Full Time` (clearing restores it).
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub employment_type: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub location_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub time_zone: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub time_format: Option<Option<String>>,
    /// Default `en` (clearing restores it).
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub language: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub background_information: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub user_number: Option<Option<String>>,
    /// Setting `true` on a deleted contact restores it.
    pub active: Option<bool>,
    pub vip_user: Option<bool>,
    pub is_agent: Option<bool>,
    pub has_logged_in: Option<bool>,
    /// Replaces the companies the contact belongs to (account numbers).
    pub company_account_numbers: Option<Vec<String>>,
    /// Account number of the primary company; must be one of the contact's companies.
    /// Without it the first company is primary.
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub primary_company: Option<Option<String>>,
    /// Replaces the assets the contact is assigned to.
    pub asset_ids: Option<Vec<i64>>,
}

/// The link changes a write makes, resolved and checked before anything is written.
#[derive(Default)]
struct LinkPlan {
    companies: Option<Vec<ContactCompany>>,
    assets: Option<Vec<i64>>,
}

/// Secondary e-mails from an array, a JSON-array string or a comma-separated string.
fn parse_emails(v: &Value) -> Result<Vec<String>, String> {
    let items: Vec<Value> = match v {
        Value::Null => vec![],
        Value::Array(a) => a.clone(),
        Value::String(s) if s.trim_start().starts_with('[') => serde_json::from_str(s)
            .map_err(|_| "must be a JSON array of e-mail addresses".to_string())?,
        Value::String(s) => s
            .split([',', ';'])
            .map(|e| Value::String(e.into()))
            .collect(),
        _ => return Err("must be an array of e-mail addresses".into()),
    };
    let mut out = Vec::new();
    for item in items {
        let s = item
            .as_str()
            .ok_or("must be an array of e-mail addresses")?;
        if s.trim().is_empty() {
            continue;
        }
        let e = validate::email(s)
            .map_err(|_| format!("'{}' is not a valid e-mail address", s.trim()))?;
        if !out.contains(&e) {
            out.push(e);
        }
    }
    if out.len() > 50 {
        return Err("at most 50 secondary e-mail addresses".into());
    }
    Ok(out)
}

/// Two spellings of one field: either may be sent; both must then agree.
fn alias<'a>(
    e: &mut FieldErrors,
    alias_name: &str,
    main: &'a Option<Option<String>>,
    alias: &'a Option<Option<String>>,
) -> &'a Option<Option<String>> {
    match (main, alias) {
        (Some(a), Some(b)) if a.as_deref().map(str::trim) != b.as_deref().map(str::trim) => {
            e.insert(
                alias_name.into(),
                "must equal its alias when both are given".into(),
            );
            main
        }
        (Some(_), _) | (None, None) => main,
        (None, Some(_)) => alias,
    }
}

/// Like `apply_text` for a NOT NULL column with a default: clearing restores it.
fn apply_defaulted(
    e: &mut FieldErrors,
    name: &str,
    target: &mut String,
    patch: &Option<Option<String>>,
    default: &str,
    max: usize,
) {
    let mut v = Some(target.clone());
    apply_text(e, name, &mut v, patch, patch::text(max));
    *target = v.unwrap_or_else(|| default.into());
}

/// Applies `input` to `c`, validating every field, and resolves the link changes;
/// returns all field errors at once.
async fn apply(
    db: &Db,
    c: &mut Contact,
    input: &ContactInput,
    creating: bool,
) -> AppResult<LinkPlan> {
    let mut e = FieldErrors::new();
    let name_was_derived = creating || c.name == derived_name_of(c);
    apply_texts(&mut e, c, input);
    apply_email(&mut e, c, input, creating);
    match &input.name {
        Some(Some(n)) if !n.trim().is_empty() => apply_required(
            &mut e,
            "name",
            &mut c.name,
            &input.name,
            patch::required(150),
        ),
        Some(_) => c.name = derived_name_of(c),
        None if name_was_derived => c.name = derived_name_of(c),
        None => {}
    }
    apply_flags(c, input);
    c.sync_aliases();
    let plan = LinkPlan {
        companies: plan_companies(db, &mut e, c, input).await?,
        assets: plan_assets(db, &mut e, input).await?,
    };
    if e.is_empty() {
        Ok(plan)
    } else {
        Err(AppError::Validation(e))
    }
}

/// The free-text, phone and defaulted fields.
fn apply_texts(e: &mut FieldErrors, c: &mut Contact, input: &ContactInput) {
    let job_title = alias(e, "title", &input.job_title, &input.title);
    let texts = [
        ("first_name", &mut c.first_name, &input.first_name, 150),
        ("last_name", &mut c.last_name, &input.last_name, 150),
        ("job_title", &mut c.job_title, job_title, 150),
        ("address", &mut c.address, &input.address, 1000),
        (
            "location_name",
            &mut c.location_name,
            &input.location_name,
            150,
        ),
        ("time_zone", &mut c.time_zone, &input.time_zone, 100),
        ("time_format", &mut c.time_format, &input.time_format, 10),
        (
            "background_information",
            &mut c.background_information,
            &input.background_information,
            10_000,
        ),
        ("user_number", &mut c.user_number, &input.user_number, 50),
    ];
    for (name, target, value, max) in texts {
        apply_text(e, name, target, value, patch::text(max));
    }
    let phones = [
        (
            "mobile_phone_number",
            &mut c.mobile_phone_number,
            &input.mobile_phone_number,
        ),
        (
            "work_phone_number",
            &mut c.work_phone_number,
            &input.work_phone_number,
        ),
    ];
    for (name, target, value) in phones {
        apply_text(e, name, target, value, validate::phone);
    }
    apply_defaulted(
        e,
        "employment_type",
        &mut c.employment_type,
        &input.employment_type,
        DEFAULT_EMPLOYMENT,
        100,
    );
    apply_defaulted(
        e,
        "language",
        &mut c.language,
        &input.language,
        DEFAULT_LANGUAGE,
        10,
    );
}

/// The primary e-mail (required on create) and the secondary ones.
fn apply_email(e: &mut FieldErrors, c: &mut Contact, input: &ContactInput, creating: bool) {
    let email = alias(e, "primary_email", &input.email, &input.primary_email);
    if creating && email.is_none() {
        e.insert("email".into(), "is required".into());
    }
    apply_required(e, "email", &mut c.email, email, validate::email);
    match &input.secondary_emails {
        None => {}
        Some(None) => c.secondary_emails.clear(),
        Some(Some(v)) => match parse_emails(v) {
            Ok(list) => c.secondary_emails = list,
            Err(m) => {
                e.insert("secondary_emails".into(), m);
            }
        },
    }
}

/// The flags; `active: true` also brings a deleted contact back.
fn apply_flags(c: &mut Contact, input: &ContactInput) {
    if let Some(v) = input.active {
        c.active = v;
        if v {
            c.deleted_at = None;
        }
    }
    let flags = [
        (&mut c.vip_user, input.vip_user),
        (&mut c.is_agent, input.is_agent),
        (&mut c.has_logged_in, input.has_logged_in),
    ];
    for (target, value) in flags {
        if let Some(v) = value {
            *target = v;
        }
    }
}

/// De-duplicated items, keeping the first occurrence's position.
fn dedup<T: Clone + Eq + std::hash::Hash>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut seen = HashSet::new();
    items
        .into_iter()
        .filter(|i| seen.insert(i.clone()))
        .collect()
}

/// The contact's company set after the write, with the primary flag placed; `None`
/// when the links do not change.
async fn plan_companies(
    db: &Db,
    e: &mut FieldErrors,
    c: &Contact,
    input: &ContactInput,
) -> AppResult<Option<Vec<ContactCompany>>> {
    if input.company_account_numbers.is_none() && input.primary_company.is_none() {
        return Ok(None);
    }
    let mut set = match &input.company_account_numbers {
        None => c.companies.clone(),
        Some(accts) => {
            let accts = dedup(accts.iter().map(|a| a.trim().to_string()));
            if accts.len() > MAX_LINKS {
                e.insert(
                    "company_account_numbers".into(),
                    format!("at most {MAX_LINKS} companies"),
                );
                return Ok(None);
            }
            match resolve_companies(db, &accts).await? {
                Ok(found) => found,
                Err(unknown) => {
                    e.insert(
                        "company_account_numbers".into(),
                        format!("unknown account numbers: {}", unknown.join(", ")),
                    );
                    return Ok(None);
                }
            }
        }
    };
    // Absent: the current primary if it stays in the set, else the first company.
    let in_set = |p: &str| set.iter().any(|l| l.account_number == p);
    let primary = match &input.primary_company {
        Some(None) => None,
        Some(Some(p)) if p.trim().is_empty() => None,
        Some(Some(p)) => {
            if !in_set(p.trim()) {
                e.insert(
                    "primary_company".into(),
                    "must be one of the contact's companies".into(),
                );
            }
            Some(p.trim().to_string())
        }
        None => c
            .companies
            .iter()
            .find(|l| l.is_primary && in_set(&l.account_number))
            .or(set.first())
            .map(|l| l.account_number.clone()),
    };
    for l in &mut set {
        l.is_primary = primary.as_deref() == Some(l.account_number.as_str());
    }
    Ok(Some(set))
}

/// Live companies for these account numbers in the given order, or the unknown ones.
async fn resolve_companies(
    db: &Db,
    accts: &[String],
) -> AppResult<Result<Vec<ContactCompany>, Vec<String>>> {
    let mut found: HashMap<String, ContactCompany> = HashMap::new();
    for chunk in accts.chunks(CHUNK) {
        let sql = format!(
            "SELECT id, account_number, name FROM companies \
             WHERE account_number IN ({}) AND deleted_at IS NULL",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for a in chunk {
            q = q.bind(a);
        }
        for r in q.fetch_all(&db.pool).await? {
            let account_number: String = r.try_get("account_number")?;
            found.insert(
                account_number.clone(),
                ContactCompany {
                    company_id: r.try_get("id")?,
                    account_number,
                    name: r.try_get("name")?,
                    is_primary: false,
                },
            );
        }
    }
    let unknown: Vec<String> = accts
        .iter()
        .filter(|a| !found.contains_key(*a))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Ok(Err(unknown));
    }
    Ok(Ok(accts.iter().filter_map(|a| found.remove(a)).collect()))
}

async fn plan_assets(
    db: &Db,
    e: &mut FieldErrors,
    input: &ContactInput,
) -> AppResult<Option<Vec<i64>>> {
    let Some(ids) = &input.asset_ids else {
        return Ok(None);
    };
    let ids = dedup(ids.iter().copied());
    if ids.len() > MAX_LINKS {
        e.insert("asset_ids".into(), format!("at most {MAX_LINKS} assets"));
        return Ok(None);
    }
    let mut found = HashSet::new();
    for chunk in ids.chunks(CHUNK) {
        let sql = format!(
            "SELECT id FROM assets WHERE id IN ({}) AND deleted_at IS NULL",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&db.pool).await? {
            found.insert(r.try_get::<i64, _>(0)?);
        }
    }
    let unknown: Vec<String> = ids
        .iter()
        .filter(|i| !found.contains(*i))
        .map(i64::to_string)
        .collect();
    if !unknown.is_empty() {
        e.insert(
            "asset_ids".into(),
            format!("unknown asset ids: {}", unknown.join(", ")),
        );
        return Ok(None);
    }
    Ok(Some(ids))
}

/// 409 when another contact already has this e-mail.
async fn ensure_email_free(db: &Db, email: &str, id: i64) -> AppResult<()> {
    match find_by_email(db, email).await? {
        Some(other) if other.id != id => Err(AppError::Conflict(format!(
            "contact {} already has the e-mail address {email}",
            other.id
        ))),
        _ => Ok(()),
    }
}

async fn write_links(conn: &mut AnyConnection, contact_id: i64, plan: &LinkPlan) -> AppResult<()> {
    if let Some(list) = &plan.companies {
        sqlx::query("DELETE FROM contact_companies WHERE contact_id = $1")
            .bind(contact_id)
            .execute(&mut *conn)
            .await?;
        for l in list {
            sqlx::query(
                "INSERT INTO contact_companies (contact_id, company_id, is_primary) VALUES ($1, $2, $3)",
            )
            .bind(contact_id)
            .bind(l.company_id)
            .bind(l.is_primary as i64)
            .execute(&mut *conn)
            .await?;
        }
    }
    if let Some(ids) = &plan.assets {
        sqlx::query("DELETE FROM asset_contacts WHERE contact_id = $1")
            .bind(contact_id)
            .execute(&mut *conn)
            .await?;
        for a in ids {
            sqlx::query("INSERT INTO asset_contacts (asset_id, contact_id) VALUES ($1, $2)")
                .bind(*a)
                .bind(contact_id)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

fn to_json(c: &Contact) -> AppResult<Value> {
    Ok(serde_json::to_value(c).map_err(anyhow::Error::from)?)
}

async fn record(
    conn: &mut AnyConnection,
    who: Option<&Principal>,
    action: Action,
    id: i64,
    before: Option<&Contact>,
    after: Option<&Contact>,
) -> AppResult<()> {
    audit::record(
        conn,
        who,
        Change {
            module: "codex",
            action,
            entity: "contact",
            entity_id: id.to_string(),
            before: before.map(to_json).transpose()?,
            after: after.map(to_json).transpose()?,
        },
    )
    .await
}

async fn insert_row(conn: &mut AnyConnection, c: &Contact) -> AppResult<i64> {
    let n = WRITABLE.len();
    let sql = format!(
        "INSERT INTO contacts ({}, created_at, updated_at) VALUES ({}, ${}, ${}) RETURNING id",
        WRITABLE.join(", "),
        placeholders(1, n),
        n + 1,
        n + 2
    );
    Ok(bind_writable(sqlx::query(&sql), c)
        .bind(&c.created_at)
        .bind(&c.updated_at)
        .fetch_one(conn)
        .await?
        .try_get(0)?)
}

async fn update_row(conn: &mut AnyConnection, c: &Contact, now: &str) -> AppResult<()> {
    let sets: Vec<String> = WRITABLE
        .iter()
        .enumerate()
        .map(|(i, col)| format!("{col} = ${}", i + 1))
        .collect();
    let n = WRITABLE.len();
    let sql = format!(
        "UPDATE contacts SET {}, updated_at = ${} WHERE id = ${}",
        sets.join(", "),
        n + 1,
        n + 2
    );
    bind_writable(sqlx::query(&sql), c)
        .bind(now)
        .bind(c.id)
        .execute(conn)
        .await?;
    Ok(())
}

async fn reload(conn: &mut AnyConnection, id: i64) -> AppResult<Contact> {
    get_in(conn, id, None)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("contact {id} vanished")))
}

pub async fn create(db: &Db, who: &Principal, input: &ContactInput) -> AppResult<Contact> {
    let now = crate::time::now_db();
    let mut c = blank(&now);
    let plan = apply(db, &mut c, input, true).await?;
    ensure_email_free(db, &c.email, 0).await?;
    let mut tx = db.pool.begin().await?;
    let id = insert_row(&mut tx, &c).await?;
    write_links(&mut tx, id, &plan).await?;
    let after = reload(&mut tx, id).await?;
    record(&mut tx, Some(who), Action::Create, id, None, Some(&after)).await?;
    tx.commit().await?;
    Ok(after)
}

pub async fn update(db: &Db, who: &Principal, id: i64, input: &ContactInput) -> AppResult<Contact> {
    let before = visible(db, who, id).await?;
    let mut c = before.clone();
    let plan = apply(db, &mut c, input, false).await?;
    ensure_email_free(db, &c.email, id).await?;
    let now = crate::time::now_db();
    let mut tx = db.pool.begin().await?;
    update_row(&mut tx, &c, &now).await?;
    write_links(&mut tx, id, &plan).await?;
    let after = reload(&mut tx, id).await?;
    record(
        &mut tx,
        Some(who),
        Action::Update,
        id,
        Some(&before),
        Some(&after),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Marks a contact deleted and inactive. The row and its links stay, so anything keyed
/// on its id (Ledger overrides) never dangles; `active: true` restores it.
pub async fn soft_delete(db: &Db, who: &Principal, id: i64) -> AppResult<()> {
    let before = visible(db, who, id).await?;
    if before.deleted_at.is_some() {
        return Ok(());
    }
    let now = crate::time::now_db();
    let mut tx = db.pool.begin().await?;
    sqlx::query("UPDATE contacts SET deleted_at = $1, active = 0, updated_at = $1 WHERE id = $2")
        .bind(&now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let after = reload(&mut tx, id).await?;
    record(
        &mut tx,
        Some(who),
        Action::Delete,
        id,
        Some(&before),
        Some(&after),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Sync API (the PSA sync calls these; issue 3)
// ---------------------------------------------------------------------------

/// A contact as a PSA reports it. Text is trimmed and cut to the column sizes rather
/// than rejected, so one odd requester does not stop a sync; only the e-mail must be
/// valid. `employment_type` is local data and never touched by a sync.
#[derive(Debug, Clone)]
pub struct ContactUpsert {
    pub external_source: String,
    pub external_id: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// `None`: derived from first/last name or the e-mail.
    pub name: Option<String>,
    /// Invalid addresses are dropped.
    pub secondary_emails: Vec<String>,
    pub active: bool,
    pub is_agent: bool,
    pub vip_user: bool,
    pub has_logged_in: bool,
    pub mobile_phone_number: Option<String>,
    pub work_phone_number: Option<String>,
    pub address: Option<String>,
    pub job_title: Option<String>,
    pub department_ids: Vec<String>,
    pub department_names: Vec<String>,
    pub reporting_manager_id: Option<String>,
    pub location_id: Option<String>,
    pub location_name: Option<String>,
    pub work_schedule_id: Option<String>,
    /// `None`: `en`.
    pub language: Option<String>,
    pub time_zone: Option<String>,
    pub time_format: Option<String>,
    pub background_information: Option<String>,
    pub user_number: Option<String>,
    pub can_see_all_tickets_from_associated_departments: bool,
    pub can_see_all_changes_from_associated_departments: bool,
    /// Any RFC 3339 time; unparseable values are dropped.
    pub psa_created_at: Option<String>,
    pub psa_updated_at: Option<String>,
}

impl Default for ContactUpsert {
    /// Active, like the PSA's default for a requester.
    fn default() -> Self {
        ContactUpsert {
            external_source: String::new(),
            external_id: String::new(),
            email: String::new(),
            first_name: None,
            last_name: None,
            name: None,
            secondary_emails: vec![],
            active: true,
            is_agent: false,
            vip_user: false,
            has_logged_in: false,
            mobile_phone_number: None,
            work_phone_number: None,
            address: None,
            job_title: None,
            department_ids: vec![],
            department_names: vec![],
            reporting_manager_id: None,
            location_id: None,
            location_name: None,
            work_schedule_id: None,
            language: None,
            time_zone: None,
            time_format: None,
            background_information: None,
            user_number: None,
            can_see_all_tickets_from_associated_departments: false,
            can_see_all_changes_from_associated_departments: false,
            psa_created_at: None,
            psa_updated_at: None,
        }
    }
}

/// Vendor text: trimmed, control characters dropped, cut to `max`; empty → `None`.
fn clean(s: &Option<String>, max: usize) -> Option<String> {
    let s: String = s
        .as_deref()?
        .trim()
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
        .take(max)
        .collect();
    (!s.is_empty()).then_some(s)
}

fn clean_list(items: &[String], max: usize) -> Vec<String> {
    dedup(items.iter().filter_map(|s| clean(&Some(s.clone()), max)))
}

/// Copies the synced fields of `u` onto `c`; a contact seen upstream is live again.
fn fill_from_source(c: &mut Contact, u: &ContactUpsert, email: String) {
    c.external_source = Some(u.external_source.trim().to_string());
    c.external_id = Some(u.external_id.trim().to_string());
    c.email = email;
    c.first_name = clean(&u.first_name, 150);
    c.last_name = clean(&u.last_name, 150);
    c.name = clean(&u.name, 150).unwrap_or_else(|| derived_name_of(c));
    c.secondary_emails = dedup(
        u.secondary_emails
            .iter()
            .filter_map(|e| validate::email(e).ok()),
    );
    c.active = u.active;
    c.is_agent = u.is_agent;
    c.vip_user = u.vip_user;
    c.has_logged_in = u.has_logged_in;
    c.mobile_phone_number = clean(&u.mobile_phone_number, 50);
    c.work_phone_number = clean(&u.work_phone_number, 50);
    c.address = clean(&u.address, 1000);
    c.job_title = clean(&u.job_title, 150);
    c.department_ids = clean_list(&u.department_ids, 50);
    c.department_names = clean_list(&u.department_names, 150);
    c.reporting_manager_id = clean(&u.reporting_manager_id, 50);
    c.location_id = clean(&u.location_id, 50);
    c.location_name = clean(&u.location_name, 150);
    c.work_schedule_id = clean(&u.work_schedule_id, 50);
    c.language = clean(&u.language, 10).unwrap_or_else(|| DEFAULT_LANGUAGE.into());
    c.time_zone = clean(&u.time_zone, 100);
    c.time_format = clean(&u.time_format, 10);
    c.background_information = clean(&u.background_information, 10_000);
    c.user_number = clean(&u.user_number, 50);
    c.can_see_all_tickets_from_associated_departments =
        u.can_see_all_tickets_from_associated_departments;
    c.can_see_all_changes_from_associated_departments =
        u.can_see_all_changes_from_associated_departments;
    c.psa_created_at = u
        .psa_created_at
        .as_deref()
        .and_then(crate::time::normalize_input);
    c.psa_updated_at = u
        .psa_updated_at
        .as_deref()
        .and_then(crate::time::normalize_input);
    c.deleted_at = None;
    c.sync_aliases();
}

/// The existing row a source record belongs to: its own external key, else a contact
/// with the same e-mail that has no external key yet or one from the same source (a
/// hand-made contact is adopted, not duplicated). A same-e-mail contact owned by another
/// source is a conflict.
async fn match_existing(db: &Db, u: &ContactUpsert, email: &str) -> AppResult<Option<Contact>> {
    let (source, ext) = (u.external_source.trim(), u.external_id.trim());
    if let Some(c) = find_by_external(db, source, ext).await? {
        return Ok(Some(c));
    }
    match find_by_email(db, email).await? {
        Some(c) if c.external_id.is_none() || c.external_source.as_deref() == Some(source) => {
            Ok(Some(c))
        }
        Some(c) => Err(AppError::Conflict(format!(
            "contact {} with e-mail {email} belongs to source {}",
            c.id,
            c.external_source.unwrap_or_default()
        ))),
        None => Ok(None),
    }
}

/// Creates or updates the contact a source reports and returns its stable row id.
/// Idempotent: an unchanged record writes nothing (no audit row, no `updated_at` bump).
pub async fn upsert_from_source(db: &Db, u: &ContactUpsert) -> AppResult<super::Upserted> {
    let mut e = FieldErrors::new();
    if u.external_source.trim().is_empty() {
        e.insert("external_source".into(), "is required".into());
    }
    if u.external_id.trim().is_empty() {
        e.insert("external_id".into(), "is required".into());
    }
    let email = validate::email(&u.email).map_err(|m| e.insert("email".into(), m));
    let (Ok(email), true) = (email, e.is_empty()) else {
        return Err(AppError::Validation(e));
    };
    let now = crate::time::now_db();
    match match_existing(db, u, &email).await? {
        Some(before) => {
            let mut c = before.clone();
            fill_from_source(&mut c, u, email);
            if c == before {
                return Ok(super::Upserted {
                    id: before.id,
                    change: super::Change::Unchanged,
                });
            }
            let mut tx = db.pool.begin().await?;
            update_row(&mut tx, &c, &now).await?;
            c.updated_at = now;
            record(&mut tx, None, Action::Update, c.id, Some(&before), Some(&c)).await?;
            tx.commit().await?;
            Ok(super::Upserted {
                id: c.id,
                change: super::Change::Updated,
            })
        }
        None => {
            let mut c = blank(&now);
            fill_from_source(&mut c, u, email);
            let mut tx = db.pool.begin().await?;
            c.id = insert_row(&mut tx, &c).await?;
            record(&mut tx, None, Action::Create, c.id, None, Some(&c)).await?;
            tx.commit().await?;
            Ok(super::Upserted {
                id: c.id,
                change: super::Change::Created,
            })
        }
    }
}

/// Adds a company link (the sync only ever merges links, never removes them). With
/// `is_primary` the link becomes the contact's only primary one; otherwise a contact's
/// first link becomes primary. Writes nothing when the link is already as asked.
pub async fn link_company(
    db: &Db,
    contact_id: i64,
    company_id: i64,
    is_primary: bool,
) -> AppResult<()> {
    let mut tx = db.pool.begin().await?;
    let before: Option<i64> = sqlx::query(
        "SELECT is_primary FROM contact_companies WHERE contact_id = $1 AND company_id = $2",
    )
    .bind(contact_id)
    .bind(company_id)
    .fetch_optional(&mut *tx)
    .await?
    .map(|r| r.try_get(0))
    .transpose()?;
    if before == Some(1) || (before.is_some() && !is_primary) {
        return Ok(());
    }
    let has_primary: i64 = sqlx::query(
        "SELECT COUNT(*) FROM contact_companies WHERE contact_id = $1 AND is_primary = 1",
    )
    .bind(contact_id)
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    let primary = is_primary || has_primary == 0;
    if primary {
        sqlx::query("UPDATE contact_companies SET is_primary = 0 WHERE contact_id = $1")
            .bind(contact_id)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "INSERT INTO contact_companies (contact_id, company_id, is_primary) VALUES ($1, $2, $3) \
         ON CONFLICT (contact_id, company_id) DO UPDATE SET is_primary = excluded.is_primary",
    )
    .bind(contact_id)
    .bind(company_id)
    .bind(primary as i64)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        None,
        Change {
            module: "codex",
            action: if before.is_some() { Action::Update } else { Action::Create },
            entity: "contact_company",
            entity_id: format!("{contact_id}:{company_id}"),
            before: before.map(|p| json!({"contact_id": contact_id, "company_id": company_id, "is_primary": p == 1})),
            after: Some(json!({"contact_id": contact_id, "company_id": company_id, "is_primary": primary})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Soft-deletes the live contacts of `source` whose external id is not in `seen`, and
/// returns how many. An empty `seen` does nothing: a PSA that answers with no requesters
/// at all is far more likely broken than empty, and wiping every contact is the
/// original's worst failure (peer/codex.md D1/D3).
pub async fn mark_missing(db: &Db, source: &str, seen_external_ids: &[String]) -> AppResult<u64> {
    if seen_external_ids.is_empty() {
        return Ok(0);
    }
    let seen: HashSet<&str> = seen_external_ids.iter().map(|s| s.trim()).collect();
    let rows = sqlx::query(
        "SELECT id, external_id FROM contacts \
         WHERE external_source = $1 AND deleted_at IS NULL AND external_id IS NOT NULL",
    )
    .bind(source)
    .fetch_all(&db.pool)
    .await?;
    let mut missing = Vec::new();
    for r in rows {
        let ext: String = r.try_get("external_id")?;
        if !seen.contains(ext.as_str()) {
            missing.push(r.try_get::<i64, _>("id")?);
        }
    }
    let now = crate::time::now_db();
    let mut tx = db.pool.begin().await?;
    for chunk in missing.chunks(CHUNK) {
        let ph = placeholders(2, chunk.len());
        let select = format!(
            "SELECT * FROM contacts WHERE id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut sel = sqlx::query(&select);
        for id in chunk {
            sel = sel.bind(*id);
        }
        let befores = sel
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let update = format!(
            "UPDATE contacts SET deleted_at = $1, active = 0, updated_at = $1 WHERE id IN ({ph})"
        );
        let mut upd = sqlx::query(&update).bind(&now);
        for id in chunk {
            upd = upd.bind(*id);
        }
        upd.execute(&mut *tx).await?;
        for before in befores {
            let mut after = before.clone();
            after.deleted_at = Some(now.clone());
            after.active = false;
            after.updated_at = now.clone();
            record(
                &mut tx,
                None,
                Action::Delete,
                before.id,
                Some(&before),
                Some(&after),
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(missing.len() as u64)
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

/// Lists contacts (clients see only those of their company).
#[utoipa::path(get, path = "/codex/api/contacts", tag = "codex", params(ContactQuery),
    responses((status = 200, body = [Contact], headers(("X-Total-Count" = i64, description = "matching contacts"))),
              (status = 401, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn list_contacts(
    State(state): State<AppState>,
    who: Principal,
    OriginalUri(uri): OriginalUri,
    QueryParams(q): QueryParams<ContactQuery>,
) -> AppResult<(HeaderMap, Json<Vec<Contact>>)> {
    let page = Page::new(q.limit, q.offset, 100, 1000)?;
    let (list, total) = list(&state.db, who.company_scope(), &q, page).await?;
    Ok((page.headers(total, uri_str(&uri)), Json(list)))
}

/// Creates a contact, optionally linked to companies and assets.
#[utoipa::path(post, path = "/codex/api/contacts", tag = "codex", request_body = ContactInput,
    responses((status = 201, body = Contact), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create_contact(
    State(state): State<AppState>,
    crate::auth::MasterWriter(who): crate::auth::MasterWriter,
    JsonBody(input): JsonBody<ContactInput>,
) -> AppResult<(StatusCode, Json<Contact>)> {
    Ok((
        StatusCode::CREATED,
        Json(create(&state.db, &who, &input).await?),
    ))
}

/// One contact by id.
#[utoipa::path(get, path = "/codex/api/contacts/{id}", tag = "codex", params(("id" = i64, Path)),
    responses((status = 200, body = Contact), (status = 404, body = crate::error::Problem)))]
pub async fn get_contact(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<Contact>> {
    Ok(Json(visible(&state.db, &who, id).await?))
}

/// Updates the given fields; `company_account_numbers` and `asset_ids` replace the sets.
#[utoipa::path(put, path = "/codex/api/contacts/{id}", tag = "codex", params(("id" = i64, Path)),
    request_body = ContactInput,
    responses((status = 200, body = Contact), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn update_contact(
    State(state): State<AppState>,
    crate::auth::MasterWriter(who): crate::auth::MasterWriter,
    Path(id): Path<i64>,
    JsonBody(input): JsonBody<ContactInput>,
) -> AppResult<Json<Contact>> {
    Ok(Json(update(&state.db, &who, id, &input).await?))
}

/// Same as PUT: only the fields sent change.
#[utoipa::path(patch, path = "/codex/api/contacts/{id}", tag = "codex", params(("id" = i64, Path)),
    request_body = ContactInput,
    responses((status = 200, body = Contact), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn patch_contact(
    state: State<AppState>,
    who: crate::auth::MasterWriter,
    id: Path<i64>,
    body: JsonBody<ContactInput>,
) -> AppResult<Json<Contact>> {
    update_contact(state, who, id, body).await
}

/// Marks a contact deleted and inactive (soft delete; the id stays).
#[utoipa::path(delete, path = "/codex/api/contacts/{id}", tag = "codex", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
pub async fn delete_contact(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    who.require_master_write()?;
    soft_delete(&state.db, &who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CompanyContactsQuery {
    /// 1..=5000, default 1000.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// The original's contact object: every field, but `secondary_emails` as a JSON-array
/// string; the array itself is in `secondary_email_list`.
fn legacy_contact(c: &Contact) -> AppResult<Value> {
    let mut v = to_json(c)?;
    v["secondary_email_list"] = json!(c.secondary_emails);
    v["secondary_emails"] = json!(json_text(&c.secondary_emails));
    Ok(v)
}

async fn company_contact_list(
    state: &AppState,
    who: &Principal,
    account_number: &str,
    uri: &axum::http::Uri,
    q: &CompanyContactsQuery,
) -> AppResult<(HeaderMap, Json<Vec<Value>>)> {
    let company = companies::visible(&state.db, who, account_number).await?;
    let page = Page::new(q.limit, q.offset, 1000, 5000)?;
    let query = ContactQuery {
        company: Some(company.account_number),
        include_inactive: Some(true),
        ..ContactQuery::default()
    };
    let (list, total) = list(&state.db, who.company_scope(), &query, page).await?;
    let body = list.iter().map(legacy_contact).collect::<AppResult<_>>()?;
    Ok((page.headers(total, uri_str(uri)), Json(body)))
}

/// A company's contacts, inactive ones included (as the original), by name. Each is a
/// `Contact` except that `secondary_emails` is a JSON-array string (the original's
/// shape) and `secondary_email_list` holds the array.
#[utoipa::path(get, path = "/codex/api/companies/{account_number}/contacts", tag = "codex",
    params(("account_number" = String, Path), CompanyContactsQuery),
    responses((status = 200, body = [Contact], headers(("X-Total-Count" = i64, description = "the company's contacts"))),
              (status = 404, body = crate::error::Problem)))]
pub async fn company_contacts(
    State(state): State<AppState>,
    who: Principal,
    Path(account_number): Path<String>,
    OriginalUri(uri): OriginalUri,
    QueryParams(q): QueryParams<CompanyContactsQuery>,
) -> AppResult<(HeaderMap, Json<Vec<Value>>)> {
    company_contact_list(&state, &who, &account_number, &uri, &q).await
}

/// Alias of `/contacts` (the original's `/users`).
#[utoipa::path(get, path = "/codex/api/companies/{account_number}/users", tag = "codex",
    params(("account_number" = String, Path), CompanyContactsQuery),
    responses((status = 200, body = [Contact], headers(("X-Total-Count" = i64, description = "the company's contacts"))),
              (status = 404, body = crate::error::Problem)))]
pub async fn company_users(
    State(state): State<AppState>,
    who: Principal,
    Path(account_number): Path<String>,
    OriginalUri(uri): OriginalUri,
    QueryParams(q): QueryParams<CompanyContactsQuery>,
) -> AppResult<(HeaderMap, Json<Vec<Value>>)> {
    company_contact_list(&state, &who, &account_number, &uri, &q).await
}

/// The original's `PUT /contacts/<id>/update`: same as the PUT above, original envelope.
pub async fn update_contact_legacy(
    state: State<AppState>,
    who: crate::auth::MasterWriter,
    id: Path<i64>,
    body: JsonBody<ContactInput>,
) -> AppResult<Json<Value>> {
    let Json(c) = update_contact(state, who, id, body).await?;
    Ok(Json(
        json!({"success": true, "message": "Contact updated", "contact": c}),
    ))
}

/// Query of the original's contact search page.
#[derive(Debug, Deserialize)]
pub struct LegacySearchQuery {
    pub page: Option<i64>,
    pub per_page: Option<i64>,
    /// name (default), email, active
    pub sort_by: Option<String>,
    pub order: Option<Order>,
    pub search: Option<String>,
    /// `1` includes inactive contacts.
    pub show_inactive: Option<String>,
}

/// The original's page arithmetic (Flask-SQLAlchemy's `Pagination`).
fn legacy_pagination(page: i64, per_page: i64, total: i64) -> Value {
    let pages = (total + per_page - 1) / per_page;
    let has_prev = page > 1;
    let has_next = page < pages;
    json!({
        "page": page, "pages": pages, "total": total,
        "has_prev": has_prev, "has_next": has_next,
        "prev_num": has_prev.then_some(page - 1),
        "next_num": has_next.then_some(page + 1),
    })
}

/// The original's `GET /contacts/api/search` envelope.
pub async fn search_legacy(
    State(state): State<AppState>,
    who: Principal,
    QueryParams(q): QueryParams<LegacySearchQuery>,
) -> AppResult<Json<Value>> {
    let page_no = q.page.unwrap_or(1);
    if page_no < 1 {
        return Err(AppError::invalid("page", "must be 1 or more"));
    }
    let per_page = q.per_page.unwrap_or(50);
    if !(1..=500).contains(&per_page) {
        return Err(AppError::invalid("per_page", "must be between 1 and 500"));
    }
    let sort = q
        .sort_by
        .as_deref()
        .filter(|s| ["name", "email", "active"].contains(s))
        .unwrap_or("name");
    let query = ContactQuery {
        search: q.search.clone(),
        include_inactive: Some(q.show_inactive.as_deref() == Some("1")),
        sort: Some(sort.into()),
        order: q.order,
        ..ContactQuery::default()
    };
    let page = Page {
        limit: per_page,
        offset: (page_no - 1).saturating_mul(per_page),
    };
    let (list, total) = list(&state.db, who.company_scope(), &query, page).await?;
    let contacts: Vec<Value> = list
        .iter()
        .map(|c| {
            json!({
                "id": c.id, "name": c.name, "email": c.email,
                "mobile_phone_number": c.mobile_phone_number,
                "work_phone_number": c.work_phone_number,
                "active": c.active, "company_count": c.companies.len(),
            })
        })
        .collect();
    Ok(Json(json!({
        "success": true,
        "contacts": contacts,
        "pagination": legacy_pagination(page_no, per_page, total),
    })))
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_contacts, create_contact))
        .routes(routes!(
            get_contact,
            update_contact,
            patch_contact,
            delete_contact
        ))
        .routes(routes!(company_contacts))
        .routes(routes!(company_users))
        .route("/codex/contacts/{id}/update", put(update_contact_legacy))
        .route("/codex/contacts/api/search", get(search_legacy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_derive_from_parts_else_email() {
        assert_eq!(
            derive_name(Some(" Ann "), Some("Lee"), "x@y.com"),
            "Ann Lee"
        );
        assert_eq!(derive_name(None, Some("Lee"), "x@y.com"), "Lee");
        assert_eq!(derive_name(Some(""), None, "ann.lee@y.com"), "ann.lee");
        assert_eq!(
            derive_name(Some(&"a".repeat(200)), None, "x@y.com").len(),
            150
        );
    }

    #[test]
    fn secondary_emails_accept_arrays_and_strings() {
        let v = json!(["B@x.com", "b@x.com", "c@x.com"]);
        assert_eq!(parse_emails(&v).unwrap(), vec!["b@x.com", "c@x.com"]);
        let s = json!("a@x.com, b@x.com,");
        assert_eq!(parse_emails(&s).unwrap(), vec!["a@x.com", "b@x.com"]);
        let j = json!("[\"z@x.io\"]");
        assert_eq!(parse_emails(&j).unwrap(), vec!["z@x.io"]);
        assert!(parse_emails(&json!(["nope"])).is_err());
        assert!(parse_emails(&json!(5)).is_err());
    }

    #[test]
    fn stored_lists_tolerate_numbers_and_junk() {
        assert_eq!(json_list("[1, \"a\", null]"), vec!["1", "a"]);
        assert!(json_list("not json").is_empty());
    }

    #[test]
    fn legacy_pages_follow_the_original() {
        let p = legacy_pagination(2, 10, 25);
        assert_eq!(p["pages"], 3);
        assert_eq!(p["prev_num"], 1);
        assert_eq!(p["next_num"], 3);
        let p = legacy_pagination(1, 50, 0);
        assert_eq!(p["pages"], 0);
        assert_eq!(p["has_next"], false);
        assert!(p["prev_num"].is_null());
    }

    #[test]
    fn vendor_text_is_cleaned_not_rejected() {
        assert_eq!(clean(&Some("  a\u{0}b ".into()), 10).as_deref(), Some("ab"));
        assert_eq!(clean(&Some("   ".into()), 10), None);
        assert_eq!(clean(&Some("abcdef".into()), 3).as_deref(), Some("abc"));
    }

    #[test]
    fn placeholders_count_from_the_start() {
        assert_eq!(placeholders(2, 3), "$2, $3, $4");
    }
}
