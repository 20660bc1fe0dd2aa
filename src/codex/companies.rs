//! Companies: the MSP's clients, keyed for humans and scripts by account number and for
//! other modules by a row id that never changes.

use super::company_scope_sql;
use super::patch::{self, apply_required, apply_text};
use crate::audit::{self, Action, Change};
use crate::auth::Principal;
use crate::db::{like_pattern, Db};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::http::extract::{JsonBody, QueryParams};
use crate::http::pagination::{Order, Page};
use crate::http::AppState;
use crate::validate;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

pub const COMPLIANCE_LEVELS: &[&str] = &["standard", "hipaa", "cjis"];
pub const TERMS: &[&str] = &["Month to Month", "1 Year", "2 Year", "3 Year"];

/// A company as every API shows it. `billing_plan` and `plan_selected` are the same
/// value (the original exposed one under both names; we store it once).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Company {
    pub id: i64,
    pub account_number: String,
    pub name: String,
    pub description: Option<String>,
    pub compliance_level: String,
    pub parent_company_id: Option<i64>,
    pub parent_account_number: Option<String>,
    pub psa_provider: Option<String>,
    pub external_source: Option<String>,
    pub external_id: Option<String>,
    pub head_user_id: Option<String>,
    pub head_name: Option<String>,
    pub prime_user_id: Option<String>,
    pub prime_user_name: Option<String>,
    /// JSON array as a string, as the original API returned it (e.g. `["a.com"]`).
    pub domains: String,
    /// The same domains as a real array.
    pub domain_list: Vec<String>,
    pub workspace_id: Option<i64>,
    pub billing_plan: Option<String>,
    pub plan_selected: Option<String>,
    pub contract_term: Option<String>,
    pub contract_term_length: Option<String>,
    pub contract_start_date: Option<String>,
    pub contract_end_date: Option<String>,
    pub support_level: Option<String>,
    pub managed_users: Option<String>,
    pub managed_devices: Option<String>,
    pub managed_network: Option<String>,
    pub profit_or_non_profit: Option<String>,
    pub company_main_number: Option<String>,
    pub address: Option<String>,
    pub company_start_date: Option<String>,
    pub phone_system: Option<String>,
    pub email_system: Option<String>,
    pub datto_portal_url: Option<String>,
    pub psa_created_at: Option<String>,
    pub psa_updated_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub deleted_at: Option<String>,
}

/// The writable columns, in bind order for INSERT and UPDATE.
const WRITABLE: &[&str] = &[
    "account_number",
    "name",
    "description",
    "compliance_level",
    "parent_company_id",
    "psa_provider",
    "external_source",
    "external_id",
    "head_user_id",
    "head_name",
    "prime_user_id",
    "prime_user_name",
    "domains",
    "workspace_id",
    "billing_plan",
    "contract_term",
    "contract_term_length",
    "contract_start_date",
    "contract_end_date",
    "support_level",
    "managed_users",
    "managed_devices",
    "managed_network",
    "profit_or_non_profit",
    "company_main_number",
    "address",
    "company_start_date",
    "phone_system",
    "email_system",
    "datto_portal_url",
    "psa_created_at",
    "psa_updated_at",
];

pub const SELECT: &str = "SELECT c.*, p.account_number AS parent_account_number \
    FROM companies c LEFT JOIN companies p ON p.id = c.parent_company_id";

pub fn from_row(r: &AnyRow) -> Result<Company, sqlx::Error> {
    let domains: String = r.try_get("domains")?;
    let plan: Option<String> = r.try_get("billing_plan")?;
    Ok(Company {
        id: r.try_get("id")?,
        account_number: r.try_get("account_number")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        compliance_level: r.try_get("compliance_level")?,
        parent_company_id: r.try_get("parent_company_id")?,
        parent_account_number: r.try_get("parent_account_number")?,
        psa_provider: r.try_get("psa_provider")?,
        external_source: r.try_get("external_source")?,
        external_id: r.try_get("external_id")?,
        head_user_id: r.try_get("head_user_id")?,
        head_name: r.try_get("head_name")?,
        prime_user_id: r.try_get("prime_user_id")?,
        prime_user_name: r.try_get("prime_user_name")?,
        domain_list: serde_json::from_str(&domains).unwrap_or_default(),
        domains,
        workspace_id: r.try_get("workspace_id")?,
        plan_selected: plan.clone(),
        billing_plan: plan,
        contract_term: r.try_get("contract_term")?,
        contract_term_length: r.try_get("contract_term_length")?,
        contract_start_date: r.try_get("contract_start_date")?,
        contract_end_date: r.try_get("contract_end_date")?,
        support_level: r.try_get("support_level")?,
        managed_users: r.try_get("managed_users")?,
        managed_devices: r.try_get("managed_devices")?,
        managed_network: r.try_get("managed_network")?,
        profit_or_non_profit: r.try_get("profit_or_non_profit")?,
        company_main_number: r.try_get("company_main_number")?,
        address: r.try_get("address")?,
        company_start_date: r.try_get("company_start_date")?,
        phone_system: r.try_get("phone_system")?,
        email_system: r.try_get("email_system")?,
        datto_portal_url: r.try_get("datto_portal_url")?,
        psa_created_at: r.try_get("psa_created_at")?,
        psa_updated_at: r.try_get("psa_updated_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        deleted_at: r.try_get("deleted_at")?,
    })
}

/// Binds the writable columns of `c` in `WRITABLE` order.
fn bind_writable<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    c: &'q Company,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    q.bind(&c.account_number)
        .bind(&c.name)
        .bind(&c.description)
        .bind(&c.compliance_level)
        .bind(c.parent_company_id)
        .bind(&c.psa_provider)
        .bind(&c.external_source)
        .bind(&c.external_id)
        .bind(&c.head_user_id)
        .bind(&c.head_name)
        .bind(&c.prime_user_id)
        .bind(&c.prime_user_name)
        .bind(&c.domains)
        .bind(c.workspace_id)
        .bind(&c.billing_plan)
        .bind(&c.contract_term)
        .bind(&c.contract_term_length)
        .bind(&c.contract_start_date)
        .bind(&c.contract_end_date)
        .bind(&c.support_level)
        .bind(&c.managed_users)
        .bind(&c.managed_devices)
        .bind(&c.managed_network)
        .bind(&c.profit_or_non_profit)
        .bind(&c.company_main_number)
        .bind(&c.address)
        .bind(&c.company_start_date)
        .bind(&c.phone_system)
        .bind(&c.email_system)
        .bind(&c.datto_portal_url)
        .bind(&c.psa_created_at)
        .bind(&c.psa_updated_at)
}

