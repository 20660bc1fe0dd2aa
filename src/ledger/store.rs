//! Ledger's own tables (migration 0005): the six override kinds keyed by stable Codex
//! ids, the editable classification table and the settings. Snapshots and jobs live in
//! `snapshots` and `jobs`.
//!
//! Amounts are stored as integer hundredths (cents for money, 0.01 h for hours, 0.01 TB
//! for storage). Every write validates first (422 with field errors, nothing changed)
//! and records an audit row in the same transaction.

use super::classify::{default_rules, ClassRule};
use super::model::{
    AssetBilling, AssetClass, Cadence, ClientOverrides, CustomLineItem, ManualAsset, ManualUser,
    RateOverrides, UserBilling, UserRule,
};
use crate::audit::{self, Action, Change};
use crate::auth::Principal;
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldErrors};
use crate::money;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;
use std::str::FromStr;

/// Largest amount accepted anywhere (one billion).
const MAX_HUNDREDTHS: i64 = 100_000_000_000;

/// Parses an amount given as a JSON number or string with at most two decimals into
/// hundredths. `negative` allows credits (custom line items only).
pub fn parse_amount(v: &Value, negative: bool) -> Result<i64, String> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return Err("must be a number or a decimal string such as \"12.50\"".into()),
    };
    let d = Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| format!("'{text}' is not a decimal number"))?
        .normalize();
    if !negative && d.is_sign_negative() && !d.is_zero() {
        return Err("must not be negative".into());
    }
    if d.scale() > 2 {
        return Err("must have at most 2 decimal places".into());
    }
    match money::to_cents(d) {
        Some(c) if c.abs() <= MAX_HUNDREDTHS => Ok(c),
        _ => Err("must be at most 1000000000.00".into()),
    }
}

/// Hundredths shown as a two-decimal string (`1250` → `"12.50"`).
pub fn show(h: i64) -> String {
    money::from_cents(h).to_string()
}

fn opt_show(h: Option<i64>) -> Option<String> {
    h.map(show)
}

fn json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn fail(errors: FieldErrors) -> AppResult<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

async fn audit(
    conn: &mut AnyConnection,
    who: &Principal,
    action: Action,
    entity: &str,
    id: impl ToString,
    before: Option<Value>,
    after: Option<Value>,
) -> AppResult<()> {
    audit::record(
        conn,
        Some(who),
        Change {
            module: "ledger",
            action,
            entity,
            entity_id: id.to_string(),
            before,
            after,
        },
    )
    .await
}

fn in_list(ids: &[i64]) -> String {
    if ids.is_empty() {
        return "NULL".into();
    }
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

/// `AND col IN (...)` for a company filter (`None` = all companies).
fn scope(col: &str, ids: Option<&[i64]>) -> String {
    match ids {
        None => String::new(),
        Some(ids) => format!("WHERE {col} IN ({})", in_list(ids)),
    }
}

// ---------------------------------------------------------------------------
// Client overrides
// ---------------------------------------------------------------------------

/// The 13 overridable amounts: (column and JSON name, unit for messages).
pub const RATE_FIELDS: [&str; 13] = [
    "per_user_cost",
    "per_workstation_cost",
    "per_server_cost",
    "per_vm_cost",
    "per_switch_cost",
    "per_firewall_cost",
    "per_hour_ticket_cost",
    "backup_base_fee_workstation",
    "backup_base_fee_server",
    "backup_included_tb",
    "backup_per_tb_fee",
    "prepaid_hours_monthly",
    "prepaid_hours_yearly",
];

const TEXT_FIELDS: [&str; 3] = ["billing_plan", "contract_term", "support_level"];

/// A company's rate overrides. `null` = not overridden (the plan applies).
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ClientOverrideRow {
    pub company_id: i64,
    pub billing_plan: Option<String>,
    pub contract_term: Option<String>,
    pub support_level: Option<String>,
    /// `{field: "12.50" | null}` for the 13 amounts of `RATE_FIELDS`.
    #[schema(value_type = Object)]
    pub rates: std::collections::BTreeMap<String, Option<String>>,
    #[serde(skip)]
    pub values: [Option<i64>; 13],
    pub updated_at: Option<String>,
    pub updated_by: Option<String>,
}

impl ClientOverrideRow {
    fn empty(company_id: i64) -> Self {
        let mut r = ClientOverrideRow {
            company_id,
            ..Default::default()
        };
        r.sync_rates();
        r
    }

    fn sync_rates(&mut self) {
        self.rates = RATE_FIELDS
            .iter()
            .zip(self.values)
            .map(|(k, v)| (k.to_string(), opt_show(v)))
            .collect();
    }

    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        let mut values = [None; 13];
        for (i, f) in RATE_FIELDS.iter().enumerate() {
            values[i] = r.try_get(*f)?;
        }
        let mut o = ClientOverrideRow {
            company_id: r.try_get("company_id")?,
            billing_plan: r.try_get("billing_plan")?,
            contract_term: r.try_get("contract_term")?,
            support_level: r.try_get("support_level")?,
            rates: Default::default(),
            values,
            updated_at: r.try_get("updated_at")?,
            updated_by: r.try_get("updated_by")?,
        };
        o.sync_rates();
        Ok(o)
    }

    /// The engine's view of the row.
    pub fn to_engine(&self) -> ClientOverrides {
        let d = |i: usize| self.values[i].map(money::from_cents);
        ClientOverrides {
            billing_plan: self.billing_plan.clone(),
            contract_term: self.contract_term.clone(),
            support_level: self.support_level.clone(),
            rates: RateOverrides {
                per_user: d(0),
                per_workstation: d(1),
                per_server: d(2),
                per_vm: d(3),
                per_switch: d(4),
                per_firewall: d(5),
                per_hour: d(6),
                backup_base_workstation: d(7),
                backup_base_server: d(8),
                backup_included_tb: d(9),
                backup_per_tb: d(10),
                prepaid_hours_monthly: d(11),
                prepaid_hours_yearly: d(12),
            },
        }
    }

    pub fn is_empty(&self) -> bool {
        self.values.iter().all(Option::is_none)
            && self.billing_plan.is_none()
            && self.contract_term.is_none()
            && self.support_level.is_none()
    }
}

