//! Beacon: the live ticket board (being written).