// ---------------------------------------------------------------------------
// Store
// ---------------------------------------------------------------------------

/// Looks a company up by account number (deleted ones included: callers decide).
pub async fn find(db: &Db, account_number: &str) -> AppResult<Option<Company>> {
    let sql = format!("{SELECT} WHERE c.account_number = $1");
    let row = sqlx::query(&sql)
        .bind(account_number)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|r| from_row(&r)).transpose()?)
}

pub async fn get_by_id(db: &Db, id: i64) -> AppResult<Option<Company>> {
    let sql = format!("{SELECT} WHERE c.id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&db.pool).await?;
    Ok(row.map(|r| from_row(&r)).transpose()?)
}

/// Every live (not deleted) company ordered by name, in one query (for Ledger's
/// dashboard and bulk runs).
pub async fn list_live(db: &Db) -> AppResult<Vec<Company>> {
    let sql = format!("{SELECT} WHERE c.deleted_at IS NULL ORDER BY c.name, c.id");
    let rows = sqlx::query(&sql).fetch_all(&db.pool).await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// The company a caller may see, or 404 (also for companies outside a client's scope,
/// so their existence is not revealed).
pub async fn visible(db: &Db, who: &Principal, account_number: &str) -> AppResult<Company> {
    match find(db, account_number).await? {
        Some(c) if who.may_see_company(c.id) => Ok(c),
        _ => Err(AppError::not_found(format!(
            "company {account_number} not found"
        ))),
    }
}

/// Query for company lists.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CompanyQuery {
    /// Matches name, account number, description and domains (case-insensitive).
    pub search: Option<String>,
    pub billing_plan: Option<String>,
    pub psa_provider: Option<String>,
    pub compliance_level: Option<String>,
    /// Account number of the parent company.
    pub parent: Option<String>,
    /// Include companies marked deleted (soft-deleted or gone upstream).
    pub include_deleted: Option<bool>,
    /// name (default), account_number, billing_plan, contract_end_date, updated_at, created_at
    pub sort: Option<String>,
    pub order: Option<Order>,
    /// 1..=1000, default 1000.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

const SORTS: &[&str] = &[
    "name",
    "account_number",
    "billing_plan",
    "contract_end_date",
    "updated_at",
    "created_at",
    "email_system",
    "phone_system",
];

pub async fn list(
    db: &Db,
    scope: Option<i64>,
    q: &CompanyQuery,
    page: Page,
) -> AppResult<(Vec<Company>, i64)> {
    let sort = q.sort.as_deref().unwrap_or("name");
    if !SORTS.contains(&sort) {
        return Err(AppError::invalid(
            "sort",
            format!("must be one of: {}", SORTS.join(", ")),
        ));
    }
    let ilike = db.ilike();
    let filter = format!(
        "WHERE ($1 = 1 OR c.deleted_at IS NULL) {scope} \
         AND ($2 IS NULL OR c.name {ilike} $2 ESCAPE '\\' OR c.account_number {ilike} $2 ESCAPE '\\' \
              OR c.description {ilike} $2 ESCAPE '\\' OR c.domains {ilike} $2 ESCAPE '\\') \
         AND ($3 IS NULL OR c.billing_plan = $3) AND ($4 IS NULL OR c.psa_provider = $4) \
         AND ($5 IS NULL OR c.compliance_level = $5) AND ($6 IS NULL OR p.account_number = $6)",
        scope = company_scope_sql("c.id", scope),
    );
    let search = q
        .search
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| like_pattern(s.trim()));
    let include_deleted = q.include_deleted.unwrap_or(false) as i64;
    let count_sql = format!("SELECT COUNT(*) FROM companies c LEFT JOIN companies p ON p.id = c.parent_company_id {filter}");
    let total: i64 = sqlx::query(&count_sql)
        .bind(include_deleted)
        .bind(&search)
        .bind(&q.billing_plan)
        .bind(&q.psa_provider)
        .bind(&q.compliance_level)
        .bind(&q.parent)
        .fetch_one(&db.pool)
        .await?
        .try_get(0)?;
    let order = q.order.unwrap_or_default().sql();
    let sql =
        format!("{SELECT} {filter} ORDER BY c.{sort} {order}, c.id {order} LIMIT $7 OFFSET $8");
    let rows = sqlx::query(&sql)
        .bind(include_deleted)
        .bind(&search)
        .bind(&q.billing_plan)
        .bind(&q.psa_provider)
        .bind(&q.compliance_level)
        .bind(&q.parent)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&db.pool)
        .await?;
    let list = rows.iter().map(from_row).collect::<Result<_, _>>()?;
    Ok((list, total))
}

/// Picks a free six-digit account number (the PSA's format, `peer/codex.md` §7).
pub async fn generate_account_number(db: &Db) -> AppResult<String> {
    use rand::Rng;
    for _ in 0..1000 {
        let candidate = rand::thread_rng().gen_range(100_000..=999_999).to_string();
        if find(db, &candidate).await?.is_none() {
            return Ok(candidate);
        }
    }
    Err(AppError::Conflict(
        "no free account number found; all tried numbers are in use".into(),
    ))
}

