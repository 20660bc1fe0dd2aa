//! Billing plans, their features, the feature options and categories that make up the
//! plan matrix, and per-company feature overrides. Codex stores prices only; Ledger does
//! the arithmetic and reads plans through `find_plan`, `all_plans` and
//! `effective_features`.
//!
//! Decisions that differ from the original (`peer/codex.md` §8):
//! - feature options use ONE column pair, `(feature_category, option_value)`; the legacy
//!   names (`feature_type`, and `display_name` as the value) are accepted on input and
//!   `feature_type` is echoed on output, so old clients keep working (§8.4, B14);
//! - money is integer cents in the database and a 2-decimal string in JSON, never a float;
//! - terms are normalised to `Month to Month` / `1 Year` / `2 Year` / `3 Year` (B15);
//! - copy-terms copies the plan features too, and import upserts instead of skipping.

use super::companies::{self, normalize_term, uri_str, TERMS};
use super::patch::{self, apply_required};
use crate::audit::{self, Action, Change};
use crate::auth::Principal;
use crate::db::{like_pattern, Db};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::http::extract::{JsonBody, QueryParams};
use crate::http::pagination::{Order, Page};
use crate::http::AppState;
use crate::money;
use crate::validate;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::patch as patch_route;
use axum::Json;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub const DEFAULT_SUPPORT_LEVEL: &str = "Billed Hourly";
pub const DEFAULT_TERM: &str = "Month to Month";
/// The option every new category starts with (the original's "add category").
pub const NOT_INCLUDED: &str = "Not Included";
/// Version of the export document; import accepts this and older.
pub const EXPORT_VERSION: i64 = 1;
/// Plans and options are configuration, not data: these caps keep "load them all"
/// (Ledger, export, the legacy endpoints) bounded.
pub const MAX_PLANS: i64 = 10_000;
pub const MAX_OPTIONS: i64 = 10_000;
const MAX_FEATURES_PER_PLAN: usize = 200;
/// Largest accepted amount (one billion), far below what i64 cents can hold.
const MAX_AMOUNT_CENTS: i64 = 100_000_000_000;

// ---------------------------------------------------------------------------
// Money fields
// ---------------------------------------------------------------------------

/// The eleven priced fields of a plan: (API name, column, default in hundredths).
/// `backup_included_tb` is terabytes in hundredths, the same fixed point as cents.
const COSTS: [(&str, &str, i64); 11] = [
    ("per_user_cost", "per_user_cost_cents", 0),
    ("per_workstation_cost", "per_workstation_cost_cents", 0),
    ("per_server_cost", "per_server_cost_cents", 0),
    ("per_vm_cost", "per_vm_cost_cents", 0),
    ("per_switch_cost", "per_switch_cost_cents", 0),
    ("per_firewall_cost", "per_firewall_cost_cents", 0),
    ("per_hour_ticket_cost", "per_hour_ticket_cost_cents", 0),
    (
        "backup_base_fee_workstation",
        "backup_base_fee_workstation_cents",
        0,
    ),
    ("backup_base_fee_server", "backup_base_fee_server_cents", 0),
    ("backup_included_tb", "backup_included_tb_centi", 100),
    ("backup_per_tb_fee", "backup_per_tb_fee_cents", 0),
];

fn money_str<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    let mut d = *d;
    d.rescale(2);
    s.serialize_str(&d.to_string())
}

/// A plan's prices (and included backup TB), exact to two decimals. JSON shows each as a
/// string such as `"12.50"` so no client ever sees a float.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Costs {
    #[serde(serialize_with = "money_str")]
    #[schema(value_type = String, example = "12.50")]
    pub per_user_cost: Decimal,
    #[serde(serialize_with = "money_str")]
    #[schema(value_type = String, example = "0.00")]
    pub per_workstation_cost: Decimal,
    #[serde(serialize_with = "money_str")]
    #[schema(value_type = String, example = "0.00")]
    pub per_server_cost: Decimal,
    #[serde(serialize_with = "money_str")]
    #[schema(value_type = String, example = "0.00")]
    pub per_vm_cost: Decimal,
    #[serde(serialize_with = "money_str")]
    #[schema(value_type = String, example = "0.00")]
    pub per_switch_cost: Decimal,
    #[serde(serialize_with = "money_str")]
    #[schema(value_type = String, example = "0.00")]
    pub per_firewall_cost: Decimal,
    #[serde(serialize_with = "money_str")]
    #[schema(value_type = String, example = "90.00")]
    pub per_hour_ticket_cost: Decimal,
    #[serde(serialize_with = "money_str")]
    #[schema(value_type = String, example = "25.00")]
    pub backup_base_fee_workstation: Decimal,
    #[serde(serialize_with = "money_str")]
    #[schema(value_type = String, example = "50.00")]
    pub backup_base_fee_server: Decimal,
    /// Terabytes included per device before `backup_per_tb_fee` applies.
    #[serde(serialize_with = "money_str")]
    #[schema(value_type = String, example = "1.00")]
    pub backup_included_tb: Decimal,
    #[serde(serialize_with = "money_str")]
    #[schema(value_type = String, example = "15.00")]
    pub backup_per_tb_fee: Decimal,
}

impl Costs {
    /// From hundredths in `COSTS` order.
    pub fn from_hundredths(v: [i64; 11]) -> Costs {
        let d = |i: usize| money::from_cents(v[i]);
        Costs {
            per_user_cost: d(0),
            per_workstation_cost: d(1),
            per_server_cost: d(2),
            per_vm_cost: d(3),
            per_switch_cost: d(4),
            per_firewall_cost: d(5),
            per_hour_ticket_cost: d(6),
            backup_base_fee_workstation: d(7),
            backup_base_fee_server: d(8),
            backup_included_tb: d(9),
            backup_per_tb_fee: d(10),
        }
    }

    /// Hundredths in `COSTS` order (values are always exact to 2 dp).
    pub fn hundredths(&self) -> [i64; 11] {
        [
            self.per_user_cost,
            self.per_workstation_cost,
            self.per_server_cost,
            self.per_vm_cost,
            self.per_switch_cost,
            self.per_firewall_cost,
            self.per_hour_ticket_cost,
            self.backup_base_fee_workstation,
            self.backup_base_fee_server,
            self.backup_included_tb,
            self.backup_per_tb_fee,
        ]
        .map(|d| money::to_cents(d).unwrap_or(0))
    }
}

impl Default for Costs {
    fn default() -> Costs {
        Costs::from_hundredths(COSTS.map(|(_, _, d)| d))
    }
}

/// Parses an amount given as a JSON number or a string: at most two decimals, not
/// negative, at most one billion. Returns hundredths.
pub fn parse_amount(v: &Value) -> Result<i64, String> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return Err("must be a number or a decimal string such as \"12.50\"".into()),
    };
    let d = Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| format!("'{text}' is not a decimal number"))?
        .normalize();
    if d.is_sign_negative() && !d.is_zero() {
        return Err("must not be negative".into());
    }
    if d.scale() > 2 {
        return Err("must have at most 2 decimal places".into());
    }
    match money::to_cents(d) {
        Some(c) if c <= MAX_AMOUNT_CENTS => Ok(c.max(0)),
        _ => Err("must be at most 1000000000.00".into()),
    }
}

// ---------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------

/// A billing plan: one (plan_name, term_length) row with its prices and features.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Plan {
    pub id: i64,
    pub plan_name: String,
    /// Same as `plan_name` (the original exposed both).
    pub billing_plan: String,
    /// Month to Month, 1 Year, 2 Year or 3 Year.
    pub term_length: String,
    pub support_level: String,
    #[serde(flatten)]
    pub costs: Costs,
    /// `{feature_type: value}`, e.g. `{"antivirus": "SentinelOne"}`.
    pub features: BTreeMap<String, String>,
    pub created_at: String,
    pub updated_at: String,
}

/// An allowed value of a feature category.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FeatureOption {
    pub id: i64,
    pub feature_category: String,
    /// Same as `feature_category` (the original's legacy name).
    pub feature_type: String,
    pub option_value: String,
    /// Shown in menus; `option_value` when unset.
    pub display_name: Option<String>,
    pub description: Option<String>,
}

/// A feature category (a column of the plan matrix): every key that has options or a
/// configuration row.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FeatureCategory {
    pub feature_key: String,
    /// The configured display name, else the key in title case (`network_management` →
    /// `Network Management`).
    pub display_name: String,
    pub full_name: Option<String>,
    pub description: Option<String>,
    /// Whether a configuration row exists (else only options define the category).
    pub configured: bool,
    pub option_count: i64,
}

/// A category's configuration row, as stored and exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CategoryConfig {
    pub feature_key: String,
    pub display_name: String,
    pub full_name: Option<String>,
    pub description: Option<String>,
}

const PLAN_SELECT: &str = "SELECT * FROM billing_plans";

