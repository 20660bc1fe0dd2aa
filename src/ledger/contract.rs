//! Contract alignment (`peer/platform.md` §5.8): what a company is billed now, how that
//! compares with terms read from a contract, applying adjustments (dry run by default)
//! and verifying. The original's compare read fields Ledger never sent, so it always
//! found discrepancies; here it reads the effective rates of the current bill.

use super::http::{live_company, load_one};
use super::model::BillingPeriod;
use super::store::{self, EntityKind, ManualKind};
use crate::auth::{BillingWriter, Principal};
use crate::error::{AppError, AppResult};
use crate::http::extract::JsonBody;
use crate::http::AppState;
use axum::extract::{Path, State};
use axum::Json;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::str::FromStr;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

type Problem = crate::error::Problem;

fn this_month() -> BillingPeriod {
    BillingPeriod::of(chrono::Utc::now())
}

/// Everything the company is billed with now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CurrentSettings {
    pub account_number: String,
    #[schema(value_type = Object)]
    pub billing: Value,
    pub overrides: store::ClientOverrideRow,
    pub asset_overrides: Vec<store::EntityOverride>,
    pub user_overrides: Vec<store::EntityOverride>,
    pub manual_assets: Vec<store::ManualRow>,
    pub manual_users: Vec<store::ManualRow>,
    pub line_items: Vec<store::LineItemRow>,
    #[schema(value_type = Vec<Object>)]
    pub plans: Vec<Value>,
}

#[utoipa::path(get, path = "/ledger/api/contract/current-settings/{account_number}", tag = "ledger",
    params(("account_number" = String, Path)),
    responses((status = 200, body = CurrentSettings), (status = 404, body = Problem)))]
