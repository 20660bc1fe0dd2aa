//! The bill computation: one pure function from `BillInputs` to `Bill`.
//!
//! Rules, stated once:
//! - Rates: a client override (when enabled) beats the plan; the plan is matched on
//!   name (trimmed, case-insensitive) and normalised term ("1-Year" = "1 Year"; an empty
//!   term is "Month to Month"). No plan → a `Bill` with `error`, never a dropped company.
//! - Every line is `quantity × rate` rounded to cents with `round_dp(2)`, i.e. half to
//!   even (banker's rounding: 0.125 → 0.12, 0.135 → 0.14). Totals are sums of rounded
//!   lines, so the invoice rows always add up to the total.
//! - Hours are billed in the UTC month the work was executed; the monthly prepaid
//!   allowance is used first, then the calendar-year pool, then the hourly rate. Billed
//!   hours are rounded to 0.01 h (half to even) before pricing.
//! - Backup: stored TB = Σ bytes / 2^40 rounded to 0.01 TB (half to even); each
//!   backed-up workstation / server / VM adds its base fee and the included TB; the TB
//!   above the included amount is billed per TB. Devices priced Custom or No Charge
//!   add their stored bytes but no base fee and no included TB (they have no backup
//!   class); manual assets have no backup data.
//! - Arithmetic is exact `Decimal`; it could only overflow far beyond any value that
//!   fits the database's i64 cents.

use super::classify::classify;
use super::model::*;
use crate::codex::companies::normalize_term;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::{HashMap, HashSet};

/// One terabyte as the RMM reports it (a tebibyte, 2^40 bytes), as in the original.
pub const BYTES_PER_TB: i64 = 1 << 40;

/// `Line::kind` of the backup overage line (base-fee lines carry the device class).
pub const OVERAGE_KIND: &str = "Overage";

const MINUTES_PER_HOUR: Decimal = Decimal::from_parts(60, 0, 0, false, 0);

/// The plan a company is billed on: the override's plan/term where set, else Codex's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanKey {
    pub name: String,
    /// Canonical term (`normalize_term`) or, for a term it does not know, the trimmed text.
    pub term: String,
}

impl PlanKey {
    pub fn matches(&self, plan: &PlanRates) -> bool {
        plan.plan_name.trim().eq_ignore_ascii_case(&self.name)
            && canonical_term(&plan.term_length) == self.term
    }
}

/// "1-Year", "1 year", "12 months" → "1 Year"; empty → "Month to Month"; unknown terms
/// are kept as written (trimmed) so they can still match a plan spelled the same way.
pub fn canonical_term(raw: &str) -> String {
    let raw = raw.trim();
    if raw.is_empty() {
        return "Month to Month".to_string();
    }
    normalize_term(raw).map_or_else(|| raw.to_string(), str::to_string)
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The plan name and term to look up; `None` when the company has no plan at all.
pub fn plan_key(company: &CompanyInfo, overrides: &ClientOverrides) -> Option<PlanKey> {
    let name = non_empty(&overrides.billing_plan).or(non_empty(&company.billing_plan))?;
    let term = non_empty(&overrides.contract_term)
        .or(non_empty(&company.contract_term))
        .unwrap_or("");
    Some(PlanKey {
        name: name.to_string(),
        term: canonical_term(term),
    })
}

/// Finds the plan for `key` in a plan list (the loader calls this once per company
/// against the plan list it read once).
pub fn find_plan<'a>(plans: &'a [PlanRates], key: &PlanKey) -> Option<&'a PlanRates> {
    plans.iter().find(|p| key.matches(p))
}

