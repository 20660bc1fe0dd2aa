//! Tests for the tickets endpoints (being written).