pub async fn current_settings(
    State(state): State<AppState>,
    who: Principal,
    Path(acct): Path<String>,
) -> AppResult<Json<CurrentSettings>> {
    who.require_staff()?;
    let db = &state.db;
    let c = live_company(db, &acct).await?;
    let l = load_one(db, &acct, this_month()).await?;
    let bill = l.bill();
    let ids = [c.id];
    Ok(Json(CurrentSettings {
        billing: json!({
            "billing_period": bill.period.to_string(),
            "total": bill.totals.total,
            "error": bill.error,
            "plan": bill.plan,
            "counts": bill.counts,
            "lines": bill.lines,
        }),
        overrides: store::client_override(db, c.id).await?,
        asset_overrides: store::entity_overrides(db, EntityKind::Asset, Some(&ids)).await?,
        user_overrides: store::entity_overrides(db, EntityKind::User, Some(&ids)).await?,
        manual_assets: store::manual_rows(db, ManualKind::Asset, Some(&ids)).await?,
        manual_users: store::manual_rows(db, ManualKind::User, Some(&ids)).await?,
        line_items: store::line_items(db, Some(&ids)).await?,
        plans: crate::codex::plans::all_plans(db)
            .await?
            .into_iter()
            .map(|p| {
                json!({"id": p.id, "billing_plan": p.plan_name, "term_length": p.term_length,
                            "support_level": p.support_level, "costs": p.costs})
            })
            .collect(),
        account_number: acct,
    }))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct CompareInput {
    pub account_number: Option<String>,
    /// `billing_method` (per_user, flat_fee, per_device), `per_user_rate`,
    /// `flat_fee_amount`, `hourly_rate`, `prepaid_hours_monthly`, `support_level`.
    #[schema(value_type = Object)]
    pub terms: Option<Map<String, Value>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Discrepancy {
    pub field: String,
    #[schema(value_type = Object)]
    pub contract_value: Value,
    #[schema(value_type = Object)]
    pub current_value: Value,
    pub difference: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Comparison {
    pub account_number: String,
    pub discrepancies_found: usize,
    pub discrepancies: Vec<Discrepancy>,
    pub recommendations: Vec<String>,
    pub alignment_needed: bool,
}

fn decimal(terms: &Map<String, Value>, key: &str) -> AppResult<Option<Decimal>> {
    match terms.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Decimal::from_str(&n.to_string())
            .or_else(|_| Decimal::from_scientific(&n.to_string()))
            .map(Some)
            .map_err(|_| AppError::invalid(&format!("terms.{key}"), "is not a number")),
        Some(Value::String(s)) => Decimal::from_str(s.trim())
            .map(Some)
            .map_err(|_| AppError::invalid(&format!("terms.{key}"), "is not a number")),
        Some(_) => Err(AppError::invalid(
            &format!("terms.{key}"),
            "must be a number",
        )),
    }
}

fn threshold() -> Decimal {
    Decimal::new(1, 2)
}

async fn compare(
    state: &AppState,
    acct: &str,
    terms: &Map<String, Value>,
) -> AppResult<Comparison> {
    const KNOWN: &[&str] = &[
        "billing_method",
        "per_user_rate",
        "flat_fee_amount",
        "hourly_rate",
        "prepaid_hours_monthly",
        "support_level",
    ];
    if let Some(k) = terms.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(AppError::invalid(
            &format!("terms.{k}"),
            format!("is not a known term (known: {})", KNOWN.join(", ")),
        ));
    }
    let bill = load_one(&state.db, acct, this_month()).await?.bill();
    let Some(plan) = &bill.plan else {
        return Err(AppError::invalid(
            "account_number",
            bill.error
                .unwrap_or_else(|| "the bill cannot be priced".into()),
        ));
    };
    let mut out = Vec::new();
    let mut recs = Vec::new();
    let mut num = |field: &str, contract: Option<Decimal>, current: Decimal, rec: &str| {
        if let Some(c) = contract {
            if (c - current).abs() > threshold() {
                out.push(Discrepancy {
                    field: field.into(),
                    contract_value: json!(c.to_string()),
                    current_value: json!(current.to_string()),
                    difference: Some((c - current).to_string()),
                    note: None,
                });
                recs.push(format!("{rec} {c}"));
            }
        }
    };
    num(
        "per_user_cost",
        decimal(terms, "per_user_rate")?,
        plan.rates.per_user,
        "set per_user_cost to",
    );
    num(
        "per_hour_ticket_cost",
        decimal(terms, "hourly_rate")?,
        plan.rates.per_hour,
        "set per_hour_ticket_cost to",
    );
    num(
        "prepaid_hours_monthly",
        decimal(terms, "prepaid_hours_monthly")?,
        plan.rates.prepaid_hours_monthly,
        "set prepaid_hours_monthly to",
    );
    let method = terms.get("billing_method").and_then(Value::as_str);
    if method == Some("flat_fee") {
        if let Some(fee) = decimal(terms, "flat_fee_amount")? {
            let total = bill.totals.total;
            if (fee - total).abs() > threshold() {
                out.push(Discrepancy {
                    field: "total".into(),
                    contract_value: json!(fee.to_string()),
                    current_value: json!(total.to_string()),
                    difference: Some((fee - total).to_string()),
                    note: Some("flat fee contract: adjust with a monthly line item".into()),
                });
                recs.push(format!(
                    "add a monthly line item of {} to reach the flat fee",
                    fee - total
                ));
            }
        }
    }
    if let Some(level) = terms.get("support_level").and_then(Value::as_str) {
        let current = plan.support_level.clone().unwrap_or_default();
        if level.trim() != current.trim() {
            out.push(Discrepancy {
                field: "support_level".into(),
                contract_value: json!(level),
                current_value: json!(current),
                difference: None,
                note: None,
            });
            recs.push(format!("set support_level to {level}"));
        }
    }
    Ok(Comparison {
        account_number: acct.into(),
        discrepancies_found: out.len(),
        alignment_needed: !out.is_empty(),
        discrepancies: out,
        recommendations: recs,
    })
}

fn required_acct(a: &Option<String>) -> AppResult<String> {
    a.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| AppError::invalid("account_number", "is required"))
}