/// Plan rates overlaid with the enabled client overrides, plus the names overridden.
pub fn effective_rates(plan: &Rates, ov: &RateOverrides) -> (Rates, Vec<String>) {
    let mut rates = plan.clone();
    let mut names = Vec::new();
    macro_rules! overlay {
        ($($field:ident),*) => {$(
            if let Some(v) = ov.$field {
                rates.$field = v;
                names.push(stringify!($field).to_string());
            }
        )*};
    }
    overlay!(
        per_user,
        per_workstation,
        per_server,
        per_vm,
        per_switch,
        per_firewall,
        per_hour,
        backup_base_workstation,
        backup_base_server,
        backup_included_tb,
        backup_per_tb,
        prepaid_hours_monthly,
        prepaid_hours_yearly
    );
    (rates, names)
}

/// Computes a company's bill for the month. Odd data never makes a company vanish:
/// problems become `error` (nothing can be priced) or `warnings` (priced, but look).
pub fn compute_bill(inputs: &BillInputs) -> Bill {
    let mut bill = empty_bill(inputs);
    let plan = match priced_plan(inputs) {
        Ok(plan) => plan,
        Err(e) => {
            bill.error = Some(e);
            return bill;
        }
    };
    let mut b = Builder {
        rates: &plan.rates,
        overridden: plan.overridden.iter().map(String::as_str).collect(),
        bill: &mut bill,
    };
    b.users(inputs);
    b.assets(inputs);
    b.hours(inputs);
    b.line_items(inputs);
    bill.totals = totals(&bill.lines);
    bill.plan = Some(plan);
    bill
}

fn empty_bill(inputs: &BillInputs) -> Bill {
    Bill {
        company_id: inputs.company.id,
        account_number: inputs.company.account_number.clone(),
        company_name: inputs.company.name.clone(),
        period: inputs.period,
        plan: None,
        lines: Vec::new(),
        totals: totals(&[]),
        counts: Counts::default(),
        hours: HoursSummary::default(),
        backup: BackupSummary::default(),
        error: None,
        warnings: Vec::new(),
    }
}

fn priced_plan(inputs: &BillInputs) -> Result<PlanUsed, String> {
    let p = inputs.period;
    if BillingPeriod::new(p.year, p.month).is_none() {
        return Err(format!("invalid billing period {p}"));
    }
    let key = plan_key(&inputs.company, &inputs.overrides)
        .ok_or_else(|| "company has no billing plan".to_string())?;
    let plan = inputs
        .plan
        .as_ref()
        .filter(|plan| key.matches(plan))
        .ok_or_else(|| format!("no billing plan \"{}\" for term \"{}\"", key.name, key.term))?;
    let (rates, overridden) = effective_rates(&plan.rates, &inputs.overrides.rates);
    let support_level = non_empty(&inputs.overrides.support_level)
        .map(str::to_string)
        .or_else(|| plan.support_level.clone());
    Ok(PlanUsed {
        plan_name: plan.plan_name.clone(),
        term_length: key.term,
        support_level,
        rates,
        overridden,
    })
}

/// Rounds to cents, half to even, and shows two decimals (`90` → `90.00`) so every
/// amount serialises the same way.
pub fn cents(amount: Decimal) -> Decimal {
    let mut a = amount.round_dp(2);
    a.rescale(2);
    a
}

/// Sums rounded line amounts per category; `total` is the sum of all lines.
pub fn totals(lines: &[Line]) -> Totals {
    let zero = cents(Decimal::ZERO);
    let mut t = Totals {
        users: zero,
        assets: zero,
        backup: zero,
        hours: zero,
        line_items: zero,
        total: zero,
    };
    for l in lines {
        let slot = match l.category {
            LineCategory::User => &mut t.users,
            LineCategory::Asset => &mut t.assets,
            LineCategory::Backup => &mut t.backup,
            LineCategory::Hours => &mut t.hours,
            LineCategory::Custom => &mut t.line_items,
        };
        *slot += l.amount;
        t.total += l.amount;
    }
    t
}

/// The price part of a line; `amount` is derived from it.
struct Price {
    quantity: Decimal,
    rate: Decimal,
    source: Source,
    rule: String,
}

/// Who a line is about: category, id, name and the bracketed billing type.
struct Subject<'a> {
    category: LineCategory,
    ref_id: Option<i64>,
    name: &'a str,
    kind: &'a str,
}

