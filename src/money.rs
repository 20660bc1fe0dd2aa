//! Money: `rust_decimal` in code, integer cents in the database.
//!
//! Rounding rule, stated once: amounts are rounded to cents with
//! `round_dp` (banker's rounding, half to even), e.g. 0.125 → 0.12, 0.135 → 0.14.

use rust_decimal::Decimal;

/// Decimal amount → cents, rounding half to even. `None` if it does not fit in i64.
pub fn to_cents(amount: Decimal) -> Option<i64> {
    let cents = amount.round_dp(2) * Decimal::ONE_HUNDRED;
    i64::try_from(cents.trunc()).ok()
}

pub fn from_cents(cents: i64) -> Decimal {
    Decimal::new(cents, 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn rounds_half_to_even() {
        assert_eq!(to_cents(Decimal::from_str("0.125").unwrap()), Some(12));
        assert_eq!(to_cents(Decimal::from_str("0.135").unwrap()), Some(14));
        assert_eq!(to_cents(Decimal::from_str("-1.005").unwrap()), Some(-100));
        assert_eq!(from_cents(1999).to_string(), "19.99");
    }
}