// ---------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------

/// Fields a client may send to create or update a company. Absent fields stay as they
/// are; `null` or `""` clears a field.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyInput {
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub account_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// standard, hipaa or cjis.
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub compliance_level: Option<Option<String>>,
    /// Account number of the parent company.
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub parent_account_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub psa_provider: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub head_user_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub head_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub prime_user_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub prime_user_name: Option<Option<String>>,
    /// Array of domain names, or a JSON-array string as the original took.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub domains: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub billing_plan: Option<Option<String>>,
    /// Alias of `billing_plan`, accepted for the original's clients.
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub plan_selected: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub contract_term: Option<Option<String>>,
    /// Month to Month, 1 Year, 2 Year or 3 Year (1-Year, 12 months… are normalised).
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub contract_term_length: Option<Option<String>>,
    /// YYYY-MM-DD
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub contract_start_date: Option<Option<String>>,
    /// YYYY-MM-DD; computed from start and term when not given.
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub contract_end_date: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub support_level: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub managed_users: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub managed_devices: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub managed_network: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub profit_or_non_profit: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub company_main_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub address: Option<Option<String>>,
    /// YYYY-MM-DD
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub company_start_date: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub phone_system: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub email_system: Option<Option<String>>,
    /// http(s) URL.
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub datto_portal_url: Option<Option<String>>,
    /// `{feature_key: value}`; replaces the company's feature overrides.
    #[serde(default)]
    pub feature_overrides: Option<std::collections::BTreeMap<String, String>>,
}

/// Normalises the many spellings of a contract term to the plan vocabulary.
pub fn normalize_term(raw: &str) -> Option<&'static str> {
    let t: String = raw
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    match t.as_str() {
        "monthtomonth" | "m2m" | "monthly" | "month" | "1month" | "mtm" => Some("Month to Month"),
        "1year" | "1yr" | "12months" | "12month" | "annual" | "yearly" | "oneyear" => {
            Some("1 Year")
        }
        "2year" | "2years" | "2yr" | "24months" | "twoyear" => Some("2 Year"),
        "3year" | "3years" | "3yr" | "36months" | "threeyear" => Some("3 Year"),
        _ => None,
    }
}

/// End date = start + term − 1 day (a one-year contract from 2025-01-01 ends 2025-12-31);
/// month-to-month contracts have no end date.
pub fn contract_end(start: &str, term: &str) -> Option<String> {
    let start = crate::time::parse_date(start)?;
    let years = match term {
        "1 Year" => 1,
        "2 Year" => 2,
        "3 Year" => 3,
        _ => return None,
    };
    let end =
        start.checked_add_months(chrono::Months::new(12 * years))? - chrono::Duration::days(1);
    Some(end.format("%Y-%m-%d").to_string())
}

fn parse_domains(v: &serde_json::Value) -> Result<Vec<String>, String> {
    let items: Vec<serde_json::Value> = match v {
        serde_json::Value::Null => vec![],
        serde_json::Value::Array(a) => a.clone(),
        serde_json::Value::String(s) if s.trim().is_empty() => vec![],
        serde_json::Value::String(s) if s.trim_start().starts_with('[') => serde_json::from_str(s)
            .map_err(|_| "must be a JSON array of domain names".to_string())?,
        serde_json::Value::String(s) => s
            .split(',')
            .map(|d| serde_json::Value::String(d.to_string()))
            .collect(),
        _ => return Err("must be an array of domain names".into()),
    };
    let mut out = Vec::new();
    for item in items {
        let s = item.as_str().ok_or("must be an array of domain names")?;
        let d = validate::domain(s)?;
        if !out.contains(&d) {
            out.push(d);
        }
    }
    if out.len() > 100 {
        return Err("at most 100 domains".into());
    }
    Ok(out)
}