fn make_line(who: Subject<'_>, description: String, price: Price) -> Line {
    Line {
        category: who.category,
        ref_id: who.ref_id,
        name: who.name.to_string(),
        kind: who.kind.to_string(),
        description,
        amount: cents(price.quantity * price.rate),
        quantity: price.quantity,
        rate: price.rate,
        source: price.source,
        rule: price.rule,
    }
}

struct Builder<'a> {
    rates: &'a Rates,
    overridden: HashSet<&'a str>,
    bill: &'a mut Bill,
}

impl Builder<'_> {
    /// Value of a named rate and whether it came from the plan or the client override.
    fn rate(&self, name: &'static str, value: Decimal) -> (Decimal, Source, String) {
        if self.overridden.contains(name) {
            (
                value,
                Source::ClientOverride,
                format!("{name} from client override"),
            )
        } else {
            (value, Source::Plan, format!("{name} from plan"))
        }
    }

    fn warn(&mut self, w: String) {
        self.bill.warnings.push(w);
    }

    fn push(&mut self, line: Line) {
        self.bill.lines.push(line);
    }

    fn users(&mut self, inputs: &BillInputs) {
        let overrides = first_by_key(&inputs.user_overrides, |o| o.contact_id);
        let mut seen = HashSet::new();
        for c in &inputs.contacts {
            seen.insert(c.id);
            let ov = overrides.get(&c.id).map(|o| &o.billing);
            if !c.active && inputs.user_rule == UserRule::ActiveOnly {
                self.bill.counts.excluded_contacts += 1;
                if ov.is_some() {
                    self.warn(format!(
                        "contact {} (#{}) is inactive and not billed; its user override is ignored",
                        c.name, c.id
                    ));
                }
                continue;
            }
            let who = if c.active {
                "active contact"
            } else {
                "inactive contact (all contacts billed)"
            };
            match ov {
                Some(b) => self.user_line(
                    c.id,
                    &c.name,
                    b,
                    Some(Source::UserOverride),
                    &format!("{who}, per-user override"),
                ),
                None => self.user_line(c.id, &c.name, &UserBilling::Paid, None, who),
            }
        }
        for m in &inputs.manual_users {
            self.user_line(
                m.id,
                &m.name,
                &m.billing,
                Some(Source::Manual),
                "manual user",
            );
        }
        let ids = inputs.user_overrides.iter().map(|o| o.contact_id);
        self.warn_orphans(ids, &seen, "user override for contact");
    }

    /// An override whose row is not among the company's is reported, never silently
    /// dropped (the original orphaned them whenever a sync re-created rows).
    fn warn_orphans(&mut self, ids: impl Iterator<Item = i64>, known: &HashSet<i64>, what: &str) {
        for id in ids.filter(|id| !known.contains(id)) {
            self.warn(format!(
                "{what} #{id} matches nothing of this company; ignored"
            ));
        }
    }

    /// `source` is the override/manual origin; `None` means "priced by the rate".
    fn user_line(
        &mut self,
        id: i64,
        name: &str,
        billing: &UserBilling,
        source: Option<Source>,
        who: &str,
    ) {
        let (kind, rate, rate_source, how) = match billing {
            UserBilling::Paid => {
                let (r, s, why) = self.rate("per_user", self.rates.per_user);
                ("Paid", r, s, format!("Paid at {why}"))
            }
            UserBilling::NoCharge => (
                "No Charge",
                Decimal::ZERO,
                Source::Plan,
                "No Charge".to_string(),
            ),
            UserBilling::Custom { amount } => {
                ("Custom", *amount, Source::Plan, "Custom amount".to_string())
            }
        };
        let counts = &mut self.bill.counts;
        match billing {
            UserBilling::Paid => counts.paid_users += 1,
            UserBilling::NoCharge => counts.no_charge_users += 1,
            UserBilling::Custom { .. } => counts.custom_users += 1,
        }
        let who_subject = Subject {
            category: LineCategory::User,
            ref_id: Some(id),
            name,
            kind,
        };
        let price = Price {
            quantity: Decimal::ONE,
            rate,
            source: source.unwrap_or(rate_source),
            rule: format!("{who}: {how}"),
        };
        self.push(make_line(
            who_subject,
            format!("User: {name} ({kind})"),
            price,
        ));
    }

    fn assets(&mut self, inputs: &BillInputs) {
        let overrides = first_by_key(&inputs.asset_overrides, |o| o.asset_id);
        let mut backup = BackupTally::default();
        for a in &inputs.assets {
            let (billing, source, rule) = match overrides.get(&a.id) {
                Some(o) => (
                    o.billing.clone(),
                    Some(Source::AssetOverride),
                    "per-asset override".to_string(),
                ),
                None => {
                    let c = classify(a, &inputs.classification);
                    if c.by_default {
                        self.warn(format!(
                            "asset {} (#{}) matched no classification rule (category {}); billed as {} by default",
                            a.hostname,
                            a.id,
                            a.rmm_category.as_deref().unwrap_or("none"),
                            c.class.label()
                        ));
                    }
                    (AssetBilling::Class { class: c.class }, None, c.rule)
                }
            };
            backup.add(a.backup_bytes.unwrap_or(0), &billing);
            self.asset_line(a.id, &a.hostname, &billing, source, rule);
        }
        for m in &inputs.manual_assets {
            self.asset_line(
                m.id,
                &m.hostname,
                &m.billing,
                Some(Source::Manual),
                "manual asset".into(),
            );
        }
        let known: HashSet<i64> = inputs.assets.iter().map(|a| a.id).collect();
        let ids = inputs.asset_overrides.iter().map(|o| o.asset_id);
        self.warn_orphans(ids, &known, "asset override for asset");
        self.backup(backup);
    }

    fn class_rate(&self, class: AssetClass) -> (Decimal, Source, String) {
        let r = self.rates;
        match class {
            AssetClass::Workstation => self.rate("per_workstation", r.per_workstation),
            AssetClass::Server => self.rate("per_server", r.per_server),
            AssetClass::Vm => self.rate("per_vm", r.per_vm),
            AssetClass::Switch => self.rate("per_switch", r.per_switch),
            AssetClass::Firewall => self.rate("per_firewall", r.per_firewall),
            AssetClass::NoCharge => (Decimal::ZERO, Source::Plan, "no charge".to_string()),
        }
    }

    fn asset_line(
        &mut self,
        id: i64,
        hostname: &str,
        billing: &AssetBilling,
        source: Option<Source>,
        why: String,
    ) {
        let (kind, rate, rate_source, how) = match billing {
            AssetBilling::Class { class } => {
                self.count_class(*class);
                let (r, s, how) = self.class_rate(*class);
                (class.label(), r, s, how)
            }
            AssetBilling::Custom { amount } => {
                self.bill.counts.custom_assets += 1;
                ("Custom", *amount, Source::Plan, "Custom amount".to_string())
            }
        };
        let who = Subject {
            category: LineCategory::Asset,
            ref_id: Some(id),
            name: hostname,
            kind,
        };
        let price = Price {
            quantity: Decimal::ONE,
            rate,
            source: source.unwrap_or(rate_source),
            rule: format!("{why}: {kind}, {how}"),
        };
        self.push(make_line(who, format!("Asset: {hostname} ({kind})"), price));
    }

    fn count_class(&mut self, class: AssetClass) {
        let c = &mut self.bill.counts;
        match class {
            AssetClass::Workstation => c.workstations += 1,
            AssetClass::Server => c.servers += 1,
            AssetClass::Vm => c.vms += 1,
            AssetClass::Switch => c.switches += 1,
            AssetClass::Firewall => c.firewalls += 1,
            AssetClass::NoCharge => c.no_charge_assets += 1,
        }
    }

    fn backup(&mut self, tally: BackupTally) {
        let r = self.rates;
        let total_tb = (Decimal::from(tally.bytes) / Decimal::from(BYTES_PER_TB)).round_dp(2);
        let devices = tally.workstations + tally.servers;
        let included_tb = Decimal::from(devices) * r.backup_included_tb;
        let overage_tb = (total_tb - included_tb).max(Decimal::ZERO);
        self.bill.backup = BackupSummary {
            total_bytes: i64::try_from(tally.bytes).unwrap_or(i64::MAX),
            total_tb,
            backed_up_workstations: tally.workstations,
            backed_up_servers: tally.servers,
            included_tb,
            overage_tb,
        };
        let base = [
            (
                tally.workstations,
                "backup_base_workstation",
                r.backup_base_workstation,
                "Workstation",
            ),
            (
                tally.servers,
                "backup_base_server",
                r.backup_base_server,
                "Server",
            ),
        ];
        for (count, name, value, label) in base {
            if count > 0 {
                let (rate, source, why) = self.rate(name, value);
                let rule = format!(
                    "{count} backed-up {} × base fee ({why})",
                    label.to_lowercase()
                );
                self.backup_line(
                    label,
                    format!("{label} Backup Base"),
                    Price {
                        quantity: count.into(),
                        rate,
                        source,
                        rule,
                    },
                );
            }
        }
        if overage_tb > Decimal::ZERO {
            let (rate, source, why) = self.rate("backup_per_tb", r.backup_per_tb);
            let rule = format!(
                "{total_tb} TB stored − {included_tb} TB included ({devices} devices × {} TB) = {overage_tb} TB × {why}",
                r.backup_included_tb
            );
            self.backup_line(
                OVERAGE_KIND,
                format!("Overage: {overage_tb:.2} TB"),
                Price {
                    quantity: overage_tb,
                    rate,
                    source,
                    rule,
                },
            );
        }
    }

    fn backup_line(&mut self, kind: &str, description: String, price: Price) {
        let who = Subject {
            category: LineCategory::Backup,
            ref_id: None,
            name: "Backup Services",
            kind,
        };
        self.push(make_line(who, description, price));
    }

    fn hours(&mut self, inputs: &BillInputs) {
        let month = month_entries(&inputs.time_entries, inputs.period);
        self.bill.warnings.extend(month.warnings);
        let mut h = consume(
            month.minutes,
            self.rates.prepaid_hours_monthly,
            self.rates.prepaid_hours_yearly,
            inputs.yearly_pool_used_minutes,
        );
        h.entry_ids = month.ids;
        h.tickets = month.tickets;
        if h.billed_hours > Decimal::ZERO {
            let (rate, _, why) = self.rate("per_hour", self.rates.per_hour);
            let rule = format!(
                "{} min logged in {} − {} min monthly prepaid − {} min from the yearly pool = {} min, at {why}",
                h.logged_minutes, inputs.period, h.covered_by_monthly_minutes, h.covered_by_pool_minutes, h.billable_minutes
            );
            let who = Subject {
                category: LineCategory::Hours,
                ref_id: None,
                name: "Hourly Labor",
                kind: "Hourly",
            };
            let description = format!("Billable Hours ({:.2} hrs)", h.billed_hours);
            let price = Price {
                quantity: h.billed_hours,
                rate,
                source: Source::TimeEntry,
                rule,
            };
            self.push(make_line(who, description, price));
        }
        self.bill.hours = h;
    }

    fn line_items(&mut self, inputs: &BillInputs) {
        for item in &inputs.line_items {
            if let Some(w) = cadence_problem(item) {
                self.warn(w);
            }
            let Some(fee) = item.cadence.fee_in(inputs.period) else {
                continue;
            };
            let kind = item.cadence.label();
            let rule = match &item.cadence {
                Cadence::Monthly { .. } => "custom item, billed every month".to_string(),
                Cadence::OneOff { year, month, .. } => {
                    format!("custom item, billed once in {year:04}-{month:02}")
                }
                Cadence::Yearly { month, .. } => {
                    format!("custom item, billed every year in month {month}")
                }
            };
            let who = Subject {
                category: LineCategory::Custom,
                ref_id: Some(item.id),
                name: &item.name,
                kind,
            };
            let price = Price {
                quantity: Decimal::ONE,
                rate: fee,
                source: Source::CustomItem,
                rule,
            };
            self.push(make_line(who, format!("{} ({kind})", item.name), price));
        }
    }
}

