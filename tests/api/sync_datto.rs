//! Tests of the datto client against its simulator (being written).
