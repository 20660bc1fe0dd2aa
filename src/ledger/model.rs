//! The billing engine's input and output types.
//!
//! `BillInputs` is the frozen set of facts a month's bill is computed from: the loader
//! (database side) fills it once, the engine turns it into a `Bill`, and a snapshot
//! stores both. Because the engine is a pure function of these inputs, the dashboard,
//! the invoice, the API and the snapshot always agree. Every type is serde-serialisable
//! so the inputs can be stored verbatim and a bill recomputed years later.
//!
//! Money is `rust_decimal::Decimal` (serialised as a string, never a float). Rates may
//! carry more than two decimals; only line amounts are rounded (see `engine`).

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A calendar month. Billing months are UTC months (the one business time zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BillingPeriod {
    pub year: i32,
    pub month: u32,
}

impl BillingPeriod {
    /// `None` unless `month` is 1..=12 and the year is one chrono can represent.
    pub fn new(year: i32, month: u32) -> Option<Self> {
        NaiveDate::from_ymd_opt(year, month, 1).map(|_| Self { year, month })
    }

    pub fn first_day(&self) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(self.year, self.month, 1)
    }

    /// The month after this one (December rolls into January of the next year).
    pub fn next(&self) -> Option<Self> {
        if self.month == 12 {
            Self::new(self.year.checked_add(1)?, 1)
        } else {
            Self::new(self.year, self.month + 1)
        }
    }

    pub fn last_day(&self) -> Option<NaiveDate> {
        self.next()?.first_day()?.pred_opt()
    }

    /// Half-open UTC window `[first day 00:00, first day of next month 00:00)`.
    pub fn window(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let start = self.first_day()?.and_hms_opt(0, 0, 0)?.and_utc();
        let end = self.next()?.first_day()?.and_hms_opt(0, 0, 0)?.and_utc();
        Some((start, end))
    }

    /// The period an instant falls in.
    pub fn of(t: DateTime<Utc>) -> Self {
        Self {
            year: t.year(),
            month: t.month(),
        }
    }
}

impl fmt::Display for BillingPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// The company being billed, as Codex holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompanyInfo {
    pub id: i64,
    pub account_number: String,
    pub name: String,
    /// Codex `billing_plan` (the original's `plan_selected`).
    pub billing_plan: Option<String>,
    /// Codex `contract_term_length`; empty means "Month to Month" as in the original.
    pub contract_term: Option<String>,
}

/// Every priced value of a plan (or its effective value after client overrides).
/// Prepaid hours exist only as client overrides in the original; plans carry 0.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Rates {
    pub per_user: Decimal,
    pub per_workstation: Decimal,
    pub per_server: Decimal,
    pub per_vm: Decimal,
    pub per_switch: Decimal,
    pub per_firewall: Decimal,
    pub per_hour: Decimal,
    pub backup_base_workstation: Decimal,
    pub backup_base_server: Decimal,
    /// Terabytes (2^40 bytes) included per backed-up device.
    pub backup_included_tb: Decimal,
    pub backup_per_tb: Decimal,
    pub prepaid_hours_monthly: Decimal,
    /// Hours pool per calendar year.
    pub prepaid_hours_yearly: Decimal,
}

/// One value per rate; `None` = this override is not enabled (the original's flag off
/// or value NULL), so the plan's value applies.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RateOverrides {
    pub per_user: Option<Decimal>,
    pub per_workstation: Option<Decimal>,
    pub per_server: Option<Decimal>,
    pub per_vm: Option<Decimal>,
    pub per_switch: Option<Decimal>,
    pub per_firewall: Option<Decimal>,
    pub per_hour: Option<Decimal>,
    pub backup_base_workstation: Option<Decimal>,
    pub backup_base_server: Option<Decimal>,
    pub backup_included_tb: Option<Decimal>,
    pub backup_per_tb: Option<Decimal>,
    pub prepaid_hours_monthly: Option<Decimal>,
    pub prepaid_hours_yearly: Option<Decimal>,
}

/// A billing plan row (Codex `billing_plans`), matched on name and term.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanRates {
    pub plan_name: String,
    pub term_length: String,
    pub support_level: Option<String>,
    pub rates: Rates,
}