pub async fn client_overrides(
    db: &Db,
    company_ids: Option<&[i64]>,
) -> AppResult<HashMap<i64, ClientOverrideRow>> {
    let sql = format!(
        "SELECT * FROM ledger_client_overrides {}",
        scope("company_id", company_ids)
    );
    let rows = sqlx::query(&sql).fetch_all(&db.pool).await?;
    rows.iter()
        .map(|r| ClientOverrideRow::from_row(r).map(|o| (o.company_id, o)))
        .collect::<Result<_, _>>()
        .map_err(Into::into)
}

pub async fn client_override(db: &Db, company_id: i64) -> AppResult<ClientOverrideRow> {
    Ok(client_overrides(db, Some(&[company_id]))
        .await?
        .remove(&company_id)
        .unwrap_or_else(|| ClientOverrideRow::empty(company_id)))
}

/// Applies a partial update: each present key sets (value) or clears (`null`/`""`) one
/// override. Unknown keys are refused.
pub async fn patch_client_override(
    db: &Db,
    who: &Principal,
    company_id: i64,
    body: &Map<String, Value>,
) -> AppResult<ClientOverrideRow> {
    let before = client_override(db, company_id).await?;
    let mut next = before.clone();
    let mut errors = FieldErrors::new();
    for (k, v) in body {
        if let Some(i) = RATE_FIELDS.iter().position(|f| f == k) {
            next.values[i] = match v {
                Value::Null => None,
                Value::String(s) if s.trim().is_empty() => None,
                v => match parse_amount(v, false) {
                    Ok(h) => Some(h),
                    Err(m) => {
                        errors.insert(k.clone(), m);
                        None
                    }
                },
            };
        } else if TEXT_FIELDS.contains(&k.as_str()) {
            let val = match v {
                Value::Null => None,
                Value::String(s) if s.trim().is_empty() => None,
                Value::String(s) => match crate::validate::text(s, 100) {
                    Ok(t) => Some(t),
                    Err(m) => {
                        errors.insert(k.clone(), m);
                        None
                    }
                },
                _ => {
                    errors.insert(k.clone(), "must be a string or null".into());
                    None
                }
            };
            let val = if k == "contract_term" {
                val.map(|t| {
                    crate::codex::companies::normalize_term(&t)
                        .map(str::to_string)
                        .unwrap_or(t)
                })
            } else {
                val
            };
            match k.as_str() {
                "billing_plan" => next.billing_plan = val,
                "contract_term" => next.contract_term = val,
                _ => next.support_level = val,
            }
        } else {
            errors.insert(k.clone(), "is not an overridable field".into());
        }
    }
    fail(errors)?;
    next.updated_at = Some(crate::time::now_db());
    next.updated_by = Some(who.email.clone());
    next.sync_rates();
    let mut tx = db.pool.begin().await?;
    let cols = RATE_FIELDS.join(", ");
    let binds = (5..5 + RATE_FIELDS.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let updates = TEXT_FIELDS
        .iter()
        .chain(RATE_FIELDS.iter())
        .chain(["updated_at", "updated_by"].iter())
        .map(|c| format!("{c} = excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO ledger_client_overrides (company_id, billing_plan, contract_term, support_level, \
         {cols}, updated_at, updated_by) VALUES ($1, $2, $3, $4, {binds}, ${a}, ${b}) \
         ON CONFLICT (company_id) DO UPDATE SET {updates}",
        a = 5 + RATE_FIELDS.len(),
        b = 6 + RATE_FIELDS.len(),
    );
    let mut q = sqlx::query(&sql)
        .bind(company_id)
        .bind(&next.billing_plan)
        .bind(&next.contract_term)
        .bind(&next.support_level);
    for v in next.values {
        q = q.bind(v);
    }
    q.bind(&next.updated_at)
        .bind(&next.updated_by)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut tx,
        who,
        Action::Update,
        "client_override",
        company_id,
        Some(json(&before)),
        Some(json(&next)),
    )
    .await?;
    tx.commit().await?;
    Ok(next)
}

pub async fn delete_client_override(db: &Db, who: &Principal, company_id: i64) -> AppResult<bool> {
    let before = client_override(db, company_id).await?;
    let mut tx = db.pool.begin().await?;
    let n = sqlx::query("DELETE FROM ledger_client_overrides WHERE company_id = $1")
        .bind(company_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n > 0 {
        audit(
            &mut tx,
            who,
            Action::Delete,
            "client_override",
            company_id,
            Some(json(&before)),
            None,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(n > 0)
}

// ---------------------------------------------------------------------------
// Billing types
// ---------------------------------------------------------------------------

pub const ASSET_TYPES: &[&str] = &[
    "Workstation",
    "Server",
    "VM",
    "Switch",
    "Firewall",
    "No Charge",
    "Custom",
];
pub const USER_TYPES: &[&str] = &["Paid", "No Charge", "Custom"];

/// A validated billing type plus its custom cost (required for Custom, refused otherwise).
fn billing_type(
    errors: &mut FieldErrors,
    allowed: &[&str],
    raw: Option<&str>,
    cost: Option<&Value>,
) -> (String, Option<i64>) {
    let ty = match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => {
            errors.insert("billing_type".into(), "is required".into());
            String::new()
        }
        Some(s) if s.eq_ignore_ascii_case("free") => "No Charge".into(),
        Some(s) => match crate::validate::one_of(s, allowed) {
            Ok(t) => t,
            Err(m) => {
                errors.insert("billing_type".into(), m);
                String::new()
            }
        },
    };
    let cost = match cost {
        None | Some(Value::Null) => None,
        Some(v) => match parse_amount(v, false) {
            Ok(h) => Some(h),
            Err(m) => {
                errors.insert("custom_cost".into(), m);
                None
            }
        },
    };
    if ty == "Custom" && cost.is_none() && !errors.contains_key("custom_cost") {
        errors.insert(
            "custom_cost".into(),
            "is required for billing type Custom".into(),
        );
    }
    let cost = if ty == "Custom" { cost } else { None };
    (ty, cost)
}

fn asset_billing(ty: &str, cost: Option<i64>) -> AssetBilling {
    match (ty, cost) {
        ("Custom", Some(c)) => AssetBilling::Custom {
            amount: money::from_cents(c),
        },
        _ => AssetBilling::Class {
            class: AssetClass::parse(ty).unwrap_or(AssetClass::Workstation),
        },
    }
}

fn user_billing(ty: &str, cost: Option<i64>) -> UserBilling {
    match (ty, cost) {
        ("Custom", Some(c)) => UserBilling::Custom {
            amount: money::from_cents(c),
        },
        ("No Charge", _) => UserBilling::NoCharge,
        _ => UserBilling::Paid,
    }
}

// ---------------------------------------------------------------------------
// Per-asset and per-user overrides
// ---------------------------------------------------------------------------

/// An override of one Codex asset or contact (`entity_id` is the asset or contact id).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EntityOverride {
    /// Codex asset id (asset overrides) or contact id (user overrides).
    pub id: i64,
    /// The company the asset or contact belonged to when the override was written.
    pub company_id: i64,
    pub billing_type: String,
    pub custom_cost: Option<String>,
    #[serde(skip)]
    pub custom_hundredths: Option<i64>,
    pub updated_at: String,
    pub updated_by: Option<String>,
}

impl EntityOverride {
    pub fn asset_billing(&self) -> AssetBilling {
        asset_billing(&self.billing_type, self.custom_hundredths)
    }

    pub fn user_billing(&self) -> UserBilling {
        user_billing(&self.billing_type, self.custom_hundredths)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    Asset,
    User,
}

impl EntityKind {
    fn table(self) -> &'static str {
        match self {
            EntityKind::Asset => "ledger_asset_overrides",
            EntityKind::User => "ledger_user_overrides",
        }
    }

    fn key(self) -> &'static str {
        match self {
            EntityKind::Asset => "asset_id",
            EntityKind::User => "contact_id",
        }
    }

    fn entity(self) -> &'static str {
        match self {
            EntityKind::Asset => "asset_override",
            EntityKind::User => "user_override",
        }
    }

    fn types(self) -> &'static [&'static str] {
        match self {
            EntityKind::Asset => ASSET_TYPES,
            EntityKind::User => USER_TYPES,
        }
    }
}