fn plan_from_row(r: &AnyRow) -> Result<Plan, sqlx::Error> {
    let mut h = [0i64; 11];
    for (i, (_, col, _)) in COSTS.iter().enumerate() {
        h[i] = r.try_get(*col)?;
    }
    let name: String = r.try_get("plan_name")?;
    Ok(Plan {
        id: r.try_get("id")?,
        billing_plan: name.clone(),
        plan_name: name,
        term_length: r.try_get("term_length")?,
        support_level: r.try_get("support_level")?,
        costs: Costs::from_hundredths(h),
        features: BTreeMap::new(),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn option_from_row(r: &AnyRow) -> Result<FeatureOption, sqlx::Error> {
    let cat: String = r.try_get("feature_category")?;
    Ok(FeatureOption {
        id: r.try_get("id")?,
        feature_type: cat.clone(),
        feature_category: cat,
        option_value: r.try_get("option_value")?,
        display_name: r.try_get("display_name")?,
        description: r.try_get("description")?,
    })
}

/// `network_management` → `Network Management` (the original's fallback display name).
pub fn default_display_name(key: &str) -> String {
    key.split(['_', ' '])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f
                    .to_uppercase()
                    .chain(c.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<String>>()
        .join(" ")
}

/// Feature keys (categories, plan feature types, override keys) in one form:
/// trimmed, lower case, runs of spaces as `_` (`Email Security` → `email_security`).
pub fn feature_key(raw: &str) -> Result<String, String> {
    let key = raw
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("_")
        .to_lowercase();
    if key.is_empty() {
        return Err("is required".into());
    }
    validate::text(&key, 100)
}

/// The term a company is billed on (§8.1): `contract_term_length`, else `contract_term`,
/// else Month to Month; normalised when it is a known spelling.
pub fn company_term(term_length: Option<&str>, term: Option<&str>) -> String {
    let raw = [term_length, term]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|s| !s.is_empty());
    match raw {
        None => DEFAULT_TERM.to_string(),
        Some(r) => normalize_term(r).map(str::to_string).unwrap_or(r.into()),
    }
}

fn to_json<T: Serialize>(v: &T) -> AppResult<Value> {
    Ok(serde_json::to_value(v).map_err(anyhow::Error::from)?)
}

/// One audit row inside the caller's transaction.
async fn audit_change(
    conn: &mut AnyConnection,
    who: &Principal,
    action: Action,
    entity: &'static str,
    entity_id: String,
    before: Option<Value>,
    after: Option<Value>,
) -> AppResult<()> {
    let change = Change {
        module: "codex",
        action,
        entity,
        entity_id,
        before,
        after,
    };
    audit::record(conn, Some(who), change).await
}

// ---------------------------------------------------------------------------
// Store: plans
// ---------------------------------------------------------------------------

/// Features of the given plans, in one query.
async fn features_for(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> AppResult<HashMap<i64, BTreeMap<String, String>>> {
    let mut out: HashMap<i64, BTreeMap<String, String>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let ph: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT plan_id, feature_type, feature_value FROM plan_features WHERE plan_id IN ({})",
        ph.join(", ")
    );
    let mut q = sqlx::query(&sql);
    for id in ids {
        q = q.bind(*id);
    }
    for r in q.fetch_all(&mut *conn).await? {
        out.entry(r.try_get("plan_id")?)
            .or_default()
            .insert(r.try_get("feature_type")?, r.try_get("feature_value")?);
    }
    Ok(out)
}

/// Rows → plans with their features.
async fn with_features(conn: &mut AnyConnection, rows: &[AnyRow]) -> AppResult<Vec<Plan>> {
    let mut plans = rows
        .iter()
        .map(plan_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let ids: Vec<i64> = plans.iter().map(|p| p.id).collect();
    let mut feats = features_for(conn, &ids).await?;
    for p in &mut plans {
        p.features = feats.remove(&p.id).unwrap_or_default();
    }
    Ok(plans)
}

async fn get_plan_conn(conn: &mut AnyConnection, id: i64) -> AppResult<Option<Plan>> {
    let row = sqlx::query(&format!("{PLAN_SELECT} WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(with_features(conn, row.as_slice()).await?.pop())
}

async fn find_plan_conn(
    conn: &mut AnyConnection,
    name: &str,
    term: &str,
) -> AppResult<Option<Plan>> {
    let row = sqlx::query(&format!(
        "{PLAN_SELECT} WHERE plan_name = $1 AND term_length = $2"
    ))
    .bind(name)
    .bind(term)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(with_features(conn, row.as_slice()).await?.pop())
}

pub async fn get_plan(db: &Db, id: i64) -> AppResult<Option<Plan>> {
    get_plan_conn(&mut *db.pool.acquire().await?, id).await
}

/// The plan `name` on `term` (any known spelling of the term), with its features.
pub async fn find_plan(db: &Db, name: &str, term: &str) -> AppResult<Option<Plan>> {
    let term = normalize_term(term).unwrap_or(term.trim());
    find_plan_conn(&mut *db.pool.acquire().await?, name.trim(), term).await
}

/// Every plan with its features, ordered by name and term (bounded by `MAX_PLANS`).
pub async fn all_plans(db: &Db) -> AppResult<Vec<Plan>> {
    let mut conn = db.pool.acquire().await?;
    let rows = sqlx::query(&format!(
        "{PLAN_SELECT} ORDER BY plan_name, term_length, id LIMIT {MAX_PLANS}"
    ))
    .fetch_all(&mut *conn)
    .await?;
    let mut plans = rows
        .iter()
        .map(plan_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let mut feats: HashMap<i64, BTreeMap<String, String>> = HashMap::new();
    for r in sqlx::query("SELECT plan_id, feature_type, feature_value FROM plan_features")
        .fetch_all(&mut *conn)
        .await?
    {
        feats
            .entry(r.try_get("plan_id")?)
            .or_default()
            .insert(r.try_get("feature_type")?, r.try_get("feature_value")?);
    }
    for p in &mut plans {
        p.features = feats.remove(&p.id).unwrap_or_default();
    }
    Ok(plans)
}

/// Query for plan lists.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlanQuery {
    /// Exact plan name.
    pub plan_name: Option<String>,
    /// Term (any known spelling: `1-Year`, `12 months`…).
    pub term_length: Option<String>,
    /// Part of the plan name (case-insensitive).
    pub search: Option<String>,
    /// plan_name (default), term_length, support_level, id, created_at, updated_at, or
    /// any cost field (per_user_cost, …).
    pub sort: Option<String>,
    pub order: Option<Order>,
    /// 1..=1000, default 500.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

fn plan_sort_column(sort: &str) -> Option<&'static str> {
    const PLAIN: [&str; 6] = [
        "plan_name",
        "term_length",
        "support_level",
        "id",
        "created_at",
        "updated_at",
    ];
    PLAIN.into_iter().find(|c| *c == sort).or_else(|| {
        COSTS
            .iter()
            .find(|(api, _, _)| *api == sort)
            .map(|(_, col, _)| *col)
    })
}

pub async fn list_plans_page(db: &Db, q: &PlanQuery, page: Page) -> AppResult<(Vec<Plan>, i64)> {
    let sort = q.sort.as_deref().unwrap_or("plan_name");
    let Some(col) = plan_sort_column(sort) else {
        return Err(AppError::invalid(
            "sort",
            "must be plan_name, term_length, support_level, id, created_at, updated_at or a cost field",
        ));
    };
    let term = q
        .term_length
        .as_deref()
        .map(|t| normalize_term(t).unwrap_or(t.trim()).to_string());
    let search = q
        .search
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| like_pattern(s.trim()));
    let name = q.plan_name.as_deref().map(str::trim);
    let filter = format!(
        "WHERE ($1 IS NULL OR plan_name = $1) AND ($2 IS NULL OR term_length = $2) \
         AND ($3 IS NULL OR plan_name {} $3 ESCAPE '\\')",
        db.ilike()
    );
    let mut conn = db.pool.acquire().await?;
    let total: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM billing_plans {filter}"))
        .bind(name)
        .bind(&term)
        .bind(&search)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    let order = q.order.unwrap_or_default().sql();
    let rows = sqlx::query(&format!(
        "{PLAN_SELECT} {filter} ORDER BY {col} {order}, plan_name, term_length, id LIMIT $4 OFFSET $5"
    ))
    .bind(name)
    .bind(&term)
    .bind(&search)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(&mut *conn)
    .await?;
    Ok((with_features(&mut conn, &rows).await?, total))
}

/// How many live companies are billed on plan `name` with `term` (the term derived as in
/// §8.1). Grouped by the stored spellings, so the rows read stay few.
pub async fn companies_on_plan(conn: &mut AnyConnection, name: &str, term: &str) -> AppResult<i64> {
    let rows = sqlx::query(
        "SELECT contract_term_length, contract_term, COUNT(*) AS n FROM companies \
         WHERE billing_plan = $1 AND deleted_at IS NULL GROUP BY contract_term_length, contract_term",
    )
    .bind(name)
    .fetch_all(&mut *conn)
    .await?;
    let mut n = 0;
    for r in rows {
        let tl: Option<String> = r.try_get(0)?;
        let t: Option<String> = r.try_get(1)?;
        if company_term(tl.as_deref(), t.as_deref()) == term {
            n += r.try_get::<i64, _>(2)?;
        }
    }
    Ok(n)
}

async fn ensure_unreferenced(conn: &mut AnyConnection, p: &Plan, doing: &str) -> AppResult<()> {
    let n = companies_on_plan(conn, &p.plan_name, &p.term_length).await?;
    if n > 0 {
        return Err(AppError::Conflict(format!(
            "cannot {doing} plan {} ({}): {n} compan{} use it; move them to another plan first",
            p.plan_name,
            p.term_length,
            if n == 1 { "y" } else { "ies" }
        )));
    }
    Ok(())
}

fn plan_columns() -> String {
    let costs: Vec<&str> = COSTS.iter().map(|(_, c, _)| *c).collect();
    format!(
        "plan_name, term_length, support_level, {}",
        costs.join(", ")
    )
}

/// Number of bound plan columns (name, term, support level, 11 costs).
const PLAN_BINDS: usize = 14;

fn bind_plan<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    p: &'q Plan,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let mut q = q
        .bind(&p.plan_name)
        .bind(&p.term_length)
        .bind(&p.support_level);
    for v in p.costs.hundredths() {
        q = q.bind(v);
    }
    q
}

/// Inserts `p` and its features; 409 when (name, term) exists or the plan cap is hit.
async fn insert_plan(conn: &mut AnyConnection, p: &Plan, now: &str) -> AppResult<i64> {
    if find_plan_conn(conn, &p.plan_name, &p.term_length)
        .await?
        .is_some()
    {
        return Err(AppError::Conflict(format!(
            "plan {} ({}) already exists",
            p.plan_name, p.term_length
        )));
    }
    let count: i64 = sqlx::query("SELECT COUNT(*) FROM billing_plans")
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    if count >= MAX_PLANS {
        return Err(AppError::Conflict(format!(
            "at most {MAX_PLANS} plans may exist"
        )));
    }
    let ph: Vec<String> = (1..=PLAN_BINDS).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO billing_plans ({}, created_at, updated_at) VALUES ({}, ${n}, ${n}) RETURNING id",
        plan_columns(),
        ph.join(", "),
        n = PLAN_BINDS + 1
    );
    let id: i64 = bind_plan(sqlx::query(&sql), p)
        .bind(now)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    replace_features(conn, id, &p.features).await?;
    Ok(id)
}

/// Writes every column of `p` (features included) over row `p.id`.
async fn update_plan_row(conn: &mut AnyConnection, p: &Plan, now: &str) -> AppResult<()> {
    let sets: Vec<String> = plan_columns()
        .split(", ")
        .enumerate()
        .map(|(i, c)| format!("{c} = ${}", i + 1))
        .collect();
    let sql = format!(
        "UPDATE billing_plans SET {}, updated_at = ${} WHERE id = ${}",
        sets.join(", "),
        PLAN_BINDS + 1,
        PLAN_BINDS + 2
    );
    bind_plan(sqlx::query(&sql), p)
        .bind(now)
        .bind(p.id)
        .execute(&mut *conn)
        .await?;
    replace_features(conn, p.id, &p.features).await
}

async fn replace_features(
    conn: &mut AnyConnection,
    plan_id: i64,
    features: &BTreeMap<String, String>,
) -> AppResult<()> {
    sqlx::query("DELETE FROM plan_features WHERE plan_id = $1")
        .bind(plan_id)
        .execute(&mut *conn)
        .await?;
    for (k, v) in features {
        sqlx::query(
            "INSERT INTO plan_features (plan_id, feature_type, feature_value) VALUES ($1, $2, $3)",
        )
        .bind(plan_id)
        .bind(k)
        .bind(v)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn plan_in_tx(conn: &mut AnyConnection, id: i64) -> AppResult<Plan> {
    get_plan_conn(conn, id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("plan {id} vanished")))
}

fn plan_not_found(id: i64) -> AppError {
    AppError::not_found(format!("billing plan {id} not found"))
}

// ---------------------------------------------------------------------------
// Rules: plan input
// ---------------------------------------------------------------------------

/// Fields of a plan. Absent fields stay as they are; `null` or `""` resets a field to
/// its default (prices 0, included backup 1.00 TB, support level `Billed Hourly`).
/// Amounts are JSON numbers or strings with at most 2 decimals, never negative.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanInput {
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub plan_name: Option<Option<String>>,
    /// Alias of `plan_name`.
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub billing_plan: Option<Option<String>>,
    /// Month to Month, 1 Year, 2 Year or 3 Year (other spellings are normalised).
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub term_length: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub support_level: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>, example = "12.50")]
    pub per_user_cost: Option<Option<Value>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub per_workstation_cost: Option<Option<Value>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub per_server_cost: Option<Option<Value>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub per_vm_cost: Option<Option<Value>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub per_switch_cost: Option<Option<Value>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub per_firewall_cost: Option<Option<Value>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub per_hour_ticket_cost: Option<Option<Value>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub backup_base_fee_workstation: Option<Option<Value>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub backup_base_fee_server: Option<Option<Value>>,
    /// Terabytes included per device (2 decimals).
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>, example = "1.00")]
    pub backup_included_tb: Option<Option<Value>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub backup_per_tb_fee: Option<Option<Value>>,
    /// `{feature_type: value}`; replaces the plan's features (empty values are dropped).
    #[serde(default)]
    pub features: Option<BTreeMap<String, Option<String>>>,
}

