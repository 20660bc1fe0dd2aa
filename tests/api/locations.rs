//! Tests for the locations endpoints (being written).