fn entity_from_row(kind: EntityKind, r: &AnyRow) -> Result<EntityOverride, sqlx::Error> {
    let cost: Option<i64> = r.try_get("custom_cost")?;
    Ok(EntityOverride {
        id: r.try_get(kind.key())?,
        company_id: r.try_get("company_id")?,
        billing_type: r.try_get("billing_type")?,
        custom_cost: opt_show(cost),
        custom_hundredths: cost,
        updated_at: r.try_get("updated_at")?,
        updated_by: r.try_get("updated_by")?,
    })
}

/// Overrides recorded for the given companies (`None`: all).
pub async fn entity_overrides(
    db: &Db,
    kind: EntityKind,
    company_ids: Option<&[i64]>,
) -> AppResult<Vec<EntityOverride>> {
    let sql = format!(
        "SELECT * FROM {} {} ORDER BY {}",
        kind.table(),
        scope("company_id", company_ids),
        kind.key()
    );
    let rows = sqlx::query(&sql).fetch_all(&db.pool).await?;
    Ok(rows
        .iter()
        .map(|r| entity_from_row(kind, r))
        .collect::<Result<_, _>>()?)
}

/// Overrides for the given asset or contact ids, wherever they were recorded.
pub async fn entity_overrides_for(
    db: &Db,
    kind: EntityKind,
    ids: &[i64],
) -> AppResult<Vec<EntityOverride>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let mut out = Vec::new();
    for chunk in ids.chunks(5000) {
        let sql = format!(
            "SELECT * FROM {} WHERE {} IN ({})",
            kind.table(),
            kind.key(),
            in_list(chunk)
        );
        for r in sqlx::query(&sql).fetch_all(&db.pool).await? {
            out.push(entity_from_row(kind, &r)?);
        }
    }
    Ok(out)
}

