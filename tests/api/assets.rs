//! Tests for the assets endpoints (being written).
