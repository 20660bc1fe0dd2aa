//! Property tests over random companies: the invariants every bill must keep whatever
//! the data (totals are sums of rounded lines, amounts have cents only, the invoice CSV
//! adds up to the bill, stored inputs reproduce the same bill).

use super::engine::{compute_bill, BYTES_PER_TB};
use super::examples::blank;
use super::invoice::{invoice_csv, invoice_summary, quickbooks_csv};
use super::model::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use rust_decimal::Decimal;

/// Money-like values with 0 to 3 decimals (3 to exercise half-to-even rounding).
fn money() -> impl Strategy<Value = Decimal> {
    (0i64..200_000, 0u32..=3).prop_map(|(n, scale)| Decimal::new(n, scale))
}

fn signed_money() -> impl Strategy<Value = Decimal> {
    (-50_000i64..200_000, 0u32..=3).prop_map(|(n, scale)| Decimal::new(n, scale))
}

fn hours() -> impl Strategy<Value = Decimal> {
    (0i64..4_000, 0u32..=2).prop_map(|(n, scale)| Decimal::new(n, scale))
}

prop_compose! {
    fn rates()(
        m in vec(money(), 10),
        (included, monthly, yearly) in (hours(), hours(), hours()),
    ) -> Rates {
        Rates {
            per_user: m[0], per_workstation: m[1], per_server: m[2], per_vm: m[3],
            per_switch: m[4], per_firewall: m[5], per_hour: m[6],
            backup_base_workstation: m[7], backup_base_server: m[8],
            backup_included_tb: included, backup_per_tb: m[9],
            prepaid_hours_monthly: monthly, prepaid_hours_yearly: yearly,
        }
    }
}

prop_compose! {
    fn rate_overrides()(o in vec(option::of(money()), 13)) -> RateOverrides {
        RateOverrides {
            per_user: o[0], per_workstation: o[1], per_server: o[2], per_vm: o[3],
            per_switch: o[4], per_firewall: o[5], per_hour: o[6],
            backup_base_workstation: o[7], backup_base_server: o[8],
            backup_included_tb: o[9], backup_per_tb: o[10],
            prepaid_hours_monthly: o[11].map(|v| v / Decimal::ONE_HUNDRED),
            prepaid_hours_yearly: o[12].map(|v| v / Decimal::ONE_HUNDRED),
        }
    }
}

fn user_billing() -> impl Strategy<Value = UserBilling> {
    prop_oneof![
        Just(UserBilling::Paid),
        Just(UserBilling::NoCharge),
        signed_money().prop_map(|amount| UserBilling::Custom { amount }),
    ]
}

fn asset_billing() -> impl Strategy<Value = AssetBilling> {
    prop_oneof![
        proptest::sample::select(AssetClass::ALL.to_vec())
            .prop_map(|class| AssetBilling::Class { class }),
        signed_money().prop_map(|amount| AssetBilling::Custom { amount }),
    ]
}

const CATEGORIES: [&str; 9] = [
    "Workstation",
    "Laptop",
    "Server",
    "ESXI Host",
    "Virtual Machine",
    "Network Device",
    "Printer",
    "Mobile Device",
    "Unknown",
];

prop_compose! {
    fn asset()(
        category in option::of(proptest::sample::select(CATEGORIES.to_vec())),
        rmm_type in option::of(proptest::sample::select(vec!["Firewall", "Switch", "AP"])),
        os in option::of(proptest::sample::select(vec!["Windows 11", "Windows Server 2022", "VMware ESXi 8"])),
        backup in option::of(0i64..(5 * BYTES_PER_TB)),
    ) -> AssetInput {
        AssetInput {
            id: 0,
            hostname: String::new(),
            rmm_category: category.map(Into::into),
            rmm_type: rmm_type.map(Into::into),
            operating_system: os.map(Into::into),
            backup_bytes: backup,
        }
    }
}

fn cadence() -> impl Strategy<Value = Cadence> {
    prop_oneof![
        signed_money().prop_map(|fee| Cadence::Monthly { fee }),
        (signed_money(), 2024i32..=2026, 1u32..=12)
            .prop_map(|(fee, year, month)| Cadence::OneOff { fee, year, month }),
        (signed_money(), 1u32..=12).prop_map(|(fee, month)| Cadence::Yearly { fee, month }),
    ]
}

prop_compose! {
    fn time_entry()(
        id in 0i64..10_000,
        minutes in -30i64..900,
        billable in any::<bool>(),
        (month, day, hour) in (1u32..=12, 1u32..=28, 0u32..24),
    ) -> TimeEntry {
        TimeEntry {
            id,
            ticket_number: None,
            minutes,
            billable,
            executed_at: Some(format!("2025-{month:02}-{day:02}T{hour:02}:00:00Z")),
        }
    }
}

