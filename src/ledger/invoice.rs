//! The invoice: number, dates, the nine-column CSV and the summary, all derived from a
//! computed `Bill` (never recomputed separately, which is how the original's JSON and
//! CSV came to disagree).
//!
//! CSV format as the original's: comma separated, CRLF line ends, fields quoted only
//! when they contain a comma, quote, CR or LF; money with exactly two decimals and no
//! currency sign. Row order: users, assets, one backup row, one hourly row, custom
//! items. User and asset rows with a zero amount are left out (No Charge); custom items
//! are always listed. The Amount column therefore adds up to the bill's total exactly.
//! The QuickBooks-style export (`quickbooks_csv`) is built from the same lines.

use super::engine::OVERAGE_KIND;
use super::model::{Bill, BillingPeriod, Line, LineCategory};
use chrono::{Duration, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub const CSV_HEADER: [&str; 9] = [
    "InvoiceNo",
    "Customer",
    "InvoiceDate",
    "DueDate",
    "Item(Product/Service)",
    "Description",
    "Qty",
    "Rate",
    "Amount",
];

/// Days from invoice date to due date.
pub const PAYMENT_TERMS_DAYS: i64 = 30;

/// Why a bill cannot be invoiced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no invoice for {account_number} {period}: {reason}")]
pub struct NoInvoice {
    pub account_number: String,
    pub period: BillingPeriod,
    pub reason: String,
}

/// `<account>-<YYYYMM>`, e.g. `620547-202510`.
pub fn invoice_number(account_number: &str, period: BillingPeriod) -> String {
    format!("{account_number}-{:04}{:02}", period.year, period.month)
}

/// Last day of the billing month.
pub fn invoice_date(period: BillingPeriod) -> Option<NaiveDate> {
    period.last_day()
}

pub fn due_date(period: BillingPeriod) -> Option<NaiveDate> {
    invoice_date(period)?.checked_add_signed(Duration::days(PAYMENT_TERMS_DAYS))
}

/// One invoice row after the common columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRow {
    pub category: LineCategory,
    pub item: String,
    pub description: String,
    pub quantity: Decimal,
    /// Hours or terabytes (shown with two decimals) rather than a count.
    pub measured: bool,
    pub rate: Decimal,
    pub amount: Decimal,
}

/// Everything common to the rows of one invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceHeader {
    pub invoice_number: String,
    pub customer: String,
    pub invoice_date: NaiveDate,
    pub due_date: NaiveDate,
}

fn no_invoice(bill: &Bill, reason: &str) -> NoInvoice {
    NoInvoice {
        account_number: bill.account_number.clone(),
        period: bill.period,
        reason: reason.to_string(),
    }
}

pub fn invoice_header(bill: &Bill) -> Result<InvoiceHeader, NoInvoice> {
    if let Some(e) = &bill.error {
        return Err(no_invoice(bill, e));
    }
    let (Some(invoice_date), Some(due_date)) = (invoice_date(bill.period), due_date(bill.period))
    else {
        return Err(no_invoice(bill, "invalid billing period"));
    };
    let name = bill.company_name.trim();
    Ok(InvoiceHeader {
        invoice_number: invoice_number(&bill.account_number, bill.period),
        customer: if name.is_empty() { "Unknown" } else { name }.to_string(),
        invoice_date,
        due_date,
    })
}

fn row(l: &Line, item: &str) -> InvoiceRow {
    InvoiceRow {
        category: l.category,
        item: item.to_string(),
        description: l.description.clone(),
        quantity: l.quantity,
        measured: l.category == LineCategory::Hours || l.kind == OVERAGE_KIND,
        rate: l.rate,
        amount: l.amount,
    }
}

/// The invoice rows in the original's order (see the module doc for what is left out).
pub fn invoice_rows(bill: &Bill) -> Vec<InvoiceRow> {
    let of = |c: LineCategory| bill.lines.iter().filter(move |l| l.category == c);
    let mut rows = Vec::new();
    for (category, item) in [
        (LineCategory::User, "Managed Services"),
        (LineCategory::Asset, "Managed Services"),
    ] {
        rows.extend(
            of(category)
                .filter(|l| !l.amount.is_zero())
                .map(|l| row(l, item)),
        );
    }
    rows.extend(backup_row(of(LineCategory::Backup).collect()));
    rows.extend(of(LineCategory::Hours).map(|l| row(l, "Hourly Labor")));
    rows.extend(of(LineCategory::Custom).map(|l| row(l, "Custom Charge")));
    rows
}