/// Applies `input` to `c`, validating every field; returns all field errors at once.
async fn apply(db: &Db, c: &mut Company, input: &CompanyInput, creating: bool) -> AppResult<()> {
    let mut e = FieldErrors::new();
    if creating {
        if let Some(Some(a)) = &input.account_number {
            if !a.trim().is_empty() {
                match validate::account_number(a) {
                    Ok(a) => c.account_number = a,
                    Err(m) => {
                        e.insert("account_number".into(), m);
                    }
                }
            }
        }
    } else if let Some(Some(a)) = &input.account_number {
        if a.trim() != c.account_number {
            e.insert(
                "account_number".into(),
                "cannot be changed; it is the company's key in the PSA, RMM and billing".into(),
            );
        }
    }
    apply_required(
        &mut e,
        "name",
        &mut c.name,
        &input.name,
        patch::required(150),
    );
    apply_text(
        &mut e,
        "description",
        &mut c.description,
        &input.description,
        patch::text(10_000),
    );
    match &input.compliance_level {
        None => {}
        Some(None) => c.compliance_level = "standard".into(),
        Some(Some(v)) => match validate::one_of(v, COMPLIANCE_LEVELS) {
            Ok(v) => c.compliance_level = v,
            Err(m) => {
                e.insert("compliance_level".into(), m);
            }
        },
    }
    apply_text(
        &mut e,
        "psa_provider",
        &mut c.psa_provider,
        &input.psa_provider,
        |s| validate::one_of(s, &["freshservice", "superops", "manual"]),
    );
    apply_text(
        &mut e,
        "head_user_id",
        &mut c.head_user_id,
        &input.head_user_id,
        patch::text(50),
    );
    apply_text(
        &mut e,
        "head_name",
        &mut c.head_name,
        &input.head_name,
        patch::text(150),
    );
    apply_text(
        &mut e,
        "prime_user_id",
        &mut c.prime_user_id,
        &input.prime_user_id,
        patch::text(50),
    );
    apply_text(
        &mut e,
        "prime_user_name",
        &mut c.prime_user_name,
        &input.prime_user_name,
        patch::text(150),
    );
    if let Some(d) = &input.domains {
        match parse_domains(d) {
            Ok(list) => {
                c.domains = serde_json::to_string(&list).unwrap_or_else(|_| "[]".into());
                c.domain_list = list;
            }
            Err(m) => {
                e.insert("domains".into(), m);
            }
        }
    }
    let plan = input.billing_plan.as_ref().or(input.plan_selected.as_ref());
    apply_text(
        &mut e,
        "billing_plan",
        &mut c.billing_plan,
        &plan.cloned(),
        patch::text(100),
    );
    c.plan_selected = c.billing_plan.clone();
    apply_text(
        &mut e,
        "contract_term",
        &mut c.contract_term,
        &input.contract_term,
        patch::text(50),
    );
    apply_text(
        &mut e,
        "contract_term_length",
        &mut c.contract_term_length,
        &input.contract_term_length,
        |s| {
            normalize_term(s)
                .map(str::to_string)
                .ok_or_else(|| format!("must be one of: {}", TERMS.join(", ")))
        },
    );
    apply_text(
        &mut e,
        "contract_start_date",
        &mut c.contract_start_date,
        &input.contract_start_date,
        validate::date,
    );
    apply_text(
        &mut e,
        "contract_end_date",
        &mut c.contract_end_date,
        &input.contract_end_date,
        validate::date,
    );
    let term_or_start_changed =
        input.contract_term_length.is_some() || input.contract_start_date.is_some();
    if input.contract_end_date.is_none() && term_or_start_changed {
        // One end-date formula everywhere (the original had two, B15).
        if let (Some(s), Some(t)) = (&c.contract_start_date, &c.contract_term_length) {
            c.contract_end_date = contract_end(s, t);
        }
    }
    if let (Some(s), Some(end)) = (&c.contract_start_date, &c.contract_end_date) {
        if end < s {
            e.insert(
                "contract_end_date".into(),
                "must not be before contract_start_date".into(),
            );
        }
    }
    apply_text(
        &mut e,
        "support_level",
        &mut c.support_level,
        &input.support_level,
        patch::text(100),
    );
    for (name, target, p) in [
        ("managed_users", &mut c.managed_users, &input.managed_users),
        (
            "managed_devices",
            &mut c.managed_devices,
            &input.managed_devices,
        ),
        (
            "managed_network",
            &mut c.managed_network,
            &input.managed_network,
        ),
    ] {
        apply_text(&mut e, name, target, p, patch::text(100));
    }
    apply_text(
        &mut e,
        "profit_or_non_profit",
        &mut c.profit_or_non_profit,
        &input.profit_or_non_profit,
        patch::text(50),
    );
    apply_text(
        &mut e,
        "company_main_number",
        &mut c.company_main_number,
        &input.company_main_number,
        validate::phone,
    );
    apply_text(
        &mut e,
        "address",
        &mut c.address,
        &input.address,
        patch::text(1000),
    );
    apply_text(
        &mut e,
        "company_start_date",
        &mut c.company_start_date,
        &input.company_start_date,
        validate::date,
    );
    apply_text(
        &mut e,
        "phone_system",
        &mut c.phone_system,
        &input.phone_system,
        patch::text(100),
    );
    apply_text(
        &mut e,
        "email_system",
        &mut c.email_system,
        &input.email_system,
        patch::text(100),
    );
    apply_text(
        &mut e,
        "datto_portal_url",
        &mut c.datto_portal_url,
        &input.datto_portal_url,
        validate::url,
    );
    if let Some(fo) = &input.feature_overrides {
        for (k, v) in fo {
            if k.trim().is_empty() || k.len() > 100 || v.len() > 100 {
                e.insert(
                    "feature_overrides".into(),
                    "keys and values must be 1-100 characters".into(),
                );
            }
        }
    }
    match &input.parent_account_number {
        None => {}
        Some(None) => c.parent_company_id = None,
        Some(Some(p)) if p.trim().is_empty() => c.parent_company_id = None,
        Some(Some(p)) => match find(db, p.trim()).await? {
            None => {
                e.insert(
                    "parent_account_number".into(),
                    format!("no company with account number {p}"),
                );
            }
            Some(parent) if parent.id == c.id => {
                e.insert(
                    "parent_account_number".into(),
                    "a company cannot be its own parent".into(),
                );
            }
            Some(parent) => {
                if !creating && is_descendant(db, parent.id, c.id).await? {
                    e.insert(
                        "parent_account_number".into(),
                        "would create a cycle in the hierarchy".into(),
                    );
                } else {
                    c.parent_company_id = Some(parent.id);
                    c.parent_account_number = Some(parent.account_number);
                }
            }
        },
    }
    if e.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(e))
    }
}