prop_compose! {
    fn inputs()(
        month in 1u32..=12,
        plan_rates in rates(),
        overrides in rate_overrides(),
        contacts in vec((any::<bool>(), option::of(user_billing())), 0..8),
        manual_users in vec(user_billing(), 0..3),
        assets in vec((asset(), option::of(asset_billing())), 0..8),
        manual_assets in vec(asset_billing(), 0..3),
        time_entries in vec(time_entry(), 0..12),
        pool_used in 0i64..3_000,
        items in vec(cadence(), 0..4),
    ) -> BillInputs {
        let mut i = blank(2025, month);
        i.plan.as_mut().unwrap().rates = plan_rates;
        i.overrides.rates = overrides;
        for (n, (active, ov)) in contacts.into_iter().enumerate() {
            let id = n as i64 + 1;
            i.contacts.push(ContactInput { id, name: format!("User {id}"), active });
            if let Some(billing) = ov {
                i.user_overrides.push(UserOverride { contact_id: id, billing });
            }
        }
        i.manual_users = manual_users.into_iter().enumerate()
            .map(|(n, billing)| ManualUser { id: n as i64, name: format!("Manual {n}"), billing })
            .collect();
        for (n, (mut a, ov)) in assets.into_iter().enumerate() {
            a.id = n as i64 + 1;
            a.hostname = format!("HOST-{}", a.id);
            if let Some(billing) = ov {
                i.asset_overrides.push(AssetOverride { asset_id: a.id, billing });
            }
            i.assets.push(a);
        }
        i.manual_assets = manual_assets.into_iter().enumerate()
            .map(|(n, billing)| ManualAsset { id: n as i64, hostname: format!("M-{n}"), billing })
            .collect();
        i.time_entries = time_entries;
        i.yearly_pool_used_minutes = Decimal::from(pool_used);
        i.line_items = items.into_iter().enumerate()
            .map(|(n, cadence)| CustomLineItem { id: n as i64, name: format!("Item, {n}"), description: None, cadence })
            .collect();
        i
    }
}

/// Splits one CSV record (the format `invoice_csv` writes) into fields.
fn parse_record(line: &str) -> Vec<String> {
    let (mut fields, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// Every record of a CSV document, each checked to have the nine columns.
fn csv_records(csv: &str) -> Vec<Vec<String>> {
    assert!(csv.ends_with("\r\n"));
    let records: Vec<Vec<String>> = csv
        .trim_end_matches("\r\n")
        .split("\r\n")
        .map(parse_record)
        .collect();
    assert!(records.iter().all(|r| r.len() == 9), "{csv}");
    records
}

proptest! {
    #[test]
    fn total_is_the_sum_of_rounded_lines(i in inputs()) {
        let bill = compute_bill(&i);
        prop_assert!(bill.is_billable());
        let sum: Decimal = bill.lines.iter().map(|l| l.amount).sum();
        prop_assert_eq!(bill.totals.total, sum);
        let t = &bill.totals;
        prop_assert_eq!(t.total, t.users + t.assets + t.backup + t.hours + t.line_items);
    }

    #[test]
    fn every_amount_is_whole_cents_of_quantity_times_rate(i in inputs()) {
        let bill = compute_bill(&i);
        for l in &bill.lines {
            prop_assert_eq!(l.amount.scale(), 2, "{:?}", l);
            prop_assert_eq!(l.amount, (l.quantity * l.rate).round_dp(2), "{:?}", l);
        }
        prop_assert_eq!(bill.totals.total.scale(), 2);
    }

    #[test]
    fn csv_adds_up_to_the_bill(i in inputs()) {
        let bill = compute_bill(&i);
        let records = csv_records(&invoice_csv(&bill).unwrap());
        let amounts: Decimal = records[1..].iter().map(|r| r[8].parse::<Decimal>().unwrap()).sum();
        prop_assert_eq!(amounts, bill.totals.total);
        let summary = invoice_summary(&bill, false).unwrap();
        prop_assert_eq!(summary.total_lines, records.len() - 1);
        prop_assert_eq!(summary.total_amount, bill.totals.total);
        let records = csv_records(&quickbooks_csv(&bill).unwrap());
        let amounts: Decimal = records[1..].iter().map(|r| r[8].parse::<Decimal>().unwrap()).sum();
        prop_assert_eq!(amounts, bill.totals.total);
    }

    #[test]
    fn hours_are_fully_accounted_for(i in inputs()) {
        let h = compute_bill(&i).hours;
        prop_assert_eq!(
            h.covered_by_monthly_minutes + h.covered_by_pool_minutes + h.billable_minutes,
            h.logged_minutes
        );
        prop_assert!(h.billable_minutes >= Decimal::ZERO);
        prop_assert!(h.covered_by_pool_minutes <= h.pool_remaining_before_minutes);
    }

    #[test]
    fn stored_inputs_reproduce_the_same_bill(i in inputs()) {
        let json = serde_json::to_string(&i).unwrap();
        let restored: BillInputs = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(compute_bill(&restored), compute_bill(&i));
    }
}
