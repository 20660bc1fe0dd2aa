//! Tests for the plans endpoints (being written).