/// Is `candidate` below `ancestor` in the hierarchy (or the same)?
async fn is_descendant(db: &Db, candidate: i64, ancestor: i64) -> AppResult<bool> {
    let mut cur = Some(candidate);
    for _ in 0..100 {
        match cur {
            None => return Ok(false),
            Some(id) if id == ancestor => return Ok(true),
            Some(id) => {
                cur = sqlx::query("SELECT parent_company_id FROM companies WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&db.pool)
                    .await?
                    .map(|r| r.try_get::<Option<i64>, _>(0))
                    .transpose()?
                    .flatten();
            }
        }
    }
    Ok(true)
}

fn blank(account_number: String, now: &str) -> Company {
    Company {
        id: 0,
        account_number,
        name: String::new(),
        description: None,
        compliance_level: "standard".into(),
        parent_company_id: None,
        parent_account_number: None,
        psa_provider: Some("manual".into()),
        external_source: None,
        external_id: None,
        head_user_id: None,
        head_name: None,
        prime_user_id: None,
        prime_user_name: None,
        domains: "[]".into(),
        domain_list: vec![],
        workspace_id: None,
        billing_plan: None,
        plan_selected: None,
        contract_term: None,
        contract_term_length: None,
        contract_start_date: None,
        contract_end_date: None,
        support_level: None,
        managed_users: None,
        managed_devices: None,
        managed_network: None,
        profit_or_non_profit: None,
        company_main_number: None,
        address: None,
        company_start_date: None,
        phone_system: None,
        email_system: None,
        datto_portal_url: None,
        psa_created_at: None,
        psa_updated_at: None,
        created_at: now.into(),
        updated_at: now.into(),
        deleted_at: None,
    }
}

pub async fn create(db: &Db, who: &Principal, input: &CompanyInput) -> AppResult<Company> {
    let now = crate::time::now_db();
    let mut c = blank(String::new(), &now);
    if input.name.is_none() {
        return Err(AppError::invalid("name", "is required"));
    }
    apply(db, &mut c, input, true).await?;
    if c.account_number.is_empty() {
        c.account_number = generate_account_number(db).await?;
    } else if find(db, &c.account_number).await?.is_some() {
        return Err(AppError::Conflict(format!(
            "company {} already exists",
            c.account_number
        )));
    }
    let cols = WRITABLE.join(", ");
    let params: Vec<String> = (1..=WRITABLE.len()).map(|i| format!("${i}")).collect();
    let n = WRITABLE.len();
    let sql = format!(
        "INSERT INTO companies ({cols}, created_at, updated_at) VALUES ({}, ${}, ${}) RETURNING id",
        params.join(", "),
        n + 1,
        n + 1
    );
    let mut tx = db.pool.begin().await?;
    let id: i64 = bind_writable(sqlx::query(&sql), &c)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    c.id = id;
    if let Some(fo) = &input.feature_overrides {
        replace_feature_overrides(&mut tx, id, fo, &now).await?;
    }
    audit::record(
        &mut tx,
        Some(who),
        Change {
            module: "codex",
            action: Action::Create,
            entity: "company",
            entity_id: c.account_number.clone(),
            before: None,
            after: Some(serde_json::to_value(&c).map_err(anyhow::Error::from)?),
        },
    )
    .await?;
    tx.commit().await?;
    get_by_id(db, id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("company vanished")))
}

