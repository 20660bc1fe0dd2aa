//! Ledger: monthly billing from plans, counts and hours.
//!
//! The pure core: `model` holds the frozen inputs and the computed `Bill`; `classify`
//! decides a device's billing class from an editable rule table; `engine` computes the
//! bill (the one function the dashboard, invoice, API and snapshot all call, so they
//! always agree); `invoice` turns a bill into the invoice number, dates, CSV and
//! summary. None of these touches the database or HTTP.
//!
//! Around it: `store` (Ledger's tables: overrides, rules, settings), `load` (fills
//! `BillInputs` for many companies in a fixed number of queries), `snapshots`
//! (append-only accepted bills, void and re-issue), `jobs` (bulk acceptance and the
//! monthly schedule), `http` and `contract` (the endpoints).
//!
//! Money: `rust_decimal` in code, integer cents in the database (`crate::money`). Each
//! line is rounded to cents with `round_dp(2)` (half to even) and the total is the sum
//! of the rounded lines.
//!
//! What a loader (database side) does to fill `BillInputs` for a company and month:
//! read the plan list once and pick the plan with `plan_key` + `find_plan`; turn each
//! enabled client override with a value into `Some`; contacts with their `active`
//! flag, per-user overrides keyed by contact id, manual users; non-deleted assets with
//! `hardware_type` → `rmm_category`, `device_type` → `rmm_type`, `operating_system`,
//! `backup_usage_bytes`, per-asset overrides keyed by asset id, manual assets; the
//! classification table; the time entries of the company's tickets executed in the
//! month; `yearly_pool_used_minutes` from the same year's previous accepted bill
//! (`hours.pool_used_after_minutes`) or else `yearly_pool_used_before` over the year's
//! entries; line items through `Cadence::from_columns`. A snapshot stores the inputs,
//! the bill and the invoice CSV together, so any bill can be recomputed and checked.

pub mod classify;
pub mod contract;
pub mod engine;
pub mod http;
pub mod invoice;
pub mod jobs;
pub mod load;
pub mod model;
pub mod pages;
pub mod snapshots;
pub mod store;

#[cfg(test)]
mod examples;
#[cfg(test)]
mod properties;

pub use classify::{classify, default_rules, ClassRule, Classification};
pub use engine::{compute_bill, find_plan, plan_key, yearly_pool_used_before, PlanKey};
pub use invoice::{invoice_csv, invoice_number, invoice_summary, InvoiceSummary};
pub use model::*;
