//! Ledger: monthly billing from plans, counts and hours (being written).