pub async fn update(
    db: &Db,
    who: &Principal,
    account_number: &str,
    input: &CompanyInput,
) -> AppResult<Company> {
    let before = visible(db, who, account_number).await?;
    let mut c = before.clone();
    apply(db, &mut c, input, false).await?;
    let now = crate::time::now_db();
    let sets: Vec<String> = WRITABLE
        .iter()
        .enumerate()
        .map(|(i, col)| format!("{col} = ${}", i + 1))
        .collect();
    let n = WRITABLE.len();
    let sql = format!(
        "UPDATE companies SET {}, updated_at = ${} WHERE id = ${}",
        sets.join(", "),
        n + 1,
        n + 2
    );
    let mut tx = db.pool.begin().await?;
    bind_writable(sqlx::query(&sql), &c)
        .bind(&now)
        .bind(c.id)
        .execute(&mut *tx)
        .await?;
    if let Some(fo) = &input.feature_overrides {
        replace_feature_overrides(&mut tx, c.id, fo, &now).await?;
    }
    let after = get_in_tx(&mut tx, c.id).await?;
    audit::record(
        &mut tx,
        Some(who),
        Change {
            module: "codex",
            action: Action::Update,
            entity: "company",
            entity_id: c.account_number.clone(),
            before: Some(serde_json::to_value(&before).map_err(anyhow::Error::from)?),
            after: Some(serde_json::to_value(&after).map_err(anyhow::Error::from)?),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

async fn get_in_tx(conn: &mut sqlx::AnyConnection, id: i64) -> AppResult<Company> {
    let sql = format!("{SELECT} WHERE c.id = $1");
    let r = sqlx::query(&sql).bind(id).fetch_one(conn).await?;
    Ok(from_row(&r)?)
}

/// Replaces the set of overrides (empty values remove a key), like the original's form.
async fn replace_feature_overrides(
    conn: &mut sqlx::AnyConnection,
    company_id: i64,
    overrides: &std::collections::BTreeMap<String, String>,
    now: &str,
) -> AppResult<()> {
    sqlx::query("DELETE FROM company_feature_overrides WHERE company_id = $1")
        .bind(company_id)
        .execute(&mut *conn)
        .await?;
    for (k, v) in overrides.iter().filter(|(_, v)| !v.trim().is_empty()) {
        // Keys are stored the way plans name features (`Email Security` → `email_security`),
        // so an override saved here matches the plan's feature of that name.
        let key =
            super::plans::feature_key(k).map_err(|m| AppError::invalid("feature_overrides", m))?;
        sqlx::query(
            "INSERT INTO company_feature_overrides (company_id, feature_key, value, override_enabled, created_at, updated_at) \
             VALUES ($1, $2, $3, 1, $4, $4)",
        )
        .bind(company_id)
        .bind(key)
        .bind(v.trim())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Marks a company deleted. The row and everything keyed on it stay, so billing history
/// and overrides never dangle; `restore` undoes it.
pub async fn soft_delete(db: &Db, who: &Principal, account_number: &str) -> AppResult<()> {
    let before = visible(db, who, account_number).await?;
    if before.deleted_at.is_some() {
        return Ok(());
    }
    mark_deleted(db, Some(who), &before, "codex").await
}

async fn mark_deleted(
    db: &Db,
    who: Option<&Principal>,
    before: &Company,
    module: &str,
) -> AppResult<()> {
    let now = crate::time::now_db();
    let mut tx = db.pool.begin().await?;
    sqlx::query("UPDATE companies SET deleted_at = $1, updated_at = $1 WHERE id = $2")
        .bind(&now)
        .bind(before.id)
        .execute(&mut *tx)
        .await?;
    let after = get_in_tx(&mut tx, before.id).await?;
    audit::record(
        &mut tx,
        who,
        Change {
            module,
            action: Action::Delete,
            entity: "company",
            entity_id: before.account_number.clone(),
            before: Some(serde_json::to_value(before).map_err(anyhow::Error::from)?),
            after: Some(serde_json::to_value(&after).map_err(anyhow::Error::from)?),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Sync
// ---------------------------------------------------------------------------

/// A company as a PSA reports it. Custom fields use the PSA's API names
/// (`plan_selected`, `contract_term`, …), as the original mapped them (peer §3.1.5).
#[derive(Clone, Debug, Default)]
pub struct CompanyUpsert {
    pub external_source: String,
    pub external_id: String,
    pub account_number: String,
    pub name: String,
    pub description: Option<String>,
    pub domains: Vec<String>,
    pub head_user_id: Option<String>,
    pub prime_user_id: Option<String>,
    pub workspace_id: Option<i64>,
    pub custom_fields: std::collections::BTreeMap<String, String>,
    pub psa_created_at: Option<String>,
    pub psa_updated_at: Option<String>,
}

/// Text from a vendor, trimmed and cut to a column's size; empty is `None`.
fn vendor_text(v: Option<&String>, max: usize) -> Option<String> {
    let t = v?.trim();
    (!t.is_empty()).then(|| t.chars().take(max).collect())
}

/// The display name of a PSA requester id, from Codex's own contacts.
async fn contact_name(
    db: &Db,
    source: &str,
    external_id: Option<&str>,
) -> AppResult<Option<String>> {
    let Some(ext) = external_id else {
        return Ok(None);
    };
    let r =
        sqlx::query("SELECT name FROM contacts WHERE external_source = $1 AND external_id = $2")
            .bind(source)
            .bind(ext)
            .fetch_optional(&db.pool)
            .await?;
    Ok(r.map(|r| r.try_get(0)).transpose()?)
}

async fn plan_support_level(
    db: &Db,
    plan: Option<&str>,
    term: Option<&str>,
) -> AppResult<Option<String>> {
    let (Some(plan), Some(term)) = (plan, term) else {
        return Ok(None);
    };
    let r = sqlx::query(
        "SELECT support_level FROM billing_plans WHERE plan_name = $1 AND term_length = $2",
    )
    .bind(plan)
    .bind(term)
    .fetch_optional(&db.pool)
    .await?;
    let level: Option<String> = r.map(|r| r.try_get(0)).transpose()?;
    Ok(Some(
        level
            .filter(|l| !l.trim().is_empty())
            .unwrap_or_else(|| "Billed Hourly".into()),
    ))
}

/// Puts what the PSA says into `c`; fields the PSA does not own (compliance level,
/// parent, local notes) are left alone.
async fn fill_from_source(db: &Db, c: &mut Company, u: &CompanyUpsert) -> AppResult<()> {
    let f = |k: &str, max: usize| vendor_text(u.custom_fields.get(k), max);
    c.name = u.name.trim().chars().take(150).collect();
    c.description = vendor_text(u.description.as_ref(), 10_000);
    c.psa_provider = Some(u.external_source.clone());
    c.external_source = Some(u.external_source.clone());
    c.external_id = Some(u.external_id.clone());
    c.head_user_id = vendor_text(u.head_user_id.as_ref(), 50);
    c.prime_user_id = vendor_text(u.prime_user_id.as_ref(), 50);
    c.head_name = contact_name(db, &u.external_source, c.head_user_id.as_deref()).await?;
    c.prime_user_name = contact_name(db, &u.external_source, c.prime_user_id.as_deref()).await?;
    let domains: Vec<String> = u
        .domains
        .iter()
        .filter_map(|d| validate::domain(d).ok())
        .collect();
    c.domains = serde_json::to_string(&domains).unwrap_or_else(|_| "[]".into());
    c.domain_list = domains;
    c.workspace_id = u.workspace_id;
    c.billing_plan = f("plan_selected", 100);
    c.plan_selected = c.billing_plan.clone();
    c.contract_term = f("contract_term", 50);
    // Unknown spellings are kept verbatim, as the original did, so nothing is lost.
    c.contract_term_length = c.contract_term.as_deref().map(|t| {
        normalize_term(t)
            .map(str::to_string)
            .unwrap_or_else(|| t.to_string())
    });
    c.contract_start_date = f("contract_start_date", 100).map(|d| d.chars().take(10).collect());
    c.contract_end_date = match (&c.contract_start_date, &c.contract_term_length) {
        (Some(s), Some(t)) => contract_end(s, t),
        _ => None,
    };
    c.support_level = plan_support_level(
        db,
        c.billing_plan.as_deref(),
        c.contract_term_length.as_deref(),
    )
    .await?;
    c.managed_users = f("managed_users", 100);
    c.managed_devices = f("managed_devices", 100);
    c.managed_network = f("managed_network", 100);
    c.profit_or_non_profit = f("profit_or_non_profit", 50);
    c.company_main_number = f("company_main_number", 50);
    c.address = f("address", 1000);
    c.company_start_date = f("company_start_date", 100);
    c.phone_system = f("phone_system", 100);
    c.email_system = f("email_system", 100);
    c.datto_portal_url = f("datto_portal_url", 255);
    c.psa_created_at = u
        .psa_created_at
        .as_deref()
        .and_then(crate::time::normalize_input);
    c.psa_updated_at = u
        .psa_updated_at
        .as_deref()
        .and_then(crate::time::normalize_input);
    c.deleted_at = None;
    Ok(())
}

/// The company a source record belongs to: by (source, external id), else by account
/// number when that company is not yet owned by another record of a source.
async fn match_source(db: &Db, u: &CompanyUpsert) -> AppResult<Option<Company>> {
    let sql = format!("{SELECT} WHERE c.external_source = $1 AND c.external_id = $2");
    if let Some(r) = sqlx::query(&sql)
        .bind(&u.external_source)
        .bind(&u.external_id)
        .fetch_optional(&db.pool)
        .await?
    {
        let c = from_row(&r)?;
        if c.account_number != u.account_number {
            return Err(AppError::Conflict(format!(
                "{} company {} now carries account number {}, but Codex keeps {} for it; \
                 account numbers never change — fix the PSA's field",
                u.external_source, u.external_id, u.account_number, c.account_number
            )));
        }
        return Ok(Some(c));
    }
    match find(db, &u.account_number).await? {
        Some(c) if c.external_id.is_some() && c.external_source.is_some() => {
            Err(AppError::Conflict(format!(
                "account number {} already belongs to {} company {}",
                u.account_number,
                c.external_source.unwrap_or_default(),
                c.external_id.unwrap_or_default()
            )))
        }
        other => Ok(other),
    }
}

/// Creates or updates the company a PSA reports; returns its stable row id and what
/// changed. An unchanged record writes nothing. Changes are audited as the sync's.
pub async fn upsert_from_source(db: &Db, u: &CompanyUpsert) -> AppResult<super::Upserted> {
    let mut e = FieldErrors::new();
    if u.external_source.trim().is_empty() || u.external_id.trim().is_empty() {
        e.insert(
            "external_id".into(),
            "source and external id are required".into(),
        );
    }
    if let Err(m) = validate::account_number(&u.account_number) {
        e.insert("account_number".into(), m);
    }
    if u.name.trim().is_empty() {
        e.insert("name".into(), "is required".into());
    }
    if !e.is_empty() {
        return Err(AppError::Validation(e));
    }
    let now = crate::time::now_db();
    let before = match_source(db, u).await?;
    let mut c = before
        .clone()
        .unwrap_or_else(|| blank(u.account_number.clone(), &now));
    if before.is_none() {
        c.psa_provider = None;
    }
    fill_from_source(db, &mut c, u).await?;
    if before.as_ref() == Some(&c) {
        return Ok(super::Upserted {
            id: c.id,
            change: super::Change::Unchanged,
        });
    }
    let n = WRITABLE.len();
    let mut tx = db.pool.begin().await?;
    let (id, action) = match &before {
        Some(b) => {
            let sets: Vec<String> = WRITABLE
                .iter()
                .enumerate()
                .map(|(i, col)| format!("{col} = ${}", i + 1))
                .collect();
            let sql = format!(
                "UPDATE companies SET {}, deleted_at = NULL, updated_at = ${} WHERE id = ${}",
                sets.join(", "),
                n + 1,
                n + 2
            );
            bind_writable(sqlx::query(&sql), &c)
                .bind(&now)
                .bind(b.id)
                .execute(&mut *tx)
                .await?;
            (b.id, Action::Update)
        }
        None => {
            let params: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
            let sql = format!(
                "INSERT INTO companies ({}, created_at, updated_at) VALUES ({}, ${}, ${}) RETURNING id",
                WRITABLE.join(", "),
                params.join(", "),
                n + 1,
                n + 1
            );
            let id: i64 = bind_writable(sqlx::query(&sql), &c)
                .bind(&now)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
            (id, Action::Create)
        }
    };
    let after = get_in_tx(&mut tx, id).await?;
    audit::record(
        &mut tx,
        None,
        Change {
            module: "sync",
            action,
            entity: "company",
            entity_id: after.account_number.clone(),
            before: before
                .as_ref()
                .map(|b| serde_json::to_value(b).map_err(anyhow::Error::from))
                .transpose()?,
            after: Some(serde_json::to_value(&after).map_err(anyhow::Error::from)?),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(super::Upserted {
        id,
        change: if before.is_some() {
            super::Change::Updated
        } else {
            super::Change::Created
        },
    })
}

/// Fills the head and prime user names of a source's companies from Codex's contacts
/// (the PSA gives only ids). The base sync calls it after the contacts, which are
/// written after the companies that name them. Returns how many companies changed.
pub async fn refresh_contact_names(db: &Db, source: &str) -> AppResult<u64> {
    let name_of = |col: &str| {
        format!(
            "(SELECT k.name FROM contacts k WHERE k.external_source = companies.external_source \
             AND k.external_id = companies.{col})"
        )
    };
    let (head, prime) = (name_of("head_user_id"), name_of("prime_user_id"));
    let sql = format!(
        "UPDATE companies SET head_name = {head}, prime_user_name = {prime} \
         WHERE external_source = $1 AND (COALESCE(head_name, '') <> COALESCE({head}, '') \
         OR COALESCE(prime_user_name, '') <> COALESCE({prime}, ''))"
    );
    Ok(sqlx::query(&sql)
        .bind(source)
        .execute(&db.pool)
        .await?
        .rows_affected())
}

/// Row ids of a source's companies by their external id (the sync links contacts and
/// tickets with it).
pub async fn ids_by_external(
    db: &Db,
    source: &str,
) -> AppResult<std::collections::HashMap<String, i64>> {
    let rows = sqlx::query(
        "SELECT id, external_id FROM companies WHERE external_source = $1 AND external_id IS NOT NULL",
    )
    .bind(source)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<String, _>("external_id")?,
                r.try_get::<i64, _>("id")?,
            ))
        })
        .collect::<Result<_, sqlx::Error>>()?)
}

/// Soft-deletes the live companies of `source` whose external id was not seen by a
/// complete listing. An empty `seen` does nothing (an empty answer is a broken PSA far
/// more often than an MSP without clients).
pub async fn mark_missing(db: &Db, source: &str, seen: &[String]) -> AppResult<u64> {
    if seen.is_empty() {
        return Ok(0);
    }
    let seen: std::collections::HashSet<&str> = seen.iter().map(String::as_str).collect();
    let sql = format!("{SELECT} WHERE c.external_source = $1 AND c.deleted_at IS NULL");
    let rows = sqlx::query(&sql).bind(source).fetch_all(&db.pool).await?;
    let mut marked = 0;
    for r in rows {
        let c = from_row(&r)?;
        if c.external_id.as_deref().is_some_and(|e| !seen.contains(e)) {
            mark_deleted(db, None, &c, "sync").await?;
            marked += 1;
        }
    }
    Ok(marked)
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

/// Lists companies (clients see only their own).
#[utoipa::path(get, path = "/codex/api/companies", tag = "codex", params(CompanyQuery),
    responses((status = 200, body = [Company], headers(("X-Total-Count" = i64, description = "matching companies"))),
              (status = 401, body = crate::error::Problem)))]
pub async fn list_companies(
    State(state): State<AppState>,
    who: Principal,
    OriginalUri(uri): OriginalUri,
    QueryParams(q): QueryParams<CompanyQuery>,
) -> AppResult<(HeaderMap, Json<Vec<Company>>)> {
    let page = Page::new(q.limit, q.offset, 1000, 1000)?;
    let (list, total) = list(&state.db, who.company_scope(), &q, page).await?;
    Ok((page.headers(total, uri_str(&uri)), Json(list)))
}

pub fn uri_str(uri: &axum::http::Uri) -> &str {
    uri.path_and_query().map(|p| p.as_str()).unwrap_or("")
}

/// Creates a company; an account number is generated when none is given.
#[utoipa::path(post, path = "/codex/api/companies", tag = "codex", request_body = CompanyInput,
    responses((status = 201, body = Company), (status = 409, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn create_company(
    State(state): State<AppState>,
    crate::auth::MasterWriter(who): crate::auth::MasterWriter,
    JsonBody(input): JsonBody<CompanyInput>,
) -> AppResult<(StatusCode, Json<Company>)> {
    let c = create(&state.db, &who, &input).await?;
    Ok((StatusCode::CREATED, Json(c)))
}

/// One company by account number.
#[utoipa::path(get, path = "/codex/api/companies/{account_number}", tag = "codex",
    params(("account_number" = String, Path)),
    responses((status = 200, body = Company), (status = 404, body = crate::error::Problem)))]
pub async fn get_company(
    State(state): State<AppState>,
    who: Principal,
    Path(account_number): Path<String>,
) -> AppResult<Json<Company>> {
    Ok(Json(visible(&state.db, &who, &account_number).await?))
}

/// Updates the given fields of a company (PUT and PATCH both patch).
#[utoipa::path(put, path = "/codex/api/companies/{account_number}", tag = "codex",
    params(("account_number" = String, Path)), request_body = CompanyInput,
    responses((status = 200, body = Company), (status = 404, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn update_company(
    State(state): State<AppState>,
    crate::auth::MasterWriter(who): crate::auth::MasterWriter,
    Path(account_number): Path<String>,
    JsonBody(input): JsonBody<CompanyInput>,
) -> AppResult<Json<Company>> {
    Ok(Json(
        update(&state.db, &who, &account_number, &input).await?,
    ))
}

/// Marks a company deleted (soft delete; its history stays).
#[utoipa::path(delete, path = "/codex/api/companies/{account_number}", tag = "codex",
    params(("account_number" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
pub async fn delete_company(
    State(state): State<AppState>,
    who: Principal,
    Path(account_number): Path<String>,
) -> AppResult<StatusCode> {
    who.require_master_write()?;
    soft_delete(&state.db, &who, &account_number).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The original's `PUT /companies/<acct>/update`: same as the PUT above, original envelope.
pub async fn update_company_legacy(
    state: State<AppState>,
    who: crate::auth::MasterWriter,
    path: Path<String>,
    body: JsonBody<CompanyInput>,
) -> AppResult<Json<serde_json::Value>> {
    let Json(c) = update_company(state, who, path, body).await?;
    Ok(Json(
        serde_json::json!({"success": true, "message": "Company updated", "company": c}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_normalise_to_one_vocabulary() {
        assert_eq!(normalize_term("1-Year"), Some("1 Year"));
        assert_eq!(normalize_term("1 year"), Some("1 Year"));
        assert_eq!(normalize_term("Month to Month"), Some("Month to Month"));
        assert_eq!(normalize_term("36 months"), Some("3 Year"));
        assert_eq!(normalize_term("forever"), None);
    }

    #[test]
    fn contract_end_is_day_before_anniversary() {
        assert_eq!(
            contract_end("2025-01-01", "1 Year").as_deref(),
            Some("2025-12-31")
        );
        assert_eq!(
            contract_end("2024-02-29", "1 Year").as_deref(),
            Some("2025-02-27")
        );
        assert_eq!(
            contract_end("2025-03-15", "3 Year").as_deref(),
            Some("2028-03-14")
        );
        assert_eq!(contract_end("2025-03-15", "Month to Month"), None);
    }

    #[test]
    fn domains_accept_arrays_and_strings() {
        let v = serde_json::json!(["A.com", "b.org", "a.com"]);
        assert_eq!(parse_domains(&v).unwrap(), vec!["a.com", "b.org"]);
        let s = serde_json::json!("[\"x.io\"]");
        assert_eq!(parse_domains(&s).unwrap(), vec!["x.io"]);
        assert!(parse_domains(&serde_json::json!(["not a domain"])).is_err());
    }
}