/// The client's billing overrides (the original's `client_billing_overrides` row).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ClientOverrides {
    /// Replaces the company's plan name when set and non-empty.
    pub billing_plan: Option<String>,
    /// Replaces the company's contract term when set and non-empty (the original could
    /// not override the term).
    pub contract_term: Option<String>,
    pub support_level: Option<String>,
    pub rates: RateOverrides,
}

/// How a user is billed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UserBilling {
    /// The effective per-user rate.
    Paid,
    NoCharge,
    /// A fixed monthly amount for this user instead of the per-user rate.
    Custom {
        amount: Decimal,
    },
}

/// Which Codex contacts count as users. Manual users always count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserRule {
    /// Only active contacts (the default; the original billed inactive ones too).
    #[default]
    ActiveOnly,
    /// Every contact, active or not (the original's behaviour).
    AllContacts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactInput {
    /// Codex contact id (stable; overrides are keyed on it).
    pub id: i64,
    pub name: String,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserOverride {
    pub contact_id: i64,
    pub billing: UserBilling,
}

/// A user not in Codex (contractor, shared mailbox billed as a seat…).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManualUser {
    pub id: i64,
    pub name: String,
    pub billing: UserBilling,
}

/// The billing classes a device can fall into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AssetClass {
    Workstation,
    Server,
    #[serde(rename = "VM")]
    Vm,
    Switch,
    Firewall,
    #[serde(rename = "No Charge")]
    NoCharge,
}

impl AssetClass {
    pub const ALL: [AssetClass; 6] = [
        AssetClass::Workstation,
        AssetClass::Server,
        AssetClass::Vm,
        AssetClass::Switch,
        AssetClass::Firewall,
        AssetClass::NoCharge,
    ];

    /// The label the original used (and the invoice shows).
    pub fn label(self) -> &'static str {
        match self {
            AssetClass::Workstation => "Workstation",
            AssetClass::Server => "Server",
            AssetClass::Vm => "VM",
            AssetClass::Switch => "Switch",
            AssetClass::Firewall => "Firewall",
            AssetClass::NoCharge => "No Charge",
        }
    }

    /// Parses the original's stored billing-type text (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|c| c.label().eq_ignore_ascii_case(s))
            .or_else(|| {
                s.eq_ignore_ascii_case("free")
                    .then_some(AssetClass::NoCharge)
            })
    }
}

/// How an overridden or manual asset is billed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AssetBilling {
    /// Billed at the rate of this class (`No Charge` costs nothing).
    Class { class: AssetClass },
    /// A fixed monthly amount for this device.
    Custom { amount: Decimal },
}

/// A Codex asset with the RMM fields classification reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetInput {
    /// Codex asset id (stable across RMM syncs; overrides are keyed on it).
    pub id: i64,
    pub hostname: String,
    /// RMM device category (Codex `hardware_type`: Workstation, Server, ESXi Host…).
    pub rmm_category: Option<String>,
    /// RMM device type (Codex `device_type`).
    pub rmm_type: Option<String>,
    pub operating_system: Option<String>,
    /// Backed-up data in bytes (`None` or 0 = not backed up).
    pub backup_bytes: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetOverride {
    pub asset_id: i64,
    pub billing: AssetBilling,
}

/// A device not in Codex (typically switches and firewalls). No backup data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManualAsset {
    pub id: i64,
    pub hostname: String,
    pub billing: AssetBilling,
}

/// One logged piece of work on a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeEntry {
    pub id: i64,
    pub ticket_number: Option<String>,
    pub minutes: i64,
    pub billable: bool,
    /// When the work was done (stored UTC text or any RFC 3339 / `YYYY-MM-DD`).
    pub executed_at: Option<String>,
}

/// When a custom line item is billed. One fee per item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cadence", rename_all = "snake_case")]
pub enum Cadence {
    /// Every month.
    Monthly { fee: Decimal },
    /// Once, in the given month.
    OneOff { fee: Decimal, year: i32, month: u32 },
    /// Every year in the given month (1-12).
    Yearly { fee: Decimal, month: u32 },
}