/// A line item that can never be billed deserves a warning rather than silence.
fn cadence_problem(item: &CustomLineItem) -> Option<String> {
    let month = match item.cadence {
        Cadence::Monthly { .. } => return None,
        Cadence::OneOff { month, .. } | Cadence::Yearly { month, .. } => month,
    };
    (!(1..=12).contains(&month)).then(|| {
        format!(
            "custom item {} (#{}) has month {month}, which is never billed",
            item.name, item.id
        )
    })
}

/// Backed-up bytes and devices, by effective billing class. Custom-priced and
/// no-charge devices add their bytes but no base fee and no included TB (they have no
/// backup class); VMs are backed up as servers, as in the original.
#[derive(Default)]
struct BackupTally {
    bytes: i128,
    workstations: u32,
    servers: u32,
}

impl BackupTally {
    fn add(&mut self, bytes: i64, billing: &AssetBilling) {
        if bytes <= 0 {
            return;
        }
        self.bytes += i128::from(bytes);
        match billing {
            AssetBilling::Class {
                class: AssetClass::Workstation,
            } => self.workstations += 1,
            AssetBilling::Class {
                class: AssetClass::Server | AssetClass::Vm,
            } => self.servers += 1,
            _ => {}
        }
    }
}

fn first_by_key<T, F: Fn(&T) -> i64>(items: &[T], key: F) -> HashMap<i64, &T> {
    let mut map = HashMap::new();
    for item in items {
        map.entry(key(item)).or_insert(item);
    }
    map
}