/// Compares contract terms with what the company is billed this month (difference
/// above 0.01 is a discrepancy).
#[utoipa::path(post, path = "/ledger/api/contract/compare", tag = "ledger", request_body = CompareInput,
    responses((status = 200, body = Comparison), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn compare_terms(
    State(state): State<AppState>,
    who: Principal,
    JsonBody(input): JsonBody<CompareInput>,
) -> AppResult<Json<Comparison>> {
    who.require_staff()?;
    let acct = required_acct(&input.account_number)?;
    Ok(Json(
        compare(&state, &acct, &input.terms.unwrap_or_default()).await?,
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Verification {
    pub account_number: String,
    pub aligned: bool,
    pub remaining_discrepancies: Vec<Discrepancy>,
    pub message: String,
}

/// Re-runs the comparison: aligned when nothing differs.
#[utoipa::path(post, path = "/ledger/api/contract/verify", tag = "ledger", request_body = CompareInput,
    responses((status = 200, body = Verification), (status = 422, body = Problem)))]
pub async fn verify(
    State(state): State<AppState>,
    who: Principal,
    JsonBody(input): JsonBody<CompareInput>,
) -> AppResult<Json<Verification>> {
    who.require_staff()?;
    let acct = required_acct(&input.account_number)?;
    let c = compare(&state, &acct, &input.terms.unwrap_or_default()).await?;
    Ok(Json(Verification {
        account_number: acct,
        aligned: !c.alignment_needed,
        message: if c.alignment_needed {
            format!("{} discrepancies remain", c.discrepancies_found)
        } else {
            "billing matches the contract terms".into()
        },
        remaining_discrepancies: c.discrepancies,
    }))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct AlignInput {
    pub account_number: Option<String>,
    /// Client override fields (`per_user_cost`, …, `billing_plan`, `support_level`) plus
    /// `add_line_items`, `add_manual_assets`, `add_manual_users` (arrays of bodies).
    #[schema(value_type = Object)]
    pub adjustments: Option<Map<String, Value>>,
    /// Default true: only report what would change.
    pub dry_run: Option<bool>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlignResult {
    pub account_number: String,
    pub dry_run: bool,
    #[schema(value_type = Object)]
    pub would_apply: Value,
    pub changes_applied: usize,
    #[schema(value_type = Vec<Object>)]
    pub results: Vec<Value>,
    pub errors: Vec<String>,
    pub success: bool,
}

/// Applies adjustments (billing or admin). With `dry_run` (the default) nothing changes.
/// The override fields are validated and applied together; added items one by one.
#[utoipa::path(post, path = "/ledger/api/contract/align", tag = "ledger", request_body = AlignInput,
    responses((status = 200, body = AlignResult), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn align(
    State(state): State<AppState>,
    BillingWriter(who): BillingWriter,
    JsonBody(input): JsonBody<AlignInput>,
) -> AppResult<Json<AlignResult>> {
    let acct = required_acct(&input.account_number)?;
    let c = live_company(&state.db, &acct).await?;
    let adj = input.adjustments.unwrap_or_default();
    let dry_run = input.dry_run.unwrap_or(true);
    let lists = ["add_line_items", "add_manual_assets", "add_manual_users"];
    let overrides: Map<String, Value> = adj
        .iter()
        .filter(|(k, _)| !lists.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for l in lists {
        if let Some(v) = adj.get(l) {
            if !v.is_array() {
                return Err(AppError::invalid(
                    &format!("adjustments.{l}"),
                    "must be an array",
                ));
            }
        }
    }
    let mut result = AlignResult {
        account_number: acct.clone(),
        dry_run,
        would_apply: Value::Object(adj.clone()),
        changes_applied: 0,
        results: vec![],
        errors: vec![],
        success: true,
    };
    if dry_run {
        return Ok(Json(result));
    }
    let db = &state.db;
    if !overrides.is_empty() {
        store::patch_client_override(db, &who, c.id, &overrides).await?;
        result.changes_applied += overrides.len();
        result.results.push(
            json!({"kind": "client_overrides", "fields": overrides.keys().collect::<Vec<_>>()}),
        );
    }
    let items = |k: &str| {
        adj.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for body in items("add_line_items") {
        let outcome = match serde_json::from_value::<store::LineItemInput>(body) {
            Ok(i) => store::save_line_item(db, &who, c.id, None, &i)
                .await
                .map(|r| json!({"kind": "line_item", "id": r.id})),
            Err(e) => Err(AppError::BadRequest(e.to_string())),
        };
        record(&mut result, outcome);
    }
    for (key, kind) in [
        ("add_manual_assets", ManualKind::Asset),
        ("add_manual_users", ManualKind::User),
    ] {
        for body in items(key) {
            let outcome = match serde_json::from_value::<store::ManualInput>(body) {
                Ok(i) => store::save_manual(db, &who, kind, c.id, None, &i)
                    .await
                    .map(|r| json!({"kind": key, "id": r.id})),
                Err(e) => Err(AppError::BadRequest(e.to_string())),
            };
            record(&mut result, outcome);
        }
    }
    result.success = result.errors.is_empty();
    Ok(Json(result))
}

fn record(r: &mut AlignResult, outcome: AppResult<Value>) {
    match outcome {
        Ok(v) => {
            r.changes_applied += 1;
            r.results.push(v);
        }
        Err(AppError::Validation(f)) => r.errors.push(
            f.iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Err(e) => r.errors.push(e.to_string()),
    }
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(current_settings))
        .routes(routes!(compare_terms))
        .routes(routes!(verify))
        .routes(routes!(align))
}
