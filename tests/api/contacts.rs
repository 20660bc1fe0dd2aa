//! Tests for the contacts endpoints (being written).
