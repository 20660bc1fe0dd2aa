//! Fills `BillInputs` for a set of companies and a month from Codex's Rust API and
//! Ledger's tables, in a fixed number of queries whatever the number of companies
//! (plans, overrides of each kind, manual rows, line items, rules, assets, contacts, the
//! month's time entries, plus one per earlier month of the year when a yearly prepaid
//! pool is in force). Every company asked for comes back, with or without a plan.
//!
//! Orphaned overrides (the asset or contact is deleted or no longer belongs to the
//! company the override was written for) are never applied and never dropped: they are
//! returned with the company's inputs so every view reports them.

use super::engine::{compute_bill, yearly_pool_used_before};
use super::model::*;
use super::store::{self, EntityKind, ManualKind};
use crate::codex::companies::Company;
use crate::codex::{assets, contacts, plans, tickets};
use crate::db::Db;
use crate::error::AppResult;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// An override that points at nothing billable any more.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Orphan {
    /// `asset` or `user`.
    pub kind: String,
    /// Codex asset or contact id.
    pub id: i64,
    pub company_id: i64,
    pub billing_type: String,
    pub custom_cost: Option<String>,
    pub reason: String,
}

/// One company's inputs for the month, with what did not fit.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub company: Company,
    pub inputs: BillInputs,
    pub orphans: Vec<Orphan>,
}

impl Loaded {
    /// The bill, with a warning per orphaned override.
    pub fn bill(&self) -> Bill {
        let mut bill = compute_bill(&self.inputs);
        for o in &self.orphans {
            bill.warnings.push(format!(
                "{} override for {} id {} not applied: {}",
                o.kind, o.kind, o.id, o.reason
            ));
        }
        bill
    }
}

/// Codex plans as the engine's `PlanRates` (plans carry no prepaid hours).
pub fn plan_rates(p: &plans::Plan) -> PlanRates {
    let c = &p.costs;
    PlanRates {
        plan_name: p.plan_name.clone(),
        term_length: p.term_length.clone(),
        support_level: Some(p.support_level.clone()).filter(|s| !s.trim().is_empty()),
        rates: Rates {
            per_user: c.per_user_cost,
            per_workstation: c.per_workstation_cost,
            per_server: c.per_server_cost,
            per_vm: c.per_vm_cost,
            per_switch: c.per_switch_cost,
            per_firewall: c.per_firewall_cost,
            per_hour: c.per_hour_ticket_cost,
            backup_base_workstation: c.backup_base_fee_workstation,
            backup_base_server: c.backup_base_fee_server,
            backup_included_tb: c.backup_included_tb,
            backup_per_tb: c.backup_per_tb_fee,
            prepaid_hours_monthly: Decimal::ZERO,
            prepaid_hours_yearly: Decimal::ZERO,
        },
    }
}

pub fn company_info(c: &Company) -> CompanyInfo {
    CompanyInfo {
        id: c.id,
        account_number: c.account_number.clone(),
        name: c.name.clone(),
        billing_plan: c.billing_plan.clone(),
        contract_term: Some(plans::company_term(
            c.contract_term_length.as_deref(),
            c.contract_term.as_deref(),
        )),
    }
}

fn entry(e: &tickets::store::MonthTimeEntry) -> TimeEntry {
    TimeEntry {
        id: e.id,
        ticket_number: e.ticket_number.clone(),
        minutes: e.minutes,
        billable: e.billable,
        executed_at: e.executed_at.clone(),
    }
}