/// The backup lines folded into the original's single row. Unlike the original, the
/// overage part shows the per-TB rate after "@" (it printed the overage total there).
fn backup_row(lines: Vec<&Line>) -> Option<InvoiceRow> {
    let amount: Decimal = lines.iter().map(|l| l.amount).sum();
    if amount.is_zero() {
        return None;
    }
    let parts: Vec<String> = lines
        .iter()
        .filter(|l| !l.amount.is_zero())
        .map(|l| match l.kind.as_str() {
            k if k == OVERAGE_KIND => {
                format!("Overage: {:.2} TB @ ${}/TB", l.quantity, money(l.rate))
            }
            kind => format!("{kind} Backup Base: ${}", money(l.amount)),
        })
        .collect();
    Some(InvoiceRow {
        category: LineCategory::Backup,
        item: "Backup Services".to_string(),
        description: format!("Backup Services - {}", parts.join(", ")),
        quantity: Decimal::ONE,
        measured: false,
        rate: amount,
        amount,
    })
}

/// Two decimals, half to even (amounts already are; rates may carry more).
pub fn money(d: Decimal) -> String {
    format!("{:.2}", d.round_dp(2))
}

/// Hours and TB show two decimals as in the original; counts are whole numbers.
fn quantity(r: &InvoiceRow) -> String {
    if r.measured || !r.quantity.fract().is_zero() {
        money(r.quantity)
    } else {
        r.quantity.trunc().to_string()
    }
}

/// Quotes a field only when it needs it, doubling inner quotes.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv_record(fields: &[&str]) -> String {
    let mut line = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// The invoice CSV of a bill; an error bill has no invoice.
pub fn invoice_csv(bill: &Bill) -> Result<String, NoInvoice> {
    Ok(csv_document(&invoice_header(bill)?, &invoice_rows(bill)))
}

fn csv_document(h: &InvoiceHeader, rows: &[InvoiceRow]) -> String {
    let (date, due) = (h.invoice_date.to_string(), h.due_date.to_string());
    let mut out = csv_record(&CSV_HEADER);
    for r in rows {
        let (qty, rate, amount) = (quantity(r), money(r.rate), money(r.amount));
        out.push_str(&csv_record(&[
            &h.invoice_number,
            &h.customer,
            &date,
            &due,
            &r.item,
            &r.description,
            &qty,
            &rate,
            &amount,
        ]));
    }
    out
}

/// Rows of the QuickBooks-style export: same columns, but every user and asset (even
/// at $0), backup split into its base-fee and overage rows, custom items as
/// `Custom Services`, then labour if it costs anything. Unlike the original, number
/// and dates come from the billing period, not from the day of the export.
pub fn quickbooks_rows(bill: &Bill) -> Vec<InvoiceRow> {
    let of = |c: LineCategory| bill.lines.iter().filter(move |l| l.category == c);
    let mut rows: Vec<InvoiceRow> = of(LineCategory::User)
        .chain(of(LineCategory::Asset))
        .map(|l| row(l, "Managed Services"))
        .collect();
    rows.extend(of(LineCategory::Backup).map(|l| {
        let description = match l.kind.as_str() {
            k if k == OVERAGE_KIND => format!("Storage Overage ({:.2} TB)", l.quantity),
            kind => format!("{kind} Backup Base Fee"),
        };
        InvoiceRow {
            description,
            ..row(l, "Backup Services")
        }
    }));
    rows.extend(of(LineCategory::Custom).map(|l| InvoiceRow {
        description: format!("Custom Item: {} ({})", l.name, l.kind),
        ..row(l, "Custom Services")
    }));
    rows.extend(
        of(LineCategory::Hours)
            .filter(|l| !l.amount.is_zero())
            .map(|l| row(l, "Hourly Labor")),
    );
    rows
}

pub fn quickbooks_csv(bill: &Bill) -> Result<String, NoInvoice> {
    Ok(csv_document(&invoice_header(bill)?, &quickbooks_rows(bill)))
}

/// `quickbooks_export_<account>_<YYYY>-<MM>.csv`, as the original named it.
pub fn quickbooks_file_name(account_number: &str, period: BillingPeriod) -> String {
    let safe: String = account_number
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '_' | '-'))
        .collect();
    format!(
        "quickbooks_export_{safe}_{:04}-{:02}.csv",
        period.year, period.month
    )
}