impl PlanInput {
    /// The cost patches in `COSTS` order.
    fn costs(&self) -> [&Option<Option<Value>>; 11] {
        [
            &self.per_user_cost,
            &self.per_workstation_cost,
            &self.per_server_cost,
            &self.per_vm_cost,
            &self.per_switch_cost,
            &self.per_firewall_cost,
            &self.per_hour_ticket_cost,
            &self.backup_base_fee_workstation,
            &self.backup_base_fee_server,
            &self.backup_included_tb,
            &self.backup_per_tb_fee,
        ]
    }
}

/// Cleans a `{feature_type: value}` map: keys in `feature_key` form, values 1-150
/// characters, empty values dropped. Errors go under `field` or `field.key`.
fn clean_features(
    e: &mut FieldErrors,
    field: &str,
    raw: &BTreeMap<String, Option<String>>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if raw.len() > MAX_FEATURES_PER_PLAN {
        e.insert(
            field.into(),
            format!("at most {MAX_FEATURES_PER_PLAN} features"),
        );
        return out;
    }
    for (k, v) in raw {
        let key = match feature_key(k) {
            Ok(key) => key,
            Err(m) => {
                e.insert(format!("{field}.{k}"), format!("feature name {m}"));
                continue;
            }
        };
        match v.as_deref().map(|v| validate::text(v, 150)) {
            None => {}
            Some(Ok(v)) if v.is_empty() => {}
            Some(Ok(_)) if out.contains_key(&key) => {
                let m = format!("names the same feature as another key ({key})");
                e.insert(format!("{field}.{k}"), m);
            }
            Some(Ok(v)) => {
                out.insert(key, v);
            }
            Some(Err(m)) => {
                e.insert(format!("{field}.{k}"), m);
            }
        }
    }
    out
}

/// Applies `input` to `p`, collecting every field error under `prefix` + field name.
fn apply_plan(p: &mut Plan, input: &PlanInput, prefix: &str, e: &mut FieldErrors) {
    let key = |f: &str| format!("{prefix}{f}");
    let name = input.plan_name.as_ref().or(input.billing_plan.as_ref());
    apply_required(
        e,
        &key("plan_name"),
        &mut p.plan_name,
        &name.cloned(),
        patch::required(100),
    );
    p.billing_plan = p.plan_name.clone();
    apply_required(
        e,
        &key("term_length"),
        &mut p.term_length,
        &input.term_length,
        |s| {
            normalize_term(s)
                .map(str::to_string)
                .ok_or_else(|| format!("must be one of: {}", TERMS.join(", ")))
        },
    );
    match &input.support_level {
        None => {}
        Some(None) => p.support_level = DEFAULT_SUPPORT_LEVEL.into(),
        Some(Some(s)) => match validate::text(s, 100) {
            Ok(s) if s.is_empty() => p.support_level = DEFAULT_SUPPORT_LEVEL.into(),
            Ok(s) => p.support_level = s,
            Err(m) => {
                e.insert(key("support_level"), m);
            }
        },
    }
    let mut h = p.costs.hundredths();
    for (i, patch) in input.costs().into_iter().enumerate() {
        let (api, _, default) = COSTS[i];
        match patch {
            None => {}
            Some(None) => h[i] = default,
            Some(Some(Value::String(s))) if s.trim().is_empty() => h[i] = default,
            Some(Some(v)) => match parse_amount(v) {
                Ok(c) => h[i] = c,
                Err(m) => {
                    e.insert(key(api), m);
                }
            },
        }
    }
    p.costs = Costs::from_hundredths(h);
    if let Some(f) = &input.features {
        p.features = clean_features(e, &key("features"), f);
    }
}

fn blank_plan(now: &str) -> Plan {
    Plan {
        id: 0,
        plan_name: String::new(),
        billing_plan: String::new(),
        term_length: String::new(),
        support_level: DEFAULT_SUPPORT_LEVEL.into(),
        costs: Costs::default(),
        features: BTreeMap::new(),
        created_at: now.into(),
        updated_at: now.into(),
    }
}

/// A new plan from `input`, or every field error (name and term are required).
fn new_plan(input: &PlanInput, prefix: &str, now: &str, e: &mut FieldErrors) -> Plan {
    let mut p = blank_plan(now);
    if input.plan_name.is_none() && input.billing_plan.is_none() {
        e.insert(format!("{prefix}plan_name"), "is required".into());
    }
    if input.term_length.is_none() {
        e.insert(format!("{prefix}term_length"), "is required".into());
    }
    apply_plan(&mut p, input, prefix, e);
    p
}

fn check(e: FieldErrors) -> AppResult<()> {
    if e.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(e))
    }
}

// ---------------------------------------------------------------------------
// Writes: plans
// ---------------------------------------------------------------------------