/// Inputs for every company in `companies` (in that order) for `period`.
pub async fn load(db: &Db, companies: &[Company], period: BillingPeriod) -> AppResult<Vec<Loaded>> {
    if companies.is_empty() {
        return Ok(vec![]);
    }
    let ids: Vec<i64> = companies.iter().map(|c| c.id).collect();
    let ids_s = Some(ids.as_slice());
    let plan_list: Vec<PlanRates> = plans::all_plans(db).await?.iter().map(plan_rates).collect();
    let mut client = store::client_overrides(db, ids_s).await?;
    let asset_ov = store::entity_overrides(db, EntityKind::Asset, ids_s).await?;
    let user_ov = store::entity_overrides(db, EntityKind::User, ids_s).await?;
    let manual_assets = store::manual_rows(db, ManualKind::Asset, ids_s).await?;
    let manual_users = store::manual_rows(db, ManualKind::User, ids_s).await?;
    let items = store::line_items(db, ids_s).await?;
    let rules = store::class_rules(db).await?;
    let user_rule = store::user_rule(db).await?;
    let all_assets = assets::billing_devices(db, &ids).await?;
    let people = contacts::billing_people(db, &ids).await?;
    let month =
        tickets::store::time_entries_for_month(db, ids_s, period.year, period.month).await?;

    let mut assets_by: HashMap<i64, Vec<AssetInput>> = HashMap::new();
    for a in &all_assets {
        assets_by.entry(a.company_id).or_default().push(AssetInput {
            id: a.id,
            hostname: a.hostname.clone(),
            rmm_category: a.hardware_type.clone(),
            rmm_type: a.device_type.clone(),
            operating_system: a.operating_system.clone(),
            backup_bytes: a.backup_usage_bytes,
        });
    }
    let mut contacts_by: HashMap<i64, Vec<ContactInput>> = HashMap::new();
    for (company, id, name, active) in people {
        contacts_by
            .entry(company)
            .or_default()
            .push(ContactInput { id, name, active });
    }
    let mut entries_by: HashMap<i64, Vec<TimeEntry>> = HashMap::new();
    for e in &month {
        if let Some(c) = e.company_id {
            entries_by.entry(c).or_default().push(entry(e));
        }
    }
    // The yearly pool needs the earlier months of the year, only for companies with one.
    let pooled: Vec<i64> = client
        .values()
        .filter(|o| o.values[12].is_some_and(|v| v > 0))
        .map(|o| o.company_id)
        .collect();
    let mut earlier_by: HashMap<i64, Vec<TimeEntry>> = HashMap::new();
    if !pooled.is_empty() {
        for m in 1..period.month {
            for e in
                tickets::store::time_entries_for_month(db, Some(&pooled), period.year, m).await?
            {
                if let Some(c) = e.company_id {
                    earlier_by.entry(c).or_default().push(entry(&e));
                }
            }
        }
    }
    let group = |rows: Vec<store::EntityOverride>| {
        let mut m: HashMap<i64, Vec<store::EntityOverride>> = HashMap::new();
        for r in rows {
            m.entry(r.company_id).or_default().push(r);
        }
        m
    };
    let mut asset_ov = group(asset_ov);
    let mut user_ov = group(user_ov);
    let mut man_a: HashMap<i64, Vec<ManualAsset>> = HashMap::new();
    for r in &manual_assets {
        man_a.entry(r.company_id).or_default().push(r.to_asset());
    }
    let mut man_u: HashMap<i64, Vec<ManualUser>> = HashMap::new();
    for r in &manual_users {
        man_u.entry(r.company_id).or_default().push(r.to_user());
    }
    let mut items_by: HashMap<i64, Vec<CustomLineItem>> = HashMap::new();
    for r in &items {
        items_by
            .entry(r.company_id)
            .or_default()
            .push(r.to_engine());
    }

    let mut out = Vec::with_capacity(companies.len());
    for c in companies {
        let info = company_info(c);
        let overrides = client
            .remove(&c.id)
            .map(|o| o.to_engine())
            .unwrap_or_default();
        let plan = super::engine::plan_key(&info, &overrides)
            .and_then(|k| super::engine::find_plan(&plan_list, &k).cloned());
        let assets = assets_by.remove(&c.id).unwrap_or_default();
        let contacts = contacts_by.remove(&c.id).unwrap_or_default();
        let mut orphans = Vec::new();
        let asset_ids: HashSet<i64> = assets.iter().map(|a| a.id).collect();
        let mut asset_overrides = Vec::new();
        for o in asset_ov.remove(&c.id).unwrap_or_default() {
            if asset_ids.contains(&o.id) {
                asset_overrides.push(AssetOverride {
                    asset_id: o.id,
                    billing: o.asset_billing(),
                });
            } else {
                orphans.push(orphan("asset", &o));
            }
        }
        let contact_ids: HashSet<i64> = contacts.iter().map(|p| p.id).collect();
        let mut user_overrides = Vec::new();
        for o in user_ov.remove(&c.id).unwrap_or_default() {
            if contact_ids.contains(&o.id) {
                user_overrides.push(UserOverride {
                    contact_id: o.id,
                    billing: o.user_billing(),
                });
            } else {
                orphans.push(orphan("user", &o));
            }
        }
        let pool_used = match (&plan, overrides.rates.prepaid_hours_yearly) {
            (Some(_), Some(yearly)) if yearly > Decimal::ZERO => yearly_pool_used_before(
                &earlier_by.remove(&c.id).unwrap_or_default(),
                period,
                overrides.rates.prepaid_hours_monthly.unwrap_or_default(),
                yearly,
            ),
            _ => Decimal::ZERO,
        };
        let inputs = BillInputs {
            period,
            company: info,
            plan,
            overrides,
            user_rule,
            contacts,
            user_overrides,
            manual_users: man_u.remove(&c.id).unwrap_or_default(),
            assets,
            asset_overrides,
            manual_assets: man_a.remove(&c.id).unwrap_or_default(),
            classification: rules.clone(),
            time_entries: entries_by.remove(&c.id).unwrap_or_default(),
            yearly_pool_used_minutes: pool_used,
            line_items: items_by.remove(&c.id).unwrap_or_default(),
        };
        out.push(Loaded {
            company: c.clone(),
            inputs,
            orphans,
        });
    }
    Ok(out)
}

fn orphan(kind: &str, o: &store::EntityOverride) -> Orphan {
    let what = if kind == "asset" { "asset" } else { "contact" };
    Orphan {
        kind: kind.into(),
        id: o.id,
        company_id: o.company_id,
        billing_type: o.billing_type.clone(),
        custom_cost: o.custom_cost.clone(),
        reason: format!("the {what} is deleted or no longer belongs to this company"),
    }
}

/// Every orphaned override of every company (for the overrides API).
pub async fn all_orphans(db: &Db) -> AppResult<Vec<Orphan>> {
    let companies = crate::codex::companies::list_live(db).await?;
    let period = BillingPeriod::of(chrono::Utc::now());
    let loaded = load(db, &companies, period).await?;
    let live: HashSet<i64> = companies.iter().map(|c| c.id).collect();
    let mut out: Vec<Orphan> = loaded.into_iter().flat_map(|l| l.orphans).collect();
    // Overrides recorded for companies that are gone altogether.
    for kind in [EntityKind::Asset, EntityKind::User] {
        for o in store::entity_overrides(db, kind, None).await? {
            if !live.contains(&o.company_id) {
                let mut orphan = orphan(
                    if kind == EntityKind::Asset {
                        "asset"
                    } else {
                        "user"
                    },
                    &o,
                );
                orphan.reason = "the company is deleted".into();
                out.push(orphan);
            }
        }
    }
    Ok(out)
}
