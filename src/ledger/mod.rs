//! Ledger: monthly billing from plans, counts and hours.
//!
//! This is the pure core. `model` holds the frozen inputs and the computed `Bill`;
//! `classify` decides a device's billing class from an editable rule table; `engine`
//! computes the bill (the one function the dashboard, invoice, API and snapshot all
//! call, so they always agree); `invoice` turns a bill into the invoice number, dates,
//! CSV and summary. Nothing here touches the database or HTTP.
//!
//! Money: `rust_decimal` in code, integer cents in the database (`crate::money`). Each
//! line is rounded to cents with `round_dp(2)` (half to even) and the total is the sum
//! of the rounded lines.

pub mod classify;
pub mod engine;
pub mod invoice;
pub mod model;

#[cfg(test)]
mod examples;
#[cfg(test)]
mod properties;

pub use classify::{classify, default_rules, ClassRule, Classification};
pub use engine::{compute_bill, find_plan, plan_key, yearly_pool_used_before, PlanKey};
pub use invoice::{invoice_csv, invoice_number, invoice_summary, InvoiceSummary};
pub use model::*;