pub async fn entity_override(
    db: &Db,
    kind: EntityKind,
    id: i64,
) -> AppResult<Option<EntityOverride>> {
    Ok(entity_overrides_for(db, kind, &[id]).await?.pop())
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct OverrideInput {
    /// Asset: Workstation, Server, VM, Switch, Firewall, No Charge, Custom. User: Paid,
    /// No Charge, Custom.
    pub billing_type: Option<String>,
    /// Required for Custom: a number or decimal string, at most two decimals.
    #[schema(value_type = Option<String>)]
    pub custom_cost: Option<Value>,
}

/// Creates or replaces the override of one asset or contact of `company_id`.
pub async fn put_entity_override(
    db: &Db,
    who: &Principal,
    kind: EntityKind,
    id: i64,
    company_id: i64,
    input: &OverrideInput,
) -> AppResult<EntityOverride> {
    let mut errors = FieldErrors::new();
    let (ty, cost) = billing_type(
        &mut errors,
        kind.types(),
        input.billing_type.as_deref(),
        input.custom_cost.as_ref(),
    );
    fail(errors)?;
    let before = entity_override(db, kind, id).await?;
    let now = crate::time::now_db();
    let mut tx = db.pool.begin().await?;
    let sql = format!(
        "INSERT INTO {t} ({k}, company_id, billing_type, custom_cost, updated_at, updated_by) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT ({k}) DO UPDATE SET \
         company_id = excluded.company_id, billing_type = excluded.billing_type, \
         custom_cost = excluded.custom_cost, updated_at = excluded.updated_at, \
         updated_by = excluded.updated_by",
        t = kind.table(),
        k = kind.key()
    );
    sqlx::query(&sql)
        .bind(id)
        .bind(company_id)
        .bind(&ty)
        .bind(cost)
        .bind(&now)
        .bind(&who.email)
        .execute(&mut *tx)
        .await?;
    let after = EntityOverride {
        id,
        company_id,
        billing_type: ty,
        custom_cost: opt_show(cost),
        custom_hundredths: cost,
        updated_at: now,
        updated_by: Some(who.email.clone()),
    };
    audit(
        &mut tx,
        who,
        if before.is_some() {
            Action::Update
        } else {
            Action::Create
        },
        kind.entity(),
        id,
        before.as_ref().map(json),
        Some(json(&after)),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

pub async fn delete_entity_override(
    db: &Db,
    who: &Principal,
    kind: EntityKind,
    id: i64,
) -> AppResult<bool> {
    let Some(before) = entity_override(db, kind, id).await? else {
        return Ok(false);
    };
    let mut tx = db.pool.begin().await?;
    sqlx::query(&format!(
        "DELETE FROM {} WHERE {} = $1",
        kind.table(),
        kind.key()
    ))
    .bind(id)
    .execute(&mut *tx)
    .await?;
    audit(
        &mut tx,
        who,
        Action::Delete,
        kind.entity(),
        id,
        Some(json(&before)),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

// ---------------------------------------------------------------------------
// Manual assets and users
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ManualRow {
    pub id: i64,
    pub company_id: i64,
    /// Hostname (manual assets) or full name (manual users).
    #[serde(skip)]
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    pub billing_type: String,
    pub custom_cost: Option<String>,
    #[serde(skip)]
    pub custom_hundredths: Option<i64>,
    pub notes: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl ManualRow {
    pub fn to_asset(&self) -> ManualAsset {
        ManualAsset {
            id: self.id,
            hostname: self.label.clone(),
            billing: asset_billing(&self.billing_type, self.custom_hundredths),
        }
    }

    pub fn to_user(&self) -> ManualUser {
        ManualUser {
            id: self.id,
            name: self.label.clone(),
            billing: user_billing(&self.billing_type, self.custom_hundredths),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManualKind {
    Asset,
    User,
}

impl ManualKind {
    fn table(self) -> &'static str {
        match self {
            ManualKind::Asset => "ledger_manual_assets",
            ManualKind::User => "ledger_manual_users",
        }
    }
    /// Column and JSON field of the label.
    pub fn label(self) -> &'static str {
        match self {
            ManualKind::Asset => "hostname",
            ManualKind::User => "full_name",
        }
    }
    fn entity(self) -> &'static str {
        match self {
            ManualKind::Asset => "manual_asset",
            ManualKind::User => "manual_user",
        }
    }
    fn types(self) -> &'static [&'static str] {
        match self {
            ManualKind::Asset => ASSET_TYPES,
            ManualKind::User => USER_TYPES,
        }
    }
}

fn manual_from_row(kind: ManualKind, r: &AnyRow) -> Result<ManualRow, sqlx::Error> {
    let label: String = r.try_get(kind.label())?;
    let cost: Option<i64> = r.try_get("custom_cost")?;
    Ok(ManualRow {
        id: r.try_get("id")?,
        company_id: r.try_get("company_id")?,
        hostname: (kind == ManualKind::Asset).then(|| label.clone()),
        full_name: (kind == ManualKind::User).then(|| label.clone()),
        label,
        billing_type: r.try_get("billing_type")?,
        custom_cost: opt_show(cost),
        custom_hundredths: cost,
        notes: r.try_get("notes")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub async fn manual_rows(
    db: &Db,
    kind: ManualKind,
    company_ids: Option<&[i64]>,
) -> AppResult<Vec<ManualRow>> {
    let sql = format!(
        "SELECT * FROM {} {} ORDER BY company_id, id",
        kind.table(),
        scope("company_id", company_ids)
    );
    let rows = sqlx::query(&sql).fetch_all(&db.pool).await?;
    Ok(rows
        .iter()
        .map(|r| manual_from_row(kind, r))
        .collect::<Result<_, _>>()?)
}

async fn manual_row(db: &Db, kind: ManualKind, company_id: i64, id: i64) -> AppResult<ManualRow> {
    let sql = format!(
        "SELECT * FROM {} WHERE id = $1 AND company_id = $2",
        kind.table()
    );
    let row = sqlx::query(&sql)
        .bind(id)
        .bind(company_id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| AppError::not_found(format!("{} {id} not found", kind.entity())))?;
    Ok(manual_from_row(kind, &row)?)
}

/// Body of a manual asset (`hostname`) or manual user (`full_name`).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ManualInput {
    pub hostname: Option<String>,
    pub full_name: Option<String>,
    pub billing_type: Option<String>,
    #[schema(value_type = Option<String>)]
    pub custom_cost: Option<Value>,
    pub notes: Option<String>,
}

/// Creates (`id` None) or replaces a manual asset or user of a company.
pub async fn save_manual(
    db: &Db,
    who: &Principal,
    kind: ManualKind,
    company_id: i64,
    id: Option<i64>,
    input: &ManualInput,
) -> AppResult<ManualRow> {
    let before = match id {
        Some(id) => Some(manual_row(db, kind, company_id, id).await?),
        None => None,
    };
    let mut errors = FieldErrors::new();
    let raw_label = match kind {
        ManualKind::Asset => input.hostname.as_deref(),
        ManualKind::User => input.full_name.as_deref(),
    };
    let label = match crate::validate::required_text(raw_label.unwrap_or(""), 150) {
        Ok(l) => l,
        Err(m) => {
            errors.insert(kind.label().into(), m);
            String::new()
        }
    };
    let (ty, cost) = billing_type(
        &mut errors,
        kind.types(),
        input.billing_type.as_deref(),
        input.custom_cost.as_ref(),
    );
    let notes = match input
        .notes
        .as_deref()
        .map(|n| crate::validate::text(n, 2000))
    {
        None => None,
        Some(Ok(n)) if n.is_empty() => None,
        Some(Ok(n)) => Some(n),
        Some(Err(m)) => {
            errors.insert("notes".into(), m);
            None
        }
    };
    fail(errors)?;
    let now = crate::time::now_db();
    let mut tx = db.pool.begin().await?;
    let new_id: i64 = match id {
        None => sqlx::query(&format!(
            "INSERT INTO {} (company_id, {}, billing_type, custom_cost, notes, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
            kind.table(),
            kind.label()
        ))
        .bind(company_id)
        .bind(&label)
        .bind(&ty)
        .bind(cost)
        .bind(&notes)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?,
        Some(id) => {
            sqlx::query(&format!(
                "UPDATE {} SET {} = $1, billing_type = $2, custom_cost = $3, notes = $4, updated_at = $5 \
                 WHERE id = $6 AND company_id = $7",
                kind.table(),
                kind.label()
            ))
            .bind(&label)
            .bind(&ty)
            .bind(cost)
            .bind(&notes)
            .bind(&now)
            .bind(id)
            .bind(company_id)
            .execute(&mut *tx)
            .await?;
            id
        }
    };
    let row = manual_from_row(
        kind,
        &sqlx::query(&format!("SELECT * FROM {} WHERE id = $1", kind.table()))
            .bind(new_id)
            .fetch_one(&mut *tx)
            .await?,
    )?;
    audit(
        &mut tx,
        who,
        if before.is_some() {
            Action::Update
        } else {
            Action::Create
        },
        kind.entity(),
        new_id,
        before.as_ref().map(json),
        Some(json(&row)),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn delete_manual(
    db: &Db,
    who: &Principal,
    kind: ManualKind,
    company_id: i64,
    id: i64,
) -> AppResult<()> {
    let before = manual_row(db, kind, company_id, id).await?;
    let mut tx = db.pool.begin().await?;
    sqlx::query(&format!("DELETE FROM {} WHERE id = $1", kind.table()))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut tx,
        who,
        Action::Delete,
        kind.entity(),
        id,
        Some(json(&before)),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Custom line items
// ---------------------------------------------------------------------------

/// A custom line item in the original's shape (one of the three fees set) plus its
/// cadence.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LineItemRow {
    pub id: i64,
    pub company_id: i64,
    pub name: String,
    pub description: Option<String>,
    /// monthly, one_off or yearly
    pub cadence: String,
    pub fee: String,
    pub monthly_fee: Option<String>,
    pub one_off_fee: Option<String>,
    pub one_off_year: Option<i64>,
    pub one_off_month: Option<i64>,
    pub yearly_fee: Option<String>,
    pub yearly_bill_month: Option<i64>,
    #[serde(skip)]
    pub fee_hundredths: i64,
    #[serde(skip)]
    pub year: Option<i64>,
    #[serde(skip)]
    pub month: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
}

impl LineItemRow {
    pub fn to_engine(&self) -> CustomLineItem {
        let fee = money::from_cents(self.fee_hundredths);
        let month = self.month.unwrap_or(0).clamp(0, 12) as u32;
        let cadence = match self.cadence.as_str() {
            "one_off" => Cadence::OneOff {
                fee,
                year: self.year.unwrap_or(0) as i32,
                month,
            },
            "yearly" => Cadence::Yearly { fee, month },
            _ => Cadence::Monthly { fee },
        };
        CustomLineItem {
            id: self.id,
            name: self.name.clone(),
            description: self.description.clone(),
            cadence,
        }
    }
}

fn item_from_row(r: &AnyRow) -> Result<LineItemRow, sqlx::Error> {
    let cadence: String = r.try_get("cadence")?;
    let fee: i64 = r.try_get("fee")?;
    let year: Option<i64> = r.try_get("bill_year")?;
    let month: Option<i64> = r.try_get("bill_month")?;
    let is = |c: &str| cadence == c;
    Ok(LineItemRow {
        id: r.try_get("id")?,
        company_id: r.try_get("company_id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        fee: show(fee),
        monthly_fee: is("monthly").then(|| show(fee)),
        one_off_fee: is("one_off").then(|| show(fee)),
        one_off_year: if is("one_off") { year } else { None },
        one_off_month: if is("one_off") { month } else { None },
        yearly_fee: is("yearly").then(|| show(fee)),
        yearly_bill_month: if is("yearly") { month } else { None },
        cadence,
        fee_hundredths: fee,
        year,
        month,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub async fn line_items(db: &Db, company_ids: Option<&[i64]>) -> AppResult<Vec<LineItemRow>> {
    let sql = format!(
        "SELECT * FROM ledger_line_items {} ORDER BY company_id, id",
        scope("company_id", company_ids)
    );
    let rows = sqlx::query(&sql).fetch_all(&db.pool).await?;
    Ok(rows.iter().map(item_from_row).collect::<Result<_, _>>()?)
}

async fn line_item(db: &Db, company_id: i64, id: i64) -> AppResult<LineItemRow> {
    let row = sqlx::query("SELECT * FROM ledger_line_items WHERE id = $1 AND company_id = $2")
        .bind(id)
        .bind(company_id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| AppError::not_found(format!("line item {id} not found")))?;
    Ok(item_from_row(&row)?)
}

/// The original's line-item body. Exactly one of the three fees must be set (a PUT that
/// names none keeps the item's fee). Fees may be negative (credits).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct LineItemInput {
    pub name: Option<String>,
    pub description: Option<String>,
    #[schema(value_type = Option<String>)]
    pub monthly_fee: Option<Value>,
    #[schema(value_type = Option<String>)]
    pub one_off_fee: Option<Value>,
    pub one_off_year: Option<i64>,
    pub one_off_month: Option<i64>,
    #[schema(value_type = Option<String>)]
    pub yearly_fee: Option<Value>,
    pub yearly_bill_month: Option<i64>,
}

fn present(v: &Option<Value>) -> Option<&Value> {
    v.as_ref().filter(|v| !v.is_null())
}

pub async fn save_line_item(
    db: &Db,
    who: &Principal,
    company_id: i64,
    id: Option<i64>,
    input: &LineItemInput,
) -> AppResult<LineItemRow> {
    let before = match id {
        Some(id) => Some(line_item(db, company_id, id).await?),
        None => None,
    };
    let mut errors = FieldErrors::new();
    let name = match (&input.name, &before) {
        (None, Some(b)) => b.name.clone(),
        (n, _) => match crate::validate::required_text(n.as_deref().unwrap_or(""), 150) {
            Ok(n) => n,
            Err(m) => {
                errors.insert("name".into(), m);
                String::new()
            }
        },
    };
    let description = match (&input.description, &before) {
        (None, Some(b)) => b.description.clone(),
        (None, None) => None,
        (Some(d), _) => match crate::validate::text(d, 2000) {
            Ok(d) if d.is_empty() => None,
            Ok(d) => Some(d),
            Err(m) => {
                errors.insert("description".into(), m);
                None
            }
        },
    };
    let fees = [
        ("monthly_fee", present(&input.monthly_fee)),
        ("one_off_fee", present(&input.one_off_fee)),
        ("yearly_fee", present(&input.yearly_fee)),
    ];
    let set: Vec<_> = fees.iter().filter(|(_, v)| v.is_some()).collect();
    let mut cadence = before.as_ref().map(|b| b.cadence.clone());
    let mut fee = before.as_ref().map(|b| b.fee_hundredths);
    let mut year = before.as_ref().and_then(|b| b.year);
    let mut month = before.as_ref().and_then(|b| b.month);
    match set.as_slice() {
        [] if before.is_some() => {}
        [] => {
            errors.insert(
                "monthly_fee".into(),
                "one of monthly_fee, one_off_fee or yearly_fee is required".into(),
            );
        }
        [(field, Some(v))] => {
            match parse_amount(v, true) {
                Ok(h) => fee = Some(h),
                Err(m) => {
                    errors.insert(field.to_string(), m);
                }
            }
            let valid_month = |m: Option<i64>, f: &str, errors: &mut FieldErrors| match m {
                Some(m @ 1..=12) => Some(m),
                Some(_) => {
                    errors.insert(f.into(), "must be 1-12".into());
                    None
                }
                None => {
                    errors.insert(f.into(), "is required".into());
                    None
                }
            };
            match *field {
                "monthly_fee" => {
                    cadence = Some("monthly".into());
                    year = None;
                    month = None;
                }
                "one_off_fee" => {
                    cadence = Some("one_off".into());
                    month = valid_month(input.one_off_month, "one_off_month", &mut errors);
                    year = match input.one_off_year {
                        Some(y @ 2000..=2100) => Some(y),
                        Some(_) => {
                            errors.insert("one_off_year".into(), "must be 2000-2100".into());
                            None
                        }
                        None => {
                            errors.insert("one_off_year".into(), "is required".into());
                            None
                        }
                    };
                }
                _ => {
                    cadence = Some("yearly".into());
                    year = None;
                    month = valid_month(input.yearly_bill_month, "yearly_bill_month", &mut errors);
                }
            }
        }
        _ => {
            for (f, _) in &set {
                errors.insert(
                    f.to_string(),
                    "only one of monthly_fee, one_off_fee and yearly_fee may be set".into(),
                );
            }
        }
    }
    fail(errors)?;
    let (cadence, fee) = (cadence.unwrap_or_default(), fee.unwrap_or_default());
    let now = crate::time::now_db();
    let mut tx = db.pool.begin().await?;
    let new_id: i64 = match id {
        None => sqlx::query(
            "INSERT INTO ledger_line_items (company_id, name, description, cadence, fee, bill_year, \
             bill_month, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
        )
        .bind(company_id)
        .bind(&name)
        .bind(&description)
        .bind(&cadence)
        .bind(fee)
        .bind(year)
        .bind(month)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?,
        Some(id) => {
            sqlx::query(
                "UPDATE ledger_line_items SET name = $1, description = $2, cadence = $3, fee = $4, \
                 bill_year = $5, bill_month = $6, updated_at = $7 WHERE id = $8",
            )
            .bind(&name)
            .bind(&description)
            .bind(&cadence)
            .bind(fee)
            .bind(year)
            .bind(month)
            .bind(&now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            id
        }
    };
    let row = item_from_row(
        &sqlx::query("SELECT * FROM ledger_line_items WHERE id = $1")
            .bind(new_id)
            .fetch_one(&mut *tx)
            .await?,
    )?;
    audit(
        &mut tx,
        who,
        if before.is_some() {
            Action::Update
        } else {
            Action::Create
        },
        "line_item",
        new_id,
        before.as_ref().map(json),
        Some(json(&row)),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn delete_line_item(db: &Db, who: &Principal, company_id: i64, id: i64) -> AppResult<()> {
    let before = line_item(db, company_id, id).await?;
    let mut tx = db.pool.begin().await?;
    sqlx::query("DELETE FROM ledger_line_items WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut tx,
        who,
        Action::Delete,
        "line_item",
        id,
        Some(json(&before)),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------

pub async fn setting(db: &Db, key: &str) -> AppResult<Option<String>> {
    Ok(
        sqlx::query("SELECT value FROM ledger_settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&db.pool)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?,
    )
}

pub async fn set_setting(conn: &mut AnyConnection, key: &str, value: &str) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO ledger_settings (key, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(value)
    .bind(crate::time::now_db())
    .execute(conn)
    .await?;
    Ok(())
}

/// Which contacts are billed as users (setting `user_rule`; default active only).
pub async fn user_rule(db: &Db) -> AppResult<UserRule> {
    Ok(match setting(db, "user_rule").await?.as_deref() {
        Some("all_contacts") => UserRule::AllContacts,
        _ => UserRule::ActiveOnly,
    })
}

// ---------------------------------------------------------------------------
// Classification rules
// ---------------------------------------------------------------------------

/// The classification table in force. The shipped defaults are written on first use
/// (once across nodes: the `class_rules_seeded` setting is claimed first).
pub async fn class_rules(db: &Db) -> AppResult<Vec<ClassRule>> {
    if setting(db, "class_rules_seeded").await?.is_none() {
        let mut tx = db.pool.begin().await?;
        let claimed = sqlx::query(
            "INSERT INTO ledger_settings (key, value, updated_at) VALUES ('class_rules_seeded', '1', $1) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(crate::time::now_db())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 1 {
            write_rules(&mut tx, &default_rules()).await?;
        }
        tx.commit().await?;
    }
    let rows = sqlx::query("SELECT * FROM ledger_class_rules ORDER BY position")
        .fetch_all(&db.pool)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let class: String = r.try_get("class")?;
        out.push(ClassRule {
            name: r.try_get("name")?,
            category: r.try_get("category")?,
            rmm_type: r.try_get("rmm_type")?,
            os: r.try_get("os")?,
            hostname: r.try_get("hostname")?,
            class: AssetClass::parse(&class).unwrap_or(AssetClass::Workstation),
        });
    }
    Ok(out)
}

async fn write_rules(conn: &mut AnyConnection, rules: &[ClassRule]) -> AppResult<()> {
    sqlx::query("DELETE FROM ledger_class_rules")
        .execute(&mut *conn)
        .await?;
    for (i, r) in rules.iter().enumerate() {
        sqlx::query(
            "INSERT INTO ledger_class_rules (position, name, category, rmm_type, os, hostname, class) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(i as i64 + 1)
        .bind(&r.name)
        .bind(&r.category)
        .bind(&r.rmm_type)
        .bind(&r.os)
        .bind(&r.hostname)
        .bind(r.class.label())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// One rule as the API takes it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct RuleInput {
    pub name: Option<String>,
    pub category: Option<String>,
    pub rmm_type: Option<String>,
    pub os: Option<String>,
    pub hostname: Option<String>,
    /// Workstation, Server, VM, Switch, Firewall or No Charge.
    pub class: Option<String>,
}

/// Replaces the whole ordered table (first match wins).
pub async fn replace_rules(
    db: &Db,
    who: &Principal,
    input: &[RuleInput],
) -> AppResult<Vec<ClassRule>> {
    let mut errors = FieldErrors::new();
    let mut rules = Vec::new();
    if input.len() > 500 {
        errors.insert("rules".into(), "at most 500 rules".into());
    }
    for (i, r) in input.iter().enumerate() {
        let mut field = |f: &str, raw: &Option<String>| -> Option<String> {
            let v = raw.as_deref().map(str::trim).filter(|s| !s.is_empty())?;
            match crate::validate::text(v, 200) {
                Ok(v) => Some(v),
                Err(m) => {
                    errors.insert(format!("rules[{i}].{f}"), m);
                    None
                }
            }
        };
        let name = field("name", &r.name);
        let category = field("category", &r.category);
        let rmm_type = field("rmm_type", &r.rmm_type);
        let os = field("os", &r.os);
        let hostname = field("hostname", &r.hostname);
        if name.is_none() {
            errors.insert(format!("rules[{i}].name"), "is required".into());
        }
        let class = r.class.as_deref().and_then(AssetClass::parse);
        if class.is_none() {
            errors.insert(
                format!("rules[{i}].class"),
                "must be one of: Workstation, Server, VM, Switch, Firewall, No Charge".into(),
            );
        }
        if let (Some(name), Some(class)) = (name, class) {
            rules.push(ClassRule {
                name,
                category,
                rmm_type,
                os,
                hostname,
                class,
            });
        }
    }
    fail(errors)?;
    let before = class_rules(db).await?;
    let mut tx = db.pool.begin().await?;
    write_rules(&mut tx, &rules).await?;
    audit(
        &mut tx,
        who,
        Action::Update,
        "classification_rules",
        "table",
        Some(json(&before)),
        Some(json(&rules)),
    )
    .await?;
    tx.commit().await?;
    Ok(rules)
}
