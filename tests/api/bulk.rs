//! Tests for the bulk export and the demo dataset (being written).