pub async fn create_plan(db: &Db, who: &Principal, input: &PlanInput) -> AppResult<Plan> {
    let now = crate::time::now_db();
    let mut e = FieldErrors::new();
    let p = new_plan(input, "", &now, &mut e);
    check(e)?;
    let mut tx = db.pool.begin().await?;
    let id = insert_plan(&mut tx, &p, &now).await?;
    let after = plan_in_tx(&mut tx, id).await?;
    audit_change(
        &mut tx,
        who,
        Action::Create,
        "billing_plan",
        id.to_string(),
        None,
        Some(to_json(&after)?),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Patches a plan. Renaming it (or changing its term) is refused while companies are
/// billed on it, since their reference would silently stop matching.
pub async fn update_plan(db: &Db, who: &Principal, id: i64, input: &PlanInput) -> AppResult<Plan> {
    let mut tx = db.pool.begin().await?;
    let before = get_plan_conn(&mut tx, id)
        .await?
        .ok_or_else(|| plan_not_found(id))?;
    let mut p = before.clone();
    let mut e = FieldErrors::new();
    apply_plan(&mut p, input, "", &mut e);
    check(e)?;
    let renamed = p.plan_name != before.plan_name || p.term_length != before.term_length;
    if renamed {
        ensure_unreferenced(&mut tx, &before, "rename").await?;
        if find_plan_conn(&mut tx, &p.plan_name, &p.term_length)
            .await?
            .is_some()
        {
            return Err(AppError::Conflict(format!(
                "plan {} ({}) already exists",
                p.plan_name, p.term_length
            )));
        }
    }
    update_plan_row(&mut tx, &p, &crate::time::now_db()).await?;
    let after = plan_in_tx(&mut tx, id).await?;
    audit_change(
        &mut tx,
        who,
        Action::Update,
        "billing_plan",
        id.to_string(),
        Some(to_json(&before)?),
        Some(to_json(&after)?),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Replaces a plan's feature set.
pub async fn set_plan_features(
    db: &Db,
    who: &Principal,
    id: i64,
    features: &BTreeMap<String, Option<String>>,
) -> AppResult<Plan> {
    let input = PlanInput {
        features: Some(features.clone()),
        ..PlanInput::default()
    };
    update_plan(db, who, id, &input).await
}

/// Deletes a plan (plans are configuration, not synced data), refusing while companies
/// are billed on it.
pub async fn delete_plan(db: &Db, who: &Principal, id: i64) -> AppResult<()> {
    let mut tx = db.pool.begin().await?;
    let before = get_plan_conn(&mut tx, id)
        .await?
        .ok_or_else(|| plan_not_found(id))?;
    ensure_unreferenced(&mut tx, &before, "delete").await?;
    sqlx::query("DELETE FROM plan_features WHERE plan_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM billing_plans WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit_change(
        &mut tx,
        who,
        Action::Delete,
        "billing_plan",
        id.to_string(),
        Some(to_json(&before)?),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Which terms to copy a plan to.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CopyTermsInput {
    /// Target terms (Month to Month, 1 Year, 2 Year, 3 Year).
    pub term_lengths: Vec<String>,
}

fn clean_terms(source: &str, raw: &[String]) -> AppResult<Vec<&'static str>> {
    let mut e = FieldErrors::new();
    let mut out: Vec<&'static str> = Vec::new();
    if raw.is_empty() {
        e.insert("term_lengths".into(), "give at least one term".into());
    }
    for (i, t) in raw.iter().enumerate() {
        match normalize_term(t) {
            None => {
                e.insert(
                    format!("term_lengths[{i}]"),
                    format!("must be one of: {}", TERMS.join(", ")),
                );
            }
            Some(t) if t == source => {
                e.insert(
                    format!("term_lengths[{i}]"),
                    "is the plan's own term".into(),
                );
            }
            Some(t) if !out.contains(&t) => out.push(t),
            Some(_) => {}
        }
    }
    check(e)?;
    Ok(out)
}

/// Copies a plan's support level, prices and features to other terms of the same plan
/// name, creating the missing terms and overwriting existing ones (§8.2; unlike the
/// original, features are copied too). Returns the target plans.
pub async fn copy_terms(
    db: &Db,
    who: &Principal,
    id: i64,
    terms: &[String],
) -> AppResult<Vec<Plan>> {
    let source = get_plan(db, id).await?.ok_or_else(|| plan_not_found(id))?;
    let targets = clean_terms(&source.term_length, terms)?;
    let now = crate::time::now_db();
    let mut tx = db.pool.begin().await?;
    let mut out = Vec::new();
    for term in targets {
        let existing = find_plan_conn(&mut tx, &source.plan_name, term).await?;
        let mut p = Plan {
            term_length: term.into(),
            ..source.clone()
        };
        let (action, before, target_id) = match &existing {
            Some(old) => {
                p.id = old.id;
                update_plan_row(&mut tx, &p, &now).await?;
                (Action::Update, Some(to_json(old)?), old.id)
            }
            None => (Action::Create, None, insert_plan(&mut tx, &p, &now).await?),
        };
        let after = plan_in_tx(&mut tx, target_id).await?;
        let after_json = Some(to_json(&after)?);
        audit_change(
            &mut tx,
            who,
            action,
            "billing_plan",
            target_id.to_string(),
            before,
            after_json,
        )
        .await?;
        out.push(after);
    }
    tx.commit().await?;
    Ok(out)
}

// ---------------------------------------------------------------------------
// Feature options and categories
// ---------------------------------------------------------------------------

const OPTION_SELECT: &str =
    "SELECT id, feature_category, option_value, display_name, description FROM feature_options";

/// Fields of a feature option. On create, `feature_category` and `option_value` are
/// required; the original's names `feature_type`/`category` and (for the value)
/// `display_name` are accepted.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptionInput {
    #[serde(
        default,
        deserialize_with = "patch::field",
        alias = "feature_type",
        alias = "category"
    )]
    #[schema(value_type = Option<String>)]
    pub feature_category: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field", alias = "value")]
    #[schema(value_type = Option<String>)]
    pub option_value: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
}

/// A feature option as validated, before it has an id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OptionDraft {
    pub feature_category: String,
    pub option_value: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
}

fn apply_option(o: &mut OptionDraft, input: &OptionInput, prefix: &str, e: &mut FieldErrors) {
    let key = |f: &str| format!("{prefix}{f}");
    apply_required(
        e,
        &key("feature_category"),
        &mut o.feature_category,
        &input.feature_category,
        feature_key,
    );
    apply_required(
        e,
        &key("option_value"),
        &mut o.option_value,
        &input.option_value,
        patch::required(100),
    );
    patch::apply_text(
        e,
        &key("display_name"),
        &mut o.display_name,
        &input.display_name,
        patch::text(150),
    );
    patch::apply_text(
        e,
        &key("description"),
        &mut o.description,
        &input.description,
        patch::text(2000),
    );
}

fn new_option(input: &OptionInput, prefix: &str, e: &mut FieldErrors) -> OptionDraft {
    let mut o = OptionDraft {
        feature_category: String::new(),
        option_value: String::new(),
        display_name: None,
        description: None,
    };
    // The original's legacy form sent the value as `display_name`.
    let value = input.option_value.clone().or(input.display_name.clone());
    let input = OptionInput {
        option_value: value,
        feature_category: input.feature_category.clone(),
        display_name: input.display_name.clone(),
        description: input.description.clone(),
    };
    for (f, v) in [
        ("feature_category", &input.feature_category),
        ("option_value", &input.option_value),
    ] {
        if v.is_none() {
            e.insert(format!("{prefix}{f}"), "is required".into());
        }
    }
    apply_option(&mut o, &input, prefix, e);
    o
}

async fn option_by_key(
    conn: &mut AnyConnection,
    category: &str,
    value: &str,
) -> AppResult<Option<FeatureOption>> {
    let row = sqlx::query(&format!(
        "{OPTION_SELECT} WHERE feature_category = $1 AND option_value = $2"
    ))
    .bind(category)
    .bind(value)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| option_from_row(&r)).transpose()?)
}