/// Parses a time entry's execution time; `None` when missing or not a time.
fn executed_at(e: &TimeEntry) -> Option<DateTime<Utc>> {
    let stored = crate::time::normalize_input(e.executed_at.as_deref()?)?;
    crate::time::from_db(&stored)
}

/// The billable entries of one month.
#[derive(Default)]
struct MonthEntries {
    /// Sum of the entries' minutes, floored at 0.
    minutes: Decimal,
    ids: Vec<i64>,
    tickets: Vec<TicketMinutes>,
    /// One per billable entry without a usable time (never silently billed).
    warnings: Vec<String>,
}

fn month_entries(entries: &[TimeEntry], period: BillingPeriod) -> MonthEntries {
    let mut out = MonthEntries::default();
    let Some((start, end)) = period.window() else {
        return out;
    };
    let mut minutes = 0i128;
    for e in entries.iter().filter(|e| e.billable) {
        match executed_at(e) {
            Some(t) if t >= start && t < end => {
                minutes += i128::from(e.minutes);
                out.ids.push(e.id);
                add_ticket_minutes(&mut out.tickets, e);
            }
            Some(_) => {}
            None => out.warnings.push(format!(
                "time entry #{} ({} min) has no valid execution time; not billed",
                e.id, e.minutes
            )),
        }
    }
    out.minutes = Decimal::from_i128_with_scale(minutes.max(0), 0);
    out
}