impl Cadence {
    /// Reads the original's column layout (monthly_fee, one_off_fee/year/month,
    /// yearly_fee/bill_month) with its precedence: monthly, then one-off, then yearly.
    /// `None` when no fee is set.
    pub fn from_columns(
        monthly_fee: Option<Decimal>,
        one_off: Option<(Decimal, i32, u32)>,
        yearly: Option<(Decimal, u32)>,
    ) -> Option<Self> {
        if let Some(fee) = monthly_fee {
            return Some(Cadence::Monthly { fee });
        }
        if let Some((fee, year, month)) = one_off {
            return Some(Cadence::OneOff { fee, year, month });
        }
        yearly.map(|(fee, month)| Cadence::Yearly { fee, month })
    }

    /// The label the original printed next to the item name.
    pub fn label(&self) -> &'static str {
        match self {
            Cadence::Monthly { .. } => "Recurring",
            Cadence::OneOff { .. } => "One-Off",
            Cadence::Yearly { .. } => "Yearly",
        }
    }

    /// The fee billed in `period`, if this item is due then.
    pub fn fee_in(&self, period: BillingPeriod) -> Option<Decimal> {
        match *self {
            Cadence::Monthly { fee } => Some(fee),
            Cadence::OneOff { fee, year, month } => {
                (year == period.year && month == period.month).then_some(fee)
            }
            Cadence::Yearly { fee, month } => (month == period.month).then_some(fee),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomLineItem {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    #[serde(flatten)]
    pub cadence: Cadence,
}

/// Everything one company's bill for one month is computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillInputs {
    pub period: BillingPeriod,
    pub company: CompanyInfo,
    /// The plan the loader matched for `engine::plan_key` (None when none exists). The
    /// engine checks it really matches, so a wrong plan can never price a bill.
    pub plan: Option<PlanRates>,
    pub overrides: ClientOverrides,
    pub user_rule: UserRule,
    pub contacts: Vec<ContactInput>,
    pub user_overrides: Vec<UserOverride>,
    pub manual_users: Vec<ManualUser>,
    pub assets: Vec<AssetInput>,
    pub asset_overrides: Vec<AssetOverride>,
    pub manual_assets: Vec<ManualAsset>,
    /// The classification table in force (`classify::default_rules()` unless edited).
    pub classification: Vec<crate::ledger::classify::ClassRule>,
    /// Time entries; those outside the billing month are ignored.
    pub time_entries: Vec<TimeEntry>,
    /// Minutes of the yearly prepaid pool already used by earlier months of the same
    /// calendar year (`engine::yearly_pool_used_before`, or the previous bill's
    /// `hours.pool_used_after_minutes`). 0 in January.
    pub yearly_pool_used_minutes: Decimal,
    pub line_items: Vec<CustomLineItem>,
}

/// What a line is for; also the invoice row group, in invoice order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineCategory {
    User,
    Asset,
    Backup,
    Hours,
    Custom,
}

/// Where a line's price came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Plan,
    ClientOverride,
    AssetOverride,
    UserOverride,
    Manual,
    CustomItem,
    TimeEntry,
}

/// One priced line. Invariant: `amount == (quantity × rate).round_dp(2)`, half to even.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub category: LineCategory,
    /// Codex or Ledger id of what the line is about (asset, contact, manual row, item).
    pub ref_id: Option<i64>,
    /// Hostname, user name or item name.
    pub name: String,
    /// Billing type shown in brackets on the invoice (Paid, Workstation, Recurring…).
    pub kind: String,
    pub description: String,
    pub quantity: Decimal,
    pub rate: Decimal,
    pub amount: Decimal,
    pub source: Source,
    /// The rule that put this line here, in words.
    pub rule: String,
}

/// Per-category sums of the rounded line amounts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Totals {
    pub users: Decimal,
    pub assets: Decimal,
    pub backup: Decimal,
    pub hours: Decimal,
    pub line_items: Decimal,
    /// Sum of every line amount (equal to the sum of the fields above).
    pub total: Decimal,
}

/// Head counts for dashboards (zero-cost entries included).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counts {
    pub workstations: u32,
    pub servers: u32,
    pub vms: u32,
    pub switches: u32,
    pub firewalls: u32,
    pub no_charge_assets: u32,
    pub custom_assets: u32,
    pub paid_users: u32,
    pub no_charge_users: u32,
    pub custom_users: u32,
    /// Contacts left out by the user rule (inactive).
    pub excluded_contacts: u32,
}