async fn option_by_id(conn: &mut AnyConnection, id: i64) -> AppResult<FeatureOption> {
    let row = sqlx::query(&format!("{OPTION_SELECT} WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| AppError::not_found(format!("feature option {id} not found")))?;
    Ok(option_from_row(&row)?)
}

async fn insert_option(conn: &mut AnyConnection, o: &OptionDraft) -> AppResult<FeatureOption> {
    if option_by_key(conn, &o.feature_category, &o.option_value)
        .await?
        .is_some()
    {
        return Err(AppError::Conflict(format!(
            "option {} already exists in {}",
            o.option_value, o.feature_category
        )));
    }
    let count: i64 = sqlx::query("SELECT COUNT(*) FROM feature_options")
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    if count >= MAX_OPTIONS {
        return Err(AppError::Conflict(format!(
            "at most {MAX_OPTIONS} feature options may exist"
        )));
    }
    let id: i64 = sqlx::query(
        "INSERT INTO feature_options (feature_category, option_value, display_name, description) \
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(&o.feature_category)
    .bind(&o.option_value)
    .bind(&o.display_name)
    .bind(&o.description)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?;
    option_by_id(conn, id).await
}

async fn update_option_row(conn: &mut AnyConnection, id: i64, o: &OptionDraft) -> AppResult<()> {
    sqlx::query(
        "UPDATE feature_options SET feature_category = $1, option_value = $2, display_name = $3, \
         description = $4 WHERE id = $5",
    )
    .bind(&o.feature_category)
    .bind(&o.option_value)
    .bind(&o.display_name)
    .bind(&o.description)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn draft_of(o: &FeatureOption) -> OptionDraft {
    OptionDraft {
        feature_category: o.feature_category.clone(),
        option_value: o.option_value.clone(),
        display_name: o.display_name.clone(),
        description: o.description.clone(),
    }
}

pub async fn create_option(
    db: &Db,
    who: &Principal,
    input: &OptionInput,
) -> AppResult<FeatureOption> {
    let mut e = FieldErrors::new();
    let o = new_option(input, "", &mut e);
    check(e)?;
    let mut tx = db.pool.begin().await?;
    let created = insert_option(&mut tx, &o).await?;
    audit_change(
        &mut tx,
        who,
        Action::Create,
        "feature_option",
        created.id.to_string(),
        None,
        Some(to_json(&created)?),
    )
    .await?;
    tx.commit().await?;
    Ok(created)
}

/// Changes an option. Plans already using the old value keep it (as in the original).
pub async fn update_option(
    db: &Db,
    who: &Principal,
    id: i64,
    input: &OptionInput,
) -> AppResult<FeatureOption> {
    let mut tx = db.pool.begin().await?;
    let before = option_by_id(&mut tx, id).await?;
    let mut o = draft_of(&before);
    let mut e = FieldErrors::new();
    apply_option(&mut o, input, "", &mut e);
    check(e)?;
    if let Some(other) = option_by_key(&mut tx, &o.feature_category, &o.option_value).await? {
        if other.id != id {
            return Err(AppError::Conflict(format!(
                "option {} already exists in {}",
                o.option_value, o.feature_category
            )));
        }
    }
    update_option_row(&mut tx, id, &o).await?;
    let after = option_by_id(&mut tx, id).await?;
    audit_change(
        &mut tx,
        who,
        Action::Update,
        "feature_option",
        id.to_string(),
        Some(to_json(&before)?),
        Some(to_json(&after)?),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

pub async fn delete_option(db: &Db, who: &Principal, id: i64) -> AppResult<()> {
    let mut tx = db.pool.begin().await?;
    let before = option_by_id(&mut tx, id).await?;
    sqlx::query("DELETE FROM feature_options WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit_change(
        &mut tx,
        who,
        Action::Delete,
        "feature_option",
        id.to_string(),
        Some(to_json(&before)?),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Query for option lists.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OptionQuery {
    /// Only this category (`feature_type` is accepted as the original's name).
    #[serde(alias = "feature_type")]
    pub category: Option<String>,
    /// feature_category (default), option_value, display_name, id
    pub sort: Option<String>,
    pub order: Option<Order>,
    /// 1..=1000, default 1000.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

pub async fn list_options_page(
    db: &Db,
    q: &OptionQuery,
    page: Page,
) -> AppResult<(Vec<FeatureOption>, i64)> {
    const SORTS: [&str; 4] = ["feature_category", "option_value", "display_name", "id"];
    let sort = q.sort.as_deref().unwrap_or("feature_category");
    if !SORTS.contains(&sort) {
        return Err(AppError::invalid(
            "sort",
            format!("must be one of: {}", SORTS.join(", ")),
        ));
    }
    let category = q
        .category
        .as_deref()
        .map(|c| feature_key(c).unwrap_or_else(|_| c.to_string()));
    let filter = "WHERE ($1 IS NULL OR feature_category = $1)";
    let total: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM feature_options {filter}"))
        .bind(&category)
        .fetch_one(&db.pool)
        .await?
        .try_get(0)?;
    let order = q.order.unwrap_or_default().sql();
    let rows = sqlx::query(&format!(
        "{OPTION_SELECT} {filter} ORDER BY {sort} {order}, feature_category, option_value, id \
         LIMIT $2 OFFSET $3"
    ))
    .bind(&category)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(&db.pool)
    .await?;
    let list = rows.iter().map(option_from_row).collect::<Result<_, _>>()?;
    Ok((list, total))
}

/// Every option ordered by category and value (bounded by `MAX_OPTIONS`).
pub async fn all_options(db: &Db) -> AppResult<Vec<FeatureOption>> {
    let rows = sqlx::query(&format!(
        "{OPTION_SELECT} ORDER BY feature_category, option_value, id LIMIT {MAX_OPTIONS}"
    ))
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(option_from_row).collect::<Result<_, _>>()?)
}

/// Category configuration rows (display names), by key.
pub async fn category_configs(conn: &mut AnyConnection) -> AppResult<Vec<CategoryConfig>> {
    let rows = sqlx::query(&format!(
        "SELECT feature_key, display_name, full_name, description FROM feature_categories \
         ORDER BY feature_key LIMIT {MAX_OPTIONS}"
    ))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(CategoryConfig {
                feature_key: r.try_get(0)?,
                display_name: r.try_get(1)?,
                full_name: r.try_get(2)?,
                description: r.try_get(3)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(AppError::from)
}

/// Display name per configured key; callers fall back to `default_display_name`.
async fn display_names(conn: &mut AnyConnection) -> AppResult<HashMap<String, String>> {
    Ok(category_configs(conn)
        .await?
        .into_iter()
        .map(|c| (c.feature_key, c.display_name))
        .collect())
}

fn display_of(names: &HashMap<String, String>, key: &str) -> String {
    names
        .get(key)
        .cloned()
        .unwrap_or_else(|| default_display_name(key))
}

const CATEGORY_KEYS: &str =
    "(SELECT feature_key FROM feature_categories UNION SELECT feature_category FROM feature_options) k";

pub async fn list_categories_page(db: &Db, page: Page) -> AppResult<(Vec<FeatureCategory>, i64)> {
    let total: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM {CATEGORY_KEYS}"))
        .fetch_one(&db.pool)
        .await?
        .try_get(0)?;
    let rows = sqlx::query(&format!(
        "SELECT k.feature_key, c.display_name, c.full_name, c.description, \
         (SELECT COUNT(*) FROM feature_options o WHERE o.feature_category = k.feature_key) AS option_count \
         FROM {CATEGORY_KEYS} LEFT JOIN feature_categories c ON c.feature_key = k.feature_key \
         ORDER BY k.feature_key LIMIT $1 OFFSET $2"
    ))
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(&db.pool)
    .await?;
    let list = rows
        .iter()
        .map(|r| {
            let key: String = r.try_get(0)?;
            let configured: Option<String> = r.try_get(1)?;
            Ok(FeatureCategory {
                display_name: configured
                    .clone()
                    .unwrap_or_else(|| default_display_name(&key)),
                configured: configured.is_some(),
                feature_key: key,
                full_name: r.try_get(2)?,
                description: r.try_get(3)?,
                option_count: r.try_get(4)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok((list, total))
}

/// Every category key, sorted (bounded: each has an option or a config row).
pub async fn category_keys(db: &Db) -> AppResult<Vec<String>> {
    let rows = sqlx::query(&format!(
        "SELECT k.feature_key FROM {CATEGORY_KEYS} ORDER BY k.feature_key LIMIT {}",
        2 * MAX_OPTIONS
    ))
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?)
}

/// A new feature category. `feature_key` (or the original's `category_name`) is made
/// lower case with `_` for spaces.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryInput {
    #[serde(alias = "category_name")]
    pub feature_key: Option<String>,
    /// Defaults to the key in title case.
    pub display_name: Option<String>,
    pub full_name: Option<String>,
    pub description: Option<String>,
}

fn clean_category(input: &CategoryInput, prefix: &str, e: &mut FieldErrors) -> CategoryConfig {
    let key = |f: &str| format!("{prefix}{f}");
    let mut opt = |f: &str, v: &Option<String>, max: usize| -> Option<String> {
        match v.as_deref().map(|s| validate::text(s, max)) {
            Some(Ok(s)) if !s.is_empty() => Some(s),
            Some(Err(m)) => {
                e.insert(key(f), m);
                None
            }
            _ => None,
        }
    };
    let display = opt("display_name", &input.display_name, 150);
    let full_name = opt("full_name", &input.full_name, 255);
    let description = opt("description", &input.description, 2000);
    let feature_key = match feature_key(input.feature_key.as_deref().unwrap_or("")) {
        Ok(k) => k,
        Err(m) => {
            e.insert(key("feature_key"), m);
            String::new()
        }
    };
    CategoryConfig {
        display_name: display.unwrap_or_else(|| default_display_name(&feature_key)),
        feature_key,
        full_name,
        description,
    }
}

async fn category_exists(conn: &mut AnyConnection, key: &str) -> AppResult<bool> {
    let n: i64 = sqlx::query(&format!(
        "SELECT COUNT(*) FROM {CATEGORY_KEYS} WHERE k.feature_key = $1"
    ))
    .bind(key)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?;
    Ok(n > 0)
}

async fn upsert_category_row(
    conn: &mut AnyConnection,
    c: &CategoryConfig,
    exists: bool,
) -> AppResult<()> {
    let sql = if exists {
        "UPDATE feature_categories SET display_name = $2, full_name = $3, description = $4 \
         WHERE feature_key = $1"
    } else {
        "INSERT INTO feature_categories (feature_key, display_name, full_name, description) \
         VALUES ($1, $2, $3, $4)"
    };
    sqlx::query(sql)
        .bind(&c.feature_key)
        .bind(&c.display_name)
        .bind(&c.full_name)
        .bind(&c.description)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Creates a category with its first option, `Not Included`; 409 when the key exists.
pub async fn create_category(
    db: &Db,
    who: &Principal,
    input: &CategoryInput,
) -> AppResult<FeatureCategory> {
    let mut e = FieldErrors::new();
    let c = clean_category(input, "", &mut e);
    check(e)?;
    let mut tx = db.pool.begin().await?;
    if category_exists(&mut tx, &c.feature_key).await? {
        return Err(AppError::Conflict(format!(
            "feature category {} already exists",
            c.feature_key
        )));
    }
    upsert_category_row(&mut tx, &c, false).await?;
    let first = OptionDraft {
        feature_category: c.feature_key.clone(),
        option_value: NOT_INCLUDED.into(),
        display_name: None,
        description: None,
    };
    insert_option(&mut tx, &first).await?;
    audit_change(
        &mut tx,
        who,
        Action::Create,
        "feature_category",
        c.feature_key.clone(),
        None,
        Some(to_json(&c)?),
    )
    .await?;
    tx.commit().await?;
    Ok(FeatureCategory {
        feature_key: c.feature_key,
        display_name: c.display_name,
        full_name: c.full_name,
        description: c.description,
        configured: true,
        option_count: 1,
    })
}

// ---------------------------------------------------------------------------
// Company feature overrides and effective features
// ---------------------------------------------------------------------------

/// One feature as a company gets it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EffectiveFeature {
    pub feature_type: String,
    pub display_name: String,
    /// The value that applies: the override when one is enabled, else the plan's.
    pub value: String,
    pub plan_value: String,
    /// `override` or `plan`.
    pub source: String,
}

/// A company's features: its plan's features overlaid with its enabled overrides.
/// Overrides for features the plan lacks are kept in `overrides` but do not apply.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EffectiveFeatures {
    pub company_id: i64,
    pub account_number: String,
    /// The plan the company is billed on, when it exists.
    pub plan_id: Option<i64>,
    pub plan_name: Option<String>,
    pub term_length: String,
    /// The plan's support level, else the company's, else `N/A`.
    pub support_level: String,
    /// The company's enabled overrides `{feature_key: value}`.
    pub overrides: BTreeMap<String, String>,
    /// `{feature_type: effective value}`.
    pub features: BTreeMap<String, String>,
    pub details: Vec<EffectiveFeature>,
}

async fn overrides_of(
    conn: &mut AnyConnection,
    company_id: i64,
) -> AppResult<BTreeMap<String, String>> {
    let rows = sqlx::query(
        "SELECT feature_key, value FROM company_feature_overrides \
         WHERE company_id = $1 AND override_enabled = 1",
    )
    .bind(company_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(AppError::from)
}

async fn effective_for(
    conn: &mut AnyConnection,
    c: &companies::Company,
) -> AppResult<EffectiveFeatures> {
    let term = company_term(
        c.contract_term_length.as_deref(),
        c.contract_term.as_deref(),
    );
    let plan = match c.billing_plan.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => find_plan_conn(conn, name, &term).await?,
        _ => None,
    };
    let overrides = overrides_of(conn, c.id).await?;
    let names = display_names(conn).await?;
    let mut features = BTreeMap::new();
    let mut details = Vec::new();
    for (k, plan_value) in plan.iter().flat_map(|p| p.features.iter()) {
        let custom = overrides.get(k);
        let value = custom.unwrap_or(plan_value).clone();
        features.insert(k.clone(), value.clone());
        details.push(EffectiveFeature {
            feature_type: k.clone(),
            display_name: display_of(&names, k),
            value,
            plan_value: plan_value.clone(),
            source: if custom.is_some() { "override" } else { "plan" }.into(),
        });
    }
    let support_level = plan
        .as_ref()
        .map(|p| p.support_level.clone())
        .or_else(|| c.support_level.clone().filter(|s| !s.trim().is_empty()))
        .unwrap_or_else(|| "N/A".into());
    Ok(EffectiveFeatures {
        company_id: c.id,
        account_number: c.account_number.clone(),
        plan_id: plan.as_ref().map(|p| p.id),
        plan_name: plan.as_ref().map(|p| p.plan_name.clone()),
        term_length: term,
        support_level,
        overrides,
        features,
        details,
    })
}

/// The features company `company_id` is billed with (for Ledger); 404 if unknown.
pub async fn effective_features(db: &Db, company_id: i64) -> AppResult<EffectiveFeatures> {
    let c = companies::get_by_id(db, company_id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("company id {company_id} not found")))?;
    effective_for(&mut *db.pool.acquire().await?, &c).await
}

/// Replaces a company's overrides. Keys must name a known feature (a category or a plan
/// feature type); null or empty values remove the key.
pub async fn replace_overrides(
    db: &Db,
    who: &Principal,
    company: &companies::Company,
    raw: &BTreeMap<String, Option<String>>,
) -> AppResult<EffectiveFeatures> {
    let mut e = FieldErrors::new();
    let mut clean = BTreeMap::new();
    let mut conn = db.pool.acquire().await?;
    for (k, v) in raw {
        let field = format!("overrides.{k}");
        let key = match feature_key(k) {
            Ok(key) => key,
            Err(m) => {
                e.insert(field, format!("feature name {m}"));
                continue;
            }
        };
        let value = match v.as_deref().map(|v| validate::text(v, 100)) {
            None => continue,
            Some(Ok(v)) if v.is_empty() => continue,
            Some(Ok(v)) => v,
            Some(Err(m)) => {
                e.insert(field, m);
                continue;
            }
        };
        if !is_known_feature(&mut conn, &key).await? {
            e.insert(field, format!("no feature {key} exists"));
        } else if clean.insert(key, value).is_some() {
            e.insert(field, "names the same feature as another key".into());
        }
    }
    check(e)?;
    drop(conn);
    let mut tx = db.pool.begin().await?;
    let before = overrides_of(&mut tx, company.id).await?;
    sqlx::query("DELETE FROM company_feature_overrides WHERE company_id = $1")
        .bind(company.id)
        .execute(&mut *tx)
        .await?;
    let now = crate::time::now_db();
    for (k, v) in &clean {
        sqlx::query(
            "INSERT INTO company_feature_overrides (company_id, feature_key, value, override_enabled, \
             created_at, updated_at) VALUES ($1, $2, $3, 1, $4, $4)",
        )
        .bind(company.id)
        .bind(k)
        .bind(v)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
    }
    audit_change(
        &mut tx,
        who,
        Action::Update,
        "company_feature_overrides",
        company.account_number.clone(),
        Some(to_json(&before)?),
        Some(to_json(&clean)?),
    )
    .await?;
    let view = effective_for(&mut tx, company).await?;
    tx.commit().await?;
    Ok(view)
}

async fn is_known_feature(conn: &mut AnyConnection, key: &str) -> AppResult<bool> {
    if category_exists(conn, key).await? {
        return Ok(true);
    }
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM plan_features WHERE feature_type = $1")
        .bind(key)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    Ok(n > 0)
}

// ---------------------------------------------------------------------------
// Export / import (§8.3)
// ---------------------------------------------------------------------------

/// A plan in the export file: no id (ids are local), money as strings.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ExportPlan {
    pub plan_name: String,
    pub term_length: String,
    pub support_level: String,
    #[serde(flatten)]
    pub costs: Costs,
    pub features: BTreeMap<String, String>,
}

/// The import/export document. Import takes the same shape (money as numbers or
/// strings); `plans` and `feature_options` are required, `feature_categories` optional.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExportDocument {
    pub version: i64,
    pub exported_at: String,
    pub plans: Vec<ExportPlan>,
    pub feature_options: Vec<OptionDraft>,
    pub feature_categories: Vec<CategoryConfig>,
}

pub async fn export_document(db: &Db) -> AppResult<ExportDocument> {
    let plans = all_plans(db)
        .await?
        .into_iter()
        .map(|p| ExportPlan {
            plan_name: p.plan_name,
            term_length: p.term_length,
            support_level: p.support_level,
            costs: p.costs,
            features: p.features,
        })
        .collect();
    let feature_options = all_options(db).await?.iter().map(draft_of).collect();
    let feature_categories = category_configs(&mut *db.pool.acquire().await?).await?;
    Ok(ExportDocument {
        version: EXPORT_VERSION,
        exported_at: crate::time::now_db(),
        plans,
        feature_options,
        feature_categories,
    })
}

/// Counts of one kind of record in an import.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ImportCounts {
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
}

impl ImportCounts {
    fn add(&mut self, action: Option<Action>) {
        match action {
            Some(Action::Create) => self.created += 1,
            Some(_) => self.updated += 1,
            None => self.unchanged += 1,
        }
    }
}

/// One record an import creates or updates.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportChange {
    /// plan, feature_option or feature_category.
    pub kind: String,
    /// `name (term)`, `category/value` or the category key.
    pub key: String,
    /// create or update.
    pub action: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// True when nothing was written (`dry_run=true`).
    pub dry_run: bool,
    pub plans: ImportCounts,
    pub feature_options: ImportCounts,
    pub feature_categories: ImportCounts,
    pub changes: Vec<ImportChange>,
}

/// A validated import document.
struct ImportDoc {
    plans: Vec<Plan>,
    options: Vec<OptionDraft>,
    categories: Vec<CategoryConfig>,
}

/// Parses array `name` of `doc`, each element through `parse`; errors keyed `name[i]…`.
fn parse_items<T, I: serde::de::DeserializeOwned>(
    doc: &serde_json::Map<String, Value>,
    name: &str,
    required: bool,
    max: i64,
    e: &mut FieldErrors,
    mut parse: impl FnMut(&I, &str, &mut FieldErrors) -> T,
) -> Vec<T> {
    let items = match doc.get(name) {
        None | Some(Value::Null) if !required => return vec![],
        Some(Value::Array(a)) => a,
        _ => {
            e.insert(name.into(), "must be an array".into());
            return vec![];
        }
    };
    if items.len() as i64 > max {
        e.insert(name.into(), format!("at most {max} entries"));
        return vec![];
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("{name}[{i}].");
        match serde_json::from_value::<I>(item.clone()) {
            Ok(input) => out.push(parse(&input, &prefix, e)),
            Err(err) => {
                e.insert(format!("{name}[{i}]"), err.to_string());
            }
        }
    }
    out
}

/// Reports every key that appears twice, naming both positions.
fn flag_duplicates(name: &str, keys: &[String], e: &mut FieldErrors) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, k) in keys.iter().enumerate() {
        if let Some(j) = seen.insert(k, i) {
            e.insert(
                format!("{name}[{i}]"),
                format!("duplicates {name}[{j}] ({k})"),
            );
        }
    }
}

/// Validates the whole document before anything is written.
fn validate_document(doc: &Value) -> AppResult<ImportDoc> {
    let Some(obj) = doc.as_object() else {
        return Err(AppError::invalid("body", "must be a JSON object"));
    };
    let mut e = FieldErrors::new();
    match obj.get("version") {
        None | Some(Value::Null) => {}
        Some(v)
            if v.as_i64()
                .is_some_and(|v| (1..=EXPORT_VERSION).contains(&v)) => {}
        Some(_) => {
            e.insert(
                "version".into(),
                format!("must be a version up to {EXPORT_VERSION}"),
            );
        }
    }
    let now = crate::time::now_db();
    let plans = parse_items(
        obj,
        "plans",
        true,
        MAX_PLANS,
        &mut e,
        |i: &PlanInput, p, e| new_plan(i, p, &now, e),
    );
    let options = parse_items(
        obj,
        "feature_options",
        true,
        MAX_OPTIONS,
        &mut e,
        |i: &OptionInput, p, e| new_option(i, p, e),
    );
    let categories = parse_items(
        obj,
        "feature_categories",
        false,
        MAX_OPTIONS,
        &mut e,
        |i: &CategoryInput, p, e| clean_category(i, p, e),
    );
    let plan_keys: Vec<String> = plans
        .iter()
        .map(|p| format!("{} ({})", p.plan_name, p.term_length))
        .collect();
    flag_duplicates("plans", &plan_keys, &mut e);
    let option_keys: Vec<String> = options
        .iter()
        .map(|o| format!("{}/{}", o.feature_category, o.option_value))
        .collect();
    flag_duplicates("feature_options", &option_keys, &mut e);
    let cat_keys: Vec<String> = categories.iter().map(|c| c.feature_key.clone()).collect();
    flag_duplicates("feature_categories", &cat_keys, &mut e);
    check(e)?;
    Ok(ImportDoc {
        plans,
        options,
        categories,
    })
}

/// Validates `doc` whole, then upserts categories, options and plans (by name and term,
/// features replaced) in one transaction, which a dry run rolls back.
pub async fn import_document(
    db: &Db,
    who: &Principal,
    doc: &Value,
    dry_run: bool,
) -> AppResult<ImportReport> {
    let doc = validate_document(doc)?;
    let mut report = ImportReport {
        dry_run,
        plans: ImportCounts::default(),
        feature_options: ImportCounts::default(),
        feature_categories: ImportCounts::default(),
        changes: vec![],
    };
    let mut tx = db.pool.begin().await?;
    let note = |report: &mut ImportReport, kind: &str, key: String, action: Option<Action>| {
        if let Some(a) = action {
            report.changes.push(ImportChange {
                kind: kind.into(),
                key,
                action: if a == Action::Create {
                    "create"
                } else {
                    "update"
                }
                .into(),
            });
        }
    };
    for c in &doc.categories {
        let action = import_category(&mut tx, who, c).await?;
        report.feature_categories.add(action);
        note(
            &mut report,
            "feature_category",
            c.feature_key.clone(),
            action,
        );
    }
    for o in &doc.options {
        let action = import_option(&mut tx, who, o).await?;
        report.feature_options.add(action);
        let key = format!("{}/{}", o.feature_category, o.option_value);
        note(&mut report, "feature_option", key, action);
    }
    for p in &doc.plans {
        let action = import_plan(&mut tx, who, p).await?;
        report.plans.add(action);
        let key = format!("{} ({})", p.plan_name, p.term_length);
        note(&mut report, "plan", key, action);
    }
    if dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(report)
}

/// Upserts one category row; `None` when it is already as given.
async fn import_category(
    conn: &mut AnyConnection,
    who: &Principal,
    c: &CategoryConfig,
) -> AppResult<Option<Action>> {
    let existing = category_configs(conn)
        .await?
        .into_iter()
        .find(|x| x.feature_key == c.feature_key);
    if existing.as_ref() == Some(c) {
        return Ok(None);
    }
    upsert_category_row(conn, c, existing.is_some()).await?;
    let action = if existing.is_some() {
        Action::Update
    } else {
        Action::Create
    };
    let before = existing.as_ref().map(to_json).transpose()?;
    audit_change(
        conn,
        who,
        action,
        "feature_category",
        c.feature_key.clone(),
        before,
        Some(to_json(c)?),
    )
    .await?;
    Ok(Some(action))
}

async fn import_option(
    conn: &mut AnyConnection,
    who: &Principal,
    o: &OptionDraft,
) -> AppResult<Option<Action>> {
    let existing = option_by_key(conn, &o.feature_category, &o.option_value).await?;
    let (action, before, id) = match &existing {
        Some(old) if &draft_of(old) == o => return Ok(None),
        Some(old) => {
            update_option_row(conn, old.id, o).await?;
            (Action::Update, Some(to_json(old)?), old.id)
        }
        None => (Action::Create, None, insert_option(conn, o).await?.id),
    };
    let after = option_by_id(conn, id).await?;
    let after = Some(to_json(&after)?);
    audit_change(
        conn,
        who,
        action,
        "feature_option",
        id.to_string(),
        before,
        after,
    )
    .await?;
    Ok(Some(action))
}

async fn import_plan(
    conn: &mut AnyConnection,
    who: &Principal,
    p: &Plan,
) -> AppResult<Option<Action>> {
    let existing = find_plan_conn(conn, &p.plan_name, &p.term_length).await?;
    let now = crate::time::now_db();
    let (action, before, id) = match &existing {
        Some(old)
            if old.support_level == p.support_level
                && old.costs == p.costs
                && old.features == p.features =>
        {
            return Ok(None)
        }
        Some(old) => {
            let merged = Plan {
                id: old.id,
                ..p.clone()
            };
            update_plan_row(conn, &merged, &now).await?;
            (Action::Update, Some(to_json(old)?), old.id)
        }
        None => (Action::Create, None, insert_plan(conn, p, &now).await?),
    };
    let after = Some(to_json(&plan_in_tx(conn, id).await?)?);
    audit_change(
        conn,
        who,
        action,
        "billing_plan",
        id.to_string(),
        before,
        after,
    )
    .await?;
    Ok(Some(action))
}

// ---------------------------------------------------------------------------
// HTTP: plans
// ---------------------------------------------------------------------------

type Listed<T> = AppResult<(HeaderMap, Json<Vec<T>>)>;

/// Lists billing plans with their features (staff only: price lists are not a client's
/// own data).
#[utoipa::path(get, path = "/codex/api/billing-plans", tag = "codex", params(PlanQuery),
    responses((status = 200, body = [Plan], headers(("X-Total-Count" = i64, description = "matching plans"))),
              (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)))]
pub async fn list_plans(
    State(state): State<AppState>,
    who: Principal,
    OriginalUri(uri): OriginalUri,
    QueryParams(q): QueryParams<PlanQuery>,
) -> Listed<Plan> {
    who.require_staff()?;
    let page = Page::new(q.limit, q.offset, 500, 1000)?;
    let (list, total) = list_plans_page(&state.db, &q, page).await?;
    Ok((page.headers(total, uri_str(&uri)), Json(list)))
}

/// Creates a plan (billing or admin). Amounts are numbers or strings, at most 2 decimals.
#[utoipa::path(post, path = "/codex/api/billing-plans", tag = "codex", request_body = PlanInput,
    responses((status = 201, body = Plan), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create_plan_handler(
    State(state): State<AppState>,
    crate::auth::BillingWriter(who): crate::auth::BillingWriter,
    JsonBody(input): JsonBody<PlanInput>,
) -> AppResult<(StatusCode, Json<Plan>)> {
    Ok((
        StatusCode::CREATED,
        Json(create_plan(&state.db, &who, &input).await?),
    ))
}

/// One plan by id.
#[utoipa::path(get, path = "/codex/api/billing-plans/{id}", tag = "codex",
    params(("id" = i64, Path)),
    responses((status = 200, body = Plan), (status = 404, body = crate::error::Problem)))]
pub async fn get_plan_handler(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<Plan>> {
    who.require_staff()?;
    let p = get_plan(&state.db, id)
        .await?
        .ok_or_else(|| plan_not_found(id))?;
    Ok(Json(p))
}

/// Updates the given fields of a plan (PUT and PATCH both patch). Renaming a plan or
/// changing its term while companies use it is a 409.
#[utoipa::path(put, path = "/codex/api/billing-plans/{id}", tag = "codex",
    params(("id" = i64, Path)), request_body = PlanInput,
    responses((status = 200, body = Plan), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn update_plan_handler(
    State(state): State<AppState>,
    crate::auth::BillingWriter(who): crate::auth::BillingWriter,
    Path(id): Path<i64>,
    JsonBody(input): JsonBody<PlanInput>,
) -> AppResult<Json<Plan>> {
    Ok(Json(update_plan(&state.db, &who, id, &input).await?))
}

/// Deletes a plan; 409 naming how many companies still use it.
#[utoipa::path(delete, path = "/codex/api/billing-plans/{id}", tag = "codex",
    params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem)))]