/// Per-ticket subtotal, tickets in order of first appearance.
fn add_ticket_minutes(tickets: &mut Vec<TicketMinutes>, e: &TimeEntry) {
    match tickets
        .iter_mut()
        .find(|t| t.ticket_number == e.ticket_number)
    {
        Some(t) => {
            t.minutes += e.minutes;
            t.entries += 1;
        }
        None => tickets.push(TicketMinutes {
            ticket_number: e.ticket_number.clone(),
            minutes: e.minutes,
            entries: 1,
        }),
    }
}

/// Applies the monthly allowance, then the yearly pool, to a month's logged minutes.
pub fn consume(
    logged_minutes: Decimal,
    prepaid_monthly_hours: Decimal,
    prepaid_yearly_hours: Decimal,
    pool_used_before_minutes: Decimal,
) -> HoursSummary {
    let zero = Decimal::ZERO;
    let logged = logged_minutes.max(zero);
    let allowance = (prepaid_monthly_hours * MINUTES_PER_HOUR).max(zero);
    let covered_monthly = logged.min(allowance);
    let rest = logged - covered_monthly;
    let pool = (prepaid_yearly_hours * MINUTES_PER_HOUR).max(zero);
    let used_before = pool_used_before_minutes.max(zero);
    let remaining = (pool - used_before).max(zero);
    let covered_pool = rest.min(remaining);
    let billable = rest - covered_pool;
    HoursSummary {
        logged_minutes: logged,
        monthly_allowance_minutes: allowance,
        covered_by_monthly_minutes: covered_monthly,
        pool_minutes: pool,
        pool_remaining_before_minutes: remaining,
        covered_by_pool_minutes: covered_pool,
        pool_used_after_minutes: used_before + covered_pool,
        billable_minutes: billable,
        billed_hours: (billable / MINUTES_PER_HOUR).round_dp(2),
        entry_ids: Vec::new(),
        tickets: Vec::new(),
    }
}