/// How the month's hours were covered. All in minutes so nothing is lost to 1/60.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HoursSummary {
    /// Billable minutes logged in the month (sum of entries, floored at 0).
    pub logged_minutes: Decimal,
    pub monthly_allowance_minutes: Decimal,
    pub covered_by_monthly_minutes: Decimal,
    pub pool_minutes: Decimal,
    pub pool_remaining_before_minutes: Decimal,
    pub covered_by_pool_minutes: Decimal,
    /// Pool used by this and earlier months: the next month's `yearly_pool_used_minutes`
    /// (December's value is not carried: the pool resets every calendar year).
    pub pool_used_after_minutes: Decimal,
    pub billable_minutes: Decimal,
    /// `billable_minutes / 60` rounded to 0.01 h (half to even): the invoice quantity.
    pub billed_hours: Decimal,
    /// Ids of the time entries counted in the month.
    pub entry_ids: Vec<i64>,
    /// The same entries summed per ticket (the original's tickets_for_billing_period).
    pub tickets: Vec<TicketMinutes>,
}

/// Minutes logged on one ticket in the billing month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketMinutes {
    pub ticket_number: Option<String>,
    pub minutes: i64,
    pub entries: u32,
}

/// How the backup charge was built.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BackupSummary {
    pub total_bytes: i64,
    /// `total_bytes / 2^40` rounded to 0.01 TB, half to even.
    pub total_tb: Decimal,
    pub backed_up_workstations: u32,
    pub backed_up_servers: u32,
    pub included_tb: Decimal,
    pub overage_tb: Decimal,
}

/// The plan the bill was priced with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanUsed {
    pub plan_name: String,
    pub term_length: String,
    pub support_level: Option<String>,
    /// Effective rates after client overrides.
    pub rates: Rates,
    /// Names of the rates taken from the client override instead of the plan.
    pub overridden: Vec<String>,
}

/// A company's bill for a month: every line, the totals and how they were reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bill {
    pub company_id: i64,
    pub account_number: String,
    pub company_name: String,
    pub period: BillingPeriod,
    pub plan: Option<PlanUsed>,
    pub lines: Vec<Line>,
    pub totals: Totals,
    pub counts: Counts,
    pub hours: HoursSummary,
    pub backup: BackupSummary,
    /// Why no bill could be priced (no plan, bad period). A bill with an error has no
    /// lines and must not be invoiced or accepted, but it is still listed.
    pub error: Option<String>,
    pub warnings: Vec<String>,
}

impl Bill {
    /// True when the bill was priced and may be invoiced.
    pub fn is_billable(&self) -> bool {
        self.error.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_know_their_bounds() {
        let dec = BillingPeriod::new(2025, 12).unwrap();
        assert_eq!(dec.to_string(), "2025-12");
        assert_eq!(dec.next(), BillingPeriod::new(2026, 1));
        assert_eq!(dec.last_day().unwrap().to_string(), "2025-12-31");
        let (start, end) = BillingPeriod::new(2024, 2).unwrap().window().unwrap();
        assert_eq!(crate::time::to_db(start), "2024-02-01T00:00:00.000000Z");
        assert_eq!(crate::time::to_db(end), "2024-03-01T00:00:00.000000Z");
        assert_eq!(BillingPeriod::of(end), BillingPeriod::new(2024, 3).unwrap());
        assert!(BillingPeriod::new(2025, 0).is_none());
        assert!(BillingPeriod::new(2025, 13).is_none());
    }

    #[test]
    fn stored_billing_types_parse() {
        assert_eq!(AssetClass::parse(" vm "), Some(AssetClass::Vm));
        assert_eq!(AssetClass::parse("No Charge"), Some(AssetClass::NoCharge));
        assert_eq!(AssetClass::parse("Free"), Some(AssetClass::NoCharge));
        assert_eq!(AssetClass::parse("Printer"), None);
        assert_eq!(
            serde_json::to_string(&AssetClass::NoCharge).unwrap(),
            "\"No Charge\""
        );
    }
}
