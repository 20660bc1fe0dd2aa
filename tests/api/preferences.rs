//! Tests for the preferences endpoints (being written).