pub async fn delete_plan_handler(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    who.require_billing_write()?;
    delete_plan(&state.db, &who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One plan by name and term (both URL-encoded; any spelling of the term).
#[utoipa::path(get, path = "/codex/api/billing-plans/{plan_name}/{term_length}", tag = "codex",
    params(("plan_name" = String, Path), ("term_length" = String, Path)),
    responses((status = 200, body = Plan), (status = 404, body = crate::error::Problem)))]
pub async fn get_plan_by_name(
    State(state): State<AppState>,
    who: Principal,
    Path((name, term)): Path<(String, String)>,
) -> AppResult<Json<Plan>> {
    who.require_staff()?;
    Ok(Json(named_plan(&state.db, &name, &term).await?))
}

async fn named_plan(db: &Db, name: &str, term: &str) -> AppResult<Plan> {
    find_plan(db, name, term)
        .await?
        .ok_or_else(|| AppError::not_found(format!("billing plan {name} ({term}) not found")))
}

/// Replaces a plan's features with `{feature_type: value}`.
#[utoipa::path(put, path = "/codex/api/billing-plans/{id}/features", tag = "codex",
    params(("id" = i64, Path)), request_body = BTreeMap<String, String>,
    responses((status = 200, body = Plan), (status = 404, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn put_plan_features(
    State(state): State<AppState>,
    crate::auth::BillingWriter(who): crate::auth::BillingWriter,
    Path(id): Path<i64>,
    JsonBody(features): JsonBody<BTreeMap<String, Option<String>>>,
) -> AppResult<Json<Plan>> {
    Ok(Json(
        set_plan_features(&state.db, &who, id, &features).await?,
    ))
}

/// Copies a plan's support level, prices and features to other terms of the same plan
/// (creating or overwriting them); returns the target plans.
#[utoipa::path(post, path = "/codex/api/billing-plans/{id}/copy-terms", tag = "codex",
    params(("id" = i64, Path)), request_body = CopyTermsInput,
    responses((status = 200, body = [Plan]), (status = 404, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn copy_terms_handler(
    State(state): State<AppState>,
    crate::auth::BillingWriter(who): crate::auth::BillingWriter,
    Path(id): Path<i64>,
    JsonBody(input): JsonBody<CopyTermsInput>,
) -> AppResult<Json<Vec<Plan>>> {
    Ok(Json(
        copy_terms(&state.db, &who, id, &input.term_lengths).await?,
    ))
}

/// The whole plan catalogue as an import/export document (version 1).
#[utoipa::path(get, path = "/codex/api/billing-plans/export", tag = "codex",
    responses((status = 200, body = ExportDocument), (status = 403, body = crate::error::Problem)))]
pub async fn export_plans(
    State(state): State<AppState>,
    who: Principal,
) -> AppResult<(HeaderMap, Json<ExportDocument>)> {
    who.require_staff()?;
    let mut h = HeaderMap::new();
    h.insert(
        axum::http::header::CONTENT_DISPOSITION,
        axum::http::HeaderValue::from_static("attachment; filename=\"billing_plans_export.json\""),
    );
    Ok((h, Json(export_document(&state.db).await?)))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Report what would change without writing anything.
    pub dry_run: Option<bool>,
}

/// Imports an export document: the whole document is validated first (any error → 422,
/// nothing written), then plans (by name and term), their features, options and
/// categories are upserted in one transaction. Records not in the document are kept.
#[utoipa::path(post, path = "/codex/api/billing-plans/import", tag = "codex",
    params(ImportQuery), request_body = ExportDocument,
    responses((status = 200, body = ImportReport), (status = 403, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn import_plans(
    State(state): State<AppState>,
    crate::auth::BillingWriter(who): crate::auth::BillingWriter,
    QueryParams(q): QueryParams<ImportQuery>,
    JsonBody(doc): JsonBody<Value>,
) -> AppResult<Json<ImportReport>> {
    let dry_run = q.dry_run.unwrap_or(false);
    Ok(Json(import_document(&state.db, &who, &doc, dry_run).await?))
}

// ---------------------------------------------------------------------------
// HTTP: feature options and categories
// ---------------------------------------------------------------------------

/// Lists feature options (`category` filter).
#[utoipa::path(get, path = "/codex/api/feature-options", tag = "codex", params(OptionQuery),
    responses((status = 200, body = [FeatureOption], headers(("X-Total-Count" = i64, description = "matching options"))),
              (status = 403, body = crate::error::Problem)))]
pub async fn list_options(
    State(state): State<AppState>,
    who: Principal,
    OriginalUri(uri): OriginalUri,
    QueryParams(q): QueryParams<OptionQuery>,
) -> Listed<FeatureOption> {
    who.require_staff()?;
    let page = Page::new(q.limit, q.offset, 1000, 1000)?;
    let (list, total) = list_options_page(&state.db, &q, page).await?;
    Ok((page.headers(total, uri_str(&uri)), Json(list)))
}

/// Creates a feature option; 409 when the category already has that value.
#[utoipa::path(post, path = "/codex/api/feature-options", tag = "codex", request_body = OptionInput,
    responses((status = 201, body = FeatureOption), (status = 409, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn create_option_handler(
    State(state): State<AppState>,
    crate::auth::BillingWriter(who): crate::auth::BillingWriter,
    JsonBody(input): JsonBody<OptionInput>,
) -> AppResult<(StatusCode, Json<FeatureOption>)> {
    Ok((
        StatusCode::CREATED,
        Json(create_option(&state.db, &who, &input).await?),
    ))
}

/// Updates a feature option (plans using the old value keep it).
#[utoipa::path(put, path = "/codex/api/feature-options/{id}", tag = "codex",
    params(("id" = i64, Path)), request_body = OptionInput,
    responses((status = 200, body = FeatureOption), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn update_option_handler(
    State(state): State<AppState>,
    crate::auth::BillingWriter(who): crate::auth::BillingWriter,
    Path(id): Path<i64>,
    JsonBody(input): JsonBody<OptionInput>,
) -> AppResult<Json<FeatureOption>> {
    Ok(Json(update_option(&state.db, &who, id, &input).await?))
}

/// Deletes a feature option.
#[utoipa::path(delete, path = "/codex/api/feature-options/{id}", tag = "codex",
    params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
pub async fn delete_option_handler(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    who.require_billing_write()?;
    delete_option(&state.db, &who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CategoryQuery {
    /// 1..=1000, default 1000.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Lists feature categories (keys with options or configuration), by key.
#[utoipa::path(get, path = "/codex/api/feature-categories", tag = "codex", params(CategoryQuery),
    responses((status = 200, body = [FeatureCategory], headers(("X-Total-Count" = i64, description = "categories"))),
              (status = 403, body = crate::error::Problem)))]
pub async fn list_categories(
    State(state): State<AppState>,
    who: Principal,
    OriginalUri(uri): OriginalUri,
    QueryParams(q): QueryParams<CategoryQuery>,
) -> Listed<FeatureCategory> {
    who.require_staff()?;
    let page = Page::new(q.limit, q.offset, 1000, 1000)?;
    let (list, total) = list_categories_page(&state.db, page).await?;
    Ok((page.headers(total, uri_str(&uri)), Json(list)))
}

/// Creates a feature category with a first option `Not Included`; 409 if it exists.
#[utoipa::path(post, path = "/codex/api/feature-categories", tag = "codex", request_body = CategoryInput,
    responses((status = 201, body = FeatureCategory), (status = 409, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn create_category_handler(
    State(state): State<AppState>,
    crate::auth::BillingWriter(who): crate::auth::BillingWriter,
    JsonBody(input): JsonBody<CategoryInput>,
) -> AppResult<(StatusCode, Json<FeatureCategory>)> {
    Ok((
        StatusCode::CREATED,
        Json(create_category(&state.db, &who, &input).await?),
    ))
}

// ---------------------------------------------------------------------------
// HTTP: company feature overrides
// ---------------------------------------------------------------------------

/// A company's feature overrides and the effective features (plan overlaid with
/// overrides). Clients see only their own company.
#[utoipa::path(get, path = "/codex/api/companies/{account_number}/feature-overrides", tag = "codex",
    params(("account_number" = String, Path)),
    responses((status = 200, body = EffectiveFeatures), (status = 404, body = crate::error::Problem)))]
pub async fn get_overrides(
    State(state): State<AppState>,
    who: Principal,
    Path(account_number): Path<String>,
) -> AppResult<Json<EffectiveFeatures>> {
    let c = companies::visible(&state.db, &who, &account_number).await?;
    Ok(Json(
        effective_for(&mut *state.db.pool.acquire().await?, &c).await?,
    ))
}

/// Replaces a company's overrides with `{feature_key: value}` (billing or admin); null or
/// empty values remove a key. Returns the effective features.
#[utoipa::path(put, path = "/codex/api/companies/{account_number}/feature-overrides", tag = "codex",
    params(("account_number" = String, Path)), request_body = BTreeMap<String, String>,
    responses((status = 200, body = EffectiveFeatures), (status = 404, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn put_overrides(
    State(state): State<AppState>,
    crate::auth::BillingWriter(who): crate::auth::BillingWriter,
    Path(account_number): Path<String>,
    JsonBody(raw): JsonBody<BTreeMap<String, Option<String>>>,
) -> AppResult<Json<EffectiveFeatures>> {
    let c = companies::visible(&state.db, &who, &account_number).await?;
    Ok(Json(replace_overrides(&state.db, &who, &c, &raw).await?))
}

// ---------------------------------------------------------------------------
// HTTP: the original's `/billing-plans/api/*` (Ledger's source), same envelopes
// ---------------------------------------------------------------------------

/// A plan in the original's envelope shape.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LegacyPlan {
    pub id: i64,
    pub plan_name: String,
    pub term_length: String,
    pub support_level: String,
    #[serde(flatten)]
    pub costs: Costs,
    pub features: BTreeMap<String, String>,
    pub feature_display_names: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LegacyPlans {
    /// Always `success`.
    pub status: String,
    pub plans: Vec<LegacyPlan>,
    pub count: usize,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LegacyPlanEnvelope {
    pub status: String,
    pub plan: LegacyPlan,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LegacyOption {
    pub id: i64,
    pub category: String,
    pub value: String,
    /// The display name, else the value.
    pub display_name: String,
    pub description: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LegacyOptions {
    pub status: String,
    /// `{category: [option]}`.
    pub features: BTreeMap<String, Vec<LegacyOption>>,
    /// Sorted category keys.
    pub categories: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LegacyCategories {
    pub status: String,
    pub categories: Vec<String>,
    pub count: usize,
}

fn legacy_plan(p: Plan, names: &HashMap<String, String>) -> LegacyPlan {
    let feature_display_names = p
        .features
        .keys()
        .map(|k| (k.clone(), display_of(names, k)))
        .collect();
    LegacyPlan {
        id: p.id,
        plan_name: p.plan_name,
        term_length: p.term_length,
        support_level: p.support_level,
        costs: p.costs,
        features: p.features,
        feature_display_names,
    }
}

/// Every plan in the original's envelope. Unlike the original, amounts are strings with
/// two decimals (`"12.50"`), never floats.
#[utoipa::path(get, path = "/codex/billing-plans/api/plans", tag = "codex",
    responses((status = 200, body = LegacyPlans), (status = 403, body = crate::error::Problem)))]
pub async fn legacy_plans(
    State(state): State<AppState>,
    who: Principal,
) -> AppResult<Json<LegacyPlans>> {
    who.require_staff()?;
    let names = display_names(&mut *state.db.pool.acquire().await?).await?;
    let plans: Vec<LegacyPlan> = all_plans(&state.db)
        .await?
        .into_iter()
        .map(|p| legacy_plan(p, &names))
        .collect();
    Ok(Json(LegacyPlans {
        status: "success".into(),
        count: plans.len(),
        plans,
    }))
}

/// One plan by name and term (URL-encoded) in the original's envelope; amounts are
/// strings with two decimals. Unknown plans are a 404 problem document.
#[utoipa::path(get, path = "/codex/billing-plans/api/plans/{plan_name}/{term_length}", tag = "codex",
    params(("plan_name" = String, Path), ("term_length" = String, Path)),
    responses((status = 200, body = LegacyPlanEnvelope), (status = 404, body = crate::error::Problem)))]
pub async fn legacy_plan_by_name(
    State(state): State<AppState>,
    who: Principal,
    Path((name, term)): Path<(String, String)>,
) -> AppResult<Json<LegacyPlanEnvelope>> {
    who.require_staff()?;
    let p = named_plan(&state.db, &name, &term).await?;
    let names = display_names(&mut *state.db.pool.acquire().await?).await?;
    Ok(Json(LegacyPlanEnvelope {
        status: "success".into(),
        plan: legacy_plan(p, &names),
    }))
}

/// Feature options grouped by category, in the original's envelope.
#[utoipa::path(get, path = "/codex/billing-plans/api/feature-options", tag = "codex",
    responses((status = 200, body = LegacyOptions), (status = 403, body = crate::error::Problem)))]
pub async fn legacy_options(
    State(state): State<AppState>,
    who: Principal,
) -> AppResult<Json<LegacyOptions>> {
    who.require_staff()?;
    let mut features: BTreeMap<String, Vec<LegacyOption>> = BTreeMap::new();
    for o in all_options(&state.db).await? {
        features
            .entry(o.feature_category.clone())
            .or_default()
            .push(LegacyOption {
                id: o.id,
                display_name: o.display_name.unwrap_or_else(|| o.option_value.clone()),
                category: o.feature_category,
                value: o.option_value,
                description: o.description,
            });
    }
    Ok(Json(LegacyOptions {
        status: "success".into(),
        categories: features.keys().cloned().collect(),
        features,
    }))
}

/// Category keys, in the original's envelope.
#[utoipa::path(get, path = "/codex/billing-plans/api/feature-categories", tag = "codex",
    responses((status = 200, body = LegacyCategories), (status = 403, body = crate::error::Problem)))]
pub async fn legacy_categories(
    State(state): State<AppState>,
    who: Principal,
) -> AppResult<Json<LegacyCategories>> {
    who.require_staff()?;
    let categories = category_keys(&state.db).await?;
    Ok(Json(LegacyCategories {
        status: "success".into(),
        count: categories.len(),
        categories,
    }))
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_plans, create_plan_handler))
        .routes(routes!(export_plans))
        .routes(routes!(import_plans))
        .routes(routes!(
            get_plan_handler,
            update_plan_handler,
            delete_plan_handler
        ))
        .route(
            "/codex/api/billing-plans/{id}",
            patch_route(update_plan_handler),
        )
        .routes(routes!(get_plan_by_name))
        .routes(routes!(put_plan_features))
        .routes(routes!(copy_terms_handler))
        .routes(routes!(list_options, create_option_handler))
        .routes(routes!(update_option_handler, delete_option_handler))
        .routes(routes!(list_categories, create_category_handler))
        .routes(routes!(get_overrides, put_overrides))
        .routes(routes!(legacy_plans))
        .routes(routes!(legacy_plan_by_name))
        .routes(routes!(legacy_options))
        .routes(routes!(legacy_categories))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn amounts_accept_numbers_and_strings_with_two_decimals() {
        assert_eq!(parse_amount(&json!(12.5)), Ok(1250));
        assert_eq!(parse_amount(&json!("12.50")), Ok(1250));
        assert_eq!(parse_amount(&json!("12.500")), Ok(1250));
        assert_eq!(parse_amount(&json!(90)), Ok(9000));
        assert_eq!(parse_amount(&json!("0")), Ok(0));
        assert!(parse_amount(&json!(12.345)).is_err());
        assert!(parse_amount(&json!("-1")).is_err());
        assert!(parse_amount(&json!(-0.01)).is_err());
        assert!(parse_amount(&json!("abc")).is_err());
        assert!(parse_amount(&json!(true)).is_err());
        assert!(parse_amount(&json!(0.1 + 0.2)).is_err(), "float noise");
        assert!(parse_amount(&json!("1000000000.01")).is_err());
    }

    #[test]
    fn costs_show_two_decimals() {
        let c = Costs::default();
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["backup_included_tb"], "1.00");
        assert_eq!(v["per_user_cost"], "0.00");
        let mut h = c.hundredths();
        h[0] = 1250;
        assert_eq!(
            serde_json::to_value(Costs::from_hundredths(h)).unwrap()["per_user_cost"],
            "12.50"
        );
    }

    #[test]
    fn feature_keys_and_display_names() {
        assert_eq!(feature_key(" Email  Security ").unwrap(), "email_security");
        assert!(feature_key("   ").is_err());
        assert_eq!(
            default_display_name("network_management"),
            "Network Management"
        );
        assert_eq!(default_display_name("soc"), "Soc");
    }

    #[test]
    fn company_term_prefers_length_then_term_then_month_to_month() {
        assert_eq!(company_term(Some("1-Year"), Some("2 Year")), "1 Year");
        assert_eq!(company_term(None, Some("24 months")), "2 Year");
        assert_eq!(company_term(Some(" "), None), "Month to Month");
        assert_eq!(company_term(None, Some("Weird")), "Weird");
    }

    #[test]
    fn copy_terms_rejects_own_and_unknown_terms() {
        assert_eq!(
            clean_terms("1 Year", &["2-Year".into(), "2 year".into()]).unwrap(),
            vec!["2 Year"]
        );
        let Err(AppError::Validation(e)) = clean_terms("1 Year", &["1 Year".into(), "x".into()])
        else {
            panic!("expected validation errors");
        };
        assert!(e.contains_key("term_lengths[0]") && e.contains_key("term_lengths[1]"));
        assert!(clean_terms("1 Year", &[]).is_err());
    }
}