/// Minutes of the yearly pool used by the months of `period.year` before `period`,
/// replaying each month with the given allowances (hours beyond the monthly allowance
/// draw on the pool; the original also charged the pool for hours the monthly
/// allowance had covered). Used when no earlier bill records the figure.
pub fn yearly_pool_used_before(
    entries: &[TimeEntry],
    period: BillingPeriod,
    prepaid_monthly_hours: Decimal,
    prepaid_yearly_hours: Decimal,
) -> Decimal {
    let mut used = Decimal::ZERO;
    for month in 1..period.month {
        let Some(p) = BillingPeriod::new(period.year, month) else {
            continue;
        };
        let logged = month_entries(entries, p).minutes;
        used = consume(logged, prepaid_monthly_hours, prepaid_yearly_hours, used)
            .pool_used_after_minutes;
    }
    used
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn terms_normalise() {
        assert_eq!(canonical_term("1-Year"), "1 Year");
        assert_eq!(canonical_term(" 1 year "), "1 Year");
        assert_eq!(canonical_term(""), "Month to Month");
        assert_eq!(canonical_term("Weird"), "Weird");
    }

    #[test]
    fn consume_uses_monthly_then_pool_then_bills() {
        let h = consume(d("600"), d("2"), d("5"), d("60"));
        assert_eq!(h.covered_by_monthly_minutes, d("120"));
        assert_eq!(h.pool_remaining_before_minutes, d("240"));
        assert_eq!(h.covered_by_pool_minutes, d("240"));
        assert_eq!(h.billable_minutes, d("240"));
        assert_eq!(h.billed_hours, d("4"));
        assert_eq!(h.pool_used_after_minutes, d("300"));
    }

    #[test]
    fn billed_hours_round_half_to_even() {
        // 0.125 h = 7.5 min → 0.12; 0.375 h = 22.5 min → 0.38.
        assert_eq!(
            consume(d("7.5"), d("0"), d("0"), d("0")).billed_hours,
            d("0.12")
        );
        assert_eq!(
            consume(d("22.5"), d("0"), d("0"), d("0")).billed_hours,
            d("0.38")
        );
        assert_eq!(
            consume(d("20"), d("0"), d("0"), d("0")).billed_hours,
            d("0.33")
        );
    }

    #[test]
    fn overused_pool_and_negative_inputs_clamp_at_zero() {
        let h = consume(d("-30"), d("-1"), d("1"), d("500"));
        assert_eq!(h.logged_minutes, d("0"));
        assert_eq!(h.billable_minutes, d("0"));
        assert_eq!(h.pool_remaining_before_minutes, d("0"));
    }
}