/// `<safe_name>_<YYYY>-<MM>.csv`: the name keeps letters, digits, spaces, `_` and `-`,
/// is trimmed, and spaces become `_` (the original's rule); an empty name is `invoice`.
pub fn invoice_file_name(company_name: &str, period: BillingPeriod) -> String {
    let kept: String = company_name
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '_' | '-'))
        .collect();
    let safe = kept.trim().replace(' ', "_");
    let safe = if safe.is_empty() { "invoice" } else { &safe };
    format!("{safe}_{:04}-{:02}.csv", period.year, period.month)
}

/// The original's invoice summary (`GET /api/invoice/{acct}/summary`), plus the dates.
/// Counts are of invoice rows, so `total_lines` is the CSV's number of data rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvoiceSummary {
    pub invoice_number: String,
    pub company_name: String,
    pub invoice_date: NaiveDate,
    pub due_date: NaiveDate,
    #[schema(value_type = String, example = "1430.00")]
    pub total_amount: Decimal,
    /// Users with a non-zero charge.
    pub user_count: usize,
    /// Assets with a non-zero charge.
    pub asset_count: usize,
    pub line_item_count: usize,
    pub has_backup_charges: bool,
    pub has_hourly_charges: bool,
    pub total_lines: usize,
    pub is_archived: bool,
}

pub fn invoice_summary(bill: &Bill, is_archived: bool) -> Result<InvoiceSummary, NoInvoice> {
    let h = invoice_header(bill)?;
    let rows = invoice_rows(bill);
    let count = |c: LineCategory| rows.iter().filter(|r| r.category == c).count();
    Ok(InvoiceSummary {
        invoice_number: h.invoice_number,
        company_name: h.customer,
        invoice_date: h.invoice_date,
        due_date: h.due_date,
        total_amount: bill.totals.total,
        user_count: count(LineCategory::User),
        asset_count: count(LineCategory::Asset),
        line_item_count: count(LineCategory::Custom),
        has_backup_charges: count(LineCategory::Backup) > 0,
        has_hourly_charges: count(LineCategory::Hours) > 0,
        total_lines: rows.len(),
        is_archived,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(year: i32, month: u32) -> BillingPeriod {
        BillingPeriod::new(year, month).unwrap()
    }

    #[test]
    fn number_and_dates() {
        let p = period(2025, 10);
        assert_eq!(invoice_number("620547", p), "620547-202510");
        assert_eq!(invoice_date(p).unwrap().to_string(), "2025-10-31");
        assert_eq!(due_date(p).unwrap().to_string(), "2025-11-30");
        assert_eq!(
            invoice_date(period(2024, 2)).unwrap().to_string(),
            "2024-02-29"
        );
        assert_eq!(
            invoice_date(period(2025, 2)).unwrap().to_string(),
            "2025-02-28"
        );
        assert_eq!(
            due_date(period(2025, 12)).unwrap().to_string(),
            "2026-01-30"
        );
        assert_eq!(invoice_number("A1", period(2026, 1)), "A1-202601");
    }

    #[test]
    fn fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("Acme Corp"), "Acme Corp");
        assert_eq!(csv_field("Acme, Inc."), "\"Acme, Inc.\"");
        assert_eq!(csv_field("5\" screen"), "\"5\"\" screen\"");
        assert_eq!(csv_field("a\nb"), "\"a\nb\"");
    }

    #[test]
    fn file_names_are_safe() {
        let p2 = period(2025, 3);
        assert_eq!(
            quickbooks_file_name("62/0547", p2),
            "quickbooks_export_620547_2025-03.csv"
        );
        let p = period(2025, 10);
        assert_eq!(invoice_file_name("Acme Corp", p), "Acme_Corp_2025-10.csv");
        assert_eq!(invoice_file_name(" A/B: Ltd. ", p), "AB_Ltd_2025-10.csv");
        assert_eq!(invoice_file_name("Café Zoë", p), "Café_Zoë_2025-10.csv");
        assert_eq!(invoice_file_name("../", p), "invoice_2025-10.csv");
    }

    #[test]
    fn money_has_two_decimals_half_to_even() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(money(d("5")), "5.00");
        assert_eq!(money(d("0.125")), "0.12");
        assert_eq!(money(d("-12.5")), "-12.50");
    }
}
